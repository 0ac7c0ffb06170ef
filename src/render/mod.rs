//! Everything a person reads is written here, from data: plans as text (terminal), Markdown
//! (change tickets) and JSON (machines, with its schema). This module holds the words the
//! renderers share: change lines, check lines, waivers.

pub mod json;
pub mod markdown;
pub mod sections;
pub mod text;

pub use markdown::markdown;
pub use text::{summary_line, text};

use crate::assess::{Check, Expected, NotAssessedReason, Observed, Outcome, RuleResult, Unfixable};
use crate::plan::Change;
use crate::site::Waiver;
use crate::values::Shown;

/// At most this many items of a many-item setting are named in a line.
const NAMED_ITEMS: usize = 5;

/// `~ path: before -> after`, as in plans and rollback previews.
pub fn change_line(change: &Change) -> String {
    format!(
        "{} {}: {} -> {}",
        change.action.marker(),
        change.path,
        change.before.display(),
        change.after.display()
    )
}

/// More changes than this that differ only in one item (a repository, a certificate) are
/// shown as one line with a count; the JSON plan always lists every one.
const GROUP_ABOVE: usize = 5;

/// Plan lines: each change, or one line for a run of like changes to many items.
pub struct Line<'a> {
    pub change: &'a Change,
    /// `repositories.*.scanOnPush` when the line stands for several items.
    pub pattern: Option<String>,
    /// The items the line stands for (every one, when grouped).
    pub items: Vec<String>,
}

pub fn lines(changes: &[Change]) -> Vec<Line<'_>> {
    use std::collections::HashMap;
    // Like changes: same path but for the second segment, same before, after and rules.
    let pattern_of = |change: &Change| -> Option<String> {
        let segments = change.path.segments();
        (segments.len() >= 3).then(|| {
            let mut pattern = segments.to_vec();
            pattern[1] = crate::keypath::WILDCARD.to_string();
            crate::keypath::KeyPath::from_segments(pattern).to_string()
        })
    };
    let keys: Vec<Option<String>> = changes
        .iter()
        .map(|change| {
            pattern_of(change).map(|pattern| {
                format!(
                    "{pattern}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
                    change.before, change.after, change.rules
                )
            })
        })
        .collect();
    let mut members: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, key) in keys.iter().enumerate() {
        if let Some(key) = key {
            members.entry(key).or_default().push(index);
        }
    }
    let mut out = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let group = keys[index]
            .as_deref()
            .and_then(|key| members.get(key))
            .filter(|group| group.len() > GROUP_ABOVE);
        match group {
            Some(group) if group[0] != index => {}
            Some(group) => out.push(Line {
                change,
                pattern: pattern_of(change),
                items: group
                    .iter()
                    .map(|&member| changes[member].path.segments()[1].clone())
                    .collect(),
            }),
            None => out.push(Line {
                change,
                pattern: None,
                items: Vec::new(),
            }),
        }
    }
    out
}

/// The text of a plan line.
pub fn line_text(line: &Line) -> String {
    match &line.pattern {
        None => change_line(line.change),
        Some(pattern) => {
            let named: Vec<&str> = line.items.iter().take(3).map(String::as_str).collect();
            format!(
                "{} {pattern}: {} -> {}  ({} items: {}, … and {} more)",
                line.change.action.marker(),
                line.change.before.display(),
                line.change.after.display(),
                line.items.len(),
                named.join(", "),
                line.items.len() - named.len()
            )
        }
    }
}

/// What a check requires, in words: `= true`, `one of ["a", "b"]`, `0644 or stricter`.
pub fn requirement(expected: &Expected) -> String {
    let list = |values: &[Shown]| {
        format!(
            "[{}]",
            values
                .iter()
                .map(Shown::display)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut parts = Vec::new();
    if !expected.one_of.is_empty() {
        parts.push(format!("one of {}", list(&expected.one_of)));
    }
    if !expected.not_in.is_empty() {
        parts.push(format!("not {}", list(&expected.not_in)));
    }
    if let Some(min) = expected.min {
        parts.push(format!(">= {min}"));
    }
    if let Some(max) = expected.max {
        parts.push(format!("<= {max}"));
    }
    if let Some(mode) = &expected.mode_within {
        parts.push(format!("{mode} or stricter"));
    }
    if parts.is_empty()
        && let Some(value) = &expected.value
    {
        parts.push(format!("= {}", value.display()));
    }
    parts.join(", ")
}

/// A value as read: `true`, `(not set)`, `(not set: why)`.
fn observed_value(value: &Shown, why_not_set: Option<&String>) -> String {
    match (value, why_not_set) {
        (Shown::NotSet, Some(why)) => format!("(not set: {why})"),
        _ => value.display(),
    }
}

/// `a is 1; b is 2; … and 3 more`: the first items of a many-item setting.
fn named_items(items: &[crate::assess::ItemValue]) -> String {
    let mut named: Vec<String> = items
        .iter()
        .take(NAMED_ITEMS)
        .map(|item| {
            format!(
                "{} is {}",
                item.path,
                observed_value(&item.value, item.why_not_set.as_ref())
            )
        })
        .collect();
    if items.len() > NAMED_ITEMS {
        named.push(format!("and {} more", items.len() - NAMED_ITEMS));
    }
    named.join("; ")
}

/// One line of evidence for a check.
pub fn check_line(check: &Check) -> String {
    let path = &check.path;
    let wanted = requirement(&check.expected);
    match (&check.outcome, &check.observed) {
        (Outcome::VariableUnset, observed) => {
            let shown = match observed {
                Observed::Value { value, why_not_set } => {
                    observed_value(value, why_not_set.as_ref())
                }
                Observed::Items { total, .. } => format!("{total} item(s)"),
                Observed::Nothing { .. } => "0 item(s)".to_string(),
            };
            let mut line = format!(
                "{path} is {shown}; not assessed: set variable `{}` in the site file",
                check.expected.variable.as_deref().unwrap_or_default()
            );
            // The items a person reviews until then (an allow-list's candidates).
            if let Observed::Items { failing, .. } = observed
                && !failing.is_empty()
            {
                line.push_str(&format!(": {}", named_items(failing)));
            }
            line
        }
        (_, Observed::Nothing { reason }) => format!("{path}: nothing to check ({reason})"),
        (Outcome::Unknown(reason), Observed::Value { .. }) => {
            format!("{path} cannot be determined: {reason}")
        }
        (Outcome::Unknown(reason), Observed::Items { total, .. }) => {
            format!("{path}: {total} item(s), not all can be determined: {reason}")
        }
        (_, Observed::Items { total, failing }) if failing.is_empty() => {
            format!("{path}: all {total} comply (requires {wanted})")
        }
        (_, Observed::Items { total, failing }) => format!(
            "{path}: {} of {total} do not comply, requires {wanted}: {}",
            failing.len(),
            named_items(failing)
        ),
        (Outcome::Pass, Observed::Value { value, why_not_set }) => format!(
            "{path} is {} (requires {wanted})",
            observed_value(value, why_not_set.as_ref())
        ),
        (_, Observed::Value { value, why_not_set }) => format!(
            "{path} is {}, requires {wanted}",
            observed_value(value, why_not_set.as_ref())
        ),
    }
}

/// The evidence of a rule, a line each: an expired waiver, why it was not assessed, its checks.
pub fn detail_lines(rule: &RuleResult) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(expired) = rule.waiver_expired {
        lines.push(format!("waiver expired on {expired}"));
    }
    match &rule.not_assessed {
        Some(NotAssessedReason::TargetNotConfigured {
            kind,
            configured_by,
        }) => lines.push(format!("target {kind} is not configured ({configured_by})")),
        Some(NotAssessedReason::ByPlaybook) | None => {}
    }
    lines.extend(rule.checks.iter().map(check_line));
    lines
}

/// `path cannot be fixed automatically: why`.
pub fn unfixable_line(unfixable: &Unfixable) -> String {
    format!(
        "{} cannot be fixed automatically: {}",
        unfixable.path, unfixable.reason
    )
}

/// `waived: why (approved by …; ticket …; until …)`.
pub fn waiver_text(waiver: &Waiver) -> String {
    let mut about = Vec::new();
    if let Some(approver) = &waiver.approver {
        about.push(format!("approved by {approver}"));
    }
    if let Some(ticket) = &waiver.ticket {
        about.push(format!("ticket {ticket}"));
    }
    if let Some(expires) = waiver.expires {
        about.push(format!("until {expires}"));
    }
    if about.is_empty() {
        format!("waived: {}", waiver.justification)
    } else {
        format!("waived: {} ({})", waiver.justification, about.join("; "))
    }
}
