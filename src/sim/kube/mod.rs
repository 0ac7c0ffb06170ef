//! MKE's Kubernetes API (the kube-apiserver on `kube_apiserver_port`), as the `workload` target
//! reads it (reference/next-phase.md §1.3 "Kubernetes side"): on its own port, HTTPS with
//! mutual TLS — a client without a certificate signed by the cluster CA is refused in the
//! handshake — and a client bundle for that CA ([`KubeHandle::client_bundle`], the zip
//! `POST /api/clientbundle` answers, reference/api-facts.md §2.5).
//!
//! `GET /api/v1/pods` pages with `limit` and `continue` like the real server: each page's
//! `metadata.continue` is the token of the next, empty on the last page. A switch
//! ([`KubeHandle::expire_continue_tokens`]) answers the next continue tokens with `410 Gone`
//! (reason `Expired`), as the API server does when a token outlives its etcd compaction.
//! `GET /version` answers the Kubernetes version. Nothing can be written (405), and every
//! request is journalled with the UCP and DTR ones.

mod pods;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::{ConnectionDropped, RequestRecord, Shared, lock, text_reply};

/// What the simulated Kubernetes API serves.
#[derive(Clone, Debug, Default)]
pub enum SimKube {
    /// No Kubernetes API (the default): nothing listens, no bundle.
    #[default]
    Off,
    /// These pods (`GET /api/v1/pods` items), listed sorted by namespace and name.
    Pods(Vec<Value>),
}

impl SimKube {
    /// The demo's pods: a clean one, pods as many are found, and `kube-system`'s.
    pub fn demo() -> SimKube {
        SimKube::Pods(pods::demo())
    }

    /// `count` user pods, every fifth privileged, plus two of `kube-system`.
    pub fn generated(count: usize) -> SimKube {
        SimKube::Pods(pods::generated(count))
    }
}

struct Inner {
    url: String,
    bundle: Vec<u8>,
    ca_pem: String,
    /// Each pod's JSON, in list order.
    pods: Vec<String>,
    /// Continue tokens still to be answered with 410.
    expire: AtomicUsize,
    /// Bumped on each expiry, so a token from before is stale.
    epoch: AtomicUsize,
}

/// Handle on the simulated Kubernetes API.
#[derive(Clone)]
pub struct KubeHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KubeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeHandle")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl KubeHandle {
    /// `https://127.0.0.1:PORT`: the API server (`kube.yml`'s `server:`).
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The client bundle zip (`ca.pem`, `cert.pem`, `key.pem`, `kube.yml`, …) of the `admin`
    /// user.
    pub fn client_bundle(&self) -> Vec<u8> {
        self.inner.bundle.clone()
    }

    /// The cluster CA (the bundle's `ca.pem`).
    pub fn ca_pem(&self) -> String {
        self.inner.ca_pem.clone()
    }

    /// Answer the next `count` requests that carry a continue token with `410 Gone`.
    pub fn expire_continue_tokens(&self, count: usize) {
        self.inner.expire.store(count, Ordering::SeqCst);
    }

    /// The number of pods listed.
    pub fn pod_count(&self) -> usize {
        self.inner.pods.len()
    }

    fn handle(&self, method: &Method, path: &str, query: &str) -> (StatusCode, String) {
        if method != Method::GET {
            return status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                &format!("{method} is not supported by the simulator (read only)"),
            );
        }
        match path {
            "/api/v1/pods" => self.list(query),
            "/version" => (
                StatusCode::OK,
                json!({"major": "1", "minor": "27", "gitVersion": "v1.27.16-mirantis-1", "platform": "linux/amd64"})
                    .to_string(),
            ),
            _ => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("the server could not find the requested resource ({path})"),
            ),
        }
    }

    fn list(&self, query: &str) -> (StatusCode, String) {
        let mut limit = usize::MAX;
        let mut token = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "limit" => match value.parse::<usize>() {
                    Ok(0) => {}
                    Ok(number) => limit = number,
                    Err(_) => {
                        return status(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            &format!("invalid limit {value:?}"),
                        );
                    }
                },
                "continue" => token = Some(decode(value)),
                _ => {}
            }
        }
        let epoch = self.inner.epoch.load(Ordering::SeqCst);
        let start = match token.filter(|token| !token.is_empty()) {
            None => 0,
            Some(token) => {
                let expire = self.inner.expire.load(Ordering::SeqCst);
                let parsed = parse_token(&token);
                let stale = parsed.is_some_and(|(at, _)| at != epoch);
                if expire > 0 || stale {
                    if expire > 0 {
                        self.inner.expire.store(expire - 1, Ordering::SeqCst);
                        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
                    }
                    return status(
                        StatusCode::GONE,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    );
                }
                match parsed {
                    Some((_, start)) if start <= self.inner.pods.len() => start,
                    _ => {
                        return status(
                            StatusCode::BAD_REQUEST,
                            "BadRequest",
                            "continue key is not valid: illegal base64 data",
                        );
                    }
                }
            }
        };
        let end = start.saturating_add(limit).min(self.inner.pods.len());
        let next = if end < self.inner.pods.len() {
            token_of(epoch, end)
        } else {
            String::new()
        };
        let mut body = format!(
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{"resourceVersion":"48213","continue":{}}},"items":["#,
            Value::String(next)
        );
        for (index, pod) in self.inner.pods[start..end].iter().enumerate() {
            if index > 0 {
                body.push(',');
            }
            body.push_str(pod);
        }
        body.push_str("]}");
        (StatusCode::OK, body)
    }
}

/// A continue token: like the real ones, base64-ish text with `/`, `+` and `=` in it.
fn token_of(epoch: usize, start: usize) -> String {
    format!("eyJ2IjoibWV0YS5rOHMuaW8vdjEi/{epoch}+{start}==")
}

fn parse_token(token: &str) -> Option<(usize, usize)> {
    let rest = token.strip_prefix("eyJ2IjoibWV0YS5rOHMuaW8vdjEi/")?;
    let (epoch, start) = rest.strip_suffix("==")?.split_once('+')?;
    Some((epoch.parse().ok()?, start.parse().ok()?))
}

/// Percent-decoding of a query value (`+` is a space, as Go's `url.ParseQuery` reads it).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[index]) {
            (Some(byte), _) => {
                out.push(byte);
                index += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, byte) => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Kubernetes `Status` answer.
fn status(code: StatusCode, reason: &str, message: &str) -> (StatusCode, String) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code.as_u16()})
        .to_string(),
    )
}

/// A bound Kubernetes API: its handle, and what its accept loop needs.
pub(super) struct KubeServer {
    pub(super) handle: KubeHandle,
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

/// Bind `127.0.0.1:0` and make the PKI and bundle for it; `None` when the API is off.
pub(super) fn bind(options: SimKube) -> std::io::Result<Option<KubeServer>> {
    let SimKube::Pods(mut items) = options else {
        return Ok(None);
    };
    let listener = std::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
    listener.set_nonblocking(true)?;
    let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
    let material = tls::generate(&url)?;
    let key = |pod: &Value| {
        (
            pod.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            pod.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        )
    };
    items.sort_by_key(key);
    Ok(Some(KubeServer {
        handle: KubeHandle {
            inner: Arc::new(Inner {
                url,
                bundle: material.bundle,
                ca_pem: material.ca_pem,
                pods: items.iter().map(Value::to_string).collect(),
                expire: AtomicUsize::new(0),
                epoch: AtomicUsize::new(0),
            }),
        },
        listener,
        acceptor: tokio_rustls::TlsAcceptor::from(material.server_config),
    }))
}

impl KubeServer {
    /// Serve until the runtime stops; every request journalled in `shared`, with its latency.
    pub(super) async fn serve(self, shared: Arc<Shared>) {
        let Ok(listener) = tokio::net::TcpListener::from_std(self.listener) else {
            return;
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (acceptor, handle, shared) = (
                self.acceptor.clone(),
                self.handle.clone(),
                Arc::clone(&shared),
            );
            tokio::spawn(async move {
                // A client without a certificate the cluster CA signed fails here.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service =
                    service_fn(move |request| answer(handle.clone(), Arc::clone(&shared), request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    }
}

async fn answer(
    handle: KubeHandle,
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    if body.collect().await.is_err() {
        return Err(ConnectionDropped);
    }
    let (code, body) = handle.handle(&parts.method, &path, &query);
    let latency = *lock(&shared.latency);
    if !latency.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(latency)).await;
    }
    lock(&shared.journal).push(RequestRecord {
        method: parts.method.to_string(),
        path,
        status: code.as_u16(),
    });
    Ok(text_reply(code, "application/json", &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{TlsOptions, client_with_identity};
    use crate::sim::{SimOptions, Simulator};
    use crate::targets::workload::kube::bundle::ClientBundle;

    #[tokio::test]
    async fn pods_are_served_in_pages_to_a_client_with_the_bundle_only() {
        let sim = Simulator::start(SimOptions {
            kube: SimKube::demo(),
            ..SimOptions::default()
        })
        .unwrap();
        let kube = sim.kube().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.zip");
        std::fs::write(&path, kube.client_bundle()).unwrap();
        let bundle = ClientBundle::load(&path).unwrap();
        assert_eq!(bundle.server, kube.url());
        let (chain, key) = bundle.identity().unwrap();
        let timeout = Duration::from_secs(20);
        let client = client_with_identity(
            &TlsOptions::default(),
            bundle.ca_certificates(),
            chain,
            key,
            timeout,
        )
        .unwrap();
        let get = |query: &str| {
            let request = client.get(format!("{}/api/v1/pods{query}", kube.url()));
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            }
        };
        let (status, all) = get("").await;
        assert_eq!(status, 200);
        assert_eq!(all["items"].as_array().unwrap().len(), 6);
        assert_eq!(all["metadata"]["continue"], "");
        let (_, first) = get("?limit=4").await;
        assert_eq!(first["items"].as_array().unwrap().len(), 4);
        assert_eq!(first["items"][0]["metadata"]["namespace"], "kube-system");
        let token = first["metadata"]["continue"].as_str().unwrap().to_string();
        let encoded: String = token
            .bytes()
            .map(|byte| match byte {
                b'+' | b'/' | b'=' => format!("%{byte:02X}"),
                _ => char::from(byte).to_string(),
            })
            .collect();
        let (_, rest) = get(&format!("?limit=4&continue={encoded}")).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 2);
        assert_eq!(rest["metadata"]["continue"], "");
        // The switch: the next token is expired, and so is every token of before.
        kube.expire_continue_tokens(1);
        let (status, gone) = get(&format!("?limit=4&continue={encoded}")).await;
        assert_eq!((status, gone["reason"].as_str()), (410, Some("Expired")));
        let (status, _) = get(&format!("?limit=4&continue={encoded}")).await;
        assert_eq!(status, 410, "a token of before the expiry stays expired");
        let (_, again) = get("?limit=4").await;
        assert_eq!(again["items"].as_array().unwrap().len(), 4);

        // Without a certificate the handshake fails; nothing is answered.
        let roots = {
            let mut store = rustls::RootCertStore::empty();
            for ca in bundle.ca_certificates() {
                store.add(ca).unwrap();
            }
            store
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let anonymous = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .no_proxy()
            .timeout(timeout)
            .build()
            .unwrap();
        let refused = anonymous
            .get(format!("{}/api/v1/pods", kube.url()))
            .send()
            .await;
        assert!(refused.is_err(), "{refused:?}");
        // Read only.
        let (status, _) = {
            let response = client
                .delete(format!("{}/api/v1/pods", kube.url()))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), ())
        };
        assert_eq!(status, 405);
    }

    #[test]
    fn tokens_and_query_values() {
        let token = token_of(2, 500);
        assert_eq!(parse_token(&token), Some((2, 500)));
        assert_eq!(decode("eyJ%2B%2F%3D"), "eyJ+/=");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(parse_token("garbage"), None);
    }
}
