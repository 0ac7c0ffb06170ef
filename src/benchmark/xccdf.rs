//! XCCDF 1.1 parsing, shared by the runtime (`--playbook` files naming an `xccdf`) and
//! `build.rs`, which parses the embedded DISA benchmarks once at build time.
//! Pure: text in, owned values out; errors are plain strings.

const XCCDF_NS: &str = "http://checklists.nist.gov/xccdf/1.1";
const DC_NS: &str = "http://purl.org/dc/elements/1.1/";

/// The fields of a rule's escaped pseudo-XML description besides `<VulnDiscussion>`, in the
/// order DISA writes them; checklists carry each.
pub const DESCRIPTION_FIELDS: &[&str] = &[
    "FalsePositives",
    "FalseNegatives",
    "Documentable",
    "Mitigations",
    "SeverityOverrideGuidance",
    "PotentialImpacts",
    "ThirdPartyTools",
    "MitigationControl",
    "Responsibility",
    "IAControls",
];

pub struct XccdfRule {
    pub stig_id: String,
    pub vuln_id: String,
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub discussion: String,
    pub check_text: String,
    pub fix_text: String,
    pub ccis: Vec<String>,
    pub srg: String,
    /// `10.0`.
    pub weight: String,
    /// `<ident system="http://cyber.mil/legacy">`: V1 Vuln and Rule IDs.
    pub legacy_ids: Vec<String>,
    /// `C-39066r627666_chk` (the check's `system`).
    pub check_id: String,
    /// `F-39029r627667_fix`.
    pub fix_id: String,
    /// `<check-content-ref name=… href=…>`.
    pub check_ref_name: String,
    pub check_ref_href: String,
    /// The DPMS target key (`<reference><dc:identifier>`).
    pub target_key: String,
    /// The group's description as written (`<GroupDescription></GroupDescription>`).
    pub group_description: String,
    /// [`DESCRIPTION_FIELDS`] with their text, in that order.
    pub description_fields: Vec<(String, String)>,
}

pub struct XccdfBenchmark {
    pub id: String,
    pub title: String,
    /// `<version>`: `2`.
    pub version: String,
    pub release: String,
    pub release_info: String,
    /// The benchmark's `<description>`.
    pub description: String,
    /// `<notice id=…>`: `terms-of-use`.
    pub notice: String,
    /// `<reference><dc:source>`: `STIG.DOD.MIL`.
    pub reference_source: String,
    pub rules: Vec<XccdfRule>,
}

pub fn parse(xml: &str, source: &str) -> Result<XccdfBenchmark, String> {
    let document = roxmltree::Document::parse(xml)
        .map_err(|error| format!("{source}: not a valid XCCDF document: {error}"))?;
    let root = document.root_element();
    if !root.has_tag_name((XCCDF_NS, "Benchmark")) {
        return Err(format!(
            "{source}: not an XCCDF 1.1 benchmark (root element is <{}>)",
            root.tag_name().name()
        ));
    }
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
        .unwrap_or("?")
        .to_string();
    let mut rules = Vec::new();
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
        let severity = rule.attribute("severity").unwrap_or_default().to_string();
        if !matches!(severity.as_str(), "low" | "medium" | "high") {
            return Err(format!("{source}: rule {stig_id} has no valid severity"));
        }
        let description = child_text(rule, "description").unwrap_or_default();
        let check = rule
            .children()
            .find(|node| node.has_tag_name((XCCDF_NS, "check")));
        let check_ref = check.and_then(|check| {
            check
                .children()
                .find(|node| node.has_tag_name((XCCDF_NS, "check-content-ref")))
        });
        let idents = |system: &str| -> Vec<String> {
            rule.children()
                .filter(|node| {
                    node.has_tag_name((XCCDF_NS, "ident"))
                        && node.attribute("system") == Some(system)
                })
                .filter_map(|node| node.text().map(str::to_string))
                .collect()
        };
        rules.push(XccdfRule {
            weight: rule.attribute("weight").unwrap_or("10.0").to_string(),
            legacy_ids: idents("http://cyber.mil/legacy"),
            check_id: check
                .and_then(|check| check.attribute("system"))
                .unwrap_or_default()
                .to_string(),
            fix_id: rule
                .children()
                .find(|node| node.has_tag_name((XCCDF_NS, "fixtext")))
                .and_then(|node| node.attribute("fixref"))
                .unwrap_or_default()
                .to_string(),
            check_ref_name: check_ref
                .and_then(|node| node.attribute("name"))
                .unwrap_or_default()
                .to_string(),
            check_ref_href: check_ref
                .and_then(|node| node.attribute("href"))
                .unwrap_or_default()
                .to_string(),
            target_key: rule
                .children()
                .find(|node| node.has_tag_name((XCCDF_NS, "reference")))
                .and_then(|reference| {
                    reference
                        .children()
                        .find(|node| node.has_tag_name((DC_NS, "identifier")))
                })
                .and_then(|node| node.text())
                .unwrap_or_default()
                .to_string(),
            group_description: child_text(group, "description").unwrap_or_default(),
            description_fields: DESCRIPTION_FIELDS
                .iter()
                .map(|tag| (tag.to_string(), pseudo_field(&description, tag)))
                .collect(),
            vuln_id: group.attribute("id").unwrap_or_default().to_string(),
            rule_id: rule.attribute("id").unwrap_or_default().to_string(),
            severity,
            title: child_text(rule, "title").unwrap_or_default(),
            discussion: vuln_discussion(&description),
            check_text: rule
                .descendants()
                .find(|node| node.has_tag_name((XCCDF_NS, "check-content")))
                .and_then(|node| node.text())
                .unwrap_or_default()
                .trim()
                .to_string(),
            fix_text: child_text(rule, "fixtext")
                .unwrap_or_default()
                .trim()
                .to_string(),
            ccis: idents("http://cyber.mil/cci"),
            srg: child_text(group, "title").unwrap_or_default(),
            stig_id,
        });
    }
    if rules.is_empty() {
        return Err(format!("{source}: the benchmark holds no rules"));
    }
    Ok(XccdfBenchmark {
        id: root.attribute("id").unwrap_or_default().to_string(),
        title: child_text(root, "title").unwrap_or_default(),
        release: format!("V{version}R{release_number}"),
        version,
        release_info,
        description: child_text(root, "description").unwrap_or_default(),
        notice: root
            .children()
            .find(|node| node.has_tag_name((XCCDF_NS, "notice")))
            .and_then(|node| node.attribute("id"))
            .unwrap_or_default()
            .to_string(),
        reference_source: root
            .children()
            .find(|node| node.has_tag_name((XCCDF_NS, "reference")))
            .and_then(|reference| {
                reference
                    .children()
                    .find(|node| node.has_tag_name((DC_NS, "source")))
            })
            .and_then(|node| node.text())
            .unwrap_or_default()
            .to_string(),
        rules,
    })
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|child| child.has_tag_name((XCCDF_NS, name)))
        .map(|child| child.text().unwrap_or_default().to_string())
}

/// The text of `<tag>…</tag>` in a rule's pseudo-XML description; empty when absent.
fn pseudo_field(description: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    match (description.find(&open), description.find(&close)) {
        (Some(start), Some(end)) if start + open.len() <= end => {
            description[start + open.len()..end].trim().to_string()
        }
        _ => String::new(),
    }
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
