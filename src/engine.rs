//! Plan, apply and rollback over every configured target (design.md, "Apply, snapshots,
//! rollback"):
//!
//! 1. read every target (concurrently), or check a saved plan's fingerprints;
//! 2. write a snapshot of the exact original state before the first change;
//! 3. change targets one at a time, verifying the values after each write;
//! 4. on any failure (HTTP error, verification failure, Ctrl-C) restore every target already
//!    touched from the snapshot and verify the restore — exit 1; if a restore fails, exit 3;
//! 5. re-assess: the plan must be empty for the rules applied. No change → no write at all.

use std::path::PathBuf;

use futures_util::future::join_all;

use crate::assess;
use crate::error::{Error, ExitStatus, Result};
use crate::lock::{self, Lock};
use crate::output::Output;
use crate::plan::{Change, Plan, PlaybookRef, TargetPlan};
use crate::playbook::{RuleSet, TargetKind};
use crate::snapshot::{self, Manifest, ManifestTarget, Snapshot, TargetState};
use crate::targets::{Edit, Live, Saved, Target};

/// Everything a run needs, resolved from flags, environment and the site file.
pub struct Engine {
    pub targets: Vec<Target>,
    pub rules: RuleSet,
    pub insecure: bool,
    pub snapshot_dir: PathBuf,
    pub output: Output,
    pub now: time::OffsetDateTime,
}

/// The result of an apply that did not fail.
#[derive(Debug)]
pub struct Applied {
    pub snapshot: Option<Snapshot>,
    pub changes: usize,
}

impl Engine {
    fn today(&self) -> time::Date {
        self.now.date()
    }

    fn timestamp(&self) -> String {
        self.now
            .format(&time::format_description::well_known::Rfc3339)
            .expect("timestamps format")
    }

    fn lock_dir(&self) -> PathBuf {
        self.snapshot_dir.join(".locks")
    }

    /// Read every target at once.
    pub async fn read_all(&self) -> Result<Vec<Live>> {
        let spinner = self.output.spinner(&format!(
            "reading {}",
            self.targets
                .iter()
                .map(Target::label)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let results = join_all(self.targets.iter().map(Target::read)).await;
        spinner.finish_and_clear();
        results.into_iter().collect()
    }

    /// Assess every rule against the live state and build the plan (pure past the reads).
    pub fn build_plan(&self, lives: &[Live]) -> Result<Plan> {
        let mut results = Vec::new();
        let mut targets = Vec::new();
        for (target, live) in self.targets.iter().zip(lives) {
            let (rule_results, edits) =
                assess::assess(self.rules.for_target(target.kind()), live, self.today());
            results.extend(rule_results);
            let diff = if edits.is_empty() {
                String::new()
            } else {
                live.diff(&edits)?
            };
            targets.push(TargetPlan {
                kind: target.kind(),
                endpoint: target.endpoint().to_string(),
                fingerprint: live.fingerprint().to_string(),
                changes: edits.iter().map(Change::from_edit).collect(),
                diff,
                actions: live.actions(&edits),
                notes: live.notes(),
            });
        }
        for kind in [TargetKind::Ucp, TargetKind::Dtr, TargetKind::Host] {
            if self.targets.iter().any(|target| target.kind() == kind) {
                continue;
            }
            let reason = match kind {
                TargetKind::Ucp => "target ucp is not configured (--ucp-url)",
                TargetKind::Dtr => "target dtr is not configured (--dtr-url)",
                TargetKind::Host => "target host is not configured (--host-root)",
            };
            results.extend(assess::not_assessed(self.rules.for_target(kind), reason));
        }
        let playbooks = self
            .rules
            .playbooks
            .iter()
            .map(|(name, source)| PlaybookRef {
                name: name.clone(),
                source: source.clone(),
            })
            .collect();
        Ok(Plan::new(
            self.timestamp(),
            self.insecure,
            playbooks,
            targets,
            results,
        ))
    }

    /// Read and plan.
    pub async fn plan(&self) -> Result<(Plan, Vec<Live>)> {
        let lives = self.read_all().await?;
        let plan = self.build_plan(&lives)?;
        Ok((plan, lives))
    }

    fn target_for(&self, kind: TargetKind, endpoint: &str) -> Result<&Target> {
        self.targets
            .iter()
            .find(|target| {
                target.kind() == kind && target.endpoint() == endpoint.trim_end_matches('/')
            })
            .ok_or_else(|| {
                Error::new(format!(
                    "{} {endpoint} is not configured for this run",
                    kind.as_str()
                ))
            })
    }

    fn lock_all(&self, labels: impl IntoIterator<Item = String>) -> Result<Vec<Lock>> {
        let mut locks = Vec::new();
        for label in labels {
            locks.push(lock::acquire(&self.lock_dir(), &label)?);
        }
        Ok(locks)
    }

    /// Apply a plan. `fresh` are states read in this run right before (no pause for a prompt in
    /// between); otherwise every target is read again and checked against the plan's fingerprint.
    pub async fn apply(&self, plan: &Plan, fresh: Option<Vec<Live>>) -> Result<Applied> {
        let work: Vec<(&Target, &TargetPlan)> = plan
            .targets
            .iter()
            .filter(|target_plan| !target_plan.changes.is_empty())
            .map(|target_plan| {
                Ok((
                    self.target_for(target_plan.kind, &target_plan.endpoint)?,
                    target_plan,
                ))
            })
            .collect::<Result<_>>()?;
        if work.is_empty() {
            return Ok(Applied {
                snapshot: None,
                changes: 0,
            });
        }
        let _locks = self.lock_all(work.iter().map(|(target, _)| target.label()))?;

        // 1. Current state, and the drift guard.
        let lives: Vec<Live> = match fresh {
            Some(lives) => work
                .iter()
                .map(|(target, _)| {
                    let index = self
                        .targets
                        .iter()
                        .position(|t| std::ptr::eq(t, *target))
                        .expect("own target");
                    lives[index].clone()
                })
                .collect(),
            None => join_all(work.iter().map(|(target, _)| target.read()))
                .await
                .into_iter()
                .collect::<Result<_>>()?,
        };
        for ((target, target_plan), live) in work.iter().zip(&lives) {
            if live.fingerprint() != target_plan.fingerprint {
                return Err(Error::new(format!(
                    "plan is stale: {} changed since the plan was made (fingerprint {} is now {}); nothing was changed",
                    target.label(),
                    target_plan.fingerprint,
                    live.fingerprint()
                ))
                .with_hint("run `stigfix plan` again and review the new plan"));
            }
        }
        let edits: Vec<Vec<Edit>> = work
            .iter()
            .map(|(_, target_plan)| {
                target_plan
                    .changes
                    .iter()
                    .map(Change::to_edit)
                    .collect::<Result<_>>()
            })
            .collect::<Result<_>>()?;

        // 2. Snapshot before the first write.
        let saved: Vec<Saved> = lives
            .iter()
            .zip(&edits)
            .map(|(live, edits)| live.saved(edits))
            .collect::<Result<_>>()?;
        let manifest = Manifest {
            format_version: 1,
            id: snapshot::new_id(self.now),
            created_at: self.timestamp(),
            stigfix_version: env!("CARGO_PKG_VERSION").to_string(),
            command: "apply".into(),
            plan_hash: plan.hash(),
            insecure: self.insecure,
            targets: work
                .iter()
                .zip(&lives)
                .zip(&saved)
                .map(|(((target, target_plan), live), saved)| ManifestTarget {
                    kind: target.kind(),
                    endpoint: target.endpoint().to_string(),
                    file: saved.file.clone(),
                    fingerprint_before: live.fingerprint().to_string(),
                    fingerprint_after: None,
                    state: TargetState::Saved,
                    changes: target_plan
                        .changes
                        .iter()
                        .map(|change| change.path.to_string())
                        .collect(),
                })
                .collect(),
        };
        let mut snapshot = Snapshot::create(&self.snapshot_dir, manifest, &saved)?;
        self.output.status(&format!(
            "Snapshot {} written to {}",
            snapshot.manifest.id,
            snapshot.dir.display()
        ));

        // From here on Ctrl-C (SIGINT) never kills the process half-way: it is caught, and
        // every target already changed is restored.
        let interrupt = Interrupt::catch()?;

        // 3. One target at a time, verified.
        for (index, ((target, _), edits)) in work.iter().zip(&edits).enumerate() {
            let touched = index + 1;
            let spinner = self.output.spinner(&format!(
                "applying {} change(s) to {}",
                edits.len(),
                target.label()
            ));
            let outcome = interrupt.run(target.apply(&lives[index], edits)).await;
            spinner.finish_and_clear();
            let verified = outcome.and_then(|after| {
                // 5. The plan must now be empty for the rules applied.
                let (_, remaining) = assess::assess(
                    self.rules.for_target(target.kind()).filter(|rule| {
                        edits
                            .iter()
                            .any(|edit| edit.rules.iter().any(|id| id == rule.stig_id()))
                    }),
                    &after,
                    self.today(),
                );
                if remaining.is_empty() {
                    Ok(after)
                } else {
                    Err(Error::new(format!(
                        "{} still differs after the write at {}",
                        target.label(),
                        remaining
                            .iter()
                            .map(|edit| edit.path.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            });
            // Work that follows the writes (a daemon restart) is part of the change: when it
            // fails, the target is restored like after a failed write.
            let verified = match verified {
                Ok(after) => match target.post_apply(edits).await {
                    Ok(lines) => {
                        for line in lines {
                            self.output.status(&format!("{}: {line}", target.label()));
                        }
                        Ok(after)
                    }
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            // A manifest that cannot record the change is a failure too: restore rather than
            // leave a change no snapshot describes.
            let recorded = verified.and_then(|after| {
                snapshot.set_state(
                    target.kind(),
                    target.endpoint(),
                    TargetState::Applied,
                    Some(after.fingerprint().to_string()),
                )
            });
            match recorded {
                Ok(()) => {
                    self.output.status(&format!(
                        "{} {}: {} change(s) applied and verified",
                        self.output.green("✓"),
                        target.label(),
                        edits.len()
                    ));
                }
                Err(error) => {
                    let failure = error.context(format!("apply failed on {}", target.label()));
                    return Err(self
                        .recover(&mut snapshot, &work, &lives, &saved, touched, failure)
                        .await);
                }
            }
        }
        let changes = edits.iter().map(Vec::len).sum();
        Ok(Applied {
            snapshot: Some(snapshot),
            changes,
        })
    }

    /// Put every touched target back from the snapshot; the returned error says what state each
    /// target is in, with exit 1 when all are restored and verified, 3 otherwise.
    async fn recover(
        &self,
        snapshot: &mut Snapshot,
        work: &[(&Target, &TargetPlan)],
        lives: &[Live],
        saved: &[Saved],
        touched: usize,
        failure: Error,
    ) -> Error {
        let targets: Vec<&Target> = work.iter().map(|(target, _)| *target).collect();
        let (mut lines, all_restored) = self
            .put_back(snapshot, &targets, lives, saved, touched, "restored")
            .await;
        for (target, _) in work.iter().skip(touched) {
            lines.push(format!("{} was not touched", target.label()));
        }
        let message = format!("{}\n{}", failure.message(), lines.join("\n"));
        if all_restored {
            Error::new(format!("{message}\nNothing is changed.")).with_hint(
                failure
                    .hint()
                    .map(str::to_string)
                    .unwrap_or_else(|| "fix the cause and run `stigfix apply` again".into()),
            )
        } else {
            Error::needs_operator(message).with_hint(format!(
                "an operator must look: once the target answers, run `stigfix rollback {} --force --yes` to restore the original (saved in {})",
                snapshot.manifest.id,
                snapshot.dir.display()
            ))
        }
    }

    /// Undo the writes of a failed run: each of the first `count` targets that changed since it
    /// was `read` is put back to `saved` (from `snapshot`) and verified; a target whose write
    /// never landed is left alone. Each outcome is recorded in the snapshot's manifest. Returns
    /// one line per target, and whether every one is back.
    async fn put_back(
        &self,
        snapshot: &mut Snapshot,
        targets: &[&Target],
        read: &[Live],
        saved: &[Saved],
        count: usize,
        verb: &str,
    ) -> (Vec<String>, bool) {
        let mut lines = Vec::new();
        let mut all_restored = true;
        for index in (0..count).rev() {
            let target = targets[index];
            self.output.status(&format!(
                "Rolling back {} from snapshot {}",
                target.label(),
                snapshot.manifest.id
            ));
            let now = target.read().await.ok();
            let unchanged = now
                .as_ref()
                .is_some_and(|now| now.fingerprint() == read[index].fingerprint());
            let outcome = if unchanged {
                Ok(false)
            } else {
                target
                    .restore(now.as_ref(), &saved[index])
                    .await
                    .map(|_| true)
            };
            if matches!(outcome, Ok(true)) {
                for line in target.restore_actions(&saved[index]) {
                    self.output.status(&format!("{}: {line}", target.label()));
                }
            }
            let state = if outcome.is_ok() {
                TargetState::RolledBack
            } else {
                TargetState::RestoreFailed
            };
            let _ = snapshot.set_state(target.kind(), target.endpoint(), state, None);
            lines.push(match outcome {
                Ok(true) => format!(
                    "{} was {verb} from snapshot {} and verified",
                    target.label(),
                    snapshot.manifest.id
                ),
                Ok(false) => format!("{} is unchanged (verified)", target.label()),
                Err(error) => {
                    all_restored = false;
                    format!(
                        "{} could NOT be {verb} ({}); its state is unknown",
                        target.label(),
                        error.message()
                    )
                }
            });
        }
        (lines, all_restored)
    }

    /// Roll targets back to a snapshot's saved state (through the same snapshot-first path).
    pub async fn rollback(
        &self,
        source: &mut Snapshot,
        force: bool,
        confirm: &dyn Fn(&str) -> bool,
    ) -> Result<Option<Snapshot>> {
        let entries: Vec<ManifestTarget> = source
            .manifest
            .targets
            .iter()
            .filter(|target| {
                matches!(
                    target.state,
                    TargetState::Applied | TargetState::RestoreFailed
                )
            })
            .cloned()
            .collect();
        if entries.is_empty() {
            return Err(Error::new(format!(
                "snapshot {} has nothing to roll back (its targets were already rolled back or never changed)",
                source.manifest.id
            )));
        }
        let targets: Vec<&Target> = entries
            .iter()
            .map(|entry| self.target_for(entry.kind, &entry.endpoint))
            .collect::<Result<_>>()?;
        let _locks = self.lock_all(targets.iter().map(|target| target.label()))?;
        let saved: Vec<Saved> = entries
            .iter()
            .map(|entry| source.saved(entry))
            .collect::<Result<_>>()?;
        let lives: Vec<Live> = join_all(targets.iter().map(|target| target.read()))
            .await
            .into_iter()
            .collect::<Result<_>>()?;

        let mut report = String::new();
        let mut changed_since = Vec::new();
        for ((entry, live), saved) in entries.iter().zip(&lives).zip(&saved) {
            let target = self.target_for(entry.kind, &entry.endpoint)?;
            if entry.fingerprint_after.as_deref() != Some(live.fingerprint()) {
                changed_since.push(target.label());
            }
            report.push_str(&format!("{}\n", self.output.bold(&target.label())));
            let edits = live.edits_to_saved(saved);
            if edits.is_empty() {
                report.push_str("  no changes: already at the snapshot's values\n");
            }
            let changes: Vec<Change> = edits.iter().map(Change::from_edit).collect();
            for line in crate::render::lines(&changes) {
                report.push_str(&format!("  {}\n", crate::render::line_text(&line)));
            }
            let diff = live.diff_to_saved(saved);
            for line in diff.lines() {
                report.push_str(&format!("  {line}\n"));
            }
        }
        if !changed_since.is_empty() && !force {
            return Err(Error::new(format!(
                "{} changed since snapshot {} was applied; nothing was changed",
                changed_since.join(", "),
                source.manifest.id
            ))
            .with_hint("review the difference with `stigfix plan`; `stigfix rollback --force` rolls back anyway and discards those later changes"));
        }
        self.output.data(&report);
        if !confirm(&format!(
            "Roll {} target(s) back to snapshot {}?",
            entries.len(),
            source.manifest.id
        )) {
            return Err(Error::new("rollback cancelled; nothing was changed"));
        }

        // The rollback itself is a change: snapshot the current state first.
        let current: Vec<Saved> = targets
            .iter()
            .zip(&lives)
            .zip(&saved)
            .map(|((target, live), saved)| target.capture(live, saved))
            .collect::<Result<_>>()?;
        let manifest = Manifest {
            format_version: 1,
            id: snapshot::new_id(self.now),
            created_at: self.timestamp(),
            stigfix_version: env!("CARGO_PKG_VERSION").to_string(),
            command: "rollback".into(),
            plan_hash: format!("rollback of {}", source.manifest.id),
            insecure: self.insecure,
            targets: entries
                .iter()
                .zip(&lives)
                .zip(&current)
                .zip(&saved)
                .map(|(((entry, live), current), saved)| ManifestTarget {
                    kind: entry.kind,
                    endpoint: entry.endpoint.clone(),
                    file: current.file.clone(),
                    fingerprint_before: live.fingerprint().to_string(),
                    fingerprint_after: None,
                    state: TargetState::Saved,
                    changes: live
                        .edits_to_saved(saved)
                        .iter()
                        .map(|edit| edit.path.to_string())
                        .collect(),
                })
                .collect(),
        };
        let mut undo = Snapshot::create(&self.snapshot_dir, manifest, &current)?;
        // Ctrl-C is caught here too: what this rollback already changed is put back.
        let interrupt = Interrupt::catch()?;
        for (index, (target, saved)) in targets.iter().zip(&saved).enumerate() {
            match interrupt
                .run(target.restore(Some(&lives[index]), saved))
                .await
            {
                Ok(after) => {
                    source
                        .set_state(target.kind(), target.endpoint(), TargetState::RolledBack, None)
                        .and_then(|()| {
                            undo.set_state(
                                target.kind(),
                                target.endpoint(),
                                TargetState::Applied,
                                Some(after.fingerprint().to_string()),
                            )
                        })
                        .map_err(|error| {
                            error.context(format!(
                                "{} was restored to snapshot {} and verified, but the snapshot manifests could not record it",
                                target.label(),
                                source.manifest.id
                            ))
                        })?;
                    self.output.status(&format!(
                        "{} {} restored to snapshot {} and verified",
                        self.output.green("✓"),
                        target.label(),
                        source.manifest.id
                    ));
                    for line in target.restore_actions(saved) {
                        self.output.status(&format!("{}: {line}", target.label()));
                    }
                }
                Err(error) => {
                    let failure = error.context(format!("rollback failed on {}", target.label()));
                    // Put back what this rollback already changed, and this target.
                    let (lines, all_restored) = self
                        .put_back(&mut undo, &targets, &lives, &current, index + 1, "put back")
                        .await;
                    let message = format!("{}\n{}", failure.message(), lines.join("\n"));
                    return Err(if all_restored {
                        Error::new(format!("{message}\nNothing is changed."))
                    } else {
                        Error::needs_operator(message).with_hint(format!(
                            "an operator must look; the state before the rollback is in snapshot {} and the original in snapshot {}",
                            undo.manifest.id, source.manifest.id
                        ))
                    });
                }
            }
        }
        Ok(Some(undo))
    }
}

/// Ctrl-C caught for the length of an apply: a flag for work that cannot be cut short, and a
/// notification for work that can.
struct Interrupt {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    notify: std::sync::Arc<tokio::sync::Notify>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Interrupt {
    /// Install the SIGINT handler now (not when first awaited), so no signal is lost.
    fn catch() -> Result<Interrupt> {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|error| Error::new(format!("cannot catch Ctrl-C: {error}")))?;
        let flag = Arc::new(AtomicBool::new(false));
        let notify = Arc::new(tokio::sync::Notify::new());
        let (seen, wake) = (Arc::clone(&flag), Arc::clone(&notify));
        let watcher = tokio::spawn(async move {
            while signal.recv().await.is_some() {
                seen.store(true, Ordering::SeqCst);
                wake.notify_waiters();
            }
        });
        Ok(Interrupt {
            flag,
            notify,
            watcher,
        })
    }

    fn happened(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves at the next Ctrl-C, or at once if one was already caught.
    async fn notified(&self) {
        let notified = self.notify.notified();
        if !self.happened() {
            notified.await;
        }
    }

    /// Run `work` unless Ctrl-C cuts it short. Work that runs without a pause (the host's file
    /// writes) finishes first, and the Ctrl-C then counts as its failure, so the caller puts it
    /// back with the others.
    async fn run<T>(&self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let interrupted = || Error::new("interrupted by Ctrl-C");
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = self.notified() => Err(interrupted()),
        };
        outcome.and_then(|done| {
            if self.happened() {
                Err(interrupted())
            } else {
                Ok(done)
            }
        })
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// The exit status of a finished plan under `--detailed-exitcode`.
pub fn plan_status(plan: &Plan, detailed: bool) -> ExitStatus {
    if detailed && plan.has_findings() {
        ExitStatus::Pending
    } else {
        ExitStatus::Success
    }
}
