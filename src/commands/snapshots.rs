//! `stigfix snapshots`: the snapshots and the state of each target.

use crate::cli::{Format, SnapshotsArgs};
use crate::error::{ExitStatus, Result};
use crate::settings::Settings;
use crate::snapshot::Snapshot;

pub fn run(settings: &Settings, args: &SnapshotsArgs) -> Result<ExitStatus> {
    let snapshots = Snapshot::list(&settings.snapshot_dir)?;
    if args.format == Format::Json {
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
