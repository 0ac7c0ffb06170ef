//! `stigfix snapshots`: the snapshots and the state of each target; `snapshots prune`: remove
//! old ones, never one a rollback or an operator may still need.

use std::collections::BTreeMap;

use crate::cli::{GlobalArgs, ListFormat, PruneArgs, SnapshotsArgs, SnapshotsCommand};
use crate::error::{Error, ExitStatus, Result};
use crate::fleet::{self, Scope};
use crate::lock::{self, Lock};
use crate::output::Output;
use crate::settings::{self, Settings};
use crate::snapshot::{self, PruneDecision, PruneRule, Snapshot};

/// With an inventory, each cluster picked in turn (its own folder, `<snapshot-dir>/<name>`):
/// text lines carry the cluster prefix, JSON objects a `"cluster"` field.
pub fn dispatch(global: &GlobalArgs, args: &SnapshotsArgs, output: Output) -> Result<ExitStatus> {
    let fleet = match Scope::resolve(global, output, false)? {
        Scope::One(settings) => return run(&settings, args),
        Scope::Many(fleet) => fleet,
    };
    let mut statuses = Vec::new();
    let mut manifests = Vec::new();
    for cluster in &fleet.clusters {
        let settings = fleet
            .base
            .for_cluster_without_credentials(global, cluster)?;
        match (&args.command, args.format) {
            (None, ListFormat::Json) => {
                for snapshot in Snapshot::list(&settings.snapshot_dir)? {
                    manifests.push(with_cluster(&snapshot.manifest, &cluster.name));
                }
            }
            _ => match run(&settings, args) {
                Ok(status) => statuses.push(status),
                Err(error) => {
                    settings.output.error(&error.message(), error.hint());
                    statuses.push(error.status());
                }
            },
        }
    }
    if args.command.is_none() && args.format == ListFormat::Json {
        fleet.base.output.raw_data(
            &(serde_json::to_string_pretty(&manifests).expect("manifests serialise") + "\n"),
        );
    }
    Ok(fleet::aggregate(statuses))
}

/// A JSON object with `"cluster"` first.
fn with_cluster(value: &impl serde::Serialize, cluster: &str) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert("cluster".into(), cluster.into());
    if let serde_json::Value::Object(fields) = serde_json::to_value(value).expect("JSON serialises")
    {
        object.extend(fields);
    }
    serde_json::Value::Object(object)
}

pub fn run(settings: &Settings, args: &SnapshotsArgs) -> Result<ExitStatus> {
    match &args.command {
        Some(SnapshotsCommand::Prune(prune)) => self::prune(settings, prune, args.format),
        None => list(settings, args.format),
    }
}

fn list(settings: &Settings, format: ListFormat) -> Result<ExitStatus> {
    let snapshots = Snapshot::list(&settings.snapshot_dir)?;
    if format == ListFormat::Json {
        let manifests: Vec<_> = snapshots
            .iter()
            .map(|snapshot| &snapshot.manifest)
            .collect();
        settings
            .output
            .data(&(serde_json::to_string_pretty(&manifests).expect("manifests serialise") + "\n"));
        return Ok(ExitStatus::Success);
    }
    if snapshots.is_empty() {
        settings.output.status(&format!(
            "No snapshots in {}",
            settings.snapshot_dir.display()
        ));
        return Ok(ExitStatus::Success);
    }
    let mut text = String::new();
    for snapshot in snapshots {
        let manifest = &snapshot.manifest;
        for target in &manifest.targets {
            text.push_str(&format!(
                "{}  {:<8}  {} {}  {:<13}  {} change(s)\n",
                manifest.id,
                manifest.command,
                target.kind.as_str(),
                target.endpoint,
                target.state.as_str(),
                target.changes.len()
            ));
        }
    }
    settings.output.data(&text);
    Ok(ExitStatus::Success)
}

/// One snapshot in the prune's report.
#[derive(serde::Serialize)]
struct Entry {
    id: String,
    command: String,
    created_at: String,
    bytes: u64,
    /// `remove` or `keep`.
    action: &'static str,
    reason: String,
}

fn prune(settings: &Settings, args: &PruneArgs, format: ListFormat) -> Result<ExitStatus> {
    let output = &settings.output;
    let dir = &settings.snapshot_dir;
    let snapshots = Snapshot::list(dir)?;
    let mut decisions = snapshot::prune_decisions(
        &snapshots,
        &PruneRule {
            keep: args.keep,
            older_than_days: args.older_than,
            now: settings::now(),
        },
    );
    // A run working on a target may be writing or reading its snapshot: those are kept, and
    // the locks taken here keep a new run off the targets until the removal is done.
    let _locks = lock_targets(&snapshots, &mut decisions);
    let entries: Vec<Entry> = snapshots
        .iter()
        .zip(&decisions)
        .map(|(snapshot, decision)| Entry {
            id: decision.id.clone(),
            command: snapshot.manifest.command.clone(),
            created_at: snapshot.manifest.created_at.clone(),
            bytes: snapshot::size_of(&snapshot.dir),
            action: if decision.remove { "remove" } else { "keep" },
            reason: decision.reason.clone(),
        })
        .collect();
    let doomed: Vec<&Entry> = entries.iter().filter(|e| e.action == "remove").collect();
    let freed: u64 = doomed.iter().map(|entry| entry.bytes).sum();
    if format == ListFormat::Text {
        output.data(&text_report(&entries));
    }
    let mut removed = false;
    let result = if doomed.is_empty() {
        output.status(&format!("Nothing to remove in {}.", dir.display()));
        Ok(ExitStatus::Success)
    } else if !args.yes && !settings::interactive() {
        Err(Error::new(
            "refusing to remove snapshots without confirmation: standard input is not a terminal; nothing was removed",
        )
        .with_hint("review the list, then run again with --yes"))
    } else if !args.yes
        && !output.confirm(&format!(
            "Remove {} snapshot(s) ({})?",
            doomed.len(),
            human_bytes(freed)
        ))
    {
        Err(Error::new("prune cancelled; nothing was removed"))
    } else {
        for (snapshot, decision) in snapshots.into_iter().zip(&decisions) {
            if decision.remove {
                snapshot.remove()?;
            }
        }
        removed = true;
        output.status(&format!(
            "Removed {} snapshot(s) ({}) from {}; kept {}.",
            doomed.len(),
            human_bytes(freed),
            dir.display(),
            entries.len() - doomed.len()
        ));
        Ok(ExitStatus::Success)
    };
    if format == ListFormat::Json {
        let report = serde_json::json!({
            "snapshot_dir": dir,
            "removed": removed,
            "freed_bytes": if removed { freed } else { 0 },
            "snapshots": entries,
        });
        match &settings.cluster {
            None => output
                .data(&(serde_json::to_string_pretty(&report).expect("JSON serialises") + "\n")),
            Some(cluster) => output.raw_data(
                &(serde_json::to_string_pretty(&with_cluster(&report, cluster))
                    .expect("JSON serialises")
                    + "\n"),
            ),
        }
    }
    result
}

/// Take the lock of every target of the snapshots to remove; a snapshot one of whose targets
/// another run holds is kept. The locks are held until the caller drops them.
fn lock_targets(snapshots: &[Snapshot], decisions: &mut [PruneDecision]) -> Vec<Lock> {
    let dir = lock::lock_dir();
    let mut locks = Vec::new();
    // Lock key → whether this run holds it (a key is tried once: a second open of the same
    // lock file in this process would find it held).
    let mut held: BTreeMap<String, bool> = BTreeMap::new();
    for (snapshot, decision) in snapshots.iter().zip(decisions.iter_mut()) {
        if !decision.remove {
            continue;
        }
        for target in &snapshot.manifest.targets {
            let spec = target.spec();
            for key in lock::keys(&spec) {
                let ours = *held.entry(key.clone()).or_insert_with(|| {
                    match lock::acquire(&dir, &key, &spec.label()) {
                        Ok(lock) => {
                            locks.push(lock);
                            true
                        }
                        Err(_) => false,
                    }
                });
                if !ours && decision.remove {
                    decision.remove = false;
                    decision.reason = format!(
                        "another stigfix run is working on {} (its lock is held)",
                        spec.label()
                    );
                }
            }
        }
    }
    locks
}

fn text_report(entries: &[Entry]) -> String {
    let mut text = String::new();
    for entry in entries {
        text.push_str(&format!(
            "{:<6}  {}  {:<8}  {:>9}  {}\n",
            entry.action,
            entry.id,
            entry.command,
            human_bytes(entry.bytes),
            entry.reason
        ));
    }
    text
}

/// `512 B`, `3.4 KiB`, `97.0 MiB`, `1.2 GiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(101_711_872), "97.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
