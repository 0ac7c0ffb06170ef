//! The `[[rules]]` and their settings.

use std::collections::BTreeSet;
use std::ops::Range;

use toml_edit::{Item, TableLike};

use super::{Context, item_value, tables_of};
use crate::benchmark::Benchmark;
use crate::keypath::KeyPath;
use crate::playbook::{Match, Mode, Rule, Setting, TargetKind, ValueSpec, Variable, VariableKind};
use crate::values::format_mode;

impl Context<'_> {
    pub(super) fn rules(
        &mut self,
        root: &toml_edit::Table,
        benchmark: &Benchmark,
        variables: &[Variable],
    ) -> Vec<Rule> {
        let mut rules = Vec::new();
        let Some(item) = root.get("rules") else {
            self.problem(Some(0..0), "the playbook has no [[rules]]");
            return rules;
        };
        let tables = tables_of(item);
        if tables.is_none() {
            self.problem(
                item.span(),
                "`rules` must be an array of tables ([[rules]])",
            );
            return rules;
        }
        let mut seen = BTreeSet::new();
        for (table, span) in tables.unwrap_or_default() {
            if let Some(rule) = self.rule(table, span, benchmark, variables) {
                if !seen.insert(rule.meta.stig_id.clone()) {
                    let span = table.get("id").and_then(Item::span);
                    self.problem(
                        span,
                        format!("rule {} appears twice in this playbook", rule.meta.stig_id),
                    );
                    continue;
                }
                rules.push(rule);
            }
        }
        rules
    }

    fn rule(
        &mut self,
        table: &dyn TableLike,
        span: Option<Range<usize>>,
        benchmark: &Benchmark,
        variables: &[Variable],
    ) -> Option<Rule> {
        self.unknown_keys(
            table,
            &[
                "id", "target", "mode", "match", "note", "prevents", "settings",
            ],
            "a rule",
        );
        let id = self.required_string(table, "id", "a rule", span.clone())?;
        let what = format!("rule {id}");
        let id_span = table.get("id").and_then(Item::span);
        let Some(meta) = benchmark.rule(&id) else {
            let hint = benchmark
                .nearest(&id)
                .map(|nearest| format!("; did you mean {nearest}?"))
                .unwrap_or_default();
            self.problem(
                id_span,
                format!(
                    "unknown STIG ID `{id}`: not in {} {}{hint}",
                    benchmark.id, benchmark.release
                ),
            );
            return None;
        };
        let target_text = self.required_string(table, "target", &what, span.clone())?;
        let Some(target) = TargetKind::parse(&target_text) else {
            let span = table.get("target").and_then(Item::span);
            self.problem(
                span,
                format!(
                    "{what}: unknown target `{target_text}` (expected {})",
                    TargetKind::names()
                ),
            );
            return None;
        };
        let mode = match self.string(table, "mode", &what).as_deref() {
            None | Some("enforce") => Mode::Enforce,
            Some("check") => Mode::Check,
            Some("manual") => Mode::Manual,
            Some("not-assessed") => Mode::NotAssessed,
            Some(other) => {
                let span = table.get("mode").and_then(Item::span);
                self.problem(
                    span,
                    format!(
                        "{what}: unknown mode `{other}` (expected enforce, check, manual or not-assessed)"
                    ),
                );
                return None;
            }
        };
        let matching = match self.string(table, "match", &what).as_deref() {
            None | Some("all") => Match::All,
            Some("any") => Match::Any,
            Some(other) => {
                let span = table.get("match").and_then(Item::span);
                self.problem(
                    span,
                    format!("{what}: unknown match `{other}` (expected all or any)"),
                );
                return None;
            }
        };
        if matching == Match::Any && mode == Mode::Enforce {
            let span = table.get("match").and_then(Item::span);
            self.problem(
                span,
                format!(
                    "{what}: `match = \"any\"` needs `mode = \"check\"` (stigfix cannot choose which setting to fix)"
                ),
            );
            return None;
        }
        let note = self.string(table, "note", &what);
        let prevents = self.prevents(table, &what, &meta.stig_id, mode, benchmark)?;
        let mut settings = Vec::new();
        match table.get("settings") {
            None if matches!(mode, Mode::Manual | Mode::NotAssessed) => {}
            None => {
                self.problem(
                    span.clone(),
                    format!("{what} needs `settings` (or `mode = \"manual\"`)"),
                );
                return None;
            }
            Some(item) => match tables_of(item) {
                Some(entries) => {
                    for (entry, entry_span) in entries {
                        let owner = Owner {
                            what: &what,
                            stig_id: &meta.stig_id,
                            target,
                            mode,
                            variables,
                        };
                        if let Some(setting) = self.setting(entry, entry_span, &owner) {
                            settings.push(setting);
                        }
                    }
                }
                None => {
                    self.problem(
                        item.span(),
                        format!("{what}: `settings` must be an array of tables"),
                    );
                    return None;
                }
            },
        }
        if matches!(mode, Mode::Manual | Mode::NotAssessed) && note.is_none() {
            self.problem(
                span.clone(),
                format!(
                    "{what}: a {} rule needs a `note` saying why and what to review",
                    mode.as_str()
                ),
            );
            return None;
        }
        Some(Rule {
            meta: meta.clone(),
            target,
            mode,
            matching,
            settings,
            note,
            prevents,
            location: self.location(span),
        })
    }

    /// `prevents = ["CNTR-MK-000150", …]`: STIG IDs of the same benchmark, for a rule that
    /// sets configuration (enforce or check) and says in its note how it prevents them.
    fn prevents(
        &mut self,
        table: &dyn TableLike,
        what: &str,
        own: &str,
        mode: Mode,
        benchmark: &Benchmark,
    ) -> Option<Vec<String>> {
        let Some(item) = table.get("prevents") else {
            return Some(Vec::new());
        };
        let ids: Option<Vec<String>> = match item_value(item) {
            Some(toml::Value::Array(items)) => items
                .into_iter()
                .map(|id| id.as_str().map(str::to_string))
                .collect(),
            _ => None,
        };
        let Some(ids) = ids else {
            self.problem(
                item.span(),
                format!("{what}: `prevents` must be an array of STIG IDs"),
            );
            return None;
        };
        if matches!(mode, Mode::Manual | Mode::NotAssessed) {
            self.problem(
                item.span(),
                format!(
                    "{what}: `prevents` needs settings that prevent something (mode enforce or check), not mode {}",
                    mode.as_str()
                ),
            );
            return None;
        }
        let mut fine = true;
        for id in &ids {
            if id == own {
                self.problem(
                    item.span(),
                    format!("{what}: `prevents` names the rule itself"),
                );
                fine = false;
            } else if benchmark.rule(id).is_none() {
                let hint = benchmark
                    .nearest(id)
                    .map(|nearest| format!("; did you mean {nearest}?"))
                    .unwrap_or_default();
                self.problem(
                    item.span(),
                    format!(
                        "{what}: `prevents` names `{id}`, not in {} {}{hint}",
                        benchmark.id, benchmark.release
                    ),
                );
                fine = false;
            }
        }
        fine.then_some(ids)
    }

    fn setting(
        &mut self,
        table: &dyn TableLike,
        span: Option<Range<usize>>,
        owner: &Owner<'_>,
    ) -> Option<Setting> {
        let (rule, mode, variables) = (owner.what, owner.mode, owner.variables);
        let what = format!("a setting of {rule}");
        self.unknown_keys(
            table,
            &[
                "path",
                "value",
                "one_of",
                "not_in",
                "min",
                "max",
                "mode_within",
            ],
            &what,
        );
        let path_text = self.required_string(table, "path", &what, span.clone())?;
        let path = match KeyPath::parse(&path_text) {
            Ok(path) => path,
            Err(message) => {
                let span = table.get("path").and_then(Item::span);
                self.problem(span, format!("{rule}: {message}"));
                return None;
            }
        };
        let value = match table.get("value") {
            None => None,
            Some(item) => {
                let value = item_value(item)?;
                match value.as_str().and_then(variable_reference) {
                    Some(name) => {
                        if !variables.iter().any(|variable| variable.name == name) {
                            self.problem(
                                item.span(),
                                format!("{rule}: `${{{name}}}` names no variable of this playbook"),
                            );
                            return None;
                        }
                        Some(ValueSpec::Variable(name.to_string()))
                    }
                    None => Some(ValueSpec::Literal(value)),
                }
            }
        };
        // `one_of`/`not_in`: an array, or `"${name}"` of a string-array variable (a site list).
        let list = |context: &mut Self, key: &str| -> (Option<Vec<toml::Value>>, Option<String>) {
            let Some(item) = table.get(key) else {
                return (None, None);
            };
            match item_value(item) {
                Some(toml::Value::Array(items)) => (Some(items), None),
                Some(toml::Value::String(text)) if variable_reference(&text).is_some() => {
                    let name = variable_reference(&text).unwrap_or_default();
                    match variables.iter().find(|variable| variable.name == name) {
                        Some(variable) if variable.kind == VariableKind::StringArray => {
                            (None, Some(name.to_string()))
                        }
                        Some(variable) => {
                            context.problem(
                                item.span(),
                                format!(
                                    "{rule}: `{key} = \"${{{name}}}\"` needs a string-array variable; `{name}` is {}",
                                    variable.kind.as_str()
                                ),
                            );
                            (None, None)
                        }
                        None => {
                            context.problem(
                                item.span(),
                                format!("{rule}: `${{{name}}}` names no variable of this playbook"),
                            );
                            (None, None)
                        }
                    }
                }
                _ => {
                    context.problem(
                        item.span(),
                        format!("{rule}: `{key}` must be an array or \"${{variable}}\""),
                    );
                    (None, None)
                }
            }
        };
        let (one_of, one_of_variable) = list(self, "one_of");
        let (not_in, not_in_variable) = list(self, "not_in");
        let setting = Setting {
            one_of,
            not_in,
            one_of_variable,
            not_in_variable,
            min: self.integer(table, "min", &what),
            max: self.integer(table, "max", &what),
            mode_within: match table.get("mode_within") {
                None => None,
                Some(item) => match item_value(item)
                    .as_ref()
                    .and_then(toml::Value::as_str)
                    .and_then(crate::values::parse_mode)
                {
                    Some(mask) => Some(mask),
                    None => {
                        self.problem(
                            item.span(),
                            format!("{rule}: `mode_within` must be an octal mode string such as \"0644\""),
                        );
                        return None;
                    }
                },
            },
            path,
            value,
            location: self.location(span.clone()),
        };
        if owner.target == crate::targets::host::KIND
            && setting.path.leaf() == "mode"
            && !self.file_mode(table, span.clone(), owner, &setting)
        {
            return None;
        }
        if setting.value.is_none()
            && setting.mode_within.is_none()
            && (mode == Mode::Enforce || !setting.has_constraint())
        {
            self.problem(
                span,
                format!(
                    "{rule}: setting `{}` needs a `value`{}",
                    setting.path,
                    if mode == Mode::Enforce {
                        " (the value `apply` writes)"
                    } else {
                        " or a constraint"
                    }
                ),
            );
            return None;
        }
        if let (Some(ValueSpec::Literal(value)), true) = (&setting.value, setting.has_constraint())
            && !setting.is_satisfied(Some(value), Some(value))
        {
            let span = table.get("value").and_then(Item::span);
            self.problem(
                span,
                format!(
                    "{rule}: `value` {} does not meet the setting's own constraint",
                    crate::values::display_value(value)
                ),
            );
            return None;
        }
        Some(setting)
    }

    /// A file mode is only ever made stricter: `mode_within` (the fix clears bits), never a
    /// `value` or `one_of` that `apply` would write as it is, and never wider than the shipped
    /// playbook's `mode_within` for the rule. False when the setting is refused.
    fn file_mode(
        &mut self,
        table: &dyn TableLike,
        span: Option<Range<usize>>,
        owner: &Owner<'_>,
        setting: &Setting,
    ) -> bool {
        let rule = owner.what;
        let path = setting.path.to_string();
        let mut fine = true;
        for key in ["value", "one_of"] {
            if let Some(item) = table.get(key) {
                self.problem(
                    item.span(),
                    format!(
                        "{rule}: `{path}` is a file mode: give `mode_within` (its fix only ever clears bits), not `{key}`, which could loosen it"
                    ),
                );
                fine = false;
            }
        }
        let Some(mask) = setting.mode_within else {
            if fine {
                self.problem(
                    span,
                    format!(
                        "{rule}: `{path}` is a file mode and needs `mode_within` (e.g. \"0644\")"
                    ),
                );
            }
            return false;
        };
        if let Some((bound, location)) = self.bounds.get(owner.stig_id, &path)
            && mask & !bound != 0
        {
            let message = format!(
                "{rule}: `mode_within = \"{}\"` on `{path}` allows bits {} that the shipped playbook does not ({} or stricter, {location}); a playbook may only make a mode stricter",
                format_mode(mask),
                format_mode(mask & !bound),
                format_mode(bound),
            );
            self.problem(table.get("mode_within").and_then(Item::span), message);
            fine = false;
        }
        fine
    }
}

/// The rule a setting belongs to.
struct Owner<'a> {
    /// `rule DKER-EE-005300`, for messages.
    what: &'a str,
    stig_id: &'a str,
    target: TargetKind,
    mode: Mode,
    variables: &'a [Variable],
}

/// `"${name}"` → `name`.
fn variable_reference(text: &str) -> Option<&str> {
    text.strip_prefix("${")?.strip_suffix('}')
}
