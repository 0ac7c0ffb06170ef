//! PROXY mode: the simulated UCP forwards the Engine API reads to a real Docker Engine (HTTP/1.1
//! over its unix socket) the way UCP forwards them to its nodes, so stigfix's workload checks
//! are judged against what a real daemon reports. The Engine stands for a one-node cluster:
//! container names get the node's prefix (`/<node>/<name>`, the node being the Engine's `Name`)
//! and an inspect gets `Node` with a `HostIp` of `0.0.0.0` read as the node's address, as
//! classic Swarm does. `/info` is passed through as the Engine's own: a one-node cluster's node
//! (UCP itself would answer for the whole cluster), so the node's daemon-wide options are seen.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::cluster::rewrite_wildcard;
use crate::sim::{Outcome, error_reply, text_reply};

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

/// `GET path_and_query` on a unix socket: status and body.
async fn get(socket: &Path, path_and_query: &str) -> Result<(StatusCode, Bytes), String> {
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|error| format!("connect to {}: {error}", socket.display()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| format!("HTTP handshake on {}: {error}", socket.display()))?;
    tokio::spawn(connection);
    let request = Request::get(path_and_query)
        .header("host", "docker")
        .header("accept", "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|error| error.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|error| format!("GET {path_and_query}: {error}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("GET {path_and_query}: reading the body: {error}"))?
        .to_bytes();
    Ok((status, body))
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
                let (status, body) = get(&self.socket, "/info").await?;
                let info: Value = serde_json::from_slice(&body).map_err(|error| {
                    format!("GET /info answered {status} with no JSON: {error}")
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

    /// Forward one read and reshape its answer as UCP's.
    pub(crate) async fn answer(&self, path: &str, query: &str) -> Outcome {
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
        let (status, body) = match get(&self.socket, &target).await {
            Ok(answer) => answer,
            Err(why) => return unreachable(why),
        };
        let reshaped = if status.is_success() {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|value| reshape(path, value, &node))
        } else {
            None
        };
        let body = match reshaped {
            Some(value) => value.to_string(),
            None => String::from_utf8_lossy(&body).into_owned(),
        };
        Outcome::Reply(Box::new(text_reply(status, "application/json", &body)))
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
