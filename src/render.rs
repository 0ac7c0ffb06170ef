//! Plans as text (terminal) and Markdown (change tickets). JSON is `Plan::to_json`.
//! Every change line carries a `+`/`-`/`~` marker, so colour never carries meaning alone.

use crate::assess::{RuleResult, Status};
use crate::output::Output;
use crate::plan::{Change, Plan, json_to_toml};
use crate::playbook::display_value;

fn show(value: Option<&serde_json::Value>) -> String {
    match value.and_then(json_to_toml) {
        Some(value) => display_value(&value),
        None => "(not set)".into(),
    }
}

/// `~ path: before -> after`, as in plans and rollback previews.
pub fn change_line(change: &Change) -> String {
    format!(
        "{} {}: {} -> {}",
        change.action.marker(),
        change.path,
        show(change.before.as_ref()),
        show(change.after.as_ref())
    )
}

/// The plan for a terminal.
pub fn text(plan: &Plan, output: &Output) -> String {
    let mut out = String::new();
    if plan.insecure {
        out.push_str(&output.red("TLS verification was OFF (--insecure) for this plan.\n\n"));
    }
    for target in &plan.targets {
        out.push_str(&format!(
            "{} {}  {}\n",
            output.bold(target.kind.as_str()),
            output.bold(&target.endpoint),
            output.dim(&format!("({})", short_fingerprint(&target.fingerprint)))
        ));
        if target.changes.is_empty() {
            out.push_str("  no changes\n");
        }
        for change in &target.changes {
            let line = change_line(change);
            let colored = match change.action {
                crate::plan::Action::Add => output.green(&line),
                crate::plan::Action::Update => output.yellow(&line),
                crate::plan::Action::Remove => output.red(&line),
            };
            out.push_str(&format!(
                "  {colored}  {}\n",
                output.dim(&change.rules.join(", "))
            ));
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
        out.push('\n');
    }
    let open: Vec<&RuleResult> = plan
        .rules
        .iter()
        .filter(|rule| rule.status == Status::Open)
        .collect();
    if !open.is_empty() {
        out.push_str(&output.bold("Open findings (not fixed automatically):\n"));
        for rule in open {
            out.push_str(&format!(
                "  ! {} {}\n",
                rule_heading(rule),
                failing_detail(rule)
            ));
            if let Some(note) = &rule.note {
                out.push_str(&format!("      {}\n", output.dim(note)));
            }
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
                rule.waiver.as_deref().unwrap_or_default()
            ));
        }
        out.push('\n');
    }
    let unset: Vec<(&RuleResult, &String)> = plan
        .rules
        .iter()
        .flat_map(|rule| {
            rule.details
                .iter()
                .filter(|d| d.contains("not assessed: set variable"))
                .map(move |d| (rule, d))
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

fn rule_heading(rule: &RuleResult) -> String {
    format!(
        "{} ({}, {})",
        rule.stig_id,
        severity_category(&rule.severity),
        rule.vuln_id
    )
}

fn failing_detail(rule: &RuleResult) -> String {
    rule.details
        .iter()
        .find(|detail| detail.contains(", requires "))
        .or(rule.details.first())
        .cloned()
        .unwrap_or_default()
}

fn severity_category(severity: &str) -> &'static str {
    match severity {
        "high" => "CAT I",
        "medium" => "CAT II",
        _ => "CAT III",
    }
}

/// `Plan: 9 changes on 1 target (12 rules to fix); 3 open findings; …`.
pub fn summary_line(plan: &Plan) -> String {
    let summary = &plan.summary;
    let targets = plan
        .targets
        .iter()
        .filter(|target| !target.changes.is_empty())
        .count();
    let head = if summary.changes == 0 {
        "Plan: no changes".to_string()
    } else {
        format!(
            "Plan: {} change{} on {targets} target{} ({} rule{} to fix)",
            summary.changes,
            plural(summary.changes),
            plural(targets),
            summary.fix,
            plural(summary.fix)
        )
    };
    format!(
        "{head}; {} open finding{}; {} compliant; {} waived; {} manual; {} not assessed.",
        summary.open,
        plural(summary.open),
        summary.pass,
        summary.waived,
        summary.manual,
        summary.not_assessed
    )
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The plan as Markdown, for change tickets and assessors.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str("# stigfix plan\n\n");
    out.push_str(&format!(
        "- Created: {}\n- stigfix: {}\n- Playbooks: {}\n",
        plan.created_at,
        plan.stigfix_version,
        plan.playbooks
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if plan.insecure {
        out.push_str("- **TLS verification was OFF (`--insecure`) for this plan.**\n");
    }
    out.push_str(&format!("\n{}\n", summary_line(plan)));
    for target in &plan.targets {
        out.push_str(&format!(
            "\n## {} `{}`\n\nFingerprint of the live state: `{}`\n\n",
            target.kind.as_str(),
            target.endpoint,
            target.fingerprint
        ));
        if target.changes.is_empty() {
            out.push_str("No changes.\n");
            continue;
        }
        out.push_str("| | Setting | Before | After | STIG IDs |\n|---|---|---|---|---|\n");
        for change in &target.changes {
            out.push_str(&format!(
                "| `{}` | `{}` | `{}` | `{}` | {} |\n",
                change.action.marker(),
                change.path,
                show(change.before.as_ref()).replace('|', "\\|"),
                show(change.after.as_ref()).replace('|', "\\|"),
                change.rules.join(", ")
            ));
        }
        if !target.diff.is_empty() {
            out.push_str(&format!("\n```diff\n{}```\n", target.diff));
        }
    }
    out.push_str("\n## Rules\n\n| STIG ID | Vuln ID | CAT | Status | Title | Details |\n|---|---|---|---|---|---|\n");
    for rule in &plan.rules {
        let mut details = rule.details.join("; ");
        if let Some(waiver) = &rule.waiver {
            details = waiver.clone();
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            rule.stig_id,
            rule.vuln_id,
            severity_category(&rule.severity),
            rule.status.as_str(),
            rule.title.replace('|', "\\|"),
            details.replace('|', "\\|").replace('\n', " ")
        ));
    }
    out
}
