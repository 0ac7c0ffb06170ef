//! `stigfix snapshots prune`: which snapshots may go, and why the others stay.

use std::fs;
use std::path::Path;

use serde::Serialize;

use super::{Snapshot, TargetState};

/// What `snapshots prune` removes: the snapshots beyond the `keep` newest, or made more than
/// `older_than` before `now`, or (both given) those meeting both.
pub struct PruneRule {
    pub keep: Option<usize>,
    pub older_than_days: Option<u64>,
    pub now: time::OffsetDateTime,
}

/// A prune's decision on one snapshot, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PruneDecision {
    pub id: String,
    pub remove: bool,
    pub reason: String,
}

/// Decide, for every snapshot (oldest first, as [`Snapshot::list`] gives them), whether a
/// prune removes it. Never removed, whatever the rule: for each target, the newest `apply`
/// snapshot whose change is in force there (`applied`, `applying`, `restore-failed`: the way
/// back, and what `rollback --last` uses), and any snapshot with a target `applying` or
/// `restore-failed` (a change that may be half-made, or a restore that failed: an operator
/// needs it).
pub fn prune_decisions(snapshots: &[Snapshot], rule: &PruneRule) -> Vec<PruneDecision> {
    let mut way_back: Vec<(usize, String)> = Vec::new();
    for (index, snapshot) in snapshots.iter().enumerate().rev() {
        if snapshot.manifest.command != "apply" {
            continue;
        }
        for target in &snapshot.manifest.targets {
            let label = target.spec().label();
            if target.state.may_be_changed() && !way_back.iter().any(|(_, seen)| *seen == label) {
                way_back.push((index, label));
            }
        }
    }
    let count = snapshots.len();
    snapshots
        .iter()
        .enumerate()
        .map(|(index, snapshot)| {
            let manifest = &snapshot.manifest;
            let decision = |remove: bool, reason: String| PruneDecision {
                id: manifest.id.clone(),
                remove,
                reason,
            };
            if let Some(target) = manifest.targets.iter().find(|target| {
                matches!(
                    target.state,
                    TargetState::Applying | TargetState::RestoreFailed
                )
            }) {
                return decision(
                    false,
                    format!(
                        "{} is `{}`: an operator may need this snapshot (`stigfix rollback {} --force`)",
                        target.spec().label(),
                        target.state.as_str(),
                        manifest.id
                    ),
                );
            }
            let needed: Vec<&str> = way_back
                .iter()
                .filter(|(at, _)| *at == index)
                .map(|(_, label)| label.as_str())
                .collect();
            if !needed.is_empty() {
                return decision(
                    false,
                    format!(
                        "the newest change in force on {}: rolling it back needs this snapshot",
                        needed.join(", ")
                    ),
                );
            }
            let mut why = Vec::new();
            if let Some(keep) = rule.keep {
                if index + keep >= count {
                    return decision(false, format!("one of the {keep} newest"));
                }
                why.push(format!("older than the {keep} newest"));
            }
            if let Some(days) = rule.older_than_days {
                let created = time::OffsetDateTime::parse(
                    &manifest.created_at,
                    &time::format_description::well_known::Rfc3339,
                );
                let Ok(created) = created else {
                    return decision(
                        false,
                        format!("its date `{}` cannot be read", manifest.created_at),
                    );
                };
                let limit = i64::try_from(days)
                    .ok()
                    .and_then(|days| days.checked_mul(86_400))
                    .map(time::Duration::seconds);
                if limit.is_none_or(|limit| rule.now - created <= limit) {
                    return decision(false, format!("made within the last {days} day(s)"));
                }
                why.push(format!("made more than {days} day(s) ago"));
            }
            decision(true, why.join(" and "))
        })
        .collect()
}

/// The bytes a snapshot's files take.
pub fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => size_of(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}
