//! DISA XCCDF benchmarks: the source of every rule's identifiers and texts.
//!
//! The two benchmarks stigfix ships playbooks for are embedded in the binary (unmodified copies in
//! `stig/`, provenance in `stig/README.md`; `build.rs` parses them at build time), so a playbook names only a STIG ID and its desired
//! state; title, severity, Vuln ID, Rule ID, CCIs, check and fix text come from here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, IoContext, Result};

mod xccdf;

/// Rule metadata of the embedded benchmarks, parsed by `build.rs` from `stig/*.xml`.
struct StaticRule {
    stig_id: &'static str,
    vuln_id: &'static str,
    rule_id: &'static str,
    severity: &'static str,
    title: &'static str,
    discussion: &'static str,
    check_text: &'static str,
    fix_text: &'static str,
    ccis: &'static [&'static str],
    srg: &'static str,
}

struct StaticBenchmark {
    id: &'static str,
    title: &'static str,
    release: &'static str,
    release_info: &'static str,
    source: &'static str,
    rules: &'static [StaticRule],
}

include!(concat!(env!("OUT_DIR"), "/embedded_benchmarks.rs"));

/// CAT I/II/III as XCCDF severities.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// "CAT I" for high, and so on.
    pub fn category(self) -> &'static str {
        match self {
            Severity::High => "CAT I",
            Severity::Medium => "CAT II",
            Severity::Low => "CAT III",
        }
    }
}

/// One rule of a benchmark, as DISA published it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuleMeta {
    /// STIG ID (XCCDF `<version>`), e.g. `DKER-EE-004370`.
    pub stig_id: String,
    /// Vuln / Group ID, e.g. `V-235847`.
    pub vuln_id: String,
    /// Rule ID, e.g. `SV-235847r961770_rule`.
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    pub discussion: String,
    pub check_text: String,
    pub fix_text: String,
    pub ccis: Vec<String>,
    /// The SRG requirement (Group title), e.g. `SRG-APP-000485`.
    pub srg: String,
}

/// A parsed XCCDF benchmark.
#[derive(Debug)]
pub struct Benchmark {
    /// Benchmark id, e.g. `Docker_Enterprise_2-x_Linux-UNIX_STIG`.
    pub id: String,
    pub title: String,
    /// e.g. `V2R2`.
    pub release: String,
    /// `Release: 2 Benchmark Date: 24 Jul 2024`.
    pub release_info: String,
    pub source: String,
    /// Rules by STIG ID.
    pub rules: BTreeMap<String, RuleMeta>,
}

impl Benchmark {
    pub fn rule(&self, stig_id: &str) -> Option<&RuleMeta> {
        self.rules.get(stig_id)
    }

    /// The STIG ID closest to `stig_id` by edit distance, for "did you mean" hints.
    pub fn nearest(&self, stig_id: &str) -> Option<&str> {
        self.rules
            .keys()
            .map(|candidate| (edit_distance(candidate, stig_id), candidate))
            .filter(|(distance, _)| *distance <= 3)
            .min()
            .map(|(_, candidate)| candidate.as_str())
    }

    /// Parse an XCCDF 1.1 document. `source` names where it came from, for errors.
    pub fn parse(xml: &str, source: &str) -> Result<Benchmark> {
        let parsed = xccdf::parse(xml, source).map_err(Error::new)?;
        let rules = parsed
            .rules
            .into_iter()
            .map(|rule| {
                let meta = RuleMeta {
                    severity: Severity::parse(&rule.severity).expect("checked by the parser"),
                    stig_id: rule.stig_id,
                    vuln_id: rule.vuln_id,
                    rule_id: rule.rule_id,
                    title: rule.title,
                    discussion: rule.discussion,
                    check_text: rule.check_text,
                    fix_text: rule.fix_text,
                    ccis: rule.ccis,
                    srg: rule.srg,
                };
                (meta.stig_id.clone(), meta)
            })
            .collect();
        Ok(Benchmark {
            id: parsed.id,
            title: parsed.title,
            release: parsed.release,
            release_info: parsed.release_info,
            source: source.to_string(),
            rules,
        })
    }

    /// Read an XCCDF file from disk.
    pub fn from_file(path: &Path) -> Result<Benchmark> {
        let xml = std::fs::read_to_string(path).with_path("read XCCDF benchmark", path)?;
        Benchmark::parse(&xml, &path.display().to_string())
    }
}

/// The embedded benchmarks (parsed at build time; converted once, then shared).
pub fn embedded() -> &'static [Arc<Benchmark>] {
    static CONVERTED: OnceLock<Vec<Arc<Benchmark>>> = OnceLock::new();
    CONVERTED.get_or_init(|| {
        EMBEDDED
            .iter()
            .map(|benchmark| {
                Arc::new(Benchmark {
                    id: benchmark.id.to_string(),
                    title: benchmark.title.to_string(),
                    release: benchmark.release.to_string(),
                    release_info: benchmark.release_info.to_string(),
                    source: benchmark.source.to_string(),
                    rules: benchmark
                        .rules
                        .iter()
                        .map(|rule| {
                            let meta = RuleMeta {
                                stig_id: rule.stig_id.to_string(),
                                vuln_id: rule.vuln_id.to_string(),
                                rule_id: rule.rule_id.to_string(),
                                severity: Severity::parse(rule.severity)
                                    .expect("checked at build time"),
                                title: rule.title.to_string(),
                                discussion: rule.discussion.to_string(),
                                check_text: rule.check_text.to_string(),
                                fix_text: rule.fix_text.to_string(),
                                ccis: rule.ccis.iter().map(|cci| cci.to_string()).collect(),
                                srg: rule.srg.to_string(),
                            };
                            (meta.stig_id.clone(), meta)
                        })
                        .collect(),
                })
            })
            .collect()
    })
}

/// Find an embedded benchmark by its id.
pub fn find_embedded(id: &str) -> Option<Arc<Benchmark>> {
    embedded()
        .iter()
        .find(|benchmark| benchmark.id == id)
        .cloned()
}

/// Levenshtein distance; inputs are short identifiers.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_benchmarks_carry_the_real_identifiers() {
        let docker = find_embedded("Docker_Enterprise_2-x_Linux-UNIX_STIG").unwrap();
        assert_eq!(docker.release, "V2R2");
        assert_eq!(docker.rules.len(), 101);
        let trust = docker.rule("DKER-EE-004370").unwrap();
        assert_eq!(trust.vuln_id, "V-235847");
        assert_eq!(trust.rule_id, "SV-235847r961770_rule");
        assert_eq!(trust.severity, Severity::Medium);
        assert!(trust.check_text.contains("require_content_trust"));
        assert!(!trust.ccis.is_empty());
        assert!(!trust.discussion.contains("<VulnDiscussion>"));

        let mke = find_embedded("Mirantis_Kubernetes_Engine_STIG").unwrap();
        assert_eq!(mke.release, "V2R1");
        assert_eq!(mke.rules.len(), 44);
        assert_eq!(mke.rule("CNTR-MK-001380").unwrap().vuln_id, "V-260942");
    }

    #[test]
    fn nearest_suggests_a_close_id() {
        let docker = find_embedded("Docker_Enterprise_2-x_Linux-UNIX_STIG").unwrap();
        assert_eq!(docker.nearest("DKER-EE-00437"), Some("DKER-EE-004370"));
        assert_eq!(docker.nearest("NOTHING-LIKE-IT"), None);
    }
}
