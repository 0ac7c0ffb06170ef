//! The Swarm side of the built-in cluster, which requests change: nodes (availability and
//! labels through `POST /nodes/{id}/update?version=`, with Swarm's optimistic versioning),
//! services made through the API (`POST /services/create`, `GET`/`DELETE /services/{id}`)
//! and their tasks (`GET /tasks?filters=…`), and a service's logs in Docker's multiplexed
//! stream format (`GET /services/{id}/logs`, `details=1` prefixing each line with its task's
//! attributes, as `docker service logs` reads them).
//!
//! The simulator runs no image: a job's task on a node does what the node's [`SimJob`] says.
//! A task reads `running` the first time it is listed and its final state after that (a
//! [`SimJob::Hang`] stays `running`), so a client that waits sees it progress. A node's
//! dockerd restarts when its [`SimNode::restart_file`] appears (a node that does not come
//! back stays `down`).

use std::collections::BTreeMap;

use hyper::{Method, StatusCode};
use serde_json::{Map, Value, json};

use super::cluster::{SimCluster, SimJob, SimNode, hex_id};
use crate::sim::{Outcome, json_reply};

/// When the simulated objects were made and changed.
const TIMESTAMP: &str = "2026-11-22T09:00:00.000000000Z";
/// `GET /nodes` reads a restarting node answers `down` to before it is `ready` again.
const DOWN_READS: usize = 2;

struct NodeState {
    node: SimNode,
    availability: String,
    labels: Map<String, Value>,
    version: u64,
    /// Reads left that answer `down` while the node restarts (`usize::MAX`: for good).
    down_reads: usize,
}

impl NodeState {
    fn state(&self) -> &'static str {
        if self.down_reads > 0 { "down" } else { "ready" }
    }
}

struct Task {
    id: String,
    node: usize,
    job: SimJob,
    /// Times listed so far.
    listed: usize,
    /// Desired state changed to `shutdown` (its node was drained).
    shut_down: bool,
}

impl Task {
    /// `(state, error, exit code)` as the task reads now.
    fn status(&self) -> (&'static str, Option<String>, i64) {
        if let SimJob::Reject(why) = &self.job {
            return ("rejected", Some(why.clone()), 0);
        }
        if self.listed <= 1 {
            return if self.shut_down {
                ("shutdown", None, 0)
            } else {
                ("running", None, 0)
            };
        }
        match &self.job {
            SimJob::Complete { .. } => ("complete", None, 0),
            SimJob::Fail { code, .. } => (
                "failed",
                Some(format!("task: non-zero exit ({code})")),
                *code,
            ),
            SimJob::Hang if self.shut_down => ("shutdown", None, 0),
            SimJob::Hang | SimJob::Reject(_) => ("running", None, 0),
        }
    }

    /// Whether its container has run (and so has logs).
    fn started(&self) -> bool {
        !matches!(self.job, SimJob::Reject(_)) && self.listed > 0
    }
}

struct Created {
    id: String,
    spec: Value,
    version: u64,
    tasks: Vec<Task>,
}

/// The built-in cluster's Swarm state.
pub(crate) struct Swarm {
    nodes: Vec<NodeState>,
    /// The cluster's own services and tasks, as rendered at start.
    services: Vec<Value>,
    tasks: Vec<Value>,
    created: Vec<Created>,
    /// Swarm's version index: every change takes the next one.
    index: u64,
}

fn error(status: StatusCode, message: &str) -> Outcome {
    json_reply(status, &json!({ "message": message }))
}

/// `%XX` and `+` decoded.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|byte| char::from(*byte).to_digit(16))
        };
        match bytes[index] {
            b'%' if hex(index + 1).is_some() && hex(index + 2).is_some() => {
                let (high, low) = (hex(index + 1).unwrap_or(0), hex(index + 2).unwrap_or(0));
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                index += 3;
                continue;
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query parameter, decoded.
fn param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name == key).then(|| decode(value))
    })
}

fn truthy(query: &str, key: &str) -> bool {
    matches!(param(query, key).as_deref(), Some("1" | "true" | "True"))
}

/// `filters={"service":["x"],"node":["y"]}` as lists per key.
fn filters(query: &str) -> BTreeMap<String, Vec<String>> {
    let Some(text) = param(query, "filters") else {
        return BTreeMap::new();
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
        return BTreeMap::new();
    };
    map.into_iter()
        .map(|(key, value)| {
            let values = match value {
                Value::Array(items) => items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect(),
                // The older form: {"key": {"value": true}}.
                Value::Object(map) => map.keys().cloned().collect(),
                _ => Vec::new(),
            };
            (key, values)
        })
        .collect()
}

/// Whether `labels` has every `key` / `key=value` of `wanted`.
fn labels_match(labels: Option<&Value>, wanted: &[String]) -> bool {
    wanted.iter().all(|want| {
        let (key, value) = match want.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (want.as_str(), None),
        };
        match labels.and_then(|labels| labels.get(key)) {
            Some(found) => value.is_none_or(|value| found.as_str() == Some(value)),
            None => false,
        }
    })
}

impl Swarm {
    pub(crate) fn new(cluster: &SimCluster) -> Swarm {
        let as_list = |value: Value| match value {
            Value::Array(items) => items,
            _ => Vec::new(),
        };
        Swarm {
            nodes: cluster
                .nodes
                .iter()
                .map(|node| NodeState {
                    node: node.clone(),
                    availability: "active".into(),
                    labels: Map::new(),
                    version: 10,
                    down_reads: 0,
                })
                .collect(),
            services: as_list(cluster.services_json()),
            tasks: as_list(cluster.tasks_json()),
            created: Vec::new(),
            index: 100,
        }
    }

    fn next_index(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    /// The node an ID or hostname names.
    fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|state| state.node.id() == name || state.node.name == name)
    }

    /// Answer a Swarm request; `None` when the path is not one of these.
    pub(crate) fn answer(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Option<Outcome> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        Some(match (method.as_str(), parts.as_slice()) {
            ("GET", ["nodes"]) => {
                self.notice_restarts();
                json_reply(StatusCode::OK, &Value::Array(self.nodes_json()))
            }
            ("GET", ["nodes", id]) => {
                self.notice_restarts();
                match self.node_index(id) {
                    Some(index) => json_reply(StatusCode::OK, &self.node_json(index)),
                    None => error(StatusCode::NOT_FOUND, &format!("node {id} not found")),
                }
            }
            ("POST", ["nodes", id, "update"]) => self.update_node(id, query, body),
            ("GET", ["services"]) => json_reply(StatusCode::OK, &self.services_json(query)),
            ("POST", ["services", "create"]) => self.create_service(body),
            ("GET", ["services", id]) => match self.created_index(id) {
                Some(index) => json_reply(StatusCode::OK, &self.service_json(index)),
                None => match self.static_service(id) {
                    Some(service) => json_reply(StatusCode::OK, &service),
                    None => error(StatusCode::NOT_FOUND, &format!("service {id} not found")),
                },
            },
            ("DELETE", ["services", id]) => match self.created_index(id) {
                Some(index) => {
                    self.created.remove(index);
                    json_reply(StatusCode::OK, &Value::Null)
                }
                None => error(StatusCode::NOT_FOUND, &format!("service {id} not found")),
            },
            ("GET", ["services", id, "logs"]) => self.logs(id, query),
            ("GET", ["tasks"]) => json_reply(StatusCode::OK, &Value::Array(self.tasks_json(query))),
            _ => return None,
        })
    }

    /// A restart file that appeared: the node goes down (for a while, or for good).
    fn notice_restarts(&mut self) {
        for state in &mut self.nodes {
            let Some(file) = &state.node.restart_file else {
                continue;
            };
            if file.exists() && state.down_reads == 0 {
                state.down_reads = if state.node.comes_back {
                    // Consumed: the node restarts once per appearance of the file.
                    let _ = std::fs::remove_file(file);
                    DOWN_READS + 1
                } else {
                    usize::MAX
                };
            }
            if state.down_reads != usize::MAX {
                state.down_reads = state.down_reads.saturating_sub(1);
            }
        }
    }

    fn node_json(&self, index: usize) -> Value {
        let state = &self.nodes[index];
        let node = &state.node;
        let mut value = json!({
            "ID": node.id(),
            "Version": {"Index": state.version},
            "CreatedAt": TIMESTAMP,
            "UpdatedAt": TIMESTAMP,
            "Spec": {"Labels": state.labels, "Role": if node.manager { "manager" } else { "worker" },
                     "Availability": state.availability},
            "Description": {"Hostname": node.name, "Platform": {"Architecture": "x86_64", "OS": "linux"},
                            "Engine": {"EngineVersion": "23.0.15"}},
            "Status": {"State": state.state(), "Addr": node.address}
        });
        if node.manager {
            let leader = self
                .nodes
                .iter()
                .position(|state| state.node.manager)
                .is_some_and(|first| first == index);
            value["ManagerStatus"] = json!({
                "Leader": leader,
                "Reachability": if state.down_reads > 0 { "unreachable" } else { "reachable" },
                "Addr": format!("{}:2377", node.address)
            });
        }
        value
    }

    fn nodes_json(&self) -> Vec<Value> {
        (0..self.nodes.len())
            .map(|index| self.node_json(index))
            .collect()
    }

    fn update_node(&mut self, id: &str, query: &str, body: &[u8]) -> Outcome {
        let Some(index) = self.node_index(id) else {
            return error(StatusCode::NOT_FOUND, &format!("node {id} not found"));
        };
        let Some(version) = param(query, "version").and_then(|text| text.parse::<u64>().ok())
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid node version: the `version` query parameter is required",
            );
        };
        if version != self.nodes[index].version {
            // What swarmkit answers to a stale version.
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "rpc error: code = Unknown desc = update out of sequence",
            );
        }
        let Ok(spec) = serde_json::from_slice::<Value>(body) else {
            return error(StatusCode::BAD_REQUEST, "invalid JSON in the node spec");
        };
        let availability = spec
            .get("Availability")
            .and_then(Value::as_str)
            .unwrap_or("active");
        if !matches!(availability, "active" | "pause" | "drain") {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid availability {availability}"),
            );
        }
        let next = self.next_index();
        let state = &mut self.nodes[index];
        state.availability = availability.to_string();
        state.labels = spec
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        state.version = next;
        if availability == "drain" {
            for task in self
                .created
                .iter_mut()
                .flat_map(|service| service.tasks.iter_mut())
                .filter(|task| task.node == index)
            {
                task.shut_down = true;
            }
        }
        json_reply(StatusCode::OK, &Value::Null)
    }
}

mod services;
#[cfg(test)]
mod tests;
