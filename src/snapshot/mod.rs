//! Rollback snapshots, which are also the write-ahead journal of a change.
//!
//! Before the first write a snapshot holds, per target, the exact original state and what the
//! change will write (folder 0700, files 0600, fsynced). Each target is marked `applying`
//! (fsynced) before its first write and `applied` once verified, so after any death of the
//! process — SIGKILL, an OOM kill, a power cut — `rollback --last` knows what may have changed.
//! The manifest records each target (kind, endpoint: enough to rebuild it), the SHA-256 of each
//! file it saved (a hand-edited snapshot is refused), and never holds a secret; the saved files
//! may (a config document can carry a backup passphrase), which is why they are owner-only.
//! A target that streams its change page by page appends each batch to a journal before the
//! batch is written ([`journal`]).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::targets::{Product, Saved, TargetKind, TargetSpec, Written};
use crate::values::fingerprint;

mod journal;
mod prune;

pub use journal::{JournalFile, merge_saved, saved_json};
pub use prune::{PruneDecision, PruneRule, prune_decisions, size_of};

const MANIFEST: &str = "manifest.json";
pub const FORMAT_VERSION: u32 = 2;

/// What state a target of a snapshot is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetState {
    /// Saved; nothing written yet.
    Saved,
    /// Writes have started and are not verified: anything of the change may have happened.
    Applying,
    /// Changed and verified.
    Applied,
    /// Changed, then restored from this snapshot and verified.
    RolledBack,
    /// A restore from this snapshot failed: the target needs an operator.
    RestoreFailed,
}

impl TargetState {
    /// Whether the target may differ from its saved state because of this snapshot's change.
    pub fn may_be_changed(self) -> bool {
        matches!(
            self,
            TargetState::Applying | TargetState::Applied | TargetState::RestoreFailed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Saved => "saved",
            TargetState::Applying => "applying",
            TargetState::Applied => "applied",
            TargetState::RolledBack => "rolled-back",
            TargetState::RestoreFailed => "restore-failed",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifestTarget {
    pub kind: TargetKind,
    pub endpoint: String,
    /// The product and version the target ran when the snapshot was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// File holding the saved state, inside the snapshot folder.
    pub file: String,
    /// `sha256:…` of that file as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    /// File holding what the change writes (path, before, after), inside the snapshot folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_sha256: Option<String>,
    /// For a target that streams: the journal its batches are appended to (see [`journal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
    /// `sha256:…` of the journal once the target's writes are over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_sha256: Option<String>,
    /// Fingerprint of the saved (original) state.
    pub fingerprint_before: String,
    /// Fingerprint of the state after the change was verified.
    #[serde(default)]
    pub fingerprint_after: Option<String>,
    pub state: TargetState,
    /// Paths of the settings changed.
    #[serde(default)]
    pub changes: Vec<String>,
    /// The snapshot of the rollback that undid this target's change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<String>,
}

impl ManifestTarget {
    pub fn spec(&self) -> TargetSpec {
        TargetSpec::new(self.kind, self.endpoint.clone())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub id: String,
    pub created_at: String,
    pub stigfix_version: String,
    /// `apply` or `rollback`.
    pub command: String,
    /// The digest of the plan applied (`rollback of <id>` for a rollback).
    #[serde(alias = "plan_hash")]
    pub plan_digest: String,
    /// For a rollback: the snapshot it rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    #[serde(default)]
    pub insecure: bool,
    pub targets: Vec<ManifestTarget>,
}

/// What a snapshot is of.
pub struct Header {
    pub id: String,
    pub created_at: String,
    /// `apply` or `rollback`.
    pub command: String,
    pub plan_digest: String,
    pub rollback_of: Option<String>,
    pub insecure: bool,
}

/// What a snapshot saves of one target.
pub struct Entry {
    pub spec: TargetSpec,
    pub product: Option<Product>,
    pub saved: Saved,
    pub written: Vec<Written>,
    pub fingerprint_before: String,
    /// The target streams: what it writes is appended batch by batch to a journal.
    pub streamed: bool,
}

/// A snapshot on disk.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Snapshot {
    /// Create the folder, write every target's saved state, what the change writes and the
    /// manifest, and fsync them all.
    pub fn create(root: &Path, header: Header, entries: &[Entry]) -> Result<Snapshot> {
        create_private_dir(root, true)?;
        let dir = root.join(&header.id);
        create_private_dir(&dir, false)?;
        let mut targets = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let shared = entries
                .iter()
                .filter(|other| other.saved.file == entry.saved.file)
                .count()
                > 1;
            let file = if shared {
                format!("{index}-{}", entry.saved.file)
            } else {
                entry.saved.file.clone()
            };
            write_private(&dir.join(&file), &entry.saved.bytes)?;
            let written_file = format!("{file}.written.json");
            let written = serde_json::to_vec_pretty(&entry.written).expect("JSON serialises");
            write_private(&dir.join(&written_file), &written)?;
            let journal = if entry.streamed {
                let name = format!("{file}.journal");
                JournalFile::create(dir.join(&name))?;
                Some(name)
            } else {
                None
            };
            targets.push(ManifestTarget {
                kind: entry.spec.kind,
                endpoint: entry.spec.endpoint.clone(),
                product: entry.product.clone(),
                file_sha256: Some(fingerprint(&entry.saved.bytes)),
                file,
                written_file: Some(written_file),
                written_sha256: Some(fingerprint(&written)),
                journal,
                journal_sha256: None,
                fingerprint_before: entry.fingerprint_before.clone(),
                fingerprint_after: None,
                state: TargetState::Saved,
                changes: entry
                    .written
                    .iter()
                    .map(|written| written.path.to_string())
                    .collect(),
                rolled_back_by: None,
            });
        }
        let snapshot = Snapshot {
            dir,
            manifest: Manifest {
                format_version: FORMAT_VERSION,
                id: header.id,
                created_at: header.created_at,
                stigfix_version: env!("CARGO_PKG_VERSION").to_string(),
                command: header.command,
                plan_digest: header.plan_digest,
                rollback_of: header.rollback_of,
                insecure: header.insecure,
                targets,
            },
        };
        snapshot.save_manifest()?;
        sync_dir(&snapshot.dir)?;
        sync_dir(root)?;
        Ok(snapshot)
    }

    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Rewrite the manifest atomically (temporary file, fsync, rename, fsync of the folder).
    pub fn save_manifest(&self) -> Result<()> {
        let text =
            serde_json::to_string_pretty(&self.manifest).expect("manifests serialise") + "\n";
        let temporary = self.dir.join(format!(".{MANIFEST}.tmp"));
        write_private(&temporary, text.as_bytes())?;
        let path = self.dir.join(MANIFEST);
        fs::rename(&temporary, &path).with_path("write snapshot manifest", &path)?;
        sync_dir(&self.dir)
    }

    /// Record a target's state (and, once verified, its fingerprint), durably.
    pub fn set_state(
        &mut self,
        index: usize,
        state: TargetState,
        after: Option<String>,
    ) -> Result<()> {
        let target = &mut self.manifest.targets[index];
        target.state = state;
        if after.is_some() {
            target.fingerprint_after = after;
        }
        self.save_manifest()
    }

    /// Load a snapshot by id (from `root`) or by path.
    pub fn load(root: &Path, reference: &str) -> Result<Snapshot> {
        let as_path = PathBuf::from(reference);
        let dir = if as_path.join(MANIFEST).is_file() {
            as_path
        } else {
            root.join(reference)
        };
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|error| {
            Error::io("read snapshot manifest", &path, &error)
                .with_hint("`stigfix snapshots` lists the snapshots")
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|error| {
            Error::new(format!(
                "snapshot manifest {} is malformed: {error}",
                path.display()
            ))
        })?;
        let mut snapshot = Snapshot { dir, manifest };
        snapshot.list_journaled_changes();
        Ok(snapshot)
    }

    /// All snapshots under `root`, oldest first.
    pub fn list(root: &Path) -> Result<Vec<Snapshot>> {
        let entries = match fs::read_dir(root) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(Error::io("read snapshot folder", root, &error)),
        };
        let mut snapshots: Vec<Snapshot> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().join(MANIFEST).is_file())
            .filter_map(|entry| Snapshot::load(root, &entry.file_name().to_string_lossy()).ok())
            .collect();
        snapshots.sort_by(|a, b| a.manifest.id.cmp(&b.manifest.id));
        Ok(snapshots)
    }

    /// Whether any target may still carry this snapshot's change.
    pub fn has_changes(&self) -> bool {
        self.manifest
            .targets
            .iter()
            .any(|target| target.state.may_be_changed())
    }

    /// The newest `apply` snapshot, for `rollback --last`. When its change was rolled back
    /// already, the error says by which snapshot and what a second rollback would do.
    pub fn last_apply(root: &Path) -> Result<Snapshot> {
        let snapshots = Snapshot::list(root)?;
        let last = snapshots
            .iter()
            .rev()
            .find(|snapshot| {
                snapshot.manifest.command == "apply"
                    && snapshot
                        .manifest
                        .targets
                        .iter()
                        .any(|target| target.state != TargetState::Saved)
            })
            .ok_or_else(|| {
                Error::new(format!("no snapshot of an applied change in {}", root.display()))
                    .with_hint("snapshots are written by `stigfix apply`; pass --snapshot-dir if they are elsewhere")
            })?;
        if last.has_changes() {
            return Ok(last.clone());
        }
        let by = last
            .manifest
            .targets
            .iter()
            .find_map(|target| target.rolled_back_by.clone());
        let mut error = Error::new(format!(
            "the last apply, snapshot {}, has already been rolled back{}; nothing was changed",
            last.manifest.id,
            by.as_ref()
                .map(|id| format!(" (by snapshot {id})"))
                .unwrap_or_default()
        ));
        error = match by {
            Some(id) => error.with_hint(format!(
                "`stigfix rollback {id}` would undo that rollback, putting the apply's changes back; to roll back an earlier apply, name its snapshot (`stigfix snapshots`)"
            )),
            None => error.with_hint(
                "to roll back an earlier apply, name its snapshot (`stigfix snapshots`)",
            ),
        };
        Err(error)
    }

    /// The saved state of a target, checked against the SHA-256 the manifest recorded (with
    /// the batches of its journal, when it streamed).
    pub fn saved(&self, target: &ManifestTarget) -> Result<Saved> {
        let bytes = self.read_checked(&target.file, target.file_sha256.as_deref())?;
        let saved = Saved {
            file: target.file.clone(),
            bytes,
        };
        self.with_journal_saved(target, saved)
    }

    /// What the change wrote to a target (with the batches of its journal, when it streamed);
    /// `None` for snapshots of older versions.
    pub fn written(&self, target: &ManifestTarget) -> Result<Option<Vec<Written>>> {
        let Some(file) = &target.written_file else {
            return Ok(None);
        };
        let bytes = self.read_checked(file, target.written_sha256.as_deref())?;
        let written = serde_json::from_slice(&bytes).map_err(|error| {
            Error::new(format!(
                "snapshot file {} is malformed: {error}",
                self.dir.join(file).display()
            ))
        })?;
        self.with_journal_written(target, written).map(Some)
    }

    fn read_checked(&self, file: &str, sha256: Option<&str>) -> Result<Vec<u8>> {
        let path = self.dir.join(file);
        let bytes = fs::read(&path).with_path("read snapshot file", &path)?;
        if let Some(expected) = sha256
            && fingerprint(&bytes) != expected
        {
            return Err(edited_error(&path));
        }
        Ok(bytes)
    }

    /// Remove this snapshot's folder.
    pub fn remove(self) -> Result<()> {
        fs::remove_dir_all(&self.dir).with_path("remove snapshot", &self.dir)
    }
}

/// A snapshot file that is not what stigfix wrote.
fn edited_error(path: &Path) -> Error {
    Error::new(format!(
        "snapshot file {} was changed after stigfix wrote it (its SHA-256 is not the one the manifest recorded); nothing was changed",
        path.display()
    ))
    .with_hint("restore the snapshot folder from a backup; stigfix does not roll back to a state it did not save")
}

fn create_private_dir(path: &Path, recursive: bool) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(recursive)
        .mode(0o700)
        .create(path)
        .with_path("create snapshot folder", path)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_path("write snapshot file", path)?;
    file.write_all(bytes)
        .with_path("write snapshot file", path)?;
    file.sync_all().with_path("sync snapshot file", path)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .with_path("sync snapshot folder", dir)
}

/// A new snapshot id: `20261122T100000.123456Z-1a2b3c`, from the real clock (not the run's
/// pinned `STIGFIX_TEST_NOW`): ids sort in the order snapshots were made, which `--last` uses.
pub fn new_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let seconds = now
        .format(&time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]"
        ))
        .expect("timestamps format");
    let stamp = format!("{seconds}.{:06}Z", now.microsecond());
    let random: u32 = {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(now.unix_timestamp_nanos() as u128);
        hasher.write_u32(std::process::id());
        (hasher.finish() & 0xff_ffff) as u32
    };
    format!("{stamp}-{random:06x}")
}

#[cfg(test)]
mod tests;
