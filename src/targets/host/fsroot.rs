//! Paths under a host root: confined resolution, stat, reads and atomic writes.
//!
//! Every path stigfix handles on a host is "root-relative": an absolute path such as
//! `/etc/docker/daemon.json` that names a file under the host root (`--host-root`). Paths are
//! resolved component by component with chroot semantics: an absolute symlink target is taken
//! relative to the root (so a fake root's `/var/run -> /run` stays inside it), and a relative
//! target whose `..` climbs above the root is refused. Nothing outside the root is ever read or
//! written.
//!
//! A [`View`] can carry an [`Overlay`]: files whose bytes or metadata are replaced by saved
//! ones, or hidden. Reading through an overlay shows what the root would look like after a
//! restore, without touching the disk.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result, describe_io};

/// Symlinks followed while resolving one path before it is called a loop (Linux: 40).
const MAX_LINKS: usize = 40;

/// The kind of a file system object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Socket,
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Socket => "socket",
            Kind::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "file" => Kind::File,
            "dir" => Kind::Dir,
            "symlink" => Kind::Symlink,
            "socket" => Kind::Socket,
            "other" => Kind::Other,
            _ => return None,
        })
    }
}

/// What `lstat` says about an object: kind, owner ids and permission bits (incl. setuid,
/// setgid, sticky).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl Stat {
    pub fn from_metadata(metadata: &fs::Metadata) -> Stat {
        let file_type = metadata.file_type();
        let kind = if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            Kind::File
        } else if file_type.is_socket() {
            Kind::Socket
        } else {
            Kind::Other
        };
        Stat {
            kind,
            uid: metadata.uid(),
            gid: metadata.gid(),
            mode: metadata.mode() & 0o7777,
        }
    }
}

/// Four octal digits, as `stat -c %04a` prints them.
pub fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// A host root: a canonical directory on this machine.
#[derive(Clone, Debug)]
pub struct FsRoot {
    root: PathBuf,
}

impl FsRoot {
    /// `root` must be an existing directory; it is stored canonicalized.
    pub fn new(root: &Path) -> Result<FsRoot> {
        let canonical = fs::canonicalize(root).map_err(|error| {
            Error::new(format!(
                "host root {} cannot be used: {}",
                root.display(),
                describe_io(&error)
            ))
            .with_hint("give --host-root an existing directory (`/` for this node)")
        })?;
        if !canonical.is_dir() {
            return Err(
                Error::new(format!("host root {} is not a directory", root.display()))
                    .with_hint("give --host-root an existing directory (`/` for this node)"),
            );
        }
        Ok(FsRoot { root: canonical })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn is_slash(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The path on this machine of a root-relative path.
    pub fn host(&self, rel: &Path) -> PathBuf {
        let stripped = rel.strip_prefix("/").unwrap_or(rel);
        if stripped.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(stripped)
        }
    }

    /// How a root-relative path is named in messages: its path on this machine.
    pub fn show(&self, rel: &Path) -> String {
        self.host(rel).display().to_string()
    }

    pub fn view(&self) -> View<'_> {
        View {
            root: self,
            overlay: None,
        }
    }

    pub fn view_with<'a>(&'a self, overlay: &'a Overlay) -> View<'a> {
        View {
            root: self,
            overlay: Some(overlay),
        }
    }

    /// Create a directory (its parent must exist) with the given owner and mode.
    pub fn create_dir(&self, rel: &Path, uid: u32, gid: u32, mode: u32) -> Result<()> {
        let host = self.host(rel);
        fs::create_dir(&host).map_err(|error| Error::io("create directory", &host, &error))?;
        std::os::unix::fs::chown(&host, Some(uid), Some(gid))
            .map_err(|error| Error::io("set the owner of", &host, &error))?;
        fs::set_permissions(&host, fs::Permissions::from_mode(mode))
            .map_err(|error| Error::io("set the mode of", &host, &error))?;
        Ok(())
    }

    /// Replace a file atomically: a temporary file in the same directory gets the bytes, is
    /// flushed to disk, gets owner and mode, and is renamed over the file; then the directory is
    /// flushed. `rel` must be a resolved path (its last component is not a symlink, or the link
    /// itself is replaced).
    pub fn write_atomic(
        &self,
        rel: &Path,
        bytes: &[u8],
        uid: u32,
        gid: u32,
        mode: u32,
    ) -> Result<()> {
        let host = self.host(rel);
        let parent = host
            .parent()
            .ok_or_else(|| Error::new(format!("cannot write {}: no parent", host.display())))?;
        let name = host
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = parent.join(format!(".{name}.stigfix-{}.tmp", std::process::id()));
        let result = (|| -> io::Result<()> {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            // Owner-only until owner and mode are set: never expose the bytes more widely.
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            // After the chown: chown clears setuid/setgid bits.
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            drop(file);
            fs::rename(&temp, &host)?;
            fs::File::open(parent)?.sync_all()
        })();
        if let Err(error) = result {
            let _ = fs::remove_file(&temp);
            return Err(Error::io("write", &host, &error));
        }
        Ok(())
    }

    /// chown (when an id is given) then chmod (when a mode is given) of a resolved path.
    pub fn set_meta(
        &self,
        rel: &Path,
        uid: Option<u32>,
        gid: Option<u32>,
        mode: Option<u32>,
    ) -> Result<()> {
        let host = self.host(rel);
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::lchown(&host, uid, gid)
                .map_err(|error| Error::io("change the owner of", &host, &error))?;
        }
        if let Some(mode) = mode {
            fs::set_permissions(&host, fs::Permissions::from_mode(mode))
                .map_err(|error| Error::io("change the mode of", &host, &error))?;
        }
        Ok(())
    }

    pub fn remove_file(&self, rel: &Path) -> Result<()> {
        let host = self.host(rel);
        fs::remove_file(&host).map_err(|error| Error::io("remove", &host, &error))?;
        if let Some(parent) = host.parent()
            && let Ok(dir) = fs::File::open(parent)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Remove a directory when it is empty; `Ok(false)` when it is not.
    pub fn remove_dir_if_empty(&self, rel: &Path) -> Result<bool> {
        let host = self.host(rel);
        let empty = fs::read_dir(&host)
            .map_err(|error| Error::io("read directory", &host, &error))?
            .next()
            .is_none();
        if !empty {
            return Ok(false);
        }
        fs::remove_dir(&host).map_err(|error| Error::io("remove directory", &host, &error))?;
        Ok(true)
    }
}

/// Saved state laid over the disk: a file's bytes and metadata, or its absence.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    pub entries: BTreeMap<PathBuf, Option<OverlayEntry>>,
}

#[derive(Clone, Debug)]
pub struct OverlayEntry {
    pub stat: Stat,
    /// `None`: the bytes on disk.
    pub bytes: Option<Vec<u8>>,
}

/// A path resolved inside the root.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Root-relative path with every symlink resolved (as far as the path exists).
    pub rel: PathBuf,
    /// `None` when the object does not exist.
    pub stat: Option<Stat>,
}

/// Reads of a root, optionally through an overlay.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub root: &'a FsRoot,
    overlay: Option<&'a Overlay>,
}

fn rel_of(parts: &[OsString]) -> PathBuf {
    let mut path = PathBuf::from("/");
    for part in parts {
        path.push(part);
    }
    path
}

/// A component of a path still to resolve, with the symlink it came from (for messages).
struct Pending {
    name: OsString,
    from: Option<(PathBuf, PathBuf)>,
}

impl<'a> View<'a> {
    pub fn show(&self, rel: &Path) -> String {
        self.root.show(rel)
    }

    /// `lstat` of a root-relative path (no symlink followed at the end); `None` when absent.
    pub fn lstat(&self, rel: &Path) -> Result<Option<Stat>> {
        if let Some(overlay) = self.overlay
            && let Some(entry) = overlay.entries.get(rel)
        {
            return match entry {
                Some(entry) => Ok(Some(entry.stat)),
                None => {
                    // A directory that a restore removes only goes when nothing else is in it.
                    match self.disk_lstat(rel)? {
                        Some(stat) if stat.kind == Kind::Dir && !self.list(rel)?.is_empty() => {
                            Ok(Some(stat))
                        }
                        _ => Ok(None),
                    }
                }
            };
        }
        self.disk_lstat(rel)
    }

    fn disk_lstat(&self, rel: &Path) -> Result<Option<Stat>> {
        let host = self.root.host(rel);
        match fs::symlink_metadata(&host) {
            Ok(metadata) => Ok(Some(Stat::from_metadata(&metadata))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) if error.raw_os_error() == Some(20) => Ok(None), // ENOTDIR
            Err(error) => Err(Error::io("examine", &host, &error)),
        }
    }

    pub fn readlink(&self, rel: &Path) -> Result<PathBuf> {
        let host = self.root.host(rel);
        fs::read_link(&host).map_err(|error| Error::io("read the symlink", &host, &error))
    }

    /// The bytes of a resolved regular file.
    pub fn read(&self, rel: &Path) -> Result<Vec<u8>> {
        if let Some(overlay) = self.overlay
            && let Some(Some(OverlayEntry {
                bytes: Some(bytes), ..
            })) = overlay.entries.get(rel)
        {
            return Ok(bytes.clone());
        }
        let host = self.root.host(rel);
        fs::read(&host).map_err(|error| Error::io("read", &host, &error))
    }

    /// The names in a resolved directory, sorted; empty when it does not exist.
    pub fn list(&self, rel: &Path) -> Result<Vec<String>> {
        let host = self.root.host(rel);
        let mut names = Vec::new();
        match fs::read_dir(&host) {
            Ok(entries) => {
                for entry in entries {
                    let entry =
                        entry.map_err(|error| Error::io("read directory", &host, &error))?;
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
            Err(error)
                if error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(20) => {}
            Err(error) => return Err(Error::io("read directory", &host, &error)),
        }
        if let Some(overlay) = self.overlay {
            names.retain(|name| {
                let child = rel.join(name);
                !matches!(overlay.entries.get(&child), Some(None))
                    || self.lstat(&child).ok().flatten().is_some()
            });
            for (path, entry) in &overlay.entries {
                if entry.is_some()
                    && path.parent() == Some(rel)
                    && let Some(name) = path.file_name()
                {
                    let name = name.to_string_lossy().into_owned();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Resolve a root-relative path inside the root, following symlinks in every component
    /// (and in the last one when `follow_last`). Refuses links that lead out of the root.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> Result<Resolved> {
        let slash = self.root.is_slash();
        let mut done: Vec<OsString> = Vec::new();
        let mut todo: VecDeque<Pending> = VecDeque::new();
        push_components(&mut todo, path, None, false);
        let mut links = 0;
        while let Some(next) = todo.pop_front() {
            if next.name == ".." {
                if done.pop().is_none() && !slash {
                    return Err(escape_error(self.root, path, next.from.as_ref()));
                }
                continue;
            }
            done.push(next.name);
            let candidate = rel_of(&done);
            let last = todo.is_empty();
            let Some(stat) = self.lstat(&candidate)? else {
                // Absent: the rest is resolved lexically.
                while let Some(rest) = todo.pop_front() {
                    if rest.name == ".." {
                        if done.pop().is_none() && !slash {
                            return Err(escape_error(self.root, path, rest.from.as_ref()));
                        }
                    } else {
                        done.push(rest.name);
                    }
                }
                return Ok(Resolved {
                    rel: rel_of(&done),
                    stat: None,
                });
            };
            if stat.kind == Kind::Symlink && (!last || follow_last) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::new(format!(
                        "too many levels of symlinks resolving {}",
                        self.root.show(path)
                    ))
                    .with_hint("fix the symlink loop on the node"));
                }
                let target = self.readlink(&candidate)?;
                done.pop();
                if target.is_absolute() {
                    done.clear();
                }
                push_components(&mut todo, &target, Some((candidate, target.clone())), true);
                continue;
            }
            if last {
                return Ok(Resolved {
                    rel: candidate,
                    stat: Some(stat),
                });
            }
            if stat.kind != Kind::Dir {
                return Err(Error::new(format!(
                    "{} is not a directory (resolving {})",
                    self.root.show(&candidate),
                    path.display()
                ))
                .with_hint("the node's file layout is unexpected; fix it by hand"));
            }
        }
        Ok(Resolved {
            rel: rel_of(&done),
            stat: self.lstat(&rel_of(&done))?,
        })
    }

    /// The directories that would have to be created, parent first, to hold `rel`.
    pub fn missing_dirs(&self, rel: &Path) -> Result<Vec<PathBuf>> {
        let mut missing = Vec::new();
        let mut current = rel.parent();
        while let Some(dir) = current {
            if dir == Path::new("/") || self.lstat(dir)?.is_some() {
                break;
            }
            missing.push(dir.to_path_buf());
            current = dir.parent();
        }
        missing.reverse();
        Ok(missing)
    }
}

fn push_components(
    todo: &mut VecDeque<Pending>,
    path: &Path,
    from: Option<(PathBuf, PathBuf)>,
    front: bool,
) {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => parts.push(name.to_os_string()),
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    let pending = parts.into_iter().map(|name| Pending {
        name,
        from: from.clone(),
    });
    if front {
        let mut rest: VecDeque<Pending> = pending.collect();
        rest.append(todo);
        *todo = rest;
    } else {
        todo.extend(pending);
    }
}

fn escape_error(root: &FsRoot, path: &Path, link: Option<&(PathBuf, PathBuf)>) -> Error {
    match link {
        Some((link, target)) => Error::new(format!(
            "symlink {} -> {} escapes the host root {}: stigfix does not follow links out of the root",
            link.display(),
            target.display(),
            root.path().display()
        ))
        .with_hint(
            "make the link point inside the root (absolute targets are taken relative to the root) or replace it with the file itself",
        ),
        None => Error::new(format!(
            "path {} climbs above the host root {}",
            path.display(),
            root.path().display()
        ))
        .with_hint("name the file with an absolute path inside the root"),
    }
}
