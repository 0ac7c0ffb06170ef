//! The rollout as a pure state machine: which node to take down next, and when a node is back.
//! It performs no I/O and reads no clock: the driver ([`super::driver`]) feeds it what it saw
//! ([`Event`]: the nodes and their tasks at a time, the result of a node update or of the
//! command run on a node, an interruption) and carries out what it answers ([`Action`]).
//!
//! Each node goes `waiting → draining → drained → restarting → returning → activating →
//! activated → done`: drained (`Availability: drain`) and its tasks moved off before the
//! command that applies and restarts runs on it, then `ready` again (a manager also `reachable`)
//! and made `active` again, and seen `ready` and `active`, before its slot is free.
//!
//! The rules that keep the cluster whole:
//! - at most `max_unavailable` nodes are taken down at a time, and of them at most one manager;
//!   workers go first, in name order, then the managers;
//! - the leader goes last among the managers (one leader election, not one per manager);
//! - a manager is taken down only when the other managers that are reachable still make a
//!   quorum (`managers / 2 + 1`), unless the operator accepts losing it (`--allow-quorum-loss`,
//!   for one- and two-manager clusters); otherwise it is skipped, with the reason;
//! - no node is taken down while a node outside the rollout's current step is not ready (or a
//!   manager not reachable): the rollout stops, naming it;
//! - when a node fails (a refused drain, a failed command, not back within the bound) the
//!   rollout stops: no other node is touched, the nodes in flight are finished, the failed node
//!   is left as it is (drained, as the report says) for an operator;
//! - when interrupted, nodes not yet restarting are made active again at once, nodes restarting
//!   are brought back, and no other node is touched.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::nodes::swarm::Node;

/// The bounds of a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Nodes taken down at a time (at least 1), of them at most one manager.
    pub max_unavailable: usize,
    /// Take a manager down even when the others do not make a quorum without it.
    pub allow_quorum_loss: bool,
    /// How long each wait of a node (tasks moved off, back ready, seen active) may take.
    pub node_timeout: Duration,
}

/// Where a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    /// The drain was asked for.
    Draining,
    /// Drained; its tasks are moving off.
    Drained,
    /// The command runs on it.
    Restarting,
    /// The command finished; waiting for it to be ready.
    Returning,
    /// Asked to be active again.
    Activating,
    /// Active again; waiting to see it ready and active.
    Activated,
    Done,
    /// Not restarted, and left as it was (or made active again): why.
    Skipped(String),
    /// Stopped the rollout; left for an operator: why.
    Failed(String),
}

impl Phase {
    /// Taken down and not yet back.
    pub fn in_flight(&self) -> bool {
        matches!(
            self,
            Phase::Draining
                | Phase::Drained
                | Phase::Restarting
                | Phase::Returning
                | Phase::Activating
                | Phase::Activated
        )
    }
}

/// What the driver does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Set the node's availability to `drain`.
    Drain(String),
    /// Run the command on the node.
    Run(String),
    /// Set the node's availability to `active`.
    Activate(String),
}

/// What the driver saw or did.
#[derive(Clone, Debug)]
pub enum Event {
    /// Every node, and the tasks that run (or are meant to) on each drained node, at `now`
    /// (time since the rollout started).
    Observed {
        now: Duration,
        nodes: Vec<Node>,
        live_tasks: BTreeMap<String, usize>,
    },
    /// A node update (drain or activate) finished.
    Updated {
        node: String,
        result: Result<(), String>,
    },
    /// The command on a node finished.
    Ran {
        node: String,
        result: Result<(), String>,
    },
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// One node of the rollout.
#[derive(Clone, Debug)]
pub struct Step {
    pub node: Node,
    pub phase: Phase,
    /// When the current wait gives up.
    deadline: Option<Duration>,
    /// Made active again without a restart (interrupted before the command ran).
    pub restored: bool,
    /// The node as last seen.
    pub seen: Node,
}

/// The rollout.
#[derive(Clone, Debug)]
pub struct Rollout {
    pub steps: Vec<Step>,
    limits: Limits,
    /// Every node of the cluster as last seen.
    cluster: Vec<Node>,
    now: Duration,
    /// Why no other node is taken down (a failure, an interruption, an unhealthy node).
    pub stopped: Option<String>,
}

/// Whether a node is whole: ready, and a manager reachable.
fn healthy(node: &Node) -> bool {
    node.state == "ready" && (!node.manager || node.reachability.as_deref() != Some("unreachable"))
}

impl Rollout {
    /// A rollout of `selected` (node IDs) on a cluster that must be whole: every node ready
    /// and active, every manager reachable.
    pub fn new(cluster: &[Node], selected: &[String], limits: Limits) -> Result<Rollout, String> {
        let unwell: Vec<String> = cluster
            .iter()
            .filter(|node| !healthy(node) || node.availability != "active")
            .map(|node| {
                format!(
                    "{} ({}, {}{})",
                    node.hostname,
                    node.state,
                    node.availability,
                    node.reachability
                        .as_deref()
                        .map(|reach| format!(", {reach}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        if !unwell.is_empty() {
            return Err(format!(
                "the cluster is not whole, so no node is taken down: {}",
                unwell.join(", ")
            ));
        }
        let mut steps: Vec<Step> = selected
            .iter()
            .map(|id| {
                cluster
                    .iter()
                    .find(|node| &node.id == id)
                    .map(|node| Step {
                        node: node.clone(),
                        phase: Phase::Waiting,
                        deadline: None,
                        restored: false,
                        seen: node.clone(),
                    })
                    .ok_or_else(|| format!("no node {id} in the cluster"))
            })
            .collect::<Result<_, _>>()?;
        // Workers, then managers, the leader last; by name within each.
        steps.sort_by_key(|step| {
            (
                step.node.manager,
                step.node.leader,
                step.node.hostname.clone(),
            )
        });
        Ok(Rollout {
            steps,
            limits: Limits {
                max_unavailable: limits.max_unavailable.max(1),
                ..limits
            },
            cluster: cluster.to_vec(),
            now: Duration::ZERO,
            stopped: None,
        })
    }

    /// Whether nothing is left to do.
    pub fn finished(&self) -> bool {
        !self.steps.iter().any(|step| step.phase.in_flight())
            && (self.stopped.is_some()
                || !self.steps.iter().any(|step| step.phase == Phase::Waiting))
    }

    fn step_mut(&mut self, id: &str) -> Option<&mut Step> {
        self.steps.iter_mut().find(|step| step.node.id == id)
    }

    fn stop(&mut self, why: String) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
        }
    }

    /// Take in an event; what to do now.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::Observed {
                now,
                nodes,
                live_tasks,
            } => {
                self.now = now;
                self.cluster = nodes;
                self.observe(&live_tasks, &mut actions);
                self.start_more(&mut actions);
            }
            Event::Updated { node, result } => self.updated(&node, result, &mut actions),
            Event::Ran { node, result } => {
                let timeout = self.limits.node_timeout;
                let now = self.now;
                let Some(step) = self.step_mut(&node) else {
                    return actions;
                };
                if step.phase != Phase::Restarting {
                    return actions;
                }
                match result {
                    Ok(()) => {
                        step.phase = Phase::Returning;
                        step.deadline = Some(now + timeout);
                    }
                    Err(why) => {
                        let name = step.node.hostname.clone();
                        step.phase = Phase::Failed(format!(
                            "the command failed ({why}); the node is left drained"
                        ));
                        self.stop(format!("the command failed on {name}"));
                    }
                }
            }
            Event::Interrupted => {
                self.stop("interrupted (Ctrl-C or SIGTERM)".to_string());
                for step in &mut self.steps {
                    if step.phase == Phase::Drained {
                        step.phase = Phase::Activating;
                        step.restored = true;
                        actions.push(Action::Activate(step.node.id.clone()));
                    }
                }
            }
        }
        actions
    }

    fn updated(&mut self, id: &str, result: Result<(), String>, actions: &mut Vec<Action>) {
        let timeout = self.limits.node_timeout;
        let now = self.now;
        let interrupted = self
            .stopped
            .as_deref()
            .is_some_and(|why| why.starts_with("interrupted"));
        let Some(step) = self.step_mut(id) else {
            return;
        };
        let name = step.node.hostname.clone();
        match (&step.phase, result) {
            (Phase::Draining, Ok(())) if interrupted => {
                step.phase = Phase::Activating;
                step.restored = true;
                actions.push(Action::Activate(step.node.id.clone()));
            }
            (Phase::Draining, Ok(())) => {
                step.phase = Phase::Drained;
                step.deadline = Some(now + timeout);
            }
            (Phase::Draining, Err(why)) => {
                step.phase = Phase::Failed(format!(
                    "the drain was refused ({why}); the node was not changed"
                ));
                self.stop(format!("{name} could not be drained"));
            }
            (Phase::Activating, Ok(())) => {
                step.phase = Phase::Activated;
                step.deadline = Some(now + timeout);
            }
            (Phase::Activating, Err(why)) => {
                step.phase = Phase::Failed(format!(
                    "it could not be made active again ({why}); it is left drained"
                ));
                self.stop(format!("{name} could not be made active again"));
            }
            _ => {}
        }
    }

    /// Move nodes on by what was seen; give up on waits past their deadline.
    fn observe(&mut self, live_tasks: &BTreeMap<String, usize>, actions: &mut Vec<Action>) {
        let now = self.now;
        let mut failures = Vec::new();
        for step in &mut self.steps {
            if let Some(seen) = self.cluster.iter().find(|node| node.id == step.node.id) {
                step.seen = seen.clone();
            }
            let seen = &step.seen;
            let late = step.deadline.is_some_and(|deadline| now > deadline);
            match step.phase {
                Phase::Drained if live_tasks.get(&step.node.id).copied().unwrap_or(0) == 0 => {
                    step.phase = Phase::Restarting;
                    step.deadline = None;
                    actions.push(Action::Run(step.node.id.clone()));
                }
                Phase::Drained if late => {
                    step.phase = Phase::Failed(format!(
                        "{} task(s) still ran on it after the drain; the command was not run and the node is left drained",
                        live_tasks.get(&step.node.id).copied().unwrap_or(0)
                    ));
                    failures.push(step.node.hostname.clone());
                }
                Phase::Returning if healthy(seen) => {
                    step.phase = Phase::Activating;
                    step.deadline = None;
                    actions.push(Action::Activate(step.node.id.clone()));
                }
                Phase::Returning if late => {
                    step.phase = Phase::Failed(format!(
                        "it did not come back: still {}{} after the command; it is left drained",
                        seen.state,
                        seen.reachability
                            .as_deref()
                            .map(|reach| format!(" ({reach})"))
                            .unwrap_or_default()
                    ));
                    failures.push(step.node.hostname.clone());
                }
                Phase::Activated if healthy(seen) && seen.availability == "active" => {
                    step.deadline = None;
                    step.phase = if step.restored {
                        Phase::Skipped(
                            "not restarted: the rollout was interrupted; it is active again"
                                .to_string(),
                        )
                    } else {
                        Phase::Done
                    };
                }
                Phase::Activated if late => {
                    step.phase = Phase::Failed(format!(
                        "it was not seen ready and active again ({}, {})",
                        seen.state, seen.availability
                    ));
                    failures.push(step.node.hostname.clone());
                }
                _ => {}
            }
        }
        for name in failures {
            self.stop(format!("{name} did not come back as it should"));
        }
        // A node outside the rollout's current step that is not whole stops the rollout.
        let in_flight: Vec<&str> = self
            .steps
            .iter()
            .filter(|step| step.phase.in_flight() || matches!(step.phase, Phase::Failed(_)))
            .map(|step| step.node.id.as_str())
            .collect();
        let unwell: Vec<String> = self
            .cluster
            .iter()
            .filter(|node| !in_flight.contains(&node.id.as_str()) && !healthy(node))
            .map(|node| format!("{} is {}", node.hostname, node.state))
            .collect();
        if !unwell.is_empty() {
            self.stop(format!(
                "{} (not part of the rollout's current step), so no other node is taken down",
                unwell.join(", ")
            ));
        }
    }

    /// Start waiting nodes while the slots and the quorum allow.
    fn start_more(&mut self, actions: &mut Vec<Action>) {
        if self.stopped.is_some() {
            return;
        }
        let managers_total = self.cluster.iter().filter(|node| node.manager).count();
        for index in 0..self.steps.len() {
            if self.steps[index].phase != Phase::Waiting {
                continue;
            }
            let in_flight = |managers_only: bool| {
                self.steps
                    .iter()
                    .filter(|step| step.phase.in_flight() && (step.node.manager || !managers_only))
                    .count()
            };
            if in_flight(false) >= self.limits.max_unavailable {
                return;
            }
            if self.steps[index].node.manager {
                if in_flight(true) >= 1 {
                    continue;
                }
                let leader = self.steps[index].node.leader;
                let others_waiting = self.steps.iter().enumerate().any(|(other, step)| {
                    other != index && step.node.manager && step.phase == Phase::Waiting
                });
                if leader && others_waiting {
                    continue;
                }
                let id = self.steps[index].node.id.clone();
                let reachable_others = self
                    .cluster
                    .iter()
                    .filter(|node| node.manager && node.id != id && healthy(node))
                    .count();
                let quorum = managers_total / 2 + 1;
                if reachable_others < quorum && !self.limits.allow_quorum_loss {
                    self.steps[index].phase = Phase::Skipped(format!(
                        "not restarted: without it {reachable_others} of {managers_total} manager(s) would be reachable, fewer than the {quorum} the swarm's quorum needs (--allow-quorum-loss takes it down anyway)"
                    ));
                    continue;
                }
            }
            let step = &mut self.steps[index];
            step.phase = Phase::Draining;
            actions.push(Action::Drain(step.node.id.clone()));
        }
    }

    /// Nodes never started once the rollout stopped: left as they are.
    pub fn untouched(&self) -> Vec<&Step> {
        self.steps
            .iter()
            .filter(|step| step.phase == Phase::Waiting)
            .collect()
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
