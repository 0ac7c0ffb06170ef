//! A plan for a terminal. Every change line carries a `+`/`-`/`~` marker, so colour never
//! carries meaning alone.

use super::sections::{sections, targets_not_configured};
use super::{line_text, lines};
use crate::assess::Status;
use crate::output::Output;
use crate::plan::Plan;

/// The plan for a terminal.
pub fn text(plan: &Plan, output: &Output) -> String {
    let mut out = String::new();
    if plan.insecure {
        out.push_str(&output.red("TLS verification was OFF (--insecure) for this plan.\n\n"));
    }
    for target in &plan.targets {
        let product = target
            .product
            .as_ref()
            .map(|product| format!("  {product}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{} {}{product}  {}\n",
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
    for section in sections(plan) {
        out.push_str(&output.bold(&format!("{}:\n", section.title)));
        for entry in &section.entries {
            out.push_str(&format!(
                "  {} {} {}\n",
                section.marker, entry.heading, entry.line
            ));
            for line in &entry.more {
                out.push_str(&format!("      {}\n", output.dim(line)));
            }
        }
        out.push('\n');
    }
    for (reason, count) in targets_not_configured(plan) {
        out.push_str(&format!(
            "{} rule{} not assessed: {reason}.\n",
            count,
            plural(count)
        ));
    }
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

fn short_fingerprint(fingerprint: &str) -> String {
    fingerprint.chars().take(19).collect()
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
