//! The Docker Engine API that UCP/MKE proxies for the whole cluster, as the `workload` target
//! reads it (reference/next-phase.md §1.3): `GET /containers/json`, `/containers/{id}/json`,
//! `/services`, `/tasks`, `/nodes` and `/info`, under the UCP session (bearer token), with or
//! without an API version prefix (`/v1.41/…`). Either a built-in cluster ([`SimCluster`]) or a
//! PROXY to a real Docker Engine on a unix socket ([`proxy`]), which stands for a one-node
//! cluster: names get the node's prefix and inspects its `Node`, as UCP does. Any other method
//! on these paths is refused (405) and journalled like every request, so a test can assert
//! that a read-only run wrote nothing.

mod cluster;
mod proxy;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::Value;

pub use cluster::{SimCluster, SimContainer, SimNode, SimService};

use super::{Outcome, SimRequest, error_reply, json_reply, text_reply};

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
    let claimed = matches!(
        path,
        "/containers/json" | "/services" | "/tasks" | "/nodes" | "/info"
    ) || path
        .strip_prefix("/containers/")
        .and_then(|rest| rest.strip_suffix("/json"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    claimed.then_some(path)
}

/// Whether the Engine part answers this path.
pub(crate) fn claims(path: &str) -> bool {
    engine_path(path).is_some()
}

/// A built-in cluster's answers, rendered once.
struct Rendered {
    list_all: String,
    list_running: String,
    inspects: HashMap<String, String>,
    services: String,
    tasks: String,
    nodes: String,
    info: String,
}

enum Backend {
    Cluster(Box<Rendered>),
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
                Backend::Cluster(Box::new(Rendered {
                    list_all: render(false),
                    list_running: render(true),
                    inspects: cluster
                        .containers
                        .iter()
                        .map(|container| (container.id(), cluster.inspect(container).to_string()))
                        .collect(),
                    services: cluster.services_json().to_string(),
                    tasks: cluster.tasks_json().to_string(),
                    nodes: cluster.nodes_json().to_string(),
                    info: cluster.info_json(ucp_version).to_string(),
                }))
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
        if req.method != Method::GET {
            return error_reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                &format!(
                    "the simulated Engine API is read-only: {} {path}",
                    req.method
                ),
            );
        }
        match &self.backend {
            Backend::Cluster(rendered) => rendered.answer(path, &req.query),
            Backend::Proxy(proxy) => {
                let proxy = Arc::clone(proxy);
                let path = path.to_string();
                let query = req.query.clone();
                Outcome::Later(Box::pin(async move { proxy.answer(&path, &query).await }))
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
            "/services" => json_text(&self.services),
            "/tasks" => json_text(&self.tasks),
            "/nodes" => json_text(&self.nodes),
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
        assert_eq!(engine_path("/containers/a/b/json"), None);
        assert_eq!(engine_path("/containers/json/x"), None);
        assert_eq!(engine_path("/api/ucp/config-toml"), None);
        assert_eq!(engine_path("/version"), None);
    }

    #[test]
    fn the_demo_cluster_answers_like_ucp() {
        let cluster = SimCluster::demo();
        let handle = EngineHandle::new(SimEngine::Cluster(cluster.clone()), "3.7.3");
        let Backend::Cluster(rendered) = &handle.backend else {
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
}
