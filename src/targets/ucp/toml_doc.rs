//! Whole-document TOML edits that keep everything else as it was: keys, order, comments and
//! indentation (toml_edit keeps a value's comments in its decor, so a replaced value takes the old one's decor, or the comment is lost).

use similar::TextDiff;
use toml_edit::{DocumentMut, Item, TableLike};

use crate::error::{Error, Result, line_column};
use crate::keypath::KeyPath;
use crate::secrets::redact_toml;
use crate::targets::Edit;

/// Parse a document as plain values, naming where it came from on error.
pub fn parse_values(text: &str, source: &str) -> Result<toml::Table> {
    toml::from_str::<toml::Table>(text).map_err(|error| {
        let position = error
            .span()
            .map(|span| {
                let (line, column) = line_column(text, span.start);
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        Error::new(format!(
            "{source} is not valid TOML{position}: {}",
            error.message().trim()
        ))
    })
}

/// Apply edits to a document's text.
pub fn apply_edits(text: &str, edits: &[Edit]) -> Result<String> {
    let mut document = parse_document(text)?;
    for edit in edits {
        set_value(document.as_table_mut(), edit.path.segments(), &edit.after)
            .map_err(|message| Error::new(format!("cannot set `{}`: {message}", edit.path)))?;
    }
    Ok(document.to_string())
}

/// Put the `saved` values of `paths` into a document's text (removing the keys `saved` does
/// not have), keeping everything else as it is.
pub fn restore_paths(text: &str, saved: &toml::Table, paths: &[KeyPath]) -> Result<String> {
    let mut document = parse_document(text)?;
    for path in paths {
        match path.lookup(saved) {
            Some(value) => set_value(document.as_table_mut(), path.segments(), value),
            None => {
                remove_value(document.as_table_mut(), path.segments());
                Ok(())
            }
        }
        .map_err(|message| Error::new(format!("cannot restore `{path}`: {message}")))?;
    }
    Ok(document.to_string())
}

/// `now` with the `saved` values of `paths` put in (keys `saved` lacks removed).
pub fn with_saved_paths(now: &toml::Table, saved: &toml::Table, paths: &[KeyPath]) -> toml::Table {
    let mut table = now.clone();
    for path in paths {
        set_in_table(&mut table, path.segments(), path.lookup(saved).cloned());
    }
    table
}

fn set_in_table(table: &mut toml::Table, path: &[String], value: Option<toml::Value>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match value {
            Some(value) => {
                table.insert(first.clone(), value);
            }
            None => {
                table.remove(first);
            }
        }
        return;
    }
    if value.is_none() && !table.contains_key(first) {
        return;
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(inner) = entry {
        set_in_table(inner, rest, value);
    }
}

fn remove_value(table: &mut dyn TableLike, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        table.remove(first);
        return;
    }
    match table.get_mut(first) {
        Some(Item::Table(inner)) => remove_value(inner, rest),
        Some(Item::Value(toml_edit::Value::InlineTable(inner))) => remove_value(inner, rest),
        _ => {}
    }
}

fn parse_document(text: &str) -> Result<DocumentMut> {
    text.parse().map_err(|error: toml_edit::TomlError| {
        Error::new(format!(
            "cannot edit the document: {}",
            error.message().trim()
        ))
    })
}

/// A unified diff of two documents with secret values redacted in both.
pub fn redacted_diff(before: &str, after: &str) -> String {
    let before = redacted(before);
    let after = redacted(after);
    TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(3)
        .header("live", "planned")
        .to_string()
}

/// A document's text with secret values replaced by `(redacted)`.
pub fn redacted(text: &str) -> String {
    match text.parse::<DocumentMut>() {
        Ok(mut document) => {
            redact_toml(document.as_table_mut());
            document.to_string()
        }
        Err(_) => "(unparsable document not shown)\n".to_string(),
    }
}

fn set_value(
    table: &mut dyn TableLike,
    path: &[String],
    value: &toml::Value,
) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty path")?;
    if rest.is_empty() {
        let indent = sibling_indent(table);
        let mut new_value = to_edit_value(value);
        match table.get_mut(first) {
            Some(Item::Value(old)) => {
                *new_value.decor_mut() = old.decor().clone();
                *old = new_value;
            }
            Some(Item::None) | None => {
                table.insert(first, Item::Value(new_value));
                if let (Some(indent), Some(mut key)) = (indent, table.key_mut(first)) {
                    key.leaf_decor_mut().set_prefix(indent);
                }
            }
            Some(_) => return Err(format!("`{first}` is a table, not a value")),
        }
        return Ok(());
    }
    if table.get(first).is_none() {
        let mut new_table = toml_edit::Table::new();
        new_table.set_implicit(false);
        table.insert(first, Item::Table(new_table));
    }
    let item = table.get_mut(first).expect("inserted above");
    let inner: &mut dyn TableLike = match item {
        Item::Table(inner) => inner,
        Item::Value(toml_edit::Value::InlineTable(inner)) => inner,
        _ => return Err(format!("`{first}` is a value, not a table")),
    };
    set_value(inner, rest, value)
}

/// The indentation of an existing key in the table, so new keys line up with their siblings.
fn sibling_indent(table: &dyn TableLike) -> Option<String> {
    let (key, _) = table.iter().find(|(_, item)| item.is_value())?;
    let key = table.key(key)?;
    key.leaf_decor()
        .prefix()
        .and_then(|prefix| prefix.as_str())
        .map(str::to_string)
}

fn to_edit_value(value: &toml::Value) -> toml_edit::Value {
    match value {
        toml::Value::String(text) => toml_edit::Value::from(text.as_str()),
        toml::Value::Integer(number) => toml_edit::Value::from(*number),
        toml::Value::Float(number) => toml_edit::Value::from(*number),
        toml::Value::Boolean(flag) => toml_edit::Value::from(*flag),
        toml::Value::Datetime(datetime) => datetime
            .to_string()
            .parse::<toml_edit::Datetime>()
            .map(toml_edit::Value::from)
            .unwrap_or_else(|_| toml_edit::Value::from(datetime.to_string())),
        toml::Value::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(to_edit_value(item));
            }
            toml_edit::Value::Array(array)
        }
        toml::Value::Table(table) => {
            let mut inline = toml_edit::InlineTable::new();
            for (key, value) in table {
                inline.insert(key, to_edit_value(value));
            }
            toml_edit::Value::InlineTable(inline)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypath::KeyPath;

    fn edit(path: &str, after: toml::Value) -> Edit {
        Edit {
            path: KeyPath::parse(path).unwrap(),
            before: None,
            after,
            rules: vec![],
        }
    }

    #[test]
    fn replacing_a_value_keeps_comments_order_and_indentation() {
        let given = "# site config\n[trust_configuration]\n  # enforce signing\n  require_content_trust = false # set by installer\n  require_signature_from = []\n\n[audit_log_configuration]\n  level = \"\"\n";
        let produced = apply_edits(
            given,
            &[
                edit("trust_configuration.require_content_trust", true.into()),
                edit("audit_log_configuration.level", "request".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            produced,
            "# site config\n[trust_configuration]\n  # enforce signing\n  require_content_trust = true # set by installer\n  require_signature_from = []\n\n[audit_log_configuration]\n  level = \"request\"\n"
        );
    }

    #[test]
    fn missing_keys_and_tables_are_added_in_place() {
        let given = "[auth]\n  backend = \"managed\"\n";
        let produced = apply_edits(
            given,
            &[
                edit("auth.sessions.lifetime_minutes", 10.into()),
                edit("auth.default_new_user_role", "viewonly".into()),
            ],
        )
        .unwrap();
        let values = parse_values(&produced, "produced").unwrap();
        assert_eq!(
            KeyPath::parse("auth.sessions.lifetime_minutes")
                .unwrap()
                .lookup(&values),
            Some(&10.into())
        );
        assert!(
            produced.contains("  default_new_user_role = \"viewonly\""),
            "{produced}"
        );
        assert!(
            produced.starts_with("[auth]\n  backend = \"managed\"\n"),
            "{produced}"
        );
    }

    #[test]
    fn a_value_where_a_table_is_needed_is_an_error() {
        let error = apply_edits("auth = 1\n", &[edit("auth.backend", "ldap".into())]).unwrap_err();
        assert_eq!(
            error.message(),
            "cannot set `auth.backend`: `auth` is a value, not a table"
        );
    }

    #[test]
    fn diffs_are_unified_and_redacted() {
        let live = "[backup_schedule_config]\n  passphrase = \"verysecretphrase\"\n[audit_log_configuration]\n  level = \"\"\n";
        let planned = apply_edits(
            live,
            &[edit("audit_log_configuration.level", "request".into())],
        )
        .unwrap();
        let diff = redacted_diff(live, &planned);
        assert!(diff.starts_with("--- live\n+++ planned\n"), "{diff}");
        assert!(
            diff.contains("-  level = \"\"\n+  level = \"request\"\n"),
            "{diff}"
        );
        assert!(!diff.contains("verysecretphrase"));
    }

    #[test]
    fn restoring_paths_puts_saved_values_back_and_removes_added_keys() {
        let saved: toml::Table = toml::from_str("[a]\nx = 1\n").unwrap();
        let now = "# kept\n[a]\nx = 2 # note\ny = 3\n[b]\nz = true\n";
        let paths = [
            KeyPath::parse("a.x").unwrap(),
            KeyPath::parse("b.z").unwrap(),
        ];
        let restored = restore_paths(now, &saved, &paths).unwrap();
        assert_eq!(restored, "# kept\n[a]\nx = 1 # note\ny = 3\n[b]\n");
        let now_values: toml::Table = toml::from_str(now).unwrap();
        let table = with_saved_paths(&now_values, &saved, &paths);
        assert_eq!(
            toml::Table::from(table.clone()),
            parse_values(&restored, "r").unwrap()
        );
    }

    #[test]
    fn malformed_documents_name_the_position() {
        let error = parse_values("[a]\nb = \n", "GET https://ucp/api/ucp/config-toml").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("GET https://ucp/api/ucp/config-toml is not valid TOML at line 2"),
            "{}",
            error.message()
        );
    }
}
