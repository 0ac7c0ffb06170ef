//! What every target's live state offers the pure assessment (`crate::assess`): values at key
//! paths, where each was read, the expansion of wildcard paths, whether a path can be written —
//! and the records of change that plans and snapshots carry.

use serde::{Deserialize, Serialize};

use crate::keypath::KeyPath;
use crate::values::{json_to_toml, toml_to_json, values_equal};

/// One setting to change on a target.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    /// A concrete path (never a wildcard).
    pub path: KeyPath,
    pub before: Option<toml::Value>,
    pub after: toml::Value,
    /// STIG IDs of the rules that want this change.
    pub rules: Vec<String>,
}

/// What a write changes at one path: the value before and after (`None`: not set). A snapshot
/// keeps these (privately: they may hold secrets) so a restore can tell, path by path, what is
/// still the value this run wrote (put back), what is back already (left), and what somebody
/// else changed since (reported, never overwritten).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Written {
    pub path: KeyPath,
    #[serde(with = "optional_value")]
    pub before: Option<toml::Value>,
    #[serde(with = "optional_value")]
    pub after: Option<toml::Value>,
}

impl Written {
    pub fn of(edits: &[Edit]) -> Vec<Written> {
        edits
            .iter()
            .map(|edit| Written {
                path: edit.path.clone(),
                before: edit.before.clone(),
                after: Some(edit.after.clone()),
            })
            .collect()
    }
}

/// TOML values stored as JSON (`null` for not set).
mod optional_value {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<toml::Value>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value
            .as_ref()
            .map(super::toml_to_json)
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<toml::Value>, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(super::json_to_toml(&value))
    }
}

/// Saved state of a target, enough to restore it exactly.
#[derive(Clone, Debug)]
pub struct Saved {
    /// File name inside the snapshot folder.
    pub file: String,
    pub bytes: Vec<u8>,
}

/// A target's live state seen as a document of values at key paths.
pub trait Document {
    /// The live value at a concrete path, `None` when it is not set.
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value>;

    /// The concrete paths a playbook path stands for. A path with a `*` segment stands for
    /// every matching item (every repository, every registry certificate); a path of an object
    /// that does not exist and need not exist (a file the STIG only checks when present) stands
    /// for none. The default: the path itself.
    fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        vec![pattern.clone()]
    }

    /// Whether `apply` can write this path; `Err` says why not and what to do instead.
    fn writable(&self, _path: &KeyPath) -> Result<(), String> {
        Ok(())
    }

    /// Whether `apply` can write `after` at `path` (a path `writable` accepts); `Err` says why
    /// not this value (e.g. a file mode that would add a permission bit). The default: yes.
    fn accepts(&self, _path: &KeyPath, _after: &toml::Value) -> Result<(), String> {
        Ok(())
    }

    /// Why a path has no value, when there is more to say than "not set".
    fn explain(&self, _path: &KeyPath) -> Option<String> {
        None
    }

    /// Where the value at `path` was read: an endpoint (`GET https://…/api/ucp/config-toml`)
    /// or a file (`/etc/docker/daemon.json`, with `:line` where known).
    fn source(&self, _path: &KeyPath) -> Option<String> {
        None
    }

    /// Why the value at `path` cannot be determined (a configuration stigfix cannot interpret,
    /// a file it cannot read): the rule is then `unknown`, never `pass`.
    fn unknown(&self, _path: &KeyPath) -> Option<String> {
        None
    }

    /// Whether two values at `path` are the same setting (a target may know that `"0644"` and
    /// `644`, or two orders of a list, are).
    fn same(&self, _path: &KeyPath, a: Option<&toml::Value>, b: Option<&toml::Value>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => values_equal(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Document for toml::Table {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        path.lookup(self).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_values_round_trip_through_json() {
        let written = Written {
            path: KeyPath::parse("a.b").unwrap(),
            before: None,
            after: Some(toml::Value::Array(vec![1.into()])),
        };
        let text = serde_json::to_string(&written).unwrap();
        assert_eq!(text, r#"{"path":"a.b","before":null,"after":[1]}"#);
        assert_eq!(serde_json::from_str::<Written>(&text).unwrap(), written);
    }
}
