//! The engine: read every target, assess every rule, plan; apply a plan and roll back a
//! snapshot through one transaction ([`transaction`]). It reports progress on stderr; it never
//! renders a plan or asks a question — the commands do.

mod rollback;
mod signals;
mod stream;
#[cfg(all(test, feature = "sim"))]
mod stream_tests;
#[cfg(test)]
mod tests;
mod transaction;

use std::path::PathBuf;

use futures_util::future::join_all;

pub use rollback::{PreparedRollback, RollbackTarget};

use crate::assess;
use crate::error::{Error, ExitStatus, Result};
use crate::lock::{self, Locks};
use crate::output::Output;
use crate::plan::{Plan, TargetPlan};
use crate::playbook::{Match, Mode, ResolvedRule, RuleSet};
use crate::snapshot::Snapshot;
use crate::targets::{LiveState, Streaming, Target, TargetSpec, Written, registry};
use transaction::{Header, Step, Work};

/// Everything a run needs, resolved from flags, environment and the site file.
pub struct Engine {
    pub targets: Vec<Box<dyn Target>>,
    pub rules: RuleSet,
    pub insecure: bool,
    pub snapshot_dir: PathBuf,
    pub output: Output,
    pub now: time::OffsetDateTime,
}

/// The states a run read, one per target, in the engine's target order.
pub type States = Vec<Box<dyn LiveState>>;

/// A target's assessment: its rule results and the edits that fix them.
type Assessed = (Vec<assess::RuleResult>, Vec<crate::targets::Edit>);

impl Engine {
    fn today(&self) -> time::Date {
        self.now.date()
    }

    fn timestamp(&self) -> String {
        self.now
            .format(&time::format_description::well_known::Rfc3339)
            .expect("timestamps format")
    }

    pub fn specs(&self) -> Vec<TargetSpec> {
        self.targets
            .iter()
            .map(|target| target.spec().clone())
            .collect()
    }

    fn target(&self, spec: &TargetSpec) -> Result<&dyn Target> {
        self.targets
            .iter()
            .map(|target| target.as_ref())
            .find(|target| target.spec() == spec)
            .ok_or_else(|| Error::new(format!("{} is not configured for this run", spec.label())))
    }

    /// Take the lock of every target of the run (before reading what a change is based on).
    pub fn lock(&self) -> Result<Locks> {
        lock::acquire_all(self.targets.iter().map(|target| target.spec()))
    }

    /// Read every target at once.
    pub async fn read_all(&self) -> Result<States> {
        let labels: Vec<String> = self.targets.iter().map(|t| t.spec().label()).collect();
        let spinner = self
            .output
            .spinner(&format!("reading {}", labels.join(", ")));
        let results = join_all(self.targets.iter().map(|target| target.read())).await;
        spinner.finish_and_clear();
        results.into_iter().collect()
    }

    /// Assess every rule against the states read and build the plan (pure past the reads).
    pub fn build_plan(&self, states: &[Box<dyn LiveState>]) -> Result<Plan> {
        self.plan_of(states, Vec::new())
    }

    /// The plan of `states`, taking a target's assessment from `assessed` where it has one
    /// (made of the same state already).
    fn plan_of(
        &self,
        states: &[Box<dyn LiveState>],
        mut assessed: Vec<Option<Assessed>>,
    ) -> Result<Plan> {
        assessed.resize_with(states.len(), || None);
        let mut results = Vec::new();
        let mut targets = Vec::new();
        for ((target, live), assessed) in self.targets.iter().zip(states).zip(assessed) {
            let spec = target.spec();
            let (rule_results, edits) = assessed.unwrap_or_else(|| {
                assess::assess(
                    self.rules.for_target(spec.kind),
                    live.as_ref(),
                    self.today(),
                    Some(spec),
                )
            });
            results.extend(rule_results);
            let diff = if edits.is_empty() {
                String::new()
            } else {
                live.diff(&edits)?
            };
            targets.push(TargetPlan {
                spec: spec.clone(),
                product: live.product(),
                fingerprint: live.fingerprint().to_string(),
                actions: live.actions(&edits),
                notes: live.notes(),
                refusal: live.refusal(),
                diff,
                edits,
            });
        }
        for registration in registry::ALL {
            let kind = registration.kind;
            if !self.targets.iter().any(|target| target.spec().kind == kind) {
                results.extend(assess::not_assessed(self.rules.for_target(kind), kind));
            }
        }
        Ok(Plan {
            created_at: self.timestamp(),
            insecure: self.insecure,
            playbooks: self.rules.playbooks.clone(),
            benchmarks: self.rules.benchmarks.clone(),
            rules_digest: self.rules.digest(),
            targets,
            rules: results,
        })
    }

    /// Read and plan.
    pub async fn plan(&self) -> Result<(Plan, States)> {
        let states = self.read_all().await?;
        let plan = self.build_plan(&states)?;
        Ok((plan, states))
    }

    /// The freshness check, the one place it is decided: every target with changes must still
    /// be as the plan saw it. `states` were read under the locks with no pause since; without
    /// them the targets are read again now.
    async fn fresh_states<'a>(
        &self,
        plan: &'a Plan,
        states: Option<States>,
    ) -> Result<Vec<(&'a TargetPlan, Box<dyn LiveState>)>> {
        let mut states: Vec<Option<Box<dyn LiveState>>> = match states {
            Some(states) => states.into_iter().map(Some).collect(),
            None => self.targets.iter().map(|_| None).collect(),
        };
        let mut fresh = Vec::new();
        for target_plan in plan.targets.iter().filter(|plan| !plan.edits.is_empty()) {
            let index = self
                .targets
                .iter()
                .position(|target| target.spec() == &target_plan.spec)
                .ok_or_else(|| {
                    Error::new(format!(
                        "{} is not configured for this run",
                        target_plan.spec.label()
                    ))
                })?;
            let live = match states[index].take() {
                Some(live) => live,
                None => self.targets[index].read().await?,
            };
            if live.fingerprint() != target_plan.fingerprint {
                return Err(Error::new(format!(
                    "plan is stale: {} changed since the plan was made (fingerprint {} is now {}); nothing was changed",
                    target_plan.spec.label(),
                    target_plan.fingerprint,
                    live.fingerprint()
                ))
                .with_hint("run `stigfix plan` again and review the new plan"));
            }
            fresh.push((target_plan, live));
        }
        Ok(fresh)
    }

    /// Apply a plan under `locks` (held since before `states` were read, if given). Returns
    /// the snapshot, or `None` when there was nothing to change.
    pub async fn apply(
        &self,
        plan: &Plan,
        _locks: &Locks,
        states: Option<States>,
    ) -> Result<Option<Snapshot>> {
        if plan.change_count() == 0 {
            return Ok(None);
        }
        let fresh = self.fresh_states(plan, states).await?;
        let mut steps = Vec::new();
        for (target_plan, live) in fresh {
            let edits = target_plan.edits.clone();
            steps.push(Step {
                target: self.target(&target_plan.spec)?,
                saved: live.saved(&edits)?,
                written: Written::of(&edits),
                before: live,
                work: Work::Edits(edits),
            });
        }
        let header = Header {
            command: "apply",
            plan_digest: plan.digest(),
            rollback_of: None,
        };
        self.transact(header, steps).await.map(Some)
    }
}

impl Engine {
    /// Whether an unattended apply streams: some target of the run reads, plans and writes page
    /// by page (see [`Engine::apply_streaming`]).
    pub fn streams(&self) -> bool {
        self.targets
            .iter()
            .any(|target| self.streaming(target.as_ref()).is_some())
    }

    /// A target's streaming side, when it has one and every rule of its kind is decided item
    /// by item (so the edits of the parts read are those of the whole state).
    fn streaming<'t>(&self, target: &'t dyn Target) -> Option<&'t dyn Streaming> {
        let kind = target.spec().kind;
        target
            .streaming()
            .filter(|_| self.rules.for_target(kind).all(item_by_item))
    }

    /// The unattended apply (`apply --yes`, no saved plan): like [`Engine::plan`] then
    /// [`Engine::apply`], but a streaming target starts writing the changes of the first
    /// pages it reads while later pages are still read, each batch journaled in the snapshot
    /// (fsynced) before it is written. Returns the plan of everything read — complete, made
    /// once the writes are over — and the snapshot (`None` when nothing was changed).
    pub async fn apply_streaming(&self, _locks: &Locks) -> Result<(Plan, Option<Snapshot>)> {
        let labels: Vec<String> = self.targets.iter().map(|t| t.spec().label()).collect();
        let spinner = self
            .output
            .spinner(&format!("reading {}", labels.join(", ")));
        let reads = join_all(self.targets.iter().map(|target| async move {
            match self.streaming(target.as_ref()) {
                Some(streaming) => streaming.read_head().await,
                None => target.read().await,
            }
        }))
        .await;
        spinner.finish_and_clear();
        let mut steps = Vec::new();
        // Per target: the state read when it has nothing to write, else `None`: its step (the
        // steps are in the targets' order).
        let mut slots: Vec<Option<Box<dyn LiveState>>> = Vec::new();
        for (target, live) in self.targets.iter().zip(reads) {
            let (target, live) = (target.as_ref(), live?);
            let work = if self.streaming(target).is_some() {
                Work::Stream { assessed: None }
            } else {
                let spec = target.spec();
                let (_, edits) = assess::assess(
                    self.rules.for_target(spec.kind),
                    live.as_ref(),
                    self.today(),
                    Some(spec),
                );
                if edits.is_empty() {
                    slots.push(Some(live));
                    continue;
                }
                Work::Edits(edits)
            };
            let edits = match &work {
                Work::Edits(edits) => edits.as_slice(),
                _ => &[],
            };
            slots.push(None);
            steps.push(Step {
                target,
                saved: live.saved(edits)?,
                written: Written::of(edits),
                before: live,
                work,
            });
        }
        let header = Header {
            command: "apply",
            // The plan is complete only once every page is read: recorded then.
            plan_digest: "pending: streamed".into(),
            rollback_of: None,
        };
        let mut snapshot = self.transaction(header, &mut steps).await?;
        let mut done = steps.into_iter().map(|step| match step.work {
            Work::Stream { assessed } => (step.before, assessed),
            _ => (step.before, None),
        });
        let mut states = States::new();
        let mut assessed = Vec::new();
        for slot in slots {
            let (live, assessment) = match slot {
                Some(live) => (live, None),
                None => done.next().expect("a step for each target without a state"),
            };
            states.push(live);
            assessed.push(assessment);
        }
        let plan = self.plan_of(&states, assessed)?;
        if let Some(snapshot) = &mut snapshot {
            snapshot.manifest.plan_digest = plan.digest();
            if let Err(error) = snapshot.save_manifest() {
                self.output.warn(&format!(
                    "the change is applied and verified, but snapshot {} could not record the plan's digest: {}",
                    snapshot.id(),
                    error.message()
                ));
            }
        }
        Ok((plan, snapshot))
    }
}

/// Whether a rule's edits for part of a target's items are its edits for those items in the
/// whole state. Only enforced rules make edits; one that needs all its settings to hold fixes
/// each failing item on its own. One that passes when any setting holds could pass on one part
/// and fail on the whole — the playbook loader allows those only as checks, and the streamed
/// step checks its edits against the whole state's anyway.
fn item_by_item(rule: &ResolvedRule) -> bool {
    rule.rule.mode != Mode::Enforce || rule.rule.matching == Match::All
}

/// The exit status of a finished plan under `--detailed-exitcode`.
pub fn plan_status(plan: &Plan, detailed: bool) -> ExitStatus {
    if detailed && plan.has_findings() {
        ExitStatus::Pending
    } else {
        ExitStatus::Success
    }
}
