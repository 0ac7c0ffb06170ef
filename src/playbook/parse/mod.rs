//! Playbook TOML → validated [`Playbook`], with every problem reported as `file:line:col`.
//!
//! One [`Context`] collects the problems of a file; its parts live by concept: the `[playbook]`
//! header, the `[variables.*]` declarations, and the `[[rules]]` with their settings.

mod header;
mod rules;
mod variables;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{Item, TableLike};

use super::Playbook;
use crate::error::{Error, LineIndex, Location, Result};

/// Parse and validate one playbook. `source` is how errors name the file.
pub fn parse_playbook(text: &str, source: &str, path: Option<&Path>) -> Result<Playbook> {
    parse_bounded(text, source, path, &ModeBounds::default())
}

/// Parse and validate a user's playbook: its `mode_within` may not allow bits that `bounds` (the
/// shipped playbooks') do not.
pub(super) fn parse_bounded(
    text: &str,
    source: &str,
    path: Option<&Path>,
    bounds: &ModeBounds,
) -> Result<Playbook> {
    let context = Context {
        source,
        text,
        lines: LineIndex::new(text),
        bounds,
        problems: Vec::new(),
    };
    context.parse(path)
}

/// The `mode_within` of each (STIG ID, path) of some playbooks, with where it was written.
#[derive(Debug, Default)]
pub(super) struct ModeBounds(BTreeMap<String, Vec<(String, u32, Location)>>);

impl ModeBounds {
    pub(super) fn of(playbooks: &[Playbook]) -> ModeBounds {
        let mut bounds = ModeBounds::default();
        for rule in playbooks.iter().flat_map(|playbook| &playbook.rules) {
            for setting in &rule.settings {
                if let Some(mask) = setting.mode_within {
                    bounds
                        .0
                        .entry(rule.meta.stig_id.clone())
                        .or_default()
                        .push((setting.path.to_string(), mask, setting.location.clone()));
                }
            }
        }
        bounds
    }

    /// The bound on `path` of rule `stig_id`: the mask of the same path, or, for a path that
    /// rule does not set, the strictest of its masks.
    fn get(&self, stig_id: &str, path: &str) -> Option<(u32, &Location)> {
        let entries = self.0.get(stig_id)?;
        if let Some((_, mask, location)) = entries.iter().find(|(known, ..)| known == path) {
            return Some((*mask, location));
        }
        let strictest = entries.iter().fold(0o7777, |all, (_, mask, _)| all & mask);
        entries
            .first()
            .map(|(_, _, location)| (strictest, location))
    }
}

struct Context<'a> {
    source: &'a str,
    text: &'a str,
    lines: LineIndex,
    bounds: &'a ModeBounds,
    problems: Vec<String>,
}

impl Context<'_> {
    fn location(&self, span: Option<Range<usize>>) -> Location {
        let (line, column) = self.lines.locate(span.map_or(0, |span| span.start));
        Location {
            file: PathBuf::from(self.source),
            line,
            column,
        }
    }

    fn problem(&mut self, span: Option<Range<usize>>, message: impl AsRef<str>) {
        let location = self.location(span);
        self.problems
            .push(format!("{location}: {}", message.as_ref()));
    }

    fn parse(mut self, path: Option<&Path>) -> Result<Playbook> {
        let document = match toml_edit::Document::parse(self.text) {
            Ok(document) => document,
            Err(error) => {
                self.problem(
                    error.span(),
                    format!("invalid TOML: {}", error.message().trim()),
                );
                return Err(Error::new(self.problems.join("\n")));
            }
        };
        let root = document.as_table();
        self.unknown_keys(root, &["playbook", "variables", "rules"], "the playbook");

        let benchmark = self.header(root, path);
        let variables = self.variables(root);
        let rules = match &benchmark {
            Some((benchmark, _)) => self.rules(root, benchmark, &variables),
            None => Vec::new(),
        };
        if !self.problems.is_empty() {
            return Err(Error::new(self.problems.join("\n")));
        }
        let (benchmark, description) = benchmark.expect("no problems means a benchmark");
        Ok(Playbook {
            source: self.source.to_string(),
            sha256: crate::values::fingerprint(self.text.as_bytes()),
            path: path.map(Path::to_path_buf),
            benchmark,
            description,
            variables,
            rules,
        })
    }

    fn unknown_keys(&mut self, table: &dyn TableLike, known: &[&str], what: &str) {
        for (key, _) in table.iter() {
            if !known.contains(&key) {
                let span = table.key(key).and_then(toml_edit::Key::span);
                self.problem(
                    span,
                    format!(
                        "unknown key `{key}` in {what} (expected one of: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }

    fn string(&mut self, table: &dyn TableLike, key: &str, what: &str) -> Option<String> {
        let item = table.get(key)?;
        match item.as_str() {
            Some(text) => Some(text.to_string()),
            None => {
                self.problem(item.span(), format!("`{key}` in {what} must be a string"));
                None
            }
        }
    }

    fn required_string(
        &mut self,
        table: &dyn TableLike,
        key: &str,
        what: &str,
        span: Option<Range<usize>>,
    ) -> Option<String> {
        if table.get(key).is_none() {
            self.problem(span, format!("{what} needs `{key}`"));
            return None;
        }
        self.string(table, key, what)
    }

    fn integer(&mut self, table: &dyn TableLike, key: &str, what: &str) -> Option<i64> {
        let item = table.get(key)?;
        match item.as_integer() {
            Some(number) => Some(number),
            None => {
                self.problem(item.span(), format!("`{key}` in {what} must be an integer"));
                None
            }
        }
    }
}

/// The tables of an array of tables, or of an array of inline tables, with their spans.
type SpannedTables<'a> = Vec<(&'a dyn TableLike, Option<Range<usize>>)>;

fn tables_of(item: &Item) -> Option<SpannedTables<'_>> {
    if let Some(array) = item.as_array_of_tables() {
        return Some(
            array
                .iter()
                .map(|table| (table as &dyn TableLike, table.span()))
                .collect(),
        );
    }
    let array = item.as_array()?;
    array
        .iter()
        .map(|value| {
            value
                .as_inline_table()
                .map(|table| (table as &dyn TableLike, value.span()))
        })
        .collect()
}

/// A toml_edit item as a plain TOML value.
pub fn item_value(item: &Item) -> Option<toml::Value> {
    item.as_value().map(plain_value)
}

/// A toml_edit value as a plain TOML value (formatting dropped).
pub fn plain_value(value: &toml_edit::Value) -> toml::Value {
    match value {
        toml_edit::Value::String(text) => toml::Value::String(text.value().clone()),
        toml_edit::Value::Integer(number) => toml::Value::Integer(*number.value()),
        toml_edit::Value::Float(number) => toml::Value::Float(*number.value()),
        toml_edit::Value::Boolean(flag) => toml::Value::Boolean(*flag.value()),
        toml_edit::Value::Datetime(datetime) => datetime
            .value()
            .to_string()
            .parse::<toml::value::Datetime>()
            .map(toml::Value::Datetime)
            .unwrap_or_else(|_| toml::Value::String(datetime.value().to_string())),
        toml_edit::Value::Array(array) => {
            toml::Value::Array(array.iter().map(plain_value).collect())
        }
        toml_edit::Value::InlineTable(table) => toml::Value::Table(
            table
                .iter()
                .map(|(key, value)| (key.to_string(), plain_value(value)))
                .collect(),
        ),
    }
}
