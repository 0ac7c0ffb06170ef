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
    weight: &'static str,
    legacy_ids: &'static [&'static str],
    check_id: &'static str,
    fix_id: &'static str,
    check_ref_name: &'static str,
    check_ref_href: &'static str,
    target_key: &'static str,
    group_description: &'static str,
    description_fields: &'static [(&'static str, &'static str)],
}

struct StaticBenchmark {
    id: &'static str,
    title: &'static str,
    version: &'static str,
    release: &'static str,
    release_info: &'static str,
    description: &'static str,
    notice: &'static str,
    reference_source: &'static str,
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
    /// What checklists carry besides the above (STIG Viewer's fields).
    #[serde(skip)]
    pub extra: Arc<RuleExtra>,
}

/// The rest of a rule's XCCDF data, which only checklists carry: `Weight`, `LEGACY_ID`,
/// `Check_Content_Ref`, `TargetKey`, the check and fix ids, and the pseudo-XML description
/// fields (`Documentable`, `IAControls`, …).
#[derive(Clone, Debug, Default)]
pub struct RuleExtra {
    /// `10.0`.
    pub weight: String,
    /// The V1 Vuln and Rule IDs (`V-95729`, `SV-104867`).
    pub legacy_ids: Vec<String>,
    /// `C-39066r627666_chk`.
    pub check_id: String,
    /// `F-39029r627667_fix`.
    pub fix_id: String,
    /// `<check-content-ref name="M" href="…">`.
    pub check_ref_name: String,
    pub check_ref_href: String,
    /// The DPMS target key, e.g. `5281`.
    pub target_key: String,
    /// The group's description (`<GroupDescription></GroupDescription>`).
    pub group_description: String,
    /// `FalsePositives`, `Documentable`, … (see `xccdf::DESCRIPTION_FIELDS`) and their text.
    pub description_fields: Vec<(String, String)>,
}

impl RuleExtra {
    /// The text of a pseudo-XML description field (`Documentable`); empty when absent.
    pub fn field(&self, tag: &str) -> &str {
        self.description_fields
            .iter()
            .find(|(name, _)| name == tag)
            .map_or("", |(_, text)| text.as_str())
    }
}

/// A parsed XCCDF benchmark.
#[derive(Debug)]
pub struct Benchmark {
    /// Benchmark id, e.g. `Docker_Enterprise_2-x_Linux-UNIX_STIG`.
    pub id: String,
    pub title: String,
    /// The XCCDF `<version>`: `2`.
    pub version: String,
    /// e.g. `V2R2`.
    pub release: String,
    /// `Release: 2 Benchmark Date: 24 Jul 2024`.
    pub release_info: String,
    /// The benchmark's description.
    pub description: String,
    /// `terms-of-use`.
    pub notice: String,
    /// `STIG.DOD.MIL`.
    pub reference_source: String,
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
                    extra: Arc::new(RuleExtra {
                        weight: rule.weight,
                        legacy_ids: rule.legacy_ids,
                        check_id: rule.check_id,
                        fix_id: rule.fix_id,
                        check_ref_name: rule.check_ref_name,
                        check_ref_href: rule.check_ref_href,
                        target_key: rule.target_key,
                        group_description: rule.group_description,
                        description_fields: rule.description_fields,
                    }),
                };
                (meta.stig_id.clone(), meta)
            })
            .collect();
        Ok(Benchmark {
            id: parsed.id,
            title: parsed.title,
            version: parsed.version,
            release: parsed.release,
            release_info: parsed.release_info,
            description: parsed.description,
            notice: parsed.notice,
            reference_source: parsed.reference_source,
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
                    version: benchmark.version.to_string(),
                    release: benchmark.release.to_string(),
                    release_info: benchmark.release_info.to_string(),
                    description: benchmark.description.to_string(),
                    notice: benchmark.notice.to_string(),
                    reference_source: benchmark.reference_source.to_string(),
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
                                extra: Arc::new(RuleExtra {
                                    weight: rule.weight.to_string(),
                                    legacy_ids: rule
                                        .legacy_ids
                                        .iter()
                                        .map(|id| id.to_string())
                                        .collect(),
                                    check_id: rule.check_id.to_string(),
                                    fix_id: rule.fix_id.to_string(),
                                    check_ref_name: rule.check_ref_name.to_string(),
                                    check_ref_href: rule.check_ref_href.to_string(),
                                    target_key: rule.target_key.to_string(),
                                    group_description: rule.group_description.to_string(),
                                    description_fields: rule
                                        .description_fields
                                        .iter()
                                        .map(|(tag, text)| (tag.to_string(), text.to_string()))
                                        .collect(),
                                }),
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
        assert_eq!(trust.srg, "SRG-APP-000485");
        assert_eq!(trust.extra.weight, "10.0");
        assert_eq!(trust.extra.legacy_ids, ["SV-104867", "V-95729"]);
        assert_eq!(trust.extra.check_id, "C-39066r627666_chk");
        assert_eq!(trust.extra.fix_id, "F-39029r627667_fix");
        assert_eq!(trust.extra.check_ref_name, "M");
        assert_eq!(trust.extra.target_key, "5281");
        assert_eq!(trust.extra.field("Documentable"), "false");
        assert_eq!(docker.version, "2");
        assert_eq!(docker.notice, "terms-of-use");
        assert_eq!(docker.reference_source, "STIG.DOD.MIL");

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
