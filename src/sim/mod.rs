//! An in-process UCP/MKE and DTR/MSR HTTP(S) simulator for tests and `stigfix demo`.
//!
//! [`Simulator::start`] binds `127.0.0.1:0`, then serves HTTP/1.1 (optionally over TLS with a
//! CA generated at start) from a background thread that runs its own tokio runtime, so it can
//! be used from synchronous and asynchronous code alike. One URL serves both products.
//! UCP endpoints follow docs/reference/api-facts.md §2: `POST /auth/login`, `GET`/`PUT /api/ucp/config-toml`,
//! `GET /_ping`. DTR endpoints follow docs/reference/api-facts.md §3: `GET /auth/token`, `GET /basic_info` and
//! `/api/v0/...` (see `dtr/`). The Docker Engine API that UCP proxies for the cluster
//! (`/containers/json`, `/containers/{id}/json`, `/services`, `/tasks`, `/nodes`, `/info`, and
//! the services and node updates of `stigfix nodes`, under the UCP session) answers from a
//! built-in cluster or a real Engine's socket (see `engine/`). Everything else is a 404 with the error envelope (docs/reference/api-facts.md §2.7, §3.7).
//!
//! MKE's Kubernetes API, with mutual TLS and a client bundle, listens on a port of its own when
//! [`SimOptions::kube`] has pods (see `kube/`).
//!
//! Every request is journalled ([`Simulator::requests`]); faults are armed through
//! [`UcpHandle`] and [`DtrHandle`].

mod config;
mod dtr;
mod engine;
mod faults;
pub mod host;
mod kube;
mod tls;
mod ucp;

#[cfg(test)]
mod dtr_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

pub use config::UcpRelease;
pub use dtr::{
    DEFAULT_DTR_VERSION, DtrHandle, DtrOptions, SimRepo, SimScanStatus, SimTag, SimVisibility,
    generate_repositories,
};
pub use engine::{SimCluster, SimContainer, SimEngine, SimJob, SimNode, SimService};
pub use kube::{KubeHandle, SimKube};
pub use ucp::UcpHandle;

/// An account known to the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUser {
    pub name: String,
    pub password: String,
    /// Admins may read and write config-toml; other users get 403.
    pub admin: bool,
}

/// How to start a [`Simulator`].
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Serve HTTPS with a CA generated at start (see [`Simulator::ca_pem`]); false = plain HTTP.
    pub tls: bool,
    /// Accounts accepted by `POST /auth/login`.
    pub users: Vec<SimUser>,
    /// Initial config-toml text, parsed like a PUT (unknown keys dropped); `None` = defaults.
    /// [`Simulator::start`] fails with `InvalidInput` when it is rejected.
    pub ucp_config: Option<String>,
    /// The UCP/MKE release simulated: its configuration schema and version.
    pub ucp_release: UcpRelease,
    /// Lifetime of a UCP login token and of a DTR `/auth/token` token.
    pub token_ttl: Duration,
    /// The simulated DTR/MSR.
    pub dtr: DtrOptions,
    /// The Docker Engine API UCP proxies for the cluster: a built-in cluster (by default UCP's
    /// own containers only) or a real Engine's unix socket.
    pub engine: SimEngine,
    /// MKE's Kubernetes API (its pods), on a port of its own with mutual TLS; off by default.
    pub kube: SimKube,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            tls: false,
            users: vec![SimUser {
                name: "admin".to_owned(),
                password: "simulator-password".to_owned(),
                admin: true,
            }],
            ucp_config: None,
            ucp_release: UcpRelease::default(),
            token_ttl: Duration::from_secs(3600),
            dtr: DtrOptions::default(),
            engine: SimEngine::default(),
            kube: SimKube::default(),
        }
    }
}

/// One journalled request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The status answered; 0 when the connection was closed without a response.
    pub status: u16,
}

/// A running simulator. Dropping it (or [`Simulator::shutdown`]) stops the server thread and
/// frees the port.
pub struct Simulator {
    url: String,
    ca_pem: Option<String>,
    kube: Option<KubeHandle>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// State shared between the [`Simulator`] and its server thread.
struct Shared {
    journal: Mutex<Vec<RequestRecord>>,
    latency: Mutex<Duration>,
    ucp: UcpHandle,
    dtr: DtrHandle,
    engine: engine::EngineHandle,
}

impl Simulator {
    /// Starts the simulator; returns once the socket is listening.
    pub fn start(options: SimOptions) -> std::io::Result<Simulator> {
        let dtr_users = options.users.clone();
        let engine = engine::EngineHandle::new(options.engine, options.ucp_release.version());
        let ucp = UcpHandle::new(
            options.users,
            options.ucp_config.as_deref(),
            options.token_ttl,
            options.ucp_release,
        )
        .map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid ucp_config: {e}"),
            )
        })?;
        let tls = if options.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let kube = kube::bind(options.kube)?;
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let dtr = DtrHandle::new(
            options.dtr,
            dtr_users,
            options.token_ttl,
            &format!("127.0.0.1:{port}"),
        )
        .map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("invalid dtr options: {e}"),
            )
        })?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared {
            journal: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            ucp,
            dtr,
            engine,
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server_config));
        let thread_shared = Arc::clone(&shared);
        let kube_handle = kube.as_ref().map(|server| server.handle.clone());
        let thread = std::thread::Builder::new()
            .name(format!("stigfix-sim-{port}"))
            .spawn(move || {
                runtime.block_on(async move {
                    if let Some(kube) = kube {
                        tokio::spawn(kube.serve(Arc::clone(&thread_shared)));
                    }
                    accept_loop(listener, acceptor, thread_shared, stop_rx).await;
                });
                // Dropping the runtime here cancels every connection task and closes its socket.
            })?;
        Ok(Simulator {
            url: format!("{scheme}://127.0.0.1:{port}"),
            ca_pem,
            kube: kube_handle,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `https://127.0.0.1:PORT` or `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// PEM of the generated CA when serving TLS.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// Handle on the simulated Kubernetes API (its URL, client bundle and switches), when
    /// [`SimOptions::kube`] has pods.
    pub fn kube(&self) -> Option<KubeHandle> {
        self.kube.clone()
    }

    /// Handle on the simulated UCP/MKE state and fault switches.
    pub fn ucp(&self) -> UcpHandle {
        self.shared.ucp.clone()
    }

    /// Handle on the simulated DTR/MSR state and fault switches.
    pub fn dtr(&self) -> DtrHandle {
        self.shared.dtr.clone()
    }

    /// The request journal, in order of response.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.journal).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.journal).clear();
    }

    /// Number of journalled PUT/POST/PATCH/DELETE requests other than `POST /auth/login`.
    pub fn write_count(&self) -> usize {
        lock(&self.shared.journal)
            .iter()
            .filter(|r| matches!(r.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
            .filter(|r| !(r.method == "POST" && r.path == "/auth/login"))
            .count()
    }

    /// Delay added before every response (and before closing a dropped connection).
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    /// Stops the server thread and frees the port (also done on drop).
    pub fn shutdown(mut self) {
        self.stop_server();
    }

    fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Locks a mutex, ignoring poisoning (the protected state stays consistent).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request read in full, as handed to the route handlers.
pub(crate) struct SimRequest {
    pub(crate) method: Method,
    /// Path without the query string.
    pub(crate) path: String,
    /// The raw query string, without the `?` (empty when there is none).
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// What a handler decided.
pub(crate) enum Outcome {
    Reply(Box<Response<Full<Bytes>>>),
    /// Close the connection without a response.
    Drop,
    /// The inner outcome (whose change, if any, is already made), answered after the delay.
    Held(Duration, Box<Outcome>),
    /// An answer that needs I/O first (the Engine API proxy): awaited before it is sent.
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>>),
}

impl Outcome {
    /// How long the answer is held back, and the answer (`None`: close without one).
    fn into_answer(self) -> (Duration, Option<Box<Response<Full<Bytes>>>>) {
        match self {
            Outcome::Reply(response) => (Duration::ZERO, Some(response)),
            Outcome::Drop => (Duration::ZERO, None),
            Outcome::Held(delay, inner) => {
                let (more, answer) = inner.into_answer();
                (delay.saturating_add(more), answer)
            }
            // Resolved by `serve` before it gets here.
            Outcome::Later(_) => (
                Duration::ZERO,
                Some(Box::new(text_reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "unresolved answer",
                ))),
            ),
        }
    }

    /// Await an answer that needs I/O.
    async fn resolve(mut self) -> Outcome {
        while let Outcome::Later(later) = self {
            self = later.await;
        }
        self
    }
}

pub(crate) fn text_reply(
    status: StatusCode,
    content_type: &'static str,
    body: &str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn json_reply(status: StatusCode, body: &serde_json::Value) -> Outcome {
    Outcome::Reply(Box::new(text_reply(
        status,
        "application/json",
        &body.to_string(),
    )))
}

/// The UCP error envelope (docs/reference/api-facts.md §2.7): `{"errors":[{"code":…,"message":…}]}`.
pub(crate) fn error_reply(status: StatusCode, code: &str, message: &str) -> Outcome {
    json_reply(
        status,
        &serde_json::json!({ "errors": [{ "code": code, "message": message }] }),
    )
}

/// Routes a request to the product that owns its path.
fn route(shared: &Shared, req: &SimRequest) -> Outcome {
    // Dispatch point for more products: the DTR/MSR simulator claims `/api/v0/...`,
    // `/auth/token` and `/basic_info` before the UCP routes.
    if dtr::claims(&req.path) {
        return shared.dtr.handle(req);
    }
    // The Docker Engine API UCP proxies (`/containers/…`, `/services`, `/tasks`, `/nodes`,
    // `/info`), under the UCP session.
    if engine::claims(&req.path) {
        if let Err(denied) = shared.ucp.authorize_admin(&req.headers) {
            return denied;
        }
        return shared.engine.handle(req);
    }
    if let Some(outcome) = shared.ucp.handle(req) {
        return outcome;
    }
    error_reply(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("no such endpoint: {} {}", req.method, req.path),
    )
}

/// Returned to hyper to make it close the connection without a response.
#[derive(Debug)]
struct ConnectionDropped;

impl fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("simulated dropped connection")
    }
}

impl std::error::Error for ConnectionDropped {}

async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ConnectionDropped> {
    let (parts, body) = req.into_parts();
    let method = parts.method;
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let record = |status: u16| {
        lock(&shared.journal).push(RequestRecord {
            method: method.to_string(),
            path: path.clone(),
            status,
        });
    };
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            record(0);
            return Err(ConnectionDropped);
        }
    };
    let request = SimRequest {
        method: method.clone(),
        path: path.clone(),
        query,
        headers: parts.headers,
        body,
    };
    let (hold, answer) = route(&shared, &request).resolve().await.into_answer();
    if !hold.is_zero() {
        // A held answer: the timer's rounding does not matter here, and unlike a blocking
        // sleep it is cancelled when the simulator stops.
        tokio::time::sleep(hold).await;
    }
    let latency = *lock(&shared.latency);
    if !latency.is_zero() {
        // tokio's timer rounds a sleep up to its next millisecond tick (5 ms sleeps take ~6.1);
        // a blocking-pool thread sleeps to within tens of microseconds, so the injected latency
        // is what benchmarks compare against.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(latency)).await;
    }
    match answer {
        Some(response) => {
            record(response.status().as_u16());
            Ok(*response)
        }
        None => {
            record(0);
            Err(ConnectionDropped)
        }
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| serve(Arc::clone(&shared), req));
            let builder = http1::Builder::new();
            // Connection errors (including simulated drops and failed TLS handshakes) just
            // end the connection.
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls_stream) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(tls_stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}
