//! node_exporter textfile metrics (`--metrics FILE`): the last run of each cluster and command,
//! in the Prometheus text exposition format, written atomically (a temporary file in the same
//! folder, then a rename) so the collector never reads half a file. No timestamps (the
//! collector refuses them); base units (seconds).
//!
//! The file keeps the series of the clusters (and commands) this run did not touch, so runs
//! that pick different clusters can share it. A run that could not read a cluster replaces
//! only its `stigfix_last_run_*` series: the last known findings stay, and
//! `stigfix_last_success_timestamp_seconds` says how old they are.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::assess::Status;
use crate::error::{Error, IoContext, Result};
use crate::runlog::{Outcome, cat, target_key};

/// Every metric: name and help. All are gauges.
pub const METRICS: &[(&str, &str)] = &[
    (
        LAST_RUN,
        "Unix time the last run of this command on the cluster started.",
    ),
    (
        LAST_SUCCESS,
        "Unix time of the last run that did its job (exit 0, or 2: drift found).",
    ),
    (
        EXIT_CODE,
        "Exit code of the last run (0 ok, 1 failed, 2 changes or findings, 3 not restored).",
    ),
    (DURATION, "Wall time of the last run."),
    (
        CHANGES,
        "Changes of the last run: pending (plan, check) or applied and kept (apply).",
    ),
    (
        RULES,
        "Rules by CAT (I high, II medium, III low) and status after the last run that read the cluster.",
    ),
    (
        TARGET_INFO,
        "A target of the cluster with the product and version it runs (always 1).",
    ),
];

pub const LAST_RUN: &str = "stigfix_last_run_timestamp_seconds";
pub const LAST_SUCCESS: &str = "stigfix_last_success_timestamp_seconds";
pub const EXIT_CODE: &str = "stigfix_last_run_exit_code";
pub const DURATION: &str = "stigfix_last_run_duration_seconds";
pub const CHANGES: &str = "stigfix_last_run_changes";
pub const RULES: &str = "stigfix_rules";
pub const TARGET_INFO: &str = "stigfix_target_info";

/// The series a run that read nothing replaces.
const RUN_ONLY: [&str; 3] = [LAST_RUN, EXIT_CODE, DURATION];

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    fn new(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            value,
        }
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// `(cluster, command)`: the run a sample belongs to.
    fn run(&self) -> (String, String) {
        (
            self.label("cluster").unwrap_or_default().to_string(),
            self.label("command").unwrap_or_default().to_string(),
        )
    }
}

/// The samples of one cluster's run.
pub fn samples(outcome: &Outcome) -> Vec<Sample> {
    let cluster = outcome.cluster.as_deref().unwrap_or_default();
    let command = outcome.command;
    let run = [("cluster", cluster), ("command", command)];
    let started = outcome.started.unix_timestamp() as f64;
    let mut samples = vec![
        Sample::new(LAST_RUN, &run, started),
        Sample::new(EXIT_CODE, &run, f64::from(outcome.status.code())),
        Sample::new(DURATION, &run, outcome.duration.as_secs_f64()),
    ];
    if outcome.succeeded() {
        samples.push(Sample::new(LAST_SUCCESS, &run, started));
    }
    let Some(plan) = &outcome.report.plan else {
        return samples;
    };
    for target in &plan.targets {
        let key = target_key(&target.spec);
        let changes = if command == "apply" {
            if outcome.report.applied > 0 {
                target.edits.len()
            } else {
                0
            }
        } else {
            target.edits.len()
        };
        let labels = [
            ("cluster", cluster),
            ("command", command),
            ("target", key.as_str()),
        ];
        samples.push(Sample::new(CHANGES, &labels, changes as f64));
        let (product, version) = match &target.product {
            Some(product) => (product.name.as_str(), product.version.as_deref()),
            None => ("", None),
        };
        samples.push(Sample::new(
            TARGET_INFO,
            &[
                ("cluster", cluster),
                ("command", command),
                ("target", key.as_str()),
                ("endpoint", target.spec.endpoint.as_str()),
                ("product", product),
                ("version", version.unwrap_or_default()),
            ],
            1.0,
        ));
    }
    let counts = outcome.report.rule_counts();
    let targets: BTreeSet<&String> = counts.keys().map(|(target, _, _)| target).collect();
    for target in targets {
        for severity in [
            crate::benchmark::Severity::High,
            crate::benchmark::Severity::Medium,
            crate::benchmark::Severity::Low,
        ] {
            for status in Status::ALL {
                let count = counts
                    .get(&(target.clone(), severity, status))
                    .copied()
                    .unwrap_or(0);
                samples.push(Sample::new(
                    RULES,
                    &[
                        ("cluster", cluster),
                        ("command", command),
                        ("target", target.as_str()),
                        ("cat", cat(severity)),
                        ("status", status.as_str()),
                    ],
                    count as f64,
                ));
            }
        }
    }
    samples
}

/// Merge this run's outcomes into the metrics file at `path` and replace it atomically.
pub fn write(path: &Path, outcomes: &[&Outcome]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| Error::usage(format!("--metrics {}: not a file name", path.display())))?;
    // Runs that share the file take turns to read, merge and replace it.
    let lock_path = dir.join(format!(".{name}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| {
            Error::io("write the metrics file in", dir, &error)
                .with_hint("--metrics names a file in a folder that exists and is writable (node_exporter's --collector.textfile.directory)")
        })?;
    lock.lock().with_path("lock", &lock_path)?;
    let old = match std::fs::read_to_string(path) {
        Ok(text) => parse(&text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => return Err(Error::io("read the metrics file", path, &error)),
    };
    let text = render(&merge(old, outcomes));
    let temporary: PathBuf = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary).with_path("write", &temporary)?;
        file.write_all(text.as_bytes())
            .with_path("write", &temporary)?;
        // node_exporter runs as another user: readable by all, whatever the umask.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .with_path("write", &temporary)?;
        file.sync_all().with_path("write", &temporary)?;
        std::fs::rename(&temporary, path).with_path("write", path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// The old samples of runs this one did not replace, then this run's.
fn merge(old: Vec<Sample>, outcomes: &[&Outcome]) -> Vec<Sample> {
    let mut merged: Vec<Sample> = old
        .into_iter()
        .filter(|sample| {
            let run = sample.run();
            match outcomes.iter().find(|outcome| {
                outcome.cluster.as_deref().unwrap_or_default() == run.0 && outcome.command == run.1
            }) {
                None => true,
                Some(outcome) if outcome.report.plan.is_some() => {
                    // The last success is carried over a failed run.
                    sample.name == LAST_SUCCESS && !outcome.succeeded()
                }
                Some(outcome) => {
                    let replaced = RUN_ONLY.contains(&sample.name.as_str())
                        || (sample.name == LAST_SUCCESS && outcome.succeeded());
                    !replaced
                }
            }
        })
        .collect();
    for outcome in outcomes {
        merged.extend(samples(outcome));
    }
    merged
}

/// The exposition text: each metric's `# HELP` and `# TYPE`, then its samples sorted by labels.
pub fn render(samples: &[Sample]) -> String {
    let mut text = String::new();
    for (name, help) in METRICS {
        let mut lines: Vec<String> = samples
            .iter()
            .filter(|sample| sample.name == *name)
            .map(sample_line)
            .collect();
        if lines.is_empty() {
            continue;
        }
        lines.sort();
        lines.dedup();
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} gauge");
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

fn sample_line(sample: &Sample) -> String {
    let labels: Vec<String> = sample
        .labels
        .iter()
        .map(|(key, value)| format!("{key}=\"{}\"", escape(value)))
        .collect();
    let value = if sample.value.fract() == 0.0 && sample.value.abs() < 1e15 {
        format!("{}", sample.value as i64)
    } else {
        format!("{}", sample.value)
    };
    if labels.is_empty() {
        format!("{} {value}", sample.name)
    } else {
        format!("{}{{{}}} {value}", sample.name, labels.join(","))
    }
}

/// A label value as the exposition format writes it: `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The samples of a file this module wrote (lines it cannot read, and metrics it does not
/// know, are dropped: the file is stigfix's own).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (name, rest) = match line.find('{') {
        Some(brace) => (&line[..brace], &line[brace..]),
        None => line.split_once(' ')?,
    };
    if !METRICS.iter().any(|(known, _)| *known == name) {
        return None;
    }
    let mut labels = Vec::new();
    let mut rest = rest;
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let mut key = String::new();
        loop {
            let (index, c) = chars.next()?;
            match c {
                '}' => {
                    rest = &inner[index + 1..];
                    break;
                }
                ',' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        let (_, c) = chars.next()?;
                        match c {
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            '"' => break,
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        }
    }
    let value = rest.trim().parse::<f64>().ok()?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitStatus;
    use crate::runlog::Report;
    use std::time::Duration;

    fn outcome(cluster: &str, status: ExitStatus) -> Outcome {
        Outcome {
            cluster: Some(cluster.into()),
            command: "plan",
            report: Report::default(),
            status,
            error: None,
            hint: None,
            started: time::macros::datetime!(2026-11-22 10:00 UTC),
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn samples_render_and_parse_back() {
        let samples = vec![
            Sample::new(LAST_RUN, &[("cluster", "a\"b\\c\nd")], 1.0),
            Sample::new(DURATION, &[("cluster", "e")], 0.25),
        ];
        let text = render(&samples);
        assert!(
            text.contains("stigfix_last_run_timestamp_seconds{cluster=\"a\\\"b\\\\c\\nd\"} 1\n")
        );
        assert!(text.contains("# TYPE stigfix_last_run_duration_seconds gauge\n"));
        assert_eq!(parse(&text), samples);
    }

    #[test]
    fn a_run_keeps_other_clusters_and_a_failed_run_keeps_the_last_success() {
        let first = merge(
            Vec::new(),
            &[
                &outcome("east", ExitStatus::Success),
                &outcome("west", ExitStatus::Pending),
            ],
        );
        let mut later = outcome("east", ExitStatus::Failure);
        later.started = time::macros::datetime!(2026-11-23 10:00 UTC);
        let merged = merge(parse(&render(&first)), &[&later]);
        let find = |name: &str, cluster: &str| -> Vec<f64> {
            merged
                .iter()
                .filter(|s| s.name == name && s.label("cluster") == Some(cluster))
                .map(|s| s.value)
                .collect()
        };
        let day1 = time::macros::datetime!(2026-11-22 10:00 UTC).unix_timestamp() as f64;
        let day2 = time::macros::datetime!(2026-11-23 10:00 UTC).unix_timestamp() as f64;
        assert_eq!(find(LAST_RUN, "east"), [day2]);
        assert_eq!(find(EXIT_CODE, "east"), [1.0]);
        assert_eq!(find(LAST_SUCCESS, "east"), [day1]);
        assert_eq!(find(LAST_SUCCESS, "west"), [day1]);
        assert_eq!(find(EXIT_CODE, "west"), [2.0]);
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stigfix.prom");
        write(&path, &[&outcome("east", ExitStatus::Success)]).unwrap();
        write(&path, &[&outcome("west", ExitStatus::Success)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("cluster=\"east\""), "{text}");
        assert!(text.contains("cluster=\"west\""), "{text}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".prom") || name.ends_with(".tmp"))
            .collect();
        assert_eq!(names, ["stigfix.prom"]);
    }
}
