//! Settings (docs/reference/api-facts.md §3.3: defaults, the partial POST with type checks, features) and image
//! scanning (§3.4 status 400/403/200, §3.5 offline CVE database upload, the simulated database
//! sync).

use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Map, Value as Json, json};
use time::OffsetDateTime;

use super::auth::{Principal, require_admin};
use super::encoding::{query_get, rfc3339};
use super::multipart::{is_tar, multipart_boundary, parse_multipart};
use super::{DtrHandle, internal_error, json_text, json_type, parse_object, truncate};
use crate::sim::{Outcome, error_reply, json_reply, lock};

/// Fixed replica ID of the simulated single-replica cluster (12 hex digits like the real ones).
const REPLICA_ID: &str = "5e1f0a2b3c4d";

/// Image-scanning state as seen by [`DtrHandle::scan_status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimScanStatus {
    pub scanning_enabled: bool,
    /// A CVE database sync or upload is in progress (or `status_always_updating` is on).
    pub updating: bool,
    pub last_db_update_failed: bool,
    /// 0 = never loaded.
    pub db_version: u64,
}

/// The vulnerability database of the simulated scanner.
pub(super) struct CveDb {
    pub(super) version: u64,
    pub(super) updated_at: Option<OffsetDateTime>,
    pub(super) failed: bool,
    pub(super) overrides_failed: bool,
    pub(super) update: Option<DbUpdate>,
}

pub(super) struct DbUpdate {
    started: Instant,
    duration: Duration,
    succeeds: bool,
}

impl CveDb {
    /// Finishes an update whose time is up.
    pub(super) fn settle(&mut self) {
        let Some(update) = &self.update else { return };
        if update.started.elapsed() < update.duration {
            return;
        }
        if update.succeeds {
            self.version += 1;
            self.updated_at = Some(OffsetDateTime::now_utc());
            self.failed = false;
            self.overrides_failed = false;
        } else {
            self.failed = true;
            self.overrides_failed = true;
        }
        self.update = None;
    }

    fn start_update(&mut self, duration: Duration, succeeds: bool) {
        self.settle();
        self.update = Some(DbUpdate {
            started: Instant::now(),
            duration,
            succeeds,
        });
    }
}

/// JSON type of a settings field.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Str,
    Count,
    Object,
}

impl Kind {
    fn matches(self, value: &Json) -> bool {
        match self {
            Kind::Bool => value.is_boolean(),
            Kind::Str => value.is_string(),
            Kind::Count => value.is_u64(),
            Kind::Object => value.is_object(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Str => "string",
            Kind::Count => "non-negative integer",
            Kind::Object => "object",
        }
    }
}

/// Writable settings fields of §3.3 and their types. `webTLSKey` is write-only; `replicaID`
/// is read-only (handled separately).
const SETTINGS_SCHEMA: &[(&str, Kind)] = &[
    ("dtrHost", Kind::Str),
    ("sso", Kind::Bool),
    ("createRepositoryOnPush", Kind::Bool),
    ("replicaSettings", Kind::Object),
    ("httpProxy", Kind::Str),
    ("httpsProxy", Kind::Str),
    ("noProxy", Kind::Str),
    ("disableUpgrades", Kind::Bool),
    ("reportAnalytics", Kind::Bool),
    ("anonymizeAnalytics", Kind::Bool),
    ("disableBackupWarning", Kind::Bool),
    ("logProtocol", Kind::Str),
    ("logHost", Kind::Str),
    ("logLevel", Kind::Str),
    ("webTLSCert", Kind::Str),
    ("webTLSCA", Kind::Str),
    ("webTLSKey", Kind::Str),
    ("scanningEnabled", Kind::Bool),
    ("scanningSyncOnline", Kind::Bool),
    ("scanningEnableAutoRecheck", Kind::Bool),
    ("jobHistoryToKeep", Kind::Count),
    ("storageVolume", Kind::Str),
    ("nfsHost", Kind::Str),
    ("nfsPath", Kind::Str),
];

const WEB_TLS_KEY: &str = "webTLSKey";

/// Settings of a fresh DTR install (§3.3), in the order they are rendered.
pub(crate) fn default_settings(host: &str) -> Map<String, Json> {
    let value = json!({
        "dtrHost": host,
        "sso": false,
        "createRepositoryOnPush": false,
        "replicaSettings": {
            REPLICA_ID: { "HTTPPort": 80, "HTTPSPort": 443, "node": "sim-node-1" }
        },
        "httpProxy": "",
        "httpsProxy": "",
        "noProxy": "",
        "disableUpgrades": false,
        "reportAnalytics": true,
        "anonymizeAnalytics": false,
        "disableBackupWarning": false,
        "logProtocol": "internal",
        "logHost": "",
        "logLevel": "info",
        "webTLSCert": "",
        "webTLSCA": "",
        "replicaID": REPLICA_ID,
        "scanningEnabled": false,
        "scanningSyncOnline": true,
        "scanningEnableAutoRecheck": false,
        "jobHistoryToKeep": 10,
        "storageVolume": "",
        "nfsHost": "",
        "nfsPath": "",
    });
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

impl DtrHandle {
    /// §3.3 `GET /api/v0/meta/features` (shape from S21).
    pub(super) fn features(&self) -> Outcome {
        let mut state = lock(&self.inner.state);
        state.db.settle();
        let body = json!({
            "scanningEnabled": scanning_enabled(&state.settings),
            "scanningLicensed": true,
            "promotionLicensed": true,
            "db_version": state.db.version,
            "ucpHost": self.inner.host,
        });
        drop(state);
        json_reply(StatusCode::OK, &body)
    }

    pub(super) fn get_settings(&self, principal: &Principal<'_>) -> Outcome {
        if let Err(denied) = require_admin(principal) {
            return denied;
        }
        let mut state = lock(&self.inner.state);
        let body = Json::Object(state.settings.clone()).to_string();
        let malformed = std::mem::take(&mut state.faults.malformed_next_read);
        drop(state);
        json_text(
            StatusCode::OK,
            if malformed { truncate(&body) } else { body },
        )
    }

    /// §3.3: a partial update. Every field is checked before anything changes.
    pub(super) fn post_settings(&self, principal: &Principal<'_>, body: &[u8]) -> Outcome {
        lock(&self.inner.state).settings_writes += 1;
        if let Err(denied) = require_admin(principal) {
            return denied;
        }
        if std::mem::take(&mut lock(&self.inner.state).faults.fail_next_settings_write) {
            return internal_error();
        }
        let patch = match parse_object(body) {
            Ok(patch) => patch,
            Err(e) => return e,
        };
        for (field, value) in &patch {
            if field == "replicaID" {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "INVALID_SETTINGS",
                    "replicaID is read-only",
                );
            }
            let Some((_, kind)) = SETTINGS_SCHEMA.iter().find(|(name, _)| name == field) else {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "INVALID_SETTINGS",
                    &format!("unknown setting: {field}"),
                );
            };
            if !kind.matches(value) {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "INVALID_SETTINGS",
                    &format!(
                        "{field}: expected {}, found {}",
                        kind.describe(),
                        json_type(value)
                    ),
                );
            }
        }
        let mut state = lock(&self.inner.state);
        let state = &mut *state;
        if std::mem::take(&mut state.faults.ignore_next_settings_write) {
            let mut would_be = state.settings.clone();
            let mut key = None;
            merge_raw(&mut would_be, &mut key, patch);
            return json_reply(self.inner.settings_post_status, &Json::Object(would_be));
        }
        let was_enabled = scanning_enabled(&state.settings);
        let was_online = sync_online(&state.settings);
        merge_raw(&mut state.settings, &mut state.web_tls_key, patch);
        let enabled = scanning_enabled(&state.settings);
        let online = sync_online(&state.settings);
        // §3.4 (S26): a sync runs when scanning is first enabled and when the update mode
        // changes; offline mode waits for an upload instead.
        if enabled && online && (!was_enabled || !was_online) {
            state
                .db
                .start_update(state.sync_duration, state.online_sync_reachable);
        }
        json_reply(
            self.inner.settings_post_status,
            &Json::Object(state.settings.clone()),
        )
    }

    /// §3.4: 400 with scanning off, 403 while the database updates, else 200. Fields other
    /// than the two `...Failed` flags are UNCONFIRMED.
    pub(super) fn scan_status_reply(&self, principal: &Principal<'_>) -> Outcome {
        if let Err(denied) = require_admin(principal) {
            return denied;
        }
        let mut state = lock(&self.inner.state);
        if !scanning_enabled(&state.settings) {
            return scanning_not_enabled();
        }
        state.db.settle();
        if state.db.update.is_some() || state.faults.status_always_updating {
            return error_reply(
                StatusCode::FORBIDDEN,
                "DB_UPDATE_IN_PROGRESS",
                "the vulnerability database is updating; try again later",
            );
        }
        let db = &state.db;
        let body = json!({
            "lastDBUpdateFailed": db.failed,
            "lastVulnOverridesDBUpdateFailed": db.overrides_failed,
            "dbVersion": db.version,
            "dbUpdatedAt": db.updated_at.map(rfc3339),
            "scanningSyncOnline": sync_online(&state.settings),
            "state": "idle",
        });
        drop(state);
        json_reply(StatusCode::OK, &body)
    }

    /// §3.5 offline CVE database upload: multipart form, part `upload` holding a tar.
    pub(super) fn upload_db(
        &self,
        principal: &Principal<'_>,
        query: &[(String, String)],
        headers: &HeaderMap,
        body: &[u8],
    ) -> Outcome {
        if let Err(denied) = require_admin(principal) {
            return denied;
        }
        // Only `online=false` is attested (the STIG fix text); what DTR does with
        // `online=true` or without the parameter is UNCONFIRMED, so both are refused.
        if query_get(query, "online") != Some("false") {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER",
                "only offline updates (online=false with an uploaded database) are supported",
            );
        }
        if !scanning_enabled(&lock(&self.inner.state).settings) {
            return scanning_not_enabled();
        }
        let invalid_form =
            |message: &str| error_reply(StatusCode::BAD_REQUEST, "INVALID_FORM", message);
        let Some(boundary) = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(multipart_boundary)
        else {
            return invalid_form("expected a multipart/form-data body with a boundary");
        };
        let parts = match parse_multipart(body, &boundary) {
            Ok(parts) => parts,
            Err(e) => return invalid_form(&format!("malformed multipart body: {e}")),
        };
        let Some(upload) = parts.iter().find(|p| p.name.as_deref() == Some("upload")) else {
            return invalid_form("missing form field \"upload\"");
        };
        if !is_tar(upload.data) {
            return error_reply(
                StatusCode::BAD_REQUEST,
                "INVALID_CVE_DATABASE",
                "the uploaded file is not a tar archive",
            );
        }
        let mut state = lock(&self.inner.state);
        let duration = state.sync_duration;
        state.db.start_update(duration, true);
        state.uploads += 1;
        drop(state);
        json_reply(StatusCode::ACCEPTED, &json!({}))
    }
}

/// Merges fields without checks; `webTLSKey` goes to the secret slot.
pub(super) fn merge_raw(
    settings: &mut Map<String, Json>,
    web_tls_key: &mut Option<String>,
    patch: Map<String, Json>,
) {
    for (field, value) in patch {
        if field == WEB_TLS_KEY {
            *web_tls_key = Some(match value {
                Json::String(s) => s,
                other => other.to_string(),
            });
        } else {
            settings.insert(field, value);
        }
    }
}

pub(super) fn scanning_enabled(settings: &Map<String, Json>) -> bool {
    settings.get("scanningEnabled").and_then(Json::as_bool) == Some(true)
}

fn sync_online(settings: &Map<String, Json>) -> bool {
    settings.get("scanningSyncOnline").and_then(Json::as_bool) != Some(false)
}

fn scanning_not_enabled() -> Outcome {
    error_reply(
        StatusCode::BAD_REQUEST,
        "SCANNING_NOT_ENABLED",
        "image scanning is not enabled",
    )
}
