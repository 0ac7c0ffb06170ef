//! The Docker Engine API that UCP/MKE proxies for the whole cluster (reference/next-phase.md
//! §1.3), under the UCP session (bearer token), with or without an API version prefix
//! (`/v1.41/…`): what the `workload` target reads (`GET /containers/json`,
//! `/containers/{id}/json`, `/services`, `/tasks`, `/nodes`, `/info`) and what `stigfix nodes`
//! writes (`POST /services/create`, `GET`/`DELETE /services/{id}`, `GET
//! /services/{id}/logs`, `GET /nodes/{id}`, `POST /nodes/{id}/update`). Either a built-in
//! cluster ([`SimCluster`], its Swarm side in [`swarm`]) or a PROXY to a real Docker Engine on
//! a unix socket ([`proxy`]), which stands for a one-node cluster: names get the node's prefix
//! and inspects its `Node`, as UCP does. Any other method on these paths is refused (405) and
//! journalled like every request, so a test can assert that a read-only run wrote nothing.

mod cluster;
mod proxy;
mod swarm;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyper::{Method, StatusCode};
use serde_json::Value;

pub use cluster::{SimCluster, SimContainer, SimJob, SimNode, SimService};

use super::{Outcome, SimRequest, error_reply, json_reply, lock, text_reply};

/// What the simulated Engine API answers from.
#[derive(Clone, Debug)]
pub enum SimEngine {
    /// A built-in cluster.
    Cluster(SimCluster),
    /// A real Docker Engine: its unix socket (e.g. the one `dockerd -H unix://…` listens on).
    Proxy { socket: PathBuf },
}

impl Default for SimEngine {
    /// UCP's own containers only: nothing of the user's to check.
    fn default() -> Self {
        SimEngine::Cluster(SimCluster::system_only())
    }
}

/// The Engine API paths this part answers, after any `/v1.xx` prefix.
fn engine_path(path: &str) -> Option<&str> {
    let path = match path.strip_prefix("/v1.") {
        Some(rest) => &rest[rest.find('/')?..],
        None => path,
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let named = |id: &str| !id.is_empty();
    let claimed = match parts.as_slice() {
        ["containers", "json"] | ["services"] | ["tasks"] | ["nodes"] | ["info"] => true,
        ["containers", id, "json"] => named(id),
        ["nodes", id] | ["services", id] => named(id),
        ["nodes", id, "update"] | ["services", id, "logs"] => named(id),
        _ => false,
    };
    claimed.then_some(path)
}

/// Whether `method` may be sent to `path`: reads everywhere, and the writes `stigfix nodes`
/// makes (a service and its removal, a node's availability).
fn allowed(method: &Method, path: &str) -> bool {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match *method {
        Method::GET => !matches!(parts.as_slice(), ["services", "create"]),
        Method::POST => matches!(
            parts.as_slice(),
            ["services", "create"] | ["nodes", _, "update"]
        ),
        Method::DELETE => matches!(parts.as_slice(), ["services", id] if *id != "create"),
        _ => false,
    }
}

/// Whether the Engine part answers this path.
pub(crate) fn claims(path: &str) -> bool {
    engine_path(path).is_some()
}

/// A built-in cluster's container answers, rendered once.
struct Rendered {
    list_all: String,
    list_running: String,
    inspects: HashMap<String, String>,
    info: String,
}

enum Backend {
    Cluster {
        rendered: Box<Rendered>,
        swarm: Box<Mutex<swarm::Swarm>>,
    },
    Proxy(Arc<proxy::Proxy>),
}

/// The simulated Engine API.
pub(crate) struct EngineHandle {
    backend: Backend,
}

impl EngineHandle {
    pub(crate) fn new(engine: SimEngine, ucp_version: &str) -> EngineHandle {
        let backend = match engine {
            SimEngine::Cluster(cluster) => {
                let render = |running_only: bool| {
                    Value::Array(
                        cluster
                            .containers
                            .iter()
                            .filter(|container| container.running || !running_only)
                            .map(|container| cluster.listed(container))
                            .collect(),
                    )
                    .to_string()
                };
                Backend::Cluster {
                    rendered: Box::new(Rendered {
                        list_all: render(false),
                        list_running: render(true),
                        inspects: cluster
                            .containers
                            .iter()
                            .map(|container| {
                                (container.id(), cluster.inspect(container).to_string())
                            })
                            .collect(),
                        info: cluster.info_json(ucp_version).to_string(),
                    }),
                    swarm: Box::new(Mutex::new(swarm::Swarm::new(&cluster))),
                }
            }
            SimEngine::Proxy { socket } => Backend::Proxy(Arc::new(proxy::Proxy::new(socket))),
        };
        EngineHandle { backend }
    }

    /// Answer an Engine API request (already authorised).
    pub(crate) fn handle(&self, req: &SimRequest) -> Outcome {
        let Some(path) = engine_path(&req.path) else {
            return error_reply(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint");
        };
        if !allowed(&req.method, path) {
            return error_reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                &format!(
                    "the simulated Engine API does not take {} {path}: it changes no container",
                    req.method
                ),
            );
        }
        match &self.backend {
            Backend::Cluster { rendered, swarm } => {
                let answered = lock(swarm).answer(&req.method, path, &req.query, req.body.as_ref());
                match answered {
                    Some(outcome) => outcome,
                    None => rendered.answer(path, &req.query),
                }
            }
            Backend::Proxy(proxy) => {
                let proxy = Arc::clone(proxy);
                let path = path.to_string();
                let query = req.query.clone();
                let method = req.method.clone();
                let body = req.body.clone();
                Outcome::Later(Box::pin(async move {
                    proxy.answer(method, &path, &query, body).await
                }))
            }
        }
    }
}

/// `all=1` / `all=true` in a query string.
fn wants_all(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| matches!(pair, "all=1" | "all=true" | "all=True"))
}

fn json_text(body: &str) -> Outcome {
    Outcome::Reply(Box::new(text_reply(
        StatusCode::OK,
        "application/json",
        body,
    )))
}

impl Rendered {
    fn answer(&self, path: &str, query: &str) -> Outcome {
        match path {
            "/containers/json" if wants_all(query) => json_text(&self.list_all),
            "/containers/json" => json_text(&self.list_running),
            "/info" => json_text(&self.info),
            _ => {
                let id = path
                    .trim_start_matches("/containers/")
                    .trim_end_matches("/json");
                match self.inspects.get(id).or_else(|| {
                    // A unique prefix of an ID works too, as with the Engine.
                    let mut found = self
                        .inspects
                        .iter()
                        .filter(|(full, _)| full.starts_with(id));
                    match (found.next(), found.next()) {
                        (Some((_, inspect)), None) if id.len() >= 4 => Some(inspect),
                        _ => None,
                    }
                }) {
                    Some(inspect) => json_text(inspect),
                    None => json_reply(
                        StatusCode::NOT_FOUND,
                        &serde_json::json!({ "message": format!("No such container: {id}") }),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_paths_with_and_without_a_version() {
        assert_eq!(
            engine_path("/v1.41/containers/json"),
            Some("/containers/json")
        );
        assert_eq!(
            engine_path("/containers/abc/json"),
            Some("/containers/abc/json")
        );
        assert_eq!(engine_path("/info"), Some("/info"));
        assert_eq!(
            engine_path("/v1.41/services/create"),
            Some("/services/create")
        );
        assert_eq!(engine_path("/nodes/abc/update"), Some("/nodes/abc/update"));
        assert_eq!(
            engine_path("/services/abc/logs"),
            Some("/services/abc/logs")
        );
        assert_eq!(engine_path("/containers/a/b/json"), None);
        assert_eq!(engine_path("/containers/json/x"), None);
        assert_eq!(engine_path("/api/ucp/config-toml"), None);
        assert_eq!(engine_path("/version"), None);
    }

    #[test]
    fn the_demo_cluster_answers_like_ucp() {
        let cluster = SimCluster::demo();
        let handle = EngineHandle::new(SimEngine::Cluster(cluster.clone()), "3.7.3");
        let Backend::Cluster { rendered, .. } = &handle.backend else {
            panic!("a cluster");
        };
        let all: Value = serde_json::from_str(&rendered.list_all).unwrap();
        let running: Value = serde_json::from_str(&rendered.list_running).unwrap();
        assert!(all.as_array().unwrap().len() > running.as_array().unwrap().len());
        let legacy = cluster
            .containers
            .iter()
            .find(|container| container.name == "legacy-app")
            .unwrap();
        let listed = cluster.listed(legacy);
        assert_eq!(listed["Names"][0], "/worker-2/legacy-app");
        let inspect: Value = serde_json::from_str(&rendered.inspects[&legacy.id()]).unwrap();
        assert_eq!(inspect["Node"]["Name"], "worker-2");
        assert_eq!(inspect["HostConfig"]["IpcMode"], "host");
        let info: Value = serde_json::from_str(&rendered.info).unwrap();
        assert_eq!(info["ServerVersion"], "ucp/3.7.3");
    }

    #[test]
    fn only_the_writes_of_stigfix_nodes_are_taken() {
        assert!(allowed(&Method::GET, "/services/abc/logs"));
        assert!(allowed(&Method::POST, "/services/create"));
        assert!(allowed(&Method::POST, "/nodes/abc/update"));
        assert!(allowed(&Method::DELETE, "/services/abc"));
        assert!(!allowed(&Method::GET, "/services/create"));
        assert!(!allowed(&Method::DELETE, "/nodes/abc"));
        assert!(!allowed(&Method::POST, "/containers/json"));
        assert!(!allowed(&Method::PUT, "/services/abc"));
    }
}
