//! Every kind of target stigfix knows, one line each in [`ALL`]. A registration says how the
//! run's settings configure targets of its kind and how to connect to one; nothing outside a
//! target's folder and this list names a kind.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{Target, TargetSpec};
use crate::error::{Error, Result};
use crate::http::session::UcpSession;
use crate::learned::Learned;
use crate::secrets::Service;
use crate::settings::Settings;

/// Every target kind, in the order runs read, plan and apply them.
pub static ALL: &[&Registration] = &[
    &super::ucp::REGISTRATION,
    &super::dtr::REGISTRATION,
    &super::host::REGISTRATION,
    &super::workload::REGISTRATION,
];

/// A kind of target: `ucp`, `dtr`, `host`. Only kinds in [`ALL`] exist.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetKind(&'static str);

impl TargetKind {
    /// For a registration's constant.
    pub const fn new(name: &'static str) -> TargetKind {
        TargetKind(name)
    }

    /// The registered kind of this name.
    pub fn parse(text: &str) -> Option<TargetKind> {
        ALL.iter()
            .map(|registration| registration.kind)
            .find(|kind| kind.0 == text)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// `ucp, dtr, host`.
    pub fn names() -> String {
        ALL.iter()
            .map(|registration| registration.kind.0)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn registration(self) -> &'static Registration {
        ALL.iter()
            .find(|registration| registration.kind == self)
            .expect("every TargetKind is registered")
    }
}

impl TargetKind {
    /// The position in [`ALL`]: the order runs and outputs take targets in.
    fn position(self) -> usize {
        ALL.iter()
            .position(|registration| registration.kind == self)
            .unwrap_or(usize::MAX)
    }
}

impl PartialOrd for TargetKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TargetKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.position()
            .cmp(&other.position())
            .then_with(|| self.0.cmp(other.0))
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for TargetKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for TargetKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        TargetKind::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown target kind `{text}` (known: {})",
                TargetKind::names()
            ))
        })
    }
}

impl schemars::JsonSchema for TargetKind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TargetKind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = ALL.iter().map(|registration| registration.kind.0).collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

/// How one kind of target is configured and connected.
pub struct Registration {
    pub kind: TargetKind,
    /// What configures it, for "not configured" messages: `--ucp-url`.
    pub configured_by: &'static str,
    /// The kind whose asset this one's results belong to in checklists (the `workload` target
    /// is part of the UCP/MKE cluster's asset); `None`: its own.
    pub part_of: Option<TargetKind>,
    /// The password this kind logs in with, if any (`login`, `logout`).
    pub service: Option<Service>,
    /// The targets of this kind the run's settings name (endpoints normalised).
    pub specs: fn(&Settings) -> Result<Vec<TargetSpec>>,
    /// Build a target: clients, credentials.
    pub connect: fn(&TargetSpec, &Connector) -> Result<Box<dyn Target>>,
}

impl Registration {
    /// What tells this kind's assets apart in checklists: the option that configures the kind
    /// it is part of, or its own.
    pub fn asset_class(&self) -> &'static str {
        match self.part_of {
            Some(kind) => kind.registration().configured_by,
            None => self.configured_by,
        }
    }
}

/// What connecting needs: the run's settings, and the sessions targets share (a UCP login that
/// another target on the same cluster reuses).
pub struct Connector<'a> {
    pub settings: &'a Settings,
    /// What earlier runs learned about the servers (`learned.json` beside the snapshots).
    pub learned: Arc<Learned>,
    sessions: Mutex<HashMap<String, Arc<UcpSession>>>,
}

impl<'a> Connector<'a> {
    pub fn new(settings: &'a Settings) -> Result<Connector<'a>> {
        Ok(Connector {
            settings,
            learned: Arc::new(Learned::load(&settings.snapshot_dir)?),
            sessions: Mutex::new(HashMap::new()),
        })
    }

    /// The one UCP session for `url` in this run, made on first use.
    pub fn ucp_session(&self, url: &str) -> Result<Arc<UcpSession>> {
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(session) = sessions.get(url) {
            return Ok(Arc::clone(session));
        }
        let session = Arc::new(UcpSession::connect(self.settings, url)?);
        sessions.insert(url.to_string(), Arc::clone(&session));
        Ok(session)
    }

    /// Connect every spec, in order.
    pub fn connect_all(&self, specs: &[TargetSpec]) -> Result<Vec<Box<dyn Target>>> {
        specs
            .iter()
            .map(|spec| (spec.kind.registration().connect)(spec, self))
            .collect()
    }
}

/// Every target the settings configure, registry order; an error when there is none.
pub fn configured(settings: &Settings) -> Result<Vec<TargetSpec>> {
    let mut specs = Vec::new();
    for registration in ALL {
        for spec in (registration.specs)(settings)? {
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
    }
    if specs.is_empty() {
        return Err(Error::new("no target configured").with_hint(
            "pass --ucp-url URL, --dtr-url URL and/or --host-root DIR (or STIGFIX_UCP_URL, STIGFIX_DTR_URL, STIGFIX_HOST_ROOT, or the site file); try `stigfix demo` to see a whole run",
        ));
    }
    Ok(specs)
}
