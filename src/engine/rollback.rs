//! `rollback`: a plan back to a snapshot, carried out by the same transaction as `apply`.
//!
//! Preparing reads each target the snapshot changed (under its lock) and sorts what the
//! snapshot's change wrote: still this change's value (put back), already back (left), or
//! changed by somebody since (refused unless `--force`). The command shows that and asks; then
//! the rollback runs, with its own snapshot first so it can be undone. The snapshot rolled back
//! is marked `rolled-back` only once the whole rollback is done and verified.

use super::Engine;
use super::transaction::{Header, Step, Work, classify};
use crate::error::{Error, Result};
use crate::lock::Locks;
use crate::plan::{Action, Change};
use crate::snapshot::{Snapshot, TargetState};
use crate::targets::{Saved, TargetSpec, Written};
use crate::values::Shown;

/// A rollback ready to run: what it will write, per target.
pub struct PreparedRollback {
    pub source: Snapshot,
    pub targets: Vec<RollbackTarget>,
    _locks: Locks,
}

/// One target of a prepared rollback.
pub struct RollbackTarget {
    pub spec: TargetSpec,
    /// Index of the target in the source snapshot's manifest.
    index: usize,
    now: Box<dyn crate::targets::LiveState>,
    saved: Saved,
    /// What the rollback puts back (the snapshot's change, path by path).
    pub scope: Vec<Written>,
    /// Paths somebody else changed since the snapshot's apply, described.
    pub conflicts: Vec<String>,
    /// The diff of live against saved (secrets redacted), for the preview.
    pub diff: String,
}

impl RollbackTarget {
    /// What the rollback writes, as change lines: the value now → the saved value.
    pub fn changes(&self) -> Vec<Change> {
        self.scope
            .iter()
            .map(|written| Change {
                rules: Vec::new(),
                path: written.path.clone(),
                action: if written.before.is_some() {
                    Action::Update
                } else {
                    Action::Remove
                },
                before: Shown::at(&written.path, written.after.as_ref()),
                after: Shown::at(&written.path, written.before.as_ref()),
            })
            .collect()
    }
}

impl PreparedRollback {
    /// Whether anything would be written.
    pub fn writes_nothing(&self) -> bool {
        self.targets.iter().all(|target| target.scope.is_empty())
    }
}

impl Engine {
    /// Lock and read every target `source` may have changed, and work out what rolling back
    /// writes. Refuses (changing nothing) when somebody changed a setting of the snapshot's
    /// change since, unless `force`.
    pub async fn prepare_rollback(
        &self,
        source: Snapshot,
        force: bool,
    ) -> Result<PreparedRollback> {
        let entries: Vec<(usize, &crate::snapshot::ManifestTarget)> = source
            .manifest
            .targets
            .iter()
            .enumerate()
            .filter(|(_, target)| target.state.may_be_changed())
            .collect();
        if entries.is_empty() {
            return Err(Error::new(format!(
                "snapshot {} has nothing to roll back (its targets were already rolled back or never changed)",
                source.manifest.id
            )));
        }
        let specs: Vec<TargetSpec> = entries.iter().map(|(_, entry)| entry.spec()).collect();
        let locks = crate::lock::acquire_all(&specs)?;
        let mut targets = Vec::new();
        let mut refused = Vec::new();
        for ((index, entry), spec) in entries.iter().zip(specs) {
            let target = self.target(&spec)?;
            let saved = source.saved(entry)?;
            let written = source.written(entry)?;
            let now = target.read().await?;
            let (mut scope, conflicts) = match written {
                Some(written) => {
                    let sorted = classify(now.as_ref(), &written);
                    let mut scope = sorted.ours;
                    let described = sorted
                        .conflicts
                        .iter()
                        .map(|(written, value)| {
                            format!(
                                "`{}` is now {} (the snapshot's change wrote {})",
                                written.path,
                                Shown::at(&written.path, value.as_ref()).display(),
                                Shown::at(&written.path, written.after.as_ref()).display()
                            )
                        })
                        .collect::<Vec<_>>();
                    if force {
                        scope.extend(sorted.conflicts.into_iter().map(|(written, value)| {
                            Written {
                                after: value,
                                ..written
                            }
                        }));
                    }
                    (scope, described)
                }
                // A snapshot of an older version: everything that differs from the saved state.
                None => {
                    let scope: Vec<Written> = now
                        .edits_to_saved(&saved)
                        .into_iter()
                        .map(|edit| Written {
                            path: edit.path,
                            before: Some(edit.after),
                            after: edit.before,
                        })
                        .collect();
                    let changed = entry.fingerprint_after.as_deref() != Some(now.fingerprint());
                    let described = if changed {
                        vec!["it changed since the snapshot's apply".to_string()]
                    } else {
                        Vec::new()
                    };
                    (scope, described)
                }
            };
            if !conflicts.is_empty() && !force {
                refused.push(format!(
                    "{} changed since snapshot {} was applied: {}",
                    spec.label(),
                    source.manifest.id,
                    conflicts.join("; ")
                ));
            }
            scope.sort_by(|a, b| a.path.cmp(&b.path));
            targets.push(RollbackTarget {
                diff: now.diff_to_saved(&saved, &scope),
                spec,
                index: *index,
                now,
                saved,
                scope,
                conflicts,
            });
        }
        if !refused.is_empty() {
            return Err(Error::new(format!(
                "{}\nNothing was changed.",
                refused.join("\n")
            ))
            .with_hint("review the difference with `stigfix plan`; `stigfix rollback --force` rolls back anyway and discards those later changes"));
        }
        Ok(PreparedRollback {
            source,
            targets,
            _locks: locks,
        })
    }

    /// Run a prepared rollback. Returns the rollback's own snapshot (`None` when every target
    /// was back already). The snapshot rolled back is marked only when all of it is done.
    pub async fn rollback(&self, prepared: PreparedRollback) -> Result<Option<Snapshot>> {
        let PreparedRollback {
            mut source,
            targets,
            _locks,
        } = prepared;
        let mut steps = Vec::new();
        let mut indexes = Vec::new();
        for target in targets {
            indexes.push(target.index);
            if target.scope.is_empty() {
                continue;
            }
            let undo: Vec<Written> = target
                .scope
                .iter()
                .map(|written| Written {
                    path: written.path.clone(),
                    before: written.after.clone(),
                    after: written.before.clone(),
                })
                .collect();
            steps.push(Step {
                target: self.target(&target.spec)?,
                saved: target.now.capture(&target.saved)?,
                written: undo,
                before: target.now,
                work: Work::Restore {
                    saved: target.saved,
                    scope: target.scope,
                },
            });
        }
        let undo = if steps.is_empty() {
            None
        } else {
            let header = Header {
                command: "rollback",
                plan_digest: format!("rollback of {}", source.manifest.id),
                rollback_of: Some(source.manifest.id.clone()),
            };
            Some(self.transact(header, steps).await?)
        };
        for &index in &indexes {
            let entry = &mut source.manifest.targets[index];
            entry.state = TargetState::RolledBack;
            entry.rolled_back_by = undo.as_ref().map(|undo| undo.manifest.id.clone());
        }
        source.save_manifest().map_err(|error| {
            error.context(format!(
                "the rollback to snapshot {} is done and verified, but its manifest could not record it",
                source.manifest.id
            ))
        })?;
        if let Some(original) = source.manifest.rollback_of.clone() {
            let specs: Vec<TargetSpec> = indexes
                .iter()
                .map(|&index| source.manifest.targets[index].spec())
                .collect();
            reinstate(&source, &original, &specs).map_err(|error| {
                error.context(format!(
                    "the rollback to snapshot {} is done and verified, but snapshot {original} could not record that its change is back",
                    source.manifest.id
                ))
            })?;
        }
        Ok(undo)
    }
}

/// Rolling back a rollback puts back the change that rollback undid: the snapshot of that
/// change (`original`, beside `undone`) is marked `applied` again on the targets rolled back
/// now, so `rollback --last` finds it and a later rollback of it works. A snapshot that is no
/// longer there is left alone.
fn reinstate(undone: &Snapshot, original: &str, specs: &[TargetSpec]) -> Result<()> {
    let Some(root) = undone.dir.parent() else {
        return Ok(());
    };
    let Ok(mut snapshot) = Snapshot::load(root, original) else {
        return Ok(());
    };
    let mut changed = false;
    for target in &mut snapshot.manifest.targets {
        if target.rolled_back_by.as_deref() == Some(undone.id()) && specs.contains(&target.spec()) {
            target.state = TargetState::Applied;
            target.rolled_back_by = None;
            changed = true;
        }
    }
    if changed {
        snapshot.save_manifest()?;
    }
    Ok(())
}
