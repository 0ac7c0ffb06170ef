//! What playbooks do with every rule of their benchmarks, counted: the README's "Coverage" table
//! and the table of manual rules in `playbooks/README.md` are generated from here, and tests
//! check that both files match the shipped playbooks.

use std::collections::BTreeMap;

use super::{Mode, Playbook, Rule};

/// How a rule is covered. Every rule of a playbook is exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Coverage {
    /// `apply` writes the setting (mode enforce).
    Fixed,
    /// Configuration that keeps what other rules look for from happening (an enforced rule
    /// with `prevents`).
    Prevented,
    /// Assessed from settings, reported, never written (mode check).
    Checked,
    /// Assessed on the running containers, services and pods (the `workload` target).
    Workload,
    /// A person reviews it, with the rule's note (mode manual).
    Manual,
    /// Reported as not assessed by this version (mode not-assessed).
    NotAssessed,
}

impl Coverage {
    /// Every kind, in the order the tables list them.
    pub const ALL: [Coverage; 6] = [
        Coverage::Fixed,
        Coverage::Prevented,
        Coverage::Checked,
        Coverage::Workload,
        Coverage::Manual,
        Coverage::NotAssessed,
    ];

    /// How `rule` is covered.
    pub fn of(rule: &Rule) -> Coverage {
        if rule.target.as_str() == "workload" {
            return Coverage::Workload;
        }
        match rule.mode {
            Mode::Enforce if rule.is_prevention() => Coverage::Prevented,
            Mode::Enforce => Coverage::Fixed,
            Mode::Check => Coverage::Checked,
            Mode::Manual => Coverage::Manual,
            Mode::NotAssessed => Coverage::NotAssessed,
        }
    }

    /// The row label of the README's table.
    pub fn label(self) -> &'static str {
        match self {
            Coverage::Fixed => "fixed by `apply` (enforce)",
            Coverage::Prevented => "prevented by configuration (enforce, `prevents`)",
            Coverage::Checked => "checked automatically, never changed (check)",
            Coverage::Workload => "checked on running workloads (`workload` target)",
            Coverage::Manual => "left to a person, with what to look at (manual)",
            Coverage::NotAssessed => "not assessed by this version (not-assessed)",
        }
    }
}

/// The coverage of one playbook's benchmark.
#[derive(Debug)]
pub struct BenchmarkCoverage {
    /// `Docker Enterprise 2.x Linux/UNIX V2R2`.
    pub name: String,
    /// Rules in the benchmark (the XCCDF).
    pub benchmark_rules: usize,
    pub counts: BTreeMap<Coverage, usize>,
}

impl BenchmarkCoverage {
    pub fn count(&self, coverage: Coverage) -> usize {
        self.counts.get(&coverage).copied().unwrap_or(0)
    }

    /// Rules of the playbook, all kinds together.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

/// The coverage of each playbook, in the playbooks' order.
pub fn coverage(playbooks: &[Playbook]) -> Vec<BenchmarkCoverage> {
    playbooks
        .iter()
        .map(|playbook| {
            let mut counts = BTreeMap::new();
            for rule in &playbook.rules {
                *counts.entry(Coverage::of(rule)).or_insert(0) += 1;
            }
            let title = &playbook.benchmark.title;
            let short = title
                .strip_suffix(" Security Technical Implementation Guide")
                .unwrap_or(title);
            BenchmarkCoverage {
                name: format!("{short} {}", playbook.benchmark.release),
                benchmark_rules: playbook.benchmark.rules.len(),
                counts,
            }
        })
        .collect()
}

/// The README's Coverage table: a row per kind, a column per benchmark and the total.
pub fn coverage_table(coverage: &[BenchmarkCoverage]) -> String {
    let mut text = String::from("| how |");
    for benchmark in coverage {
        text.push_str(&format!(" {} |", benchmark.name));
    }
    text.push_str(" total |\n|---|");
    text.push_str(&"---:|".repeat(coverage.len() + 1));
    text.push('\n');
    let row = |label: &str, numbers: Vec<usize>| {
        let total: usize = numbers.iter().sum();
        let cells: String = numbers.iter().map(|n| format!(" {n} |")).collect();
        format!("| {label} |{cells} {total} |\n")
    };
    for kind in Coverage::ALL {
        let numbers = coverage.iter().map(|b| b.count(kind)).collect();
        text.push_str(&row(kind.label(), numbers));
    }
    let totals = coverage.iter().map(BenchmarkCoverage::total).collect();
    text.push_str(&row("**every rule of the benchmark**", totals));
    text
}

/// The table of manual rules in `playbooks/README.md`: each with its target and its note (why a
/// person, and what to look at).
pub fn manual_table(playbooks: &[Playbook]) -> String {
    let mut text = String::from(
        "| STIG ID | CAT | target | why a person, and what to look at |\n|---|---|---|---|\n",
    );
    for rule in playbooks
        .iter()
        .flat_map(|playbook| &playbook.rules)
        .filter(|rule| rule.mode == Mode::Manual)
    {
        let note = rule.note.as_deref().unwrap_or_default().replace('|', "\\|");
        text.push_str(&format!(
            "| {} ({}) | {} | {} | {note} |\n",
            rule.meta.stig_id,
            rule.meta.vuln_id,
            rule.meta.severity.category().trim_start_matches("CAT "),
            rule.target.as_str(),
        ));
    }
    text
}

/// `text` with what lies between the lines `<!-- {marker}:begin -->` and `<!-- {marker}:end -->`
/// replaced by `body`; `None` when the markers are missing.
pub fn replace_between(text: &str, marker: &str, body: &str) -> Option<String> {
    let begin = format!("<!-- {marker}:begin -->\n");
    let end = format!("<!-- {marker}:end -->");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    Some(format!("{}{body}{}", &text[..start], &text[stop..]))
}

#[cfg(test)]
mod tests;
