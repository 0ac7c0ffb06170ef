//! The append-only journal of a streamed target: what each batch of a change writes, durable
//! before the batch is written.
//!
//! A target that streams (reads, plans and writes its items page by page) does not know at the
//! start what it will change, so its entry's saved file and written file hold only what was
//! known then (usually nothing), and every batch appends one line to `<file>.journal`: the
//! saved state of what the batch changes and the batch's `Written` paths, fsynced before the
//! batch's first write. A line is `sha256:<hex of the JSON> <JSON>`: a line edited by hand is
//! refused like any other snapshot file. The last line may be incomplete when the process died
//! while appending it; its batch was never written (writes start only once the line is
//! durable), so it is ignored. Once the target's writes are over, the manifest records the
//! SHA-256 of the whole journal (so a removed line is caught too) and every path changed.
//!
//! A streamed target's saved state is a JSON object: each batch's saved state is merged into
//! the one before, key by key (objects merged, lists appended, other values replaced).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{ManifestTarget, Snapshot};
use crate::error::{Error, IoContext, Result};
use crate::targets::{Saved, Written};
use crate::values::fingerprint;

/// One batch as the journal keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    /// The saved state of what the batch changes (a JSON object).
    saved: Value,
    written: Vec<Written>,
}

/// Where a streamed target's batches are appended. Cheap to clone, and usable from another
/// thread (appending blocks on the disk).
#[derive(Clone, Debug)]
pub struct JournalFile {
    path: PathBuf,
}

impl JournalFile {
    /// Create the empty journal (0600, fsynced).
    pub(super) fn create(path: PathBuf) -> Result<JournalFile> {
        super::write_private(&path, b"")?;
        Ok(JournalFile { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one batch and make it durable (the data and the file's size) before returning:
    /// only then may the batch be written.
    pub fn append(&self, saved: &Saved, written: &[Written]) -> Result<()> {
        let record = Record {
            saved: saved_json(saved)?,
            written: written.to_vec(),
        };
        let json = serde_json::to_string(&record).expect("journal records serialise");
        let line = format!("{} {json}\n", fingerprint(json.as_bytes()));
        let mut file = OpenOptions::new()
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .with_path("append to snapshot journal", &self.path)?;
        file.write_all(line.as_bytes())
            .with_path("append to snapshot journal", &self.path)?;
        file.sync_data()
            .with_path("sync snapshot journal", &self.path)
    }
}

/// A streamed target's saved state as JSON, to merge batches into with [`merge_saved`].
pub fn saved_json(saved: &Saved) -> Result<Value> {
    match serde_json::from_slice(&saved.bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(Error::new(format!(
            "the saved state {} of a streamed target is not a JSON object (a bug in stigfix)",
            saved.file
        ))),
    }
}

/// Merge `delta`, a batch's saved state, into `base`: objects key by key, lists appended,
/// other values replaced.
pub fn merge_saved(base: &mut Value, delta: Value) {
    match (base, delta) {
        (Value::Object(base), Value::Object(delta)) => {
            for (key, value) in delta {
                match base.get_mut(&key) {
                    Some(existing) => merge_saved(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (Value::Array(base), Value::Array(delta)) => base.extend(delta),
        (base, delta) => *base = delta,
    }
}

impl Snapshot {
    /// The journal of the target at `index`, when it streams.
    pub fn journal_file(&self, index: usize) -> Option<JournalFile> {
        let name = self.manifest.targets.get(index)?.journal.as_ref()?;
        Some(JournalFile {
            path: self.dir.join(name),
        })
    }

    /// Record that the streamed target at `index` has finished writing: the journal's SHA-256,
    /// every path its change wrote (`written`: the base and every batch, as journaled), and
    /// the fingerprint of the whole state it was read as.
    pub fn seal_journal(
        &mut self,
        index: usize,
        fingerprint_before: Option<String>,
        written: &[Written],
    ) -> Result<()> {
        let Some(name) = self.manifest.targets[index].journal.clone() else {
            return Ok(());
        };
        let path = self.dir.join(&name);
        let bytes = fs::read(&path).with_path("read snapshot journal", &path)?;
        let target = &mut self.manifest.targets[index];
        target.journal_sha256 = Some(fingerprint(&bytes));
        target.changes = written.iter().map(|item| item.path.to_string()).collect();
        if let Some(before) = fingerprint_before {
            target.fingerprint_before = before;
        }
        self.save_manifest()
    }

    /// A streamed target whose journal was never sealed (the run was killed while writing) has
    /// only the paths known at the start in its manifest: list every path journaled since, so
    /// `stigfix snapshots` counts them. A journal that cannot be read is left to whatever
    /// reads it next to report.
    pub(super) fn list_journaled_changes(&mut self) {
        for index in 0..self.manifest.targets.len() {
            let target = &self.manifest.targets[index];
            if target.journal.is_none() || target.journal_sha256.is_some() {
                continue;
            }
            if let Ok(Some(written)) = self.written(target) {
                self.manifest.targets[index].changes =
                    written.iter().map(|item| item.path.to_string()).collect();
            }
        }
    }

    /// The batches of a streamed target's journal, each checked; an incomplete last line (the
    /// process died appending it, before its batch was written) is left out.
    fn journal_records(&self, target: &ManifestTarget) -> Result<Vec<Record>> {
        let Some(name) = &target.journal else {
            return Ok(Vec::new());
        };
        let text = String::from_utf8(self.read_checked(name, target.journal_sha256.as_deref())?)
            .map_err(|_| self.edited(name))?;
        let mut records = Vec::new();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        for line in complete.lines() {
            let (sum, json) = line.split_once(' ').ok_or_else(|| self.edited(name))?;
            if fingerprint(json.as_bytes()) != sum {
                return Err(self.edited(name));
            }
            records.push(serde_json::from_str(json).map_err(|_| self.edited(name))?);
        }
        Ok(records)
    }

    fn edited(&self, file: &str) -> Error {
        super::edited_error(&self.dir.join(file))
    }

    /// `saved` with the journal's batches merged in.
    pub(super) fn with_journal_saved(
        &self,
        target: &ManifestTarget,
        mut saved: Saved,
    ) -> Result<Saved> {
        let records = self.journal_records(target)?;
        if records.is_empty() {
            return Ok(saved);
        }
        let mut merged = saved_json(&saved)?;
        for record in records {
            merge_saved(&mut merged, record.saved);
        }
        saved.bytes = serde_json::to_vec_pretty(&merged).expect("JSON serialises");
        Ok(saved)
    }

    /// `written` with the journal's batches after it.
    pub(super) fn with_journal_written(
        &self,
        target: &ManifestTarget,
        mut written: Vec<Written>,
    ) -> Result<Vec<Written>> {
        for record in self.journal_records(target)? {
            written.extend(record.written);
        }
        Ok(written)
    }
}
