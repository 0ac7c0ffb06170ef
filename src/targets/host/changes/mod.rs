//! The file changes a set of edits needs: pure computation over the state read.
//!
//! dockerd settings are changed where they are set ([`dockerd`]) and never in the vendor unit:
//! stigfix's own drop-ins `zz-stigfix.conf` (for docker.service and docker.socket), the
//! environment files' assignments, daemon.json with its other keys kept in order. Owners and
//! modes are set on the files the rules name; a mode is only ever made stricter.

mod dockerd;
mod render;

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::fsroot::{Stat, mode_string};
use super::roles::RoleState;
use super::state::State;
use crate::error::{Error, Result};
use crate::targets::document::Edit;

/// One file (or directory, or socket) the change set touches.
#[derive(Clone, Debug, PartialEq)]
pub struct FileChange {
    /// Resolved root-relative path.
    pub rel: PathBuf,
    /// The object before; `None` when it is created.
    pub before: Option<Stat>,
    /// The bytes before, when the content changes and the file exists.
    pub before_bytes: Option<Vec<u8>>,
    /// The new bytes; `None` when only owner or mode change.
    pub content: Option<Vec<u8>>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeSet {
    /// Directories to create (0755, root's ids), parent first.
    pub dirs: Vec<PathBuf>,
    pub files: Vec<FileChange>,
    /// Whether dockerd configuration (daemon.json, a drop-in, an environment file) changes.
    pub dockerd_config: bool,
    /// Whether docker.socket's listeners change (docker.socket must restart too).
    pub socket_config: bool,
}

/// Whether an edit is about dockerd's configuration (and so needs a restart).
pub fn needs_restart(edit: &Edit) -> bool {
    edit.path.segments().first().map(String::as_str) == Some("dockerd")
}

#[derive(Default)]
struct Pending {
    content: Option<Vec<u8>>,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: Option<u32>,
}

fn string_list(edit: &Edit) -> Result<Vec<String>> {
    let error = || Error::new(format!("`{}` must be a list of strings", edit.path));
    match &edit.after {
        toml::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(error))
            .collect(),
        _ => Err(error()),
    }
}

fn scalar(edit: &Edit) -> Result<String> {
    match &edit.after {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(if *flag { "1" } else { "0" }.to_string()),
        _ => Err(Error::new(format!("`{}` must be a string", edit.path))),
    }
}

/// Why a mode change is refused: it would add permission bits (stigfix only ever makes a
/// mode stricter, whatever a playbook asks).
pub fn loosens(shown: &str, before: u32, after: u32) -> Option<String> {
    let added = after & !before & 0o7777;
    (added != 0).then(|| {
        format!(
            "the mode of {shown} would go from {} to {}, adding permission bits {}: stigfix only ever makes a mode stricter (use `mode_within` in the playbook, or change the mode by hand)",
            mode_string(before),
            mode_string(after),
            mode_string(added)
        )
    })
}

/// The changes for `edits` on `state`.
pub fn compute(state: &State, edits: &[Edit]) -> Result<ChangeSet> {
    if let Some(why) = &state.no_engine {
        return Err(Error::new(format!("host {}: {why}", state.endpoint))
            .with_hint("point --host-root at the node's root filesystem; nothing was written"));
    }
    let mut wanted = dockerd::Wanted::default();
    let mut meta: BTreeMap<Vec<String>, Pending> = BTreeMap::new();

    for edit in edits {
        state
            .writable(&edit.path)
            .map_err(|why| Error::new(format!("{}: {why}", state.endpoint)))?;
        let segments: Vec<&str> = edit.path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "tcp_hosts"] => {
                wanted.tcp_keep = Some(string_list(edit)?);
                wanted.tcp_rules.extend(edit.rules.iter().cloned());
            }
            ["dockerd", "insecure_registries"] => wanted.registries_keep = Some(string_list(edit)?),
            ["dockerd", "environment", name] => {
                wanted.environment.push((name.to_string(), scalar(edit)?));
            }
            ["files", role @ .., leaf] => {
                let role: Vec<String> = role.iter().map(|s| s.to_string()).collect();
                let pending = meta.entry(role).or_default();
                let value = scalar(edit)?;
                match *leaf {
                    "owner" => {
                        pending.uid = Some(state.users.check_user(&value).map_err(Error::new)?);
                    }
                    "group" => {
                        pending.gid = Some(state.users.check_group(&value).map_err(Error::new)?);
                    }
                    _ => {
                        pending.mode = Some(crate::values::mode_value(&edit.after).ok_or_else(|| {
                            Error::new(format!(
                                "`{}`: `{value}` is not a file mode (octal digits such as \"0644\")",
                                edit.path
                            ))
                        })?);
                    }
                }
            }
            _ => {}
        }
        if needs_restart(edit) {
            wanted.rules.extend(edit.rules.iter().cloned());
        }
    }

    let contents = dockerd::compute(state, wanted)?;
    let mut files: BTreeMap<PathBuf, Pending> = BTreeMap::new();
    for (rel, bytes) in contents.files {
        files.entry(rel).or_default().content = Some(bytes);
    }

    // Owner, group and mode.
    for (role, pending) in meta {
        let rel = match state.role(&role) {
            Some(RoleState::Present(resolved)) => resolved.rel.clone(),
            Some(RoleState::Absent(_)) if role == ["daemon_json"] => {
                let entry = files.entry(state.daemon.rel.clone()).or_default();
                if entry.content.is_none() {
                    entry.content = Some(b"{}\n".to_vec());
                }
                state.daemon.rel.clone()
            }
            Some(RoleState::Absent(why) | RoleState::Refused(why)) => {
                return Err(Error::new(why.clone()));
            }
            None => {
                return Err(Error::new(format!(
                    "unknown file role `{}`",
                    role.join(".")
                )));
            }
        };
        let entry = files.entry(rel).or_default();
        entry.uid = pending.uid.or(entry.uid);
        entry.gid = pending.gid.or(entry.gid);
        entry.mode = pending.mode.or(entry.mode);
    }

    // Final owner and mode of every file; directories to create.
    let (root_uid, root_gid) = state.users.root_ids();
    let mut changes = ChangeSet {
        dockerd_config: contents.service,
        socket_config: contents.socket,
        ..ChangeSet::default()
    };
    for (rel, pending) in files {
        let known = state.content(&rel);
        let before = state.stat_of(&rel);
        if let (Some(stat), Some(mode)) = (before, pending.mode)
            && let Some(why) = loosens(&state.root.show(&rel), stat.mode, mode)
        {
            return Err(Error::new(format!("host {}: {why}", state.endpoint))
                .with_hint("nothing was written"));
        }
        let change = FileChange {
            uid: pending
                .uid
                .or(before.map(|stat| stat.uid))
                .unwrap_or(root_uid),
            gid: pending
                .gid
                .or(before.map(|stat| stat.gid))
                .unwrap_or(root_gid),
            mode: pending
                .mode
                .or(before.map(|stat| stat.mode))
                .unwrap_or(0o644),
            before_bytes: if pending.content.is_some() && before.is_some() {
                known.as_ref().and_then(|file| file.bytes.clone())
            } else {
                None
            },
            content: pending.content,
            before,
            rel,
        };
        let unchanged = change.content.is_none()
            && before.is_some_and(|stat| {
                stat.uid == change.uid && stat.gid == change.gid && stat.mode == change.mode
            });
        if unchanged {
            continue;
        }
        if change.before.is_none()
            && let Some(file) = &known
        {
            for dir in &file.missing_dirs {
                if !changes.dirs.contains(dir) {
                    changes.dirs.push(dir.clone());
                }
            }
        }
        changes.files.push(change);
    }
    Ok(changes)
}

/// How a file's owner and mode are shown: `root:root 0644`.
pub fn describe(state: &State, uid: u32, gid: u32, mode: u32) -> String {
    format!(
        "{}:{} {}",
        state.users.user_name(uid),
        state.users.group_name(gid),
        mode_string(mode)
    )
}
