//! A plan as Markdown, for change tickets and assessors.

use super::{detail_lines, lines, summary_line, unfixable_line, waiver_text};
use crate::plan::Plan;

/// The plan as Markdown, for change tickets and assessors.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str("# stigfix plan\n\n");
    out.push_str(&format!(
        "- Created: {}\n- stigfix: {}\n- Playbooks: {}\n",
        plan.created_at,
        env!("CARGO_PKG_VERSION"),
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
            target.spec.kind.as_str(),
            target.spec.endpoint,
            target.fingerprint
        ));
        for note in &target.notes {
            out.push_str(&format!("> **Note:** {note}\n\n"));
        }
        let changes = target.changes();
        if changes.is_empty() {
            out.push_str("No changes.\n");
            continue;
        }
        out.push_str("| | Setting | Before | After | STIG IDs |\n|---|---|---|---|---|\n");
        for line in lines(&changes) {
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
                change.before.display().replace('|', "\\|"),
                change.after.display().replace('|', "\\|"),
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
        let mut details = detail_lines(rule)
            .into_iter()
            .chain(rule.unfixable.iter().map(unfixable_line))
            .collect::<Vec<_>>()
            .join("; ");
        if let Some(waiver) = &rule.waiver {
            details = waiver_text(waiver);
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            rule.stig_id,
            rule.vuln_id,
            rule.severity.category(),
            status_words(rule.status),
            rule.title.replace('|', "\\|"),
            details.replace('|', "\\|").replace('\n', " ")
        ));
    }
    out
}

/// A status as the report's table says it.
fn status_words(status: crate::assess::Status) -> &'static str {
    use crate::assess::Status;
    match status {
        Status::NotAssessed => "not assessed",
        Status::NotApplicable => "not applicable",
        other => other.as_str(),
    }
}
