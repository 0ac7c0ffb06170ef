//! Assessor outputs (`stigfix check`): one checklist per asset and STIG, with every rule of the
//! STIG, its DISA data, a STIG Viewer STATUS mapped from stigfix's status (design, "Rule
//! statuses"), the evidence in FINDING_DETAILS and waivers in COMMENTS; written as STIG Viewer 2
//! `.ckl` ([`ckl`]), STIG Viewer 3 `.cklb` ([`cklb`]) or MITRE Heimdall HDF ([`hdf`]), and
//! merged with an assessor's earlier checklist ([`merge`]).
//!
//! Building checklists from a plan is pure ([`build`]); the Markdown report counts the same
//! checklists. Identifiers are deterministic: the UUIDs a format requires are derived from the
//! asset, the benchmark and the rule ([`uuid`]), so two checklists of one asset differ only
//! where the results do.

pub mod asset;
pub mod ckl;
pub mod cklb;
mod details;
pub mod hdf;
pub mod json;
pub mod merge;
pub mod text;

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

pub use asset::{Asset, AssetData};

use crate::assess::{RuleResult, Status};
use crate::benchmark::{Benchmark, RuleMeta, Severity};
use crate::plan::Plan;

/// STIG Viewer's STATUS of a rule.
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
pub enum CklStatus {
    Open,
    NotAFinding,
    #[serde(rename = "Not_Applicable")]
    NotApplicable,
    #[serde(rename = "Not_Reviewed")]
    NotReviewed,
}

impl CklStatus {
    /// In the order summaries list them.
    pub const ALL: [CklStatus; 4] = [
        CklStatus::Open,
        CklStatus::NotAFinding,
        CklStatus::NotApplicable,
        CklStatus::NotReviewed,
    ];

    /// The design's mapping (docs: "Rule statuses").
    pub fn of(status: Status) -> CklStatus {
        match status {
            Status::Pass => CklStatus::NotAFinding,
            Status::Fix | Status::Open | Status::Waived => CklStatus::Open,
            Status::NotApplicable => CklStatus::NotApplicable,
            Status::Manual | Status::NotAssessed | Status::Unknown => CklStatus::NotReviewed,
        }
    }

    /// The `.ckl` word: `NotAFinding`, `Not_Applicable`.
    pub fn ckl(self) -> &'static str {
        match self {
            CklStatus::Open => "Open",
            CklStatus::NotAFinding => "NotAFinding",
            CklStatus::NotApplicable => "Not_Applicable",
            CklStatus::NotReviewed => "Not_Reviewed",
        }
    }

    /// The `.cklb` word: `not_a_finding`.
    pub fn cklb(self) -> &'static str {
        match self {
            CklStatus::Open => "open",
            CklStatus::NotAFinding => "not_a_finding",
            CklStatus::NotApplicable => "not_applicable",
            CklStatus::NotReviewed => "not_reviewed",
        }
    }

    /// Either spelling.
    pub fn parse(text: &str) -> Option<CklStatus> {
        CklStatus::ALL
            .into_iter()
            .find(|status| status.ckl() == text.trim() || status.cklb() == text.trim())
    }
}

/// One checklist: an asset and a STIG (benchmark), with every rule of the STIG.
#[derive(Clone, Debug)]
pub struct Checklist {
    pub asset: Asset,
    pub benchmark: Arc<Benchmark>,
    /// The checklist's id (`.cklb` `id`).
    pub id: String,
    /// The STIG's id in this checklist (`.ckl` `uuid`/`STIG_UUID`, `.cklb` `stigs[].uuid`).
    pub stig_uuid: String,
    /// In the benchmark's order.
    pub rules: Vec<ChecklistRule>,
    /// The checklist file merged in, when there was one.
    pub merged_from: Option<String>,
    /// When the targets were read (RFC 3339).
    pub checked_at: String,
}

/// A rule in a checklist.
#[derive(Clone, Debug)]
pub struct ChecklistRule {
    pub meta: RuleMeta,
    pub uuid: String,
    pub status: CklStatus,
    /// stigfix's status for the rule on this asset.
    pub stigfix: Status,
    /// Why, when stigfix's result is not a check of this asset's targets (the rule concerns
    /// another asset; it was not in this run).
    pub reason: Option<String>,
    /// The result it came from, when the asset's targets were assessed for it.
    pub result: Option<RuleResult>,
    pub finding_details: String,
    pub comments: String,
    /// A severity override a person set (kept by `--merge`).
    pub severity_override: Option<Severity>,
    pub severity_justification: String,
}

impl ChecklistRule {
    /// Whether the status is stigfix's to decide (it determined the rule); otherwise a
    /// person's status from a merged checklist is kept.
    pub fn determined(&self) -> bool {
        CklStatus::of(self.stigfix) != CklStatus::NotReviewed
    }

    /// The severity in force: the override, else DISA's.
    pub fn severity(&self) -> Severity {
        self.severity_override.unwrap_or(self.meta.severity)
    }
}

impl Checklist {
    /// `Docker_Enterprise_2-x_Linux-UNIX_STIG V2R2`.
    pub fn stig_name(&self) -> String {
        format!("{} {}", self.benchmark.id, self.benchmark.release)
    }

    /// `<asset>_<benchmark>_<release>` (the asset's file name may be made unique later).
    pub fn file_stem(&self) -> String {
        format!(
            "{}_{}_{}",
            self.asset.file_name,
            sanitize(&self.benchmark.id),
            sanitize(&self.benchmark.release)
        )
    }

    /// `Title :: Version 2, Release: 2 Benchmark Date: 24 Jul 2024` (the `.ckl` STIGRef).
    pub fn stig_ref(&self) -> String {
        format!(
            "{} :: Version {}, {}",
            self.benchmark.title, self.benchmark.version, self.benchmark.release_info
        )
    }

    /// The DPMS target key of the STIG (every rule of a DISA benchmark carries the same).
    pub fn target_key(&self) -> String {
        self.rules
            .iter()
            .map(|rule| rule.meta.extra.target_key.as_str())
            .find(|key| !key.is_empty())
            .unwrap_or_default()
            .to_string()
    }

    /// Counts per CAT (high first) and STIG Viewer status, with the severity in force.
    pub fn summary(&self) -> Vec<(Severity, [usize; 4])> {
        [Severity::High, Severity::Medium, Severity::Low]
            .into_iter()
            .map(|severity| {
                let mut counts = [0; 4];
                for rule in self.rules.iter().filter(|rule| rule.severity() == severity) {
                    let index = CklStatus::ALL
                        .iter()
                        .position(|status| *status == rule.status)
                        .expect("every status is listed");
                    counts[index] += 1;
                }
                (severity, counts)
            })
            .collect()
    }

    /// Count of rules with a status.
    pub fn count(&self, status: CklStatus) -> usize {
        self.rules
            .iter()
            .filter(|rule| rule.status == status)
            .count()
    }
}

/// Keep letters, digits, `.`, `-` and `_`; anything else becomes `-`.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A UUID derived from content: the first 16 bytes of SHA-256 over the parts, marked as an
/// RFC 9562 version 8 (vendor-defined) UUID. The same asset, benchmark and rule always give
/// the same UUID, so checklists of two runs differ only where results do.
pub fn uuid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"stigfix checklist uuid v1");
    for part in parts {
        hasher.update([0u8]);
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    crate::values::uuid_text(bytes)
}

/// What building needs besides the plan.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `--rule`/`--severity` narrowed the run: rules without a result were left out by them.
    pub narrowed: bool,
}

/// Every checklist of a plan: per asset (see [`asset::assets`]), one per benchmark that has a
/// rule for the kind of asset, each with every rule of the benchmark.
pub fn build(plan: &Plan, context: &Context) -> Vec<Checklist> {
    let mut index: HashMap<(&str, &str), Vec<&RuleResult>> = HashMap::new();
    for result in &plan.rules {
        index
            .entry((result.playbook.as_str(), result.stig_id.as_str()))
            .or_default()
            .push(result);
    }
    let mut checklists = Vec::new();
    for asset in asset::assets(plan) {
        for benchmark in &plan.benchmarks {
            let playbook = format!("{} {}", benchmark.id, benchmark.release);
            let concerns_asset = plan
                .rules
                .iter()
                .any(|result| result.playbook == playbook && asset.class_has(result.kind));
            if !concerns_asset {
                continue;
            }
            let stig_uuid = uuid(&[&asset.key, &benchmark.id, &benchmark.release]);
            let rules = benchmark
                .rules
                .values()
                .map(|meta| {
                    let results = index
                        .get(&(playbook.as_str(), meta.stig_id.as_str()))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    rule_for(&asset, benchmark, meta, results, plan, context)
                })
                .collect();
            let mut checklist = Checklist {
                id: uuid(&[&asset.key, &benchmark.id, &benchmark.release, "checklist"]),
                stig_uuid,
                asset: asset.clone(),
                benchmark: Arc::clone(benchmark),
                rules,
                merged_from: None,
                checked_at: plan.created_at.clone(),
            };
            checklist.rules.sort_by(|a, b| {
                vuln_number(&a.meta.vuln_id)
                    .cmp(&vuln_number(&b.meta.vuln_id))
                    .then_with(|| a.meta.vuln_id.cmp(&b.meta.vuln_id))
            });
            checklists.push(checklist);
        }
    }
    checklists
}

/// `V-235847` → 235847, for ordering rules as the benchmark lists them.
fn vuln_number(vuln_id: &str) -> u64 {
    vuln_id
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(u64::MAX)
}

fn rule_for(
    asset: &Asset,
    benchmark: &Benchmark,
    meta: &RuleMeta,
    results: &[&RuleResult],
    plan: &Plan,
    context: &Context,
) -> ChecklistRule {
    let on_asset = results.iter().find(|result| {
        result
            .target
            .as_ref()
            .is_some_and(|spec| asset.has_target(spec))
    });
    let not_configured = results
        .iter()
        .find(|result| result.target.is_none() && asset.class_has(result.kind));
    let (stigfix, reason, result) = match (on_asset, not_configured, results.first()) {
        (Some(result), _, _) => (result.status, None, Some((*result).clone())),
        (None, Some(result), _) => (result.status, None, Some((*result).clone())),
        (None, None, Some(other)) => (
            Status::NotApplicable,
            Some(format!(
                "this is a rule for stigfix's `{}` target ({}), not for this `{}` asset; see the checklist of that asset",
                other.kind,
                other.kind.registration().configured_by,
                asset.kind_label()
            )),
            None,
        ),
        (None, None, None) => (
            Status::NotAssessed,
            Some(if context.narrowed {
                "not in this run: --rule/--severity left it out, or no playbook assesses it"
                    .to_string()
            } else {
                format!(
                    "no stigfix playbook assesses this rule ({} {}); a person must review it",
                    benchmark.id, benchmark.release
                )
            }),
            None,
        ),
    };
    let asset_key = &asset.key;
    let mut rule = ChecklistRule {
        meta: meta.clone(),
        uuid: uuid(&[asset_key, &benchmark.id, &benchmark.release, &meta.rule_id]),
        status: CklStatus::of(stigfix),
        stigfix,
        reason,
        result,
        finding_details: String::new(),
        comments: String::new(),
        severity_override: None,
        severity_justification: String::new(),
    };
    rule.finding_details = details::finding_details(&rule, asset, plan);
    rule.comments = details::comments(&rule);
    rule
}

/// The marker that starts what stigfix writes in FINDING_DETAILS and on each COMMENTS line;
/// `--merge` replaces it and keeps everything else.
pub const MARKER: &str = "[stigfix]";

/// A format's file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Ckl,
    Cklb,
    Hdf,
}

impl FileFormat {
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Ckl => "ckl",
            FileFormat::Cklb => "cklb",
            FileFormat::Hdf => "json",
        }
    }

    /// The file's text.
    pub fn render(self, checklist: &Checklist) -> String {
        match self {
            FileFormat::Ckl => ckl::write(checklist),
            FileFormat::Cklb => cklb::write(checklist),
            FileFormat::Hdf => hdf::write(checklist),
        }
    }
}

#[cfg(test)]
mod tests;
