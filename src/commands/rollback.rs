//! `stigfix rollback`: show the way back to a snapshot, confirm, restore and verify. The
//! snapshot names its targets; no flag is needed to find them.

use crate::cli::{GlobalArgs, RollbackArgs};
use crate::error::{Error, ExitStatus, Result};
use crate::fleet::Scope;
use crate::output::Output;
use crate::render;
use crate::settings::{self, Settings};
use crate::snapshot::Snapshot;
use crate::targets::TargetSpec;

/// With an inventory, one cluster at a time (`--cluster NAME`): its snapshots, its targets.
pub async fn dispatch(
    global: &GlobalArgs,
    args: &RollbackArgs,
    output: Output,
) -> Result<ExitStatus> {
    match Scope::resolve(global, output, false)? {
        Scope::One(settings) => run(&settings, args).await,
        Scope::Many(fleet) => {
            let cluster = fleet.only("rollback")?;
            run(&fleet.settings(global, cluster)?, args).await
        }
    }
}

pub async fn run(settings: &Settings, args: &RollbackArgs) -> Result<ExitStatus> {
    let output = &settings.output;
    let source = match &args.snapshot {
        Some(reference) => Snapshot::load(&settings.snapshot_dir, reference)?,
        None => Snapshot::last_apply(&settings.snapshot_dir)?,
    };
    let specs: Vec<TargetSpec> = source
        .manifest
        .targets
        .iter()
        .filter(|target| target.state.may_be_changed())
        .map(|target| target.spec())
        .collect();
    if specs.is_empty() {
        return Err(Error::new(format!(
            "snapshot {} has nothing to roll back (its targets were already rolled back or never changed)",
            source.manifest.id
        )));
    }
    let engine = settings.engine_for(&specs)?;
    output.status(&format!(
        "Rolling back to snapshot {} ({} of {})",
        source.manifest.id, source.manifest.command, source.manifest.created_at
    ));
    let prepared = engine.prepare_rollback(source, args.force).await?;
    output.data(&render::text::rollback_preview(&prepared, output));
    if !prepared.writes_nothing() && !args.yes {
        if !settings::interactive() {
            return Err(Error::new(
                "refusing to roll back without confirmation: standard input is not a terminal; nothing was changed",
            )
            .with_hint("run again with --yes"));
        }
        let question = format!(
            "Roll {} target(s) back to snapshot {}?",
            prepared.targets.len(),
            prepared.source.manifest.id
        );
        if !output.confirm(&question) {
            return Err(Error::new("rollback cancelled; nothing was changed"));
        }
    }
    match engine.rollback(prepared).await? {
        Some(undo) => output.status(&format!(
            "Rolled back. The state before the rollback is saved as snapshot {}.",
            undo.id()
        )),
        None => output.status("Nothing to roll back: every target is at the snapshot's values."),
    }
    Ok(ExitStatus::Success)
}
