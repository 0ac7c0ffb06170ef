//! The reads, through the UCP session (the Docker Engine API that UCP/MKE proxies for the whole
//! cluster, reference/next-phase.md §1.3): the container list, nodes, services, tasks, `/info`
//! and `/version` at once, then one inspect per user container, at most `concurrency` in
//! flight. The Engine's lists have no paging (`limit` returns the newest N only), so that is
//! one list and N inspects: `(1 + N / concurrency)` round trips. Nothing is ever written.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use super::cluster::{Class, Listed, Nodes, Service};
use super::container;
use super::live::{Inspected, Reads};
use crate::error::{Error, Result};
use crate::http::api::Answer;
use crate::http::session::UcpSession;

const JSON: &str = "application/json";
pub const LIST: &str = "/containers/json?all=1";

/// A read that may be missing: Swarm off (`503 This node is not a swarm manager`) or a path the
/// server does not have; `Err` for refused credentials, which no later read would pass.
fn optional(
    session: &UcpSession,
    path: &str,
    answer: Answer,
) -> Result<std::result::Result<Value, String>> {
    let api = session.api();
    match answer.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Err(api.status_error("GET", path, &answer))
        }
        status if status.is_success() => {
            Ok(api.json(path, &answer).map_err(|error| error.message()))
        }
        _ => Ok(Err(api.status_error("GET", path, &answer).message())),
    }
}

/// One container's inspect: `Ok(None)` when it is gone (404), `Err(why)` when it cannot be read.
async fn inspect(session: &UcpSession, id: &str) -> std::result::Result<Option<Value>, String> {
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!("the container list gave an unusable ID `{id}`"));
    }
    let path = format!("/containers/{id}/json");
    let answer = session
        .get(&path, JSON)
        .await
        .map_err(|error| error.message())?;
    let api = session.api();
    match answer.status {
        StatusCode::NOT_FOUND => Ok(None),
        status if status.is_success() => container::parse_inspect(&answer.body)
            .map(Some)
            .map_err(|error| format!("GET {} answered malformed JSON ({error})", api.url(&path))),
        _ => Err(api.status_error("GET", &path, &answer).message()),
    }
}

/// Everything the workload target reads.
pub async fn read(session: &UcpSession, concurrency: usize) -> Result<Reads> {
    let api = session.api();
    let (version, list, nodes, services, tasks, info) = tokio::join!(
        session.get("/version", JSON),
        session.get(LIST, JSON),
        session.get("/nodes", JSON),
        session.get("/services", JSON),
        session.get("/tasks", JSON),
        session.get("/info", JSON),
    );
    let list = api.success("GET", LIST, list?)?;
    let list = api.json(LIST, &list)?;
    let entries = list.as_array().ok_or_else(|| {
        Error::new(format!(
            "GET {} answered JSON that is not a list of containers; nothing was written",
            api.url(LIST)
        ))
    })?;
    let mut reads = Reads {
        listed: entries.iter().filter_map(Listed::parse).collect(),
        ..Reads::default()
    };
    let version = version?;
    if version.status.is_success() {
        reads.product = crate::targets::ucp::product(&version.body, api.base())?;
    }
    let mut nodes_read = Nodes::default();
    match optional(session, "/nodes", nodes?)? {
        Ok(value) => nodes_read.add_swarm_nodes(&value),
        Err(why) => reads.gaps.push(format!("nodes not read: {why}")),
    }
    match optional(session, "/info", info?)? {
        Ok(value) => nodes_read.add_info(&value),
        Err(why) => {
            nodes_read.why_unknown = Some(format!("GET /info could not be read: {why}"));
            reads.gaps.push(format!("daemon defaults not read: {why}"));
        }
    }
    reads.nodes = nodes_read;
    match optional(session, "/services", services?)? {
        Ok(value) => {
            reads.services = value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Service::parse)
                .collect();
        }
        Err(why) => reads.gaps.push(format!("Swarm services not read: {why}")),
    }
    match optional(session, "/tasks", tasks?)? {
        Ok(value) => {
            for task in value.as_array().into_iter().flatten() {
                if let (Some(container), Some(service)) = (
                    task.pointer("/Status/ContainerStatus/ContainerID")
                        .and_then(Value::as_str),
                    task.get("ServiceID").and_then(Value::as_str),
                ) {
                    reads
                        .task_services
                        .insert(container.to_string(), service.to_string());
                }
            }
        }
        Err(why) => reads.gaps.push(format!("Swarm tasks not read: {why}")),
    }
    let wanted: Vec<Listed> = reads
        .listed
        .iter()
        .filter(|listed| !matches!(listed.class(), Class::System(_)))
        .cloned()
        .collect();
    let nodes = &reads.nodes;
    let inspected: Vec<(String, Inspected)> = futures_util::stream::iter(wanted)
        .map(|listed| async move {
            let answer = inspect(session, &listed.id).await;
            let inspected = Inspected::of(&listed, nodes, answer);
            (listed.id, inspected)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    reads.inspected = inspected.into_iter().collect();
    Ok(reads)
}
