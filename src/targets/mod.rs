//! The targets stigfix reads and changes, behind one seam.
//!
//! A target is a folder here with its client, its live state, its edits and its saved state,
//! and one line in [`registry`]. It implements [`Target`] (read; and, when it can change
//! anything, apply and restore) and its state implements [`LiveState`] (the [`Document`] that
//! the pure assessment reads, plus what a plan and a snapshot need). A read-only target
//! implements `read` and its state's `Document` and `fingerprint`; the defaults do the rest.
//!
//! | target | live state | document paths |
//! |---|---|---|
//! | [`ucp`] | the config-toml document | its TOML keys |
//! | [`dtr`] | settings, scan status, repositories | `settings.*`, `imagescan.*`, `repositories.*.*` |
//! | [`host`] | one Engine node's units, daemon.json and files | `dockerd.*`, `files.<role>.*` |
//! | [`workload`] | a cluster's containers and Swarm services (read-only) | `containers.*.*`, `services.*.*` |

pub mod document;
pub mod dtr;
pub mod host;
pub mod registry;
pub mod ucp;
pub mod workload;

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

pub use document::{Document, Edit, Saved, Written};
pub use registry::{Connector, Registration, TargetKind};

use crate::error::{Error, Result};

/// Which target, and where: the identity every result, change, lock and snapshot entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TargetSpec {
    pub kind: TargetKind,
    /// The base URL (`https://ucp.example.mil`) or the host root (`/`, `/mnt/node1`).
    pub endpoint: String,
}

impl TargetSpec {
    pub fn new(kind: TargetKind, endpoint: impl Into<String>) -> TargetSpec {
        TargetSpec {
            kind,
            endpoint: endpoint.into(),
        }
    }

    /// `ucp:ucp.example.mil`, `host:/mnt/node1`: short, unique in a run, stable across runs.
    pub fn id(&self) -> String {
        let place = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, rest)| rest);
        format!("{}:{place}", self.kind)
    }

    /// `ucp https://ucp.example.mil`, as messages name a target.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind, self.endpoint)
    }
}

impl fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The product and version a target runs (`GET /version` of UCP/MKE, DTR's
/// `/api/v0/admin/version`, the node's dockerd), recorded in plans, snapshots and reports.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Product {
    /// `UCP`, `MKE`, `DTR`, `MSR`, `Docker Engine`.
    pub name: String,
    /// `3.7.3`; `None` when the server did not say.
    pub version: Option<String>,
}

impl Product {
    pub fn new(name: &str, version: Option<&str>) -> Product {
        Product {
            name: name.to_string(),
            version: version.map(str::to_string),
        }
    }

    /// `(major, minor)` of the version, when it has them.
    pub fn major_minor(&self) -> Option<(u64, u64)> {
        let version = self.version.as_deref()?;
        let mut parts = version
            .trim_start_matches('v')
            .split(['.', '-', '+'])
            .map(|part| part.parse::<u64>().ok());
        Some((parts.next()??, parts.next()??))
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{} {version}", self.name),
            None => write!(f, "{} (version unknown)", self.name),
        }
    }
}

/// Set when the run must stop starting new writes (Ctrl-C, SIGTERM). A write already sent is
/// finished — a write that was sent may have happened, so it belongs to the restore.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err` when set: the error a write returns once it has finished what it sent.
    pub fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::interrupted())
        } else {
            Ok(())
        }
    }
}

/// One configured target: something stigfix reads and maybe changes.
#[async_trait::async_trait]
pub trait Target: Send + Sync {
    fn spec(&self) -> &TargetSpec;

    /// Requests sent so far (benchmarks, the demo's narration).
    fn request_count(&self) -> usize {
        0
    }

    /// Read the live state.
    async fn read(&self) -> Result<Box<dyn LiveState>>;

    /// Write `edits` to the state `live` was read as, verify every value by reading back, and
    /// return the state read back. Stop starting new writes once `stop` is set, finish those
    /// sent, and fail. The default: a read-only target.
    async fn apply(
        &self,
        _live: &dyn LiveState,
        _edits: &[Edit],
        _stop: &Stop,
    ) -> Result<Box<dyn LiveState>> {
        Err(read_only(self.spec()))
    }

    /// After a verified apply: work that follows it (a daemon restart), as lines to report.
    async fn post_apply(&self, _edits: &[Edit]) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Put back the saved values of the settings in `scope` (what a write changed and is still
    /// live now), leaving everything else as it is now, and verify them. `now` is the state
    /// just read.
    async fn restore(
        &self,
        _now: &dyn LiveState,
        _saved: &Saved,
        _scope: &[Written],
    ) -> Result<Box<dyn LiveState>> {
        Err(read_only(self.spec()))
    }

    /// What must still be done by hand after restoring `saved` (a daemon restart).
    fn restore_actions(&self, _saved: &Saved) -> Vec<String> {
        Vec::new()
    }

    /// The target can read, plan and write its items page by page (see [`Streaming`]).
    fn streaming(&self) -> Option<&dyn Streaming> {
        None
    }
}

/// A target whose state is a head (settings: a few requests) and items read page by page (a
/// registry's thousands of repositories), which it can write while later pages are still read.
/// An unattended `apply --yes` (no saved plan, no question) uses it; the engine plans each page,
/// journals its edits durably and only then hands them back to be written.
#[async_trait::async_trait]
pub trait Streaming: Send + Sync {
    /// The state without its items: what the run reads before the transaction starts.
    async fn read_head(&self) -> Result<Box<dyn LiveState>>;

    /// Read the items page by page. Hand each part read (the head with some of the items: the
    /// head's own paths may be in every part) to `sink`, and write exactly the edits it
    /// returns, once it has returned them. Stop starting new writes once `stop` is set or a
    /// read or a write fails, finish those sent, and fail. Returns the whole state as read and,
    /// when it wrote anything, as it is after the writes (each written value checked).
    async fn stream(
        &self,
        head: &dyn LiveState,
        sink: &mut dyn Sink,
        stop: &Stop,
    ) -> Result<Streamed>;
}

/// What a [`Streaming`] target read and wrote.
pub struct Streamed {
    /// The whole state as read, before any write: what the plan is made from.
    pub before: Box<dyn LiveState>,
    /// The state after the writes; `None` when nothing needed a write.
    pub after: Option<Box<dyn LiveState>>,
}

/// The engine's side of a stream: plans each part and journals its edits.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// The edits `part` needs that no earlier part gave, in the snapshot's journal (fsynced)
    /// with what puts them back before this returns. Only these may be written.
    async fn plan(&mut self, part: &dyn LiveState) -> Result<Vec<Edit>>;
}

/// A target's live state as read: the document the assessment reads, and what plans and
/// snapshots need of it.
pub trait LiveState: Document + Any + Send + Sync + fmt::Debug {
    /// `sha256:…` of the state, for the drift guard.
    fn fingerprint(&self) -> &str;

    /// The product and version the state was read from.
    fn product(&self) -> Option<Product> {
        None
    }

    /// Observations about the target for the plan (not findings of a rule).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// What a write taught about the server (a setting it dropped because it does not have
    /// it), one line each, for the run's output.
    fn learned(&self) -> Vec<String> {
        Vec::new()
    }

    /// Why `apply` must refuse this target outright, changes or not (a host root with no Docker
    /// Engine installation: an empty or unmounted `--host-root`). `plan` still reports it.
    fn refusal(&self) -> Option<String> {
        None
    }

    /// Work the edits bring with them beyond the writes (e.g. a daemon restart).
    fn actions(&self, _edits: &[Edit]) -> Vec<String> {
        Vec::new()
    }

    /// The state to save before `edits` change anything.
    fn saved(&self, _edits: &[Edit]) -> Result<Saved> {
        Err(Error::new(
            "this target is read-only: it has no state to save",
        ))
    }

    /// The current state of everything restoring `saved` will change: what a rollback saves
    /// first, so the rollback itself can be undone.
    fn capture(&self, saved: &Saved) -> Result<Saved> {
        self.saved(&self.edits_to_saved(saved))
    }

    /// What `edits` change, for the plan: a unified diff (secrets redacted) or the requests.
    fn diff(&self, _edits: &[Edit]) -> Result<String> {
        Ok(String::new())
    }

    /// What restoring the `scope` of saved state changes (for a rollback's preview).
    fn diff_to_saved(&self, _saved: &Saved, _scope: &[Written]) -> String {
        String::new()
    }

    /// Edits that turn this state into the saved one.
    fn edits_to_saved(&self, _saved: &Saved) -> Vec<Edit> {
        Vec::new()
    }
}

/// The state a target read itself, from the `dyn` the engine hands back.
pub fn own_state<'a, T: LiveState>(live: &'a dyn LiveState, spec: &TargetSpec) -> Result<&'a T> {
    (live as &dyn Any).downcast_ref::<T>().ok_or_else(|| {
        Error::new(format!(
            "{}: given the state of another kind of target (a bug in stigfix)",
            spec.label()
        ))
    })
}

fn read_only(spec: &TargetSpec) -> Error {
    Error::new(format!(
        "{} is read-only: stigfix never changes it",
        spec.label()
    ))
}
