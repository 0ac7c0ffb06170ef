//! The closing table of an inventory run: one row per cluster.
//!
//! ```text
//! CLUSTER  CHANGES  CAT I  CAT II  CAT III  RESULT          SNAPSHOT
//! east          12      0       1        0  applied (0)     20261122T100000.123456Z-1a2b3c
//! west           -      -       -        -  failed (1)      -
//! ```
//!
//! CHANGES are pending (plan, check) or applied and kept (apply); CAT I–III count the rules
//! that are not compliant after the run (`fix`, `open`, `unknown`). `-` where the cluster could
//! not be read.

use crate::benchmark::Severity;
use crate::error::ExitStatus;
use crate::output::Output;
use crate::runlog::Outcome;

use super::aggregate;

/// The table, and a last line with the counts and the exit code.
pub fn summary_table(outcomes: &[Outcome], output: &Output) -> String {
    let header = [
        "CLUSTER", "CHANGES", "CAT I", "CAT II", "CAT III", "RESULT", "SNAPSHOT",
    ];
    let mut rows: Vec<[String; 7]> = Vec::new();
    for outcome in outcomes {
        let read = outcome.report.plan.is_some();
        let dash = || "-".to_string();
        let changes = if !read {
            dash()
        } else if outcome.command == "apply" {
            outcome.report.applied.to_string()
        } else {
            outcome.report.planned().to_string()
        };
        let findings = outcome.report.findings();
        let cat = |severity: Severity| -> String {
            if read {
                findings
                    .get(&severity)
                    .map_or(0, |statuses| statuses.values().sum::<usize>())
                    .to_string()
            } else {
                dash()
            }
        };
        rows.push([
            outcome.cluster.clone().unwrap_or_default(),
            changes,
            cat(Severity::High),
            cat(Severity::Medium),
            cat(Severity::Low),
            format!("{} ({})", result_word(outcome), outcome.status.code()),
            outcome.report.snapshot.clone().unwrap_or_else(dash),
        ]);
    }
    let mut widths: Vec<usize> = header.iter().map(|title| title.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut text = String::new();
        for (index, cell) in cells.iter().enumerate() {
            let width = widths[index];
            let padded = if (1..=4).contains(&index) {
                format!("{cell:>width$}")
            } else if index + 1 == cells.len() {
                cell.clone()
            } else {
                format!("{cell:<width$}")
            };
            if index > 0 {
                text.push_str("  ");
            }
            text.push_str(&padded);
        }
        text.trim_end().to_string() + "\n"
    };
    let mut text = String::from("\n");
    text.push_str(&output.bold(line(header.iter().map(|t| t.to_string()).collect()).trim_end()));
    text.push('\n');
    for row in rows {
        text.push_str(&line(row.to_vec()));
    }
    let count = |wanted: &[ExitStatus]| {
        outcomes
            .iter()
            .filter(|outcome| wanted.contains(&outcome.status))
            .count()
    };
    let status = aggregate(outcomes.iter().map(|outcome| outcome.status));
    text.push_str(&format!(
        "{} cluster(s): {} ok, {} with changes or findings, {} failed, {} not restored; exit {}\n",
        outcomes.len(),
        count(&[ExitStatus::Success]),
        count(&[ExitStatus::Pending]),
        count(&[ExitStatus::Failure, ExitStatus::Usage]),
        count(&[ExitStatus::NeedsOperator]),
        status.code()
    ));
    text
}

fn result_word(outcome: &Outcome) -> &'static str {
    match outcome.status {
        ExitStatus::Success if outcome.report.applied > 0 => "applied",
        ExitStatus::Success => "ok",
        ExitStatus::Pending if outcome.report.planned() > 0 => "changes",
        ExitStatus::Pending => "findings",
        ExitStatus::Failure => "failed",
        ExitStatus::NeedsOperator => "NOT RESTORED",
        ExitStatus::Usage => "usage error",
    }
}
