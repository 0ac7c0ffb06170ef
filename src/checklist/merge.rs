//! `--merge CHECKLIST|DIR`: start from an existing checklist (stigfix's, or one a person edited
//! in STIG Viewer) and never lose what a person wrote.
//!
//! Per rule: the status stigfix determines (NotAFinding, Open, Not_Applicable) replaces the old
//! one; where stigfix cannot decide (Not_Reviewed: manual, unknown, not assessed) a person's
//! status stays. FINDING_DETAILS and COMMENTS keep every line a person wrote and replace only
//! stigfix's part (from the `[stigfix]` line on; COMMENTS lines starting with it). Severity
//! overrides and their justifications, the asset data a person filled in, and the checklist's
//! and rules' ids are kept. FINDING_DETAILS say what changed since the merged checklist. A
//! checklist of another release of the STIG is refused.

use std::path::{Path, PathBuf};

use super::asset::AssetData;
use super::{Checklist, ChecklistRule, CklStatus, MARKER};
use crate::benchmark::Severity;
use crate::error::{Error, IoContext, Result};

/// A checklist read from a file.
#[derive(Clone, Debug)]
pub struct Existing {
    pub source: String,
    pub asset: AssetData,
    /// The `.cklb` id.
    pub id: Option<String>,
    pub stigs: Vec<ExistingStig>,
}

/// One STIG of a checklist read.
#[derive(Clone, Debug)]
pub struct ExistingStig {
    /// The benchmark id.
    pub stig_id: String,
    /// `2` (the `.ckl` `version`; `.cklb` files may carry it).
    pub version: Option<String>,
    /// `Release: 2 Benchmark Date: 24 Jul 2024`.
    pub release_info: String,
    pub uuid: Option<String>,
    pub rules: Vec<ExistingRule>,
}

/// One rule of a checklist read.
#[derive(Clone, Debug)]
pub struct ExistingRule {
    pub vuln_id: String,
    pub rule_id: String,
    pub stig_id: String,
    pub status: CklStatus,
    pub finding_details: String,
    pub comments: String,
    pub severity_override: Option<Severity>,
    pub severity_justification: String,
    pub uuid: Option<String>,
}

/// Read one checklist file (`.ckl` or `.cklb`, by its content).
pub fn read_file(path: &Path) -> Result<Existing> {
    let text = std::fs::read_to_string(path).with_path("read the checklist to merge", path)?;
    let source = path.display().to_string();
    let parsed = if text.trim_start().starts_with('{') {
        super::cklb::read(&text, &source)
    } else {
        super::ckl::read(&text, &source)
    };
    parsed.map_err(|message| {
        Error::new(message)
            .with_hint("--merge takes a .ckl or .cklb checklist, or a folder of them")
    })
}

/// The checklists a `--merge` names: the file, or every `.ckl`/`.cklb` in the folder.
pub fn read_all(path: &Path) -> Result<Vec<Existing>> {
    if !path.is_dir() {
        return Ok(vec![read_file(path)?]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_path("read the folder of checklists to merge", path)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|file| {
            file.extension()
                .is_some_and(|extension| extension == "ckl" || extension == "cklb")
        })
        .collect();
    files.sort();
    files.iter().map(|file| read_file(file)).collect()
}

/// `V2R2`, from a version and `Release: 2 …`; the release info alone when the version is
/// unknown.
fn release_of(version: Option<&str>, release_info: &str) -> String {
    let number = release_info
        .trim()
        .strip_prefix("Release:")
        .and_then(|rest| rest.split_whitespace().next());
    match (version, number) {
        (Some(version), Some(number)) => format!("V{}R{number}", version.trim()),
        _ => release_info.trim().to_string(),
    }
}

/// Whether an existing STIG is the release of `checklist`'s benchmark.
fn same_release(stig: &ExistingStig, checklist: &Checklist) -> bool {
    let benchmark = &checklist.benchmark;
    let info = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let version_agrees = stig
        .version
        .as_deref()
        .is_none_or(|version| version.trim() == benchmark.version.trim());
    version_agrees && info(&stig.release_info) == info(&benchmark.release_info)
}

/// Merge every checklist read into the checklist of the same asset and STIG. `single` is a
/// `--merge FILE`: when its asset matches none, it goes into the one checklist of its STIG.
/// Returns warnings about checklists that matched nothing (a folder may hold others).
pub fn merge_all(
    checklists: &mut [Checklist],
    existing: &[Existing],
    single: bool,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let mut merged: Vec<Option<String>> = vec![None; checklists.len()];
    for file in existing {
        for stig in &file.stigs {
            let same_stig: Vec<usize> = checklists
                .iter()
                .enumerate()
                .filter(|(_, checklist)| checklist.benchmark.id == stig.stig_id)
                .map(|(index, _)| index)
                .collect();
            let by_asset = same_stig
                .iter()
                .copied()
                .find(|&index| checklists[index].asset.data.same_asset(&file.asset));
            let target = match (by_asset, same_stig.as_slice()) {
                (Some(index), _) => index,
                (None, [only]) if single => *only,
                _ => {
                    let message = format!(
                        "{}: its checklist of {} for {} matches no checklist of this run (assets: {})",
                        file.source,
                        stig.stig_id,
                        file.asset.label(),
                        describe_assets(checklists, &stig.stig_id)
                    );
                    if single {
                        return Err(Error::new(message).with_hint(
                            "merge a checklist of an asset and STIG this run checks, or fix HOST_NAME (and WEB_DB_SITE/WEB_DB_INSTANCE) in it",
                        ));
                    }
                    warnings.push(format!("{message}; not merged"));
                    continue;
                }
            };
            let checklist = &mut checklists[target];
            if !same_release(stig, checklist) {
                return Err(Error::new(format!(
                    "{}: it is a checklist of {} {} ({}), but this run checks {} ({}); a checklist of another release cannot be merged",
                    file.source,
                    stig.stig_id,
                    release_of(stig.version.as_deref(), &stig.release_info),
                    stig.release_info.trim(),
                    checklist.stig_name(),
                    checklist.benchmark.release_info
                ))
                .with_hint(
                    "carry the reviews over in STIG Viewer (import the old checklist into a new one of this release), then merge that; or run `stigfix check` without --merge",
                ));
            }
            if let Some(previous) = &merged[target] {
                return Err(Error::new(format!(
                    "{previous} and {} are both checklists of {} for {}: merge one",
                    file.source,
                    checklist.stig_name(),
                    checklist.asset.data.label()
                )));
            }
            merged[target] = Some(file.source.clone());
            merge_one(checklist, file, stig);
        }
    }
    Ok(warnings)
}

fn describe_assets(checklists: &[Checklist], stig_id: &str) -> String {
    let labels: Vec<String> = checklists
        .iter()
        .filter(|checklist| checklist.benchmark.id == stig_id)
        .map(|checklist| checklist.asset.data.label())
        .collect();
    if labels.is_empty() {
        format!("none checks {stig_id}")
    } else {
        labels.join(", ")
    }
}

fn merge_one(checklist: &mut Checklist, file: &Existing, stig: &ExistingStig) {
    let mut asset = file.asset.clone();
    asset.fill_from(&checklist.asset.data);
    checklist.asset.data = asset;
    if let Some(id) = &file.id {
        checklist.id.clone_from(id);
    }
    if let Some(uuid) = &stig.uuid {
        checklist.stig_uuid.clone_from(uuid);
    }
    checklist.merged_from = Some(file.source.clone());
    for rule in &mut checklist.rules {
        let old = stig
            .rules
            .iter()
            .find(|old| !old.rule_id.is_empty() && old.rule_id == rule.meta.rule_id)
            .or_else(|| {
                stig.rules
                    .iter()
                    .find(|old| old.vuln_id == rule.meta.vuln_id)
            });
        if let Some(old) = old {
            merge_rule(rule, old, &file.source);
        }
    }
}

/// A person's part of FINDING_DETAILS: everything before stigfix's block.
fn person_details(text: &str) -> String {
    let mut kept = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with(MARKER) {
            break;
        }
        kept.push(line);
    }
    kept.join("\n").trim_end().to_string()
}

/// A person's COMMENTS: every line that is not stigfix's.
fn person_comments(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with(MARKER))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn join(person: String, ours: &str) -> String {
    match (person.is_empty(), ours.is_empty()) {
        (true, _) => ours.to_string(),
        (false, true) => person,
        (false, false) => format!("{person}\n\n{ours}"),
    }
}

fn merge_rule(rule: &mut ChecklistRule, old: &ExistingRule, source: &str) {
    if let Some(uuid) = &old.uuid {
        rule.uuid.clone_from(uuid);
    }
    rule.severity_override = old.severity_override;
    rule.severity_justification
        .clone_from(&old.severity_justification);
    let mut ours = rule.finding_details.clone();
    if !rule.determined() && old.status != CklStatus::NotReviewed {
        rule.status = old.status;
        ours.push_str(&format!(
            "\nStatus {} kept from {source}: stigfix does not determine this rule.",
            old.status.ckl()
        ));
    } else if old.status != rule.status {
        ours.push_str(&format!(
            "\nChanged since {source}: {} -> {}",
            old.status.ckl(),
            rule.status.ckl()
        ));
    } else {
        ours.push_str(&format!(
            "\nUnchanged since {source}: {}",
            rule.status.ckl()
        ));
    }
    rule.finding_details = join(person_details(&old.finding_details), &ours);
    rule.comments = join(person_comments(&old.comments), &rule.comments);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_lines_are_kept_and_ours_replaced() {
        let old =
            "Checked the UI myself.\n\n[stigfix] stigfix 0.1.0 check of 2026-01-01\nResult: pass";
        assert_eq!(person_details(old), "Checked the UI myself.");
        assert_eq!(person_details("[stigfix] only ours"), "");
        let comments =
            "ISSO agreed.\n[stigfix] Waiver (stigfix site file): x\n[stigfix] Expires: never";
        assert_eq!(person_comments(comments), "ISSO agreed.");
        assert_eq!(join(String::new(), "ours"), "ours");
        assert_eq!(join("mine".into(), "ours"), "mine\n\nours");
    }

    #[test]
    fn releases_are_named() {
        assert_eq!(
            release_of(Some("2"), "Release: 1 Benchmark Date: 23 Apr 2021"),
            "V2R1"
        );
        assert_eq!(release_of(None, " Release: 1 x "), "Release: 1 x");
    }
}
