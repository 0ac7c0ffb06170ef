//! What the assessment found, as data: per rule and target, a status from the design's closed
//! set and the checks that show it (what was read, where, the live and the expected value, the
//! outcome). Words are written only by the renderers (`crate::render`).

use crate::benchmark::Severity;
use crate::keypath::KeyPath;
use crate::playbook::Mode;
use crate::site::Waiver;
use crate::targets::{TargetKind, TargetSpec};
use crate::values::Shown;

/// The outcome for one rule on one target (docs/design.md, "Rule statuses").
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Compliant, with the evidence that shows it.
    Pass,
    /// Not compliant; `apply` fixes it.
    Fix,
    /// Not compliant and not fixed automatically: an open finding.
    Open,
    /// A person must review it.
    Manual,
    /// A waiver in force.
    Waived,
    /// The rule does not apply to this asset.
    NotApplicable,
    /// Its target is not part of this run.
    NotAssessed,
    /// stigfix could not determine it; never reported as `pass`.
    Unknown,
}

impl Status {
    /// Every status, in the order summaries list them.
    pub const ALL: [Status; 8] = [
        Status::Fix,
        Status::Open,
        Status::Unknown,
        Status::Pass,
        Status::Waived,
        Status::Manual,
        Status::NotApplicable,
        Status::NotAssessed,
    ];

    /// The JSON word: `not_assessed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fix => "fix",
            Status::Open => "open",
            Status::Manual => "manual",
            Status::Waived => "waived",
            Status::NotApplicable => "not_applicable",
            Status::NotAssessed => "not_assessed",
            Status::Unknown => "unknown",
        }
    }

    /// Counts towards exit 2 of `--detailed-exitcode`.
    pub fn is_finding(self) -> bool {
        matches!(self, Status::Fix | Status::Open | Status::Unknown)
    }
}

/// Why a rule was not assessed.
#[derive(Clone, Debug, PartialEq)]
pub enum NotAssessedReason {
    /// No target of the rule's kind is in the run.
    TargetNotConfigured {
        kind: TargetKind,
        configured_by: &'static str,
    },
    /// The playbook marks the rule `not-assessed` (its note says why).
    ByPlaybook,
}

/// A rule's result on one target.
#[derive(Clone, Debug)]
pub struct RuleResult {
    /// The target assessed; `None` when no target of the rule's kind is in the run.
    pub target: Option<TargetSpec>,
    pub kind: TargetKind,
    pub stig_id: String,
    pub vuln_id: String,
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    /// `Benchmark_id Release` of the playbook the rule came from.
    pub playbook: String,
    pub mode: Mode,
    pub status: Status,
    pub checks: Vec<Check>,
    /// Failing settings `apply` cannot write, each with the reason and what to do instead.
    pub unfixable: Vec<Unfixable>,
    pub not_assessed: Option<NotAssessedReason>,
    /// The playbook's note: what a reviewer looks at, why a rule is check-only.
    pub note: Option<String>,
    /// The waiver in force.
    pub waiver: Option<Waiver>,
    /// The date a waiver of this rule expired (the rule is assessed again).
    pub waiver_expired: Option<time::Date>,
}

impl RuleResult {
    /// The checks that do not comply.
    pub fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|check| check.outcome == Outcome::Fail)
    }
}

/// A failing setting `apply` cannot write.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfixable {
    pub path: KeyPath,
    pub reason: String,
}

/// One setting of a rule, as read and judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The setting's path as the playbook gives it (with `*` for every item).
    pub path: KeyPath,
    /// Where the value was read: an endpoint or a file.
    pub source: Option<String>,
    pub expected: Expected,
    pub observed: Observed,
    pub outcome: Outcome,
}

/// What a check requires.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expected {
    /// The value required (and, for an enforced rule, written).
    pub value: Option<Shown>,
    pub one_of: Vec<Shown>,
    pub not_in: Vec<Shown>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// File mode bits allowed (`0644`: "0644 or stricter").
    pub mode_within: Option<String>,
    /// The site-file variable the value comes from.
    pub variable: Option<String>,
}

/// What was read for a check.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    /// One value (`why_not_set` says more when there is none).
    Value {
        value: Shown,
        why_not_set: Option<String>,
    },
    /// A setting of many items (every repository): how many, and those that do not comply.
    Items {
        total: usize,
        failing: Vec<ItemValue>,
    },
    /// Nothing to read: the object the setting belongs to does not exist and need not.
    Nothing { reason: String },
}

/// An item of a many-item setting.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemValue {
    pub path: KeyPath,
    pub value: Shown,
    pub why_not_set: Option<String>,
}

/// How a check came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// The value cannot be determined: why.
    Unknown(String),
    /// The required value is a site-file variable that is not set.
    VariableUnset,
}
