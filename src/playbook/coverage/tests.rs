use std::collections::BTreeMap;

use super::*;
use crate::benchmark::embedded;
use crate::playbook::shipped;

/// The shipped playbooks' files, as the binary embeds them (for counting `id = ` lines).
fn shipped_text(name: &str) -> String {
    let path = format!("{}/playbooks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn every_rule_of_every_embedded_benchmark_is_in_its_shipped_playbook_once() {
    let playbooks = shipped().expect("the shipped playbooks load");
    let mut missing = Vec::new();
    let mut twice = Vec::new();
    for benchmark in embedded() {
        let of_benchmark: Vec<&Playbook> = playbooks
            .iter()
            .filter(|playbook| playbook.benchmark.id == benchmark.id)
            .collect();
        assert_eq!(
            of_benchmark.len(),
            1,
            "one shipped playbook for {} {}",
            benchmark.id,
            benchmark.release
        );
        let playbook = of_benchmark[0];
        assert_eq!(playbook.benchmark.release, benchmark.release);
        let file = playbook
            .source
            .rsplit('/')
            .next()
            .expect("a shipped playbook's name");
        let text = shipped_text(file);
        for stig_id in benchmark.rules.keys() {
            let parsed = playbook
                .rules
                .iter()
                .filter(|rule| &rule.meta.stig_id == stig_id)
                .count();
            let written = text
                .lines()
                .filter(|line| line.trim() == format!("id = \"{stig_id}\""))
                .count();
            match (parsed, written) {
                (0, 0) => missing.push(format!("{file}: {stig_id}")),
                (1, 1) => {}
                _ => twice.push(format!("{file}: {stig_id} ({written} times)")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "rules of the benchmarks that no shipped playbook holds (every rule must be enforce, check, workload or manual): {missing:#?}"
    );
    assert!(
        twice.is_empty(),
        "rules written more than once in one playbook: {twice:#?}"
    );
}

#[test]
fn every_playbook_covers_its_whole_benchmark_and_the_totals_are_101_and_44() {
    let coverage = coverage(&shipped().unwrap());
    for benchmark in &coverage {
        assert_eq!(
            benchmark.total(),
            benchmark.benchmark_rules,
            "{benchmark:?}"
        );
    }
    let totals: Vec<usize> = coverage.iter().map(BenchmarkCoverage::total).collect();
    assert_eq!(totals, [101, 44]);
}

#[test]
fn a_prevention_rule_names_rules_of_its_playbook_that_look_at_running_workloads() {
    let playbooks = shipped().unwrap();
    let mut prevention = 0;
    for playbook in &playbooks {
        let by_id: BTreeMap<&str, &Rule> = playbook
            .rules
            .iter()
            .map(|rule| (rule.meta.stig_id.as_str(), rule))
            .collect();
        for rule in playbook.rules.iter().filter(|rule| rule.is_prevention()) {
            prevention += 1;
            for id in &rule.prevents {
                let prevented = by_id[id.as_str()];
                assert!(
                    matches!(
                        Coverage::of(prevented),
                        Coverage::Workload | Coverage::NotAssessed
                    ),
                    "{} prevents {id}, which is {:?}, not a check of running workloads",
                    rule.meta.stig_id,
                    Coverage::of(prevented)
                );
                assert!(
                    rule.note.as_deref().is_some_and(|note| note.contains(id)),
                    "{}'s note must name {id}, which it prevents",
                    rule.meta.stig_id
                );
            }
        }
    }
    assert!(prevention > 0);
}

#[test]
fn every_manual_rule_says_why_and_what_to_look_at() {
    for rule in shipped()
        .unwrap()
        .iter()
        .flat_map(|playbook| &playbook.rules)
        .filter(|rule| rule.mode == Mode::Manual)
    {
        let note = rule.note.as_deref().unwrap_or_default();
        assert!(
            note.len() >= 80,
            "{}: a manual rule's note says why a person must look and what to look at: {note:?}",
            rule.meta.stig_id
        );
    }
}

/// Checks that the part of `file` between the markers is `body`; with `STIGFIX_BLESS` set,
/// writes it first.
fn assert_generated(file: &str, marker: &str, body: &str) {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let expected = replace_between(&text, marker, body)
        .unwrap_or_else(|| panic!("{file} has no `<!-- {marker}:begin -->` … `:end -->` lines"));
    if std::env::var_os("STIGFIX_BLESS").is_some() && expected != text {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert!(
        expected == text,
        "{file}'s {marker} table does not match the shipped playbooks: run `STIGFIX_BLESS=1 cargo test --lib coverage` and commit it"
    );
}

#[test]
fn the_readme_coverage_table_is_the_shipped_playbooks_coverage() {
    let table = coverage_table(&coverage(&shipped().unwrap()));
    assert_generated("README.md", "coverage", &table);
}

#[test]
fn the_table_of_manual_rules_is_the_shipped_playbooks_manual_rules() {
    let table = manual_table(&shipped().unwrap());
    assert_generated("playbooks/README.md", "manual-rules", &table);
}

#[test]
fn the_table_counts_each_kind_and_totals_each_row() {
    let one = BenchmarkCoverage {
        name: "A V1R1".into(),
        benchmark_rules: 3,
        counts: BTreeMap::from([(Coverage::Fixed, 2), (Coverage::Manual, 1)]),
    };
    let two = BenchmarkCoverage {
        name: "B V2R1".into(),
        benchmark_rules: 1,
        counts: BTreeMap::from([(Coverage::Manual, 1)]),
    };
    let table = coverage_table(&[one, two]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "| how | A V1R1 | B V2R1 | total |");
    assert_eq!(lines[1], "|---|---:|---:|---:|");
    assert_eq!(lines[2], "| fixed by `apply` (enforce) | 2 | 0 | 2 |");
    assert!(lines.contains(&"| left to a person, with what to look at (manual) | 1 | 1 | 2 |"));
    assert_eq!(
        lines.last(),
        Some(&"| **every rule of the benchmark** | 3 | 1 | 4 |")
    );
}

#[test]
fn text_between_markers_is_replaced_and_missing_markers_are_none() {
    let text = "a\n<!-- t:begin -->\nold\n<!-- t:end -->\nb\n";
    assert_eq!(
        replace_between(text, "t", "new\n").as_deref(),
        Some("a\n<!-- t:begin -->\nnew\n<!-- t:end -->\nb\n")
    );
    assert_eq!(replace_between("no markers", "t", "x"), None);
}
