//! The DTR/MSR 2.x part of the simulator (docs/reference/api-facts.md §3): `/auth/token`, `/basic_info` and the
//! `/api/v0` endpoints that stigfix uses (settings, image-scanning status and offline CVE
//! database upload, repositories and tags, version and features), plus the [`DtrHandle`] that
//! tests use to inspect the state and arm faults.
//!
//! Decisions where the sources are silent (all UNCONFIRMED unless a section is cited):
//! - Error codes: the envelope is attested (§3.7) but no code list is; the codes used here are
//!   `NOT_AUTHENTICATED`, `NOT_AUTHORIZED`, `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `INVALID_JSON`,
//!   `INVALID_SETTINGS`, `SCANNING_NOT_ENABLED`, `DB_UPDATE_IN_PROGRESS`, `INVALID_PARAMETER`,
//!   `INVALID_FORM`, `INVALID_CVE_DATABASE`, `INVALID_PAGE_SIZE`, `INVALID_PAGE_START`,
//!   `NO_SUCH_REPOSITORY`, `INVALID_REPOSITORY_UPDATE` and `INTERNAL_ERROR`.
//! - Settings are admin-only for reading and writing; image-scanning endpoints are admin-only
//!   (attested for `imagescan/status`, §3.4); non-admins may read repositories but every
//!   write answers 403.
//! - Unknown fields in a settings POST or a repository PATCH are rejected with 400 rather than
//!   ignored, so that a client bug shows up in tests.
//! - Cursors (`X-Next-Page-Start`) are opaque: hex of a tagged key of the next item, so paging
//!   stays stable when repositories are added or removed between pages.

mod auth;
mod encoding;
mod multipart;
mod repos;
mod settings;
mod state;

use hyper::{Method, StatusCode};
use serde_json::{Map, Value as Json, json};

use super::{Outcome, SimRequest, error_reply, json_reply, text_reply};
pub(crate) use encoding::{parse_query, percent_decode};

pub use repos::{SimRepo, SimTag, SimVisibility, generate_repositories};
pub use settings::SimScanStatus;
pub use state::{DtrHandle, DtrOptions};

#[cfg(test)]
pub(crate) use encoding::base64_decode;
#[cfg(test)]
pub(crate) use multipart::{is_tar, multipart_boundary, parse_multipart};

/// Version reported by `GET /api/v0/admin/version` and `/basic_info` unless overridden.
pub const DEFAULT_DTR_VERSION: &str = "2.9.16";

impl DtrHandle {
    /// Serves a request for a path that [`claims`] accepted.
    pub(crate) fn handle(&self, req: &SimRequest) -> Outcome {
        if let Some(version) = &self.inner.harbor {
            // MSR 4 is Harbor: `/api/v2.0`, no `/api/v0` (docs/reference/next-phase.md §5.3).
            return match (&req.method, req.path.as_str()) {
                (&Method::GET, "/api/v2.0/systeminfo") => {
                    json_reply(StatusCode::OK, &json!({ "harbor_version": version }))
                }
                _ => not_found(req),
            };
        }
        if req.path == "/auth/token" {
            return match req.method {
                Method::GET => self.issue_token(&req.headers),
                _ => method_not_allowed(req),
            };
        }
        let principal = match self.authenticate(&req.headers) {
            Ok(p) => p,
            Err(denied) => return denied,
        };
        if req.path == "/basic_info" {
            return match req.method {
                Method::GET => self.basic_info(&principal),
                _ => method_not_allowed(req),
            };
        }
        let segments: Vec<String> = req.path["/api/v0".len()..]
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode(s, false))
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let query = parse_query(&req.query);
        let method = &req.method;
        match segments.as_slice() {
            ["admin", "version"] if method == Method::GET => {
                json_reply(StatusCode::OK, &json!({ "version": self.inner.version }))
            }
            ["meta", "settings"] if method == Method::GET => self.get_settings(&principal),
            ["meta", "settings"] if method == Method::POST => {
                self.post_settings(&principal, &req.body)
            }
            ["meta", "features"] if method == Method::GET => self.features(),
            ["imagescan", "status"] if method == Method::GET => self.scan_status_reply(&principal),
            ["imagescan", "scan", "update"] if method == Method::PUT => {
                self.upload_db(&principal, &query, &req.headers, &req.body)
            }
            ["repositories"] if method == Method::GET => self.list_repos(&query, None),
            ["repositories", ns] if method == Method::GET => self.list_repos(&query, Some(ns)),
            ["repositories", ns, name] if method == Method::GET => self.get_repo(ns, name),
            ["repositories", ns, name] if method == Method::PATCH => {
                self.patch_repo(&principal, ns, name, &req.body)
            }
            ["repositories", ns, name, "tags"] if method == Method::GET => {
                self.list_tags(&query, ns, name)
            }
            ["admin", "version"]
            | ["meta", "settings" | "features"]
            | ["imagescan", "status"]
            | ["imagescan", "scan", "update"]
            | ["repositories", ..] => method_not_allowed(req),
            _ => not_found(req),
        }
    }
}

/// Whether the DTR part serves `path` (checked before the UCP routes).
pub(crate) fn claims(path: &str) -> bool {
    path == "/api/v0"
        || path.starts_with("/api/v0/")
        || path.starts_with("/api/v2.0/")
        || path == "/auth/token"
        || path == "/basic_info"
}

fn json_type(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_f64() => "number",
        Json::Number(n) if n.is_i64() && n.as_i64().is_some_and(|i| i < 0) => "negative integer",
        Json::Number(_) => "integer",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Json>, Outcome> {
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(other) => Err(error_reply(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            &format!("expected a JSON object, found {}", json_type(&other)),
        )),
        Err(e) => Err(error_reply(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            &format!("invalid JSON: {e}"),
        )),
    }
}

fn internal_error() -> Outcome {
    error_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "simulated failure: nothing was changed",
    )
}

fn not_found(req: &SimRequest) -> Outcome {
    error_reply(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("no such endpoint: {} {}", req.method, req.path),
    )
}

fn method_not_allowed(req: &SimRequest) -> Outcome {
    error_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &format!("method {} not allowed on {}", req.method, req.path),
    )
}

fn json_text(status: StatusCode, body: String) -> Outcome {
    Outcome::Reply(Box::new(text_reply(status, "application/json", &body)))
}

/// Cuts a JSON rendering in half and appends garbage: never valid JSON.
fn truncate(body: &str) -> String {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}<<<< truncated", &body[..cut])
}
