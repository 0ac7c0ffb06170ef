//! PROXY mode: the simulated UCP forwards the Engine API requests to a real Docker Engine
//! (HTTP/1.1 over its unix socket) the way UCP forwards them to its nodes, so stigfix's workload
//! checks are judged against what a real daemon reports and `stigfix nodes` runs its jobs on a
//! real swarm. Writes (a service, a node update) and service logs (a binary stream) pass
//! through as they are. The Engine stands for a one-node cluster:
//! container names get the node's prefix (`/<node>/<name>`, the node being the Engine's `Name`)
//! and an inspect gets `Node` with a `HostIp` of `0.0.0.0` read as the node's address, as
//! classic Swarm does. `/info` is passed through as the Engine's own: a one-node cluster's node
//! (UCP itself would answer for the whole cluster), so the node's daemon-wide options are seen.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::cluster::rewrite_wildcard;
use crate::sim::{Outcome, error_reply};

/// The Engine's node, as its `/info` names it.
#[derive(Clone, Debug)]
struct Node {
    name: String,
    id: String,
    address: String,
}

pub(crate) struct Proxy {
    socket: PathBuf,
    node: OnceCell<Node>,
}

/// An answer of the Engine: status, content type and body.
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    body: Bytes,
}

/// `method path_and_query` (with `body`, JSON) on a unix socket.
async fn request(
    socket: &Path,
    method: Method,
    path_and_query: &str,
    body: Bytes,
) -> Result<Answer, String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|error| format!("connect to {}: {error}", socket.display()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP handshake on {}: {error}", socket.display()))?;
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(path_and_query)
        .header("host", "docker")
        .header("accept", "application/json");
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder
        .body(Full::new(body))
        .map_err(|error| error.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| format!("{method} {path_and_query}: {error}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("{method} {path_and_query}: reading the body: {error}"))?
        .to_bytes();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

async fn get(socket: &Path, path_and_query: &str) -> Result<Answer, String> {
    request(socket, Method::GET, path_and_query, Bytes::new()).await
}

impl Proxy {
    pub(crate) fn new(socket: PathBuf) -> Proxy {
        Proxy {
            socket,
            node: OnceCell::new(),
        }
    }

    async fn node(&self) -> Result<&Node, String> {
        self.node
            .get_or_try_init(|| async {
                let answer = get(&self.socket, "/info").await?;
                let info: Value = serde_json::from_slice(&answer.body).map_err(|error| {
                    format!("GET /info answered {} with no JSON: {error}", answer.status)
                })?;
                let text = |pointer: &str| {
                    info.pointer(pointer)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let address = match text("/Swarm/NodeAddr") {
                    address if address.is_empty() => "127.0.0.1".to_string(),
                    address => address,
                };
                Ok(Node {
                    name: text("/Name"),
                    id: text("/Swarm/NodeID"),
                    address,
                })
            })
            .await
    }

    /// Forward one request and reshape a read's answer as UCP's.
    pub(crate) async fn answer(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Bytes,
    ) -> Outcome {
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let unreachable = |why: String| {
            error_reply(
                StatusCode::BAD_GATEWAY,
                "BAD_GATEWAY",
                &format!("the Docker Engine behind the simulator did not answer: {why}"),
            )
        };
        let node = match self.node().await {
            Ok(node) => node.clone(),
            Err(why) => return unreachable(why),
        };
        let answer = match request(&self.socket, method.clone(), &target, body).await {
            Ok(answer) => answer,
            Err(why) => return unreachable(why),
        };
        let reshaped = if method == Method::GET && answer.status.is_success() {
            serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|value| reshape(path, value, &node))
        } else {
            None
        };
        let body = match reshaped {
            Some(value) => Bytes::from(value.to_string()),
            None => answer.body,
        };
        let mut response = hyper::Response::new(Full::new(body));
        *response.status_mut() = answer.status;
        let content_type = answer
            .content_type
            .and_then(|text| hyper::header::HeaderValue::from_str(&text).ok());
        if let Some(content_type) = content_type {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, content_type);
        }
        Outcome::Reply(Box::new(response))
    }
}

/// UCP's changes to an Engine answer; `None` where it passes the answer as it is.
fn reshape(path: &str, mut value: Value, node: &Node) -> Option<Value> {
    if path == "/containers/json" {
        for entry in value.as_array_mut()? {
            if let Some(names) = entry.get_mut("Names").and_then(Value::as_array_mut) {
                for name in names {
                    if let Some(text) = name.as_str() {
                        *name = Value::String(format!("/{}{text}", node.name));
                    }
                }
            }
        }
        rewrite_wildcard(&mut value, &node.address);
        return Some(value);
    }
    if path.starts_with("/containers/") {
        let object = value.as_object_mut()?;
        object.insert(
            "Node".into(),
            json!({"ID": node.id, "IP": node.address, "Addr": format!("{}:12376", node.address), "Name": node.name}),
        );
        rewrite_wildcard(&mut value, &node.address);
        return Some(value);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_the_node_and_inspects_the_node_field() {
        let node = Node {
            name: "vm".into(),
            id: "abc".into(),
            address: "10.1.2.3".into(),
        };
        let list = reshape(
            "/containers/json",
            json!([{"Names": ["/web"], "Ports": [{"IP": "0.0.0.0", "PublicPort": 80}]}]),
            &node,
        )
        .unwrap();
        assert_eq!(list[0]["Names"][0], "/vm/web");
        let inspect = reshape(
            "/containers/0123/json",
            json!({"Name": "/web", "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"}, {"HostIp": "", "HostPort": "81"}]}}}),
            &node,
        )
        .unwrap();
        assert_eq!(inspect["Node"]["Name"], "vm");
        assert_eq!(
            inspect["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"],
            "10.1.2.3"
        );
        assert_eq!(
            inspect["HostConfig"]["PortBindings"]["80/tcp"][1]["HostIp"],
            ""
        );
        assert!(reshape("/info", json!({"Name": "vm"}), &node).is_none());
    }
}
