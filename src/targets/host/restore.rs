//! Putting a node's saved files back: bytes, owner and mode of what existed, removal of what
//! a change created, every entry attempted even when one fails, then each checked.

use std::path::PathBuf;

use super::fsroot::{FsRoot, Kind, mode_string};
use super::saved::SavedEntry;
use crate::error::{Error, Result};

/// Put `entries` back exactly and verify them. An object already in its saved state is not
/// touched.
pub(super) fn put_back(root: &FsRoot, entries: &[SavedEntry]) -> Result<()> {
    let view = root.view();
    // The parent of every entry must still resolve to itself inside the root.
    for entry in entries {
        let rel = entry.rel();
        if let Some(parent) = rel.parent() {
            let resolved = view.resolve(parent, true)?;
            if resolved.rel != parent && resolved.stat.is_some() {
                return Err(Error::needs_operator(format!(
                    "cannot restore {}: its directory is now reached through a symlink ({})",
                    root.show(&rel),
                    root.show(&resolved.rel)
                ))
                .with_hint("put the file back by hand from the snapshot"));
            }
        }
    }
    // Every entry is attempted even when one fails (an immutable file, a full disk), so
    // that as much as possible is put back; the first failure is returned afterwards.
    // An object already in its saved state is not touched.
    let mut failures: Vec<Error> = Vec::new();
    // Files and directories that existed: bytes, owner, mode.
    for entry in entries.iter().filter(|entry| entry.existed) {
        let rel = entry.rel();
        let stat = entry.stat().expect("checked when the snapshot was read");
        let result = (|| -> Result<()> {
            let now = view.lstat(&rel)?;
            match entry.bytes() {
                Some(bytes) => {
                    let same =
                        now == Some(stat) && stat.kind == Kind::File && view.read(&rel)? == bytes;
                    if !same {
                        root.write_atomic(&rel, &bytes, stat.uid, stat.gid, stat.mode)?;
                    }
                }
                None => {
                    let Some(now) = now else {
                        return Err(Error::needs_operator(format!(
                            "cannot restore the owner and mode of {}: it no longer exists",
                            root.show(&rel)
                        ))
                        .with_hint("recreate it by hand"));
                    };
                    if now != stat {
                        root.set_meta(&rel, Some(stat.uid), Some(stat.gid), Some(stat.mode))?;
                    }
                }
            }
            Ok(())
        })();
        failures.extend(result.err());
    }
    // Files that were created: remove them; then created directories, deepest first, when
    // empty.
    for entry in entries
        .iter()
        .filter(|entry| !entry.existed && entry.kind() != Kind::Dir)
    {
        let rel = entry.rel();
        let result = (|| -> Result<()> {
            if let Some(stat) = view.lstat(&rel)? {
                if stat.kind == Kind::Dir {
                    return Err(Error::needs_operator(format!(
                        "cannot remove {}: it is now a directory",
                        root.show(&rel)
                    )));
                }
                root.remove_file(&rel)?;
            }
            Ok(())
        })();
        failures.extend(result.err());
    }
    let mut dirs: Vec<PathBuf> = entries
        .iter()
        .filter(|entry| !entry.existed && entry.kind() == Kind::Dir)
        .map(|entry| entry.rel())
        .collect();
    dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
    for dir in &dirs {
        let result = (|| -> Result<()> {
            if view.lstat(dir)?.is_some_and(|stat| stat.kind == Kind::Dir) {
                root.remove_dir_if_empty(dir)?;
            }
            Ok(())
        })();
        failures.extend(result.err());
    }
    if let Some(first) = failures.into_iter().next() {
        return Err(first);
    }
    // Verify.
    for entry in entries {
        let rel = entry.rel();
        let now = view.lstat(&rel)?;
        let problem = match (entry.existed, now) {
            (false, None) => None,
            (false, Some(stat)) if stat.kind == Kind::Dir => {
                (view.list(&rel)?.is_empty()).then(|| "it still exists".to_string())
            }
            (false, Some(_)) => Some("it still exists".to_string()),
            (true, None) => Some("it does not exist".to_string()),
            (true, Some(stat)) => {
                let want = entry.stat().expect("checked when the snapshot was read");
                if stat != want {
                    Some(format!(
                        "it is {} {}:{} {}, expected {} {}:{} {}",
                        stat.kind.as_str(),
                        stat.uid,
                        stat.gid,
                        mode_string(stat.mode),
                        want.kind.as_str(),
                        want.uid,
                        want.gid,
                        mode_string(want.mode)
                    ))
                } else if let Some(bytes) = entry.bytes() {
                    (view.read(&rel)? != bytes)
                        .then(|| "its content differs from the snapshot".to_string())
                } else {
                    None
                }
            }
        };
        if let Some(problem) = problem {
            return Err(Error::needs_operator(format!(
                "restore of {} did not take: {problem}",
                root.show(&rel)
            ))
            .with_hint("put the file back by hand from the snapshot"));
        }
    }
    Ok(())
}
