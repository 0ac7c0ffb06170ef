//! A UCP / MKE session (docs/reference/api-facts.md §2.1): `POST /auth/login` with the account
//! and password gives a bearer token; a request answered 401 logs in again once and is sent
//! again. Every target on the same cluster shares one session per run (the `ucp` target's
//! config and the cluster's workloads are read with one login).

use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::api::{Answer, Api, Auth, RawAnswer, read_with_retries};
use super::{SendError, error_summary, transport_error};
use crate::error::{Error, Result};
use crate::secrets::{Secret, Service};
use crate::settings::Settings;

pub struct UcpSession {
    api: Api,
    username: String,
    password: Secret,
    token: Mutex<Option<Secret>>,
}

impl UcpSession {
    pub fn new(api: Api, username: &str, password: Secret) -> UcpSession {
        UcpSession {
            api,
            username: username.to_string(),
            password,
            token: Mutex::new(None),
        }
    }

    /// A session with the run's account and TLS settings.
    pub fn connect(settings: &Settings, url: &str) -> Result<UcpSession> {
        let username = settings.username()?;
        let password = settings.passwords.password(Service::Ucp, url, username)?;
        Ok(UcpSession::new(
            Api::new(settings.http_client()?, url, "UCP"),
            username,
            password,
        ))
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    async fn login(&self) -> Result<Secret> {
        let url = self.api.url("/auth/login");
        let body =
            serde_json::json!({ "username": self.username, "password": self.password.expose() })
                .to_string();
        let answer = self
            .api
            .send(
                Method::POST,
                "/auth/login",
                Auth::None,
                "application/json",
                Some((reqwest::Body::from(body), "application/json")),
            )
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(SendError::Transport(error, _)) => {
                return Err(transport_error("UCP login", "POST", &url, &error));
            }
            Err(SendError::Fatal(error)) => return Err(error),
        };
        if answer.status == StatusCode::UNAUTHORIZED || answer.status == StatusCode::FORBIDDEN {
            return Err(Error::new(format!(
                "UCP {} rejected the credentials of user `{}` ({}: {})",
                self.api.base(),
                self.username,
                answer.status.as_u16(),
                error_summary(&answer.body)
            ))
            .with_hint("check the password in STIGFIX_UCP_PASSWORD / STIGFIX_PASSWORD, or run `stigfix login` again"));
        }
        if answer.status == StatusCode::NOT_FOUND {
            // No UCP controller API: an MKE 4k cluster answers Kubernetes' `/version`.
            if let Ok(version) = self
                .api
                .send(
                    Method::GET,
                    "/version",
                    Auth::None,
                    "application/json",
                    None,
                )
                .await
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(&version.body)
                && let Some(kubernetes) = value.get("gitVersion").and_then(|v| v.as_str())
            {
                return Err(crate::targets::ucp::unsupported_mke4(
                    self.api.base(),
                    kubernetes,
                ));
            }
        }
        if !answer.status.is_success() {
            return Err(Error::new(format!(
                "UCP login at {url} answered {}: {}",
                answer.status.as_u16(),
                error_summary(&answer.body)
            )));
        }
        serde_json::from_str::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|value| value.get("auth_token")?.as_str().map(str::to_string))
            .filter(|token| !token.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                Error::new(format!(
                    "UCP login at {url} answered 200 without an `auth_token`"
                ))
            })
    }

    /// The session's token; `refused` is a token the server just answered 401 to: log in
    /// again unless another request already has (one login for requests refused together).
    async fn token(&self, refused: Option<&Secret>) -> Result<Secret> {
        let mut slot = self.token.lock().await;
        let stale = match (&*slot, refused) {
            (None, _) => true,
            (Some(current), Some(refused)) => current == refused,
            (Some(_), None) => false,
        };
        if stale {
            *slot = Some(self.login().await?);
        }
        Ok(slot.clone().expect("set above"))
    }

    /// Send an authenticated request; on 401 log in again once and send it again.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, &str)>,
    ) -> std::result::Result<Answer, SendError> {
        let raw = self.send_raw(method, path, accept, body).await?;
        Ok(Answer {
            status: raw.status,
            next_page: raw.next_page,
            body: String::from_utf8_lossy(&raw.body).into_owned(),
        })
    }

    /// [`UcpSession::send`], the body as bytes (Docker's multiplexed log stream).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<(&str, &str)>,
    ) -> std::result::Result<RawAnswer, SendError> {
        let mut refused: Option<Secret> = None;
        loop {
            let token = self
                .token(refused.as_ref())
                .await
                .map_err(SendError::Fatal)?;
            let answer = self
                .api
                .send_raw(
                    method.clone(),
                    path,
                    Auth::Bearer(&token),
                    accept,
                    body.map(|(text, content_type)| {
                        (reqwest::Body::from(text.to_string()), content_type)
                    }),
                )
                .await?;
            if answer.status == StatusCode::UNAUTHORIZED && refused.is_none() {
                refused = Some(token);
                continue;
            }
            return Ok(answer);
        }
    }

    /// A GET, retried on transient failures and 5xx answers.
    pub async fn get(&self, path: &str, accept: &str) -> Result<Answer> {
        read_with_retries("UCP read", || self.send(Method::GET, path, accept, None)).await
    }
}
