//! The parts of a plan that are about rules rather than changes — open findings, rules fixed
//! only in part, what cannot be determined, what a person must review, waivers, partly assessed
//! and not assessed rules — as data both the text and the Markdown renderers lay out.

use super::{check_line, detail_lines, unfixable_line, waiver_text};
use crate::assess::{NotAssessedReason, Outcome, RuleResult, Status};
use crate::plan::Plan;

/// One section: a title, and an entry per rule.
pub struct Section {
    /// The marker of its entries in text (`!`, `?`, `=`, `-`).
    pub marker: char,
    pub title: &'static str,
    pub entries: Vec<Entry>,
}

/// A rule in a section: its heading (`DKER-EE-003840 (CAT II, V-235840)`), the line that says
/// most, and more lines under it.
pub struct Entry {
    pub heading: String,
    pub line: String,
    pub more: Vec<String>,
}

/// `DKER-EE-003840 (CAT II, V-235840)`, with the target when several of its kind are in the run.
pub fn rule_heading(rule: &RuleResult) -> String {
    format!(
        "{} ({}, {})",
        rule.stig_id,
        rule.severity.category(),
        rule.vuln_id
    )
}

/// The line that shows best why a rule is not compliant: its first failing check.
fn failing_detail(rule: &RuleResult) -> String {
    let details = detail_lines(rule);
    details
        .iter()
        .find(|detail| detail.contains(", requires "))
        .or(details.first())
        .cloned()
        .unwrap_or_default()
}

fn entry(rule: &RuleResult, line: String, more: Vec<String>) -> Entry {
    let mut heading = rule_heading(rule);
    if let Some(target) = &rule.target {
        heading.push_str(&format!(" on {}", target.id()));
    }
    Entry {
        heading,
        line,
        more,
    }
}

/// A rule that is not compliant: its failing check — and, for an open finding, every other
/// check that fails or cannot be determined (a workload rule's pods besides its containers) —
/// then what `apply` cannot write and its note.
fn finding(rule: &RuleResult) -> Entry {
    let line = failing_detail(rule);
    let open = rule.status == Status::Open;
    let mut more: Vec<String> = rule
        .checks
        .iter()
        .filter(|check| open && matches!(check.outcome, Outcome::Fail | Outcome::Unknown(_)))
        .map(check_line)
        .filter(|other| *other != line)
        .collect();
    more.extend(rule.unfixable.iter().map(unfixable_line));
    more.extend(rule.note.clone());
    entry(rule, line, more)
}

/// Every section with at least one entry, in reading order.
pub fn sections(plan: &Plan) -> Vec<Section> {
    let with = |status: Status| plan.rules.iter().filter(move |rule| rule.status == status);
    let mut sections = vec![
        Section {
            marker: '!',
            title: "Open findings (not fixed automatically)",
            entries: with(Status::Open).map(finding).collect(),
        },
        Section {
            marker: '!',
            title: "Fixed only in part (apply cannot write every setting)",
            entries: with(Status::Fix)
                .filter(|rule| !rule.unfixable.is_empty())
                .map(finding)
                .collect(),
        },
        Section {
            marker: '?',
            title: "Could not be determined (never counted as compliant)",
            entries: with(Status::Unknown)
                .map(|rule| {
                    let reasons: Vec<String> = rule
                        .checks
                        .iter()
                        .filter(|check| matches!(check.outcome, Outcome::Unknown(_)))
                        .map(check_line)
                        .collect();
                    let line = reasons.first().cloned().unwrap_or_default();
                    entry(rule, line, reasons.into_iter().skip(1).collect())
                })
                .collect(),
        },
        Section {
            marker: '-',
            title: "Manual review (a person must look)",
            entries: with(Status::Manual)
                .map(|rule| {
                    entry(
                        rule,
                        rule.note
                            .clone()
                            .unwrap_or_else(|| "see the rule's check text".into()),
                        Vec::new(),
                    )
                })
                .collect(),
        },
        Section {
            marker: '=',
            title: "Waived",
            entries: with(Status::Waived)
                .map(|rule| {
                    entry(
                        rule,
                        rule.waiver.as_ref().map(waiver_text).unwrap_or_default(),
                        Vec::new(),
                    )
                })
                .collect(),
        },
        Section {
            marker: '!',
            title: "Waiver expired (assessed again)",
            entries: plan
                .rules
                .iter()
                .filter_map(|rule| {
                    let expired = rule.waiver_expired?;
                    Some(entry(
                        rule,
                        format!(
                            "the waiver expired on {expired}; status {}",
                            rule.status.as_str()
                        ),
                        Vec::new(),
                    ))
                })
                .collect(),
        },
        Section {
            marker: '?',
            title: "Partly assessed (organisation-defined value not set)",
            entries: plan
                .rules
                .iter()
                .flat_map(|rule| {
                    rule.checks
                        .iter()
                        .filter(|check| check.outcome == Outcome::VariableUnset)
                        .map(move |check| Entry {
                            heading: rule.stig_id.clone(),
                            line: check_line(check),
                            more: Vec::new(),
                        })
                })
                .collect(),
        },
        Section {
            marker: '-',
            title: "Not assessed by this version (see each rule's note)",
            entries: with(Status::NotAssessed)
                .filter(|rule| rule.not_assessed == Some(NotAssessedReason::ByPlaybook))
                .map(|rule| entry(rule, rule.note.clone().unwrap_or_default(), Vec::new()))
                .collect(),
        },
    ];
    sections.retain(|section| !section.entries.is_empty());
    sections
}

/// The rules not assessed because their target is not in the run: `(reason, count)`.
pub fn targets_not_configured(plan: &Plan) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for rule in &plan.rules {
        if let Some(NotAssessedReason::TargetNotConfigured {
            kind,
            configured_by,
        }) = &rule.not_assessed
        {
            let reason = format!("target {kind} is not configured ({configured_by})");
            match counts.iter_mut().find(|(known, _)| *known == reason) {
                Some((_, count)) => *count += 1,
                None => counts.push((reason, 1)),
            }
        }
    }
    counts
}
