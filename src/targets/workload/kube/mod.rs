//! The Kubernetes half of the workload target: every pod, read from MKE's Kubernetes API (the
//! kube-apiserver on `kube_apiserver_port`, 6443 by default) with the certificate of an MKE
//! client bundle (reference/next-phase.md §1.3 "Kubernetes side"): `GET /api/v1/pods?limit=500`,
//! then `&continue=<metadata.continue>` until the list ends. A continue token the server no
//! longer honours answers `410 Gone`, and the list starts again from the first page (at most
//! [`RESTARTS`] times). Nothing is ever written.
//!
//! Whether UCP's `/auth/login` token would do instead of a certificate is unconfirmed, so the
//! certificate is what stigfix uses; without a bundle the pods are not read and every pod
//! setting is `unknown` (never `pass`), saying how to give one.

pub mod bundle;
pub mod pod;
pub mod zip;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use self::bundle::ClientBundle;
use self::pod::Pod;
use crate::error::{Error, Result};
use crate::http::api::{Answer, Api, Auth, read_with_retries};
use crate::http::{self, SendError, TlsOptions};

/// Pods asked for per page.
pub const PAGE: usize = 500;
/// How often a list that hit `410 Gone` starts again before stigfix gives up.
pub const RESTARTS: usize = 3;
/// Pages of one list at most (a server that never ends its list).
const MAX_PAGES: usize = 100_000;

/// What reading the pods gave.
#[derive(Clone, Debug, Default)]
pub enum PodReads {
    /// No client bundle was given.
    #[default]
    NotConfigured,
    /// The list could not be read: why (one line naming the URL).
    Failed {
        base: String,
        why: String,
    },
    Read(Listing),
}

/// A complete pod list.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The API server, `https://mke.example.mil:6443`.
    pub base: String,
    pub pods: Vec<Pod>,
    /// Pages read for the list that completed.
    pub pages: usize,
    /// Times the list started again after `410 Gone`.
    pub restarts: usize,
}

/// One page: its pods and the token of the next (`None`: the last page).
#[derive(Debug)]
pub struct Page {
    pub pods: Vec<Pod>,
    pub next: Option<String>,
}

/// Why a page was not read.
pub enum PageError {
    /// `410 Gone` for a continue token: the list must start again.
    Expired(String),
    Failed(String),
}

/// The whole list: pages fetched one after another (each needs the token of the one before),
/// starting again on `410 Gone`.
pub async fn list_all<F, Fut>(mut fetch: F) -> std::result::Result<Listing, String>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Page, PageError>>,
{
    let mut restarts = 0;
    'list: loop {
        let mut listing = Listing {
            restarts,
            ..Listing::default()
        };
        let mut token: Option<String> = None;
        loop {
            if listing.pages >= MAX_PAGES {
                return Err(format!("the pod list did not end after {MAX_PAGES} pages"));
            }
            match fetch(token.clone()).await {
                Ok(page) => {
                    listing.pages += 1;
                    listing.pods.extend(page.pods);
                    match page.next {
                        Some(next) if Some(&next) == token.as_ref() => {
                            return Err(format!(
                                "the server answered the continue token `{next}` with itself"
                            ));
                        }
                        Some(next) => token = Some(next),
                        None => return Ok(listing),
                    }
                }
                Err(PageError::Expired(_)) if restarts < RESTARTS => {
                    restarts += 1;
                    continue 'list;
                }
                Err(PageError::Expired(why)) => {
                    return Err(format!(
                        "{why} (the list was started again {RESTARTS} times)"
                    ));
                }
                Err(PageError::Failed(why)) => return Err(why),
            }
        }
    }
}

/// A client of one cluster's Kubernetes API, authenticated by a client bundle.
pub struct KubeClient {
    api: Api,
    /// The bundle's file or folder, for messages.
    origin: String,
}

impl KubeClient {
    /// A client for the bundle's API server: its certificate and key presented, the server's
    /// certificate verified against the bundle's `ca.pem` (and `--ca-cert`, when given).
    pub fn new(bundle: &ClientBundle, tls: &TlsOptions, timeout: Duration) -> Result<KubeClient> {
        let origin = bundle.origin.display().to_string();
        let (chain, key) = bundle
            .identity()
            .map_err(|why| Error::new(format!("client bundle {origin}: {why}")))?;
        let client = http::client_with_identity(tls, bundle.ca_certificates(), chain, key, timeout)
            .map_err(|error| error.context(format!("client bundle {origin}")))?;
        Ok(KubeClient {
            api: Api::new(client, &bundle.server, "Kubernetes API"),
            origin,
        })
    }

    pub fn base(&self) -> &str {
        self.api.base()
    }

    pub fn request_count(&self) -> usize {
        self.api.request_count()
    }

    /// Every pod of the cluster.
    pub async fn read(&self) -> PodReads {
        match list_all(|token| self.page(token)).await {
            Ok(mut listing) => {
                listing.base = self.api.base().to_string();
                PodReads::Read(listing)
            }
            Err(why) => PodReads::Failed {
                base: self.api.base().to_string(),
                why,
            },
        }
    }

    async fn page(&self, token: Option<String>) -> std::result::Result<Page, PageError> {
        let path = match &token {
            Some(token) => format!("/api/v1/pods?limit={PAGE}&continue={}", encode(token)),
            None => format!("/api/v1/pods?limit={PAGE}"),
        };
        let answer = read_with_retries("Kubernetes API read", || self.get(&path))
            .await
            .map_err(|error| PageError::Failed(error.message()))?;
        let url = self.api.url(&path);
        match answer.status {
            StatusCode::GONE if token.is_some() => Err(PageError::Expired(format!(
                "GET {url} answered 410 Gone: {}",
                http::error_summary(&answer.body)
            ))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(PageError::Failed(format!(
                "GET {url} answered {}: {} (the client bundle {} must be an MKE administrator's, allowed to list pods in every namespace)",
                answer.status.as_u16(),
                http::error_summary(&answer.body),
                self.origin
            ))),
            status if status.is_success() => parse_page(&answer.body)
                .map_err(|why| PageError::Failed(format!("GET {url} answered {why}"))),
            _ => Err(PageError::Failed(
                self.api.status_error("GET", &path, &answer).message(),
            )),
        }
    }

    /// One request; a certificate the server refuses, or a server the bundle's CA did not
    /// sign, is told as such (and not retried).
    async fn get(&self, path: &str) -> std::result::Result<Answer, SendError> {
        match self
            .api
            .send(Method::GET, path, Auth::None, "application/json", None)
            .await
        {
            Err(SendError::Transport(error, url)) => match self.certificate_problem(&url, &error) {
                Some(error) => Err(SendError::Fatal(error)),
                None => Err(SendError::Transport(error, url)),
            },
            other => other,
        }
    }

    /// A TLS failure about certificates, in one line naming the bundle.
    fn certificate_problem(&self, url: &str, error: &reqwest::Error) -> Option<Error> {
        let text = chain_text(error);
        let lower = text.to_ascii_lowercase();
        // The alerts a server sends for a client certificate it does not accept (DecryptError:
        // one of another cluster's CA of the same name, whose signature does not verify).
        let refused = [
            "badcertificate",
            "unknownca",
            "decrypterror",
            "certificaterequired",
            "certificaterevoked",
            "certificateexpired",
            "certificateunknown",
            "unsupportedcertificate",
            "accessdenied",
        ];
        if lower.contains("alert") && refused.iter().any(|alert| lower.contains(alert)) {
            return Some(Error::new(format!(
                "GET {url}: the server refused the certificate of the client bundle {} ({text}): a bundle of another cluster, or one revoked or expired, is refused",
                self.origin
            )));
        }
        if lower.contains("invalid peer certificate") {
            return Some(Error::new(format!(
                "GET {url}: the server's certificate is not trusted: not signed by the ca.pem of the client bundle {} ({text})",
                self.origin
            )));
        }
        None
    }
}

/// The causes of an error, joined.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut current = Some(error);
    while let Some(error) = current {
        let text = error.to_string();
        if !parts.iter().any(|part: &String| part.contains(&text)) {
            parts.push(text);
        }
        current = error.source();
    }
    parts.join(": ")
}

/// `PodList` → its pods and `metadata.continue`.
fn parse_page(body: &str) -> std::result::Result<Page, String> {
    let list: Value =
        serde_json::from_str(body).map_err(|error| format!("malformed JSON ({error})"))?;
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .ok_or("JSON that is not a PodList (no `items`)")?;
    Ok(Page {
        pods: items.iter().filter_map(pod::parse).collect(),
        next: list
            .pointer("/metadata/continue")
            .and_then(Value::as_str)
            .filter(|token| !token.is_empty())
            .map(str::to_string),
    })
}

/// Percent-encoding of a query value (continue tokens are base64: `+`, `/`, `=`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::RefCell;

    fn pods(range: std::ops::Range<usize>) -> Vec<Pod> {
        range
            .map(|index| {
                pod::parse(&json!({"metadata": {"namespace": "ns", "name": format!("p{index}")}, "spec": {}}))
                    .unwrap()
            })
            .collect()
    }

    async fn run(
        total: usize,
        size: usize,
        expire: Vec<String>,
    ) -> (std::result::Result<Listing, String>, Vec<Option<String>>) {
        // A server of `total` pods in pages of `size`, whose tokens are the next index;
        // `expire` holds the tokens it answers with 410 (each once).
        let (asked, expire) = (RefCell::new(Vec::new()), RefCell::new(expire));
        let result = list_all(|token: Option<String>| {
            asked.borrow_mut().push(token.clone());
            let expired = token
                .as_ref()
                .is_some_and(|token| expire.borrow().contains(token));
            if expired {
                expire
                    .borrow_mut()
                    .retain(|held| Some(held) != token.as_ref());
            }
            let start: usize = token.as_deref().map_or(0, |token| token.parse().unwrap());
            async move {
                if expired {
                    return Err(PageError::Expired(
                        "GET …&continue=… answered 410 Gone".into(),
                    ));
                }
                let end = (start + size).min(total);
                Ok(Page {
                    pods: pods(start..end),
                    next: (end < total).then(|| end.to_string()),
                })
            }
        })
        .await;
        (result, asked.into_inner())
    }

    #[tokio::test]
    async fn pages_are_followed_to_the_end() {
        let (listing, asked) = run(1201, 500, vec![]).await;
        let listing = listing.unwrap();
        assert_eq!(listing.pods.len(), 1201);
        assert_eq!(listing.pages, 3);
        assert_eq!(listing.restarts, 0);
        assert_eq!(asked, [None, Some("500".into()), Some("1000".into())]);
        // An empty cluster is one page.
        let (listing, _) = run(0, 500, vec![]).await;
        assert_eq!(listing.unwrap().pages, 1);
    }

    #[tokio::test]
    async fn an_expired_token_starts_the_list_again() {
        let (listing, asked) = run(1201, 500, vec!["1000".into()]).await;
        let listing = listing.unwrap();
        assert_eq!(listing.pods.len(), 1201, "no pod twice, none missing");
        assert_eq!(listing.restarts, 1);
        assert_eq!(listing.pages, 3);
        assert_eq!(
            asked,
            [
                None,
                Some("500".into()),
                Some("1000".into()),
                None,
                Some("500".into()),
                Some("1000".into())
            ]
        );
    }

    #[tokio::test]
    async fn a_list_that_keeps_expiring_gives_up() {
        let mut fetched = 0;
        let result = list_all(|token: Option<String>| {
            fetched += 1;
            async move {
                match token {
                    None => Ok(Page {
                        pods: pods(0..1),
                        next: Some("t".into()),
                    }),
                    Some(_) => Err(PageError::Expired("answered 410 Gone".into())),
                }
            }
        })
        .await;
        let error = result.unwrap_err();
        assert!(
            error.contains("410 Gone") && error.contains("started again 3 times"),
            "{error}"
        );
        assert_eq!(fetched, 2 * (RESTARTS + 1));
        // A token answered with itself would never end.
        let result = list_all(|_| async {
            Ok(Page {
                pods: Vec::new(),
                next: Some("same".into()),
            })
        })
        .await;
        assert!(result.unwrap_err().contains("with itself"));
    }

    #[test]
    fn pages_and_tokens_are_read() {
        let page = parse_page(
            &json!({"kind": "PodList", "metadata": {"continue": "eyJ2Ijoi+/="}, "items": [
                {"metadata": {"namespace": "a", "name": "b"}, "spec": {}}]})
            .to_string(),
        )
        .unwrap();
        assert_eq!(page.pods.len(), 1);
        assert_eq!(page.next.as_deref(), Some("eyJ2Ijoi+/="));
        assert_eq!(encode("eyJ2Ijoi+/="), "eyJ2Ijoi%2B%2F%3D");
        let last = parse_page(r#"{"metadata": {"continue": ""}, "items": []}"#).unwrap();
        assert!(last.next.is_none());
        assert!(
            parse_page(r#"{"kind": "Status"}"#)
                .unwrap_err()
                .contains("not a PodList")
        );
    }
}
