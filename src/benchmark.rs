//! DISA XCCDF benchmarks: the source of every rule's identifiers and texts.
//!
//! The two benchmarks stigfix ships playbooks for are embedded in the binary (unmodified copies in
//! `stig/`, provenance in `stig/README.md`), so a playbook names only a STIG ID and its desired
//! state; title, severity, Vuln ID, Rule ID, CCIs, check and fix text come from here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Error, IoContext, Result};

const XCCDF_NS: &str = "http://checklists.nist.gov/xccdf/1.1";

/// Embedded benchmarks: (file name, XML text).
const EMBEDDED: &[(&str, &str)] = &[
    (
        "U_Docker_Enterprise_2-x_Linux-Unix_STIG_V2R2_Manual-xccdf.xml",
        include_str!("../stig/U_Docker_Enterprise_2-x_Linux-Unix_STIG_V2R2_Manual-xccdf.xml"),
    ),
    (
        "U_Mirantis_Kubernetes_Engine_STIG_V2R1_Manual-xccdf.xml",
        include_str!("../stig/U_Mirantis_Kubernetes_Engine_STIG_V2R1_Manual-xccdf.xml"),
    ),
];

/// CAT I/II/III as XCCDF severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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
        let document = roxmltree::Document::parse(xml).map_err(|error| {
            Error::new(format!("{source}: not a valid XCCDF document: {error}"))
        })?;
        let root = document.root_element();
        if !root.has_tag_name((XCCDF_NS, "Benchmark")) {
            return Err(Error::new(format!(
                "{source}: not an XCCDF 1.1 benchmark (root element is <{}>)",
                root.tag_name().name()
            )));
        }
        let id = root.attribute("id").unwrap_or_default().to_string();
        let title = child_text(root, "title").unwrap_or_default();
        let version = child_text(root, "version").unwrap_or_default();
        let release_info = root
            .children()
            .find(|node| {
                node.has_tag_name((XCCDF_NS, "plain-text"))
                    && node.attribute("id") == Some("release-info")
            })
            .and_then(|node| node.text())
            .unwrap_or_default()
            .to_string();
        let release_number = release_info
            .strip_prefix("Release: ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?");
        let release = format!("V{version}R{release_number}");

        let mut rules = BTreeMap::new();
        for group in root
            .children()
            .filter(|node| node.has_tag_name((XCCDF_NS, "Group")))
        {
            let Some(rule) = group
                .children()
                .find(|node| node.has_tag_name((XCCDF_NS, "Rule")))
            else {
                continue;
            };
            let stig_id = child_text(rule, "version").unwrap_or_default();
            let severity = rule
                .attribute("severity")
                .and_then(Severity::parse)
                .ok_or_else(|| {
                    Error::new(format!("{source}: rule {stig_id} has no valid severity"))
                })?;
            let description = child_text(rule, "description").unwrap_or_default();
            let check_text = rule
                .descendants()
                .find(|node| node.has_tag_name((XCCDF_NS, "check-content")))
                .and_then(|node| node.text())
                .unwrap_or_default()
                .trim()
                .to_string();
            let ccis = rule
                .children()
                .filter(|node| {
                    node.has_tag_name((XCCDF_NS, "ident"))
                        && node.attribute("system") == Some("http://cyber.mil/cci")
                })
                .filter_map(|node| node.text().map(str::to_string))
                .collect();
            let meta = RuleMeta {
                vuln_id: group.attribute("id").unwrap_or_default().to_string(),
                rule_id: rule.attribute("id").unwrap_or_default().to_string(),
                severity,
                title: child_text(rule, "title").unwrap_or_default(),
                discussion: vuln_discussion(&description),
                check_text,
                fix_text: child_text(rule, "fixtext")
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                ccis,
                srg: child_text(group, "title").unwrap_or_default(),
                stig_id: stig_id.clone(),
            };
            rules.insert(stig_id, meta);
        }
        if rules.is_empty() {
            return Err(Error::new(format!(
                "{source}: the benchmark holds no rules"
            )));
        }
        Ok(Benchmark {
            id,
            title,
            release,
            release_info,
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

/// The embedded benchmarks, parsed once.
pub fn embedded() -> &'static [Benchmark] {
    static PARSED: OnceLock<Vec<Benchmark>> = OnceLock::new();
    PARSED.get_or_init(|| {
        EMBEDDED
            .iter()
            .map(|(name, xml)| {
                Benchmark::parse(xml, &format!("(embedded) stig/{name}"))
                    .expect("embedded XCCDF benchmarks are valid")
            })
            .collect()
    })
}

/// Find an embedded benchmark by its id.
pub fn find_embedded(id: &str) -> Option<&'static Benchmark> {
    embedded().iter().find(|benchmark| benchmark.id == id)
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|child| child.has_tag_name((XCCDF_NS, name)))
        .map(|child| child.text().unwrap_or_default().to_string())
}

/// The XCCDF description holds escaped pseudo-XML; the part users read is `<VulnDiscussion>`.
fn vuln_discussion(description: &str) -> String {
    const OPEN: &str = "<VulnDiscussion>";
    const CLOSE: &str = "</VulnDiscussion>";
    match (description.find(OPEN), description.find(CLOSE)) {
        (Some(start), Some(end)) if start + OPEN.len() <= end => {
            description[start + OPEN.len()..end].trim().to_string()
        }
        _ => description.trim().to_string(),
    }
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
