//! The scanner: one Swarm `global-job` service (API 1.41) whose task on every node runs the
//! stigfix image with the node's `/` bind-mounted read-only at `/host`, waited for within a
//! bound, its output read back from the service's logs, and the service removed — also when
//! the wait fails or the run is interrupted (Ctrl-C, SIGTERM).
//!
//! The task is as small as a container can be made through a Swarm `ContainerSpec` (which has
//! no privileged mode and no host namespaces, reference/next-phase.md §3.5): read-only root
//! file system, every capability dropped but `CAP_DAC_READ_SEARCH` (to read root-only files
//! under `/host`), a memory limit, no restart, no network of its own, the `json-file` log
//! driver whatever the node's default (a node logging to syslog, as the STIG asks, keeps no log
//! a service's logs could be read back from), and the label `com.stigfix.scanner=1` on the
//! service and its containers, which the workload rules exclude and name.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use super::stream;
use super::swarm::{self, Node, Task};
use crate::error::{Error, Result};
use crate::http::session::UcpSession;
use crate::output::Output;

/// The label of the scanner's service and containers (the workload target excludes it).
pub const LABEL: &str = "com.stigfix.scanner";
/// Where the node's root is mounted in the task.
pub const HOST: &str = "/host";

/// What to run and how long to wait.
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub image: String,
    /// stigfix's arguments in the task.
    pub args: Vec<String>,
    /// How long every node has to report.
    pub wait: Duration,
    /// Pause between two looks at the tasks.
    pub poll: Duration,
}

/// What a node gave back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Its task completed: what it wrote.
    Output { stdout: Vec<u8>, stderr: Vec<u8> },
    /// It did not report: why, and what to do.
    Failed(String),
    /// The job does not run there (drained or paused, another OS): why.
    Skipped(String),
}

/// A node and its reply.
#[derive(Clone, Debug)]
pub struct NodeReply {
    pub node: Node,
    pub reply: Reply,
}

/// The service: a global job of `spec.image` running `spec.args` on every Linux node.
pub fn service_spec(name: &str, spec: &JobSpec) -> Value {
    json!({
        "Name": name,
        "Labels": { LABEL: "1" },
        "Mode": { "GlobalJob": {} },
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": spec.image,
                "Args": spec.args,
                "Labels": { LABEL: "1" },
                "Mounts": [{ "Type": "bind", "Source": "/", "Target": HOST, "ReadOnly": true }],
                "ReadOnly": true,
                "CapabilityDrop": ["ALL"],
                "CapabilityAdd": ["CAP_DAC_READ_SEARCH"],
                "Env": ["NO_COLOR=1"]
            },
            "Resources": { "Limits": { "MemoryBytes": 512u64 * 1024 * 1024 } },
            "RestartPolicy": { "Condition": "none", "MaxAttempts": 0 },
            "Placement": { "Constraints": ["node.platform.os==linux"] },
            "LogDriver": { "Name": "json-file", "Options": {} }
        }
    })
}

/// A service name no other run uses: `stigfix-scan-` and 8 hex digits.
fn service_name() -> String {
    let seed = format!("{} {:?}", std::process::id(), std::time::SystemTime::now());
    format!(
        "stigfix-scan-{}",
        &crate::values::fingerprint(seed.as_bytes())[7..15]
    )
}

/// Whether the job runs on `node`; `Err` with why not.
fn takes_job(node: &Node) -> std::result::Result<(), Reply> {
    if !node.os.is_empty() && node.os != "linux" {
        return Err(Reply::Skipped(format!(
            "not scanned: a {} node (the scanner is a Linux image)",
            node.os
        )));
    }
    if node.availability != "active" {
        return Err(Reply::Skipped(format!(
            "not scanned: its availability is {} (Swarm runs no task there; scan it when it is active again)",
            node.availability
        )));
    }
    if node.state != "ready" {
        return Err(Reply::Failed(format!(
            "not scanned: the node is {} (Swarm runs no task there)",
            node.state
        )));
    }
    Ok(())
}

/// Resolves when Ctrl-C or SIGTERM arrives (never, when the handlers cannot be installed).
async fn interrupted() {
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// Run the job on `nodes` and collect every node's reply; the service is removed before this
/// returns, whatever happened.
pub async fn run(
    session: &UcpSession,
    nodes: &[Node],
    spec: &JobSpec,
    output: &Output,
) -> Result<Vec<NodeReply>> {
    for (_, name) in swarm::services_labelled(session, LABEL).await? {
        output.warn(&format!(
            "the scanner service {name} of an earlier run is still there (label {LABEL}); remove it with `docker service rm {name}` unless a stigfix nodes run is using it"
        ));
    }
    let name = service_name();
    let id = swarm::create_service(session, &service_spec(&name, spec))
        .await
        .map_err(|error| error.context(format!("creating the scanner service {name}")))?;
    output.status(&format!(
        "Created the scanner service {name} (global job, image {}); it is removed when the run ends",
        spec.image
    ));
    let outcome = tokio::select! {
        result = collect(session, &id, nodes, spec, output) => result,
        () = interrupted() => Err(Error::interrupted()),
    };
    let removed = swarm::remove_service(session, &id).await;
    match (outcome, removed) {
        (Ok(replies), Ok(())) => Ok(replies),
        (Err(error), Ok(())) => {
            Err(error.context(format!("the scanner service {name} was removed")))
        }
        (_, Err(error)) => Err(error
            .context(format!("the scanner service {name} could not be removed"))
            .with_hint(format!("remove it with `docker service rm {name}`"))),
    }
}

/// Wait for every node's task to end (within `spec.wait`), then read the logs.
async fn collect(
    session: &UcpSession,
    service: &str,
    nodes: &[Node],
    spec: &JobSpec,
    output: &Output,
) -> Result<Vec<NodeReply>> {
    let expected: Vec<&Node> = nodes
        .iter()
        .filter(|node| takes_job(node).is_ok())
        .collect();
    let spinner = output.spinner(&format!("waiting for {} node(s) to report", expected.len()));
    let deadline = Instant::now() + spec.wait;
    let latest = loop {
        let tasks = swarm::service_tasks(session, service).await?;
        let latest = latest_per_node(tasks);
        let pending = expected
            .iter()
            .filter(|node| latest.get(&node.id).is_none_or(|task| !task.finished()))
            .count();
        spinner.set_message(format!(
            "waiting for {pending} of {} node(s) to report",
            expected.len()
        ));
        if pending == 0 || Instant::now() >= deadline {
            break latest;
        }
        tokio::time::sleep(spec.poll).await;
    };
    spinner.finish_and_clear();
    let logs = if latest.values().any(|task| task.finished()) {
        let body = swarm::service_logs(session, service).await?;
        stream::by_task(&body).map_err(|why| {
            Error::new(format!(
                "the logs of the scanner service cannot be read: {why}"
            ))
        })?
    } else {
        BTreeMap::new()
    };
    let waited = spec.wait.as_secs();
    Ok(nodes
        .iter()
        .map(|node| {
            let reply = match takes_job(node) {
                Err(reply) => reply,
                Ok(()) => match latest.get(&node.id) {
                    None => Reply::Failed(format!(
                        "no task was scheduled on it within {waited}s (a placement constraint of UCP/MKE? admin workloads on managers need `enable_admin_ucp_scheduling`)"
                    )),
                    Some(task) => reply_of(task, logs.get(&task.id), waited),
                },
            };
            NodeReply {
                node: node.clone(),
                reply,
            }
        })
        .collect())
}

/// The latest task of each node.
fn latest_per_node(tasks: Vec<Task>) -> BTreeMap<String, Task> {
    let mut latest: BTreeMap<String, Task> = BTreeMap::new();
    for task in tasks {
        match latest.get(&task.node) {
            Some(seen) if seen.version > task.version => {}
            _ => {
                latest.insert(task.node.clone(), task);
            }
        }
    }
    latest
}

/// The last lines a task wrote to stderr, as one line.
fn last_words(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    lines[lines.len().saturating_sub(2)..].join(" / ")
}

fn reply_of(task: &Task, logs: Option<&stream::TaskOutput>, waited: u64) -> Reply {
    let said = logs
        .map(|output| last_words(&output.stderr))
        .filter(|words| !words.is_empty())
        .map(|words| format!(": {words}"))
        .unwrap_or_default();
    match task.state.as_str() {
        "complete" => Reply::Output {
            stdout: logs.map(|output| output.stdout.clone()).unwrap_or_default(),
            stderr: logs.map(|output| output.stderr.clone()).unwrap_or_default(),
        },
        "failed" => Reply::Failed(format!(
            "its task failed ({}){said}",
            task.error.as_deref().unwrap_or("no reason given")
        )),
        "rejected" => {
            let why = task.error.as_deref().unwrap_or("no reason given");
            let hint = if why.to_ascii_lowercase().contains("no such image") {
                " — load the image on every node (`docker load -i`) or push it to the registry and pass --image"
            } else {
                ""
            };
            Reply::Failed(format!("its task was rejected ({why}){hint}"))
        }
        state if task.finished() => Reply::Failed(format!("its task ended `{state}`{said}")),
        state => Reply::Failed(format!(
            "did not report within {waited}s (its task is `{state}`; --wait gives it longer)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(state: &str, availability: &str) -> Node {
        Node::parse(&json!({
            "ID": "n", "Spec": {"Role": "worker", "Availability": availability},
            "Description": {"Hostname": "w", "Platform": {"OS": "linux"}},
            "Status": {"State": state}
        }))
        .unwrap()
    }

    #[test]
    fn the_service_is_a_labelled_read_only_global_job() {
        let spec = JobSpec {
            image: "stigfix:0.1.0".into(),
            args: vec!["plan".into()],
            wait: Duration::from_secs(1),
            poll: Duration::from_secs(1),
        };
        let service = service_spec("stigfix-scan-1", &spec);
        assert_eq!(service["Mode"], json!({"GlobalJob": {}}));
        assert_eq!(service["Labels"][LABEL], "1");
        let container = &service["TaskTemplate"]["ContainerSpec"];
        assert_eq!(container["Labels"][LABEL], "1");
        assert_eq!(
            container["Mounts"][0],
            json!({"Type": "bind", "Source": "/", "Target": "/host", "ReadOnly": true})
        );
        assert_eq!(container["ReadOnly"], true);
        assert_eq!(
            service["TaskTemplate"]["RestartPolicy"]["Condition"],
            "none"
        );
        assert!(service_name().starts_with("stigfix-scan-"));
    }

    #[test]
    fn which_nodes_take_the_job() {
        assert!(takes_job(&node("ready", "active")).is_ok());
        assert!(matches!(
            takes_job(&node("ready", "drain")),
            Err(Reply::Skipped(_))
        ));
        assert!(matches!(
            takes_job(&node("down", "active")),
            Err(Reply::Failed(_))
        ));
    }

    #[test]
    fn replies_say_what_happened() {
        let task = |state: &str, error: Option<&str>| Task {
            id: "t".into(),
            node: "n".into(),
            state: state.into(),
            error: error.map(str::to_string),
            exit_code: None,
            desired: "complete".into(),
            version: 1,
        };
        let logs = stream::TaskOutput {
            node: "n".into(),
            stdout: b"{}".to_vec(),
            stderr: b"error: cannot read /host/etc\nhint: check it\n".to_vec(),
            daemon: Vec::new(),
        };
        assert_eq!(
            reply_of(&task("failed", Some("task: non-zero exit (1)")), Some(&logs), 5),
            Reply::Failed(
                "its task failed (task: non-zero exit (1)): error: cannot read /host/etc / hint: check it"
                    .into()
            )
        );
        let Reply::Failed(rejected) = reply_of(
            &task("rejected", Some("No such image: stigfix:0.1.0")),
            None,
            5,
        ) else {
            panic!("failed");
        };
        assert!(rejected.contains("docker load"), "{rejected}");
        let Reply::Failed(slow) = reply_of(&task("running", None), None, 5) else {
            panic!("failed");
        };
        assert!(slow.contains("within 5s"), "{slow}");
        assert!(matches!(
            reply_of(&task("complete", None), Some(&logs), 5),
            Reply::Output { .. }
        ));
    }

    #[test]
    fn the_latest_task_of_a_node_counts() {
        let task = |id: &str, version: u64| Task {
            id: id.into(),
            node: "n".into(),
            state: "complete".into(),
            error: None,
            exit_code: None,
            desired: "complete".into(),
            version,
        };
        let latest = latest_per_node(vec![task("old", 1), task("new", 3), task("mid", 2)]);
        assert_eq!(latest["n"].id, "new");
    }
}
