//! Pure assessment: rules × a target's live document → rule results (as data, see [`result`])
//! and the edits that fix them.

pub mod result;

use std::collections::BTreeMap;

pub use result::{
    Check, Expected, ItemValue, NotAssessedReason, Observed, Outcome, RuleResult, Status, Unfixable,
};

use crate::keypath::KeyPath;
use crate::playbook::{Match, Mode, ResolvedRule, ResolvedSetting, SettingValue, ValueSpec};
use crate::targets::{Document, Edit, TargetKind, TargetSpec};
use crate::values::{Shown, format_mode, parse_mode};

/// Assess rules against a target's live document.
pub fn assess<'a>(
    rules: impl IntoIterator<Item = &'a ResolvedRule>,
    doc: &dyn Document,
    today: time::Date,
    target: Option<&TargetSpec>,
) -> (Vec<RuleResult>, Vec<Edit>) {
    let mut results = Vec::new();
    let mut edits: BTreeMap<KeyPath, Edit> = BTreeMap::new();
    for rule in rules {
        let mut result = result_for(rule, Status::Pass, target);
        if let Some(waiver) = rule.active_waiver(today) {
            result.status = Status::Waived;
            result.waiver = Some(waiver.clone());
            results.push(result);
            continue;
        }
        result.waiver_expired = rule.waiver.as_ref().and_then(|waiver| waiver.expires);
        match rule.rule.mode {
            Mode::Manual => {
                // A person decides; the settings stigfix can read are the evidence they see.
                result.checks = rule
                    .settings
                    .iter()
                    .map(|setting| check_setting(setting, doc).0)
                    .collect();
                result.status = Status::Manual;
                results.push(result);
                continue;
            }
            Mode::NotAssessed => {
                result.status = Status::NotAssessed;
                result.not_assessed = Some(NotAssessedReason::ByPlaybook);
                results.push(result);
                continue;
            }
            Mode::Enforce | Mode::Check => {}
        }
        // (setting, concrete path, live value) of every value that does not comply.
        let mut failing = Vec::new();
        for setting in &rule.settings {
            let (check, bad) = check_setting(setting, doc);
            failing.extend(bad.into_iter().map(|(path, live)| (setting, path, live)));
            result.checks.push(check);
        }
        result.status = status_of(rule.rule.matching, &result.checks);
        if matches!(result.status, Status::Open) && rule.rule.mode == Mode::Enforce {
            let mut fixable = 0;
            for (setting, path, live) in failing {
                if let Err(reason) = doc.writable(&path) {
                    result.unfixable.push(Unfixable { path, reason });
                    continue;
                }
                let Some(after) = setting.setting.fix_value(live.as_ref(), setting.desired())
                else {
                    continue;
                };
                if let Err(reason) = doc.accepts(&path, &after) {
                    result.unfixable.push(Unfixable { path, reason });
                    continue;
                }
                fixable += 1;
                let edit = edits.entry(path.clone()).or_insert_with(|| Edit {
                    path,
                    before: live,
                    after: after.clone(),
                    rules: Vec::new(),
                });
                if edit.after != after {
                    // Two rules want a stricter mode of one file: both masks apply.
                    if let (Some(a), Some(b)) = (
                        edit.after.as_str().and_then(parse_mode),
                        after.as_str().and_then(parse_mode),
                    ) {
                        edit.after = toml::Value::String(format_mode(a & b));
                    }
                }
                edit.rules.push(rule.stig_id().to_string());
            }
            if fixable > 0 {
                result.status = Status::Fix;
            }
        }
        results.push(result);
    }
    (results, edits.into_values().collect())
}

/// The status of a rule from its checks: any failing check makes it not compliant (`open`;
/// the caller makes it `fix` when `apply` can write a fix); a check that cannot be determined
/// makes it `unknown` unless the result is clear without it. A rule none of whose checks could
/// be assessed — every one waits for an organisation-defined value (a site allow-list, say) — is
/// left to a person (`manual`, with the items listed for review), never `pass`.
fn status_of(matching: Match, checks: &[Check]) -> Status {
    let vacuous = |check: &&Check| {
        check.outcome == Outcome::Pass && matches!(check.observed, Observed::Nothing { .. })
    };
    let unset = |check: &&Check| check.outcome == Outcome::VariableUnset;
    if checks.iter().any(|check| unset(&check))
        && checks.iter().all(|check| unset(&check) || vacuous(&check))
    {
        return Status::Manual;
    }
    let assessed: Vec<&Check> = checks
        .iter()
        .filter(|check| check.outcome != Outcome::VariableUnset)
        .collect();
    if assessed.is_empty() {
        return Status::Manual;
    }
    let any = |wanted: fn(&Outcome) -> bool| assessed.iter().any(|check| wanted(&check.outcome));
    let failed = any(|outcome| *outcome == Outcome::Fail);
    let unknown = any(|outcome| matches!(outcome, Outcome::Unknown(_)));
    let passed = any(|outcome| *outcome == Outcome::Pass);
    match matching {
        Match::All if failed => Status::Open,
        Match::All if unknown => Status::Unknown,
        Match::All => Status::Pass,
        Match::Any if passed => Status::Pass,
        Match::Any if unknown => Status::Unknown,
        Match::Any => Status::Open,
    }
}

/// Read one setting: the check, and the concrete paths (with their values) that do not comply.
fn check_setting(
    setting: &ResolvedSetting,
    doc: &dyn Document,
) -> (Check, Vec<(KeyPath, Option<toml::Value>)>) {
    let pattern = setting.path();
    let paths = doc.expand(pattern);
    let first = || paths.first().and_then(|path| doc.source(path));
    let mut check = Check {
        path: pattern.clone(),
        // For every item of a collection, where the items were read (one item's source would
        // name that item only).
        source: if pattern.is_pattern() {
            doc.source(pattern).or_else(first)
        } else {
            first().or_else(|| doc.source(pattern))
        },
        expected: expected_of(setting),
        observed: Observed::Nothing {
            reason: String::new(),
        },
        outcome: Outcome::Pass,
    };
    let observe = |path: &KeyPath, live: Option<&toml::Value>| ItemValue {
        path: path.clone(),
        value: Shown::at(path, live),
        why_not_set: live.is_none().then(|| doc.explain(path)).flatten(),
    };
    // A collection with no item has nothing to judge, whatever the variable would say.
    let nothing = pattern.is_pattern() && paths.is_empty();
    if let (SettingValue::Unset { .. }, false) = (&setting.value, nothing) {
        // An item that cannot be read is unknown, list or no list.
        check.outcome = match paths.iter().find_map(|path| doc.unknown(path)) {
            Some(reason) => Outcome::Unknown(reason),
            None => Outcome::VariableUnset,
        };
        check.observed = match paths.as_slice() {
            [path] if !pattern.is_pattern() || path == pattern => {
                let item = observe(path, doc.lookup(path).as_ref());
                Observed::Value {
                    value: item.value,
                    why_not_set: item.why_not_set,
                }
            }
            // Without the site's list no item is judged: each is listed for a person to review
            // (none is approved by a list stigfix does not have).
            _ => Observed::Items {
                total: paths.len(),
                failing: paths
                    .iter()
                    .map(|path| observe(path, doc.lookup(path).as_ref()))
                    .collect(),
            },
        };
        return (check, Vec::new());
    }
    if paths.is_empty() {
        check.observed = Observed::Nothing {
            reason: doc
                .explain(pattern)
                .unwrap_or_else(|| "not present".to_string()),
        };
        return (check, Vec::new());
    }
    let mut bad = Vec::new();
    let mut unknown = None;
    for path in &paths {
        if let Some(reason) = doc.unknown(path) {
            unknown.get_or_insert(reason);
            continue;
        }
        let live = doc.lookup(path);
        if !setting
            .setting
            .is_satisfied(live.as_ref(), setting.desired())
        {
            bad.push((path.clone(), live));
        }
    }
    check.outcome = match (&unknown, bad.is_empty()) {
        (_, false) => Outcome::Fail,
        (Some(reason), true) => Outcome::Unknown(reason.clone()),
        (None, true) => Outcome::Pass,
    };
    // A pattern that stands for itself (a collection that could not be listed at all, whose
    // one path is `unknown`) is one value, not one item.
    let listed = pattern.is_pattern() && paths.as_slice() != std::slice::from_ref(pattern);
    check.observed = if listed || paths.len() > 1 {
        Observed::Items {
            total: paths.len(),
            failing: bad
                .iter()
                .map(|(path, live)| observe(path, live.as_ref()))
                .collect(),
        }
    } else {
        let live = doc.lookup(&paths[0]);
        let item = observe(&paths[0], live.as_ref());
        Observed::Value {
            value: item.value,
            why_not_set: item.why_not_set,
        }
    };
    (check, bad)
}

fn expected_of(setting: &ResolvedSetting) -> Expected {
    let path = setting.path();
    let spec = &setting.setting;
    Expected {
        value: setting.desired().map(|value| Shown::at(path, Some(value))),
        one_of: spec
            .one_of
            .as_deref()
            .map(|values| Shown::list_at(path, values))
            .unwrap_or_default(),
        not_in: spec
            .not_in
            .as_deref()
            .map(|values| Shown::list_at(path, values))
            .unwrap_or_default(),
        min: spec.min,
        max: spec.max,
        mode_within: spec.mode_within.map(format_mode),
        variable: match (&setting.value, &spec.value) {
            (SettingValue::Unset { variable }, _) => Some(variable.clone()),
            (_, Some(ValueSpec::Variable(name))) => Some(name.clone()),
            _ => None,
        },
    }
}

/// Results for rules of a kind no target of which is in this run.
pub fn not_assessed<'a>(
    rules: impl IntoIterator<Item = &'a ResolvedRule>,
    kind: TargetKind,
) -> Vec<RuleResult> {
    rules
        .into_iter()
        .map(|rule| {
            let mut result = result_for(rule, Status::NotAssessed, None);
            result.not_assessed = Some(NotAssessedReason::TargetNotConfigured {
                kind,
                configured_by: kind.registration().configured_by,
            });
            result
        })
        .collect()
}

fn result_for(rule: &ResolvedRule, status: Status, target: Option<&TargetSpec>) -> RuleResult {
    let meta = &rule.rule.meta;
    RuleResult {
        target: target.cloned(),
        kind: rule.rule.target,
        stig_id: meta.stig_id.clone(),
        vuln_id: meta.vuln_id.clone(),
        rule_id: meta.rule_id.clone(),
        severity: meta.severity,
        title: meta.title.clone(),
        playbook: rule.playbook.clone(),
        mode: rule.rule.mode,
        status,
        checks: Vec::new(),
        unfixable: Vec::new(),
        not_assessed: None,
        note: rule.rule.note.clone(),
        waiver: None,
        waiver_expired: None,
    }
}

#[cfg(test)]
mod tests;
