//! The targets stigfix reads and changes. Each target reads its live state, applies edits with
//! verification, and restores saved state; the engine (`crate::engine`) drives them alike.
//!
//! | target | live state | document paths |
//! |---|---|---|
//! | [`ucp`] | the config-toml document | its TOML keys |
//! | [`dtr`] | settings, scan status, repositories | `settings.*`, `imagescan.*`, `repositories.*.*` |
//! | [`host`] | one Engine node's units, daemon.json and files | `dockerd.*`, `files.<role>.*` |

pub mod document;
pub mod dtr;
pub mod host;
pub mod toml_doc;
pub mod ucp;

pub use document::{Document, Edit, Saved};

use crate::error::Result;
use crate::keypath::KeyPath;
use crate::playbook::TargetKind;

/// A configured target.
pub enum Target {
    Ucp(ucp::UcpClient),
    Dtr(dtr::DtrClient),
    Host(host::HostTarget),
}

/// A target's live state as read.
#[derive(Clone, Debug)]
pub enum Live {
    Ucp(ucp::UcpLive),
    Dtr(dtr::DtrLive),
    Host(host::HostLive),
}

impl Target {
    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Ucp(_) => TargetKind::Ucp,
            Target::Dtr(_) => TargetKind::Dtr,
            Target::Host(_) => TargetKind::Host,
        }
    }

    pub fn endpoint(&self) -> &str {
        match self {
            Target::Ucp(client) => client.endpoint(),
            Target::Dtr(client) => client.endpoint(),
            Target::Host(host) => host.endpoint(),
        }
    }

    /// `ucp https://ucp.example.mil`.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind().as_str(), self.endpoint())
    }

    pub fn request_count(&self) -> usize {
        match self {
            Target::Ucp(client) => client.request_count(),
            Target::Dtr(client) => client.request_count(),
            Target::Host(_) => 0,
        }
    }

    pub async fn read(&self) -> Result<Live> {
        match self {
            Target::Ucp(client) => Ok(Live::Ucp(client.read().await?)),
            Target::Dtr(client) => Ok(Live::Dtr(client.read().await?)),
            Target::Host(host) => Ok(Live::Host(host.read().await?)),
        }
    }

    /// Write the edits and verify them; returns the state read back.
    pub async fn apply(&self, live: &Live, edits: &[Edit]) -> Result<Live> {
        match (self, live) {
            (Target::Ucp(client), Live::Ucp(live)) => {
                Ok(Live::Ucp(client.apply(live, edits).await?))
            }
            (Target::Dtr(client), Live::Dtr(live)) => {
                Ok(Live::Dtr(client.apply(live, edits).await?))
            }
            (Target::Host(host), Live::Host(live)) => {
                Ok(Live::Host(host.apply(live, edits).await?))
            }
            _ => unreachable!("a target is applied with its own live state"),
        }
    }

    /// After a verified apply: work that follows it (a daemon restart), as lines to report.
    pub async fn post_apply(&self, edits: &[Edit]) -> Result<Vec<String>> {
        match self {
            Target::Ucp(_) | Target::Dtr(_) => Ok(Vec::new()),
            Target::Host(host) => host.post_apply(edits).await,
        }
    }

    /// The current state of what restoring `saved` will change (for the snapshot a rollback
    /// writes before it changes anything).
    pub fn capture(&self, live: &Live, saved: &Saved) -> Result<Saved> {
        match (self, live) {
            (Target::Host(host), _) => host.capture(saved),
            (_, live) => live.saved(&live.edits_to_saved(saved)),
        }
    }

    /// What must still be done by hand after restoring `saved` (a daemon restart).
    pub fn restore_actions(&self, saved: &Saved) -> Vec<String> {
        match self {
            Target::Ucp(_) | Target::Dtr(_) => Vec::new(),
            Target::Host(host) => host.restore_actions(saved),
        }
    }

    /// Put saved state back and verify it. `now` is the state the caller has just read, if it
    /// could (a target that compares against it need not read everything again).
    pub async fn restore(&self, now: Option<&Live>, saved: &Saved) -> Result<Live> {
        match self {
            Target::Ucp(client) => {
                let text = String::from_utf8(saved.bytes.clone()).map_err(|_| {
                    crate::error::Error::new(format!(
                        "snapshot file {} is not UTF-8 text",
                        saved.file
                    ))
                })?;
                Ok(Live::Ucp(client.restore(&text).await?))
            }
            Target::Dtr(client) => {
                let now = match now {
                    Some(Live::Dtr(now)) => Some(now),
                    _ => None,
                };
                Ok(Live::Dtr(client.restore(now, saved).await?))
            }
            Target::Host(host) => Ok(Live::Host(host.restore(saved).await?)),
        }
    }
}

impl Live {
    fn document(&self) -> &dyn Document {
        match self {
            Live::Ucp(live) => live,
            Live::Dtr(live) => live,
            Live::Host(live) => live,
        }
    }

    pub fn fingerprint(&self) -> &str {
        match self {
            Live::Ucp(live) => &live.fingerprint,
            Live::Dtr(live) => &live.fingerprint,
            Live::Host(live) => &live.fingerprint,
        }
    }

    /// Observations about the target for the plan (not findings of a rule).
    pub fn notes(&self) -> Vec<String> {
        match self {
            Live::Ucp(_) => Vec::new(),
            Live::Dtr(live) => live.notes(),
            Live::Host(live) => live.notes(),
        }
    }

    /// Actions the edits bring with them beyond the writes (e.g. a daemon restart).
    pub fn actions(&self, edits: &[Edit]) -> Vec<String> {
        match self {
            Live::Ucp(_) | Live::Dtr(_) => Vec::new(),
            Live::Host(live) => live.actions(edits),
        }
    }

    /// The state to save before `edits` change anything.
    pub fn saved(&self, edits: &[Edit]) -> Result<Saved> {
        match self {
            Live::Ucp(live) => Ok(Saved {
                file: "ucp-config.toml".into(),
                bytes: live.text.clone().into_bytes(),
            }),
            Live::Dtr(live) => live.saved(edits),
            Live::Host(live) => live.saved(edits),
        }
    }

    /// What `edits` change, for the plan: a unified diff (secrets redacted) or the requests.
    pub fn diff(&self, edits: &[Edit]) -> Result<String> {
        match self {
            Live::Ucp(live) => {
                let planned = toml_doc::apply_edits(&live.text, edits)?;
                Ok(toml_doc::redacted_diff(&live.text, &planned))
            }
            Live::Dtr(live) => live.diff(edits),
            Live::Host(live) => live.diff(edits),
        }
    }

    /// What a rollback to saved state changes (for its preview).
    pub fn diff_to_saved(&self, saved: &Saved) -> String {
        match self {
            Live::Ucp(live) => {
                toml_doc::redacted_diff(&live.text, &String::from_utf8_lossy(&saved.bytes))
            }
            Live::Dtr(live) => live.diff_to_saved(saved),
            Live::Host(live) => live.diff_to_saved(saved),
        }
    }

    /// Edits that turn this state into the saved one, for showing a rollback as a plan.
    pub fn edits_to_saved(&self, saved: &Saved) -> Vec<Edit> {
        match self {
            Live::Ucp(live) => {
                let Ok(target) =
                    toml_doc::parse_values(&String::from_utf8_lossy(&saved.bytes), "snapshot")
                else {
                    return Vec::new();
                };
                let mut edits = Vec::new();
                collect_differences(&live.values, &target, &mut Vec::new(), &mut edits);
                edits
            }
            Live::Dtr(live) => live.edits_to_saved(saved),
            Live::Host(live) => live.edits_to_saved(saved),
        }
    }
}

impl Document for Live {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        self.document().lookup(path)
    }

    fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        self.document().expand(pattern)
    }

    fn writable(&self, path: &KeyPath) -> std::result::Result<(), String> {
        self.document().writable(path)
    }

    fn explain(&self, path: &KeyPath) -> Option<String> {
        self.document().explain(path)
    }
}

fn collect_differences(
    live: &toml::Table,
    target: &toml::Table,
    prefix: &mut Vec<String>,
    edits: &mut Vec<Edit>,
) {
    for (key, wanted) in target {
        prefix.push(key.clone());
        match (live.get(key), wanted) {
            (Some(toml::Value::Table(now)), toml::Value::Table(wanted)) => {
                collect_differences(now, wanted, prefix, edits);
            }
            (now, wanted) if now != Some(wanted) => edits.push(Edit {
                path: KeyPath::from_segments(prefix.clone()),
                before: now.cloned(),
                after: wanted.clone(),
                rules: Vec::new(),
            }),
            _ => {}
        }
        prefix.pop();
    }
}
