//! The plan: what `plan` shows, `plan --out` saves and `apply PLAN.json` carries out.
//!
//! JSON schema `format_version` 1 (design.md, "Plan file"). Values of secret keys are shown as
//! `(redacted)` everywhere in a plan.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::assess::{RuleResult, Status};
use crate::error::{Error, Result};
use crate::keypath::KeyPath;
use crate::playbook::TargetKind;
use crate::secrets::{REDACTED, is_secret_key};
use crate::targets::Edit;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stigfix_version: String,
    pub created_at: String,
    /// TLS verification was off for this plan (`--insecure`).
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub playbooks: Vec<PlaybookRef>,
    pub targets: Vec<TargetPlan>,
    #[serde(default)]
    pub rules: Vec<RuleResult>,
    #[serde(default)]
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlaybookRef {
    pub name: String,
    pub source: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetPlan {
    pub kind: TargetKind,
    pub endpoint: String,
    /// `sha256:…` of the live state read at plan time.
    pub fingerprint: String,
    pub changes: Vec<Change>,
    /// Unified diff of live against planned (secrets redacted), or the requests to send.
    #[serde(default)]
    pub diff: String,
    /// Work the changes bring with them, e.g. `restart docker.service`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Observations about the target that are not a rule's finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Update,
    Remove,
}

impl Action {
    pub fn marker(self) -> char {
        match self {
            Action::Add => '+',
            Action::Update => '~',
            Action::Remove => '-',
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub rules: Vec<String>,
    pub path: KeyPath,
    pub action: Action,
    #[serde(default)]
    pub before: Option<serde_json::Value>,
    #[serde(default)]
    pub after: Option<serde_json::Value>,
}

impl Change {
    /// A plan change from an assessed edit; secret values are redacted.
    pub fn from_edit(edit: &Edit) -> Change {
        let secret = is_secret_key(edit.path.leaf());
        let shown = |value: &toml::Value| {
            if secret {
                serde_json::Value::String(REDACTED.into())
            } else {
                toml_to_json(value)
            }
        };
        Change {
            rules: edit.rules.clone(),
            path: edit.path.clone(),
            action: if edit.before.is_some() {
                Action::Update
            } else {
                Action::Add
            },
            before: edit.before.as_ref().map(shown),
            after: Some(shown(&edit.after)),
        }
    }

    /// The edit a saved plan's change stands for.
    pub fn to_edit(&self) -> Result<Edit> {
        let after = self.after.as_ref().ok_or_else(|| {
            Error::new(format!(
                "the plan's change of `{}` has no `after` value",
                self.path
            ))
        })?;
        if after.as_str() == Some(REDACTED) {
            return Err(Error::new(format!(
                "the plan's change of `{}` is a redacted secret; stigfix cannot write it from a saved plan",
                self.path
            )));
        }
        Ok(Edit {
            path: self.path.clone(),
            before: None,
            after: json_to_toml(after).ok_or_else(|| {
                Error::new(format!(
                    "the plan's value for `{}` is not a TOML value",
                    self.path
                ))
            })?,
            rules: self.rules.clone(),
        })
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub changes: usize,
    pub fix: usize,
    pub open: usize,
    pub pass: usize,
    pub waived: usize,
    pub manual: usize,
    pub not_assessed: usize,
}

impl Plan {
    pub fn new(
        created_at: String,
        insecure: bool,
        playbooks: Vec<PlaybookRef>,
        targets: Vec<TargetPlan>,
        rules: Vec<RuleResult>,
    ) -> Plan {
        let mut summary = Summary {
            changes: targets.iter().map(|target| target.changes.len()).sum(),
            ..Summary::default()
        };
        for rule in &rules {
            match rule.status {
                Status::Pass => summary.pass += 1,
                Status::Fix => summary.fix += 1,
                Status::Open => summary.open += 1,
                Status::Waived => summary.waived += 1,
                Status::Manual => summary.manual += 1,
                Status::NotAssessed => summary.not_assessed += 1,
            }
        }
        Plan {
            format_version: FORMAT_VERSION,
            stigfix_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at,
            insecure,
            playbooks,
            targets,
            rules,
            summary,
        }
    }

    /// Changes pending or open findings (exit 2 with `--detailed-exitcode`).
    pub fn has_findings(&self) -> bool {
        self.summary.changes > 0 || self.rules.iter().any(|rule| rule.status.is_finding())
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("plans serialise");
        text.push('\n');
        text
    }

    /// `sha256:…` of the plan's JSON, recorded in snapshot manifests.
    pub fn hash(&self) -> String {
        fingerprint(self.to_json().as_bytes())
    }

    /// Read a saved plan.
    pub fn from_json(text: &str, source: &str) -> Result<Plan> {
        let probe: serde_json::Value = serde_json::from_str(text).map_err(|error| {
            Error::new(format!(
                "{source}: not a stigfix plan (invalid JSON: {error})"
            ))
        })?;
        match probe
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(version) if version == u64::from(FORMAT_VERSION) => {}
            Some(version) => {
                return Err(Error::new(format!(
                    "{source}: plan format_version {version} is not supported by stigfix {} (it reads version {FORMAT_VERSION})",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            None => {
                return Err(Error::new(format!(
                    "{source}: not a stigfix plan (no format_version)"
                )));
            }
        }
        serde_json::from_value(probe)
            .map_err(|error| Error::new(format!("{source}: malformed plan: {error}")))
    }
}

/// `sha256:<hex>` of some bytes.
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_between_toml_and_json() {
        let value: toml::Value = toml::Value::Array(vec!["a".into(), "b".into()]);
        assert_eq!(json_to_toml(&toml_to_json(&value)), Some(value));
        assert_eq!(
            json_to_toml(&serde_json::json!(10)),
            Some(toml::Value::Integer(10))
        );
    }

    #[test]
    fn secret_changes_are_redacted_and_cannot_be_replayed() {
        let edit = Edit {
            path: KeyPath::parse("backup_schedule_config.passphrase").unwrap(),
            before: Some("old".into()),
            after: "new".into(),
            rules: vec![],
        };
        let change = Change::from_edit(&edit);
        assert_eq!(change.before, Some(serde_json::json!("(redacted)")));
        assert!(change.to_edit().is_err());
    }

    #[test]
    fn plans_round_trip_and_versions_are_checked() {
        let plan = Plan::new("2026-11-22T10:00:00Z".into(), false, vec![], vec![], vec![]);
        let back = Plan::from_json(&plan.to_json(), "plan.json").unwrap();
        assert_eq!(back.format_version, 1);
        let error = Plan::from_json("{\"format_version\": 7}", "plan.json").unwrap_err();
        assert!(error.message().contains("format_version 7"));
        let error = Plan::from_json("nope", "plan.json").unwrap_err();
        assert!(error.message().starts_with("plan.json: not a stigfix plan"));
    }
}
