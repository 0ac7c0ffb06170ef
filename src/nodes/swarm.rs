//! The Swarm API through UCP/MKE (reference/next-phase.md §1.3: UCP proxies the Docker Engine
//! API of its managers under the login's bearer token): nodes, a service and its tasks and logs,
//! a node's availability and labels. Paths carry API version 1.41 (Docker Engine 20.10), the
//! first with `global-job` services; an older Engine refuses them and the error says so.

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::http::session::UcpSession;

const JSON: &str = "application/json";
/// The API version of every request.
pub const API: &str = "/v1.41";

/// A node of the swarm, as `GET /nodes` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// `Description.Hostname`: how reports name the node.
    pub hostname: String,
    pub manager: bool,
    pub leader: bool,
    /// `Spec.Availability`: `active`, `pause` or `drain`.
    pub availability: String,
    /// `Status.State`: `ready`, `down`, `unknown`, `disconnected`.
    pub state: String,
    /// `ManagerStatus.Reachability` of a manager: `reachable`, `unreachable`, `unknown`.
    pub reachability: Option<String>,
    /// `Status.Addr`.
    pub address: String,
    /// `Version.Index`, which an update must name.
    pub version: u64,
    pub role: String,
    pub labels: Map<String, Value>,
    /// `Description.Platform.OS`.
    pub os: String,
    /// `Description.Engine.EngineVersion`.
    pub engine: Option<String>,
}

impl Node {
    pub fn parse(value: &Value) -> Option<Node> {
        let text = |pointer: &str| {
            value
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let id = value.get("ID")?.as_str()?.to_string();
        let role = text("/Spec/Role");
        Some(Node {
            hostname: match text("/Description/Hostname") {
                name if name.is_empty() => id.clone(),
                name => name,
            },
            manager: role == "manager",
            leader: value
                .pointer("/ManagerStatus/Leader")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            availability: text("/Spec/Availability"),
            state: text("/Status/State"),
            reachability: value
                .pointer("/ManagerStatus/Reachability")
                .and_then(Value::as_str)
                .map(str::to_string),
            address: text("/Status/Addr"),
            version: value
                .pointer("/Version/Index")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            labels: value
                .pointer("/Spec/Labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            os: text("/Description/Platform/OS"),
            engine: value
                .pointer("/Description/Engine/EngineVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            role,
            id,
        })
    }

    /// Ready, and taking tasks.
    pub fn schedulable(&self) -> bool {
        self.state == "ready" && self.availability == "active"
    }
}

/// A task, as `GET /tasks` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub node: String,
    /// `Status.State`.
    pub state: String,
    /// `Status.Err`.
    pub error: Option<String>,
    pub exit_code: Option<i64>,
    pub desired: String,
    /// `Version.Index`: the later of two tasks on a node.
    pub version: u64,
}

impl Task {
    fn parse(value: &Value) -> Option<Task> {
        let text = |pointer: &str| {
            value
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(Task {
            id: value.get("ID")?.as_str()?.to_string(),
            node: text("/NodeID"),
            state: text("/Status/State"),
            error: value
                .pointer("/Status/Err")
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_string),
            exit_code: value
                .pointer("/Status/ContainerStatus/ExitCode")
                .and_then(Value::as_i64),
            desired: text("/DesiredState"),
            version: value
                .pointer("/Version/Index")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }

    /// A state a task does not leave.
    pub fn finished(&self) -> bool {
        matches!(
            self.state.as_str(),
            "complete" | "failed" | "rejected" | "shutdown" | "orphaned" | "remove"
        )
    }

    /// Running or about to (what a drain waits to see gone).
    pub fn live(&self) -> bool {
        !self.finished() && self.desired == "running"
    }
}

/// `filters={"key":["value"]}`, query-escaped.
fn filter(key: &str, values: &[&str]) -> String {
    let json = serde_json::json!({ key: values }).to_string();
    let mut out = String::from("filters=");
    for byte in json.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The API's refusal of version 1.41 (an Engine older than 20.10), made plain.
fn explain(error: Error) -> Error {
    if error.message().contains("too new") {
        error.with_hint("`stigfix nodes` needs Docker Engine 20.10 or later on the managers (API 1.41: global-job services)")
    } else {
        error
    }
}

/// A read: its JSON, or an error naming the URL.
async fn get(session: &UcpSession, path: &str) -> Result<Value> {
    let api = session.api();
    let answer = session.get(path, JSON).await?;
    let answer = api.success("GET", path, answer).map_err(explain)?;
    api.json(path, &answer)
}

/// A write: its answer's JSON (`null` when it has none), or an error naming the URL.
async fn write(
    session: &UcpSession,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> Result<Value> {
    let api = session.api();
    let name = method.to_string();
    let answer = session
        .send(method, path, JSON, body.map(|body| (body, JSON)))
        .await
        .map_err(|error| error.into_error("Swarm request", &name))?;
    let answer = api.success(&name, path, answer).map_err(explain)?;
    Ok(serde_json::from_str(&answer.body).unwrap_or(Value::Null))
}

/// Every node.
pub async fn nodes(session: &UcpSession) -> Result<Vec<Node>> {
    let path = format!("{API}/nodes");
    let value = get(session, &path).await?;
    let nodes: Vec<Node> = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Node::parse)
        .collect();
    if nodes.is_empty() {
        return Err(Error::new(format!(
            "GET {} listed no Swarm node",
            session.api().url(&path)
        ))
        .with_hint("`stigfix nodes` runs on a UCP/MKE cluster with Swarm"));
    }
    Ok(nodes)
}

/// One node, by ID.
pub async fn node(session: &UcpSession, id: &str) -> Result<Node> {
    let path = format!("{API}/nodes/{id}");
    let value = get(session, &path).await?;
    Node::parse(&value).ok_or_else(|| {
        Error::new(format!(
            "GET {} answered JSON that is not a node",
            session.api().url(&path)
        ))
    })
}

/// Set a node's availability and labels, as of `node.version` (Swarm refuses an update made
/// against an older version: somebody else changed the node meanwhile).
pub async fn update_node(
    session: &UcpSession,
    node: &Node,
    availability: &str,
    labels: &Map<String, Value>,
) -> Result<()> {
    let path = format!("{API}/nodes/{}/update?version={}", node.id, node.version);
    let spec = serde_json::json!({
        "Role": node.role,
        "Availability": availability,
        "Labels": labels,
    });
    write(session, Method::POST, &path, Some(&spec.to_string()))
        .await
        .map(|_| ())
        .map_err(|error| error.context(format!("node {}", node.hostname)))
}

/// Create a service; its ID.
pub async fn create_service(session: &UcpSession, spec: &Value) -> Result<String> {
    let path = format!("{API}/services/create");
    let value = write(session, Method::POST, &path, Some(&spec.to_string())).await?;
    value
        .get("ID")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::new(format!(
                "POST {} answered without the new service's ID",
                session.api().url(&path)
            ))
        })
}

/// Remove a service (one already gone is fine).
pub async fn remove_service(session: &UcpSession, id: &str) -> Result<()> {
    let path = format!("{API}/services/{id}");
    let api = session.api();
    let answer = session
        .send(Method::DELETE, &path, JSON, None)
        .await
        .map_err(|error| error.into_error("Swarm request", "DELETE"))?;
    if answer.status == StatusCode::NOT_FOUND {
        return Ok(());
    }
    api.success("DELETE", &path, answer).map(|_| ())
}

/// The IDs and names of the services with a label.
pub async fn services_labelled(session: &UcpSession, label: &str) -> Result<Vec<(String, String)>> {
    let path = format!("{API}/services?{}", filter("label", &[label]));
    let value = get(session, &path).await?;
    Ok(value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|service| {
            Some((
                service.get("ID")?.as_str()?.to_string(),
                service.pointer("/Spec/Name")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// The tasks of a service.
pub async fn service_tasks(session: &UcpSession, service: &str) -> Result<Vec<Task>> {
    tasks(session, &filter("service", &[service])).await
}

/// The tasks on a node that run or are meant to.
pub async fn node_tasks(session: &UcpSession, node: &str) -> Result<Vec<Task>> {
    Ok(tasks(session, &filter("node", &[node]))
        .await?
        .into_iter()
        .filter(Task::live)
        .collect())
}

async fn tasks(session: &UcpSession, query: &str) -> Result<Vec<Task>> {
    let path = format!("{API}/tasks?{query}");
    let value = get(session, &path).await?;
    Ok(value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Task::parse)
        .collect())
}

/// A service's logs: Docker's multiplexed stream, every line with its task's attributes.
pub async fn service_logs(session: &UcpSession, service: &str) -> Result<Vec<u8>> {
    let path = format!("{API}/services/{service}/logs?stdout=1&stderr=1&details=1");
    let api = session.api();
    let answer = session
        .send_raw(
            Method::GET,
            &path,
            "application/vnd.docker.multiplexed-stream",
            None,
        )
        .await
        .map_err(|error| error.into_error("Swarm request", "GET"))?;
    if !answer.status.is_success() {
        let text = crate::http::api::Answer {
            status: answer.status,
            next_page: None,
            body: String::from_utf8_lossy(&answer.body).into_owned(),
        };
        return Err(api.status_error("GET", &path, &text));
    }
    Ok(answer.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_escaped_json() {
        assert_eq!(
            filter("label", &["com.stigfix.scanner"]),
            "filters=%7B%22label%22%3A%5B%22com.stigfix.scanner%22%5D%7D"
        );
    }

    #[test]
    fn nodes_and_tasks_parse() {
        let node = Node::parse(&serde_json::json!({
            "ID": "n1", "Version": {"Index": 12},
            "Spec": {"Role": "manager", "Availability": "active", "Labels": {"a": "b"}},
            "Description": {"Hostname": "m1", "Platform": {"OS": "linux"}, "Engine": {"EngineVersion": "23.0.15"}},
            "Status": {"State": "ready", "Addr": "10.0.0.1"},
            "ManagerStatus": {"Leader": true, "Reachability": "reachable"}
        }))
        .unwrap();
        assert!(node.manager && node.leader && node.schedulable());
        assert_eq!(node.version, 12);
        assert_eq!(node.engine.as_deref(), Some("23.0.15"));
        let task = Task::parse(&serde_json::json!({
            "ID": "t", "NodeID": "n1", "DesiredState": "complete", "Version": {"Index": 3},
            "Status": {"State": "failed", "Err": "task: non-zero exit (1)", "ContainerStatus": {"ExitCode": 1}}
        }))
        .unwrap();
        assert!(task.finished() && !task.live());
        assert_eq!(task.exit_code, Some(1));
    }
}
