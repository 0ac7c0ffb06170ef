//! The targets stigfix reads and changes. Each target reads its live state, applies edits with
//! verification, and restores saved state; the engine (`crate::engine`) drives them alike.

pub mod toml_doc;
pub mod ucp;

use crate::assess::Edit;
use crate::error::Result;
use crate::keypath::KeyPath;
use crate::playbook::TargetKind;

/// A configured target.
pub enum Target {
    Ucp(ucp::UcpClient),
}

/// A target's live state as read.
#[derive(Clone, Debug)]
pub enum Live {
    Ucp(ucp::UcpLive),
}

/// Saved state of a target, enough to restore it exactly.
pub struct Saved {
    /// File name inside the snapshot folder.
    pub file: String,
    pub bytes: Vec<u8>,
}

impl Target {
    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Ucp(_) => TargetKind::Ucp,
        }
    }

    pub fn endpoint(&self) -> &str {
        match self {
            Target::Ucp(client) => client.endpoint(),
        }
    }

    /// `ucp https://ucp.example.mil`.
    pub fn label(&self) -> String {
        format!("{} {}", self.kind().as_str(), self.endpoint())
    }

    pub fn request_count(&self) -> usize {
        match self {
            Target::Ucp(client) => client.request_count(),
        }
    }

    pub async fn read(&self) -> Result<Live> {
        match self {
            Target::Ucp(client) => Ok(Live::Ucp(client.read().await?)),
        }
    }

    /// Write the edits and verify them; returns the state read back.
    pub async fn apply(&self, live: &Live, edits: &[Edit]) -> Result<Live> {
        match (self, live) {
            (Target::Ucp(client), Live::Ucp(live)) => {
                Ok(Live::Ucp(client.apply(live, edits).await?))
            }
        }
    }

    /// Put saved state back and verify it.
    pub async fn restore(&self, saved: &Saved) -> Result<Live> {
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
        }
    }
}

impl Live {
    pub fn fingerprint(&self) -> &str {
        match self {
            Live::Ucp(live) => &live.fingerprint,
        }
    }

    pub fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        match self {
            Live::Ucp(live) => live.lookup(path),
        }
    }

    /// The state to save before changing anything.
    pub fn saved(&self) -> Saved {
        match self {
            Live::Ucp(live) => Saved {
                file: "ucp-config.toml".into(),
                bytes: live.text.clone().into_bytes(),
            },
        }
    }

    /// A unified diff, secrets redacted, of this state against the state after `edits`.
    pub fn diff(&self, edits: &[Edit]) -> Result<String> {
        match self {
            Live::Ucp(live) => {
                let planned = toml_doc::apply_edits(&live.text, edits)?;
                Ok(toml_doc::redacted_diff(&live.text, &planned))
            }
        }
    }

    /// A unified diff, secrets redacted, of this state against saved state (for rollback).
    pub fn diff_to_saved(&self, saved: &Saved) -> String {
        match self {
            Live::Ucp(live) => {
                toml_doc::redacted_diff(&live.text, &String::from_utf8_lossy(&saved.bytes))
            }
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
        }
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
