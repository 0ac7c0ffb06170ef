//! The DTR/MSR 2.x part of the simulator (api-facts §3): `/auth/token`, `/basic_info` and the
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use serde_json::{Map, Value as Json, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Outcome, SimRequest, SimUser, error_reply, json_reply, lock, text_reply};

/// Version reported by `GET /api/v0/admin/version` and `/basic_info` unless overridden.
pub const DEFAULT_DTR_VERSION: &str = "2.9.16";

/// Page size when a list request has no `pageSize` (the value used in the docs, §3.6).
const DEFAULT_PAGE_SIZE: usize = 10;

/// Header names of the paging protocol (§3.6).
const NEXT_PAGE_START: &str = "x-next-page-start";
const RESOURCE_COUNT: &str = "x-resource-count";

/// Fixed replica ID of the simulated single-replica cluster (12 hex digits like the real ones).
const REPLICA_ID: &str = "5e1f0a2b3c4d";

/// How to set up the simulated DTR/MSR (part of [`super::SimOptions`]).
#[derive(Clone, Debug)]
pub struct DtrOptions {
    /// Initial repositories; a later duplicate of `namespace/name` replaces an earlier one.
    pub repositories: Vec<SimRepo>,
    /// Server cap on `pageSize` for repository and tag lists.
    pub max_page_size: usize,
    /// Fields merged over the default settings (a JSON object; stored as given, no checks,
    /// so a test can model a server that returns odd types). `webTLSKey` is kept secret.
    pub settings: Option<Json>,
    /// false = air-gapped: an online CVE database sync fails (`lastDBUpdateFailed` true).
    pub online_sync_reachable: bool,
    /// How long a CVE database sync or upload lasts (`imagescan/status` answers 403 meanwhile).
    pub sync_duration: Duration,
    /// Status of a successful `POST /api/v0/meta/settings` (202 per S37(a), or 200).
    pub settings_post_status: u16,
    /// Version of the CVE database loaded at start; 0 = never loaded (the default: the
    /// status reports `lastDBUpdateFailed` true until a sync or upload succeeds).
    pub cve_db_version: u64,
    /// Reported product version.
    pub version: String,
}

impl Default for DtrOptions {
    fn default() -> Self {
        DtrOptions {
            repositories: Vec::new(),
            max_page_size: 100,
            settings: None,
            online_sync_reachable: true,
            sync_duration: Duration::from_millis(200),
            settings_post_status: 202,
            cve_db_version: 0,
            version: DEFAULT_DTR_VERSION.to_owned(),
        }
    }
}

/// Repository visibility (§3.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SimVisibility {
    Public,
    /// Repositories created by a push are private (§3.6, S22).
    #[default]
    Private,
}

impl SimVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            SimVisibility::Public => "public",
            SimVisibility::Private => "private",
        }
    }
}

/// A tag of a simulated repository. Its digest and timestamps are derived deterministically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTag {
    pub name: String,
    /// Signed with Docker Content Trust.
    pub in_notary: bool,
}

/// A simulated repository (the public fields of §3.6; `id`, `namespaceType`, `pulls` and
/// `pushes` are derived).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRepo {
    pub namespace: String,
    pub name: String,
    pub visibility: SimVisibility,
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    /// 0 = unlimited.
    pub tag_limit: u64,
    pub short_description: String,
    pub long_description: String,
    pub enable_manifest_lists: bool,
    pub tags: Vec<SimTag>,
}

impl SimRepo {
    /// A private repository with no tags and every option off.
    pub fn new(namespace: &str, name: &str) -> SimRepo {
        SimRepo {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            visibility: SimVisibility::Private,
            scan_on_push: false,
            immutable_tags: false,
            tag_limit: 0,
            short_description: String::new(),
            long_description: String::new(),
            enable_manifest_lists: false,
            tags: Vec::new(),
        }
    }
}

/// `count` deterministic repositories: repository `i` (0-based) is `team-{i / 100}/app-{i:04}`.
/// Every `without_scan_on_push_every`-th repository (the n-th, 2n-th, …) has `scanOnPush`
/// false, all others true; 0 means all true. Every fourth is public, the rest private; each
/// has one to three tags (`latest` unsigned, `1.0`, `1.1` signed on alternate repositories).
pub fn generate_repositories(count: usize, without_scan_on_push_every: usize) -> Vec<SimRepo> {
    (0..count)
        .map(|i| {
            let mut repo = SimRepo::new(&format!("team-{}", i / 100), &format!("app-{i:04}"));
            repo.scan_on_push =
                without_scan_on_push_every == 0 || (i + 1) % without_scan_on_push_every != 0;
            repo.visibility = if i % 4 == 0 {
                SimVisibility::Public
            } else {
                SimVisibility::Private
            };
            repo.short_description = format!("application {i}");
            repo.tags.push(SimTag {
                name: "latest".to_owned(),
                in_notary: false,
            });
            for (k, tag) in ["1.0", "1.1"].iter().enumerate().take(i % 3) {
                repo.tags.push(SimTag {
                    name: (*tag).to_owned(),
                    in_notary: (i + k) % 2 == 0,
                });
            }
            repo
        })
        .collect()
}

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

/// Handle on the simulated DTR/MSR state. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct DtrHandle {
    inner: Arc<DtrShared>,
}

impl fmt::Debug for DtrHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtrHandle").finish_non_exhaustive()
    }
}

struct DtrShared {
    state: Mutex<DtrState>,
    users: Vec<SimUser>,
    token_ttl: Duration,
    max_page_size: usize,
    settings_post_status: StatusCode,
    version: String,
    host: String,
    counter: AtomicU64,
}

type RepoKey = (String, String);

struct DtrState {
    settings: Map<String, Json>,
    web_tls_key: Option<String>,
    repos: BTreeMap<RepoKey, SimRepo>,
    db: CveDb,
    tokens: HashMap<String, TokenSession>,
    faults: Faults,
    settings_writes: usize,
    patches: usize,
    uploads: usize,
    online_sync_reachable: bool,
    sync_duration: Duration,
}

#[derive(Default)]
struct Faults {
    /// Sequence numbers (see `DtrState::patches`) of PATCHes that answer 500.
    failing_patches: BTreeSet<usize>,
    drop_next_patch: bool,
    fail_next_settings_write: bool,
    ignore_next_settings_write: bool,
    status_always_updating: bool,
    malformed_next_read: bool,
}

/// The vulnerability database of the simulated scanner.
struct CveDb {
    version: u64,
    updated_at: Option<OffsetDateTime>,
    failed: bool,
    overrides_failed: bool,
    update: Option<DbUpdate>,
}

struct DbUpdate {
    started: Instant,
    duration: Duration,
    succeeds: bool,
}

impl CveDb {
    /// Finishes an update whose time is up.
    fn settle(&mut self) {
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

struct TokenSession {
    user: usize,
    expires_at: Instant,
}

/// Who made an authenticated request.
struct Principal<'a> {
    user: &'a SimUser,
    method: &'static str,
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
    /// `host` is the `host:port` the simulator listens on (the default `dtrHost`).
    pub(crate) fn new(
        options: DtrOptions,
        users: Vec<SimUser>,
        token_ttl: Duration,
        host: &str,
    ) -> Result<DtrHandle, String> {
        if options.max_page_size == 0 {
            return Err("max_page_size must be at least 1".to_owned());
        }
        let settings_post_status = StatusCode::from_u16(options.settings_post_status)
            .ok()
            .filter(StatusCode::is_success)
            .ok_or_else(|| {
                format!(
                    "settings_post_status must be a 2xx status, not {}",
                    options.settings_post_status
                )
            })?;
        let mut settings = default_settings(host);
        let mut web_tls_key = None;
        match options.settings {
            None => {}
            Some(Json::Object(overrides)) => merge_raw(&mut settings, &mut web_tls_key, overrides),
            Some(other) => return Err(format!("settings must be a JSON object, not {other}")),
        }
        let loaded = options.cve_db_version > 0;
        let state = DtrState {
            settings,
            web_tls_key,
            repos: options
                .repositories
                .into_iter()
                .map(|r| ((r.namespace.clone(), r.name.clone()), r))
                .collect(),
            db: CveDb {
                version: options.cve_db_version,
                updated_at: loaded.then(|| OffsetDateTime::now_utc() - time::Duration::hours(6)),
                failed: !loaded,
                overrides_failed: !loaded,
                update: None,
            },
            tokens: HashMap::new(),
            faults: Faults::default(),
            settings_writes: 0,
            patches: 0,
            uploads: 0,
            online_sync_reachable: options.online_sync_reachable,
            sync_duration: options.sync_duration,
        };
        Ok(DtrHandle {
            inner: Arc::new(DtrShared {
                state: Mutex::new(state),
                users,
                token_ttl,
                max_page_size: options.max_page_size,
                settings_post_status,
                version: options.version,
                host: host.to_owned(),
                counter: AtomicU64::new(0),
            }),
        })
    }

    /// The settings a `GET /api/v0/meta/settings` would return now (never `webTLSKey`).
    pub fn settings(&self) -> Json {
        Json::Object(lock(&self.inner.state).settings.clone())
    }

    /// Merges the fields of `patch` (a JSON object) into the settings behind stigfix's back:
    /// no type checks and no side effects (no CVE database sync starts). `webTLSKey` is stored
    /// as the secret key, never rendered.
    ///
    /// # Panics
    /// When `patch` is not a JSON object (a bug in the calling test).
    pub fn set_settings(&self, patch: Json) {
        let Json::Object(patch) = patch else {
            panic!("DtrHandle::set_settings needs a JSON object, got {patch}");
        };
        let mut state = lock(&self.inner.state);
        let state = &mut *state;
        merge_raw(&mut state.settings, &mut state.web_tls_key, patch);
    }

    /// The last `webTLSKey` written, if any.
    pub fn web_tls_key(&self) -> Option<String> {
        lock(&self.inner.state).web_tls_key.clone()
    }

    /// Every repository, sorted by namespace then name.
    pub fn repositories(&self) -> Vec<SimRepo> {
        lock(&self.inner.state).repos.values().cloned().collect()
    }

    pub fn repository(&self, namespace: &str, name: &str) -> Option<SimRepo> {
        lock(&self.inner.state)
            .repos
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Replaces every repository.
    pub fn set_repositories(&self, repositories: Vec<SimRepo>) {
        lock(&self.inner.state).repos = repositories
            .into_iter()
            .map(|r| ((r.namespace.clone(), r.name.clone()), r))
            .collect();
    }

    pub fn scan_status(&self) -> SimScanStatus {
        let mut state = lock(&self.inner.state);
        state.db.settle();
        SimScanStatus {
            scanning_enabled: scanning_enabled(&state.settings),
            updating: state.db.update.is_some() || state.faults.status_always_updating,
            last_db_update_failed: state.db.failed,
            db_version: state.db.version,
        }
    }

    /// Whether online CVE database syncs started from now on succeed.
    pub fn set_online_sync_reachable(&self, reachable: bool) {
        lock(&self.inner.state).online_sync_reachable = reachable;
    }

    /// Duration of syncs and uploads started from now on.
    pub fn set_sync_duration(&self, duration: Duration) {
        lock(&self.inner.state).sync_duration = duration;
    }

    /// Authenticated `POST /api/v0/meta/settings` requests so far, whatever their outcome.
    pub fn settings_writes(&self) -> usize {
        lock(&self.inner.state).settings_writes
    }

    /// Authenticated `PATCH /api/v0/repositories/{ns}/{name}` requests so far, whatever their
    /// outcome (including faults).
    pub fn patch_count(&self) -> usize {
        lock(&self.inner.state).patches
    }

    /// Accepted (202) CVE database uploads so far.
    pub fn uploads(&self) -> usize {
        lock(&self.inner.state).uploads
    }

    /// The `n`-th authenticated repository PATCH from now (1-based; 0 is taken as 1) answers
    /// 500 `INTERNAL_ERROR` and changes nothing. May be armed for several PATCHes at once.
    pub fn fail_nth_patch(&self, n: usize) {
        let mut state = lock(&self.inner.state);
        let target = state.patches + n.max(1);
        state.faults.failing_patches.insert(target);
    }

    /// The next authorized settings POST answers 500 `INTERNAL_ERROR` and changes nothing.
    pub fn fail_next_settings_write(&self) {
        lock(&self.inner.state).faults.fail_next_settings_write = true;
    }

    /// The next authorized settings POST is validated and answered as if applied (the body
    /// shows the would-be settings) but changes nothing.
    pub fn ignore_next_settings_write(&self) {
        lock(&self.inner.state).faults.ignore_next_settings_write = true;
    }

    /// The next authorized repository PATCH: the request is read in full, then the connection
    /// is closed with no response; nothing changes.
    pub fn drop_next_patch(&self) {
        lock(&self.inner.state).faults.drop_next_patch = true;
    }

    /// While on, `GET /api/v0/imagescan/status` answers 403 `DB_UPDATE_IN_PROGRESS` whenever
    /// scanning is enabled (with scanning off it still answers 400).
    pub fn status_always_updating(&self, on: bool) {
        lock(&self.inner.state).faults.status_always_updating = on;
    }

    /// The next authorized GET of the settings, a repository list or a single repository
    /// answers 200 with a body that is not valid JSON.
    pub fn malformed_next_read(&self) {
        lock(&self.inner.state).faults.malformed_next_read = true;
    }

    /// Every bearer token issued so far becomes invalid.
    pub fn expire_tokens(&self) {
        lock(&self.inner.state).tokens.clear();
    }

    /// Serves a request for a path that [`claims`] accepted.
    pub(crate) fn handle(&self, req: &SimRequest) -> Outcome {
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

    /// §3.1: Basic auth with a known user's password, or a bearer token from `/auth/token`.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Principal<'_>, Outcome> {
        let unauthenticated =
            |message: &str| error_reply(StatusCode::UNAUTHORIZED, "NOT_AUTHENTICATED", message);
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(unauthenticated("authentication required"));
        };
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            return self
                .basic_user(credentials)
                .map(|user| Principal {
                    user,
                    method: "BasicAuth",
                })
                .ok_or_else(|| unauthenticated("invalid username or password"));
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let mut state = lock(&self.inner.state);
            let now = Instant::now();
            let user = match state.tokens.get(credentials) {
                Some(session) if session.expires_at > now => Some(session.user),
                Some(_) => {
                    state.tokens.remove(credentials);
                    None
                }
                None => None,
            };
            drop(state);
            return user
                .and_then(|i| self.inner.users.get(i))
                .map(|user| Principal {
                    user,
                    method: "Token",
                })
                .ok_or_else(|| unauthenticated("token expired or invalid"));
        }
        Err(unauthenticated("unsupported authorization scheme"))
    }

    fn basic_user(&self, credentials: &str) -> Option<&SimUser> {
        let decoded = base64_decode(credentials)?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, password) = decoded.split_once(':')?;
        self.inner
            .users
            .iter()
            .find(|u| u.name == name && u.password == password)
    }

    /// §3.1 registry token service: Basic auth only; `service`/`scope` are ignored. The token
    /// is JWT-shaped (not verifiable). `expires_in` is the simulator's token TTL in seconds
    /// (the spec default is 60; DTR's value is UNCONFIRMED).
    fn issue_token(&self, headers: &HeaderMap) -> Outcome {
        let credentials = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
            });
        let Some(credentials) = credentials else {
            return error_reply(
                StatusCode::UNAUTHORIZED,
                "NOT_AUTHENTICATED",
                "basic authentication required",
            );
        };
        let Some(user) = self.basic_user(credentials) else {
            return error_reply(
                StatusCode::UNAUTHORIZED,
                "NOT_AUTHENTICATED",
                "invalid username or password",
            );
        };
        let index = self
            .inner
            .users
            .iter()
            .position(|u| std::ptr::eq(u, user))
            .unwrap_or_default();
        let issued = OffsetDateTime::now_utc();
        let ttl = self.inner.token_ttl;
        let claims = json!({
            "iss": "stigfix simulated DTR",
            "sub": user.name,
            "aud": self.inner.host,
            "iat": issued.unix_timestamp(),
            "exp": issued.unix_timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            "jti": hex::encode(self.random_bytes::<16>()),
        });
        let token = format!(
            "{}.{}.{}",
            base64url_encode(br#"{"typ":"JWT","alg":"ES256"}"#),
            base64url_encode(claims.to_string().as_bytes()),
            base64url_encode(&self.random_bytes::<64>()),
        );
        let now = Instant::now();
        let mut state = lock(&self.inner.state);
        state.tokens.retain(|_, s| s.expires_at > now);
        state.tokens.insert(
            token.clone(),
            TokenSession {
                user: index,
                expires_at: now + ttl,
            },
        );
        drop(state);
        json_reply(
            StatusCode::OK,
            &json!({
                "token": token,
                "access_token": token,
                "expires_in": ttl.as_secs(),
                "issued_at": rfc3339(issued),
            }),
        )
    }

    /// §3.2. `AuthnMethod` is `BasicAuth` or `Token` here (only `TLSClientCertificate` is
    /// attested).
    fn basic_info(&self, principal: &Principal<'_>) -> Outcome {
        let user = principal.user;
        json_reply(
            StatusCode::OK,
            &json!({
                "CurrentVersion": self.inner.version,
                "User": {
                    "name": user.name,
                    "id": uuid_from(&format!("user:{}", user.name)),
                    "fullName": "",
                    "isOrg": false,
                    "isAdmin": user.admin,
                    "isActive": true,
                    "isImported": false,
                },
                "IsAdmin": user.admin,
                "AuthnMethod": principal.method,
            }),
        )
    }

    /// §3.3 `GET /api/v0/meta/features` (shape from S21).
    fn features(&self) -> Outcome {
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

    fn get_settings(&self, principal: &Principal<'_>) -> Outcome {
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
    fn post_settings(&self, principal: &Principal<'_>, body: &[u8]) -> Outcome {
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
    fn scan_status_reply(&self, principal: &Principal<'_>) -> Outcome {
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
    fn upload_db(
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

    fn page_size(&self, query: &[(String, String)]) -> Result<usize, Outcome> {
        match query_get(query, "pageSize") {
            None | Some("") => Ok(DEFAULT_PAGE_SIZE.min(self.inner.max_page_size)),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n.min(self.inner.max_page_size)),
                _ => Err(error_reply(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PAGE_SIZE",
                    &format!("pageSize must be a positive integer, not {text:?}"),
                )),
            },
        }
    }

    /// §3.6 list, all repositories or one namespace's; O(log n + page) per request (plus
    /// O(namespace) for a namespace-scoped `count=true`). An unknown namespace gives an empty
    /// list (UNCONFIRMED).
    fn list_repos(&self, query: &[(String, String)], namespace: Option<&str>) -> Outcome {
        let page_size = match self.page_size(query) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let start = match query_get(query, "pageStart") {
            None | Some("") => None,
            Some(cursor) => match decode_cursor(cursor, REPO_CURSOR)
                .and_then(|key| {
                    let (ns, name) = key.split_once('/')?;
                    Some((ns.to_owned(), name.to_owned()))
                })
                .filter(|(ns, _)| namespace.is_none_or(|n| n == ns))
            {
                Some(key) => Some(key),
                None => return invalid_page_start(cursor),
            },
        };
        let lower = match (start, namespace) {
            (Some(key), _) => Bound::Included(key),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let count = query_get(query, "count") == Some("true");
        let mut state = lock(&self.inner.state);
        let in_scope = |key: &RepoKey| namespace.is_none_or(|ns| key.0 == ns);
        let mut range = state
            .repos
            .range((lower, Bound::Unbounded))
            .take_while(|(key, _)| in_scope(key));
        let page: Vec<Json> = range
            .by_ref()
            .take(page_size)
            .map(|(_, repo)| repo_json(repo, false))
            .collect();
        let next = range
            .next()
            .map(|((ns, name), _)| encode_cursor(REPO_CURSOR, &format!("{ns}/{name}")));
        let total = count.then(|| match namespace {
            None => state.repos.len(),
            Some(ns) => state
                .repos
                .range((ns.to_owned(), String::new())..)
                .take_while(|(key, _)| key.0 == ns)
                .count(),
        });
        let malformed = std::mem::take(&mut state.faults.malformed_next_read);
        drop(state);
        let body = json!({ "repositories": page }).to_string();
        paged_reply(if malformed { truncate(&body) } else { body }, next, total)
    }

    fn get_repo(&self, namespace: &str, name: &str) -> Outcome {
        let mut state = lock(&self.inner.state);
        let Some(repo) = state.repos.get(&(namespace.to_owned(), name.to_owned())) else {
            return no_such_repository(namespace, name);
        };
        let body = repo_json(repo, true).to_string();
        let malformed = std::mem::take(&mut state.faults.malformed_next_read);
        drop(state);
        json_text(
            StatusCode::OK,
            if malformed { truncate(&body) } else { body },
        )
    }

    /// §3.6 update: a partial JSON object of the patchable fields (leaving the others
    /// unchanged is UNCONFIRMED; Mirantis's client always sends every field).
    fn patch_repo(
        &self,
        principal: &Principal<'_>,
        namespace: &str,
        name: &str,
        body: &[u8],
    ) -> Outcome {
        let fail = {
            let mut state = lock(&self.inner.state);
            state.patches += 1;
            let seq = state.patches;
            state.faults.failing_patches.remove(&seq)
        };
        if let Err(denied) = require_admin(principal) {
            return denied;
        }
        if fail {
            return internal_error();
        }
        if std::mem::take(&mut lock(&self.inner.state).faults.drop_next_patch) {
            return Outcome::Drop;
        }
        let patch = match parse_object(body) {
            Ok(patch) => patch,
            Err(e) => return e,
        };
        let invalid = |message: &str| {
            error_reply(
                StatusCode::BAD_REQUEST,
                "INVALID_REPOSITORY_UPDATE",
                message,
            )
        };
        let mut state = lock(&self.inner.state);
        let Some(current) = state.repos.get(&(namespace.to_owned(), name.to_owned())) else {
            return no_such_repository(namespace, name);
        };
        let mut repo = current.clone();
        for (field, value) in patch {
            let expected = match (field.as_str(), &value) {
                ("scanOnPush", Json::Bool(b)) => {
                    repo.scan_on_push = *b;
                    continue;
                }
                ("immutableTags", Json::Bool(b)) => {
                    repo.immutable_tags = *b;
                    continue;
                }
                ("enableManifestLists", Json::Bool(b)) => {
                    repo.enable_manifest_lists = *b;
                    continue;
                }
                ("visibility", Json::String(s)) if s == "public" || s == "private" => {
                    repo.visibility = if s == "public" {
                        SimVisibility::Public
                    } else {
                        SimVisibility::Private
                    };
                    continue;
                }
                ("shortDescription", Json::String(s)) => {
                    repo.short_description = s.clone();
                    continue;
                }
                ("longDescription", Json::String(s)) => {
                    repo.long_description = s.clone();
                    continue;
                }
                ("tagLimit", value) if value.is_u64() => {
                    repo.tag_limit = value.as_u64().unwrap_or_default();
                    continue;
                }
                ("scanOnPush" | "immutableTags" | "enableManifestLists", _) => "boolean",
                ("visibility", Json::String(s)) => {
                    return invalid(&format!(
                        "visibility: expected \"public\" or \"private\", found {s:?}"
                    ));
                }
                ("visibility" | "shortDescription" | "longDescription", _) => "string",
                ("tagLimit", _) => "non-negative integer",
                _ => return invalid(&format!("unknown or read-only field: {field}")),
            };
            return invalid(&format!(
                "{field}: expected {expected}, found {}",
                json_type(&value)
            ));
        }
        let body = repo_json(&repo, true);
        state
            .repos
            .insert((namespace.to_owned(), name.to_owned()), repo);
        drop(state);
        json_reply(StatusCode::OK, &body)
    }

    /// §3.6 tags: a bare JSON array, sorted by name, paged like the repository list.
    fn list_tags(&self, query: &[(String, String)], namespace: &str, name: &str) -> Outcome {
        let page_size = match self.page_size(query) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let start = match query_get(query, "pageStart") {
            None | Some("") => None,
            Some(cursor) => match decode_cursor(cursor, TAG_CURSOR) {
                Some(tag) => Some(tag),
                None => return invalid_page_start(cursor),
            },
        };
        let state = lock(&self.inner.state);
        let Some(repo) = state.repos.get(&(namespace.to_owned(), name.to_owned())) else {
            return no_such_repository(namespace, name);
        };
        let mut tags: Vec<&SimTag> = repo.tags.iter().collect();
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        let from = start.map_or(0, |s| tags.partition_point(|t| t.name < s));
        let rest = &tags[from..];
        let page: Vec<Json> = rest
            .iter()
            .take(page_size)
            .map(|tag| tag_json(repo, tag))
            .collect();
        let next = rest
            .get(page_size)
            .map(|tag| encode_cursor(TAG_CURSOR, &tag.name));
        let total = (query_get(query, "count") == Some("true")).then_some(tags.len());
        drop(state);
        paged_reply(Json::Array(page).to_string(), next, total)
    }

    fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut bytes = [0u8; N];
        let provider = rustls::crypto::ring::default_provider();
        if provider.secure_random.fill(&mut bytes).is_err() {
            // Not expected; fall back to std's randomly keyed hasher plus a counter.
            let n = self.inner.counter.fetch_add(1, Ordering::Relaxed);
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut h = std::hash::RandomState::new().build_hasher();
                h.write_u64(n);
                h.write_usize(i);
                let word = h.finish().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
        }
        bytes
    }
}

/// Whether the DTR part serves `path` (checked before the UCP routes).
pub(crate) fn claims(path: &str) -> bool {
    path == "/api/v0"
        || path.starts_with("/api/v0/")
        || path == "/auth/token"
        || path == "/basic_info"
}

fn require_admin(principal: &Principal<'_>) -> Result<(), Outcome> {
    if principal.user.admin {
        Ok(())
    } else {
        Err(error_reply(
            StatusCode::FORBIDDEN,
            "NOT_AUTHORIZED",
            "this operation requires admin access",
        ))
    }
}

/// Merges fields without checks; `webTLSKey` goes to the secret slot.
fn merge_raw(
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

fn scanning_enabled(settings: &Map<String, Json>) -> bool {
    settings.get("scanningEnabled").and_then(Json::as_bool) == Some(true)
}

fn sync_online(settings: &Map<String, Json>) -> bool {
    settings.get("scanningSyncOnline").and_then(Json::as_bool) != Some(false)
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

fn scanning_not_enabled() -> Outcome {
    error_reply(
        StatusCode::BAD_REQUEST,
        "SCANNING_NOT_ENABLED",
        "image scanning is not enabled",
    )
}

fn no_such_repository(namespace: &str, name: &str) -> Outcome {
    error_reply(
        StatusCode::NOT_FOUND,
        "NO_SUCH_REPOSITORY",
        &format!("repository {namespace}/{name} does not exist"),
    )
}

fn invalid_page_start(cursor: &str) -> Outcome {
    error_reply(
        StatusCode::BAD_REQUEST,
        "INVALID_PAGE_START",
        &format!("invalid pageStart: {cursor:?}"),
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

/// A 200 JSON reply with the paging headers of §3.6.
fn paged_reply(body: String, next: Option<String>, total: Option<usize>) -> Outcome {
    let mut response = text_reply(StatusCode::OK, "application/json", &body);
    let headers = response.headers_mut();
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(HeaderName::from_static(NEXT_PAGE_START), next);
    }
    if let Some(total) = total {
        headers.insert(
            HeaderName::from_static(RESOURCE_COUNT),
            HeaderValue::from(total),
        );
    }
    Outcome::Reply(Box::new(response))
}

/// Cuts a JSON rendering in half and appends garbage: never valid JSON.
fn truncate(body: &str) -> String {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}<<<< truncated", &body[..cut])
}

fn repo_json(repo: &SimRepo, with_long_description: bool) -> Json {
    let mut map = Map::new();
    let mut put = |key: &str, value: Json| {
        map.insert(key.to_owned(), value);
    };
    put(
        "id",
        uuid_from(&format!("repo:{}/{}", repo.namespace, repo.name)).into(),
    );
    put("namespace", repo.namespace.clone().into());
    put("namespaceType", "organization".into());
    put("name", repo.name.clone().into());
    put("shortDescription", repo.short_description.clone().into());
    if with_long_description {
        put("longDescription", repo.long_description.clone().into());
    }
    put("visibility", repo.visibility.as_str().into());
    put("scanOnPush", repo.scan_on_push.into());
    put("immutableTags", repo.immutable_tags.into());
    put("enableManifestLists", repo.enable_manifest_lists.into());
    put("pulls", 0.into());
    put("pushes", repo.tags.len().into());
    put("tagLimit", repo.tag_limit.into());
    Json::Object(map)
}

fn tag_json(repo: &SimRepo, tag: &SimTag) -> Json {
    let seed = format!("{}/{}:{}", repo.namespace, repo.name, tag.name);
    let digest: String = (0..4u64)
        .map(|i| format!("{:016x}", fnv1a(&seed, i)))
        .collect();
    json!({
        "name": tag.name,
        "digest": format!("sha256:{digest}"),
        "inNotary": tag.in_notary,
        "hashMismatch": false,
        "createdAt": "2024-03-01T12:00:00Z",
        "updatedAt": "2024-03-01T12:00:00Z",
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// 64-bit FNV-1a of `salt` then `text`.
fn fnv1a(text: &str, salt: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in salt.to_le_bytes().iter().chain(text.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A deterministic UUID-shaped (version 4 layout) string derived from `seed`.
fn uuid_from(seed: &str) -> String {
    let hex = format!("{:016x}{:016x}", fnv1a(seed, 1), fnv1a(seed, 2));
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

const REPO_CURSOR: &str = "repo:";
const TAG_CURSOR: &str = "tag:";

/// An opaque cursor: hex of a tagged key of the first item of the next page.
fn encode_cursor(tag: &str, key: &str) -> String {
    hex::encode(format!("{tag}{key}"))
}

fn decode_cursor(cursor: &str, tag: &str) -> Option<String> {
    let bytes = hex::decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(tag).map(str::to_owned)
}

/// `a=1&b=x%20y` → pairs, percent-decoded (`+` is a space).
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key, true), percent_decode(value, true))
        })
        .collect()
}

fn query_get<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Decodes `%XX` escapes (invalid ones are kept as they are) and, in a query, `+`.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4), padding optional; `None` on any other character.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = BASE64.iter().position(|&c| c == byte)?;
        acc = (acc << 6) | u32::try_from(value).ok()?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    // A single leftover character (6 bits) cannot be valid base64.
    (bits < 6).then_some(out)
}

/// Base64url without padding (RFC 4648 §5), as in JWTs.
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            let index = ((n >> (18 - 6 * i)) & 0x3f) as usize;
            let c = match BASE64[index] {
                b'+' => '-',
                b'/' => '_',
                c => char::from(c),
            };
            out.push(c);
        }
    }
    out
}

/// Whether `data` starts with a tar header: `ustar` magic at offset 257 (POSIX `ustar\0`
/// and GNU `ustar  \0` both match).
pub(crate) fn is_tar(data: &[u8]) -> bool {
    data.len() >= 512 && &data[257..262] == b"ustar"
}

/// One part of a multipart/form-data body.
#[derive(Debug)]
pub(crate) struct FormPart<'a> {
    /// `name` parameter of `Content-Disposition`.
    pub(crate) name: Option<String>,
    pub(crate) filename: Option<String>,
    pub(crate) data: &'a [u8],
}

/// The boundary of a `multipart/form-data` Content-Type (quoted or not, 1-70 characters).
pub(crate) fn multipart_boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    header_params(params)
        .into_iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value)
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// Parses `; key=value; key="quoted \" value"` parameters.
fn header_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ';' || c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ';')).collect();
        if key.is_empty() && chars.peek().is_none() {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
                // Skip anything up to the next parameter.
                while chars.next_if(|c| *c != ';').is_some() {}
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ';')).collect();
                value = value.trim().to_owned();
            }
        }
        params.push((key.trim().to_owned(), value));
    }
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|&b| b == first) {
        let at = from + offset;
        if haystack.get(at + 1..at + needle.len())? == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Parses a multipart body (RFC 2046 §5.1.1, RFC 7578) with CRLF line breaks: an optional
/// preamble, parts framed by `--boundary` lines, the close delimiter `--boundary--`.
pub(crate) fn parse_multipart<'a>(
    body: &'a [u8],
    boundary: &str,
) -> Result<Vec<FormPart<'a>>, String> {
    let dash_boundary = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut pos = if body.starts_with(dash_boundary.as_bytes()) {
        dash_boundary.len()
    } else {
        find(body, delimiter.as_bytes()).ok_or("no boundary delimiter found")? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the CRLF that ends the delimiter line.
        let padding = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err("boundary delimiter not followed by CRLF".to_owned());
        }
        pos += padding + 2;
        let (headers, data_start) = if body[pos..].starts_with(b"\r\n") {
            ("", pos + 2)
        } else {
            let end = find(&body[pos..], b"\r\n\r\n").ok_or("part headers are not terminated")?;
            let headers = std::str::from_utf8(&body[pos..pos + end])
                .map_err(|_| "part headers are not UTF-8".to_owned())?;
            (headers, pos + end + 4)
        };
        let data_len = find(&body[data_start..], delimiter.as_bytes())
            .ok_or("missing closing boundary delimiter")?;
        let mut part = FormPart {
            name: None,
            filename: None,
            data: &body[data_start..data_start + data_len],
        };
        for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
            let Some((header, value)) = line.split_once(':') else {
                return Err(format!("malformed part header line: {line:?}"));
            };
            if !header.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            let (disposition, params) = value.split_once(';').unwrap_or((value, ""));
            if !disposition.trim().eq_ignore_ascii_case("form-data") {
                return Err(format!("unexpected disposition {:?}", disposition.trim()));
            }
            for (key, value) in header_params(params) {
                if key.eq_ignore_ascii_case("name") {
                    part.name = Some(value);
                } else if key.eq_ignore_ascii_case("filename") {
                    part.filename = Some(value);
                }
            }
        }
        parts.push(part);
        pos = data_start + data_len + delimiter.len();
    }
}
