//! Rollback snapshots: the exact original state of every target, written (0700 folder, 0600
//! files, fsynced) before the first change. The manifest records what happened to each target and
//! never holds a secret; the saved state files may (a config document can carry a backup
//! passphrase), which is why they are readable by their owner only.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::playbook::TargetKind;
use crate::targets::Saved;

const MANIFEST: &str = "manifest.json";

/// What state a target of a snapshot is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetState {
    /// Saved; not changed yet.
    Saved,
    /// Changed and verified.
    Applied,
    /// Changed, then restored from this snapshot and verified.
    RolledBack,
    /// A restore from this snapshot failed: the target needs an operator.
    RestoreFailed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifestTarget {
    pub kind: TargetKind,
    pub endpoint: String,
    /// File holding the saved state, inside the snapshot folder.
    pub file: String,
    /// Fingerprint of the saved (original) state.
    pub fingerprint_before: String,
    /// Fingerprint of the state after the change was verified.
    #[serde(default)]
    pub fingerprint_after: Option<String>,
    pub state: TargetState,
    /// Paths of the settings changed.
    #[serde(default)]
    pub changes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub id: String,
    pub created_at: String,
    pub stigfix_version: String,
    /// `apply` or `rollback`.
    pub command: String,
    /// Hash of the plan applied.
    pub plan_hash: String,
    #[serde(default)]
    pub insecure: bool,
    pub targets: Vec<ManifestTarget>,
}

/// A snapshot on disk.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Snapshot {
    /// Create the folder, write the saved states and the manifest, and fsync them all.
    pub fn create(root: &Path, manifest: Manifest, saved: &[Saved]) -> Result<Snapshot> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .with_path("create snapshot folder", root)?;
        let dir = root.join(&manifest.id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_path("create snapshot folder", &dir)?;
        for state in saved {
            write_private(&dir.join(&state.file), &state.bytes)?;
        }
        let snapshot = Snapshot { dir, manifest };
        snapshot.save_manifest()?;
        sync_dir(&snapshot.dir)?;
        sync_dir(root)?;
        Ok(snapshot)
    }

    /// Rewrite the manifest atomically (temporary file, fsync, rename).
    pub fn save_manifest(&self) -> Result<()> {
        let text =
            serde_json::to_string_pretty(&self.manifest).expect("manifests serialise") + "\n";
        let temporary = self.dir.join(format!(".{MANIFEST}.tmp"));
        write_private(&temporary, text.as_bytes())?;
        let path = self.dir.join(MANIFEST);
        fs::rename(&temporary, &path).with_path("write snapshot manifest", &path)?;
        sync_dir(&self.dir)
    }

    pub fn set_state(
        &mut self,
        kind: TargetKind,
        endpoint: &str,
        state: TargetState,
        after: Option<String>,
    ) -> Result<()> {
        if let Some(target) = self
            .manifest
            .targets
            .iter_mut()
            .find(|target| target.kind == kind && target.endpoint == endpoint)
        {
            target.state = state;
            if after.is_some() {
                target.fingerprint_after = after;
            }
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
        Ok(Snapshot { dir, manifest })
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

    /// The newest snapshot that changed something (an `apply` or `rollback` with an applied target).
    pub fn latest(root: &Path) -> Result<Snapshot> {
        Snapshot::list(root)?
            .into_iter()
            .rev()
            .find(|snapshot| {
                snapshot.manifest.targets.iter().any(|target| target.state == TargetState::Applied)
            })
            .ok_or_else(|| {
                Error::new(format!("no snapshot of an applied change in {}", root.display()))
                    .with_hint("snapshots are written by `stigfix apply`; pass --snapshot-dir if they are elsewhere")
            })
    }

    pub fn saved(&self, target: &ManifestTarget) -> Result<Saved> {
        let path = self.dir.join(&target.file);
        let bytes = fs::read(&path).with_path("read snapshot file", &path)?;
        Ok(Saved {
            file: target.file.clone(),
            bytes,
        })
    }
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

/// A new snapshot id: `20261122T100000Z-1a2b3c`.
pub fn new_id(now: time::OffsetDateTime) -> String {
    // Microseconds from the real clock keep ids of one second in order, even under a fixed
    // STIGFIX_TEST_NOW.
    let micros = time::OffsetDateTime::now_utc().microsecond();
    let seconds = now
        .format(&time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]"
        ))
        .expect("timestamps format");
    let stamp = format!("{seconds}.{micros:06}Z");
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
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn manifest(id: &str) -> Manifest {
        Manifest {
            format_version: 1,
            id: id.into(),
            created_at: "2026-11-22T10:00:00Z".into(),
            stigfix_version: "0.1.0".into(),
            command: "apply".into(),
            plan_hash: "sha256:0".into(),
            insecure: false,
            targets: vec![ManifestTarget {
                kind: TargetKind::Ucp,
                endpoint: "https://ucp".into(),
                file: "ucp-config.toml".into(),
                fingerprint_before: "sha256:1".into(),
                fingerprint_after: None,
                state: TargetState::Saved,
                changes: vec![],
            }],
        }
    }

    #[test]
    fn snapshots_are_private_and_round_trip() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().join("snapshots");
        let mut snapshot = Snapshot::create(
            &root,
            manifest("20261122T100000Z-000001"),
            &[Saved {
                file: "ucp-config.toml".into(),
                bytes: b"[a]\n".to_vec(),
            }],
        )
        .unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&snapshot.dir), 0o700);
        assert_eq!(mode(&snapshot.dir.join("ucp-config.toml")), 0o600);
        assert_eq!(mode(&snapshot.dir.join("manifest.json")), 0o600);

        assert!(Snapshot::latest(&root).is_err());
        snapshot
            .set_state(
                TargetKind::Ucp,
                "https://ucp",
                TargetState::Applied,
                Some("sha256:2".into()),
            )
            .unwrap();
        let latest = Snapshot::latest(&root).unwrap();
        assert_eq!(
            latest.manifest.targets[0].fingerprint_after.as_deref(),
            Some("sha256:2")
        );
        let saved = latest.saved(&latest.manifest.targets[0]).unwrap();
        assert_eq!(saved.bytes, b"[a]\n");
    }

    #[test]
    fn ids_sort_by_time() {
        let a = new_id(time::macros::datetime!(2026-11-22 10:00:00 UTC));
        let b = new_id(time::macros::datetime!(2026-11-22 10:00:01 UTC));
        assert!(a < b);
        assert!(a.starts_with("20261122T100000."));
    }
}
