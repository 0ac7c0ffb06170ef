//! The DTR / MSR API (docs/reference/api-facts.md §3): every request with HTTP Basic auth
//! (§3.1); settings, scan status and repository pages read; partial settings POSTs, repository
//! PATCHes and the offline database upload written.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};

use super::live::{DtrLive, ScanStatus};
use super::{
    DtrOptions, HARBOR_SYSTEMINFO, PAGE_SIZE, PAGES_AHEAD, REPO_FIELDS, REPOSITORIES, SCAN_FIELDS,
    SCAN_STATUS, SETTINGS, UPLOAD, VERSION,
};
use crate::error::{Error, Result};
use crate::http::SendError;
use crate::http::api::{Answer, Api, Auth, read_with_retries};
use crate::http::error_summary;
use crate::output::Output;
use crate::secrets::Secret;
use crate::targets::{Product, Stop};
use crate::values::fingerprint;

/// A client for one DTR / MSR.
pub struct DtrClient {
    api: Api,
    username: String,
    password: Secret,
    pub(super) options: DtrOptions,
    pub(super) output: Output,
}

impl DtrClient {
    pub fn new(
        api: Api,
        username: &str,
        password: Secret,
        options: DtrOptions,
        output: Output,
    ) -> DtrClient {
        DtrClient {
            api,
            username: username.to_string(),
            password,
            options,
            output,
        }
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    fn base(&self) -> &str {
        self.api.base()
    }

    fn url(&self, path: &str) -> String {
        self.api.url(path)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(reqwest::Body, &str)>,
    ) -> std::result::Result<Answer, SendError> {
        let answer = self
            .api
            .send(
                method,
                path,
                Auth::Basic {
                    username: &self.username,
                    password: &self.password,
                },
                "application/json",
                body,
            )
            .await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            return Err(SendError::Fatal(
                Error::new(format!(
                    "DTR {} rejected the credentials of user `{}` (401: {})",
                    self.base(),
                    self.username,
                    error_summary(&answer.body)
                ))
                .with_hint("check the password in STIGFIX_DTR_PASSWORD / STIGFIX_PASSWORD, or run `stigfix login --dtr-url URL` again"),
            ));
        }
        Ok(answer)
    }

    /// A GET, retried on transient failures and 5xx answers.
    async fn get(&self, path: &str) -> Result<Answer> {
        read_with_retries("DTR read", || self.send(Method::GET, path, None)).await
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        body: reqwest::Body,
        content_type: &str,
    ) -> Result<Answer> {
        let verb = method.to_string();
        let answer = self
            .send(method, path, Some((body, content_type)))
            .await
            .map_err(|error| error.into_error("DTR write", &verb))?;
        self.api.success(&verb, path, answer)
    }

    pub(super) async fn read_settings(&self) -> Result<Map<String, Value>> {
        let answer = self.get(SETTINGS).await?;
        let answer = self.api.success("GET", SETTINGS, answer)?;
        match self.api.json(SETTINGS, &answer)? {
            Value::Object(settings) => Ok(settings),
            _ => Err(Error::new(format!(
                "GET {} answered JSON that is not an object",
                self.url(SETTINGS)
            ))),
        }
    }

    /// `imagescan/status`; while it answers 403 (database updating), poll with backoff.
    pub(super) async fn read_scan_status(&self) -> Result<ScanStatus> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut spinner = None;
        loop {
            let answer = self.get(SCAN_STATUS).await?;
            match answer.status {
                StatusCode::OK => {
                    let value = self.api.json(SCAN_STATUS, &answer)?;
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
                            self.base()
                        ))
                    });
                    let remaining = self.options.status_timeout.saturating_sub(waited);
                    tokio::time::sleep(delay.min(remaining)).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                _ => return Err(self.api.status_error("GET", SCAN_STATUS, &answer)),
            }
        }
    }

    /// One page of the repository list from `start` (the first page when `None`), and the
    /// cursor of the next one.
    pub(super) async fn fetch_page(
        &self,
        start: Option<&str>,
    ) -> Result<(RawPage, Option<String>)> {
        let path = match start {
            None => format!("{REPOSITORIES}?pageSize={PAGE_SIZE}&count=false"),
            Some(cursor) => format!(
                "{REPOSITORIES}?pageSize={PAGE_SIZE}&count=false&pageStart={}",
                url_encode(cursor)
            ),
        };
        let answer = self.get(&path).await?;
        let answer = self.api.success("GET", &path, answer)?;
        if let Some(next) = &answer.next_page
            && Some(next.as_str()) == start
        {
            return Err(Error::new(format!(
                "GET {} answered the same X-Next-Page-Start `{next}` twice; stopping rather than looping",
                self.url(REPOSITORIES)
            )));
        }
        Ok((
            RawPage {
                path,
                body: answer.body,
            },
            answer.next_page,
        ))
    }

    /// Ask for every page in order and hand each answer on unparsed: the next page's cursor is
    /// in each answer's header, so its request goes out while the consumer parses. Ends when
    /// the list does or `pages` is closed (its consumer stopped); fails once `halt()` is true.
    pub(super) async fn fetch_pages(
        &self,
        pages: tokio::sync::mpsc::Sender<RawPage>,
        halt: impl Fn() -> bool,
    ) -> Result<()> {
        let mut start: Option<String> = None;
        loop {
            if halt() {
                return Err(Error::interrupted());
            }
            let (page, next) = self.fetch_page(start.as_deref()).await?;
            if pages.send(page).await.is_err() {
                return Ok(());
            }
            match next {
                Some(next) => start = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// The repositories of one page and the fields stigfix reads of each.
    pub(super) fn parse_page(&self, page: &RawPage) -> Result<Vec<(String, Map<String, Value>)>> {
        let parsed: RepositoryPage = serde_json::from_str(&page.body).map_err(|error| {
            Error::new(format!(
                "GET {} answered a malformed repository list ({error}); nothing was written",
                self.url(&page.path)
            ))
        })?;
        parsed
            .repositories
            .into_iter()
            .map(|repository| match (&repository.namespace, &repository.name) {
                (Some(namespace), Some(name)) => {
                    Ok((format!("{namespace}/{name}"), repository.fields()))
                }
                _ => Err(Error::new(format!(
                    "GET {} answered a malformed repository list (a repository without its namespace or name); nothing was written",
                    self.url(&page.path)
                ))),
            })
            .collect()
    }

    /// Every repository, page by page (each page parsed while the next is on its way).
    pub(super) async fn read_repositories(&self) -> Result<BTreeMap<String, Map<String, Value>>> {
        let (sender, mut pages) = tokio::sync::mpsc::channel(PAGES_AHEAD);
        let collect = async {
            let mut repositories = BTreeMap::new();
            while let Some(page) = pages.recv().await {
                repositories.extend(self.parse_page(&page)?);
            }
            Ok(repositories)
        };
        // A malformed page ends `collect`, which closes the channel and ends the fetching.
        let (fetched, collected) = tokio::join!(self.fetch_pages(sender, || false), collect);
        let repositories = collected?;
        fetched?;
        Ok(repositories)
    }

    /// The settings, the scan status and the version (the state without its repositories),
    /// read at once.
    pub(super) async fn read_head(&self) -> Result<DtrLive> {
        let (product, settings, scan) = tokio::join!(
            self.read_product(),
            self.read_settings(),
            self.read_scan_status()
        );
        let product = product?;
        let mut live = DtrLive::new(
            self.base().to_string(),
            settings?,
            scan?,
            BTreeMap::new(),
            self.options.cve_db.clone(),
        );
        live.product = product;
        Ok(live)
    }

    /// Settings, scan status and repositories, read at once.
    pub async fn read(&self) -> Result<DtrLive> {
        let (head, repositories) = tokio::join!(self.read_head(), self.read_repositories());
        // An MSR 4 (Harbor) has no `/api/v0`: that is said plainly, not as a 404 of a read.
        let head = head?;
        Ok(head.with_repositories(repositories?))
    }

    /// `GET /api/v0/admin/version` → `{"version": "2.9.16"}` (docs/reference/api-facts.md
    /// §3.2). DTR was renamed MSR at 2.8. A 404 there and a Harbor `systeminfo` mean MSR 4,
    /// whose API is Harbor's `/api/v2.0` (docs/reference/next-phase.md §5.3): not supported.
    pub(super) async fn read_product(&self) -> Result<Option<Product>> {
        let answer = self.get(VERSION).await?;
        if answer.status.is_success() {
            let version = self
                .api
                .json(VERSION, &answer)?
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_string);
            let product = Product::new("DTR", version.as_deref());
            let renamed = product
                .major_minor()
                .is_some_and(|version| version >= (2, 8));
            return Ok(Some(if renamed {
                Product::new("MSR", version.as_deref())
            } else {
                product
            }));
        }
        if answer.status == StatusCode::NOT_FOUND {
            let harbor = self.get(HARBOR_SYSTEMINFO).await?;
            if harbor.status.is_success()
                && let Some(version) = serde_json::from_str::<Value>(&harbor.body)
                    .ok()
                    .and_then(|info| info.get("harbor_version")?.as_str().map(str::to_string))
            {
                return Err(Error::new(format!(
                    "{} is MSR 4 (Harbor {version}): its API is Harbor's /api/v2.0, not DTR's /api/v0, so stigfix cannot plan it",
                    self.base()
                ))
                .with_hint("stigfix supports DTR 2.x and MSR 2.x/3.x; see the README, \"Supported versions\""));
            }
        }
        Ok(None)
    }

    pub(super) async fn post_settings(&self, fields: &Map<String, Value>) -> Result<()> {
        let body = Value::Object(fields.clone()).to_string();
        self.write(
            Method::POST,
            SETTINGS,
            reqwest::Body::from(body),
            "application/json",
        )
        .await?;
        Ok(())
    }

    /// PATCH repositories concurrently (at most `--concurrency` in flight). After the first
    /// failure, or once `stop` is set, no new PATCH starts, but every PATCH already sent is
    /// awaited: a write that was sent may have happened, and the restore that follows must see
    /// its outcome. Each answer is the repository as the server now has it: every field sent is
    /// checked in it, and the answered fields are returned per repository.
    pub(super) async fn patch_repositories(
        &self,
        patches: Vec<(String, Map<String, Value>)>,
        verb: &str,
        stop: &Stop,
    ) -> Result<Vec<(String, Map<String, Value>)>> {
        if patches.is_empty() {
            return Ok(Vec::new());
        }
        let answered = std::sync::Mutex::new(Vec::with_capacity(patches.len()));
        let first_error: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        let skipped = std::sync::atomic::AtomicBool::new(false);
        let bar = self.output.bar(
            patches.len() as u64,
            &format!("{verb} repositories of DTR {}", self.base()),
        );
        futures_util::stream::iter(patches)
            .for_each_concurrent(self.options.concurrency.max(1), |(repository, body)| {
                let (bar, answered, first_error, skipped) =
                    (&bar, &answered, &first_error, &skipped);
                async move {
                    if stop.is_set() || lock(first_error).is_some() {
                        skipped.store(true, std::sync::atomic::Ordering::SeqCst);
                        return;
                    }
                    match self.patch_one(&repository, &body).await {
                        Ok(fields) => {
                            lock(answered).push((repository, fields));
                            bar.inc(1);
                        }
                        Err(error) => {
                            lock(first_error).get_or_insert(error);
                        }
                    }
                }
            })
            .await;
        bar.finish_and_clear();
        if let Some(error) = lock(&first_error).take() {
            return Err(error);
        }
        if skipped.load(std::sync::atomic::Ordering::SeqCst) {
            stop.check()?;
        }
        Ok(std::mem::take(&mut *lock(&answered)))
    }

    /// One PATCH, checked against its answer: the fields the server now has.
    pub(super) async fn patch_one(
        &self,
        repository: &str,
        body: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let path = format!("{REPOSITORIES}/{repository}");
        let answer = self
            .write(
                Method::PATCH,
                &path,
                reqwest::Body::from(Value::Object(body.clone()).to_string()),
                "application/json",
            )
            .await
            .map_err(|error| error.context(format!("repository {repository}")))?;
        // Only the fields stigfix reads are taken from the answer (no JSON tree of the rest).
        let kept = serde_json::from_str::<Repository>(&answer.body)
            .map(Repository::fields)
            .unwrap_or_default();
        for (field, wanted) in body {
            if kept.get(field) != Some(wanted) {
                return Err(Error::new(format!(
                    "PATCH {} accepted the update but answered {field} = {}",
                    self.url(&path),
                    kept.get(field).unwrap_or(&Value::Null)
                )));
            }
        }
        Ok(kept)
    }

    /// `PUT …/imagescan/scan/update?online=false`, multipart field `upload`, streamed from disk.
    pub(super) async fn upload_database(&self) -> Result<()> {
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
            self.base()
        ));
        let outcome = self
            .write(
                Method::PUT,
                UPLOAD,
                reqwest::Body::wrap_stream(body),
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .await;
        spinner.finish_and_clear();
        outcome.map_err(|error| error.context(format!("upload of {}", path.display())))?;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct RepositoryPage {
    #[serde(default)]
    repositories: Vec<Repository>,
}

/// A repository (of a list page, or a PATCH answer): its name and the fields of [`REPO_FIELDS`] (a field the server
/// sent as `null` is kept as `null`; the others are skipped unread).
#[derive(serde::Deserialize)]
struct Repository {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "scanOnPush", default, deserialize_with = "present")]
    scan_on_push: Option<Value>,
    #[serde(rename = "immutableTags", default, deserialize_with = "present")]
    immutable_tags: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    visibility: Option<Value>,
    #[serde(rename = "tagLimit", default, deserialize_with = "present")]
    tag_limit: Option<Value>,
}

impl Repository {
    fn fields(self) -> Map<String, Value> {
        let values = [
            self.scan_on_push,
            self.immutable_tags,
            self.visibility,
            self.tag_limit,
        ];
        REPO_FIELDS
            .iter()
            .zip(values)
            .filter_map(|(field, value)| Some((field.to_string(), value?)))
            .collect()
    }
}

/// A field that is present, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    use serde::Deserialize;
    Value::deserialize(deserializer).map(Some)
}

/// A page of the repository list as answered, not parsed yet.
pub(super) struct RawPage {
    /// The request path (for messages).
    path: String,
    body: String,
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
pub(super) fn url_encode(text: &str) -> String {
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

/// A mutex's guard, poisoned or not (a panic elsewhere must not hide what was sent).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
