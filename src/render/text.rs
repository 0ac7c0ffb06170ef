//! A plan for a terminal. Every change line carries a `+`/`-`/`~` marker, so colour never
//! carries meaning alone.

use super::{detail_lines, line_text, lines, unfixable_line, waiver_text};
use crate::assess::{Outcome, RuleResult, Status};
use crate::output::Output;
use crate::plan::Plan;

/// The plan for a terminal.
pub fn text(plan: &Plan, output: &Output) -> String {
    let mut out = String::new();
    if plan.insecure {
        out.push_str(&output.red("TLS verification was OFF (--insecure) for this plan.\n\n"));
    }
    for target in &plan.targets {
        out.push_str(&format!(
            "{} {}  {}\n",
            output.bold(target.spec.kind.as_str()),
            output.bold(&target.spec.endpoint),
            output.dim(&format!("({})", short_fingerprint(&target.fingerprint)))
        ));
        let changes = target.changes();
        if changes.is_empty() {
            out.push_str("  no changes\n");
        }
        for line in lines(&changes) {
            let change = line.change;
            let text = line_text(&line);
            let colored = match change.action {
                crate::plan::Action::Add => output.green(&text),
                crate::plan::Action::Update => output.yellow(&text),
                crate::plan::Action::Remove => output.red(&text),
            };
            out.push_str(&format!(
                "  {colored}  {}\n",
                output.dim(&change.rules.join(", "))
            ));
        }
        for action in &target.actions {
            out.push_str(&format!("  {} {action}\n", output.bold("!")));
        }
        if !target.diff.is_empty() {
            out.push('\n');
            for line in target.diff.lines() {
                let painted = if line.starts_with("+++") || line.starts_with("---") {
                    output.bold(line)
                } else if line.starts_with('+') {
                    output.green(line)
                } else if line.starts_with('-') {
                    output.red(line)
                } else if line.starts_with("@@") {
                    output.dim(line)
                } else {
                    line.to_string()
                };
                out.push_str(&format!("  {painted}\n"));
            }
        }
        for note in &target.notes {
            out.push_str(&format!("  {} {}\n", output.yellow("note:"), note));
        }
        out.push('\n');
    }
    // Open findings, and rules that `apply` fixes only in part (a setting it cannot write).
    let open: Vec<&RuleResult> = plan
        .rules
        .iter()
        .filter(|rule| {
            rule.status == Status::Open
                || (rule.status == Status::Fix && !rule.unfixable.is_empty())
        })
        .collect();
    if !open.is_empty() {
        out.push_str(&output.bold("Open findings (not fixed automatically):\n"));
        for rule in open {
            out.push_str(&format!(
                "  ! {} {}\n",
                rule_heading(rule),
                failing_detail(rule)
            ));
            for unfixable in &rule.unfixable {
                out.push_str(&format!("      {}\n", unfixable_line(unfixable)));
            }
            if let Some(note) = &rule.note {
                out.push_str(&format!("      {}\n", output.dim(note)));
            }
        }
        out.push('\n');
    }
    let unknown: Vec<&RuleResult> = plan
        .rules
        .iter()
        .filter(|rule| rule.status == Status::Unknown)
        .collect();
    if !unknown.is_empty() {
        out.push_str(&output.bold("Could not be determined (never counted as compliant):\n"));
        for rule in unknown {
            out.push_str(&format!(
                "  ? {} {}\n",
                rule_heading(rule),
                detail_lines(rule)
                    .into_iter()
                    .find(|line| line.contains("cannot be determined")
                        || line.contains("not all can be determined"))
                    .unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    let waived: Vec<&RuleResult> = plan
        .rules
        .iter()
        .filter(|rule| rule.status == Status::Waived)
        .collect();
    if !waived.is_empty() {
        out.push_str(&output.bold("Waived:\n"));
        for rule in waived {
            out.push_str(&format!(
                "  = {} {}\n",
                rule_heading(rule),
                rule.waiver.as_ref().map(waiver_text).unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    let unset: Vec<(&RuleResult, String)> = plan
        .rules
        .iter()
        .flat_map(|rule| {
            rule.checks
                .iter()
                .filter(|check| check.outcome == Outcome::VariableUnset)
                .map(move |check| (rule, super::check_line(check)))
        })
        .collect();
    if !unset.is_empty() {
        out.push_str(&output.bold("Partly assessed (organisation-defined value not set):\n"));
        for (rule, detail) in unset {
            out.push_str(&format!("  ? {} {detail}\n", rule.stig_id));
        }
        out.push('\n');
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

fn short_fingerprint(fingerprint: &str) -> String {
    fingerprint.chars().take(19).collect()
}

pub(super) fn rule_heading(rule: &RuleResult) -> String {
    format!(
        "{} ({}, {})",
        rule.stig_id,
        rule.severity.category(),
        rule.vuln_id
    )
}

/// The line that shows best why a rule is open: its first failing check.
fn failing_detail(rule: &RuleResult) -> String {
    let details = detail_lines(rule);
    details
        .iter()
        .find(|detail| detail.contains(", requires "))
        .or(details.first())
        .cloned()
        .unwrap_or_default()
}

/// `Plan: 9 changes on 1 target (12 rules to fix); 3 open findings; …`.
pub fn summary_line(plan: &Plan) -> String {
    let summary = plan.summary();
    let fix = summary.count(Status::Fix);
    let targets = plan
        .targets
        .iter()
        .filter(|target| !target.edits.is_empty())
        .count();
    let head = if summary.changes == 0 {
        "Plan: no changes".to_string()
    } else {
        format!(
            "Plan: {} change{} on {targets} target{} ({} rule{} to fix)",
            summary.changes,
            plural(summary.changes),
            plural(targets),
            fix,
            plural(fix)
        )
    };
    let open = summary.count(Status::Open);
    let mut line = format!(
        "{head}; {} open finding{}; {} compliant; {} waived; {} manual; {} not assessed",
        open,
        plural(open),
        summary.count(Status::Pass),
        summary.count(Status::Waived),
        summary.count(Status::Manual),
        summary.count(Status::NotAssessed)
    );
    for (status, words) in [
        (Status::Unknown, "unknown (could not be determined)"),
        (Status::NotApplicable, "not applicable"),
    ] {
        let count = summary.count(status);
        if count > 0 {
            line.push_str(&format!("; {count} {words}"));
        }
    }
    line.push('.');
    line
}

pub(super) fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// What a rollback will write, per target: change lines, then the diff of live against saved.
pub fn rollback_preview(prepared: &crate::engine::PreparedRollback, output: &Output) -> String {
    let mut out = String::new();
    for target in &prepared.targets {
        out.push_str(&format!("{}\n", output.bold(&target.spec.label())));
        let changes = target.changes();
        if changes.is_empty() {
            out.push_str("  no changes: already at the snapshot's values\n");
        }
        for line in lines(&changes) {
            out.push_str(&format!("  {}\n", line_text(&line)));
        }
        for conflict in &target.conflicts {
            out.push_str(&format!("  ! {conflict} (rolled back: --force)\n"));
        }
        if !changes.is_empty() {
            for line in target.diff.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
    }
    out
}
