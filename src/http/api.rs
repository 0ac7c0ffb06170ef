//! One HTTP API at a base URL: request counting, reads retried on transient failures (writes
//! never: they are verified instead), and answers that are not a success turned into one-line
//! errors that name the method and URL and say what to do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::{SendError, error_summary, is_transient};
use crate::error::{Error, Result};
use crate::secrets::Secret;

/// Attempts of a read before its error is returned.
const READ_ATTEMPTS: u32 = 3;

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Basic {
        username: &'a str,
        password: &'a Secret,
    },
    Bearer(&'a Secret),
    /// No credentials (a login request carries them in its body).
    None,
}

/// A response read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// `X-Next-Page-Start`, for paged lists.
    pub next_page: Option<String>,
    pub body: String,
}

/// A response read in full, its body as bytes.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: StatusCode,
    pub next_page: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A read: `send` retried (with back-off) on transient transport failures and 5xx answers.
/// `what` names the read in the error (`UCP read`).
pub async fn read_with_retries<F, Fut>(what: &str, mut send: F) -> Result<Answer>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Answer, SendError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match send().await {
            Ok(answer) if answer.status.is_server_error() && attempt < READ_ATTEMPTS => {}
            Ok(answer) => return Ok(answer),
            Err(SendError::Transport(error, _))
                if is_transient(&error) && attempt < READ_ATTEMPTS => {}
            Err(error) => return Err(error.into_error(what, "GET")),
        }
        tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1))).await;
    }
}

/// A client for one API base URL.
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// `UCP`, `DTR`: how messages name the service.
    service: &'static str,
    requests: AtomicUsize,
}

impl Api {
    pub fn new(http: reqwest::Client, base: &str, service: &'static str) -> Api {
        Api {
            http,
            base: base.trim_end_matches('/').to_string(),
            service,
            requests: AtomicUsize::new(0),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests sent so far.
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Send one request and read the whole answer. No retry, no status check.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        accept: &str,
        body: Option<(reqwest::Body, &str)>,
    ) -> std::result::Result<Answer, SendError> {
        let raw = self.send_raw(method, path, auth, accept, body).await?;
        Ok(Answer {
            status: raw.status,
            next_page: raw.next_page,
            body: String::from_utf8_lossy(&raw.body).into_owned(),
        })
    }

    /// [`Api::send`], the body as bytes (a binary stream such as Docker's multiplexed logs).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        accept: &str,
        body: Option<(reqwest::Body, &str)>,
    ) -> std::result::Result<RawAnswer, SendError> {
        let url = self.url(path);
        let mut request = self.http.request(method, &url).header("accept", accept);
        request = match auth {
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
            Auth::None => request,
        };
        if let Some((body, content_type)) = body {
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
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .map_err(|error| SendError::Transport(error, url))?
            .to_vec();
        Ok(RawAnswer {
            status,
            next_page,
            content_type,
            body,
        })
    }

    /// `{method} {url} answered {status}: {summary}`, with a hint for 401 and 403.
    pub fn status_error(&self, method: &str, path: &str, answer: &Answer) -> Error {
        let error = Error::new(format!(
            "{method} {} answered {}: {}",
            self.url(path),
            answer.status.as_u16(),
            error_summary(&answer.body)
        ));
        match answer.status {
            StatusCode::UNAUTHORIZED => error.with_hint(format!(
                "the {} session was refused; check the credentials, or log in again with `stigfix login`",
                self.service
            )),
            StatusCode::FORBIDDEN => {
                error.with_hint(format!("the account must be a {} administrator", self.service))
            }
            _ => error,
        }
    }

    /// The answer, or its status as an error.
    pub fn success(&self, method: &str, path: &str, answer: Answer) -> Result<Answer> {
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(self.status_error(method, path, &answer))
        }
    }

    /// The answer's body as JSON, or an error naming the URL.
    pub fn json(&self, path: &str, answer: &Answer) -> Result<serde_json::Value> {
        serde_json::from_str(&answer.body).map_err(|error| {
            Error::new(format!(
                "GET {} answered malformed JSON ({error}); nothing was written",
                self.url(path)
            ))
        })
    }
}
