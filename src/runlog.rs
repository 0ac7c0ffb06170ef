//! What a run tells monitoring: one JSON line per run and cluster appended to `--log FILE`
//! (and the same facts as node_exporter metrics, [`crate::metrics`]).
//!
//! A line (one JSON object, keys in this order):
//!
//! ```json
//! {"time":"2026-11-22T10:00:00Z","stigfix_version":"0.1.0","command":"apply","cluster":"east",
//!  "targets":[{"kind":"ucp","endpoint":"https://ucp-east.example.mil","product":"MKE","version":"3.7.3"}],
//!  "changes_planned":12,"changes_applied":12,
//!  "findings":{"I":{"fix":0,"open":0,"unknown":0},"II":{"fix":0,"open":1,"unknown":0},"III":{"fix":0,"open":0,"unknown":0}},
//!  "snapshot":"20261122T100000.123456Z-1a2b3c","exit_code":0,"error":null,"duration_seconds":1.532}
//! ```
//!
//! `cluster` is `null` for a run without an inventory. `findings` are the rules that are not
//! compliant after the run, by CAT (I = high, II = medium, III = low) and status: after an apply
//! that succeeded, the rules it fixed are no longer `fix`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::assess::Status;
use crate::benchmark::Severity;
use crate::error::{Error, ExitStatus, IoContext, Result};
use crate::plan::Plan;
use crate::targets::TargetSpec;

/// What a command did on one cluster, filled in as it goes so that a failure still tells what
/// was read and planned.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The targets of the run (known before anything is read).
    pub specs: Vec<TargetSpec>,
    /// The plan, once made.
    pub plan: Option<Plan>,
    /// Changes applied and kept (an apply that was rolled back applied none).
    pub applied: usize,
    /// The snapshot the run wrote.
    pub snapshot: Option<String>,
    /// The plan's `fix` rules were applied and verified.
    pub fixed: bool,
}

impl Report {
    /// Rules by status after the run (the `fix` rules an apply fixed count as `pass`), per
    /// target key ([`target_key`]) and CAT.
    pub fn rule_counts(&self) -> BTreeMap<(String, Severity, Status), usize> {
        let mut counts = BTreeMap::new();
        if let Some(plan) = &self.plan {
            for rule in &plan.rules {
                let status = match rule.status {
                    Status::Fix if self.fixed => Status::Pass,
                    status => status,
                };
                let target = match &rule.target {
                    Some(spec) => target_key(spec),
                    None => rule.kind.as_str().to_string(),
                };
                *counts.entry((target, rule.severity, status)).or_default() += 1;
            }
        }
        counts
    }

    /// Changes the plan had.
    pub fn planned(&self) -> usize {
        self.plan.as_ref().map_or(0, Plan::change_count)
    }

    /// Findings (`fix`, `open`, `unknown`) after the run by CAT.
    pub fn findings(&self) -> BTreeMap<Severity, BTreeMap<Status, usize>> {
        let mut findings: BTreeMap<Severity, BTreeMap<Status, usize>> = BTreeMap::new();
        for severity in [Severity::High, Severity::Medium, Severity::Low] {
            let entry = findings.entry(severity).or_default();
            for status in [Status::Fix, Status::Open, Status::Unknown] {
                entry.insert(status, 0);
            }
        }
        for ((_, severity, status), count) in self.rule_counts() {
            if status.is_finding() {
                *findings
                    .entry(severity)
                    .or_default()
                    .entry(status)
                    .or_default() += count;
            }
        }
        findings
    }
}

/// How a target is named in logs and metric labels: `ucp:ucp.example.mil`, `host:/`.
pub fn target_key(spec: &TargetSpec) -> String {
    spec.id()
}

/// `I`, `II`, `III`: the CAT of a severity, as log keys and metric labels carry it.
pub fn cat(severity: Severity) -> &'static str {
    match severity {
        Severity::High => "I",
        Severity::Medium => "II",
        Severity::Low => "III",
    }
}

/// How one cluster's run ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The inventory's name of the cluster; `None` without an inventory.
    pub cluster: Option<String>,
    /// `plan`, `apply`, `check`.
    pub command: &'static str,
    pub report: Report,
    pub status: ExitStatus,
    /// The error's message (one line), when the run failed.
    pub error: Option<String>,
    /// What to do about the error (shown, not logged).
    pub hint: Option<String>,
    /// When the run started (`STIGFIX_TEST_NOW` in tests).
    pub started: time::OffsetDateTime,
    pub duration: Duration,
}

impl Outcome {
    /// Whether the run did its job (exit 0, or 2: it found drift).
    pub fn succeeded(&self) -> bool {
        matches!(self.status, ExitStatus::Success | ExitStatus::Pending)
    }

    /// The run's JSON line (without the newline).
    pub fn json_line(&self) -> String {
        let targets: Vec<TargetJson> = match &self.report.plan {
            Some(plan) => plan
                .targets
                .iter()
                .map(|target| TargetJson {
                    kind: target.spec.kind.as_str(),
                    endpoint: target.spec.endpoint.clone(),
                    product: target.product.as_ref().map(|p| p.name.clone()),
                    version: target.product.as_ref().and_then(|p| p.version.clone()),
                })
                .collect(),
            None => self
                .report
                .specs
                .iter()
                .map(|spec| TargetJson {
                    kind: spec.kind.as_str(),
                    endpoint: spec.endpoint.clone(),
                    product: None,
                    version: None,
                })
                .collect(),
        };
        let findings: BTreeMap<&str, BTreeMap<&str, usize>> = self
            .report
            .findings()
            .into_iter()
            .map(|(severity, statuses)| {
                (
                    cat(severity),
                    statuses
                        .into_iter()
                        .map(|(status, count)| (status.as_str(), count))
                        .collect(),
                )
            })
            .collect();
        let line = LineJson {
            time: self
                .started
                .replace_millisecond(self.started.millisecond())
                .unwrap_or(self.started)
                .format(&time::format_description::well_known::Rfc3339)
                .expect("timestamps format"),
            stigfix_version: env!("CARGO_PKG_VERSION"),
            command: self.command,
            cluster: self.cluster.as_deref(),
            targets,
            changes_planned: self.report.planned(),
            changes_applied: self.report.applied,
            findings,
            snapshot: self.report.snapshot.as_deref(),
            exit_code: self.status.code(),
            error: self.error.as_deref(),
            duration_seconds: (self.duration.as_secs_f64() * 1000.0).round() / 1000.0,
        };
        serde_json::to_string(&line).expect("log lines serialise")
    }
}

#[derive(Serialize)]
struct LineJson<'a> {
    time: String,
    stigfix_version: &'static str,
    command: &'static str,
    cluster: Option<&'a str>,
    targets: Vec<TargetJson>,
    changes_planned: usize,
    changes_applied: usize,
    findings: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    snapshot: Option<&'a str>,
    exit_code: u8,
    error: Option<&'a str>,
    duration_seconds: f64,
}

#[derive(Serialize)]
struct TargetJson {
    kind: &'static str,
    endpoint: String,
    product: Option<String>,
    version: Option<String>,
}

/// Append each outcome's line to `path` (created 0600 if missing), one `write` per line so
/// that lines of concurrent runs never mix.
pub fn append(path: &Path, outcomes: &[&Outcome]) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|error| {
        Error::io("open the run log", path, &error)
            .with_hint("--log names a file in a folder that exists and is writable")
    })?;
    for outcome in outcomes {
        let mut line = outcome.json_line();
        line.push('\n');
        file.write_all(line.as_bytes())
            .with_path("append to the run log", path)?;
    }
    file.sync_data().with_path("append to the run log", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_is_one_line_naming_its_targets_and_error() {
        let outcome = Outcome {
            cluster: Some("east".into()),
            command: "plan",
            report: Report {
                specs: vec![TargetSpec::new(
                    crate::targets::ucp::KIND,
                    "https://127.0.0.1:9",
                )],
                ..Report::default()
            },
            status: ExitStatus::Failure,
            error: Some("cannot reach ucp https://127.0.0.1:9".into()),
            hint: None,
            started: time::macros::datetime!(2026-11-22 10:00 UTC),
            duration: Duration::from_millis(1234),
        };
        let line = outcome.json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["time"], "2026-11-22T10:00:00Z");
        assert_eq!(value["cluster"], "east");
        assert_eq!(value["exit_code"], 1);
        assert_eq!(value["targets"][0]["kind"], "ucp");
        assert_eq!(value["targets"][0]["version"], serde_json::Value::Null);
        assert_eq!(value["findings"]["I"]["open"], 0);
        assert_eq!(value["duration_seconds"], 1.234);
        assert_eq!(value["error"], "cannot reach ucp https://127.0.0.1:9");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        append(&path, &[&outcome, &outcome]).unwrap();
        append(&path, &[&outcome]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
