//! The plan: what `plan` shows, `plan --out` saves and `apply PLAN.json` carries out.
//!
//! These are the domain types: a target's edits hold the real values to write. Everything a
//! person or a file sees goes through [`Change`] (values as [`Shown`], secrets redacted) and the
//! renderers; the JSON form is `crate::render::json` (format_version 2).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::assess::{RuleResult, Status};
use crate::keypath::KeyPath;
use crate::targets::{Edit, Product, TargetSpec};
use crate::values::{Shown, fingerprint};

/// A plan of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub created_at: String,
    /// TLS verification was off for this plan (`--insecure`).
    pub insecure: bool,
    pub playbooks: Vec<PlaybookRef>,
    /// The benchmarks of those playbooks: every rule of each is in every checklist.
    pub benchmarks: Vec<std::sync::Arc<crate::benchmark::Benchmark>>,
    /// `sha256:…` of everything the rules were derived from: the playbooks, the site file's
    /// variables and waivers, the rule filters. A saved plan is applied only under the same.
    pub rules_digest: String,
    pub targets: Vec<TargetPlan>,
    pub rules: Vec<RuleResult>,
}

/// A playbook a plan was made with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlaybookRef {
    /// `Docker_Enterprise_2-x_Linux-UNIX_STIG V2R2`.
    pub name: String,
    /// A path, or `(shipped) playbooks/NAME.toml`.
    pub source: String,
    /// `sha256:…` of the playbook's text.
    pub sha256: String,
}

/// What the plan does to one target.
#[derive(Clone, Debug)]
pub struct TargetPlan {
    pub spec: TargetSpec,
    /// The product and version the target runs, when known.
    pub product: Option<Product>,
    /// `sha256:…` of the live state read at plan time.
    pub fingerprint: String,
    /// The edits, with the real values to write (never shown as such).
    pub edits: Vec<Edit>,
    /// Unified diff of live against planned (secrets redacted), or the requests to send.
    pub diff: String,
    /// Work the changes bring with them, e.g. `restart docker.service`.
    pub actions: Vec<String>,
    /// Observations about the target that are not a rule's finding.
    pub notes: Vec<String>,
    /// Why `apply` must refuse this target outright (see [`LiveState::refusal`]).
    ///
    /// [`LiveState::refusal`]: crate::targets::LiveState::refusal
    pub refusal: Option<String>,
}

impl TargetPlan {
    /// The edits as they may be shown.
    pub fn changes(&self) -> Vec<Change> {
        self.edits.iter().map(Change::of).collect()
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Update,
    Remove,
}

impl Action {
    pub fn marker(self) -> char {
        match self {
            Action::Add => '+',
            Action::Update => '~',
            Action::Remove => '-',
        }
    }
}

/// One change as it may be shown: values redacted where the key is a secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    pub rules: Vec<String>,
    pub path: KeyPath,
    pub action: Action,
    pub before: Shown,
    pub after: Shown,
}

impl Change {
    pub fn of(edit: &Edit) -> Change {
        Change {
            rules: edit.rules.clone(),
            path: edit.path.clone(),
            action: if edit.before.is_some() {
                Action::Update
            } else {
                Action::Add
            },
            before: Shown::at(&edit.path, edit.before.as_ref()),
            after: Shown::at(&edit.path, Some(&edit.after)),
        }
    }
}

/// Counts of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub changes: usize,
    pub by_status: BTreeMap<Status, usize>,
}

impl Summary {
    pub fn count(&self, status: Status) -> usize {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            changes: self.change_count(),
            by_status: BTreeMap::new(),
        };
        for rule in &self.rules {
            *summary.by_status.entry(rule.status).or_default() += 1;
        }
        summary
    }

    pub fn change_count(&self) -> usize {
        self.targets.iter().map(|target| target.edits.len()).sum()
    }

    /// Changes pending or findings (exit 2 with `--detailed-exitcode`).
    pub fn has_findings(&self) -> bool {
        self.change_count() > 0 || self.rules.iter().any(|rule| rule.status.is_finding())
    }

    /// `sha256:…` identifying what this plan does: its rules' inputs and, per target, the
    /// state it was made against and the changes. The Markdown report and the JSON plan print
    /// it, so the reviewed report and the applied file are provably the same plan.
    pub fn digest(&self) -> String {
        let targets: Vec<serde_json::Value> = self
            .targets
            .iter()
            .map(|target| {
                serde_json::json!({
                    "kind": target.spec.kind,
                    "endpoint": target.spec.endpoint,
                    "fingerprint": target.fingerprint,
                    "changes": target.changes(),
                })
            })
            .collect();
        let content = serde_json::json!({
            "rules_digest": self.rules_digest,
            "targets": targets,
        });
        fingerprint(content.to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_changes_are_redacted() {
        let edit = Edit {
            path: KeyPath::parse("backup_schedule_config.passphrase").unwrap(),
            before: Some("old".into()),
            after: "new".into(),
            rules: vec![],
        };
        let change = Change::of(&edit);
        assert_eq!(change.before, Shown::Redacted);
        assert_eq!(change.after, Shown::Redacted);
        assert_eq!(change.action, Action::Update);
    }
}
