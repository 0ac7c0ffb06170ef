//! The `[variables.*]` tables: organisation-defined values.

use toml_edit::{Item, TableLike};

use super::{Context, item_value};
use crate::playbook::{Variable, VariableKind};

impl Context<'_> {
    pub(super) fn variables(&mut self, root: &toml_edit::Table) -> Vec<Variable> {
        let mut variables = Vec::new();
        let Some(item) = root.get("variables") else {
            return variables;
        };
        let Some(table) = item.as_table_like() else {
            self.problem(item.span(), "`variables` must be a table of tables");
            return variables;
        };
        for (name, entry) in table.iter() {
            let what = format!("variable `{name}`");
            let key_span = table.key(name).and_then(toml_edit::Key::span);
            let Some(definition) = entry.as_table_like() else {
                self.problem(entry.span().or(key_span), format!("{what} must be a table"));
                continue;
            };
            self.unknown_keys(
                definition,
                &[
                    "type",
                    "description",
                    "default",
                    "min",
                    "max",
                    "non_empty",
                    "starts_with",
                    "contains",
                ],
                &what,
            );
            let Some(kind_text) = self.required_string(definition, "type", &what, key_span.clone())
            else {
                continue;
            };
            let Some(kind) = VariableKind::parse(&kind_text) else {
                let span = definition.get("type").and_then(Item::span);
                self.problem(
                    span,
                    format!(
                        "{what}: unknown type `{kind_text}` (expected boolean, integer, string or string-array)"
                    ),
                );
                continue;
            };
            let (non_empty, starts_with, contains) = self.constraints(definition, kind, &what);
            let variable = Variable {
                name: name.to_string(),
                description: self
                    .string(definition, "description", &what)
                    .unwrap_or_default(),
                kind,
                default: definition.get("default").and_then(item_value),
                min: self.integer(definition, "min", &what),
                max: self.integer(definition, "max", &what),
                non_empty,
                starts_with,
                contains,
                location: self.location(key_span),
            };
            if let Some(default) = &variable.default
                && let Err(message) = variable.check(default)
            {
                let span = definition.get("default").and_then(Item::span);
                // Reported; the variable is still declared, so its uses are not errors too.
                self.problem(span, format!("default: {message}"));
            }
            variables.push(variable);
        }
        variables
    }

    /// `non_empty`, `starts_with` and `contains` of a variable, refused where its type has no use
    /// for them (a constraint that can never apply would pass every value).
    fn constraints(
        &mut self,
        definition: &dyn TableLike,
        kind: VariableKind,
        what: &str,
    ) -> (bool, Option<String>, Vec<String>) {
        let mut non_empty = false;
        if let Some(item) = definition.get("non_empty") {
            match item.as_bool() {
                Some(flag) => non_empty = flag,
                None => {
                    self.problem(
                        item.span(),
                        format!("`non_empty` in {what} must be true or false"),
                    );
                }
            }
            if !matches!(kind, VariableKind::String | VariableKind::StringArray) {
                self.problem(
                    item.span(),
                    format!(
                        "{what}: `non_empty` applies to string and string-array variables, not {}",
                        kind.as_str()
                    ),
                );
            }
        }
        let starts_with = self.string(definition, "starts_with", what);
        let contains = match definition.get("contains") {
            None => Vec::new(),
            Some(item) => match item_value(item) {
                Some(toml::Value::Array(items)) if items.iter().all(toml::Value::is_str) => items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    self.problem(
                        item.span(),
                        format!("`contains` in {what} must be an array of strings"),
                    );
                    Vec::new()
                }
            },
        };
        for key in ["starts_with", "contains"] {
            if let Some(item) = definition.get(key)
                && kind != VariableKind::String
            {
                self.problem(
                    item.span(),
                    format!(
                        "{what}: `{key}` applies to string variables, not {}",
                        kind.as_str()
                    ),
                );
            }
        }
        let blank = starts_with
            .iter()
            .chain(&contains)
            .any(|text| text.trim().is_empty());
        if blank {
            let span = definition
                .get("starts_with")
                .or_else(|| definition.get("contains"))
                .and_then(Item::span);
            self.problem(span, format!("{what}: a required text must not be blank"));
        }
        (non_empty, starts_with, contains)
    }
}
