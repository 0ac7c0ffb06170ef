//! UCP / MKE: the `config-toml` document (api-facts §1, §2).
//!
//! Read: `POST /auth/login` → bearer token (§2.1), `GET /api/ucp/config-toml` (§2.3).
//! Write: `PUT /api/ucp/config-toml` with the whole edited document (§2.4). The server
//! re-serialises the document and drops keys it does not know, so a write is verified by
//! re-reading and comparing values, never bytes (design.md, "The three targets").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::Mutex;

use super::document::{Document, Edit};
use super::toml_doc;
use crate::error::{Error, Result};
use crate::http::{SendError, error_summary, is_transient, transport_error};
use crate::keypath::KeyPath;
use crate::plan::fingerprint;
use crate::playbook::values_equal;
use crate::secrets::Secret;

const CONFIG_PATH: &str = "/api/ucp/config-toml";
const READ_ATTEMPTS: u32 = 3;

/// A client for one UCP / MKE cluster.
pub struct UcpClient {
    http: reqwest::Client,
    base: String,
    username: String,
    password: Secret,
    token: Mutex<Option<Secret>>,
    requests: AtomicUsize,
}

/// The config as read: exact bytes and parsed values.
#[derive(Clone, Debug)]
pub struct UcpLive {
    pub text: String,
    pub values: toml::Table,
    pub fingerprint: String,
}

impl Document for UcpLive {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        path.lookup(&self.values).cloned()
    }
}

impl UcpClient {
    pub fn new(http: reqwest::Client, base: &str, username: &str, password: Secret) -> UcpClient {
        UcpClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password,
            token: Mutex::new(None),
            requests: AtomicUsize::new(0),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Requests sent so far (for benchmarks and the demo's narration).
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&self) -> Result<Secret> {
        let url = self.url("/auth/login");
        let body =
            serde_json::json!({ "username": self.username, "password": self.password.expose() });
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|error| transport_error("UCP login", "POST", &url, &error))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::new(format!(
                "UCP {} rejected the credentials of user `{}` ({}: {})",
                self.base,
                self.username,
                status.as_u16(),
                error_summary(&text)
            ))
            .with_hint("check the password in STIGFIX_UCP_PASSWORD / STIGFIX_PASSWORD, or run `stigfix login` again"));
        }
        if !status.is_success() {
            return Err(Error::new(format!(
                "UCP login at {url} answered {}: {}",
                status.as_u16(),
                error_summary(&text)
            )));
        }
        let token = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|value| value.get("auth_token")?.as_str().map(str::to_string))
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                Error::new(format!(
                    "UCP login at {url} answered 200 without an `auth_token`"
                ))
            })?;
        Ok(Secret::new(token))
    }

    async fn token(&self, renew: bool) -> Result<Secret> {
        let mut slot = self.token.lock().await;
        if renew || slot.is_none() {
            *slot = Some(self.login().await?);
        }
        Ok(slot.clone().expect("set above"))
    }

    /// Send an authenticated request; on 401 log in again once and resend.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> std::result::Result<(StatusCode, String), SendError> {
        let url = self.url(path);
        let mut renew = false;
        loop {
            let token = self.token(renew).await.map_err(SendError::Fatal)?;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose())
                .header("accept", "application/toml");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/toml")
                    .body(body.to_string());
            }
            self.requests.fetch_add(1, Ordering::Relaxed);
            let response = request
                .send()
                .await
                .map_err(|error| SendError::Transport(error, url.clone()))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|error| SendError::Transport(error, url.clone()))?;
            if status == StatusCode::UNAUTHORIZED && !renew {
                renew = true;
                continue;
            }
            return Ok((status, text));
        }
    }

    /// `GET /api/ucp/config-toml`, retried on transient failures.
    pub async fn read(&self) -> Result<UcpLive> {
        let url = self.url(CONFIG_PATH);
        let mut attempt = 0;
        let (status, text) = loop {
            attempt += 1;
            match self.send(reqwest::Method::GET, CONFIG_PATH, None).await {
                Ok((status, _)) if status.is_server_error() && attempt < READ_ATTEMPTS => {}
                Ok(answer) => break answer,
                Err(SendError::Transport(error, _))
                    if is_transient(&error) && attempt < READ_ATTEMPTS => {}
                Err(error) => return Err(error.into_error("UCP read", "GET")),
            }
            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1))).await;
        };
        if !status.is_success() {
            return Err(status_error("GET", &url, status, &text));
        }
        let values = toml_doc::parse_values(&text, &format!("the config from GET {url}")).map_err(
            |error| error.with_hint("the server sent a malformed document; nothing was written"),
        )?;
        Ok(UcpLive {
            fingerprint: fingerprint(text.as_bytes()),
            text,
            values,
        })
    }

    /// `PUT /api/ucp/config-toml` with a whole document. Not retried: a write is verified instead.
    pub async fn write(&self, document: &str) -> Result<()> {
        let url = self.url(CONFIG_PATH);
        let (status, text) = self
            .send(reqwest::Method::PUT, CONFIG_PATH, Some(document))
            .await
            .map_err(|error| error.into_error("UCP write", "PUT"))?;
        if !status.is_success() {
            return Err(status_error("PUT", &url, status, &text));
        }
        Ok(())
    }

    /// Write edits to the live document and verify every value by reading it back.
    pub async fn apply(&self, live: &UcpLive, edits: &[Edit]) -> Result<UcpLive> {
        let document = toml_doc::apply_edits(&live.text, edits)?;
        self.write(&document).await?;
        let after = self.read().await?;
        let mismatches: Vec<String> = edits
            .iter()
            .filter(|edit| {
                !after
                    .lookup(&edit.path)
                    .is_some_and(|value| values_equal(&value, &edit.after))
            })
            .map(|edit| {
                let now = after.lookup(&edit.path).map_or_else(
                    || "(not set)".to_string(),
                    |value| crate::playbook::display_value(&value),
                );
                format!("`{}` is {now}", edit.path)
            })
            .collect();
        if !mismatches.is_empty() {
            return Err(Error::new(format!(
                "UCP {} accepted the write but did not keep it: {}",
                self.base,
                mismatches.join(", ")
            )));
        }
        Ok(after)
    }

    /// Put the exact original bytes back and check that every value matches them again.
    pub async fn restore(&self, original: &str) -> Result<UcpLive> {
        let expected = toml_doc::parse_values(original, "the snapshot's config")?;
        self.write(original).await?;
        let after = self.read().await?;
        if after.values != expected {
            let differing = differing_paths(&expected, &after.values, "");
            return Err(Error::new(format!(
                "UCP {} did not return to the snapshot's values after the restore (differs at {})",
                self.base,
                differing.join(", ")
            )));
        }
        Ok(after)
    }
}

fn status_error(method: &str, url: &str, status: StatusCode, body: &str) -> Error {
    let error = Error::new(format!(
        "{method} {url} answered {}: {}",
        status.as_u16(),
        error_summary(body)
    ));
    match status {
        StatusCode::UNAUTHORIZED => error
            .with_hint("the session token was refused twice; log in again with `stigfix login`"),
        StatusCode::FORBIDDEN => error.with_hint("the account must be a UCP administrator"),
        _ => error,
    }
}

fn differing_paths(expected: &toml::Table, actual: &toml::Table, prefix: &str) -> Vec<String> {
    let mut keys: Vec<&String> = expected.keys().chain(actual.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut paths = Vec::new();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (expected.get(key), actual.get(key)) {
            (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) => {
                paths.extend(differing_paths(a, b, &path));
            }
            (a, b) if a != b => paths.push(path),
            _ => {}
        }
    }
    paths
}
