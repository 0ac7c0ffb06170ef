//! MITRE Heimdall Data Format (HDF, InSpec's exec JSON) for Heimdall and the SAF CLI: one
//! profile per file (the STIG), one control per rule with the STIG tags MITRE's profiles carry
//! (`gid`, `rid`, `stig_id`, `gtitle`, `severity`, `cci`, `nist`, `legacy`, `fix_id`,
//! `check_id`, `documentable`), and one result per control whose status gives back stigfix's
//! STIG Viewer status through `saf convert hdf2ckl`: `passed` → NotAFinding, `failed` → Open (a
//! waiver in `waiver_data`), `skipped` (or `error` when stigfix could not determine it) →
//! Not_Reviewed, and impact 0 → Not_Applicable.

use serde_json::{Value, json};

use super::{Checklist, ChecklistRule, CklStatus};
use crate::assess::Status;
use crate::benchmark::Severity;
use crate::values::fingerprint;

/// CCI → NIST SP 800-53 control for the embedded benchmarks' CCIs (see the file's header).
const CCI_NIST: &str = include_str!("cci_nist.tsv");

/// The NIST controls of some CCIs, each once, in order (unknown CCIs are left out).
pub fn nist(ccis: &[String]) -> Vec<String> {
    let mut controls: Vec<String> = Vec::new();
    for cci in ccis {
        let control = CCI_NIST
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once('\t'))
            .find(|(id, _)| id == cci)
            .map(|(_, control)| control.to_string());
        if let Some(control) = control
            && !controls.contains(&control)
        {
            controls.push(control);
        }
    }
    controls
}

/// InSpec's impact of a severity.
fn impact(severity: Severity) -> f64 {
    match severity {
        Severity::High => 0.7,
        Severity::Medium => 0.5,
        Severity::Low => 0.3,
    }
}

/// The HDF text of a checklist.
pub fn write(checklist: &Checklist) -> String {
    let benchmark = &checklist.benchmark;
    let controls: Vec<Value> = checklist
        .rules
        .iter()
        .map(|rule| control(checklist, rule))
        .collect();
    let ids: Vec<&str> = checklist
        .rules
        .iter()
        .map(|rule| rule.meta.vuln_id.as_str())
        .collect();
    let hdf = json!({
        "platform": {
            "name": "stigfix",
            "release": env!("CARGO_PKG_VERSION"),
            "target_id": checklist.asset.data.host_name,
        },
        "version": env!("CARGO_PKG_VERSION"),
        "statistics": {},
        "profiles": [{
            "name": benchmark.id,
            "title": benchmark.title,
            "version": benchmark.release,
            "summary": benchmark.release_info,
            "maintainer": "DISA",
            "license": "",
            "copyright": "",
            "copyright_email": "",
            "sha256": fingerprint(format!("{}\0{}\0{}", benchmark.id, benchmark.release, checklist.asset.key).as_bytes()).trim_start_matches("sha256:"),
            "status": "loaded",
            "supports": [],
            "attributes": [],
            "groups": [{"id": benchmark.id, "title": benchmark.title, "controls": ids}],
            "controls": controls,
        }],
    });
    let mut text = serde_json::to_string_pretty(&hdf).expect("HDF serialises");
    text.push('\n');
    text
}

fn control(checklist: &Checklist, rule: &ChecklistRule) -> Value {
    let meta = &rule.meta;
    let extra = &meta.extra;
    let (status, message_key) = match rule.status {
        CklStatus::NotAFinding => ("passed", "message"),
        CklStatus::Open => ("failed", "message"),
        CklStatus::NotApplicable => ("skipped", "skip_message"),
        CklStatus::NotReviewed if rule.stigfix == Status::Unknown => ("error", "message"),
        CklStatus::NotReviewed => ("skipped", "skip_message"),
    };
    let mut result = json!({
        "status": status,
        "code_desc": format!("{} {} on {}: {}", meta.stig_id, meta.vuln_id, checklist.asset.data.label(), rule.stigfix.as_str()),
        "start_time": checklist.checked_at,
        "resource": checklist.asset.describe_targets(),
    });
    result[message_key] = Value::String(rule.finding_details.clone());
    let mut tags = json!({
        "gid": meta.vuln_id,
        "rid": meta.rule_id,
        "stig_id": meta.stig_id,
        "gtitle": meta.srg,
        "fix_id": extra.fix_id,
        "check_id": extra.check_id,
        "severity": meta.severity.as_str(),
        "cci": meta.ccis,
        "nist": nist(&meta.ccis),
        "legacy": extra.legacy_ids,
        "documentable": extra.field("Documentable") == "true",
    });
    if let Some(severity) = rule.severity_override {
        tags["severityoverride"] = json!(severity.as_str());
        tags["severityjustification"] = json!(rule.severity_justification);
    }
    let mut control = json!({
        "id": meta.vuln_id,
        "title": meta.title,
        "desc": meta.discussion,
        "descriptions": [
            {"label": "default", "data": meta.discussion},
            {"label": "check", "data": meta.check_text},
            {"label": "fix", "data": meta.fix_text},
        ],
        "impact": if rule.status == CklStatus::NotApplicable { 0.0 } else { impact(rule.severity()) },
        "refs": [],
        "tags": tags,
        "code": null,
        "source_location": {},
        "results": [result],
    });
    if !rule.comments.is_empty() {
        control["descriptions"]
            .as_array_mut()
            .expect("an array")
            .push(json!({"label": "comments", "data": rule.comments}));
    }
    if let Some(waiver) = rule
        .result
        .as_ref()
        .and_then(|result| result.waiver.as_ref())
        .filter(|_| rule.stigfix == Status::Waived)
    {
        control["waiver_data"] = json!({
            "justification": waiver.justification,
            "expiration_date": waiver.expires.map(|date| date.to_string()),
            "run": true,
            "skipped_due_to_waiver": false,
            "message": super::details::comments(rule),
        });
    }
    control
}
