//! `stigfix apply`: plan and apply, or apply a saved plan exactly as the playbooks produced it.
//! With an inventory, every cluster picked is planned and shown, one question is asked, and
//! the clusters are applied at once (`--yes`: without the question); each has its own lock,
//! snapshot and rollback.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::cli::{ApplyArgs, GlobalArgs};
use crate::engine::{Engine, States};
use crate::error::{Error, ExitStatus, IoContext, Result};
use crate::fleet::{self, Fleet, Scope};
use crate::lock::Locks;
use crate::output::Output;
use crate::plan::Plan;
use crate::render::{self, json};
use crate::runlog::{Outcome, Report};
use crate::settings::{self, Settings};
use crate::targets::TargetSpec;

pub async fn dispatch(global: &GlobalArgs, args: ApplyArgs, output: Output) -> Result<ExitStatus> {
    match Scope::resolve(global, output, false)? {
        Scope::One(settings) => {
            let work = async {
                let mut report = Report::default();
                let step = Step::Whole { yes: args.yes };
                let result = run(&settings, &args, &step, &mut report).await;
                (result, report)
            };
            fleet::run_one(&settings, "apply", &args.record, work).await
        }
        Scope::Many(fleet) => many(global, &fleet, args).await,
    }
}

/// How much of an apply a run does on one cluster.
#[derive(Clone, Debug)]
pub enum Step {
    /// Plan, show, confirm (unless `yes`), apply.
    Whole { yes: bool },
    /// Plan and show; the question comes later, for every cluster at once.
    Preview,
    /// Plan again under the locks and apply, if the plan is the one shown (its digest).
    Confirmed { digest: String },
}

/// Apply on one cluster.
pub async fn run(
    settings: &Settings,
    args: &ApplyArgs,
    step: &Step,
    report: &mut Report,
) -> Result<ExitStatus> {
    let yes = match step {
        Step::Whole { yes } => *yes,
        Step::Preview | Step::Confirmed { .. } => true,
    };
    if let Some(path) = &args.plan {
        return apply_saved(settings, path, yes, args.max_changes, report).await;
    }
    let output = &settings.output;
    let engine = settings.engine()?;
    report.specs = engine.specs();
    let locks = match step {
        Step::Preview => Locks::default(),
        _ => engine.lock()?,
    };
    // The streamed apply writes before the whole plan is known, so a change budget needs the
    // plan first: with --max-changes the apply is planned whole.
    if matches!(step, Step::Whole { yes: true }) && args.max_changes.is_none() && engine.streams() {
        stop_if_interrupted()?;
        return apply_streaming(&engine, &locks, output, settings.cluster.as_deref(), report).await;
    }
    let (plan, states) = engine.plan().await?;
    report.plan = Some(plan.clone());
    match step {
        Step::Whole { .. } => output.data(&render::text(&plan, output)),
        Step::Preview => {
            output.data(&render::text(&plan, output));
            check_budget(&plan, args.max_changes)?;
            refuse(&plan)?;
            return Ok(if plan.change_count() == 0 {
                output.status("Nothing to change: every enforced rule is already compliant.");
                ExitStatus::Success
            } else {
                ExitStatus::Pending
            });
        }
        Step::Confirmed { digest } => {
            if plan.digest() != *digest {
                return Err(Error::new(format!(
                    "plan is stale: the cluster changed since its plan was shown (plan {digest} is now {}); nothing was changed",
                    plan.digest()
                ))
                .with_hint("run `stigfix apply` again and review the new plan"));
            }
        }
    }
    check_budget(&plan, args.max_changes)?;
    let cluster = settings.cluster.as_deref();
    apply_planned(
        &engine,
        &plan,
        &locks,
        Some(states),
        yes,
        output,
        cluster,
        report,
    )
    .await
}

/// `--max-changes N`: refuse a larger plan, changing nothing.
fn check_budget(plan: &Plan, max: Option<usize>) -> Result<()> {
    match max {
        Some(max) if plan.change_count() > max => Err(Error::new(format!(
            "the plan has {} changes, more than --max-changes {max} allows; nothing was changed",
            plan.change_count()
        ))
        .with_hint("review the plan, then apply it at a terminal or with a larger --max-changes")),
        _ => Ok(()),
    }
}

/// Every cluster of an inventory run.
async fn many(global: &GlobalArgs, fleet: &Fleet, args: ApplyArgs) -> Result<ExitStatus> {
    fleet::check_record_paths(&args.record)?;
    // Invalid playbooks fail before any cluster is read; the clusters share the rules.
    fleet.base.rule_set()?;
    let clusters = match &args.plan {
        Some(path) => vec![saved_plan_cluster(fleet, path)?.clone()],
        None => fleet.clusters.clone(),
    };
    let _signals = fleet::StopOnSignal::install()?;
    let args = Arc::new(args);
    let work = |step: Arc<dyn Fn(&Settings) -> Step + Send + Sync>| -> fleet::Work {
        let args = Arc::clone(&args);
        Arc::new(move |settings: Settings| {
            let args = Arc::clone(&args);
            let step = step(&settings);
            async move {
                let mut report = Report::default();
                let result = run(&settings, &args, &step, &mut report).await;
                (result, report)
            }
            .boxed()
        })
    };
    if args.yes || args.plan.is_some() {
        let yes = args.yes;
        let whole = work(Arc::new(move |_: &Settings| Step::Whole { yes }));
        let outcomes = fleet::run_all(fleet, global, &clusters, "apply", whole).await;
        return fleet::finish(fleet, &outcomes, &args.record, true);
    }
    let preview = work(Arc::new(|_: &Settings| Step::Preview));
    let mut outcomes = fleet::run_all(fleet, global, &clusters, "apply", preview).await;
    let pending: HashMap<String, String> = outcomes
        .iter()
        .filter(|outcome| outcome.status == ExitStatus::Pending)
        .filter_map(|outcome| {
            Some((
                outcome.cluster.clone()?,
                outcome.report.plan.as_ref()?.digest(),
            ))
        })
        .collect();
    if !pending.is_empty() {
        let output = &fleet.base.output;
        let changes: usize = outcomes
            .iter()
            .filter(|outcome| outcome.status == ExitStatus::Pending)
            .map(|outcome| outcome.report.planned())
            .sum();
        let mut names: Vec<&String> = pending.keys().collect();
        names.sort();
        let refusal = if !settings::interactive() {
            Some(Error::new("refusing to apply without confirmation: standard input is not a terminal; nothing was changed")
                .with_hint("review the plans, then run again with --yes"))
        } else if !output.confirm(&format!(
            "Apply {changes} change(s) to {} cluster(s) ({})?",
            pending.len(),
            names
                .iter()
                .map(|name| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )) {
            Some(Error::new("apply cancelled; nothing was changed"))
        } else {
            None
        };
        match refusal {
            Some(error) => {
                output.error(&error.message(), error.hint());
                for outcome in outcomes.iter_mut() {
                    if outcome.status == ExitStatus::Pending {
                        outcome.status = ExitStatus::Failure;
                        outcome.error = Some(error.message());
                    }
                }
            }
            None => {
                let picked: Vec<_> = clusters
                    .iter()
                    .filter(|cluster| pending.contains_key(&cluster.name))
                    .cloned()
                    .collect();
                let digests = Arc::new(pending);
                let confirmed = work(Arc::new(move |settings: &Settings| Step::Confirmed {
                    digest: settings
                        .cluster
                        .as_ref()
                        .and_then(|name| digests.get(name))
                        .cloned()
                        .unwrap_or_default(),
                }));
                let applied = fleet::run_all(fleet, global, &picked, "apply", confirmed).await;
                replace(&mut outcomes, applied);
            }
        }
    }
    fleet::finish(fleet, &outcomes, &args.record, true)
}

/// Put the outcomes of the clusters applied in place of their previews.
fn replace(outcomes: &mut [Outcome], applied: Vec<Outcome>) {
    for mut outcome in applied {
        if let Some(slot) = outcomes
            .iter_mut()
            .find(|preview| preview.cluster == outcome.cluster)
        {
            outcome.started = slot.started;
            outcome.duration += slot.duration;
            *slot = outcome;
        }
    }
}

/// The cluster a saved plan is applied to: the one it names (`"cluster"`), else the one
/// `--cluster` picks. A plan naming a cluster `--cluster` did not pick is refused.
fn saved_plan_cluster<'a>(
    fleet: &'a Fleet,
    path: &Path,
) -> Result<&'a crate::site::clusters::Cluster> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).with_path("read plan", path)?;
    let saved = json::read_plan(&text, &source)?;
    match saved.cluster {
        None => fleet.only(&format!("apply {source} (a plan that names no cluster)")),
        Some(name) => fleet
            .clusters
            .iter()
            .find(|cluster| cluster.name == name)
            .ok_or_else(|| {
                Error::usage(format!(
                    "{source} is a plan of cluster {name}, which is not among the clusters picked in {}; nothing was changed",
                    fleet.source
                ))
                .with_hint(format!("pass --cluster {name}"))
            }),
    }
}

/// `apply --yes` with a target that streams (a DTR's repositories): the changes of the first
/// pages are written while later pages are read, so the plan — complete, of everything read —
/// is shown once the writes are over.
async fn apply_streaming(
    engine: &Engine,
    locks: &Locks,
    output: &Output,
    cluster: Option<&str>,
    report: &mut Report,
) -> Result<ExitStatus> {
    let (plan, snapshot) = engine.apply_streaming(locks).await?;
    output.data(&render::text(&plan, output));
    report.plan = Some(plan.clone());
    match snapshot {
        Some(snapshot) => {
            report.applied = plan.change_count();
            report.fixed = true;
            report.snapshot = Some(snapshot.id().to_string());
            output.status(&format!(
                "Applied {} change(s). Undo with `stigfix rollback {}` (or `{}`).",
                plan.change_count(),
                snapshot.id(),
                undo_last(cluster)
            ))
        }
        None => output.status("Nothing to change: every enforced rule is already compliant."),
    }
    Ok(ExitStatus::Success)
}

/// A saved plan is applied only as the playbooks produce it: the same playbooks, variables,
/// waivers and filters (its rules digest), against the live state it was made from (each
/// target's fingerprint), giving exactly its changes. Anything else is refused, writing nothing.
async fn apply_saved(
    settings: &Settings,
    path: &Path,
    yes: bool,
    max_changes: Option<usize>,
    report: &mut Report,
) -> Result<ExitStatus> {
    let output = &settings.output;
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).with_path("read plan", path)?;
    let saved = json::read_plan(&text, &source)?;
    if let (Some(named), Some(cluster)) = (&saved.cluster, &settings.cluster)
        && named != cluster
    {
        return Err(Error::new(format!(
            "{source} is a plan of cluster {named}, not of {cluster}; nothing was changed"
        )));
    }
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
    report.specs = specs.clone();
    let engine = settings.engine_for(&specs)?;
    if engine.rules.digest() != saved.rules_digest {
        return Err(Error::new(format!(
            "{source}: the playbooks, site-file variables, waivers or rule filters differ from those the plan was made with; nothing was changed"
        ))
        .with_hint("run `stigfix plan --out FILE` again with the current playbooks and site file, review it, and apply that"));
    }
    let locks = engine.lock()?;
    let (plan, states) = engine.plan().await?;
    report.plan = Some(plan.clone());
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
    output.data(&render::text(&plan, output));
    check_budget(&plan, max_changes)?;
    let cluster = settings.cluster.as_deref();
    apply_planned(
        &engine,
        &plan,
        &locks,
        Some(states),
        yes,
        output,
        cluster,
        report,
    )
    .await
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
    let mut report = Report::default();
    apply_planned(engine, plan, locks, states, yes, output, None, &mut report).await
}

/// Refuse a plan with a target that must not be applied.
fn refuse(plan: &Plan) -> Result<()> {
    match plan
        .targets
        .iter()
        .find_map(|target| Some((target, target.refusal.as_ref()?)))
    {
        Some((target, why)) => Err(Error::new(format!(
            "{}: {why}; nothing was changed",
            target.spec.label()
        ))
        .with_hint("fix the target's configuration (for a host: --host-root), then run again")),
        None => Ok(()),
    }
}

/// Confirm (unless `yes`) and apply a plan that was shown; the report gets the snapshot and
/// the changes kept.
#[allow(clippy::too_many_arguments)]
async fn apply_planned(
    engine: &Engine,
    plan: &Plan,
    locks: &Locks,
    states: Option<States>,
    yes: bool,
    output: &Output,
    cluster: Option<&str>,
    report: &mut Report,
) -> Result<ExitStatus> {
    refuse(plan)?;
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
    stop_if_interrupted()?;
    // A prompt is a pause: the targets are read again (under the locks) and checked.
    let states = if yes { states } else { None };
    if let Some(snapshot) = engine.apply(plan, locks, states).await? {
        report.applied = changes;
        report.fixed = true;
        report.snapshot = Some(snapshot.id().to_string());
        output.status(&format!(
            "Applied {changes} change(s). Undo with `stigfix rollback {}` (or `{}`).",
            snapshot.id(),
            undo_last(cluster)
        ));
    }
    Ok(ExitStatus::Success)
}

/// An inventory run interrupted (Ctrl-C, SIGTERM) starts no further cluster's change.
fn stop_if_interrupted() -> Result<()> {
    if fleet::stopping() {
        return Err(Error::new(
            "interrupted by Ctrl-C or SIGTERM before this cluster's apply started; nothing was changed",
        ));
    }
    Ok(())
}

fn undo_last(cluster: Option<&str>) -> String {
    match cluster {
        Some(name) => format!("stigfix rollback --last --cluster {name}"),
        None => "--last".to_string(),
    }
}
