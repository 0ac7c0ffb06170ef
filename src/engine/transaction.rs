//! One transaction for `apply` and `rollback` (docs/design.md, "Apply, snapshots, rollback"):
//!
//! 1. the caller holds the targets' locks and has read their states under them (the freshness
//!    check is done before a transaction starts, in one place: `Engine::fresh_states`);
//! 2. SIGINT and SIGTERM are caught from the start;
//! 3. a snapshot — the write-ahead journal — holds each target's saved state and what the
//!    change writes, fsynced before the first write (a transaction that ends up writing
//!    nothing leaves none);
//! 4. targets are changed one at a time, each marked `applying` before its first write and
//!    `applied` once its values are verified. A streamed step ([`Work::Stream`], run by
//!    `stream.rs`) reads, plans and writes its target page by page: each batch of edits is
//!    appended to the journal (fsynced) before the target may write it, and once the stream is
//!    over the edits must be exactly those the whole state read gives;
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
    /// Read, plan and write the target page by page (a [`crate::targets::Streaming`] target in
    /// an unattended apply). Until the stream is over the step's `before` is the target's
    /// head; then it is the whole state read, and `assessed` its assessment (the rule results
    /// and edits the plan shows). Its `saved` and `written` grow with the journal.
    Stream { assessed: Option<super::Assessed> },
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

/// The transaction's snapshot, made right before its first write.
pub(super) struct Pending {
    header: Option<snapshot::Header>,
    entries: Vec<Entry>,
    pub(super) snapshot: Option<Snapshot>,
}

impl Pending {
    /// Mark the target of step `index` `applying` (durably), writing the snapshot first when
    /// this is the transaction's first write.
    pub(super) fn begin(&mut self, engine: &Engine, index: usize) -> Result<&mut Snapshot> {
        if self.snapshot.is_none() {
            let header = self.header.take().expect("a snapshot is made once");
            let made = Snapshot::create(&engine.snapshot_dir, header, &self.entries)?;
            engine.output.status(&format!(
                "Snapshot {} written to {}",
                made.id(),
                made.dir.display()
            ));
            self.snapshot = Some(made);
        }
        let snapshot = self.snapshot.as_mut().expect("made above");
        snapshot.set_state(index, TargetState::Applying, None)?;
        Ok(snapshot)
    }
}

impl Engine {
    /// Run a transaction that writes (every step has its edits or its restore); the snapshot
    /// it wrote, or an error that says what state each target is in (exit 1 when every target
    /// is back, 3 when one could not be restored).
    pub(super) async fn transact(
        &self,
        header: Header,
        mut steps: Vec<Step<'_>>,
    ) -> Result<Snapshot> {
        self.transaction(header, &mut steps)
            .await?
            .ok_or_else(|| Error::new("the transaction wrote nothing (a bug in stigfix)"))
    }

    /// Run a transaction. `None` when nothing was written (streamed steps that found nothing
    /// to change): no snapshot. A streamed step's `before` is the whole state read afterwards.
    pub(super) async fn transaction(
        &self,
        header: Header,
        steps: &mut [Step<'_>],
    ) -> Result<Option<Snapshot>> {
        let command = header.command;
        let entries: Vec<Entry> = steps
            .iter()
            .map(|step| Entry {
                spec: step.target.spec().clone(),
                product: step.before.product(),
                saved: step.saved.clone(),
                written: step.written.clone(),
                fingerprint_before: step.before.fingerprint().to_string(),
                streamed: matches!(step.work, Work::Stream { .. }),
            })
            .collect();
        let mut pending = Pending {
            header: Some(snapshot::Header {
                id: snapshot::new_id(),
                created_at: self.timestamp(),
                command: command.to_string(),
                plan_digest: header.plan_digest,
                rollback_of: header.rollback_of,
                insecure: self.insecure,
            }),
            entries,
            snapshot: None,
        };
        let signals = Signals::catch()?;
        let stop = signals.stop();
        for index in 0..steps.len() {
            let label = steps[index].target.spec().label();
            let outcome = if matches!(steps[index].work, Work::Stream { .. }) {
                self.run_stream(&mut pending, &mut steps[index], index, stop)
                    .await
            } else {
                match pending.begin(self, index) {
                    Ok(_) => self.run_step(&steps[index], stop).await.map(Some),
                    Err(error) => Err(error),
                }
            };
            // A manifest that cannot record the change is a failure too: restore rather than
            // leave a change no snapshot describes.
            let recorded = outcome.and_then(|after| match (after, pending.snapshot.as_mut()) {
                (Some(after), Some(snapshot)) => snapshot.set_state(
                    index,
                    TargetState::Applied,
                    Some(after.fingerprint().to_string()),
                ),
                _ => Ok(()),
            });
            if let Err(error) = recorded {
                let failure = error.context(format!("{command} failed on {label}"));
                let Some(mut snapshot) = pending.snapshot else {
                    // No write was sent: there is nothing to restore, and no snapshot.
                    let hint = failure.hint().map(str::to_string);
                    let error = Error::new(format!("{}\nNothing was changed.", failure.message()));
                    return Err(match hint {
                        Some(hint) => error.with_hint(hint),
                        None => error,
                    });
                };
                // Undoing a rollback puts back what the rollback changed.
                let verb = if command == "rollback" {
                    "put back"
                } else {
                    "restored"
                };
                return Err(self
                    .recover(&mut snapshot, steps, index + 1, failure, verb)
                    .await);
            }
        }
        Ok(pending.snapshot)
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
                self.finish_edits(target, edits, after.as_ref()).await?;
                Ok(after)
            }
            Work::Stream { .. } => Err(Error::new(format!(
                "{label} streams: its step is not run like this (a bug in stigfix)"
            ))),
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

    /// After the writes of `edits`: verify them, and do what follows (a restart).
    pub(super) async fn finish_edits(
        &self,
        target: &dyn Target,
        edits: &[Edit],
        after: &dyn LiveState,
    ) -> Result<()> {
        self.verify(target, edits, after)?;
        self.after_verified(target, edits, after).await
    }

    /// What follows verified writes: what they taught, a restart, the line that says so.
    pub(super) async fn after_verified(
        &self,
        target: &dyn Target,
        edits: &[Edit],
        after: &dyn LiveState,
    ) -> Result<()> {
        let label = target.spec().label();
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
        Ok(())
    }

    /// The plan must now be empty for the rules the edits were made for.
    pub(super) fn verify(
        &self,
        target: &dyn Target,
        edits: &[Edit],
        after: &dyn LiveState,
    ) -> Result<()> {
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
            if snapshot.manifest.targets[index].state == TargetState::Saved {
                // Never marked `applying`: no write to it was sent (a stream that failed
                // before its first batch).
                lines.push(format!("{label} was not touched"));
                continue;
            }
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
