//! A plan as Markdown, for change tickets and assessors.

use super::sections::{sections, targets_not_configured};
use super::{detail_lines, lines, summary_line, unfixable_line, waiver_text};
use crate::plan::Plan;

/// The plan as Markdown, for change tickets and assessors.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str("# stigfix plan\n\n");
    out.push_str(&format!(
        "- Created: {}\n- stigfix: {}\n- Plan digest: `{}` (the `digest` of the JSON plan applied must be this)\n- Playbooks: {}\n",
        plan.created_at,
        env!("CARGO_PKG_VERSION"),
        plan.digest(),
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
            "\n## {} `{}`\n\n{}Fingerprint of the live state: `{}`\n\n",
            target.spec.kind.as_str(),
            target.spec.endpoint,
            target
                .product
                .as_ref()
                .map(|product| format!("Product: {product}. "))
                .unwrap_or_default(),
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
    for section in sections(plan) {
        out.push_str(&format!("\n## {}\n\n", section.title));
        for entry in &section.entries {
            out.push_str(&format!("- **{}** {}\n", entry.heading, entry.line));
            for line in &entry.more {
                out.push_str(&format!("  - {line}\n"));
            }
        }
    }
    let not_configured = targets_not_configured(plan);
    if !not_configured.is_empty() {
        out.push_str("\n## Not assessed\n\n");
        for (reason, count) in not_configured {
            out.push_str(&format!("- {count} rule(s): {reason}\n"));
        }
    }
    if plan.change_count() > 0 {
        out.push_str(&format!(
            "\n## Backout\n\n`stigfix apply` writes a snapshot of the exact prior state of every target it changes before its first write, and prints its id. To undo the change: `stigfix rollback <SNAPSHOT> --yes` (or `stigfix rollback --last --yes` for the newest apply), run with the same snapshot folder. It restores what this change wrote and verifies it; a setting somebody changed since is reported and left alone unless `--force`.{}\n",
            if plan.targets.iter().any(|target| !target.actions.is_empty()) {
                " Then repeat the actions listed above (e.g. restart docker.service)."
            } else {
                ""
            }
        ));
    }
    let checklists = crate::checklist::build(plan, &crate::checklist::Context::default());
    if !checklists.is_empty() {
        out.push_str(&format!(
            "\n## Checklist summary\n\nPer asset, STIG and CAT, as `stigfix check --format ckl` writes them (STIG Viewer statuses; a rule of another asset is Not_Applicable).\n\n{}",
            crate::checklist::text::markdown_summary(&checklists)
        ));
    }
    out.push_str("\n## Rules\n\n| STIG ID | Vuln ID | CAT | Status | Title | Details |\n|---|---|---|---|---|---|\n");
    for rule in &plan.rules {
        let mut details = detail_lines(rule)
            .into_iter()
            .chain(rule.unfixable.iter().map(unfixable_line))
            .chain(rule.note.iter().filter(|_| rule.checks.is_empty()).cloned())
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
