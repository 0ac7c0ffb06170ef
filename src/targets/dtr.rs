//! DTR / MSR 2.x: registry settings, the vulnerability database and every repository
//! (api-facts §3).
//!
//! Read: `GET /api/v0/meta/settings` (§3.3), `GET /api/v0/imagescan/status` (§3.4: 400 while
//! scanning is off, 403 while the database updates — polled with backoff up to a timeout) and
//! `GET /api/v0/repositories` page by page, following `X-Next-Page-Start` (§3.6; the server caps
//! the page size, so one page is never assumed to be everything). The three start at once.
//!
//! Write: one `POST /api/v0/meta/settings` with only the changed fields (a partial update; it may
//! answer 202), the offline database upload `PUT /api/v0/imagescan/scan/update?online=false` with
//! the multipart field `upload` (§3.5), and `PATCH /api/v0/repositories/{ns}/{name}` per
//! repository, concurrently under a bound. Every request uses HTTP Basic auth (§3.1).
//!
//! The document the playbooks address:
//! - `settings.<field>`: a field of the settings object;
//! - `imagescan.lastDBUpdateFailed`, `imagescan.lastVulnOverridesDBUpdateFailed`;
//! - `repositories."<namespace>/<name>".<field>`, e.g. `repositories.*.scanOnPush`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use serde_json::{Map, Value};

use super::document::{Document, Edit, Saved};
use crate::error::{Error, Result};
use crate::http::{SendError, error_summary, is_transient};
use crate::keypath::{KeyPath, WILDCARD};
use crate::output::Output;
use crate::plan::{fingerprint, json_to_toml, toml_to_json};
use crate::playbook::display_value;
use crate::secrets::{REDACTED, Secret, is_secret_key};

const SETTINGS: &str = "/api/v0/meta/settings";
const SCAN_STATUS: &str = "/api/v0/imagescan/status";
const REPOSITORIES: &str = "/api/v0/repositories";
const UPLOAD: &str = "/api/v0/imagescan/scan/update?online=false";
const READ_ATTEMPTS: u32 = 3;
/// Asked for on every page; the server answers with at most its own cap.
const PAGE_SIZE: usize = 1000;
/// Repository fields stigfix reads and may patch.
const REPO_FIELDS: [&str; 4] = ["scanOnPush", "immutableTags", "visibility", "tagLimit"];
/// The status fields the STIG check reads (§3.4).
const SCAN_FIELDS: [&str; 2] = ["lastDBUpdateFailed", "lastVulnOverridesDBUpdateFailed"];
/// Repositories named in a plan's diff before "and N more".
const NAMED: usize = 5;

/// How to run against one DTR.
#[derive(Clone, Debug)]
pub struct DtrOptions {
    /// Repository updates in flight at once.
    pub concurrency: usize,
    /// An offline vulnerability database to upload when the sync has failed (`--cve-db`).
    pub cve_db: Option<PathBuf>,
    /// How long to wait while `imagescan/status` answers 403 (database updating).
    pub status_timeout: Duration,
}

impl Default for DtrOptions {
    fn default() -> Self {
        DtrOptions {
            concurrency: 8,
            cve_db: None,
            status_timeout: Duration::from_secs(120),
        }
    }
}

/// A client for one DTR / MSR.
pub struct DtrClient {
    http: reqwest::Client,
    base: String,
    username: String,
    password: Secret,
    options: DtrOptions,
    output: Output,
    requests: AtomicUsize,
}

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
    pub settings: Map<String, Value>,
    pub scan: ScanStatus,
    /// `namespace/name` → the fields of [`REPO_FIELDS`] the server returned.
    pub repositories: BTreeMap<String, Map<String, Value>>,
    pub fingerprint: String,
    /// The `--cve-db` file, when one was given.
    cve_db: Option<PathBuf>,
}

/// What a DTR snapshot holds: the previous value of every field and repository a change touched.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SavedState {
    settings: Map<String, Value>,
    repositories: BTreeMap<String, Map<String, Value>>,
    /// Work that cannot be undone (a database upload), recorded for the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    irreversible: Vec<String>,
}

const SAVED_FILE: &str = "dtr-state.json";

/// The edits of one apply, sorted by what they write.
#[derive(Default)]
struct Sorted<'a> {
    settings: Map<String, Value>,
    upload: bool,
    repositories: Vec<(&'a str, &'a str, Value)>,
}

fn sort_edits(edits: &[Edit]) -> Result<Sorted<'_>> {
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
    fn new(
        settings: Map<String, Value>,
        scan: ScanStatus,
        repositories: BTreeMap<String, Map<String, Value>>,
        cve_db: Option<PathBuf>,
    ) -> DtrLive {
        DtrLive {
            fingerprint: DtrLive::compute_fingerprint(&settings, &scan, &repositories),
            settings,
            scan,
            repositories,
            cve_db,
        }
    }

    fn compute_fingerprint(
        settings: &Map<String, Value>,
        scan: &ScanStatus,
        repositories: &BTreeMap<String, Map<String, Value>>,
    ) -> String {
        // Sorted keys, so the server's field order does not matter.
        let settings: BTreeMap<&String, &Value> = settings.iter().collect();
        let scan = match scan {
            ScanStatus::Off => Value::from("off"),
            ScanStatus::Updating(_) => Value::from("updating"),
            ScanStatus::Ready {
                last_db_update_failed,
                last_vuln_overrides_failed,
            } => serde_json::json!([last_db_update_failed, last_vuln_overrides_failed]),
        };
        let state = serde_json::json!({
            "settings": settings,
            "imagescan": scan,
            "repositories": repositories,
        });
        fingerprint(state.to_string().as_bytes())
    }

    /// Observations for the plan.
    pub fn notes(&self) -> Vec<String> {
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
    pub fn saved(&self, edits: &[Edit]) -> Result<Saved> {
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
    pub fn diff(&self, edits: &[Edit]) -> Result<String> {
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
    pub fn edits_to_saved(&self, saved: &Saved) -> Vec<Edit> {
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
    pub fn diff_to_saved(&self, saved: &Saved) -> String {
        let mut text = self.diff(&self.edits_to_saved(saved)).unwrap_or_default();
        if let Ok(state) = serde_json::from_slice::<SavedState>(&saved.bytes) {
            for line in state.irreversible {
                text.push_str(&format!("\nnot undone: {line}"));
            }
        }
        text
    }
}

fn name_list(names: &[&str]) -> String {
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

/// A response read in full.
struct Answer {
    status: StatusCode,
    next_page: Option<String>,
    body: String,
}

impl DtrClient {
    pub fn new(
        http: reqwest::Client,
        base: &str,
        username: &str,
        password: Secret,
        options: DtrOptions,
        output: Output,
    ) -> DtrClient {
        DtrClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password,
            options,
            output,
            requests: AtomicUsize::new(0),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<reqwest::Body>,
        content_type: &str,
    ) -> std::result::Result<Answer, SendError> {
        let url = self.url(path);
        let mut request = self
            .http
            .request(method, &url)
            .basic_auth(&self.username, Some(self.password.expose()))
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.header("content-type", content_type).body(body);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = request
            .send()
            .await
            .map_err(|error| SendError::Transport(error, url.clone()))?;
        let status = response.status();
        let next_page = response
            .headers()
            .get("x-next-page-start")
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .map(str::to_string);
        let body = response
            .text()
            .await
            .map_err(|error| SendError::Transport(error, url.clone()))?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(SendError::Fatal(
                Error::new(format!(
                    "DTR {} rejected the credentials of user `{}` (401: {})",
                    self.base,
                    self.username,
                    error_summary(&body)
                ))
                .with_hint("check the password in STIGFIX_DTR_PASSWORD / STIGFIX_PASSWORD, or run `stigfix login --dtr-url URL` again"),
            ));
        }
        Ok(Answer {
            status,
            next_page,
            body,
        })
    }

    /// A GET, retried on transient failures and 5xx answers.
    async fn get(&self, path: &str) -> Result<Answer> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send(reqwest::Method::GET, path, None, "").await {
                Ok(answer) if answer.status.is_server_error() && attempt < READ_ATTEMPTS => {}
                Ok(answer) => return Ok(answer),
                Err(SendError::Transport(error, _))
                    if is_transient(&error) && attempt < READ_ATTEMPTS => {}
                Err(error) => return Err(error.into_error("DTR read", "GET")),
            }
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1))).await;
        }
    }

    async fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        body: reqwest::Body,
        content_type: &str,
    ) -> Result<Answer> {
        let verb = method.to_string();
        let answer = self
            .send(method, path, Some(body), content_type)
            .await
            .map_err(|error| error.into_error("DTR write", &verb))?;
        if !answer.status.is_success() {
            return Err(self.status_error(&verb, path, &answer));
        }
        Ok(answer)
    }

    fn status_error(&self, method: &str, path: &str, answer: &Answer) -> Error {
        let error = Error::new(format!(
            "{method} {} answered {}: {}",
            self.url(path),
            answer.status.as_u16(),
            error_summary(&answer.body)
        ));
        if answer.status == StatusCode::FORBIDDEN {
            error.with_hint("the account must be a DTR administrator")
        } else {
            error
        }
    }

    fn json(&self, path: &str, answer: &Answer) -> Result<Value> {
        serde_json::from_str(&answer.body).map_err(|error| {
            Error::new(format!(
                "GET {} answered malformed JSON ({error}); nothing was written",
                self.url(path)
            ))
        })
    }

    async fn read_settings(&self) -> Result<Map<String, Value>> {
        let answer = self.get(SETTINGS).await?;
        if !answer.status.is_success() {
            return Err(self.status_error("GET", SETTINGS, &answer));
        }
        match self.json(SETTINGS, &answer)? {
            Value::Object(settings) => Ok(settings),
            _ => Err(Error::new(format!(
                "GET {} answered JSON that is not an object",
                self.url(SETTINGS)
            ))),
        }
    }

    /// `imagescan/status`; while it answers 403 (database updating), poll with backoff.
    async fn read_scan_status(&self) -> Result<ScanStatus> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut spinner = None;
        loop {
            let answer = self.get(SCAN_STATUS).await?;
            match answer.status {
                StatusCode::OK => {
                    let value = self.json(SCAN_STATUS, &answer)?;
                    let flag = |name: &str| value.get(name).and_then(Value::as_bool);
                    return Ok(ScanStatus::Ready {
                        last_db_update_failed: flag(SCAN_FIELDS[0]),
                        last_vuln_overrides_failed: flag(SCAN_FIELDS[1]),
                    });
                }
                StatusCode::BAD_REQUEST => return Ok(ScanStatus::Off),
                StatusCode::FORBIDDEN => {
                    let waited = started.elapsed();
                    if waited >= self.options.status_timeout {
                        return Ok(ScanStatus::Updating(waited));
                    }
                    spinner.get_or_insert_with(|| {
                        self.output.spinner(&format!(
                            "DTR {}: waiting for the vulnerability database update",
                            self.base
                        ))
                    });
                    let remaining = self.options.status_timeout.saturating_sub(waited);
                    tokio::time::sleep(delay.min(remaining)).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                _ => return Err(self.status_error("GET", SCAN_STATUS, &answer)),
            }
        }
    }

    /// Every repository, page by page.
    async fn read_repositories(&self) -> Result<BTreeMap<String, Map<String, Value>>> {
        let mut repositories = BTreeMap::new();
        let mut start: Option<String> = None;
        loop {
            let path = match &start {
                None => format!("{REPOSITORIES}?pageSize={PAGE_SIZE}&count=false"),
                Some(cursor) => format!(
                    "{REPOSITORIES}?pageSize={PAGE_SIZE}&count=false&pageStart={}",
                    url_encode(cursor)
                ),
            };
            let answer = self.get(&path).await?;
            if !answer.status.is_success() {
                return Err(self.status_error("GET", &path, &answer));
            }
            let page: RepositoryPage = serde_json::from_str(&answer.body).map_err(|error| {
                Error::new(format!(
                    "GET {} answered a malformed repository list ({error}); nothing was written",
                    self.url(&path)
                ))
            })?;
            for repository in page.repositories {
                let fields = REPO_FIELDS
                    .iter()
                    .filter_map(|field| {
                        repository
                            .rest
                            .get(*field)
                            .map(|value| (field.to_string(), value.clone()))
                    })
                    .collect();
                repositories.insert(
                    format!("{}/{}", repository.namespace, repository.name),
                    fields,
                );
            }
            match answer.next_page {
                Some(next) if Some(&next) != start.as_ref() => start = Some(next),
                Some(next) => {
                    return Err(Error::new(format!(
                        "GET {} answered the same X-Next-Page-Start `{next}` twice; stopping rather than looping",
                        self.url(REPOSITORIES)
                    )));
                }
                None => break,
            }
        }
        Ok(repositories)
    }

    /// Settings, scan status and repositories, read at once.
    pub async fn read(&self) -> Result<DtrLive> {
        let (settings, scan, repositories) = tokio::try_join!(
            self.read_settings(),
            self.read_scan_status(),
            self.read_repositories()
        )?;
        Ok(DtrLive::new(
            settings,
            scan,
            repositories,
            self.options.cve_db.clone(),
        ))
    }

    async fn post_settings(&self, fields: &Map<String, Value>) -> Result<()> {
        let body = Value::Object(fields.clone()).to_string();
        self.write(
            reqwest::Method::POST,
            SETTINGS,
            reqwest::Body::from(body),
            "application/json",
        )
        .await?;
        Ok(())
    }

    /// PATCH repositories concurrently (at most `--concurrency` in flight), stopping at the
    /// first failure. Each answer is the repository as the server now has it: every field sent
    /// is checked in it, and the answered fields are returned per repository.
    async fn patch_repositories(
        &self,
        patches: Vec<(String, Map<String, Value>)>,
        verb: &str,
    ) -> Result<Vec<(String, Map<String, Value>)>> {
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let answered = std::sync::Mutex::new(Vec::with_capacity(patches.len()));
        let bar = self.output.bar(
            patches.len() as u64,
            &format!("{verb} repositories of DTR {}", self.base),
        );
        let result = futures_util::stream::iter(patches.into_iter().map(Ok::<_, Error>))
            .try_for_each_concurrent(self.options.concurrency.max(1), |(repository, body)| {
                let bar = &bar;
                let answered = &answered;
                async move {
                    let path = format!("{REPOSITORIES}/{repository}");
                    let answer = self
                        .write(
                            reqwest::Method::PATCH,
                            &path,
                            reqwest::Body::from(Value::Object(body.clone()).to_string()),
                            "application/json",
                        )
                        .await
                        .map_err(|error| error.context(format!("repository {repository}")))?;
                    // Verify the server kept every field (the answer is the repository).
                    let kept: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
                    for (field, wanted) in &body {
                        if kept.get(field) != Some(wanted) {
                            return Err(Error::new(format!(
                                "PATCH {} accepted the update but answered {field} = {}",
                                self.url(&path),
                                kept.get(field).unwrap_or(&Value::Null)
                            )));
                        }
                    }
                    let fields: Map<String, Value> = REPO_FIELDS
                        .iter()
                        .filter_map(|field| Some((field.to_string(), kept.get(*field)?.clone())))
                        .collect();
                    answered
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((repository, fields));
                    bar.inc(1);
                    Ok(())
                }
            })
            .await;
        bar.finish_and_clear();
        result.map(|()| {
            answered
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
    }

    /// `PUT …/imagescan/scan/update?online=false`, multipart field `upload`, streamed from disk.
    async fn upload_database(&self) -> Result<()> {
        let path = self.options.cve_db.as_ref().ok_or_else(|| {
            Error::new("the vulnerability database needs an upload, but no --cve-db FILE was given")
        })?;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|error| Error::io("open the CVE database", path, &error))?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().replace('"', ""))
            .unwrap_or_else(|| "cve-db.tar".into());
        let boundary = format!("stigfix-{}", &fingerprint(name.as_bytes())[7..31]);
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"{name}\"\r\nContent-Type: application/x-tar\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let body = futures_util::stream::once(async move { Ok(head.into_bytes()) })
            .chain(file_chunks(file))
            .chain(futures_util::stream::once(
                async move { Ok(tail.into_bytes()) },
            ));
        let spinner = self.output.spinner(&format!(
            "uploading {} to DTR {}",
            path.display(),
            self.base
        ));
        let outcome = self
            .write(
                reqwest::Method::PUT,
                UPLOAD,
                reqwest::Body::wrap_stream(body),
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .await;
        spinner.finish_and_clear();
        outcome.map_err(|error| error.context(format!("upload of {}", path.display())))?;
        Ok(())
    }

    /// Write the edits: settings first (one partial POST), then the database upload, then the
    /// repositories (concurrently); read everything back.
    pub async fn apply(&self, live: &DtrLive, edits: &[Edit]) -> Result<DtrLive> {
        let sorted = sort_edits(edits)?;
        if !sorted.settings.is_empty() {
            self.post_settings(&sorted.settings).await?;
        }
        if sorted.upload {
            // The upload needs scanning on; a sync that enabling scanning started must finish.
            if matches!(self.read_scan_status().await?, ScanStatus::Off) {
                return Err(Error::new(format!(
                    "DTR {}: scanning is off, so the vulnerability database cannot be uploaded",
                    self.base
                ))
                .with_hint("enable scanning (settings.scanningEnabled) and run apply again"));
            }
            self.upload_database().await?;
        }
        let mut patches: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for (repository, field, value) in sorted.repositories {
            if !live.repositories.contains_key(repository) {
                return Err(Error::new(format!(
                    "repository {repository} is not on DTR {} any more",
                    self.base
                )));
            }
            patches
                .entry(repository.to_string())
                .or_default()
                .insert(field.to_string(), value);
        }
        let answered = self
            .patch_repositories(patches.into_iter().collect(), "updating")
            .await?;
        // Read back the settings and the scan status; the repositories are as the PATCH
        // answers (each checked) say — reading every page again would double the run on a
        // registry with thousands of repositories.
        let (settings, scan) = tokio::try_join!(self.read_settings(), self.read_scan_status())?;
        let mut repositories = live.repositories.clone();
        for (repository, fields) in answered {
            repositories.entry(repository).or_default().extend(fields);
        }
        Ok(DtrLive::new(
            settings,
            scan,
            repositories,
            self.options.cve_db.clone(),
        ))
    }

    /// Write back exactly the saved fields and repositories that differ from `now` (read here
    /// when the caller has no fresh state), and verify them.
    pub async fn restore(&self, now: Option<&DtrLive>, saved: &Saved) -> Result<DtrLive> {
        let state: SavedState = serde_json::from_slice(&saved.bytes).map_err(|error| {
            Error::new(format!(
                "snapshot file {} is not a DTR snapshot ({error})",
                saved.file
            ))
        })?;
        let read;
        let now = match now {
            Some(now) => now,
            None => {
                read = self.read().await?;
                &read
            }
        };
        let settings: Map<String, Value> = state
            .settings
            .iter()
            .filter(|(field, value)| !value.is_null() && now.settings.get(*field) != Some(value))
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect();
        if !settings.is_empty() {
            self.post_settings(&settings).await?;
        }
        let patches: Vec<(String, Map<String, Value>)> = state
            .repositories
            .iter()
            .filter_map(|(repository, fields)| {
                let live = now.repositories.get(repository)?;
                let body: Map<String, Value> = fields
                    .iter()
                    .filter(|(field, value)| !value.is_null() && live.get(*field) != Some(value))
                    .map(|(field, value)| (field.clone(), value.clone()))
                    .collect();
                (!body.is_empty()).then(|| (repository.clone(), body))
            })
            .collect();
        self.patch_repositories(patches, "restoring").await?;
        // A restore reads everything back: it must prove the whole saved state is in place.
        let after = self.read().await?;
        let differing: Vec<String> = after
            .edits_to_saved(saved)
            .iter()
            .map(|edit| {
                format!(
                    "{} is {}",
                    edit.path,
                    edit.before
                        .as_ref()
                        .map_or_else(|| "(not set)".into(), display_value)
                )
            })
            .collect();
        if !differing.is_empty() {
            return Err(Error::new(format!(
                "DTR {} did not return to the snapshot's values after the restore: {}",
                self.base,
                name_list(&differing.iter().map(String::as_str).collect::<Vec<_>>())
            )));
        }
        Ok(after)
    }
}

#[derive(serde::Deserialize)]
struct RepositoryPage {
    #[serde(default)]
    repositories: Vec<Repository>,
}

#[derive(serde::Deserialize)]
struct Repository {
    namespace: String,
    name: String,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// The file as a stream of chunks, read as the upload proceeds (databases are large).
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    futures_util::stream::try_unfold(file, |mut file| async move {
        let mut chunk = vec![0; 64 * 1024];
        let read = file.read(&mut chunk).await?;
        if read == 0 {
            return Ok(None);
        }
        chunk.truncate(read);
        Ok(Some((chunk, file)))
    })
}

/// Percent-encode a cursor for a query string (it is opaque: any byte may appear).
fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> DtrLive {
        let settings: Map<String, Value> = serde_json::from_str(
            r#"{"scanningEnabled": false, "createRepositoryOnPush": true, "reportAnalytics": true}"#,
        )
        .unwrap();
        let mut repositories = BTreeMap::new();
        for (name, scan) in [("a/one", false), ("a/two", true), ("b/three", false)] {
            let mut fields = Map::new();
            fields.insert("scanOnPush".into(), Value::Bool(scan));
            repositories.insert(name.to_string(), fields);
        }
        DtrLive::new(settings, ScanStatus::Off, repositories, None)
    }

    fn path(text: &str) -> KeyPath {
        KeyPath::parse(text).unwrap()
    }

    #[test]
    fn wildcard_repositories_expand_to_every_repository() {
        let live = live();
        let paths = live.expand(&path("repositories.*.scanOnPush"));
        assert_eq!(paths.len(), 3);
        assert_eq!(
            live.lookup(&paths[0]),
            Some(toml::Value::Boolean(false)),
            "{}",
            paths[0]
        );
        assert_eq!(
            live.lookup(&path("settings.createRepositoryOnPush")),
            Some(toml::Value::Boolean(true))
        );
        assert_eq!(live.lookup(&path("imagescan.lastDBUpdateFailed")), None);
        assert!(
            live.explain(&path("imagescan.lastDBUpdateFailed"))
                .unwrap()
                .contains("400")
        );
        assert!(
            live.writable(&path("imagescan.lastDBUpdateFailed"))
                .is_err()
        );
    }

    #[test]
    fn snapshots_hold_previous_values_of_changed_fields_only() {
        let live = live();
        let edits = vec![
            Edit {
                path: path("settings.scanningEnabled"),
                before: Some(toml::Value::Boolean(false)),
                after: toml::Value::Boolean(true),
                rules: vec!["DKER-EE-003840".into()],
            },
            Edit {
                path: path(r#"repositories."a/one".scanOnPush"#),
                before: Some(toml::Value::Boolean(false)),
                after: toml::Value::Boolean(true),
                rules: vec!["DKER-EE-003840".into()],
            },
        ];
        let saved = live.saved(&edits).unwrap();
        let state: SavedState = serde_json::from_slice(&saved.bytes).unwrap();
        assert_eq!(state.settings.len(), 1);
        assert_eq!(state.settings["scanningEnabled"], Value::Bool(false));
        assert_eq!(state.repositories.len(), 1);
        assert_eq!(
            state.repositories["a/one"]["scanOnPush"],
            Value::Bool(false)
        );
        let diff = live.diff(&edits).unwrap();
        assert!(
            diff.contains(r#"POST /api/v0/meta/settings {"scanningEnabled":true}"#),
            "{diff}"
        );
        assert!(diff.contains("for 1 repository: a/one"), "{diff}");
        // Nothing to undo while the live state still equals the snapshot.
        assert!(live.edits_to_saved(&saved).is_empty());
    }

    #[test]
    fn secret_settings_are_redacted_in_the_diff() {
        let edits = vec![Edit {
            path: path("settings.webTLSKey"),
            before: None,
            after: toml::Value::String("-----BEGIN PRIVATE KEY-----".into()),
            rules: vec![],
        }];
        let diff = live().diff(&edits).unwrap();
        assert!(!diff.contains("PRIVATE KEY"), "{diff}");
        assert!(diff.contains("(redacted)"), "{diff}");
    }

    #[test]
    fn unknown_paths_are_refused() {
        let edits = vec![Edit {
            path: path("nonsense.key"),
            before: None,
            after: toml::Value::Boolean(true),
            rules: vec![],
        }];
        assert!(sort_edits(&edits).is_err());
    }

    #[test]
    fn cursors_are_percent_encoded() {
        assert_eq!(url_encode("a b/c=="), "a%20b%2Fc%3D%3D");
    }
}
