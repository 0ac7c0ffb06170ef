//! The `[variables.*]` tables: organisation-defined values.

use toml_edit::Item;

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
                &["type", "description", "default", "min", "max"],
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
            let variable = Variable {
                name: name.to_string(),
                description: self
                    .string(definition, "description", &what)
                    .unwrap_or_default(),
                kind,
                default: definition.get("default").and_then(item_value),
                min: self.integer(definition, "min", &what),
                max: self.integer(definition, "max", &what),
                location: self.location(key_span),
            };
            if let Some(default) = &variable.default
                && let Err(message) = variable.check(default)
            {
                let span = definition.get("default").and_then(Item::span);
                self.problem(span, format!("default: {message}"));
                continue;
            }
            variables.push(variable);
        }
        variables
    }
}
