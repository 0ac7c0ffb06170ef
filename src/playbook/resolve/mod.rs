//! Playbooks + site file → the rule set of one run: variables substituted, waivers attached,
//! conflicts refused, filters applied.

use std::collections::BTreeMap;

use super::{
    Mode, Playbook, Rule, Setting, TargetKind, ValueSpec, Variable, display_value, values_equal,
};
use crate::benchmark::{Severity, edit_distance};
use crate::error::{Error, Result};
use crate::keypath::KeyPath;
use crate::plan::PlaybookRef;
use crate::site::{SiteFile, Waiver};

/// The value a setting resolved to.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    /// A concrete value to compare with (and, when enforced, to write).
    Value(toml::Value),
    /// The setting names a variable that has no default and the site file does not set.
    Unset { variable: String },
    /// A check with constraints only; there is nothing to write.
    ConstraintOnly,
}

#[derive(Clone, Debug)]
pub struct ResolvedSetting {
    pub setting: Setting,
    pub value: SettingValue,
}

impl ResolvedSetting {
    pub fn desired(&self) -> Option<&toml::Value> {
        match &self.value {
            SettingValue::Value(value) => Some(value),
            _ => None,
        }
    }

    pub fn path(&self) -> &KeyPath {
        &self.setting.path
    }
}

/// A rule ready to be assessed.
#[derive(Clone, Debug)]
pub struct ResolvedRule {
    pub rule: Rule,
    /// `Benchmark_id Release` of the playbook it came from.
    pub playbook: String,
    pub settings: Vec<ResolvedSetting>,
    pub waiver: Option<Waiver>,
}

impl ResolvedRule {
    pub fn stig_id(&self) -> &str {
        &self.rule.meta.stig_id
    }

    /// A waiver in force today (an expired one does not count).
    pub fn active_waiver(&self, today: time::Date) -> Option<&Waiver> {
        self.waiver
            .as_ref()
            .filter(|waiver| !waiver.is_expired(today))
    }
}

/// The rules of one run. Cloning is cheap: the clusters of an inventory run share one.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: std::sync::Arc<Vec<ResolvedRule>>,
    /// Every playbook used.
    pub playbooks: Vec<PlaybookRef>,
    /// The benchmark of each playbook used, in the same order (checklists list every rule).
    pub benchmarks: Vec<std::sync::Arc<crate::benchmark::Benchmark>>,
}

impl RuleSet {
    pub fn for_target(&self, kind: TargetKind) -> impl Iterator<Item = &ResolvedRule> {
        self.rules
            .iter()
            .filter(move |rule| rule.rule.target == kind)
    }

    /// `sha256:…` of everything a plan's changes are derived from besides the live state: the
    /// playbooks' texts, the values their variables resolved to, the waivers, and which rules
    /// the filters kept. Where a file sits does not count.
    pub fn digest(&self) -> String {
        use std::fmt::Write;
        let mut text = String::new();
        for playbook in &self.playbooks {
            let _ = writeln!(text, "playbook {} {}", playbook.name, playbook.sha256);
        }
        for rule in self.rules.iter() {
            let _ = writeln!(
                text,
                "rule {} {} {} {:?}",
                rule.stig_id(),
                rule.rule.target,
                rule.rule.mode.as_str(),
                rule.rule.matching
            );
            for setting in &rule.settings {
                let spec = &setting.setting;
                let _ = writeln!(
                    text,
                    "  {} {:?} {:?} {:?} {:?} {:?} {:?}",
                    spec.path,
                    setting.value,
                    spec.one_of,
                    spec.not_in,
                    spec.min,
                    spec.max,
                    spec.mode_within
                );
            }
            if let Some(waiver) = &rule.waiver {
                let _ = writeln!(
                    text,
                    "  waiver {:?} {:?} {:?} {:?}",
                    waiver.justification, waiver.approver, waiver.ticket, waiver.expires
                );
            }
        }
        crate::values::fingerprint(text.as_bytes())
    }
}

/// Which rules the run is narrowed to.
#[derive(Clone, Debug, Default)]
pub struct RuleFilter {
    /// STIG IDs or Vuln IDs; empty = all.
    pub rules: Vec<String>,
    /// Only rules of at least this severity.
    pub min_severity: Option<Severity>,
}

/// Combine shipped and user playbooks (a user playbook for the same benchmark replaces the
/// shipped one), substitute variables, attach waivers, refuse conflicts, then filter.
pub fn resolve(
    shipped: Vec<Playbook>,
    user: Vec<Playbook>,
    site: &SiteFile,
    filter: &RuleFilter,
) -> Result<RuleSet> {
    let mut problems = Vec::new();
    let mut by_benchmark: BTreeMap<String, Playbook> = BTreeMap::new();
    for playbook in shipped {
        by_benchmark.insert(playbook.benchmark.id.clone(), playbook);
    }
    let mut user_sources: BTreeMap<String, String> = BTreeMap::new();
    // Shipped playbooks a user's replaced, with the source of the one that replaced each.
    let mut replaced: Vec<(Playbook, String)> = Vec::new();
    for playbook in user {
        let id = playbook.benchmark.id.clone();
        let source = playbook.source.clone();
        let earlier_user = user_sources.insert(id.clone(), source.clone());
        if let Some(previous) = &earlier_user {
            problems.push(format!(
                "{previous} and {source} are both playbooks for {id}: keep one"
            ));
        }
        if let Some(previous) = by_benchmark.insert(id, playbook)
            && earlier_user.is_none()
        {
            replaced.push((previous, source));
        }
    }

    let variables: Vec<&Variable> = by_benchmark
        .values()
        .flat_map(|playbook| playbook.variables.iter())
        .collect();
    for (name, (value, location)) in &site.variables {
        let declared: Vec<&&Variable> = variables.iter().filter(|v| &v.name == name).collect();
        if declared.is_empty() {
            let mut names: Vec<&str> = variables.iter().map(|v| v.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            let by_replaced = replaced.iter().find(|(shipped, _)| {
                shipped
                    .variables
                    .iter()
                    .any(|variable| &variable.name == name)
            });
            problems.push(match by_replaced {
                Some((shipped, by)) => format!(
                    "{location}: no playbook declares variable `{name}`: {by} replaced {} ({}), which declared it; declare it in {by} or remove it from the site file",
                    shipped.source,
                    shipped.name()
                ),
                None => format!(
                    "{location}: no playbook declares variable `{name}` (declared: {})",
                    names.join(", ")
                ),
            });
        }
        for variable in declared {
            if let Err(message) = variable.check(value) {
                problems.push(format!("{location}: {message}"));
                break;
            }
        }
    }

    let mut set = RuleSet::default();
    let mut rules = Vec::new();
    for playbook in by_benchmark.values() {
        set.playbooks.push(PlaybookRef {
            name: playbook.name(),
            source: playbook.source.clone(),
            sha256: playbook.sha256.clone(),
        });
        set.benchmarks
            .push(std::sync::Arc::clone(&playbook.benchmark));
        for rule in &playbook.rules {
            let settings = rule
                .settings
                .iter()
                .map(|setting| resolve_setting(setting, playbook, site))
                .collect();
            rules.push(ResolvedRule {
                rule: rule.clone(),
                playbook: playbook.name(),
                settings,
                waiver: None,
            });
        }
    }

    for waiver in &site.waivers {
        match rules.iter_mut().find(|rule| rule.stig_id() == waiver.rule) {
            Some(rule) => rule.waiver = Some(waiver.clone()),
            None => problems.push(format!(
                "{}: the waiver names rule {}, which no playbook has",
                waiver.location, waiver.rule
            )),
        }
    }

    problems.extend(conflicts(&rules));
    if !problems.is_empty() {
        return Err(Error::new(problems.join("\n")));
    }

    for wanted in &filter.rules {
        if !rules.iter().any(|rule| matches_id(rule, wanted)) {
            let suggestion = nearest_id(&rules, wanted)
                .map(|id| format!("; did you mean {id}?"))
                .unwrap_or_default();
            return Err(Error::usage(format!(
                "--rule {wanted}: no playbook has that rule{suggestion}"
            ))
            .with_hint("`stigfix playbook list` shows every rule"));
        }
    }
    rules.retain(|rule| {
        (filter.rules.is_empty() || filter.rules.iter().any(|wanted| matches_id(rule, wanted)))
            && filter
                .min_severity
                .is_none_or(|min| rule.rule.meta.severity >= min)
    });
    set.rules = std::sync::Arc::new(rules);
    Ok(set)
}

fn matches_id(rule: &ResolvedRule, wanted: &str) -> bool {
    rule.rule.meta.stig_id.eq_ignore_ascii_case(wanted)
        || rule.rule.meta.vuln_id.eq_ignore_ascii_case(wanted)
}

/// The STIG ID or Vuln ID of the rules closest to `wanted` (a typo's worth of edits away).
fn nearest_id<'a>(rules: &'a [ResolvedRule], wanted: &str) -> Option<&'a str> {
    let wanted = wanted.to_ascii_uppercase();
    rules
        .iter()
        .flat_map(|rule| {
            [
                rule.rule.meta.stig_id.as_str(),
                rule.rule.meta.vuln_id.as_str(),
            ]
        })
        .map(|id| (edit_distance(&id.to_ascii_uppercase(), &wanted), id))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, id)| id)
}

/// A setting with its variables substituted: the value, and the lists of `one_of`/`not_in`
/// given as `"${name}"`. A variable that is neither set nor has a default leaves the setting
/// `Unset` (reported, never judged against a guess).
fn resolve_setting(setting: &Setting, playbook: &Playbook, site: &SiteFile) -> ResolvedSetting {
    let mut resolved = setting.clone();
    let mut unset = None;
    for (variable, list) in [
        (&setting.one_of_variable, &mut resolved.one_of),
        (&setting.not_in_variable, &mut resolved.not_in),
    ] {
        let Some(name) = variable else { continue };
        match variable_value(name, playbook, site) {
            Some(toml::Value::Array(items)) => *list = Some(items),
            _ => {
                unset.get_or_insert_with(|| name.clone());
            }
        }
    }
    let value = match (&setting.value, unset) {
        (_, Some(variable)) => SettingValue::Unset { variable },
        (None, None) => SettingValue::ConstraintOnly,
        (Some(ValueSpec::Literal(value)), None) => SettingValue::Value(value.clone()),
        (Some(ValueSpec::Variable(name)), None) => match variable_value(name, playbook, site) {
            Some(value) => SettingValue::Value(value),
            None => SettingValue::Unset {
                variable: name.clone(),
            },
        },
    };
    ResolvedSetting {
        setting: resolved,
        value,
    }
}

/// The site file's value of a variable, else its default.
fn variable_value(name: &str, playbook: &Playbook, site: &SiteFile) -> Option<toml::Value> {
    if let Some((value, _)) = site.variables.get(name) {
        return Some(value.clone());
    }
    playbook
        .variables
        .iter()
        .find(|variable| variable.name == name)
        .and_then(|variable| variable.default.clone())
}

/// Two rules that want incompatible values for one setting are a load error naming both.
fn conflicts(rules: &[ResolvedRule]) -> Vec<String> {
    let mut by_path: BTreeMap<(TargetKind, String), Vec<(&ResolvedRule, &ResolvedSetting)>> =
        BTreeMap::new();
    for rule in rules {
        for setting in &rule.settings {
            by_path
                .entry((rule.rule.target, setting.path().to_string()))
                .or_default()
                .push((rule, setting));
        }
    }
    let mut problems = Vec::new();
    for ((target, path), entries) in by_path {
        for (index, (rule, setting)) in entries.iter().enumerate() {
            if rule.rule.mode != Mode::Enforce {
                continue;
            }
            let Some(written) = setting.desired() else {
                continue;
            };
            for (other_index, (other_rule, other)) in entries.iter().enumerate() {
                if other_index == index {
                    continue;
                }
                let clash =
                    if other_rule.rule.mode == Mode::Enforce && !other.setting.has_constraint() {
                        // Report each pair of enforced rules once.
                        other_index > index
                            && other
                                .desired()
                                .is_some_and(|value| !values_equal(value, written))
                    } else {
                        !other.setting.is_satisfied(Some(written), other.desired())
                    };
                if clash {
                    problems.push(format!(
                        "{}: rule {} ({}) sets {} `{path}` to {}, but rule {} ({}, {}) requires {}",
                        setting.setting.location,
                        rule.stig_id(),
                        rule.playbook,
                        target.as_str(),
                        display_value(written),
                        other_rule.stig_id(),
                        other_rule.playbook,
                        other.setting.location,
                        other.setting.describe_requirement(other.desired()),
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests;
