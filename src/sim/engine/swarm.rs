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

    fn created_index(&self, id: &str) -> Option<usize> {
        self.created.iter().position(|service| {
            service.id == id || service.spec.get("Name").and_then(Value::as_str) == Some(id)
        })
    }

    fn static_service(&self, id: &str) -> Option<Value> {
        self.services
            .iter()
            .find(|service| {
                service.get("ID").and_then(Value::as_str) == Some(id)
                    || service.pointer("/Spec/Name").and_then(Value::as_str) == Some(id)
            })
            .cloned()
    }

    fn service_json(&self, index: usize) -> Value {
        let service = &self.created[index];
        json!({
            "ID": service.id,
            "Version": {"Index": service.version},
            "CreatedAt": TIMESTAMP,
            "UpdatedAt": TIMESTAMP,
            "Spec": service.spec,
            "Endpoint": {"Spec": {}},
            "JobStatus": {"JobIteration": {"Index": service.version}, "LastExecution": TIMESTAMP}
        })
    }

    fn services_json(&self, query: &str) -> Value {
        let filters = filters(query);
        let all = self
            .services
            .iter()
            .cloned()
            .chain((0..self.created.len()).map(|index| self.service_json(index)));
        Value::Array(
            all.filter(|service| {
                filters.iter().all(|(key, wanted)| match key.as_str() {
                    "label" => labels_match(service.pointer("/Spec/Labels"), wanted),
                    "name" => wanted.iter().any(|name| {
                        service.pointer("/Spec/Name").and_then(Value::as_str) == Some(name)
                    }),
                    "id" => wanted.iter().any(|id| {
                        service
                            .get("ID")
                            .and_then(Value::as_str)
                            .is_some_and(|found| found.starts_with(id.as_str()))
                    }),
                    _ => true,
                })
            })
            .collect(),
        )
    }

    /// The nodes a service's tasks go to: ready, active, and within its placement constraints
    /// (`node.id`, `node.hostname`, `node.role` with `==` or `!=`).
    fn eligible(&self, spec: &Value) -> Vec<usize> {
        let constraints: Vec<String> = spec
            .pointer("/TaskTemplate/Placement/Constraints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect();
        (0..self.nodes.len())
            .filter(|index| {
                let state = &self.nodes[*index];
                state.availability == "active"
                    && state.down_reads == 0
                    && constraints.iter().all(|constraint| {
                        let (field, equal, value) = match constraint.split_once("!=") {
                            Some((field, value)) => (field, false, value),
                            None => match constraint.split_once("==") {
                                Some((field, value)) => (field, true, value),
                                None => return true,
                            },
                        };
                        let actual = match field.trim() {
                            "node.id" => state.node.id(),
                            "node.hostname" => state.node.name.clone(),
                            "node.role" => if state.node.manager {
                                "manager"
                            } else {
                                "worker"
                            }
                            .to_string(),
                            _ => return true,
                        };
                        (actual == value.trim()) == equal
                    })
            })
            .collect()
    }

    fn create_service(&mut self, body: &[u8]) -> Outcome {
        let Ok(spec) = serde_json::from_slice::<Value>(body) else {
            return error(StatusCode::BAD_REQUEST, "invalid JSON in the service spec");
        };
        let Some(name) = spec.get("Name").and_then(Value::as_str).map(str::to_string) else {
            return error(StatusCode::BAD_REQUEST, "a service needs a Name");
        };
        if spec
            .pointer("/TaskTemplate/ContainerSpec/Image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return error(
                StatusCode::BAD_REQUEST,
                "ContainerSpec: image reference must be provided",
            );
        }
        if self.created_index(&name).is_some() || self.static_service(&name).is_some() {
            return error(
                StatusCode::CONFLICT,
                &format!(
                    "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service {name} already exists"
                ),
            );
        }
        let version = self.next_index();
        let id = hex_id(&format!("created service {name} {version}"))[..25].to_string();
        let mode = spec.get("Mode").and_then(Value::as_object);
        let per_node =
            mode.is_none_or(|mode| mode.contains_key("Global") || mode.contains_key("GlobalJob"));
        let eligible = self.eligible(&spec);
        let nodes: Vec<usize> = if per_node {
            eligible
        } else {
            eligible.into_iter().take(1).collect()
        };
        let tasks = nodes
            .into_iter()
            .map(|node| Task {
                id: hex_id(&format!("task {id} {node}"))[..25].to_string(),
                node,
                job: self.nodes[node].node.job.clone(),
                listed: 0,
                shut_down: false,
            })
            .collect();
        self.created.push(Created {
            id: id.clone(),
            spec,
            version,
            tasks,
        });
        json_reply(StatusCode::CREATED, &json!({ "ID": id, "Warnings": null }))
    }

    fn tasks_json(&mut self, query: &str) -> Vec<Value> {
        let filters = filters(query);
        let drained: Vec<String> = self
            .nodes
            .iter()
            .filter(|state| state.availability == "drain")
            .map(|state| state.node.id())
            .collect();
        let mut tasks: Vec<Value> = self
            .tasks
            .iter()
            .cloned()
            .map(|mut task| {
                let on_drained = task
                    .get("NodeID")
                    .and_then(Value::as_str)
                    .is_some_and(|node| drained.iter().any(|id| id == node));
                if on_drained {
                    task["DesiredState"] = json!("shutdown");
                    task["Status"]["State"] = json!("shutdown");
                }
                task
            })
            .collect();
        for service in &mut self.created {
            let labels = service
                .spec
                .pointer("/TaskTemplate/ContainerSpec/Labels")
                .cloned();
            for (slot, task) in service.tasks.iter_mut().enumerate() {
                task.listed += 1;
                let (state, err, exit) = task.status();
                let node = &self.nodes[task.node].node;
                let mut status = json!({
                    "Timestamp": TIMESTAMP, "State": state, "Message": state,
                    "ContainerStatus": {"ContainerID": hex_id(&format!("container {}", task.id)), "PID": 0, "ExitCode": exit}
                });
                if let Some(err) = err {
                    status["Err"] = json!(err);
                }
                tasks.push(json!({
                    "ID": task.id,
                    "Version": {"Index": service.version},
                    "CreatedAt": TIMESTAMP,
                    "UpdatedAt": TIMESTAMP,
                    "Labels": {},
                    "Spec": {"ContainerSpec": {"Labels": labels}},
                    "ServiceID": service.id,
                    "Slot": slot + 1,
                    "NodeID": node.id(),
                    "Status": status,
                    "DesiredState": if task.shut_down { "shutdown" } else { "complete" },
                    "JobIteration": {"Index": service.version}
                }));
            }
        }
        let node_ids: BTreeMap<String, String> = self
            .nodes
            .iter()
            .map(|state| (state.node.name.clone(), state.node.id()))
            .collect();
        let service_ids: BTreeMap<String, String> = self
            .created
            .iter()
            .filter_map(|service| {
                Some((
                    service.spec.get("Name")?.as_str()?.to_string(),
                    service.id.clone(),
                ))
            })
            .chain(self.services.iter().filter_map(|service| {
                Some((
                    service.pointer("/Spec/Name")?.as_str()?.to_string(),
                    service.get("ID")?.as_str()?.to_string(),
                ))
            }))
            .collect();
        tasks.retain(|task| {
            filters.iter().all(|(key, wanted)| {
                let field = |name: &str| task.get(name).and_then(Value::as_str).unwrap_or_default();
                match key.as_str() {
                    "service" => wanted.iter().any(|want| {
                        field("ServiceID") == want
                            || service_ids
                                .get(want)
                                .is_some_and(|id| id == field("ServiceID"))
                    }),
                    "node" => wanted.iter().any(|want| {
                        field("NodeID") == want
                            || node_ids.get(want).is_some_and(|id| id == field("NodeID"))
                    }),
                    "desired-state" => wanted.iter().any(|want| field("DesiredState") == want),
                    "label" => labels_match(task.get("Labels"), wanted),
                    _ => true,
                }
            })
        });
        tasks
    }

    /// `GET /services/{id}/logs`: each task's output, one frame per line (stream 1 stdout, 2
    /// stderr), with `details=1` each line prefixed with the task's attributes and a space.
    fn logs(&self, id: &str, query: &str) -> Outcome {
        let Some(index) = self.created_index(id) else {
            return match self.static_service(id) {
                Some(_) => bytes_reply(Vec::new()),
                None => error(StatusCode::NOT_FOUND, &format!("service {id} not found")),
            };
        };
        let service = &self.created[index];
        let (stdout, stderr) = (truthy(query, "stdout"), truthy(query, "stderr"));
        if !stdout && !stderr {
            return error(
                StatusCode::BAD_REQUEST,
                "Bad parameters: you must choose at least one stream",
            );
        }
        let details = truthy(query, "details");
        let mut body = Vec::new();
        for task in service.tasks.iter().filter(|task| task.started()) {
            let attributes = format!(
                "com.docker.swarm.node.id={},com.docker.swarm.service.id={},com.docker.swarm.task.id={}",
                self.nodes[task.node].node.id(),
                service.id,
                task.id
            );
            let (out, err) = match &task.job {
                SimJob::Complete { stdout, stderr } => (stdout.as_str(), stderr.as_str()),
                SimJob::Fail { stderr, .. } => ("", stderr.as_str()),
                SimJob::Hang | SimJob::Reject(_) => ("", ""),
            };
            for (stream, text, wanted) in [(1u8, out, stdout), (2u8, err, stderr)] {
                if !wanted {
                    continue;
                }
                for line in text.split_inclusive('\n') {
                    let mut payload = Vec::new();
                    if details {
                        payload.extend_from_slice(attributes.as_bytes());
                        payload.push(b' ');
                    }
                    payload.extend_from_slice(line.as_bytes());
                    frame(&mut body, stream, &payload);
                }
            }
        }
        bytes_reply(body)
    }
}

/// One frame of Docker's multiplexed stream: `[stream, 0, 0, 0, size (u32 big endian)]`, then
/// the payload.
pub(crate) fn frame(out: &mut Vec<u8>, stream: u8, payload: &[u8]) {
    out.extend_from_slice(&[stream, 0, 0, 0]);
    let size = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A multiplexed stream, as the Engine answers it (API 1.42 and later name the type).
fn bytes_reply(body: Vec<u8>) -> Outcome {
    let mut response =
        hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from(body)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/vnd.docker.multiplexed-stream"),
    );
    Outcome::Reply(Box::new(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(outcome: Outcome) -> (u16, Vec<u8>) {
        let Outcome::Reply(response) = outcome else {
            panic!("a reply");
        };
        let status = response.status().as_u16();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let bytes = runtime
            .block_on(http_body_util::BodyExt::collect(response.into_body()))
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, bytes)
    }

    fn json_of(outcome: Outcome) -> (u16, Value) {
        let (status, bytes) = body(outcome);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[test]
    fn a_global_job_runs_once_per_active_node_and_logs_with_details() {
        let mut cluster = SimCluster::with_nodes(1, 2);
        cluster.node_mut("worker-1").unwrap().job = SimJob::Complete {
            stdout: "{\n  \"a\": 1\n}\n".into(),
            stderr: String::new(),
        };
        cluster.node_mut("worker-2").unwrap().job = SimJob::Fail {
            code: 1,
            stderr: "error: boom\n".into(),
        };
        let mut swarm = Swarm::new(&cluster);
        let spec = json!({"Name": "scan", "Mode": {"GlobalJob": {}},
                          "TaskTemplate": {"ContainerSpec": {"Image": "stigfix:1", "Labels": {"com.stigfix.scanner": "1"}}}});
        let (status, created) = json_of(
            swarm
                .answer(
                    &Method::POST,
                    "/services/create",
                    "",
                    spec.to_string().as_bytes(),
                )
                .unwrap(),
        );
        assert_eq!(status, 201);
        let id = created["ID"].as_str().unwrap().to_string();
        let query = format!("filters=%7B%22service%22%3A%5B%22{id}%22%5D%7D");
        let (_, first) = json_of(swarm.answer(&Method::GET, "/tasks", &query, b"").unwrap());
        assert_eq!(first.as_array().unwrap().len(), 3);
        assert!(
            first
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["Status"]["State"] == "running")
        );
        let (_, second) = json_of(swarm.answer(&Method::GET, "/tasks", &query, b"").unwrap());
        let states: Vec<&str> = second
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["Status"]["State"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["complete", "complete", "failed"]);
        let (_, logs) = body(
            swarm
                .answer(
                    &Method::GET,
                    &format!("/services/{id}/logs"),
                    "stdout=1&stderr=1&details=1",
                    b"",
                )
                .unwrap(),
        );
        assert_eq!(logs[0], 1);
        let size = u32::from_be_bytes([logs[4], logs[5], logs[6], logs[7]]) as usize;
        let first_line = String::from_utf8_lossy(&logs[8..8 + size]).into_owned();
        assert!(
            first_line.starts_with("com.docker.swarm.node.id="),
            "{first_line}"
        );
        assert!(first_line.ends_with(" {\n"), "{first_line}");
        let (status, _) = json_of(
            swarm
                .answer(&Method::DELETE, &format!("/services/{id}"), "", b"")
                .unwrap(),
        );
        assert_eq!(status, 200);
        let (_, services) = json_of(
            swarm
                .answer(
                    &Method::GET,
                    "/services",
                    "filters=%7B%22label%22%3A%5B%22com.stigfix.scanner%22%5D%7D",
                    b"",
                )
                .unwrap(),
        );
        assert_eq!(services, json!([]));
    }

    #[test]
    fn node_updates_are_versioned_and_a_drain_moves_tasks_off() {
        let cluster = SimCluster::with_nodes(1, 1);
        let mut swarm = Swarm::new(&cluster);
        let worker = cluster.nodes[1].id();
        let spec = json!({"Role": "worker", "Availability": "drain", "Labels": {}}).to_string();
        let (status, _) = json_of(
            swarm
                .answer(
                    &Method::POST,
                    &format!("/nodes/{worker}/update"),
                    "version=9",
                    spec.as_bytes(),
                )
                .unwrap(),
        );
        assert_eq!(status, 500, "a stale version is refused");
        let (status, _) = json_of(
            swarm
                .answer(
                    &Method::POST,
                    &format!("/nodes/{worker}/update"),
                    "version=10",
                    spec.as_bytes(),
                )
                .unwrap(),
        );
        assert_eq!(status, 200);
        let (_, node) = json_of(
            swarm
                .answer(&Method::GET, &format!("/nodes/{worker}"), "", b"")
                .unwrap(),
        );
        assert_eq!(node["Spec"]["Availability"], "drain");
        assert_eq!(node["Version"]["Index"], 101);
        let query = format!(
            "filters={}",
            json!({"node": [worker], "desired-state": ["running"]})
        );
        let (_, tasks) = json_of(swarm.answer(&Method::GET, "/tasks", &query, b"").unwrap());
        assert_eq!(tasks, json!([]));
    }

    #[test]
    fn a_restart_file_takes_the_node_down_for_a_while_or_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = SimCluster::with_nodes(1, 2);
        for (name, back) in [("worker-1", true), ("worker-2", false)] {
            let node = cluster.node_mut(name).unwrap();
            node.restart_file = Some(dir.path().join(name));
            node.comes_back = back;
        }
        let mut swarm = Swarm::new(&cluster);
        let states = |swarm: &mut Swarm| -> Vec<String> {
            let (_, nodes) = json_of(swarm.answer(&Method::GET, "/nodes", "", b"").unwrap());
            nodes
                .as_array()
                .unwrap()
                .iter()
                .map(|node| node["Status"]["State"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(states(&mut swarm), ["ready", "ready", "ready"]);
        std::fs::write(dir.path().join("worker-1"), "").unwrap();
        std::fs::write(dir.path().join("worker-2"), "").unwrap();
        assert_eq!(states(&mut swarm), ["ready", "down", "down"]);
        assert_eq!(states(&mut swarm), ["ready", "down", "down"]);
        assert_eq!(states(&mut swarm), ["ready", "ready", "down"]);
        assert!(!dir.path().join("worker-1").exists());
        assert_eq!(states(&mut swarm), ["ready", "ready", "down"]);
    }
}
