//! The JSON plan (`plan --format json`, `plan --out`): its own types, separate from the domain
//! types so the domain can change without breaking the format. `format_version` 2; the JSON
//! Schema generated from these types ships as `docs/plan.schema.json` (a test keeps the two
//! equal, and the end-to-end tests validate every JSON output against the file).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::assess::{Check, NotAssessedReason, Observed, Outcome, RuleResult, Status};
use crate::benchmark::Severity;
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Plan};
use crate::playbook::Mode;
use crate::site::Waiver;
use crate::targets::{Product, TargetKind};
use crate::values::Shown;

pub const FORMAT_VERSION: u32 = 2;

/// A stigfix plan.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanJson {
    /// The inventory's name of the cluster planned (absent for a run without an inventory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// 2 for this format.
    pub format_version: u32,
    pub stigfix_version: String,
    /// RFC 3339.
    pub created_at: String,
    /// `sha256:…` of what the plan does (its rules' inputs, each target's state and changes);
    /// the Markdown report shows the same digest.
    pub digest: String,
    /// TLS verification was off (`--insecure`).
    pub insecure: bool,
    /// `sha256:…` of the playbooks, site-file variables and waivers and rule filters the plan
    /// was derived from; `apply` refuses a saved plan when they differ.
    pub rules_digest: String,
    pub playbooks: Vec<PlaybookJson>,
    pub targets: Vec<TargetJson>,
    /// Every rule of every loaded benchmark, per target.
    pub rules: Vec<RuleJson>,
    pub summary: SummaryJson,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaybookJson {
    pub name: String,
    pub source: String,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetJson {
    /// `ucp:ucp.example.mil`: what rules and changes name the target by.
    pub id: String,
    pub kind: TargetKind,
    /// Base URL, or the host root.
    pub endpoint: String,
    /// The product and version the target runs; null when it did not say.
    pub product: Option<Product>,
    /// `sha256:…` of the live state the plan was made against.
    pub fingerprint: String,
    pub changes: Vec<ChangeJson>,
    /// Unified diff of live against planned (secrets redacted), or the requests to send.
    pub diff: String,
    /// Work the changes bring with them (`restart docker.service`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Observations that are not a rule's finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeJson {
    /// STIG IDs of the rules that want the change.
    pub rules: Vec<String>,
    pub path: String,
    pub action: Action,
    pub before: Shown,
    pub after: Shown,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleJson {
    /// The target's id; null when no target of the rule's kind is in the run.
    pub target: Option<String>,
    pub kind: TargetKind,
    pub stig_id: String,
    pub vuln_id: String,
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    pub playbook: String,
    pub mode: Mode,
    pub status: Status,
    /// The evidence: each setting as read and judged.
    pub checks: Vec<CheckJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfixable: Vec<UnfixableJson>,
    /// Why the rule was not assessed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_assessed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverJson>,
    /// The date a waiver of the rule expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver_expired: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnfixableJson {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverJson {
    pub justification: String,
    pub approver: Option<String>,
    pub ticket: Option<String>,
    /// Last day in force (YYYY-MM-DD).
    pub expires: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckJson {
    /// The setting's path (`*` stands for every item).
    pub path: String,
    /// Where it was read: an endpoint or a file.
    pub source: Option<String>,
    pub expected: ExpectedJson,
    pub observed: ObservedJson,
    pub outcome: OutcomeJson,
    /// Why the outcome is `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Shown>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<Shown>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_in: Vec<Shown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// `0644`: the mode must have no bits outside these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_within: Option<String>,
    /// The site-file variable the value comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObservedJson {
    /// One value.
    Value {
        value: Shown,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why_not_set: Option<String>,
    },
    /// Many items (every repository): how many, and each that does not comply.
    Items {
        total: usize,
        failing: Vec<ItemJson>,
    },
    /// Nothing to check: the object does not exist and need not.
    Nothing { reason: String },
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemJson {
    pub path: String,
    pub value: Shown,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_not_set: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeJson {
    Pass,
    Fail,
    Unknown,
    /// The required value is an organisation-defined variable that is not set.
    VariableUnset,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryJson {
    pub changes: usize,
    pub fix: usize,
    pub open: usize,
    pub unknown: usize,
    pub pass: usize,
    pub waived: usize,
    pub manual: usize,
    pub not_applicable: usize,
    pub not_assessed: usize,
}

/// The plan as JSON text (pretty, with a final newline).
pub fn plan(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(&plan_json(plan)).expect("plans serialise");
    text.push('\n');
    text
}

pub fn plan_json(plan: &Plan) -> PlanJson {
    let summary = plan.summary();
    PlanJson {
        cluster: None,
        format_version: FORMAT_VERSION,
        stigfix_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: plan.created_at.clone(),
        digest: plan.digest(),
        insecure: plan.insecure,
        rules_digest: plan.rules_digest.clone(),
        playbooks: plan
            .playbooks
            .iter()
            .map(|playbook| PlaybookJson {
                name: playbook.name.clone(),
                source: playbook.source.clone(),
                sha256: playbook.sha256.clone(),
            })
            .collect(),
        targets: plan
            .targets
            .iter()
            .map(|target| TargetJson {
                id: target.spec.id(),
                kind: target.spec.kind,
                endpoint: target.spec.endpoint.clone(),
                product: target.product.clone(),
                fingerprint: target.fingerprint.clone(),
                changes: target.changes().iter().map(change_json).collect(),
                diff: target.diff.clone(),
                actions: target.actions.clone(),
                notes: target.notes.clone(),
            })
            .collect(),
        rules: plan.rules.iter().map(rule_json).collect(),
        summary: SummaryJson {
            changes: summary.changes,
            fix: summary.count(Status::Fix),
            open: summary.count(Status::Open),
            unknown: summary.count(Status::Unknown),
            pass: summary.count(Status::Pass),
            waived: summary.count(Status::Waived),
            manual: summary.count(Status::Manual),
            not_applicable: summary.count(Status::NotApplicable),
            not_assessed: summary.count(Status::NotAssessed),
        },
    }
}

pub fn change_json(change: &Change) -> ChangeJson {
    ChangeJson {
        rules: change.rules.clone(),
        path: change.path.to_string(),
        action: change.action,
        before: change.before.clone(),
        after: change.after.clone(),
    }
}

fn rule_json(rule: &RuleResult) -> RuleJson {
    RuleJson {
        target: rule.target.as_ref().map(|spec| spec.id()),
        kind: rule.kind,
        stig_id: rule.stig_id.clone(),
        vuln_id: rule.vuln_id.clone(),
        rule_id: rule.rule_id.clone(),
        severity: rule.severity,
        title: rule.title.clone(),
        playbook: rule.playbook.clone(),
        mode: rule.mode,
        status: rule.status,
        checks: rule.checks.iter().map(check_json).collect(),
        unfixable: rule
            .unfixable
            .iter()
            .map(|unfixable| UnfixableJson {
                path: unfixable.path.to_string(),
                reason: unfixable.reason.clone(),
            })
            .collect(),
        not_assessed: rule.not_assessed.as_ref().map(|reason| match reason {
            NotAssessedReason::TargetNotConfigured {
                kind,
                configured_by,
            } => format!("target {kind} is not configured ({configured_by})"),
            NotAssessedReason::ByPlaybook => {
                "the playbook does not assess this rule (see the note)".to_string()
            }
        }),
        note: rule.note.clone(),
        waiver: rule.waiver.as_ref().map(waiver_json),
        waiver_expired: rule.waiver_expired.map(|date| date.to_string()),
    }
}

pub fn waiver_json(waiver: &Waiver) -> WaiverJson {
    WaiverJson {
        justification: waiver.justification.clone(),
        approver: waiver.approver.clone(),
        ticket: waiver.ticket.clone(),
        expires: waiver.expires.map(|date| date.to_string()),
    }
}

pub fn check_json(check: &Check) -> CheckJson {
    let (outcome, reason) = match &check.outcome {
        Outcome::Pass => (OutcomeJson::Pass, None),
        Outcome::Fail => (OutcomeJson::Fail, None),
        Outcome::Unknown(reason) => (OutcomeJson::Unknown, Some(reason.clone())),
        Outcome::VariableUnset => (OutcomeJson::VariableUnset, None),
    };
    let expected = &check.expected;
    CheckJson {
        path: check.path.to_string(),
        source: check.source.clone(),
        expected: ExpectedJson {
            value: expected.value.clone(),
            one_of: expected.one_of.clone(),
            not_in: expected.not_in.clone(),
            min: expected.min,
            max: expected.max,
            mode_within: expected.mode_within.clone(),
            variable: expected.variable.clone(),
        },
        observed: match &check.observed {
            Observed::Value { value, why_not_set } => ObservedJson::Value {
                value: value.clone(),
                why_not_set: why_not_set.clone(),
            },
            Observed::Items { total, failing } => ObservedJson::Items {
                total: *total,
                failing: failing
                    .iter()
                    .map(|item| ItemJson {
                        path: item.path.to_string(),
                        value: item.value.clone(),
                        why_not_set: item.why_not_set.clone(),
                    })
                    .collect(),
            },
            Observed::Nothing { reason } => ObservedJson::Nothing {
                reason: reason.clone(),
            },
        },
        outcome,
        reason,
    }
}

/// Read a saved plan, checking its format version.
pub fn read_plan(text: &str, source: &str) -> Result<PlanJson> {
    let probe: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        Error::new(format!(
            "{source}: not a stigfix plan (invalid JSON: {error})"
        ))
    })?;
    match probe
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(version) => {
            return Err(Error::new(format!(
                "{source}: plan format_version {version} is not supported by stigfix {} (it reads version {FORMAT_VERSION})",
                env!("CARGO_PKG_VERSION")
            ))
            .with_hint("run `stigfix plan --out FILE` again with this version"));
        }
        None => {
            return Err(Error::new(format!(
                "{source}: not a stigfix plan (no format_version)"
            )));
        }
    }
    serde_json::from_value(probe)
        .map_err(|error| Error::new(format!("{source}: malformed plan: {error}")))
}

/// The JSON Schema of the plan format, as shipped in `docs/plan.schema.json`.
pub fn schema() -> String {
    let schema = schemars::schema_for!(PlanJson);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_schema_is_the_schema_of_these_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/plan.schema.json");
        if std::env::var_os("STIGFIX_BLESS").is_some() {
            std::fs::write(path, schema()).unwrap();
        }
        let shipped = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            shipped == schema(),
            "docs/plan.schema.json is out of date: run `STIGFIX_BLESS=1 cargo test --lib schema` and commit it"
        );
    }

    #[test]
    fn versions_are_checked() {
        let error = read_plan("{\"format_version\": 1}", "plan.json").unwrap_err();
        assert!(
            error.message().contains("format_version 1"),
            "{}",
            error.message()
        );
        let error = read_plan("nope", "plan.json").unwrap_err();
        assert!(error.message().starts_with("plan.json: not a stigfix plan"));
    }
}
