//! The simulated DTR/MSR's state, its options, and the [`DtrHandle`] through which tests
//! inspect the state, change it behind stigfix's back and arm faults.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::StatusCode;
use serde_json::{Map, Value as Json};
use time::OffsetDateTime;

use super::DEFAULT_DTR_VERSION;
use super::auth::TokenSession;
use super::repos::SimRepo;
use super::settings::{CveDb, SimScanStatus, default_settings, merge_raw, scanning_enabled};
use crate::sim::faults::NumberedFaults;
use crate::sim::{SimUser, lock};

/// How to set up the simulated DTR/MSR (part of [`crate::sim::SimOptions`]).
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
    /// An MSR 4 instead (Harbor, whose API is `/api/v2.0`; docs/reference/next-phase.md §5.3):
    /// its version. Then `/api/v0` answers 404 and `GET /api/v2.0/systeminfo` the version.
    pub harbor: Option<String>,
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
            harbor: None,
        }
    }
}

/// Handle on the simulated DTR/MSR state. Cheap to clone; all clones share the state.
#[derive(Clone)]
pub struct DtrHandle {
    pub(super) inner: Arc<DtrShared>,
}

impl fmt::Debug for DtrHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DtrHandle").finish_non_exhaustive()
    }
}

pub(super) struct DtrShared {
    pub(super) state: Mutex<DtrState>,
    pub(super) users: Vec<SimUser>,
    pub(super) token_ttl: Duration,
    pub(super) max_page_size: usize,
    pub(super) settings_post_status: StatusCode,
    pub(super) version: String,
    pub(super) harbor: Option<String>,
    pub(super) host: String,
    pub(super) counter: AtomicU64,
}

pub(super) type RepoKey = (String, String);

pub(super) struct DtrState {
    pub(super) settings: Map<String, Json>,
    pub(super) web_tls_key: Option<String>,
    pub(super) repos: BTreeMap<RepoKey, SimRepo>,
    pub(super) db: CveDb,
    pub(super) tokens: HashMap<String, TokenSession>,
    pub(super) faults: Faults,
    pub(super) settings_writes: usize,
    pub(super) patches: usize,
    pub(super) uploads: usize,
    pub(super) online_sync_reachable: bool,
    pub(super) sync_duration: Duration,
    pub(super) patch_observer: Option<PatchObserver>,
}

/// Told `namespace/name` of each authenticated PATCH as it is received.
pub(super) type PatchObserver = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
pub(super) struct Faults {
    /// PATCHes (numbered by `DtrState::patches`) that answer 500.
    pub(super) failing_patches: NumberedFaults<()>,
    /// PATCHes whose answer is held back, and for how long.
    pub(super) held_patches: NumberedFaults<Duration>,
    pub(super) drop_next_patch: bool,
    pub(super) fail_next_settings_write: bool,
    pub(super) ignore_next_settings_write: bool,
    pub(super) status_always_updating: bool,
    pub(super) malformed_next_read: bool,
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
            patch_observer: None,
        };
        Ok(DtrHandle {
            inner: Arc::new(DtrShared {
                state: Mutex::new(state),
                users,
                token_ttl,
                max_page_size: options.max_page_size,
                settings_post_status,
                version: options.version,
                harbor: options.harbor,
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

    /// Call `observer` with `namespace/name` of each authenticated repository PATCH as it is
    /// received, before it is handled or counted (on the simulator's thread: what the client
    /// had done by the time it sent the PATCH can be checked there). Replaces any earlier one.
    pub fn on_patch(&self, observer: impl Fn(&str) + Send + Sync + 'static) {
        lock(&self.inner.state).patch_observer = Some(Arc::new(observer));
    }

    /// Accepted (202) CVE database uploads so far.
    pub fn uploads(&self) -> usize {
        lock(&self.inner.state).uploads
    }

    /// The authenticated repository PATCHes numbered `from ..= from + count - 1`, counting
    /// from 1 at the next one (`from` 0 is taken as 1), answer 500 `INTERNAL_ERROR` and change
    /// nothing. `count` `usize::MAX` means every PATCH from `from` on; 0 arms nothing. Adds to
    /// what is already armed. A failing PATCH is still counted by [`DtrHandle::patch_count`],
    /// and [`DtrHandle::drop_next_patch`] then waits for the next PATCH that does not fail.
    pub fn fail_patches(&self, from: usize, count: usize) {
        let mut state = lock(&self.inner.state);
        let seen = state.patches;
        state.faults.failing_patches.arm(seen, from, count, ());
    }

    /// The `n`-th authenticated repository PATCH from now (1-based; 0 is taken as 1) answers
    /// 500 `INTERNAL_ERROR` and changes nothing: `fail_patches(n, 1)`. May be armed for several
    /// PATCHes at once.
    pub fn fail_nth_patch(&self, n: usize) {
        self.fail_patches(n, 1);
    }

    /// The `n`-th authenticated repository PATCH from now (1-based; 0 is taken as 1) is handled
    /// at once (a change is in the state right away) but its answer, whatever it is, is held
    /// back for `delay` while other requests are served: a write the server applied while the
    /// client gave up on it. On top of [`crate::sim::Simulator::set_latency`]. If the same PATCH
    /// is armed twice, the first delay applies.
    pub fn hold_patch(&self, n: usize, delay: Duration) {
        let mut state = lock(&self.inner.state);
        let seen = state.patches;
        state.faults.held_patches.arm(seen, n, 1, delay);
    }

    /// Disarms every repository PATCH fault armed so far: [`DtrHandle::fail_patches`] (and
    /// `fail_nth_patch`), [`DtrHandle::hold_patch`] and [`DtrHandle::drop_next_patch`].
    pub fn clear_patch_faults(&self) {
        let faults = &mut lock(&self.inner.state).faults;
        faults.failing_patches.clear();
        faults.held_patches.clear();
        faults.drop_next_patch = false;
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
}
