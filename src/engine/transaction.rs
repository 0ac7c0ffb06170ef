//! One transaction for `apply` and `rollback` (docs/design.md, "Apply, snapshots, rollback"):
//!
//! 1. the caller holds the targets' locks and has read their states under them (the freshness
//!    check is done before a transaction starts, in one place: `Engine::fresh_states`);
//! 2. a snapshot — the write-ahead journal — holds each target's saved state and what the
//!    change writes, fsynced before the first write;
//! 3. SIGINT and SIGTERM are caught from there on;
//! 4. targets are changed one at a time, each marked `applying` before its first write and
//!    `applied` once its values are verified;
//! 5. on any failure every target that may have changed — acknowledged or in flight — is
//!    restored: only the settings that still hold the value this run wrote are put back (a
//!    change another writer made since is reported, never overwritten), then verified.

use crate::assess;
use crate::error::{Error, Result};
use crate::snapshot::{self, Entry, Snapshot, TargetState};
use crate::targets::{Edit, LiveState, Saved, Stop, Target, Written};
use crate::values::display_value;

use super::Engine;
use super::signals::Signals;

/// What one step of a transaction does to its target.
pub(super) enum Work {
    /// Write edits (an apply).
    Edits(Vec<Edit>),
    /// Put saved values back (a rollback).
    Restore { saved: Saved, scope: Vec<Written> },
}

/// One target's part of a transaction.
pub(super) struct Step<'a> {
    pub target: &'a dyn Target,
    /// The state read under the lock, right before.
    pub before: Box<dyn LiveState>,
    pub work: Work,
    /// What puts the target back to `before` (saved in the snapshot).
    pub saved: Saved,
    /// What the work writes, path by path (saved in the snapshot).
    pub written: Vec<Written>,
}

/// What the snapshot of a transaction says it is.
pub(super) struct Header {
    pub command: &'static str,
    pub plan_digest: String,
    pub rollback_of: Option<String>,
}

/// How restoring one target went.
enum Restored {
    /// Put back and verified.
    Done,
    /// Nothing of this run's writes was live: nothing to put back.
    Untouched,
    Failed(Error),
}

impl Engine {
    /// Run a transaction; the snapshot it wrote, or an error that says what state each target
    /// is in (exit 1 when every target is back, 3 when one could not be restored).
    pub(super) async fn transact(&self, header: Header, steps: Vec<Step<'_>>) -> Result<Snapshot> {
        let entries: Vec<Entry> = steps
            .iter()
            .map(|step| Entry {
                spec: step.target.spec().clone(),
                product: step.before.product(),
                saved: step.saved.clone(),
                written: step.written.clone(),
                fingerprint_before: step.before.fingerprint().to_string(),
            })
            .collect();
        let mut snapshot = Snapshot::create(
            &self.snapshot_dir,
            snapshot::Header {
                id: snapshot::new_id(),
                created_at: self.timestamp(),
                command: header.command.to_string(),
                plan_digest: header.plan_digest,
                rollback_of: header.rollback_of,
                insecure: self.insecure,
            },
            &entries,
        )?;
        self.output.status(&format!(
            "Snapshot {} written to {}",
            snapshot.id(),
            snapshot.dir.display()
        ));
        let signals = Signals::catch()?;
        let stop = signals.stop();
        for index in 0..steps.len() {
            let step = &steps[index];
            let label = step.target.spec().label();
            let outcome = match snapshot.set_state(index, TargetState::Applying, None) {
                Ok(()) => self.run_step(step, stop).await,
                Err(error) => Err(error),
            };
            // A manifest that cannot record the change is a failure too: restore rather than
            // leave a change no snapshot describes.
            let recorded = outcome.and_then(|after| {
                snapshot.set_state(
                    index,
                    TargetState::Applied,
                    Some(after.fingerprint().to_string()),
                )
            });
            if let Err(error) = recorded {
                let command = header.command;
                let failure = error.context(format!("{command} failed on {label}"));
                // Undoing a rollback puts back what the rollback changed.
                let verb = if command == "rollback" {
                    "put back"
                } else {
                    "restored"
                };
                return Err(self
                    .recover(&mut snapshot, &steps, index + 1, failure, verb)
                    .await);
            }
        }
        Ok(snapshot)
    }

    /// Write one step, verify it, and do what follows it (a restart).
    async fn run_step(&self, step: &Step<'_>, stop: &Stop) -> Result<Box<dyn LiveState>> {
        let target = step.target;
        let label = target.spec().label();
        match &step.work {
            Work::Edits(edits) => {
                let spinner = self
                    .output
                    .spinner(&format!("applying {} change(s) to {label}", edits.len()));
                let written = target.apply(step.before.as_ref(), edits, stop).await;
                spinner.finish_and_clear();
                let after = written?;
                stop.check()?;
                self.verify(target, edits, after.as_ref())?;
                for line in after.learned() {
                    self.output.warn(&format!("{label}: {line}"));
                }
                for line in target.post_apply(edits).await? {
                    self.output.status(&format!("{label}: {line}"));
                }
                self.output.status(&format!(
                    "{} {label}: {} change(s) applied and verified",
                    self.output.green("✓"),
                    edits.len()
                ));
                Ok(after)
            }
            Work::Restore { saved, scope } => {
                let after = target.restore(step.before.as_ref(), saved, scope).await?;
                stop.check()?;
                self.output.status(&format!(
                    "{} {label} restored and verified",
                    self.output.green("✓"),
                ));
                for line in target.restore_actions(saved) {
                    self.output.status(&format!("{label}: {line}"));
                }
                Ok(after)
            }
        }
    }

    /// The plan must now be empty for the rules the edits were made for.
    fn verify(&self, target: &dyn Target, edits: &[Edit], after: &dyn LiveState) -> Result<()> {
        let spec = target.spec();
        let rules = self.rules.for_target(spec.kind).filter(|rule| {
            edits
                .iter()
                .any(|edit| edit.rules.iter().any(|id| id == rule.stig_id()))
        });
        let (_, remaining) = assess::assess(rules, after, self.today(), Some(spec));
        if remaining.is_empty() {
            Ok(())
        } else {
            Err(Error::new(format!(
                "{} still differs after the write at {}",
                spec.label(),
                remaining
                    .iter()
                    .map(|edit| edit.path.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// Put back every target of the first `count` steps (newest first); each outcome is
    /// recorded in the snapshot. The error says what state each target is in.
    async fn recover(
        &self,
        snapshot: &mut Snapshot,
        steps: &[Step<'_>],
        count: usize,
        failure: Error,
        verb: &str,
    ) -> Error {
        let mut lines = Vec::new();
        let mut all_restored = true;
        let mut kept_others = false;
        for index in (0..count).rev() {
            let step = &steps[index];
            let label = step.target.spec().label();
            self.output.status(&format!(
                "Rolling back {label} from snapshot {}",
                snapshot.id()
            ));
            let (outcome, conflicts) = self.put_back(step).await;
            kept_others |= !conflicts.is_empty();
            lines.extend(conflicts.iter().map(|line| format!("{label}: {line}")));
            let state = match outcome {
                Restored::Failed(_) => TargetState::RestoreFailed,
                _ => TargetState::RolledBack,
            };
            let _ = snapshot.set_state(index, state, None);
            lines.push(match outcome {
                Restored::Done => format!(
                    "{label} was {verb} from snapshot {} and verified",
                    snapshot.id()
                ),
                Restored::Untouched => format!("{label} is unchanged (verified)"),
                Restored::Failed(error) => {
                    all_restored = false;
                    format!(
                        "{label} could NOT be {verb} ({}); its state is unknown",
                        error.message()
                    )
                }
            });
        }
        for step in steps.iter().skip(count) {
            lines.push(format!("{} was not touched", step.target.spec().label()));
        }
        let message = format!("{}\n{}", failure.message(), lines.join("\n"));
        if all_restored {
            let closing = if kept_others {
                "Everything this run wrote is back; the settings above that another writer changed meanwhile were left as they are."
            } else {
                "Nothing is changed."
            };
            Error::new(format!("{message}\n{closing}")).with_hint(
                failure
                    .hint()
                    .map(str::to_string)
                    .unwrap_or_else(|| "fix the cause and run the command again".into()),
            )
        } else {
            Error::needs_operator(message).with_hint(format!(
                "an operator must look: once the target answers, run `stigfix rollback {} --force --yes` to restore what it saved (in {})",
                snapshot.id(),
                snapshot.dir.display()
            ))
        }
    }

    /// Restore one step's target: read it, put back what still holds this run's value, and
    /// report what another writer changed since.
    async fn put_back(&self, step: &Step<'_>) -> (Restored, Vec<String>) {
        let now = match step.target.read().await {
            Ok(now) => now,
            Err(error) => return (Restored::Failed(error), Vec::new()),
        };
        let sorted = classify(now.as_ref(), &step.written);
        let conflicts = sorted.describe_conflicts();
        if sorted.ours.is_empty() {
            return (Restored::Untouched, conflicts);
        }
        let restored = step
            .target
            .restore(now.as_ref(), &step.saved, &sorted.ours)
            .await;
        match restored {
            Ok(_) => {
                for line in step.target.restore_actions(&step.saved) {
                    self.output
                        .status(&format!("{}: {line}", step.target.spec().label()));
                }
                (Restored::Done, conflicts)
            }
            Err(error) => (Restored::Failed(error), conflicts),
        }
    }
}

/// What a write's paths hold now.
#[derive(Debug, Default)]
pub(super) struct Sorted {
    /// Still the value the write wrote: to put back.
    pub ours: Vec<Written>,
    /// Back at the value before the write already.
    pub back: Vec<Written>,
    /// Something else: another writer changed it since. With the value now.
    pub conflicts: Vec<(Written, Option<toml::Value>)>,
}

impl Sorted {
    pub fn describe_conflicts(&self) -> Vec<String> {
        self.conflicts
            .iter()
            .map(|(written, now)| {
                format!(
                    "`{}` was changed by another writer since (it is {}, this run wrote {}); left as it is",
                    written.path,
                    shown(&written.path, now.as_ref()),
                    shown(&written.path, written.after.as_ref())
                )
            })
            .collect()
    }
}

fn shown(path: &crate::keypath::KeyPath, value: Option<&toml::Value>) -> String {
    match crate::values::Shown::at(path, value) {
        crate::values::Shown::Value(_) => value.map(display_value).unwrap_or_default(),
        other => other.display(),
    }
}

/// Sort what a write changed by what each path holds now.
pub(super) fn classify(now: &dyn LiveState, written: &[Written]) -> Sorted {
    let mut sorted = Sorted::default();
    for item in written {
        let value = now.lookup(&item.path);
        if now.same(&item.path, value.as_ref(), item.after.as_ref()) {
            sorted.ours.push(item.clone());
        } else if now.same(&item.path, value.as_ref(), item.before.as_ref()) {
            sorted.back.push(item.clone());
        } else {
            sorted.conflicts.push((item.clone(), value));
        }
    }
    sorted
}
