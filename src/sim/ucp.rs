//! The UCP/MKE part of the simulator: login tokens (`POST /auth/login`), the config-toml
//! endpoints, `/_ping`, and the [`UcpHandle`] that tests use to inspect the state and arm
//! faults.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::header::{AUTHORIZATION, HeaderMap};
use hyper::{Method, StatusCode};
use serde::Deserialize;

use super::config::{UcpConfig, UcpRelease};
use super::faults::NumberedFaults;
use super::{Outcome, SimRequest, SimUser, error_reply, json_reply, lock, text_reply};

/// Path of the config-toml API (docs/reference/api-facts.md §2.3, §2.4).
pub(crate) const CONFIG_TOML_PATH: &str = "/api/ucp/config-toml";

/// Success body of a PUT. The ordinary message is UNCONFIRMED (docs/reference/api-facts.md §2.4, §5 item 4);
/// only the `{"message": ...}` shape is attested (S7).
const PUT_SUCCESS_MESSAGE: &str = "Configuration updated successfully";

/// Handle on the simulated UCP/MKE state. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct UcpHandle {
    inner: Arc<UcpState>,
}

impl fmt::Debug for UcpHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UcpHandle").finish_non_exhaustive()
    }
}

struct UcpState {
    config: Mutex<UcpConfig>,
    faults: Mutex<Faults>,
    sessions: Mutex<HashMap<String, Session>>,
    users: Vec<SimUser>,
    token_ttl: Duration,
    counter: AtomicU64,
}

#[derive(Default)]
struct Faults {
    fail_next_write: Option<u16>,
    drop_next_write: bool,
    ignore_next_write: bool,
    malformed_next_read: bool,
    /// Authorized PUTs of config-toml so far (the numbers of `failing_writes`).
    writes: usize,
    /// PUTs that answer the given status.
    failing_writes: NumberedFaults<u16>,
    /// Authorized GETs of config-toml so far (the numbers of `malformed_reads`).
    reads: usize,
    /// GETs whose body is not valid TOML.
    malformed_reads: NumberedFaults<()>,
}

/// The fault, if any, that the current write consumes.
enum WriteFault {
    Drop,
    Fail(u16),
    Ignore,
}

#[derive(Clone)]
struct Session {
    admin: bool,
    expires_at: Instant,
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

impl UcpHandle {
    pub(crate) fn new(
        users: Vec<SimUser>,
        initial: Option<&str>,
        token_ttl: Duration,
        release: UcpRelease,
    ) -> Result<UcpHandle, String> {
        let config = match initial {
            Some(text) => UcpConfig::parse(text, release)?,
            None => UcpConfig::new(release),
        };
        Ok(UcpHandle {
            inner: Arc::new(UcpState {
                config: Mutex::new(config),
                faults: Mutex::new(Faults::default()),
                sessions: Mutex::new(HashMap::new()),
                users,
                token_ttl,
                counter: AtomicU64::new(0),
            }),
        })
    }

    /// The body a `GET /api/ucp/config-toml` would return now (canonical rendering).
    pub fn config_toml(&self) -> String {
        lock(&self.inner.config).render()
    }

    /// Replaces the configuration behind stigfix's back (as an admin in the web UI would),
    /// with the same parsing and validation as a PUT. Nothing changes on error.
    pub fn set_config_toml(&self, text: &str) -> Result<(), String> {
        let release = lock(&self.inner.config).release();
        let config = UcpConfig::parse(text, release)?;
        *lock(&self.inner.config) = config;
        Ok(())
    }

    /// The value at a dotted path of the current configuration, e.g.
    /// `"auth.sessions.lifetime_minutes"`; a table path gives the whole table and
    /// `"registries"` the array of tables. `None` for an unknown path.
    pub fn get(&self, path: &str) -> Option<toml::Value> {
        let doc: toml::Table = self.config_toml().parse().ok()?;
        let mut segments = path.split('.');
        let mut current = doc.get(segments.next()?)?;
        for seg in segments {
            current = current.as_table()?.get(seg)?;
        }
        Some(current.clone())
    }

    /// The next authorized PUT of config-toml answers `status` with the error envelope and
    /// changes nothing. A status outside 100..=999 is answered as 500.
    pub fn fail_next_write(&self, status: u16) {
        lock(&self.inner.faults).fail_next_write = Some(status);
    }

    /// The authorized PUTs of config-toml numbered `from ..= from + count - 1`, counting from 1
    /// at the next one (`from` 0 is taken as 1), answer `status` with the error envelope and
    /// change nothing (a status outside 100..=999 is answered as 500). `count` `usize::MAX`
    /// means every PUT from `from` on; 0 arms nothing. Adds to what is already armed. A
    /// numbered failure comes before the `..._next_write` switches, which then stay armed for
    /// the following PUT.
    pub fn fail_writes(&self, from: usize, count: usize, status: u16) {
        let mut faults = lock(&self.inner.faults);
        let seen = faults.writes;
        faults.failing_writes.arm(seen, from, count, status);
    }

    /// The next authorized PUT of config-toml: the request is read in full, then the
    /// connection is closed with no response; nothing changes.
    pub fn drop_next_write(&self) {
        lock(&self.inner.faults).drop_next_write = true;
    }

    /// The next authorized PUT of config-toml is validated and answered as usual (200 when
    /// valid) but changes nothing.
    pub fn ignore_next_write(&self) {
        lock(&self.inner.faults).ignore_next_write = true;
    }

    /// The next authorized GET of config-toml answers 200 with a body that is not valid TOML
    /// (a truncated rendering).
    pub fn malformed_next_read(&self) {
        lock(&self.inner.faults).malformed_next_read = true;
    }

    /// The authorized GETs of config-toml numbered `from ..= from + count - 1`, counting from 1
    /// at the next one (`from` 0 is taken as 1), answer 200 with a body that is not valid TOML,
    /// like [`UcpHandle::malformed_next_read`] (which then stays armed for the following GET).
    /// `count` `usize::MAX` means every GET from `from` on; 0 arms nothing.
    pub fn malformed_reads(&self, from: usize, count: usize) {
        let mut faults = lock(&self.inner.faults);
        let seen = faults.reads;
        faults.malformed_reads.arm(seen, from, count, ());
    }

    /// Every token issued so far becomes invalid, as if its session had expired.
    pub fn expire_tokens(&self) {
        lock(&self.inner.sessions).clear();
    }

    /// Serves the UCP routes; `None` when the request is not for a UCP route.
    pub(crate) fn handle(&self, req: &SimRequest) -> Option<Outcome> {
        let release = lock(&self.inner.config).release();
        if release == UcpRelease::Mke4 {
            // MKE 4k has no UCP controller API (docs/reference/next-phase.md §5.2): only Kubernetes' version.
            return match (&req.method, req.path.as_str()) {
                (&Method::GET, "/version") => Some(json_reply(
                    StatusCode::OK,
                    &serde_json::json!({
                        "major": "1",
                        "minor": "32",
                        "gitVersion": "v1.32.3+k0s",
                        "platform": "linux/amd64"
                    }),
                )),
                _ => None,
            };
        }
        let outcome = match (&req.method, req.path.as_str()) {
            // docs/reference/api-facts.md §2.5: health check, no auth; body `OK` is UNCONFIRMED (§5 item 10).
            (&Method::GET, "/_ping") => {
                Outcome::Reply(Box::new(text_reply(StatusCode::OK, "text/plain", "OK")))
            }
            (&Method::GET, "/version") => self.version(&req.headers, release),
            (&Method::POST, "/auth/login") => self.login(&req.body),
            (&Method::GET, CONFIG_TOML_PATH) => self.get_config(&req.headers),
            (&Method::PUT, CONFIG_TOML_PATH) => self.put_config(&req.headers, &req.body),
            _ => return None,
        };
        Some(outcome)
    }

    /// docs/reference/api-facts.md §2.5: Docker-Engine-style version JSON whose `Version` starts with `ucp/`,
    /// after login (diver reads it with the session's token).
    fn version(&self, headers: &HeaderMap, release: UcpRelease) -> Outcome {
        if let Err(denied) = self.authorize_admin(headers) {
            return denied;
        }
        let version = release.version();
        let name = if release.has_mke_name() {
            "Mirantis Kubernetes Engine"
        } else {
            "Universal Control Plane"
        };
        json_reply(
            StatusCode::OK,
            &serde_json::json!({
                "Platform": { "Name": format!("{name} {version}") },
                "Components": [{ "Name": name, "Version": version, "Details": { "ApiVersion": "1.40" } }],
                "Version": format!("ucp/{version}"),
                "ApiVersion": "1.40",
                "MinAPIVersion": "1.20",
                "Os": "linux",
                "Arch": "amd64"
            }),
        )
    }

    /// docs/reference/api-facts.md §2.1. The body is parsed as JSON whatever the Content-Type (curl examples
    /// send a form content type). The failure status/body is UNCONFIRMED (§5 item 1): 401 with
    /// the error envelope of §2.7.
    fn login(&self, body: &[u8]) -> Outcome {
        let creds: LoginBody = match serde_json::from_slice(body) {
            Ok(c) => c,
            Err(e) => {
                return error_reply(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    &format!("invalid login request: {e}"),
                );
            }
        };
        let Some(user) = self
            .inner
            .users
            .iter()
            .find(|u| u.name == creds.username && u.password == creds.password)
        else {
            return error_reply(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "invalid username or password",
            );
        };
        let token = self.random_uuid();
        let token_id = self.random_uuid();
        let now = Instant::now();
        let mut sessions = lock(&self.inner.sessions);
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(
            token.clone(),
            Session {
                admin: user.admin,
                expires_at: now + self.inner.token_ttl,
            },
        );
        drop(sessions);
        // docs/reference/api-facts.md §2.1: `auth_token` is certain; `token_id` follows Launchpad's struct.
        json_reply(
            StatusCode::OK,
            &serde_json::json!({ "auth_token": token, "token_id": token_id }),
        )
    }

    /// Checks `Authorization: Bearer <token>` and admin rights. The 401 for a missing,
    /// unknown or expired token and the 403 for a non-admin are UNCONFIRMED (docs/reference/api-facts.md §2.2,
    /// §2.3, §5 items 2, 3).
    pub(crate) fn authorize_admin(&self, headers: &HeaderMap) -> Result<(), Outcome> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        let Some(token) = token else {
            return Err(error_reply(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            ));
        };
        let mut sessions = lock(&self.inner.sessions);
        let session = match sessions.get(token) {
            Some(s) if s.expires_at > Instant::now() => Some(s.clone()),
            Some(_) => {
                sessions.remove(token);
                None
            }
            None => None,
        }
        .ok_or_else(|| {
            error_reply(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "session expired or invalid",
            )
        })?;
        drop(sessions);
        if !session.admin {
            return Err(error_reply(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "this operation requires admin access",
            ));
        }
        Ok(())
    }

    /// docs/reference/api-facts.md §2.3. `Content-Type: application/toml` is UNCONFIRMED (§5 item 3).
    fn get_config(&self, headers: &HeaderMap) -> Outcome {
        if let Err(denied) = self.authorize_admin(headers) {
            return denied;
        }
        let text = self.config_toml();
        let malformed = {
            let mut faults = lock(&self.inner.faults);
            faults.reads += 1;
            let number = faults.reads;
            faults.malformed_reads.take(number).is_some()
                || std::mem::take(&mut faults.malformed_next_read)
        };
        let body = if malformed {
            // Cut anywhere, then a line no TOML parser accepts: the result is never valid.
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}\n<<<< truncated\n", &text[..cut])
        } else {
            text
        };
        Outcome::Reply(Box::new(text_reply(
            StatusCode::OK,
            "application/toml",
            &body,
        )))
    }

    /// docs/reference/api-facts.md §2.4: the body replaces the whole config (see `config.rs` for the
    /// UNCONFIRMED parsing rules). Errors answer 400 with the envelope of §2.7.
    fn put_config(&self, headers: &HeaderMap, body: &[u8]) -> Outcome {
        if let Err(denied) = self.authorize_admin(headers) {
            return denied;
        }
        let release = lock(&self.inner.config).release();
        match self.take_write_fault() {
            Some(WriteFault::Drop) => return Outcome::Drop,
            Some(WriteFault::Fail(status)) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let code = status
                    .canonical_reason()
                    .unwrap_or("ERROR")
                    .to_ascii_uppercase()
                    .replace([' ', '-'], "_");
                return error_reply(status, &code, "simulated failure: nothing was changed");
            }
            Some(WriteFault::Ignore) => {
                return match parse_body(body, release) {
                    Ok(_) => put_success(),
                    Err(e) => e,
                };
            }
            None => {}
        }
        match parse_body(body, release) {
            Ok(config) => {
                *lock(&self.inner.config) = config;
                put_success()
            }
            Err(e) => e,
        }
    }

    /// Numbers the PUT and takes one armed write fault, in the order numbered failure, drop,
    /// fail, ignore; others stay armed.
    fn take_write_fault(&self) -> Option<WriteFault> {
        let mut faults = lock(&self.inner.faults);
        faults.writes += 1;
        let number = faults.writes;
        if let Some(status) = faults.failing_writes.take(number) {
            Some(WriteFault::Fail(status))
        } else if std::mem::take(&mut faults.drop_next_write) {
            Some(WriteFault::Drop)
        } else if let Some(status) = faults.fail_next_write.take() {
            Some(WriteFault::Fail(status))
        } else if std::mem::take(&mut faults.ignore_next_write) {
            Some(WriteFault::Ignore)
        } else {
            None
        }
    }

    /// A random UUID-like string (version 4 layout), from the ring provider's CSPRNG.
    fn random_uuid(&self) -> String {
        let mut bytes = [0u8; 16];
        let provider = rustls::crypto::ring::default_provider();
        if provider.secure_random.fill(&mut bytes).is_err() {
            // Not expected; fall back to std's randomly keyed hasher plus a counter.
            let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut h = std::hash::RandomState::new().build_hasher();
                h.write_u64(n);
                h.write_usize(i);
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        crate::values::uuid_text(bytes)
    }
}

fn parse_body(body: &[u8], release: UcpRelease) -> Result<UcpConfig, Outcome> {
    let text = std::str::from_utf8(body).map_err(|_| {
        error_reply(
            StatusCode::BAD_REQUEST,
            "INVALID_CONFIG",
            "request body is not valid UTF-8",
        )
    })?;
    UcpConfig::parse(text, release)
        .map_err(|e| error_reply(StatusCode::BAD_REQUEST, "INVALID_CONFIG", &e))
}

fn put_success() -> Outcome {
    json_reply(
        StatusCode::OK,
        &serde_json::json!({ "message": PUT_SUCCESS_MESSAGE }),
    )
}
