//! What a host snapshot holds (`host-files.json`): for every file or directory a change set
//! touches, whether it existed, its kind, owner ids and mode, and its exact bytes when the
//! change rewrites it (never for owner/mode-only changes, such as TLS keys).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::changes::ChangeSet;
use super::fsroot::{Kind, Overlay, OverlayEntry, Stat, mode_string};
use crate::error::{Error, Result};
use crate::targets::document::Saved;

pub const FILE_NAME: &str = "host-files.json";
const FORMAT: &str = "stigfix-host-files/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedFiles {
    pub format: String,
    /// The host root the snapshot was taken of (for people reading it).
    pub root: String,
    /// Whether the change set rewrote dockerd configuration (a restore needs a restart).
    pub restart_dockerd: bool,
    /// Whether it changed docker.socket's listeners (docker.socket must restart too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart_socket: bool,
    /// The document paths whose edits made these changes (none in snapshots of older
    /// versions: then a restore puts every entry back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    pub entries: Vec<SavedEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedEntry {
    /// Root-relative, resolved.
    pub path: String,
    pub existed: bool,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_hex: Option<String>,
}

impl SavedEntry {
    pub fn rel(&self) -> PathBuf {
        PathBuf::from(&self.path)
    }

    pub fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Other)
    }

    pub fn mode(&self) -> Option<u32> {
        self.mode
            .as_deref()
            .and_then(|mode| u32::from_str_radix(mode, 8).ok())
    }

    pub fn bytes(&self) -> Option<Vec<u8>> {
        self.bytes_hex
            .as_deref()
            .and_then(|text| hex::decode(text).ok())
    }

    pub fn stat(&self) -> Option<Stat> {
        Some(Stat {
            kind: self.kind(),
            uid: self.uid?,
            gid: self.gid?,
            mode: self.mode()?,
        })
    }
}

impl SavedFiles {
    pub fn from_changes(root: &str, changes: &ChangeSet, paths: Vec<String>) -> SavedFiles {
        let mut entries = Vec::new();
        for dir in &changes.dirs {
            entries.push(SavedEntry {
                path: dir.display().to_string(),
                existed: false,
                kind: Kind::Dir.as_str().to_string(),
                uid: None,
                gid: None,
                mode: None,
                bytes_hex: None,
            });
        }
        for file in &changes.files {
            entries.push(match file.before {
                Some(stat) => SavedEntry {
                    path: file.rel.display().to_string(),
                    existed: true,
                    kind: stat.kind.as_str().to_string(),
                    uid: Some(stat.uid),
                    gid: Some(stat.gid),
                    mode: Some(mode_string(stat.mode)),
                    bytes_hex: if file.content.is_some() {
                        file.before_bytes.as_ref().map(hex::encode)
                    } else {
                        None
                    },
                },
                None => SavedEntry {
                    path: file.rel.display().to_string(),
                    existed: false,
                    kind: Kind::File.as_str().to_string(),
                    uid: None,
                    gid: None,
                    mode: None,
                    bytes_hex: None,
                },
            });
        }
        SavedFiles {
            format: FORMAT.to_string(),
            root: root.to_string(),
            restart_dockerd: changes.dockerd_config,
            restart_socket: changes.socket_config,
            paths,
            entries,
        }
    }

    pub fn to_saved(&self) -> Result<Saved> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| Error::new(format!("cannot encode {FILE_NAME}: {error}")))?;
        bytes.push(b'\n');
        Ok(Saved {
            file: FILE_NAME.to_string(),
            bytes,
        })
    }

    pub fn from_saved(saved: &Saved) -> Result<SavedFiles> {
        let hint = "the snapshot file is damaged; restore the files by hand from a backup";
        let files: SavedFiles = serde_json::from_slice(&saved.bytes).map_err(|error| {
            Error::new(format!(
                "snapshot file {} is not a host snapshot: {error}",
                saved.file
            ))
            .with_hint(hint)
        })?;
        if files.format != FORMAT {
            return Err(Error::new(format!(
                "snapshot file {} has format `{}`, expected `{FORMAT}`",
                saved.file, files.format
            ))
            .with_hint(hint));
        }
        for entry in &files.entries {
            let bad = !entry.path.starts_with('/')
                || entry.path.split('/').any(|part| part == "..")
                || Kind::parse(&entry.kind).is_none()
                || (entry.existed && entry.stat().is_none())
                || (entry.bytes_hex.is_some() && entry.bytes().is_none());
            if bad {
                return Err(Error::new(format!(
                    "snapshot file {} has a malformed entry for `{}`",
                    saved.file, entry.path
                ))
                .with_hint(hint));
            }
        }
        Ok(files)
    }

    /// The saved state laid over the disk.
    pub fn overlay(&self) -> Overlay {
        let mut overlay = Overlay::default();
        for entry in &self.entries {
            let value = if entry.existed {
                entry.stat().map(|stat| OverlayEntry {
                    stat,
                    bytes: entry.bytes(),
                })
            } else {
                None
            };
            overlay.entries.insert(entry.rel(), value);
        }
        overlay
    }
}
