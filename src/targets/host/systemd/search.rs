//! The unit search path of a host root and the drop-ins of a unit (systemd.unit(5)): the
//! fragment is the first file found on the search path (highest priority first); drop-ins are
//! `<unit>.d/*.conf` in every search directory, a name in a higher-priority directory hiding
//! the same name in lower ones, applied in lexical order of their file names after the
//! fragment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::super::fsroot::{Kind, View};
use crate::error::{Error, Result};

/// The unit search path, highest priority first.
pub const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// A unit file as read: root-relative resolved path and bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitFile {
    pub name: String,
    pub rel: PathBuf,
    pub bytes: Vec<u8>,
    /// Why it could not be read (its bytes are then empty).
    pub unreadable: Option<String>,
}

/// A unit found on the search path with its drop-ins in the order they apply.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedUnit {
    pub fragment: UnitFile,
    pub dropins: Vec<UnitFile>,
}

/// What a unit lookup found.
pub enum Found {
    Absent,
    /// A symlink to /dev/null at this root-relative path.
    Masked(PathBuf),
    /// The resolved fragment.
    Fragment(PathBuf),
}

/// The fragment of `unit`: the first regular file named `unit` on the search path.
pub fn find_fragment(view: &View<'_>, unit: &str) -> Result<Found> {
    for dir in UNIT_DIRS {
        let dir = view.resolve(Path::new(dir), true)?;
        if dir.stat.map(|stat| stat.kind) != Some(Kind::Dir) {
            continue;
        }
        let candidate = dir.rel.join(unit);
        let Some(stat) = view.lstat(&candidate)? else {
            continue;
        };
        if stat.kind == Kind::Symlink && view.readlink(&candidate)? == Path::new("/dev/null") {
            return Ok(Found::Masked(candidate));
        }
        let resolved = view.resolve(&candidate, true)?;
        match resolved.stat.map(|stat| stat.kind) {
            Some(Kind::File) => return Ok(Found::Fragment(resolved.rel)),
            None => {
                return Err(Error::new(format!(
                    "{} is a dangling symlink ({} does not exist)",
                    view.show(&candidate),
                    view.show(&resolved.rel)
                ))
                .with_hint(format!(
                    "remove the link or point it at the {unit} unit file on the node"
                )));
            }
            Some(_) => continue,
        }
    }
    Ok(Found::Absent)
}

/// The drop-ins of `unit` in the order they apply: `(name, resolved root-relative path)`.
pub fn find_dropins(view: &View<'_>, unit: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut seen: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    for dir in UNIT_DIRS {
        let dir = view.resolve(&Path::new(dir).join(format!("{unit}.d")), true)?;
        if dir.stat.map(|stat| stat.kind) != Some(Kind::Dir) {
            continue;
        }
        for name in view.list(&dir.rel)? {
            if !name.ends_with(".conf") || seen.contains_key(&name) {
                continue;
            }
            let path = dir.rel.join(&name);
            let Some(stat) = view.lstat(&path)? else {
                continue;
            };
            if stat.kind == Kind::Symlink && view.readlink(&path)? == Path::new("/dev/null") {
                seen.insert(name, None);
                continue;
            }
            let resolved = view.resolve(&path, true)?;
            if resolved.stat.map(|stat| stat.kind) == Some(Kind::File) {
                seen.insert(name, Some(resolved.rel));
            }
        }
    }
    Ok(seen
        .into_iter()
        .filter_map(|(name, path)| Some((name, path?)))
        .collect())
}

/// Load a unit and its drop-ins; `Ok(None)` when it is not on the search path.
pub fn load(view: &View<'_>, unit: &str) -> Result<Option<LoadedUnit>> {
    let fragment = match find_fragment(view, unit)? {
        Found::Absent => return Ok(None),
        Found::Masked(path) => {
            return Err(Error::new(format!(
                "{unit} is masked: {} links to /dev/null",
                view.show(&path)
            ))
            .with_hint(format!(
                "unmask it on the node (`systemctl unmask {unit}`) if Docker should run there"
            )));
        }
        Found::Fragment(path) => path,
    };
    Ok(Some(load_at(view, unit, fragment)?))
}

/// A unit whose fragment is at `fragment`, with its drop-ins. A file that cannot be read is
/// kept with the reason: what it says is unknown, not absent.
pub fn load_at(view: &View<'_>, unit: &str, fragment: PathBuf) -> Result<LoadedUnit> {
    let read = |name: String, rel: PathBuf| -> UnitFile {
        match view.read(&rel) {
            Ok(bytes) => UnitFile {
                name,
                rel,
                bytes,
                unreadable: None,
            },
            Err(error) => UnitFile {
                name,
                rel,
                bytes: Vec::new(),
                unreadable: Some(error.message().to_string()),
            },
        }
    };
    let fragment = read(unit.to_string(), fragment);
    let mut dropins = Vec::new();
    for (name, rel) in find_dropins(view, unit)? {
        dropins.push(read(name, rel));
    }
    Ok(LoadedUnit { fragment, dropins })
}

impl LoadedUnit {
    /// The fragment, then the drop-ins in the order they apply.
    pub fn files(&self) -> impl Iterator<Item = &UnitFile> {
        std::iter::once(&self.fragment).chain(&self.dropins)
    }
}
