//! XCCDF 1.1 parsing, shared by the runtime (`--playbook` files naming an `xccdf`) and
//! `build.rs`, which parses the embedded DISA benchmarks once at build time.
//! Pure: text in, owned values out; errors are plain strings.

const XCCDF_NS: &str = "http://checklists.nist.gov/xccdf/1.1";

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
}

pub struct XccdfBenchmark {
    pub id: String,
    pub title: String,
    pub release: String,
    pub release_info: String,
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
        rules.push(XccdfRule {
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
            ccis: rule
                .children()
                .filter(|node| {
                    node.has_tag_name((XCCDF_NS, "ident"))
                        && node.attribute("system") == Some("http://cyber.mil/cci")
                })
                .filter_map(|node| node.text().map(str::to_string))
                .collect(),
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
        release_info,
        rules,
    })
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
