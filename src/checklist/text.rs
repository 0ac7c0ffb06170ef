//! Checklists for people: `stigfix check` on a terminal (counts, `!` open findings, `?` rules
//! stigfix could not determine), and the per-asset, per-CAT summary
//! table the Markdown report carries (the same counts the checklists hold).

use super::{Checklist, CklStatus};
use crate::assess::{Outcome, Status};
use crate::output::Output;
use crate::render::{check_line, waiver_text};

/// `Open 2, NotAFinding 10, Not_Applicable 40, Not_Reviewed 49`.
fn counts_line(counts: &[usize; 4]) -> String {
    CklStatus::ALL
        .iter()
        .zip(counts)
        .map(|(status, count)| format!("{} {count}", status.ckl()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `stigfix check` on a terminal: each checklist's counts per CAT and its open findings.
pub fn text(checklists: &[Checklist], insecure: bool, output: &Output) -> String {
    let mut out = String::new();
    if insecure {
        out.push_str(&output.red("TLS verification was OFF (--insecure) for this check.\n\n"));
    }
    let mut totals = [0usize; 4];
    for checklist in checklists {
        out.push_str(&format!(
            "{} — {} ({})\n",
            output.bold(&checklist.asset.describe_targets()),
            checklist.stig_name(),
            checklist.benchmark.release_info
        ));
        if let Some(source) = &checklist.merged_from {
            out.push_str(&format!("  merged with {source}\n"));
        }
        for (severity, counts) in checklist.summary() {
            for (total, count) in totals.iter_mut().zip(counts) {
                *total += count;
            }
            out.push_str(&format!(
                "  {:<8} {}\n",
                severity.category(),
                counts_line(&counts)
            ));
        }
        for rule in checklist
            .rules
            .iter()
            .filter(|rule| rule.status == CklStatus::Open)
        {
            let waiver = rule
                .result
                .as_ref()
                .and_then(|result| result.waiver.as_ref())
                .map(waiver_text);
            let detail = waiver
                .or_else(|| {
                    rule.result.as_ref().and_then(|result| {
                        result
                            .failing()
                            .next()
                            .or(result.checks.first())
                            .map(check_line)
                    })
                })
                .unwrap_or_else(|| format!("stigfix: {}", rule.stigfix.as_str()));
            out.push_str(&format!(
                "  {} {} ({}, {}) {}\n",
                output.red("!"),
                rule.meta.stig_id,
                rule.severity().category(),
                rule.meta.vuln_id,
                detail
            ));
        }
        for rule in checklist
            .rules
            .iter()
            .filter(|rule| rule.stigfix == Status::Unknown && rule.status == CklStatus::NotReviewed)
        {
            let reason = rule
                .result
                .iter()
                .flat_map(|result| result.checks.iter())
                .find(|check| matches!(check.outcome, Outcome::Unknown(_)))
                .map(check_line)
                .unwrap_or_default();
            out.push_str(&format!(
                "  {} {} ({}, {}) could not be determined: {reason}\n",
                output.yellow("?"),
                rule.meta.stig_id,
                rule.severity().category(),
                rule.meta.vuln_id,
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{} checklist(s): {}\n",
        checklists.len(),
        counts_line(&totals)
    ));
    out
}

/// The Markdown table: a row per asset, STIG and CAT.
pub fn markdown_summary(checklists: &[Checklist]) -> String {
    let mut out = String::from(
        "| Asset | STIG | CAT | Open | NotAFinding | Not_Applicable | Not_Reviewed |\n|---|---|---|---|---|---|---|\n",
    );
    for checklist in checklists {
        for (severity, counts) in checklist.summary() {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                checklist.asset.describe_targets().replace('|', "\\|"),
                checklist.stig_name(),
                severity.category(),
                counts[0],
                counts[1],
                counts[2],
                counts[3]
            ));
        }
    }
    out
}
