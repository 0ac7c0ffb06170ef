//! Values as stigfix compares, shows and stores them: equality, display, the conversions between
//! TOML (playbooks, UCP) and JSON (DTR, plans), file modes, fingerprints — and [`Shown`], the one
//! type a value takes on its way to any output, which redacts secrets where it is made.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::keypath::KeyPath;
use crate::secrets::{REDACTED, is_secret_key};

/// `sha256:<hex>` of some bytes.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Equality of TOML values, with integers and floats of the same number equal.
pub fn values_equal(a: &toml::Value, b: &toml::Value) -> bool {
    match (a, b) {
        (toml::Value::Integer(x), toml::Value::Float(y))
        | (toml::Value::Float(y), toml::Value::Integer(x)) => (*x as f64) == *y,
        (toml::Value::Array(x), toml::Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| values_equal(x, y))
        }
        _ => a == b,
    }
}

/// A value as TOML source text (`true`, `"request"`, `["a", "b"]`); long strings are shortened.
pub fn display_value(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => {
            let shown: String = if text.chars().count() > 60 {
                let prefix: String = text.chars().take(57).collect();
                format!("{prefix}...")
            } else {
                text.clone()
            };
            format!("{shown:?}")
        }
        toml::Value::Array(items) => display_list(items),
        other => other.to_string(),
    }
}

/// `[a, b]` with each item shown by [`display_value`].
pub fn display_list(values: &[toml::Value]) -> String {
    let items: Vec<String> = values.iter().map(display_value).collect();
    format!("[{}]", items.join(", "))
}

/// A file mode as stigfix shows it: four octal digits.
pub fn format_mode(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Parse `"644"`, `"0644"` or `"0o644"`; `None` unless octal digits of at most 0o7777.
pub fn parse_mode(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
}

/// A mode given as a string of octal digits (`"0644"`) or an integer written with octal digits
/// (`644`).
pub fn mode_value(value: &toml::Value) -> Option<u32> {
    match value {
        toml::Value::String(text) => parse_mode(text),
        toml::Value::Integer(number) => parse_mode(&number.to_string()),
        _ => None,
    }
}

pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(text) => serde_json::Value::String(text.clone()),
        toml::Value::Integer(number) => serde_json::Value::from(*number),
        toml::Value::Float(number) => serde_json::Value::from(*number),
        toml::Value::Boolean(flag) => serde_json::Value::Bool(*flag),
        toml::Value::Datetime(datetime) => serde_json::Value::String(datetime.to_string()),
        toml::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(toml_to_json).collect())
        }
        toml::Value::Table(table) => serde_json::Value::Object(
            table
                .iter()
                .map(|(key, value)| (key.clone(), toml_to_json(value)))
                .collect(),
        ),
    }
}

/// `None` for JSON `null` (TOML has no null) or a structure holding one.
pub fn json_to_toml(value: &serde_json::Value) -> Option<toml::Value> {
    Some(match value {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(flag) => toml::Value::Boolean(*flag),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(integer) => toml::Value::Integer(integer),
            None => toml::Value::Float(number.as_f64()?),
        },
        serde_json::Value::String(text) => toml::Value::String(text.clone()),
        serde_json::Value::Array(items) => {
            toml::Value::Array(items.iter().map(json_to_toml).collect::<Option<_>>()?)
        }
        serde_json::Value::Object(map) => toml::Value::Table(
            map.iter()
                .map(|(key, value)| Some((key.clone(), json_to_toml(value)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// 16 bytes as a UUID's text (`8-4-4-4-12` lowercase hex); the caller sets version and variant.
pub fn uuid_text(bytes: [u8; 16]) -> String {
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A value as it may appear in any output (plans, reports, checklists, logs): the value, "not
/// set", or `(redacted)` for the value of a secret key. Made only through [`Shown::at`], which
/// decides about redaction from the path, so no renderer can forget it.
#[derive(Clone, Debug, PartialEq)]
pub enum Shown {
    NotSet,
    Redacted,
    Value(serde_json::Value),
}

impl Shown {
    /// The value at `path`, redacted when the path's last key names a secret.
    pub fn at(path: &KeyPath, value: Option<&toml::Value>) -> Shown {
        match value {
            None => Shown::NotSet,
            Some(_) if is_secret_key(path.leaf()) => Shown::Redacted,
            Some(value) => Shown::Value(toml_to_json(value)),
        }
    }

    /// Several values at one path (a requirement's list), redacted like one.
    pub fn list_at(path: &KeyPath, values: &[toml::Value]) -> Vec<Shown> {
        values
            .iter()
            .map(|value| Shown::at(path, Some(value)))
            .collect()
    }

    pub fn is_set(&self) -> bool {
        !matches!(self, Shown::NotSet)
    }

    /// The TOML value, when there is one to show.
    pub fn to_toml(&self) -> Option<toml::Value> {
        match self {
            Shown::Value(value) => json_to_toml(value),
            _ => None,
        }
    }

    /// `true`, `"request"`, `(redacted)` or `(not set)`.
    pub fn display(&self) -> String {
        match self {
            Shown::NotSet => "(not set)".into(),
            Shown::Redacted => REDACTED.into(),
            Shown::Value(value) => match json_to_toml(value) {
                Some(value) => display_value(&value),
                None => value.to_string(),
            },
        }
    }
}

/// JSON: `null`, `"(redacted)"` or the value itself.
impl Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Shown::NotSet => serializer.serialize_none(),
            Shown::Redacted => serializer.serialize_str(REDACTED),
            Shown::Value(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Shown {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(match value {
            serde_json::Value::Null => Shown::NotSet,
            serde_json::Value::String(text) if text == REDACTED => Shown::Redacted,
            other => Shown::Value(other),
        })
    }
}

impl schemars::JsonSchema for Shown {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A value as read or to be written; null when not set; the string \"(redacted)\" for the value of a secret key."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_between_toml_and_json() {
        let value = toml::Value::Array(vec!["a".into(), "b".into()]);
        assert_eq!(json_to_toml(&toml_to_json(&value)), Some(value));
        assert_eq!(
            json_to_toml(&serde_json::json!(10)),
            Some(toml::Value::Integer(10))
        );
        assert!(values_equal(
            &toml::Value::Integer(3),
            &toml::Value::Float(3.0)
        ));
    }

    #[test]
    fn secrets_are_redacted_where_the_value_is_made() {
        let secret = KeyPath::parse("backup_schedule_config.passphrase").unwrap();
        let shown = Shown::at(&secret, Some(&"hunter2".into()));
        assert_eq!(shown, Shown::Redacted);
        assert_eq!(serde_json::to_string(&shown).unwrap(), "\"(redacted)\"");
        assert_eq!(shown.display(), "(redacted)");
        let plain = KeyPath::parse("auth.backend").unwrap();
        assert_eq!(
            Shown::at(&plain, Some(&"ldap".into())).display(),
            "\"ldap\""
        );
        assert_eq!(Shown::at(&secret, None), Shown::NotSet);
    }

    #[test]
    fn modes_parse_from_strings_and_integers() {
        assert_eq!(parse_mode("0644"), Some(0o644));
        assert_eq!(parse_mode("0o600"), Some(0o600));
        assert_eq!(parse_mode("9"), None);
        assert_eq!(mode_value(&toml::Value::Integer(640)), Some(0o640));
        assert_eq!(format_mode(0o100644), "0644");
    }
}
