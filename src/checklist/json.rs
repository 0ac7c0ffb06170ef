//! `stigfix check --format json`: the checklists as data, with the evidence in the plan JSON's
//! own types (`CheckJson`, `WaiverJson`). `format_version` 1; the JSON Schema generated from
//! these types ships as `docs/check.schema.json` (a test keeps the two equal; the end-to-end
//! tests validate every output against the file).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Checklist, CklStatus, FileFormat};
use crate::assess::Status;
use crate::benchmark::Severity;
use crate::render::json::{CheckJson, WaiverJson, check_json, waiver_json};
use crate::targets::Product;

pub const FORMAT_VERSION: u32 = 1;

/// The result of `stigfix check`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckReportJson {
    /// 1 for this format.
    pub format_version: u32,
    pub stigfix_version: String,
    /// When the targets were read (RFC 3339).
    pub checked_at: String,
    /// TLS verification was off (`--insecure`).
    pub insecure: bool,
    /// One per asset and STIG.
    pub checklists: Vec<ChecklistJson>,
    /// STIG Viewer statuses over every checklist.
    pub summary: CountsJson,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistJson {
    pub asset: AssetJson,
    pub stig: StigJson,
    /// The `.ckl` file name `--format ckl --out DIR` writes it to.
    pub file: String,
    /// The checklist merged in (`--merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<String>,
    /// Per CAT (I, II, III) with the severity in force.
    pub summary: Vec<CatCountsJson>,
    /// Every rule of the STIG.
    pub rules: Vec<ChecklistRuleJson>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetJson {
    /// `ucp:ucp.example.mil`: the id of its first target.
    pub key: String,
    /// Its targets: id and product.
    pub targets: Vec<AssetTargetJson>,
    pub host_name: String,
    pub host_ip: String,
    pub host_fqdn: String,
    pub role: String,
    pub target_type: String,
    pub technology_area: String,
    pub web_or_database: bool,
    pub web_db_site: String,
    pub web_db_instance: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetTargetJson {
    pub id: String,
    pub product: Option<Product>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StigJson {
    /// The benchmark id.
    pub id: String,
    pub title: String,
    /// `V2R2`.
    pub release: String,
    /// `Release: 2 Benchmark Date: 24 Jul 2024`.
    pub release_info: String,
}

#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CountsJson {
    pub open: usize,
    pub not_a_finding: usize,
    pub not_applicable: usize,
    pub not_reviewed: usize,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatCountsJson {
    /// `CAT I`.
    pub cat: String,
    pub counts: CountsJson,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChecklistRuleJson {
    pub stig_id: String,
    pub vuln_id: String,
    pub rule_id: String,
    pub severity: Severity,
    /// A person's override, kept by `--merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_override: Option<Severity>,
    /// STIG Viewer's STATUS.
    pub status: CklStatus,
    /// stigfix's status for the rule on this asset.
    pub stigfix_status: Status,
    /// The target whose result this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Why stigfix's status is not a check of this asset (another asset's rule; not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The evidence: each setting as read and judged.
    pub checks: Vec<CheckJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverJson>,
    pub finding_details: String,
    pub comments: String,
}

fn counts(statuses: impl Iterator<Item = CklStatus>) -> CountsJson {
    let mut counts = CountsJson::default();
    for status in statuses {
        match status {
            CklStatus::Open => counts.open += 1,
            CklStatus::NotAFinding => counts.not_a_finding += 1,
            CklStatus::NotApplicable => counts.not_applicable += 1,
            CklStatus::NotReviewed => counts.not_reviewed += 1,
        }
    }
    counts
}

pub fn report_json(checklists: &[Checklist], insecure: bool) -> CheckReportJson {
    CheckReportJson {
        format_version: FORMAT_VERSION,
        stigfix_version: env!("CARGO_PKG_VERSION").to_string(),
        checked_at: checklists
            .first()
            .map(|checklist| checklist.checked_at.clone())
            .unwrap_or_default(),
        insecure,
        summary: counts(
            checklists
                .iter()
                .flat_map(|checklist| checklist.rules.iter().map(|rule| rule.status)),
        ),
        checklists: checklists.iter().map(checklist_json).collect(),
    }
}

fn checklist_json(checklist: &Checklist) -> ChecklistJson {
    let data = &checklist.asset.data;
    ChecklistJson {
        asset: AssetJson {
            key: checklist.asset.key.clone(),
            targets: checklist
                .asset
                .targets
                .iter()
                .map(|(spec, product)| AssetTargetJson {
                    id: spec.id(),
                    product: product.clone(),
                })
                .collect(),
            host_name: data.host_name.clone(),
            host_ip: data.host_ip.clone(),
            host_fqdn: data.host_fqdn.clone(),
            role: data.role.clone(),
            target_type: data.asset_type.clone(),
            technology_area: data.tech_area.clone(),
            web_or_database: data.web_or_database,
            web_db_site: data.web_db_site.clone(),
            web_db_instance: data.web_db_instance.clone(),
        },
        stig: StigJson {
            id: checklist.benchmark.id.clone(),
            title: checklist.benchmark.title.clone(),
            release: checklist.benchmark.release.clone(),
            release_info: checklist.benchmark.release_info.clone(),
        },
        file: format!("{}.{}", checklist.file_stem(), FileFormat::Ckl.extension()),
        merged_from: checklist.merged_from.clone(),
        summary: [Severity::High, Severity::Medium, Severity::Low]
            .into_iter()
            .map(|severity| CatCountsJson {
                cat: severity.category().to_string(),
                counts: counts(
                    checklist
                        .rules
                        .iter()
                        .filter(|rule| rule.severity() == severity)
                        .map(|rule| rule.status),
                ),
            })
            .collect(),
        rules: checklist
            .rules
            .iter()
            .map(|rule| ChecklistRuleJson {
                stig_id: rule.meta.stig_id.clone(),
                vuln_id: rule.meta.vuln_id.clone(),
                rule_id: rule.meta.rule_id.clone(),
                severity: rule.meta.severity,
                severity_override: rule.severity_override,
                status: rule.status,
                stigfix_status: rule.stigfix,
                target: rule
                    .result
                    .as_ref()
                    .and_then(|result| result.target.as_ref())
                    .map(|spec| spec.id()),
                reason: rule.reason.clone(),
                checks: rule
                    .result
                    .iter()
                    .flat_map(|result| result.checks.iter().map(check_json))
                    .collect(),
                waiver: rule
                    .result
                    .as_ref()
                    .and_then(|result| result.waiver.as_ref())
                    .map(waiver_json),
                finding_details: rule.finding_details.clone(),
                comments: rule.comments.clone(),
            })
            .collect(),
    }
}

/// The report as JSON text (pretty, with a final newline).
pub fn report(checklists: &[Checklist], insecure: bool) -> String {
    let mut text = serde_json::to_string_pretty(&report_json(checklists, insecure))
        .expect("reports serialise");
    text.push('\n');
    text
}

/// The JSON Schema of the format, as shipped in `docs/check.schema.json`.
pub fn schema() -> String {
    let schema = schemars::schema_for!(CheckReportJson);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_schema_is_the_schema_of_these_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/check.schema.json");
        if std::env::var_os("STIGFIX_BLESS").is_some() {
            std::fs::write(path, super::schema()).unwrap();
        }
        let shipped = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            shipped == super::schema(),
            "docs/check.schema.json is out of date: run `STIGFIX_BLESS=1 cargo test --lib schema` and commit it"
        );
    }
}
