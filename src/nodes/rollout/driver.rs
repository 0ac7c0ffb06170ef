//! The thin driver of a rollout: it looks at the cluster through the UCP API (`GET /nodes`, the
//! live tasks of each drained node), feeds what it saw to the state machine
//! ([`super::machine`]) and carries out what it answers — a node update (`drain` / `active`,
//! against the node's current version, its labels kept) or the operator's command for a node,
//! run here in its own process group (a Ctrl-C at the terminal stops the rollout, not a
//! restart half-way), bounded by the node timeout.
//!
//! Two rollouts never interleave: the rollout holds a lock in the cluster itself, the label
//! `com.stigfix.rollout` on the leader manager, set with Swarm's versioned update (two runs
//! racing for it: one update is refused as out of sequence) and removed at the end.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

use super::machine::{Action, Event, Phase, Rollout};
use crate::error::{Error, Result};
use crate::http::session::UcpSession;
use crate::nodes::swarm::{self, Node};
use crate::output::Output;

/// The label that locks the cluster for one rollout.
pub const LOCK: &str = "com.stigfix.rollout";

/// How a rollout is run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The command run for each node (`sh -c`), with `{node}`, `{address}` and `{id}` replaced.
    pub command: String,
    pub limits: super::machine::Limits,
    /// Pause between two looks at the cluster.
    pub poll: Duration,
}

/// Only what a shell passes through as one word.
fn shell_safe(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// The command for `node`, or why it cannot be made.
pub fn command_for(template: &str, node: &Node) -> std::result::Result<String, String> {
    for (what, value) in [
        ("name", &node.hostname),
        ("address", &node.address),
        ("ID", &node.id),
    ] {
        if !shell_safe(value) {
            return Err(format!(
                "the node's {what} `{value}` is not safe to put in a shell command"
            ));
        }
    }
    Ok(template
        .replace("{node}", &node.hostname)
        .replace("{address}", &node.address)
        .replace("{id}", &node.id))
}

/// Run the command for `node`; `Err` with what went wrong.
async fn run_command(
    template: String,
    node: Node,
    timeout: Duration,
) -> std::result::Result<(), String> {
    let command = command_for(&template, &node)?;
    // Its output is not data: it goes to stderr with stigfix's own messages.
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .env("STIGFIX_NODE", &node.hostname)
        .env("STIGFIX_NODE_ADDRESS", &node.address)
        .env("STIGFIX_NODE_ID", &node.id)
        .env("STIGFIX_NODE_ROLE", &node.role)
        .stdin(Stdio::null())
        .stdout(stdout)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("cannot start `sh -c {command}`: {error}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("`{command}` exited with {status}")),
        Ok(Err(error)) => Err(format!("`{command}`: {error}")),
        Err(_) => {
            if let Some(pid) = child.id() {
                // The whole process group: `sh` and what it started (ssh).
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            let _ = child.kill().await;
            Err(format!(
                "`{command}` did not finish within {}s and was stopped",
                timeout.as_secs()
            ))
        }
    }
}

/// Who holds the lock: this machine, the process and when.
fn holder() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into());
    format!(
        "{host} pid {} since {}",
        std::process::id(),
        crate::settings::now_rfc3339()
    )
}

/// Take the lock on the leader manager; its node ID.
async fn lock(session: &UcpSession, nodes: &[Node]) -> Result<String> {
    let leader = nodes
        .iter()
        .find(|node| node.leader)
        .or_else(|| nodes.iter().find(|node| node.manager))
        .ok_or_else(|| Error::new("the cluster lists no manager to hold the rollout's lock"))?;
    let leader = swarm::node(session, &leader.id).await?;
    if let Some(holder) = leader.labels.get(LOCK) {
        return Err(Error::new(format!(
            "another rollout holds the cluster: label {LOCK}={} on node {}",
            holder.as_str().unwrap_or_default(),
            leader.hostname
        ))
        .with_hint(format!(
            "wait for it; if no rollout runs, remove the label: `docker node update --label-rm {LOCK} {}`",
            leader.hostname
        )));
    }
    let mut labels = leader.labels.clone();
    labels.insert(LOCK.to_string(), Value::String(holder()));
    swarm::update_node(session, &leader, &leader.availability, &labels)
        .await
        .map_err(|error| {
            error.context("taking the rollout's lock").with_hint(
                "another change to the node raced this one (another rollout?): run again",
            )
        })?;
    Ok(leader.id)
}

/// Remove the lock (as the node is now: another update may have changed it meanwhile).
async fn unlock(session: &UcpSession, id: &str) -> Result<()> {
    let node = swarm::node(session, id).await?;
    let mut labels = node.labels.clone();
    if labels.remove(LOCK).is_none() {
        return Ok(());
    }
    swarm::update_node(session, &node, &node.availability, &labels)
        .await
        .map_err(|error| {
            error.with_hint(format!(
                "remove it by hand: `docker node update --label-rm {LOCK} {}`",
                node.hostname
            ))
        })
}

/// Set a node's availability, as the node is now (its version and labels).
async fn set_availability(
    session: &UcpSession,
    id: &str,
    availability: &str,
) -> std::result::Result<(), String> {
    let node = swarm::node(session, id)
        .await
        .map_err(|error| error.message())?;
    swarm::update_node(session, &node, availability, &node.labels)
        .await
        .map_err(|error| error.message())
}

/// What the state machine needs to see now.
async fn observe(session: &UcpSession, rollout: &Rollout, started: Instant) -> Result<Event> {
    let nodes = swarm::nodes(session).await?;
    let mut live_tasks = BTreeMap::new();
    for step in rollout
        .steps
        .iter()
        .filter(|step| step.phase == Phase::Drained)
    {
        let tasks = swarm::node_tasks(session, &step.node.id).await?;
        live_tasks.insert(step.node.id.clone(), tasks.len());
    }
    Ok(Event::Observed {
        now: started.elapsed(),
        nodes,
        live_tasks,
    })
}

/// Say what a node is doing, once per change.
fn narrate(rollout: &Rollout, said: &mut BTreeMap<String, Phase>, output: &Output) {
    for step in &rollout.steps {
        if said.get(&step.node.id) == Some(&step.phase) {
            continue;
        }
        said.insert(step.node.id.clone(), step.phase.clone());
        let name = &step.node.hostname;
        let line = match &step.phase {
            Phase::Waiting => continue,
            Phase::Draining => format!("{name}: draining"),
            Phase::Drained => format!("{name}: drained; waiting for its tasks to move off"),
            Phase::Restarting => format!("{name}: running the command"),
            Phase::Returning => format!("{name}: waiting for it to be ready"),
            Phase::Activating => format!("{name}: making it active again"),
            Phase::Activated => format!("{name}: waiting to see it ready and active"),
            Phase::Done => format!("{name}: done"),
            Phase::Skipped(why) => format!("{name}: {why}"),
            Phase::Failed(why) => format!("{name}: FAILED: {why}"),
        };
        output.status(&line);
    }
}

/// Run a rollout of `selected` (node IDs) to its end.
pub async fn run(
    session: &UcpSession,
    selected: &[String],
    options: &Options,
    output: &Output,
) -> Result<Rollout> {
    let nodes = swarm::nodes(session).await?;
    let mut rollout = Rollout::new(&nodes, selected, options.limits).map_err(|why| {
        Error::new(why).with_hint(
            "bring every node back to ready and active (`docker node ls`), then run again",
        )
    })?;
    let locked = lock(session, &nodes).await?;
    let result = drive(session, &mut rollout, options, output).await;
    let unlocked = unlock(session, &locked).await;
    if let Err(error) = result {
        let left: Vec<String> = rollout
            .steps
            .iter()
            .filter(|step| step.phase.in_flight() || matches!(step.phase, Phase::Failed(_)))
            .map(|step| {
                format!(
                    "{} ({:?}, last seen {}, {})",
                    step.node.hostname, step.phase, step.seen.state, step.seen.availability
                )
            })
            .collect();
        if left.is_empty() {
            return Err(error);
        }
        return Err(Error::needs_operator(format!(
            "{}; the rollout stopped with these nodes taken down: {}",
            error.message(),
            left.join(", ")
        ))
        .with_hint("bring them back to ready and active (`docker node update --availability active NODE`) once their dockerd runs"));
    }
    if let Err(error) = unlocked {
        output.warn(&format!(
            "the rollout's lock could not be removed: {}",
            error.message()
        ));
    }
    Ok(rollout)
}

async fn drive(
    session: &UcpSession,
    rollout: &mut Rollout,
    options: &Options,
    output: &Output,
) -> Result<()> {
    let started = Instant::now();
    let mut commands: JoinSet<(String, std::result::Result<(), String>)> = JoinSet::new();
    let mut said = BTreeMap::new();
    let (mut interrupt, mut terminate) = (
        signal(SignalKind::interrupt())
            .map_err(|error| Error::new(format!("cannot catch signals: {error}")))?,
        signal(SignalKind::terminate())
            .map_err(|error| Error::new(format!("cannot catch signals: {error}")))?,
    );
    let mut pending: Vec<Action> = Vec::new();
    let mut look = true;
    loop {
        if look {
            let event = observe(session, rollout, started).await?;
            pending.extend(rollout.handle(event));
        }
        while !pending.is_empty() {
            let action = pending.remove(0);
            let event = match action {
                Action::Drain(id) => Event::Updated {
                    result: set_availability(session, &id, "drain").await,
                    node: id,
                },
                Action::Activate(id) => Event::Updated {
                    result: set_availability(session, &id, "active").await,
                    node: id,
                },
                Action::Run(id) => {
                    let node = rollout
                        .steps
                        .iter()
                        .find(|step| step.node.id == id)
                        .map(|step| step.seen.clone());
                    if let Some(node) = node {
                        let template = options.command.clone();
                        let timeout = options.limits.node_timeout;
                        commands.spawn(async move {
                            (node.id.clone(), run_command(template, node, timeout).await)
                        });
                    }
                    continue;
                }
            };
            pending.extend(rollout.handle(event));
        }
        narrate(rollout, &mut said, output);
        if rollout.finished() && commands.is_empty() {
            return Ok(());
        }
        look = tokio::select! {
            Some(joined) = commands.join_next(), if !commands.is_empty() => {
                if let Ok((id, result)) = joined {
                    pending.extend(rollout.handle(Event::Ran { node: id, result }));
                }
                false
            }
            _ = interrupt.recv() => {
                output.warn("interrupted: no other node is taken down; the nodes in flight are brought back first");
                pending.extend(rollout.handle(Event::Interrupted));
                false
            }
            _ = terminate.recv() => {
                pending.extend(rollout.handle(Event::Interrupted));
                false
            }
            () = tokio::time::sleep(options.poll) => true,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_get_the_node_and_only_safe_words() {
        let mut node = Node::parse(&serde_json::json!({
            "ID": "abc123", "Spec": {"Role": "worker"},
            "Description": {"Hostname": "worker-1.example.mil"}, "Status": {"Addr": "10.0.0.21"}
        }))
        .unwrap();
        assert_eq!(
            command_for("ssh {address} sudo stigfix apply # {node} {id}", &node).unwrap(),
            "ssh 10.0.0.21 sudo stigfix apply # worker-1.example.mil abc123"
        );
        node.hostname = "evil;rm -rf /".into();
        let error = command_for("ssh {node}", &node).unwrap_err();
        assert!(error.contains("not safe"), "{error}");
    }
}
