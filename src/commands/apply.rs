//! `stigfix apply`: plan and apply, or apply a saved plan exactly as the playbooks produced it.

use std::path::Path;

use crate::cli::ApplyArgs;
use crate::engine::{Engine, States};
use crate::error::{Error, ExitStatus, IoContext, Result};
use crate::lock::Locks;
use crate::output::Output;
use crate::plan::Plan;
use crate::render::{self, json};
use crate::settings::{self, Settings};
use crate::targets::TargetSpec;

pub async fn run(settings: &Settings, args: &ApplyArgs) -> Result<ExitStatus> {
    match &args.plan {
        Some(path) => apply_saved(settings, path, args.yes).await,
        None => {
            let engine = settings.engine()?;
            let locks = engine.lock()?;
            let output = &settings.output;
            if args.yes && engine.streams() {
                return apply_streaming(&engine, &locks, output).await;
            }
            let (plan, states) = engine.plan().await?;
            run_apply(&engine, &plan, &locks, Some(states), args.yes, true, output).await
        }
    }
}

/// `apply --yes` with a target that streams (a DTR's repositories): the changes of the first
/// pages are written while later pages are read, so the plan — complete, of everything read —
/// is shown once the writes are over.
async fn apply_streaming(engine: &Engine, locks: &Locks, output: &Output) -> Result<ExitStatus> {
    let (plan, snapshot) = engine.apply_streaming(locks).await?;
    output.data(&render::text(&plan, output));
    match snapshot {
        Some(snapshot) => output.status(&format!(
            "Applied {} change(s). Undo with `stigfix rollback {}` (or `--last`).",
            plan.change_count(),
            snapshot.id()
        )),
        None => output.status("Nothing to change: every enforced rule is already compliant."),
    }
    Ok(ExitStatus::Success)
}

/// A saved plan is applied only as the playbooks produce it: the same playbooks, variables,
/// waivers and filters (its rules digest), against the live state it was made from (each
/// target's fingerprint), giving exactly its changes. Anything else is refused, writing nothing.
async fn apply_saved(settings: &Settings, path: &Path, yes: bool) -> Result<ExitStatus> {
    let output = &settings.output;
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).with_path("read plan", path)?;
    let saved = json::read_plan(&text, &source)?;
    if saved.insecure && !settings.tls.insecure {
        output.warn("the saved plan was made with --insecure; this apply verifies TLS");
    }
    if let Some(change) = saved
        .targets
        .iter()
        .flat_map(|target| &target.changes)
        .find(|change| change.rules.is_empty())
    {
        return Err(Error::new(format!(
            "{source}: the change of `{}` names no rule: no playbook asked for it; nothing was changed",
            change.path
        ))
        .with_hint("run `stigfix plan --out FILE` again and apply that file unedited"));
    }
    let specs: Vec<TargetSpec> = saved
        .targets
        .iter()
        .map(|target| TargetSpec::new(target.kind, target.endpoint.clone()))
        .collect();
    let engine = settings.engine_for(&specs)?;
    if engine.rules.digest() != saved.rules_digest {
        return Err(Error::new(format!(
            "{source}: the playbooks, site-file variables, waivers or rule filters differ from those the plan was made with; nothing was changed"
        ))
        .with_hint("run `stigfix plan --out FILE` again with the current playbooks and site file, review it, and apply that"));
    }
    let locks = engine.lock()?;
    let (plan, states) = engine.plan().await?;
    for (saved_target, target) in saved.targets.iter().zip(&plan.targets) {
        if saved_target.fingerprint != target.fingerprint {
            return Err(Error::new(format!(
                "plan is stale: {} changed since the plan was made (fingerprint {} is now {}); nothing was changed",
                target.spec.label(),
                saved_target.fingerprint,
                target.fingerprint
            ))
            .with_hint("run `stigfix plan` again and review the new plan"));
        }
        let derived: Vec<json::ChangeJson> =
            target.changes().iter().map(json::change_json).collect();
        if derived != saved_target.changes {
            return Err(Error::new(format!(
                "{source}: the changes for {} are not what the playbooks give for its live state ({}); nothing was changed",
                target.spec.label(),
                first_difference(&saved_target.changes, &derived)
            ))
            .with_hint("a saved plan must be applied unedited: run `stigfix plan --out FILE` again, review it, and apply that"));
        }
    }
    let digest = plan.digest();
    if digest != saved.digest {
        return Err(Error::new(format!(
            "{source}: its digest {} is not the digest of its content ({digest}); nothing was changed",
            saved.digest
        ))
        .with_hint("a saved plan must be applied unedited: run `stigfix plan --out FILE` again"));
    }
    output.status(&format!(
        "Plan {digest} matches the playbooks and the live state."
    ));
    run_apply(&engine, &plan, &locks, Some(states), yes, true, output).await
}

fn first_difference(saved: &[json::ChangeJson], derived: &[json::ChangeJson]) -> String {
    for change in saved {
        match derived.iter().find(|other| other.path == change.path) {
            None => return format!("the plan changes `{}`, the playbooks do not", change.path),
            Some(other) if other != change => {
                return format!(
                    "the plan sets `{}` to {}, the playbooks to {}",
                    change.path,
                    change.after.display(),
                    other.after.display()
                );
            }
            Some(_) => {}
        }
    }
    match derived
        .iter()
        .find(|change| !saved.iter().any(|other| other.path == change.path))
    {
        Some(change) => format!("the playbooks change `{}`, the plan does not", change.path),
        None => "the changes are in another order".to_string(),
    }
}

/// Show, confirm, apply. Shared by `apply` and the demo. `states` were read under `locks`.
pub async fn run_apply(
    engine: &Engine,
    plan: &Plan,
    locks: &Locks,
    states: Option<States>,
    yes: bool,
    show_plan: bool,
    output: &Output,
) -> Result<ExitStatus> {
    if show_plan {
        output.data(&render::text(plan, output));
    }
    if let Some((target, why)) = plan
        .targets
        .iter()
        .find_map(|target| Some((target, target.refusal.as_ref()?)))
    {
        return Err(Error::new(format!(
            "{}: {why}; nothing was changed",
            target.spec.label()
        ))
        .with_hint("fix the target's configuration (for a host: --host-root), then run again"));
    }
    let changes = plan.change_count();
    if changes == 0 {
        output.status("Nothing to change: every enforced rule is already compliant.");
        return Ok(ExitStatus::Success);
    }
    if !yes {
        if !settings::interactive() {
            return Err(Error::new("refusing to apply without confirmation: standard input is not a terminal; nothing was changed")
                .with_hint("review the plan, then run again with --yes"));
        }
        let targets = plan
            .targets
            .iter()
            .filter(|target| !target.edits.is_empty())
            .count();
        if !output.confirm(&format!(
            "Apply {changes} change(s) to {targets} target(s)?"
        )) {
            return Err(Error::new("apply cancelled; nothing was changed"));
        }
    }
    // A prompt is a pause: the targets are read again (under the locks) and checked.
    let states = if yes { states } else { None };
    if let Some(snapshot) = engine.apply(plan, locks, states).await? {
        output.status(&format!(
            "Applied {changes} change(s). Undo with `stigfix rollback {}` (or `--last`).",
            snapshot.id()
        ));
    }
    Ok(ExitStatus::Success)
}
