//! DTR / MSR state as read (settings, the vulnerability database's status, every repository),
//! the document the playbooks address, and what a snapshot of it saves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{NAMED, REPO_FIELDS, REPOSITORIES, SCAN_FIELDS, SCAN_STATUS, SETTINGS, UPLOAD};
use crate::error::{Error, Result};
use crate::keypath::{KeyPath, WILDCARD};
use crate::secrets::{REDACTED, is_secret_key};
use crate::targets::{Document, Edit, LiveState, Product, Saved, Written};
use crate::values::{fingerprint, json_to_toml, toml_to_json};

/// The vulnerability database as `imagescan/status` reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum ScanStatus {
    /// 400: scanning is not enabled.
    Off,
    /// 403 until the timeout: the database is still updating.
    Updating(Duration),
    /// 200: the two flags of the STIG check (`None` when the server left one out).
    Ready {
        last_db_update_failed: Option<bool>,
        last_vuln_overrides_failed: Option<bool>,
    },
}

/// DTR state as read.
#[derive(Clone, Debug)]
pub struct DtrLive {
    /// The base URL the state was read from.
    pub base: String,
    pub settings: Map<String, Value>,
    pub scan: ScanStatus,
    /// `namespace/name` → the fields of [`REPO_FIELDS`] the server returned.
    pub repositories: BTreeMap<String, Map<String, Value>>,
    /// Computed when first asked for (a part of a stream never needs it).
    fingerprint: std::sync::OnceLock<String>,
    /// The `--cve-db` file, when one was given.
    pub(super) cve_db: Option<PathBuf>,
    pub product: Option<Product>,
}

/// What a DTR snapshot holds: the previous value of every field and repository a change touched.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct SavedState {
    pub(super) settings: Map<String, Value>,
    pub(super) repositories: BTreeMap<String, Map<String, Value>>,
    /// Work that cannot be undone (a database upload), recorded for the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) irreversible: Vec<String>,
}

const SAVED_FILE: &str = "dtr-state.json";

/// The edits of one apply, sorted by what they write.
#[derive(Default)]
pub(super) struct Sorted<'a> {
    pub(super) settings: Map<String, Value>,
    pub(super) upload: bool,
    pub(super) repositories: Vec<(&'a str, &'a str, Value)>,
}

pub(super) fn sort_edits(edits: &[Edit]) -> Result<Sorted<'_>> {
    let mut sorted = Sorted::default();
    for edit in edits {
        match edit.path.segments() {
            [root, field] if root == "settings" => {
                sorted
                    .settings
                    .insert(field.clone(), toml_to_json(&edit.after));
            }
            [root, field] if root == "imagescan" && SCAN_FIELDS.contains(&field.as_str()) => {
                sorted.upload = true;
            }
            [root, repository, field]
                if root == "repositories" && REPO_FIELDS.contains(&field.as_str()) =>
            {
                sorted
                    .repositories
                    .push((repository, field, toml_to_json(&edit.after)));
            }
            _ => {
                return Err(Error::new(format!(
                    "`{}` is not a DTR path stigfix can write (settings.<field>, imagescan.<flag>, repositories.\"<ns>/<name>\".<{}>)",
                    edit.path,
                    REPO_FIELDS.join("|")
                )));
            }
        }
    }
    Ok(sorted)
}

impl DtrLive {
    pub(super) fn new(
        base: String,
        settings: Map<String, Value>,
        scan: ScanStatus,
        repositories: BTreeMap<String, Map<String, Value>>,
        cve_db: Option<PathBuf>,
    ) -> DtrLive {
        DtrLive {
            base,
            product: None,
            fingerprint: std::sync::OnceLock::new(),
            settings,
            scan,
            repositories,
            cve_db,
        }
    }

    /// This state with `repositories` in place of its own (a head with a page of them, or
    /// with all of them).
    pub(super) fn with_repositories(
        &self,
        repositories: BTreeMap<String, Map<String, Value>>,
    ) -> DtrLive {
        let mut live = DtrLive::new(
            self.base.clone(),
            self.settings.clone(),
            self.scan.clone(),
            repositories,
            self.cve_db.clone(),
        );
        live.product = self.product.clone();
        live
    }

    /// `sha256:` of the state as JSON: the settings with sorted keys (the server's field order
    /// does not matter), the scan status, the repositories. Serialised straight from the maps,
    /// with no JSON tree built on the way (10,000 repositories make a megabyte of it).
    fn compute_fingerprint(&self) -> String {
        #[derive(serde::Serialize)]
        struct State<'a> {
            settings: BTreeMap<&'a String, &'a Value>,
            imagescan: Value,
            repositories: &'a BTreeMap<String, Map<String, Value>>,
        }
        let imagescan = match &self.scan {
            ScanStatus::Off => Value::from("off"),
            ScanStatus::Updating(_) => Value::from("updating"),
            ScanStatus::Ready {
                last_db_update_failed,
                last_vuln_overrides_failed,
            } => serde_json::json!([last_db_update_failed, last_vuln_overrides_failed]),
        };
        let state = State {
            settings: self.settings.iter().collect(),
            imagescan,
            repositories: &self.repositories,
        };
        fingerprint(&serde_json::to_vec(&state).expect("JSON serialises"))
    }
}

impl LiveState for DtrLive {
    fn fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| self.compute_fingerprint())
    }

    fn product(&self) -> Option<Product> {
        self.product.clone()
    }

    /// Observations for the plan.
    fn notes(&self) -> Vec<String> {
        let online = self.settings.get("scanningSyncOnline") != Some(&Value::Bool(false));
        match &self.scan {
            ScanStatus::Off => vec![
                "vulnerability scanning is off (GET /api/v0/imagescan/status answered 400)".into(),
            ],
            ScanStatus::Updating(waited) => vec![format!(
                "the vulnerability database was still updating after {} s (imagescan/status answered 403); run plan again later",
                waited.as_secs()
            )],
            ScanStatus::Ready {
                last_db_update_failed,
                last_vuln_overrides_failed,
            } if *last_db_update_failed == Some(true)
                || *last_vuln_overrides_failed == Some(true) =>
            {
                let mut note = "the last vulnerability database update failed".to_string();
                if online {
                    note.push_str(
                        " (online sync: an air-gapped DTR cannot reach https://dss-cve-updates.docker.com)",
                    );
                }
                if self.cve_db.is_none() {
                    note.push_str(
                        "; upload the offline database from your subscription with `stigfix apply --cve-db FILE.tar`",
                    );
                }
                vec![note]
            }
            ScanStatus::Ready { .. } => Vec::new(),
        }
    }

    /// The snapshot of the fields and repositories that `edits` change.
    fn saved(&self, edits: &[Edit]) -> Result<Saved> {
        let sorted = sort_edits(edits)?;
        let mut state = SavedState::default();
        for field in sorted.settings.keys() {
            state.settings.insert(
                field.clone(),
                self.settings.get(field).cloned().unwrap_or(Value::Null),
            );
        }
        for (repository, field, _) in &sorted.repositories {
            let previous = self
                .repositories
                .get(*repository)
                .and_then(|fields| fields.get(*field))
                .cloned()
                .unwrap_or(Value::Null);
            state
                .repositories
                .entry(repository.to_string())
                .or_default()
                .insert(field.to_string(), previous);
        }
        if sorted.upload {
            state.irreversible.push(
                "an offline vulnerability database was uploaded; a rollback does not remove it"
                    .into(),
            );
        }
        Ok(Saved {
            file: SAVED_FILE.into(),
            bytes: serde_json::to_vec_pretty(&state).expect("JSON serialises"),
        })
    }

    /// What `apply` will send, one line per request kind (the plan's diff for this target).
    fn diff(&self, edits: &[Edit]) -> Result<String> {
        let sorted = sort_edits(edits)?;
        let mut lines = Vec::new();
        if !sorted.settings.is_empty() {
            let shown: Map<String, Value> = sorted
                .settings
                .iter()
                .map(|(field, value)| {
                    let value = if is_secret_key(field) {
                        Value::from(REDACTED)
                    } else {
                        value.clone()
                    };
                    (field.clone(), value)
                })
                .collect();
            lines.push(format!("POST {SETTINGS} {}", Value::Object(shown)));
        }
        if sorted.upload {
            lines.push(match &self.cve_db {
                Some(path) => format!(
                    "PUT {UPLOAD} (multipart field `upload`: {})",
                    path.display()
                ),
                None => format!("PUT {UPLOAD} (needs --cve-db FILE)"),
            });
        }
        let mut patches: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (repository, field, value) in &sorted.repositories {
            patches
                .entry(format!("{{\"{field}\":{value}}}"))
                .or_default()
                .push(repository);
        }
        for (body, names) in patches {
            lines.push(format!(
                "PATCH {REPOSITORIES}/{{namespace}}/{{name}} {body} for {} repositor{}: {}",
                names.len(),
                if names.len() == 1 { "y" } else { "ies" },
                name_list(&names)
            ));
        }
        Ok(lines.join("\n"))
    }

    /// Edits that turn this state into the saved one.
    fn edits_to_saved(&self, saved: &Saved) -> Vec<Edit> {
        let Ok(state) = serde_json::from_slice::<SavedState>(&saved.bytes) else {
            return Vec::new();
        };
        let mut edits = Vec::new();
        for (field, wanted) in &state.settings {
            let now = self.settings.get(field);
            if now != Some(wanted)
                && let Some(after) = json_to_toml(wanted)
            {
                edits.push(Edit {
                    path: KeyPath::from_segments(vec!["settings".into(), field.clone()]),
                    before: now.and_then(json_to_toml),
                    after,
                    rules: Vec::new(),
                });
            }
        }
        for (repository, fields) in &state.repositories {
            for (field, wanted) in fields {
                let now = self
                    .repositories
                    .get(repository)
                    .and_then(|live| live.get(field));
                if now != Some(wanted)
                    && let Some(after) = json_to_toml(wanted)
                {
                    edits.push(Edit {
                        path: KeyPath::from_segments(vec![
                            "repositories".into(),
                            repository.clone(),
                            field.clone(),
                        ]),
                        before: now.and_then(json_to_toml),
                        after,
                        rules: Vec::new(),
                    });
                }
            }
        }
        edits
    }

    /// What a rollback to `saved` will send.
    fn diff_to_saved(&self, saved: &Saved, scope: &[Written]) -> String {
        let edits: Vec<Edit> = self
            .edits_to_saved(saved)
            .into_iter()
            .filter(|edit| scope.iter().any(|written| written.path == edit.path))
            .collect();
        let mut text = self.diff(&edits).unwrap_or_default();
        if let Ok(state) = serde_json::from_slice::<SavedState>(&saved.bytes) {
            for line in state.irreversible {
                text.push_str(&format!("\nnot undone: {line}"));
            }
        }
        text
    }
}

pub(super) fn name_list(names: &[&str]) -> String {
    let mut shown: Vec<String> = names.iter().take(NAMED).map(|n| n.to_string()).collect();
    if names.len() > NAMED {
        shown.push(format!("… and {} more", names.len() - NAMED));
    }
    shown.join(", ")
}

impl Document for DtrLive {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        match path.segments() {
            [root, field] if root == "settings" => self.settings.get(field).and_then(json_to_toml),
            [root, field] if root == "imagescan" => match &self.scan {
                ScanStatus::Ready {
                    last_db_update_failed,
                    last_vuln_overrides_failed,
                } => match field.as_str() {
                    "lastDBUpdateFailed" => last_db_update_failed.map(toml::Value::Boolean),
                    "lastVulnOverridesDBUpdateFailed" => {
                        last_vuln_overrides_failed.map(toml::Value::Boolean)
                    }
                    _ => None,
                },
                _ => None,
            },
            [root, repository, field] if root == "repositories" => self
                .repositories
                .get(repository)?
                .get(field)
                .and_then(json_to_toml),
            _ => None,
        }
    }

    fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        match pattern.segments() {
            [root, any, field] if root == "repositories" && any == WILDCARD => self
                .repositories
                .keys()
                .map(|name| KeyPath::from_segments(vec![root.clone(), name.clone(), field.clone()]))
                .collect(),
            _ => vec![pattern.clone()],
        }
    }

    fn writable(&self, path: &KeyPath) -> std::result::Result<(), String> {
        match path.segments() {
            [root, _] if root == "imagescan" => match (&self.scan, &self.cve_db) {
                (_, Some(_)) => Ok(()),
                (ScanStatus::Off, None) => Err(
                    "scanning is off; enabling it (settings.scanningEnabled) starts the database sync: run `stigfix plan` after the apply to see its result, or give `--cve-db FILE.tar` to upload the offline database".into(),
                ),
                (ScanStatus::Updating(_), None) => {
                    Err("the database is still updating; run `stigfix plan` again later".into())
                }
                (ScanStatus::Ready { .. }, None) => Err(
                    "the vulnerability database is not synced: on an air-gapped DTR download the offline database from your subscription and run `stigfix apply --cve-db FILE.tar`".into(),
                ),
            },
            [root, _, field] if root == "repositories" && !REPO_FIELDS.contains(&field.as_str()) => {
                Err(format!("stigfix does not patch the repository field `{field}`"))
            }
            _ => Ok(()),
        }
    }

    fn source(&self, path: &KeyPath) -> Option<String> {
        let endpoint = match path.segments().first().map(String::as_str) {
            Some("settings") => SETTINGS,
            Some("imagescan") => SCAN_STATUS,
            Some("repositories") => REPOSITORIES,
            _ => return None,
        };
        Some(format!("GET {}{endpoint}", self.base))
    }

    fn unknown(&self, path: &KeyPath) -> Option<String> {
        match (path.segments(), &self.scan) {
            ([root, _], ScanStatus::Updating(waited)) if root == "imagescan" => Some(format!(
                "the vulnerability database was still updating after {} s (imagescan/status answered 403); run plan again later",
                waited.as_secs()
            )),
            _ => None,
        }
    }

    fn explain(&self, path: &KeyPath) -> Option<String> {
        match (path.segments(), &self.scan) {
            ([root, _], ScanStatus::Off) if root == "imagescan" => {
                Some("scanning is off; imagescan/status answered 400".into())
            }
            ([root, _], ScanStatus::Updating(waited)) if root == "imagescan" => Some(format!(
                "the database was still updating after {} s",
                waited.as_secs()
            )),
            ([root, _], _) if root == "settings" => Some("DTR did not return this setting".into()),
            _ => None,
        }
    }
}
