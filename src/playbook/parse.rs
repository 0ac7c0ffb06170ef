//! Playbook TOML → validated [`Playbook`], with every problem reported as `file:line:col`.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml_edit::{Item, TableLike};

use super::{Match, Mode, Playbook, Rule, Setting, TargetKind, ValueSpec, Variable, VariableKind};
use crate::benchmark::{self, Benchmark};
use crate::error::{Error, IoContext, Location, Result, line_column};
use crate::keypath::KeyPath;

/// Playbooks shipped in the binary: (file name, text).
const SHIPPED: &[(&str, &str)] = &[
    (
        "docker-enterprise-2x-v2r2.toml",
        include_str!("../../playbooks/docker-enterprise-2x-v2r2.toml"),
    ),
    (
        "mke-v2r1.toml",
        include_str!("../../playbooks/mke-v2r1.toml"),
    ),
];

/// The shipped playbooks, parsed and validated.
pub fn shipped() -> Result<Vec<Playbook>> {
    let mut playbooks = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in SHIPPED {
        match parse_playbook(text, &format!("(shipped) playbooks/{name}"), None) {
            Ok(playbook) => playbooks.push(playbook),
            Err(error) => problems.push(error.message().to_string()),
        }
    }
    if problems.is_empty() {
        Ok(playbooks)
    } else {
        Err(Error::new(problems.join("\n")))
    }
}

/// Load playbooks from files or folders (`*.toml` inside, in name order).
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Playbook>> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).with_path("read playbook", path)?;
        if metadata.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_path("read playbook folder", path)?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|entry| {
                    entry
                        .extension()
                        .is_some_and(|extension| extension == "toml")
                })
                .collect();
            entries.sort();
            if entries.is_empty() {
                return Err(Error::new(format!(
                    "playbook folder {} holds no .toml files",
                    path.display()
                )));
            }
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    let mut playbooks = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_path("read playbook", &file)?;
        match parse_playbook(&text, &file.display().to_string(), Some(&file)) {
            Ok(playbook) => playbooks.push(playbook),
            Err(error) => problems.push(error.message().to_string()),
        }
    }
    if problems.is_empty() {
        Ok(playbooks)
    } else {
        Err(Error::new(problems.join("\n")).with_hint(
            "the playbook format is documented in playbooks/README.md; `stigfix playbook validate PATH` checks a file",
        ))
    }
}

/// Parse and validate one playbook. `source` is how errors name the file.
pub fn parse_playbook(text: &str, source: &str, path: Option<&Path>) -> Result<Playbook> {
    let context = Context {
        source,
        text,
        problems: Vec::new(),
    };
    context.parse(path)
}

struct Context<'a> {
    source: &'a str,
    text: &'a str,
    problems: Vec<String>,
}

impl Context<'_> {
    fn location(&self, span: Option<Range<usize>>) -> Location {
        let (line, column) = line_column(self.text, span.map_or(0, |span| span.start));
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

    fn header(
        &mut self,
        root: &toml_edit::Table,
        path: Option<&Path>,
    ) -> Option<(Arc<Benchmark>, String)> {
        let Some(item) = root.get("playbook") else {
            self.problem(
                Some(0..0),
                "missing [playbook] table (with `benchmark` and `release`)",
            );
            return None;
        };
        let Some(table) = item.as_table_like() else {
            self.problem(item.span(), "`playbook` must be a table");
            return None;
        };
        self.unknown_keys(
            table,
            &["benchmark", "release", "xccdf", "description"],
            "[playbook]",
        );
        let span = item.span();
        let id = self.required_string(table, "benchmark", "[playbook]", span.clone())?;
        let release = self.required_string(table, "release", "[playbook]", span.clone())?;
        let description = self
            .string(table, "description", "[playbook]")
            .unwrap_or_default();

        let benchmark: Arc<Benchmark> = if let Some(xccdf) =
            self.string(table, "xccdf", "[playbook]")
        {
            let base = path
                .and_then(Path::parent)
                .unwrap_or_else(|| Path::new("."));
            match Benchmark::from_file(&base.join(&xccdf)) {
                Ok(benchmark) => Arc::new(benchmark),
                Err(error) => {
                    let span = table.get("xccdf").and_then(Item::span);
                    self.problem(span, error.message());
                    return None;
                }
            }
        } else {
            match benchmark::find_embedded(&id) {
                Some(benchmark) => benchmark,
                None => {
                    let known: Vec<&str> = benchmark::embedded()
                        .iter()
                        .map(|b| b.id.as_str())
                        .collect();
                    let span = table.get("benchmark").and_then(Item::span);
                    self.problem(
                        span,
                        format!(
                            "unknown benchmark `{id}` (stigfix embeds: {}; name another with `xccdf = \"file.xml\"`)",
                            known.join(", ")
                        ),
                    );
                    return None;
                }
            }
        };
        if benchmark.id != id {
            let span = table.get("benchmark").and_then(Item::span);
            self.problem(
                span,
                format!(
                    "`benchmark = \"{id}\"` but the XCCDF file is benchmark `{}`",
                    benchmark.id
                ),
            );
            return None;
        }
        if benchmark.release != release {
            let span = table.get("release").and_then(Item::span);
            self.problem(
                span,
                format!(
                    "the playbook is for release {release} but the benchmark is {} ({})",
                    benchmark.release, benchmark.release_info
                ),
            );
            return None;
        }
        Some((benchmark, description))
    }

    fn variables(&mut self, root: &toml_edit::Table) -> Vec<Variable> {
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

    fn rules(
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
            &["id", "target", "mode", "match", "note", "settings"],
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
                format!("{what}: unknown target `{target_text}` (expected ucp, dtr or host)"),
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
                        if let Some(setting) =
                            self.setting(entry, entry_span, &what, mode, variables)
                        {
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
            location: self.location(span),
        })
    }

    fn setting(
        &mut self,
        table: &dyn TableLike,
        span: Option<Range<usize>>,
        rule: &str,
        mode: Mode,
        variables: &[Variable],
    ) -> Option<Setting> {
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
        let list = |context: &mut Self, key: &str| -> Option<Vec<toml::Value>> {
            let item = table.get(key)?;
            match item_value(item) {
                Some(toml::Value::Array(items)) => Some(items),
                _ => {
                    context.problem(item.span(), format!("{rule}: `{key}` must be an array"));
                    None
                }
            }
        };
        let setting = Setting {
            one_of: list(self, "one_of"),
            not_in: list(self, "not_in"),
            min: self.integer(table, "min", &what),
            max: self.integer(table, "max", &what),
            mode_within: match table.get("mode_within") {
                None => None,
                Some(item) => match item_value(item)
                    .as_ref()
                    .and_then(toml::Value::as_str)
                    .and_then(super::parse_mode)
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
                    super::display_value(value)
                ),
            );
            return None;
        }
        Some(setting)
    }
}

/// `"${name}"` → `name`.
fn variable_reference(text: &str) -> Option<&str> {
    text.strip_prefix("${")?.strip_suffix('}')
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n";

    fn parse(body: &str) -> Result<Playbook> {
        parse_playbook(&format!("{HEADER}{body}"), "test.toml", None)
    }

    #[test]
    fn shipped_playbooks_are_valid() {
        let playbooks = shipped().unwrap();
        assert_eq!(playbooks.len(), 2);
        assert!(playbooks.iter().all(|playbook| !playbook.rules.is_empty()));
    }

    #[test]
    fn a_rule_takes_its_metadata_from_the_benchmark() {
        let playbook = parse(
            "[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = [{ path = \"trust_configuration.require_content_trust\", value = true }]\n",
        )
        .unwrap();
        let rule = &playbook.rules[0];
        assert_eq!(rule.meta.vuln_id, "V-235847");
        assert_eq!(rule.mode, Mode::Enforce);
        assert_eq!(rule.settings[0].location.line, 7);
    }

    #[test]
    fn unknown_rule_id_names_file_line_column_and_the_nearest_id() {
        let error = parse("[[rules]]\nid = \"DKER-EE-00437\"\ntarget = \"ucp\"\nsettings = []\n")
            .unwrap_err();
        assert_eq!(
            error.message(),
            "test.toml:5:6: unknown STIG ID `DKER-EE-00437`: not in Docker_Enterprise_2-x_Linux-UNIX_STIG V2R2; did you mean DKER-EE-004370?"
        );
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let error = parse(
            "typo = 1\n[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"moon\"\n[[rules]]\nid = \"DKER-EE-001080\"\ntarget = \"ucp\"\nmode = \"sometimes\"\nsettings = []\n",
        )
        .unwrap_err();
        let message = error.message();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 3, "{}", error.message());
        assert!(lines[0].starts_with("test.toml:4:1: unknown key `typo`"));
        assert!(lines[1].contains("unknown target `moon`"));
        assert!(lines[2].contains("unknown mode `sometimes`"));
    }

    #[test]
    fn invalid_toml_is_located() {
        let error = parse("[[rules]\n").unwrap_err();
        assert!(
            error.message().starts_with("test.toml:4:"),
            "{}",
            error.message()
        );
        assert!(error.message().contains("invalid TOML"));
    }

    #[test]
    fn enforced_settings_need_a_value_and_variables_must_exist() {
        let error = parse(
            "[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.per_user_limit\", min = 1 }]\n",
        )
        .unwrap_err();
        assert!(
            error.message().contains("needs a `value`"),
            "{}",
            error.message()
        );
        let error = parse(
            "[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.per_user_limit\", value = \"${limit}\" }]\n",
        )
        .unwrap_err();
        assert!(
            error.message().contains("`${limit}` names no variable"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn variable_defaults_are_type_checked() {
        let error = parse(
            "[variables.limit]\ntype = \"integer\"\ndefault = \"three\"\n[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.per_user_limit\", value = \"${limit}\" }]\n",
        )
        .unwrap_err();
        assert!(
            error.message().contains("must be of type integer"),
            "{}",
            error.message()
        );
    }

    #[test]
    fn wrong_release_is_refused() {
        let error = parse_playbook(
            "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V1R1\"\n[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = []\n",
            "old.toml",
            None,
        )
        .unwrap_err();
        assert!(
            error
                .message()
                .starts_with("old.toml:3:11: the playbook is for release V1R1")
        );
    }
}
