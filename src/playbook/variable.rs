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
    /// Check a value against the variable's type and bounds.
    pub fn check(&self, value: &toml::Value) -> Result<(), String> {
        if !self.kind.accepts(value) {
            return Err(format!(
                "variable `{}` must be of type {}, not {}",
                self.name,
                self.kind.as_str(),
                display_value(value)
            ));
        }
        if let Some(number) = value.as_integer() {
            if let Some(min) = self.min
                && number < min
            {
                return Err(format!(
                    "variable `{}` must be at least {min}, not {number}",
                    self.name
                ));
            }
            if let Some(max) = self.max
                && number > max
            {
                return Err(format!(
                    "variable `{}` must be at most {max}, not {number}",
                    self.name
                ));
            }
        }
        Ok(())
    }
}
