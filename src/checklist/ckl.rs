//! STIG Viewer 2 checklists (`.ckl`, XML): written in the element order of DISA's checklist
//! schema (`docs/checklist/U_Checklist_Schema_V2.xsd` restates it; the tests validate every
//! file with `xmllint --schema`), with every `STIG_DATA` STIG Viewer 2.14 writes, in its order;
//! and read back for `--merge`.

use super::asset::AssetData;
use super::merge::{Existing, ExistingRule, ExistingStig};
use super::{Checklist, CklStatus};
use crate::benchmark::Severity;

/// The `.ckl` text of a checklist.
pub fn write(checklist: &Checklist) -> String {
    let asset = &checklist.asset.data;
    let benchmark = &checklist.benchmark;
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<!--stigfix {} :: STIG Viewer 2 checklist-->\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("<CHECKLIST>\n\t<ASSET>\n");
    let element = |out: &mut String, indent: &str, name: &str, text: &str| {
        out.push_str(&format!("{indent}<{name}>{}</{name}>\n", escape(text)));
    };
    let target_key = checklist.target_key();
    for (name, text) in [
        ("ROLE", asset.role.as_str()),
        ("ASSET_TYPE", asset.asset_type.as_str()),
        ("MARKING", asset.marking.as_str()),
        ("HOST_NAME", asset.host_name.as_str()),
        ("HOST_IP", asset.host_ip.as_str()),
        ("HOST_MAC", asset.host_mac.as_str()),
        ("HOST_FQDN", asset.host_fqdn.as_str()),
        ("TARGET_COMMENT", asset.target_comment.as_str()),
        ("TECH_AREA", asset.tech_area.as_str()),
        ("TARGET_KEY", target_key.as_str()),
        (
            "WEB_OR_DATABASE",
            if asset.web_or_database {
                "true"
            } else {
                "false"
            },
        ),
        ("WEB_DB_SITE", asset.web_db_site.as_str()),
        ("WEB_DB_INSTANCE", asset.web_db_instance.as_str()),
    ] {
        element(&mut out, "\t\t", name, text);
    }
    out.push_str("\t</ASSET>\n\t<STIGS>\n\t\t<iSTIG>\n\t\t\t<STIG_INFO>\n");
    let file_name = benchmark
        .source
        .rsplit(['/', ' '])
        .next()
        .unwrap_or_default()
        .to_string();
    for (name, text) in [
        ("version", benchmark.version.as_str()),
        ("classification", "UNCLASSIFIED"),
        ("customname", ""),
        ("stigid", benchmark.id.as_str()),
        ("description", benchmark.description.as_str()),
        ("filename", file_name.as_str()),
        ("releaseinfo", benchmark.release_info.as_str()),
        ("title", benchmark.title.as_str()),
        ("uuid", checklist.stig_uuid.as_str()),
        ("notice", benchmark.notice.as_str()),
        ("source", benchmark.reference_source.as_str()),
    ] {
        out.push_str(&format!(
            "\t\t\t\t<SI_DATA>\n\t\t\t\t\t<SID_NAME>{name}</SID_NAME>\n"
        ));
        if !text.is_empty() {
            element(&mut out, "\t\t\t\t\t", "SID_DATA", text);
        }
        out.push_str("\t\t\t\t</SI_DATA>\n");
    }
    out.push_str("\t\t\t</STIG_INFO>\n");
    let stig_ref = checklist.stig_ref();
    for rule in &checklist.rules {
        let meta = &rule.meta;
        let extra = &meta.extra;
        out.push_str("\t\t\t<VULN>\n");
        let mut data: Vec<(&str, &str)> = vec![
            ("Vuln_Num", &meta.vuln_id),
            ("Severity", meta.severity.as_str()),
            ("Group_Title", &meta.srg),
            ("Rule_ID", &meta.rule_id),
            ("Rule_Ver", &meta.stig_id),
            ("Rule_Title", &meta.title),
            ("Vuln_Discuss", &meta.discussion),
            ("IA_Controls", extra.field("IAControls")),
            ("Check_Content", &meta.check_text),
            ("Fix_Text", &meta.fix_text),
            ("False_Positives", extra.field("FalsePositives")),
            ("False_Negatives", extra.field("FalseNegatives")),
            ("Documentable", extra.field("Documentable")),
            ("Mitigations", extra.field("Mitigations")),
            ("Potential_Impact", extra.field("PotentialImpacts")),
            ("Third_Party_Tools", extra.field("ThirdPartyTools")),
            ("Mitigation_Control", extra.field("MitigationControl")),
            ("Responsibility", extra.field("Responsibility")),
            (
                "Security_Override_Guidance",
                extra.field("SeverityOverrideGuidance"),
            ),
            ("Check_Content_Ref", &extra.check_ref_name),
            ("Weight", &extra.weight),
            ("Class", "Unclass"),
            ("STIGRef", &stig_ref),
            ("TargetKey", &extra.target_key),
            ("STIG_UUID", &checklist.stig_uuid),
        ];
        if extra.legacy_ids.is_empty() {
            data.push(("LEGACY_ID", ""));
        }
        data.extend(extra.legacy_ids.iter().map(|id| ("LEGACY_ID", id.as_str())));
        data.extend(meta.ccis.iter().map(|cci| ("CCI_REF", cci.as_str())));
        for (attribute, text) in data {
            out.push_str(&format!(
                "\t\t\t\t<STIG_DATA>\n\t\t\t\t\t<VULN_ATTRIBUTE>{attribute}</VULN_ATTRIBUTE>\n"
            ));
            element(&mut out, "\t\t\t\t\t", "ATTRIBUTE_DATA", text);
            out.push_str("\t\t\t\t</STIG_DATA>\n");
        }
        element(&mut out, "\t\t\t\t", "STATUS", rule.status.ckl());
        element(
            &mut out,
            "\t\t\t\t",
            "FINDING_DETAILS",
            &rule.finding_details,
        );
        element(&mut out, "\t\t\t\t", "COMMENTS", &rule.comments);
        element(
            &mut out,
            "\t\t\t\t",
            "SEVERITY_OVERRIDE",
            rule.severity_override.map_or("", Severity::as_str),
        );
        element(
            &mut out,
            "\t\t\t\t",
            "SEVERITY_JUSTIFICATION",
            &rule.severity_justification,
        );
        out.push_str("\t\t\t</VULN>\n");
    }
    out.push_str("\t\t</iSTIG>\n\t</STIGS>\n</CHECKLIST>\n");
    out
}

/// XML text: the five entities escaped, and characters XML 1.0 cannot hold dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Read a `.ckl` (stigfix's or one a person saved in STIG Viewer).
pub fn read(text: &str, source: &str) -> Result<Existing, String> {
    let document = roxmltree::Document::parse(text)
        .map_err(|error| format!("{source}: not a valid .ckl (XML): {error}"))?;
    let root = document.root_element();
    if root.tag_name().name() != "CHECKLIST" {
        return Err(format!(
            "{source}: not a STIG Viewer checklist (root element is <{}>)",
            root.tag_name().name()
        ));
    }
    let child = |node: roxmltree::Node<'_, '_>, name: &str| -> String {
        node.children()
            .find(|child| child.has_tag_name(name))
            .and_then(|child| child.text())
            .unwrap_or_default()
            .to_string()
    };
    let asset = root
        .children()
        .find(|node| node.has_tag_name("ASSET"))
        .map(|node| AssetData {
            role: child(node, "ROLE"),
            asset_type: child(node, "ASSET_TYPE"),
            marking: child(node, "MARKING"),
            host_name: child(node, "HOST_NAME"),
            host_ip: child(node, "HOST_IP"),
            host_mac: child(node, "HOST_MAC"),
            host_fqdn: child(node, "HOST_FQDN"),
            target_comment: child(node, "TARGET_COMMENT"),
            tech_area: child(node, "TECH_AREA"),
            web_or_database: child(node, "WEB_OR_DATABASE").trim() == "true",
            web_db_site: child(node, "WEB_DB_SITE"),
            web_db_instance: child(node, "WEB_DB_INSTANCE"),
        })
        .unwrap_or_default();
    let mut stigs = Vec::new();
    for istig in root.descendants().filter(|node| node.has_tag_name("iSTIG")) {
        let info = |name: &str| -> String {
            istig
                .descendants()
                .filter(|node| node.has_tag_name("SI_DATA"))
                .find(|node| child(*node, "SID_NAME") == name)
                .map(|node| child(node, "SID_DATA"))
                .unwrap_or_default()
        };
        let mut rules = Vec::new();
        for vuln in istig.children().filter(|node| node.has_tag_name("VULN")) {
            let attribute = |name: &str| -> String {
                vuln.children()
                    .filter(|node| node.has_tag_name("STIG_DATA"))
                    .find(|node| child(*node, "VULN_ATTRIBUTE") == name)
                    .map(|node| child(node, "ATTRIBUTE_DATA"))
                    .unwrap_or_default()
            };
            let status_text = child(vuln, "STATUS");
            let status = CklStatus::parse(&status_text).ok_or_else(|| {
                format!(
                    "{source}: rule {} has STATUS `{status_text}`, not one of NotAFinding, Open, Not_Applicable, Not_Reviewed",
                    attribute("Vuln_Num")
                )
            })?;
            rules.push(ExistingRule {
                vuln_id: attribute("Vuln_Num"),
                rule_id: attribute("Rule_ID"),
                stig_id: attribute("Rule_Ver"),
                status,
                finding_details: child(vuln, "FINDING_DETAILS"),
                comments: child(vuln, "COMMENTS"),
                severity_override: Severity::parse(child(vuln, "SEVERITY_OVERRIDE").trim()),
                severity_justification: child(vuln, "SEVERITY_JUSTIFICATION"),
                uuid: None,
            });
        }
        let uuid = info("uuid");
        stigs.push(ExistingStig {
            stig_id: info("stigid"),
            version: Some(info("version")).filter(|version| !version.is_empty()),
            release_info: info("releaseinfo"),
            uuid: Some(uuid).filter(|uuid| !uuid.is_empty()),
            rules,
        });
    }
    if stigs.is_empty() {
        return Err(format!(
            "{source}: the checklist holds no STIG (no <iSTIG>)"
        ));
    }
    Ok(Existing {
        source: source.to_string(),
        asset,
        id: None,
        stigs,
    })
}
