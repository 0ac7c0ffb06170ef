//! Variables: organisation-defined values a playbook declares and the site file sets.

use crate::error::Location;
use crate::values::display_value;

/// An organisation-defined value.
#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub description: String,
    pub kind: VariableKind,
    pub default: Option<toml::Value>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// `non_empty = true`: a string must hold more than white space; a string array must have at
    /// least one item and no blank item.
    pub non_empty: bool,
    /// `starts_with = ".."`: a string must begin with this text.
    pub starts_with: Option<String>,
    /// `contains = [..]`: a string must hold each of these passages.
    pub contains: Vec<String>,
    pub location: Location,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariableKind {
    Boolean,
    Integer,
    String,
    StringArray,
}

impl VariableKind {
    pub fn parse(text: &str) -> Option<VariableKind> {
        match text {
            "boolean" => Some(VariableKind::Boolean),
            "integer" => Some(VariableKind::Integer),
            "string" => Some(VariableKind::String),
            "string-array" => Some(VariableKind::StringArray),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VariableKind::Boolean => "boolean",
            VariableKind::Integer => "integer",
            VariableKind::String => "string",
            VariableKind::StringArray => "string-array",
        }
    }

    pub fn accepts(self, value: &toml::Value) -> bool {
        match self {
            VariableKind::Boolean => value.is_bool(),
            VariableKind::Integer => value.is_integer(),
            VariableKind::String => value.is_str(),
            VariableKind::StringArray => value
                .as_array()
                .is_some_and(|items| items.iter().all(toml::Value::is_str)),
        }
    }
}

impl Variable {
    /// Check a value against the variable's type, bounds and constraints. The message names the
    /// variable and the constraint it breaks.
    pub fn check(&self, value: &toml::Value) -> Result<(), String> {
        let name = &self.name;
        if !self.kind.accepts(value) {
            return Err(format!(
                "variable `{name}` must be of type {}, not {}",
                self.kind.as_str(),
                display_value(value)
            ));
        }
        if let Some(number) = value.as_integer() {
            if let Some(min) = self.min
                && number < min
            {
                return Err(format!(
                    "variable `{name}` must be at least {min}, not {number}"
                ));
            }
            if let Some(max) = self.max
                && number > max
            {
                return Err(format!(
                    "variable `{name}` must be at most {max}, not {number}"
                ));
            }
        }
        if self.non_empty {
            match value {
                toml::Value::String(text) if text.trim().is_empty() => {
                    return Err(format!(
                        "variable `{name}` must not be empty (`non_empty = true`)"
                    ));
                }
                toml::Value::Array(items) if items.is_empty() => {
                    return Err(format!(
                        "variable `{name}` must list at least one item (`non_empty = true`)"
                    ));
                }
                toml::Value::Array(items)
                    if items
                        .iter()
                        .any(|item| item.as_str().is_some_and(|text| text.trim().is_empty())) =>
                {
                    return Err(format!(
                        "variable `{name}` must not have an empty item (`non_empty = true`)"
                    ));
                }
                _ => {}
            }
        }
        if let Some(text) = value.as_str() {
            let text = normalize_space(text);
            if let Some(prefix) = &self.starts_with
                && !text.starts_with(&normalize_space(prefix))
            {
                return Err(format!(
                    "variable `{name}` must start with \"{}\" (`starts_with`)",
                    prefix.trim()
                ));
            }
            let missing: Vec<&String> = self
                .contains
                .iter()
                .filter(|passage| !text.contains(&normalize_space(passage)))
                .collect();
            if let Some(first) = missing.first() {
                let more = match missing.len() {
                    1 => String::new(),
                    count => format!(", and {} more of its passages", count - 1),
                };
                return Err(format!(
                    "variable `{name}` must contain \"{}\"{more} (`contains`)",
                    first.trim()
                ));
            }
        }
        Ok(())
    }
}

/// Text with every run of white space (line breaks included) as one space, and none at either
/// end: how `starts_with` and `contains` compare, so a banner may be wrapped differently.
fn normalize_space(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn variable(kind: VariableKind) -> Variable {
        Variable {
            name: "x".into(),
            description: String::new(),
            kind,
            default: None,
            min: None,
            max: None,
            non_empty: false,
            starts_with: None,
            contains: Vec::new(),
            location: Location {
                file: PathBuf::from("p.toml"),
                line: 1,
                column: 1,
            },
        }
    }

    fn text(value: &str) -> toml::Value {
        toml::Value::String(value.into())
    }

    #[test]
    fn non_empty_refuses_blank_strings_empty_arrays_and_blank_items() {
        let mut string = variable(VariableKind::String);
        assert!(string.check(&text("")).is_ok(), "no constraint, no error");
        string.non_empty = true;
        assert_eq!(
            string.check(&text(" \n")).unwrap_err(),
            "variable `x` must not be empty (`non_empty = true`)"
        );
        assert!(string.check(&text("banner")).is_ok());

        let mut array = variable(VariableKind::StringArray);
        array.non_empty = true;
        assert_eq!(
            array.check(&toml::Value::Array(vec![])).unwrap_err(),
            "variable `x` must list at least one item (`non_empty = true`)"
        );
        assert_eq!(
            array
                .check(&toml::Value::Array(vec![text("org/team"), text(" ")]))
                .unwrap_err(),
            "variable `x` must not have an empty item (`non_empty = true`)"
        );
        assert!(
            array
                .check(&toml::Value::Array(vec![text("org/team")]))
                .is_ok()
        );
    }

    #[test]
    fn required_text_ignores_how_white_space_is_laid_out() {
        let mut banner = variable(VariableKind::String);
        banner.starts_with = Some("You are accessing a U.S. Government".into());
        banner.contains = vec!["At any time, the USG may inspect".into(), "See User".into()];
        assert!(
            banner
                .check(&text(
                    "  You are accessing\na U.S.   Government IS.\n\n- At any time,\nthe USG may inspect. See User"
                ))
                .is_ok()
        );
        assert_eq!(
            banner
                .check(&text("Welcome. You are accessing a U.S. Government"))
                .unwrap_err(),
            "variable `x` must start with \"You are accessing a U.S. Government\" (`starts_with`)"
        );
        assert_eq!(
            banner
                .check(&text("You are accessing a U.S. Government IS."))
                .unwrap_err(),
            "variable `x` must contain \"At any time, the USG may inspect\", and 1 more of its passages (`contains`)"
        );
    }
}
