//! STIG Viewer 3 checklists (`.cklb`, JSON): only the keys of the "STIG Viewer 3 Checklist"
//! schema 1.0 (`additionalProperties: false` at every level; `docs/checklist/cklb.schema.json`
//! restates it and the tests validate every file against it), laid out as STIG Viewer 3 writes
//! them (the rule title in `group_title`, the SRG in `group_tree`); and read back for `--merge`,
//! tolerating the keys STIG Viewer 3 and other tools add.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::asset::AssetData;
use super::merge::{Existing, ExistingRule, ExistingStig};
use super::{Checklist, CklStatus};
use crate::benchmark::Severity;

#[derive(Serialize, Deserialize)]
struct Cklb {
    title: String,
    id: String,
    #[serde(default)]
    cklb_version: Option<String>,
    #[serde(default)]
    target_data: Option<TargetData>,
    #[serde(default)]
    stigs: Vec<Stig>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct TargetData {
    target_type: String,
    host_name: String,
    ip_address: String,
    mac_address: String,
    fqdn: String,
    comments: String,
    role: String,
    is_web_database: bool,
    technology_area: String,
    web_db_site: String,
    web_db_instance: String,
}

#[derive(Serialize, Deserialize)]
struct Stig {
    stig_name: String,
    display_name: String,
    stig_id: String,
    release_info: String,
    /// Not in the schema; STIG Viewer 3 writes it, so it is read.
    #[serde(default, skip_serializing)]
    version: Option<String>,
    uuid: String,
    #[serde(default)]
    reference_identifier: Option<String>,
    size: usize,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Rule {
    uuid: String,
    stig_uuid: String,
    target_key: Option<String>,
    stig_ref: Option<String>,
    group_id: String,
    group_id_src: String,
    rule_id: String,
    rule_id_src: String,
    weight: String,
    classification: String,
    severity: String,
    rule_version: String,
    rule_title: String,
    group_title: String,
    fix_text: String,
    false_positives: String,
    false_negatives: String,
    discussion: String,
    check_content: Option<String>,
    documentable: String,
    mitigations: String,
    potential_impacts: String,
    third_party_tools: String,
    mitigation_control: String,
    responsibility: String,
    security_override_guidance: String,
    ia_controls: String,
    check_content_ref: Option<ContentRef>,
    legacy_ids: Vec<String>,
    ccis: Vec<String>,
    group_tree: Vec<GroupLevel>,
    reference_identifier: Option<String>,
    status: String,
    overrides: BTreeMap<String, BTreeMap<String, String>>,
    comments: String,
    finding_details: String,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct ContentRef {
    name: String,
    href: String,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct GroupLevel {
    id: String,
    title: String,
    description: String,
}

/// `Docker Enterprise 2.x Linux/UNIX`: the title without "Security Technical Implementation Guide".
fn display_name(title: &str) -> String {
    title
        .trim()
        .trim_end_matches("Security Technical Implementation Guide")
        .trim_end()
        .trim_end_matches("STIG")
        .trim_end()
        .to_string()
}

/// The `.cklb` text of a checklist.
pub fn write(checklist: &Checklist) -> String {
    let asset = &checklist.asset.data;
    let benchmark = &checklist.benchmark;
    let target_key = Some(checklist.target_key()).filter(|key| !key.is_empty());
    let stig_ref = checklist.stig_ref();
    let rules = checklist
        .rules
        .iter()
        .map(|rule| {
            let meta = &rule.meta;
            let extra = &meta.extra;
            let mut overrides = BTreeMap::new();
            if let Some(severity) = rule.severity_override {
                overrides.insert(
                    "severity".to_string(),
                    BTreeMap::from([
                        ("severity".to_string(), severity.as_str().to_string()),
                        ("reason".to_string(), rule.severity_justification.clone()),
                    ]),
                );
            }
            Rule {
                uuid: rule.uuid.clone(),
                stig_uuid: checklist.stig_uuid.clone(),
                target_key: Some(extra.target_key.clone()),
                stig_ref: Some(stig_ref.clone()),
                group_id: meta.vuln_id.clone(),
                group_id_src: meta.vuln_id.clone(),
                rule_id: meta
                    .rule_id
                    .strip_suffix("_rule")
                    .unwrap_or(&meta.rule_id)
                    .to_string(),
                rule_id_src: meta.rule_id.clone(),
                weight: extra.weight.clone(),
                classification: "Unclassified".into(),
                severity: meta.severity.as_str().into(),
                rule_version: meta.stig_id.clone(),
                rule_title: meta.title.clone(),
                group_title: meta.title.clone(),
                fix_text: meta.fix_text.clone(),
                false_positives: extra.field("FalsePositives").into(),
                false_negatives: extra.field("FalseNegatives").into(),
                discussion: meta.discussion.clone(),
                check_content: Some(meta.check_text.clone()),
                documentable: extra.field("Documentable").into(),
                mitigations: extra.field("Mitigations").into(),
                potential_impacts: extra.field("PotentialImpacts").into(),
                third_party_tools: extra.field("ThirdPartyTools").into(),
                mitigation_control: extra.field("MitigationControl").into(),
                responsibility: extra.field("Responsibility").into(),
                security_override_guidance: extra.field("SeverityOverrideGuidance").into(),
                ia_controls: extra.field("IAControls").into(),
                check_content_ref: Some(ContentRef {
                    name: extra.check_ref_name.clone(),
                    href: extra.check_ref_href.clone(),
                }),
                legacy_ids: extra.legacy_ids.clone(),
                ccis: meta.ccis.clone(),
                group_tree: vec![GroupLevel {
                    id: meta.vuln_id.clone(),
                    title: meta.srg.clone(),
                    description: extra.group_description.clone(),
                }],
                reference_identifier: Some(extra.target_key.clone()),
                status: rule.status.cklb().into(),
                overrides,
                comments: rule.comments.clone(),
                finding_details: rule.finding_details.clone(),
            }
        })
        .collect();
    let cklb = Cklb {
        title: checklist.file_stem(),
        id: checklist.id.clone(),
        cklb_version: Some("1.0".into()),
        target_data: Some(TargetData {
            target_type: asset.asset_type.clone(),
            host_name: asset.host_name.clone(),
            ip_address: asset.host_ip.clone(),
            mac_address: asset.host_mac.clone(),
            fqdn: asset.host_fqdn.clone(),
            comments: asset.target_comment.clone(),
            role: asset.role.clone(),
            is_web_database: asset.web_or_database,
            technology_area: asset.tech_area.clone(),
            web_db_site: asset.web_db_site.clone(),
            web_db_instance: asset.web_db_instance.clone(),
        }),
        stigs: vec![Stig {
            stig_name: benchmark.title.clone(),
            display_name: display_name(&benchmark.title),
            stig_id: benchmark.id.clone(),
            release_info: benchmark.release_info.clone(),
            version: None,
            uuid: checklist.stig_uuid.clone(),
            reference_identifier: target_key,
            size: benchmark.rules.len(),
            rules,
        }],
    };
    let mut text = serde_json::to_string_pretty(&cklb).expect("checklists serialise");
    text.push('\n');
    text
}

/// Read a `.cklb` (stigfix's or one STIG Viewer 3 saved).
pub fn read(text: &str, source: &str) -> Result<Existing, String> {
    let cklb: Cklb = serde_json::from_str(text)
        .map_err(|error| format!("{source}: not a valid .cklb: {error}"))?;
    let data = cklb.target_data.unwrap_or_default();
    let asset = AssetData {
        role: data.role,
        asset_type: data.target_type,
        marking: String::new(),
        host_name: data.host_name,
        host_ip: data.ip_address,
        host_mac: data.mac_address,
        host_fqdn: data.fqdn,
        target_comment: data.comments,
        tech_area: data.technology_area,
        web_or_database: data.is_web_database,
        web_db_site: data.web_db_site,
        web_db_instance: data.web_db_instance,
    };
    let mut stigs = Vec::new();
    for stig in cklb.stigs {
        let mut rules = Vec::new();
        for rule in stig.rules {
            let status = CklStatus::parse(&rule.status).ok_or_else(|| {
                format!(
                    "{source}: rule {} has status `{}`, not one of not_a_finding, open, not_applicable, not_reviewed",
                    rule.group_id, rule.status
                )
            })?;
            let severity = rule.overrides.get("severity");
            rules.push(ExistingRule {
                vuln_id: rule.group_id_src.clone(),
                rule_id: rule.rule_id_src,
                stig_id: rule.rule_version,
                status,
                finding_details: rule.finding_details,
                comments: rule.comments,
                severity_override: severity
                    .and_then(|entry| entry.get("severity"))
                    .and_then(|text| Severity::parse(text.trim())),
                severity_justification: severity
                    .and_then(|entry| entry.get("reason"))
                    .cloned()
                    .unwrap_or_default(),
                uuid: Some(rule.uuid).filter(|uuid| !uuid.is_empty()),
            });
        }
        stigs.push(ExistingStig {
            stig_id: stig
                .stig_id
                .trim_start_matches("xccdf_mil.disa.stig_benchmark_")
                .to_string(),
            version: stig.version,
            release_info: stig.release_info,
            uuid: Some(stig.uuid).filter(|uuid| !uuid.is_empty()),
            rules,
        });
    }
    if stigs.is_empty() {
        return Err(format!(
            "{source}: the checklist holds no STIG (`stigs` is empty)"
        ));
    }
    Ok(Existing {
        source: source.to_string(),
        asset,
        id: Some(cklb.id).filter(|id| !id.is_empty()),
        stigs,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_names_drop_the_suffix() {
        assert_eq!(
            super::display_name(
                "Docker Enterprise 2.x Linux/UNIX Security Technical Implementation Guide"
            ),
            "Docker Enterprise 2.x Linux/UNIX"
        );
    }
}
