//! The words of a checklist rule: FINDING_DETAILS (the evidence: every check's live and expected
//! value and where it was read, the time, stigfix's version, the targets and their products)
//! and COMMENTS (waivers). Values reach here as `Shown`, already redacted.

use super::{Asset, ChecklistRule, CklStatus, MARKER};
use crate::assess::{NotAssessedReason, Status};
use crate::plan::Plan;
use crate::render::{check_line, unfixable_line};

/// What a status means, after its word.
fn meaning(status: Status) -> &'static str {
    match status {
        Status::Pass => "compliant",
        Status::Fix => "not compliant; `stigfix apply` fixes it",
        Status::Open => "not compliant; not fixed automatically",
        Status::Manual => "a person must review it",
        Status::Waived => "a waiver is in force; see COMMENTS",
        Status::NotApplicable => "does not apply to this asset",
        Status::NotAssessed => "not assessed in this run; see the reason",
        Status::Unknown => "stigfix could not determine it (never reported as compliant)",
    }
}

/// The FINDING_DETAILS stigfix writes for a rule: a block that starts with [`MARKER`].
pub fn finding_details(rule: &ChecklistRule, asset: &Asset, plan: &Plan) -> String {
    let mut lines = vec![format!(
        "{MARKER} stigfix {} check of {}",
        env!("CARGO_PKG_VERSION"),
        plan.created_at
    )];
    let target = rule
        .result
        .as_ref()
        .and_then(|result| result.target.as_ref())
        .and_then(|spec| {
            asset
                .targets
                .iter()
                .find(|(target, _)| target == spec)
                .map(|(spec, product)| match product {
                    Some(product) => format!("{} ({product})", spec.label()),
                    None => format!("{} (product version unknown)", spec.label()),
                })
        });
    lines.push(format!(
        "Asset: {}",
        target.unwrap_or_else(|| asset.describe_targets())
    ));
    lines.push(format!(
        "Result: {} ({}) -> {}",
        rule.stigfix.as_str(),
        meaning(rule.stigfix),
        CklStatus::of(rule.stigfix).ckl()
    ));
    if plan.insecure {
        lines.push("TLS verification was OFF (--insecure) for this check.".into());
    }
    if let Some(reason) = &rule.reason {
        lines.push(format!("Reason: {reason}."));
    }
    if let Some(result) = &rule.result {
        if let Some(expired) = result.waiver_expired {
            lines.push(format!(
                "The waiver expired on {expired}; the rule is assessed again."
            ));
        }
        match &result.not_assessed {
            Some(NotAssessedReason::TargetNotConfigured {
                kind,
                configured_by,
            }) => lines.push(format!(
                "Reason: the {kind} target is not part of this run (configure it with {configured_by})."
            )),
            Some(NotAssessedReason::ByPlaybook) => lines.push(
                "Reason: this version of the playbook does not assess it (see the note).".into(),
            ),
            None => {}
        }
        if !result.checks.is_empty() {
            lines.push("Evidence:".into());
            for check in &result.checks {
                lines.push(format!("- {}", check_line(check)));
                if let Some(source) = &check.source {
                    lines.push(format!("  read from {source}"));
                }
            }
        }
        for unfixable in &result.unfixable {
            lines.push(format!("- {}", unfixable_line(unfixable)));
        }
        if let Some(note) = &result.note {
            lines.push(format!("Note: {}", one_line(note)));
        }
    }
    lines.join("\n")
}

/// The COMMENTS stigfix writes: the waiver in force, each line starting with [`MARKER`].
pub fn comments(rule: &ChecklistRule) -> String {
    let Some(waiver) = rule
        .result
        .as_ref()
        .and_then(|result| result.waiver.as_ref())
    else {
        return String::new();
    };
    let mut lines = vec![format!(
        "{MARKER} Waiver (stigfix site file): {}",
        one_line(&waiver.justification)
    )];
    if let Some(approver) = &waiver.approver {
        lines.push(format!("{MARKER} Approved by: {}", one_line(approver)));
    }
    if let Some(ticket) = &waiver.ticket {
        lines.push(format!("{MARKER} Ticket: {}", one_line(ticket)));
    }
    lines.push(match waiver.expires {
        Some(date) => format!("{MARKER} Expires: {date}"),
        None => format!("{MARKER} Expires: never"),
    });
    lines.join("\n")
}

/// Text on one line (line breaks become spaces), so every line of ours carries the marker.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
