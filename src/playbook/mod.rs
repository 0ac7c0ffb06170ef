//! Playbooks: the declarative desired state, one file per STIG release.
//!
//! A playbook names a DISA benchmark and, for each rule it automates, the target and the desired
//! values of settings on that target. Everything DISA published about the rule (title, severity,
//! Vuln ID, Rule ID, CCIs, check and fix text) comes from the benchmark, never from the playbook.
//! The format is documented in `playbooks/README.md`.

pub mod coverage;
mod load;
mod parse;
mod resolve;
mod variable;

use std::path::PathBuf;
use std::sync::Arc;

use crate::benchmark::{Benchmark, RuleMeta};
use crate::error::Location;
use crate::keypath::KeyPath;

pub use load::{load_paths, shipped};
pub use parse::{item_value as parse_item_value, parse_playbook, plain_value};
pub use resolve::{ResolvedRule, ResolvedSetting, RuleFilter, RuleSet, SettingValue, resolve};
pub use variable::{Variable, VariableKind};

pub use crate::targets::TargetKind;
use crate::values::{display_list, display_value, format_mode, parse_mode, values_equal};

/// How a rule is carried out.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Assessed, and fixed by `apply` when not compliant.
    Enforce,
    /// Assessed and reported; never changed (it needs site details such as an LDAP server).
    Check,
    /// Cannot be assessed by reading settings; reported with its note for a person to review.
    Manual,
    /// Not assessed by this version (e.g. checks of running containers); reported with its note.
    NotAssessed,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Check => "check",
            Mode::Manual => "manual",
            Mode::NotAssessed => "not-assessed",
        }
    }
}

/// Whether every setting of a rule must hold, or one is enough.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    All,
    Any,
}

/// A value in a playbook: a literal, or `"${name}"`, a reference to a variable.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueSpec {
    Literal(toml::Value),
    Variable(String),
}

/// One setting a rule checks, and (for enforced rules) the value it writes.
#[derive(Clone, Debug)]
pub struct Setting {
    pub path: KeyPath,
    /// The desired value. Compliance is equality with it unless a constraint below is given.
    pub value: Option<ValueSpec>,
    /// The live value must be one of these.
    pub one_of: Option<Vec<toml::Value>>,
    /// The live value must be none of these (a missing key passes).
    pub not_in: Option<Vec<toml::Value>>,
    /// `one_of = "${name}"`: the list of `one_of` is a string-array variable (a site allow-list,
    /// e.g. the published ports the SSP approves); resolving fills `one_of` in.
    pub one_of_variable: Option<String>,
    /// `not_in = "${name}"`: the list of `not_in` is a string-array variable (a deny-list).
    pub not_in_variable: Option<String>,
    /// The live value must be an integer at least this.
    pub min: Option<i64>,
    /// The live value must be an integer at most this.
    pub max: Option<i64>,
    /// The live value is a file mode (`"0640"`) whose permission bits must all be within these
    /// (`0o644` = "644 or more restrictive"). The fix clears the other bits: it only ever makes a
    /// mode stricter, so such a setting needs no `value`.
    pub mode_within: Option<u32>,
    pub location: Location,
}

impl Setting {
    /// True when this setting checks a constraint rather than plain equality.
    pub fn has_constraint(&self) -> bool {
        self.one_of.is_some()
            || self.not_in.is_some()
            || self.one_of_variable.is_some()
            || self.not_in_variable.is_some()
            || self.min.is_some()
            || self.max.is_some()
            || self.mode_within.is_some()
    }

    /// The value `apply` writes when the live value does not comply: the stricter mode for a
    /// `mode_within` setting, else the desired value.
    pub fn fix_value(
        &self,
        live: Option<&toml::Value>,
        desired: Option<&toml::Value>,
    ) -> Option<toml::Value> {
        if let Some(mask) = self.mode_within {
            let live = live.and_then(toml::Value::as_str).and_then(parse_mode);
            return Some(toml::Value::String(format_mode(
                live.map_or(mask, |mode| mode & mask),
            )));
        }
        desired.cloned()
    }

    /// Whether `live` satisfies this setting, given its resolved desired value.
    pub fn is_satisfied(&self, live: Option<&toml::Value>, desired: Option<&toml::Value>) -> bool {
        if !self.has_constraint() {
            return match (live, desired) {
                (Some(live), Some(desired)) => values_equal(live, desired),
                // A list the server leaves out is an empty list (every list setting of UCP/MKE
                // defaults to empty; a server may not render an empty one).
                (None, Some(toml::Value::Array(items))) => items.is_empty(),
                _ => false,
            };
        }
        if let Some(allowed) = &self.one_of
            && !live.is_some_and(|live| allowed.iter().any(|value| values_equal(live, value)))
        {
            return false;
        }
        if let Some(denied) = &self.not_in
            && live.is_some_and(|live| denied.iter().any(|value| values_equal(live, value)))
        {
            return false;
        }
        if let Some(min) = self.min
            && live
                .and_then(toml::Value::as_integer)
                .is_none_or(|live| live < min)
        {
            return false;
        }
        if let Some(max) = self.max
            && live
                .and_then(toml::Value::as_integer)
                .is_none_or(|live| live > max)
        {
            return false;
        }
        if let Some(mask) = self.mode_within
            && live
                .and_then(toml::Value::as_str)
                .and_then(parse_mode)
                .is_none_or(|mode| mode & !mask != 0)
        {
            return false;
        }
        true
    }

    /// A short description of what the setting requires, for reports.
    pub fn describe_requirement(&self, desired: Option<&toml::Value>) -> String {
        let mut parts = Vec::new();
        match (&self.one_of, &self.one_of_variable) {
            (Some(allowed), _) => parts.push(format!("one of {}", display_list(allowed))),
            (None, Some(name)) => parts.push(format!("one of ${{{name}}}")),
            (None, None) => {}
        }
        match (&self.not_in, &self.not_in_variable) {
            (Some(denied), _) => parts.push(format!("not {}", display_list(denied))),
            (None, Some(name)) => parts.push(format!("not ${{{name}}}")),
            (None, None) => {}
        }
        if let Some(min) = self.min {
            parts.push(format!(">= {min}"));
        }
        if let Some(max) = self.max {
            parts.push(format!("<= {max}"));
        }
        if let Some(mask) = self.mode_within {
            parts.push(format!("{} or stricter", format_mode(mask)));
        }
        if parts.is_empty()
            && let Some(desired) = desired
        {
            parts.push(format!("= {}", display_value(desired)));
        }
        format!("{} {}", self.path, parts.join(", "))
    }
}

/// One automated rule of a playbook.
#[derive(Clone, Debug)]
pub struct Rule {
    pub meta: RuleMeta,
    pub target: TargetKind,
    pub mode: Mode,
    pub matching: Match,
    pub settings: Vec<Setting>,
    pub note: Option<String>,
    /// STIG IDs (of the same benchmark) whose violations this rule's settings prevent: the
    /// workload rules a configuration keeps from happening (MKE `priv_attributes_*` and the
    /// host-namespace, privileged and capability rules). The rule's note says how.
    pub prevents: Vec<String>,
    pub location: Location,
}

impl Rule {
    /// Whether the rule is configuration that prevents what other (workload) rules report.
    pub fn is_prevention(&self) -> bool {
        !self.prevents.is_empty()
    }
}

/// A validated playbook.
#[derive(Debug)]
pub struct Playbook {
    /// Where it came from: a path, or `(shipped) playbooks/NAME.toml`.
    pub source: String,
    /// `sha256:…` of the playbook's text.
    pub sha256: String,
    pub path: Option<PathBuf>,
    pub benchmark: Arc<Benchmark>,
    pub description: String,
    pub variables: Vec<Variable>,
    pub rules: Vec<Rule>,
}

impl Playbook {
    /// A short display name: `Docker_Enterprise_2-x_Linux-UNIX_STIG V2R2`.
    pub fn name(&self) -> String {
        format!("{} {}", self.benchmark.id, self.benchmark.release)
    }
}
