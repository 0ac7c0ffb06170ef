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

/// More changes than this that differ only in one item (a repository, a certificate) are
/// shown as one line with a count; the JSON plan always lists every one.
const GROUP_ABOVE: usize = 5;

/// Plan lines: each change, or one line for a run of like changes to many items.
pub struct Line<'a> {
    pub change: &'a Change,
    /// `repositories.*.scanOnPush` when the line stands for several items.
    pub pattern: Option<String>,
    /// The items the line stands for (every one, when grouped).
    pub items: Vec<String>,
}

pub fn lines(changes: &[Change]) -> Vec<Line<'_>> {
    use std::collections::HashMap;
    // Like changes: same path but for the second segment, same before, after and rules.
    let pattern_of = |change: &Change| -> Option<String> {
        let segments = change.path.segments();
        (segments.len() >= 3).then(|| {
            let mut pattern = segments.to_vec();
            pattern[1] = crate::keypath::WILDCARD.to_string();
            crate::keypath::KeyPath::from_segments(pattern).to_string()
        })
    };
    let keys: Vec<Option<String>> = changes
        .iter()
        .map(|change| {
            pattern_of(change).map(|pattern| {
                format!(
                    "{pattern}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
                    change.before, change.after, change.rules
                )
            })
        })
        .collect();
    let mut members: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, key) in keys.iter().enumerate() {
        if let Some(key) = key {
            members.entry(key).or_default().push(index);
        }
    }
    let mut out = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let group = keys[index]
            .as_deref()
            .and_then(|key| members.get(key))
            .filter(|group| group.len() > GROUP_ABOVE);
        match group {
            Some(group) if group[0] != index => {}
            Some(group) => out.push(Line {
                change,
                pattern: pattern_of(change),
                items: group
                    .iter()
                    .map(|&member| changes[member].path.segments()[1].clone())
                    .collect(),
            }),
            None => out.push(Line {
                change,
                pattern: None,
                items: Vec::new(),
            }),
        }
    }
    out
}

/// The text of a plan line.
pub fn line_text(line: &Line) -> String {
    match &line.pattern {
        None => change_line(line.change),
        Some(pattern) => {
            let named: Vec<&str> = line.items.iter().take(3).map(String::as_str).collect();
            format!(
                "{} {pattern}: {} -> {}  ({} items: {}, … and {} more)",
                line.change.action.marker(),
                show(line.change.before.as_ref()),
                show(line.change.after.as_ref()),
                line.items.len(),
                named.join(", "),
                line.items.len() - named.len()
            )
        }
    }
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
        for line in lines(&target.changes) {
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
            for reason in &rule.unfixable {
                out.push_str(&format!("      {reason}\n"));
            }
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
        for note in &target.notes {
            out.push_str(&format!("> **Note:** {note}\n\n"));
        }
        if target.changes.is_empty() {
            out.push_str("No changes.\n");
            continue;
        }
        out.push_str("| | Setting | Before | After | STIG IDs |\n|---|---|---|---|---|\n");
        for line in lines(&target.changes) {
            let change = line.change;
            let path = match &line.pattern {
                None => format!("`{}`", change.path),
                Some(pattern) => format!(
                    "`{pattern}` ({} items, all listed in the JSON plan)",
                    line.items.len()
                ),
            };
            out.push_str(&format!(
                "| `{}` | {} | `{}` | `{}` | {} |\n",
                change.action.marker(),
                path.replace('|', "\\|"),
                show(change.before.as_ref()).replace('|', "\\|"),
                show(change.after.as_ref()).replace('|', "\\|"),
                change.rules.join(", ")
            ));
        }
        for action in &target.actions {
            out.push_str(&format!("\n**Then:** {action}\n"));
        }
        if !target.diff.is_empty() {
            out.push_str(&format!("\n```diff\n{}\n```\n", target.diff.trim_end()));
        }
    }
    out.push_str("\n## Rules\n\n| STIG ID | Vuln ID | CAT | Status | Title | Details |\n|---|---|---|---|---|---|\n");
    for rule in &plan.rules {
        let mut details = rule
            .details
            .iter()
            .chain(&rule.unfixable)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
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
