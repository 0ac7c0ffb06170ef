use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::*;

fn node(id: &str, manager: bool, leader: bool) -> Node {
    Node {
        id: id.into(),
        hostname: id.into(),
        manager,
        leader,
        availability: "active".into(),
        state: "ready".into(),
        reachability: manager.then(|| "reachable".to_string()),
        address: format!("10.0.0.{}", id.len()),
        version: 1,
        role: if manager { "manager" } else { "worker" }.into(),
        labels: serde_json::Map::new(),
        os: "linux".into(),
        engine: Some("23.0.15".into()),
    }
}

fn cluster(managers: usize, workers: usize) -> Vec<Node> {
    let mut nodes: Vec<Node> = (1..=managers)
        .map(|index| node(&format!("m{index}"), true, index == 1))
        .collect();
    nodes.extend((1..=workers).map(|index| node(&format!("w{index}"), false, false)));
    nodes
}

fn limits(max_unavailable: usize) -> Limits {
    Limits {
        max_unavailable,
        allow_quorum_loss: false,
        node_timeout: Duration::from_secs(30),
    }
}

/// A cluster that does what the actions ask, one observation per second: a restarted node is
/// down for one observation and then ready again, unless it is in `never_back`; tasks leave a
/// drained node after one observation; a command fails on the nodes in `command_fails`.
struct Fake {
    nodes: Vec<Node>,
    never_back: BTreeSet<String>,
    command_fails: BTreeSet<String>,
    /// Observations a node still reads down / still has tasks.
    down: BTreeMap<String, usize>,
    tasks: BTreeMap<String, usize>,
    now: Duration,
    /// Every action, in order.
    log: Vec<Action>,
    /// The most managers and nodes unavailable at once.
    worst: (usize, usize),
}

impl Fake {
    fn new(nodes: Vec<Node>) -> Fake {
        Fake {
            nodes,
            never_back: BTreeSet::new(),
            command_fails: BTreeSet::new(),
            down: BTreeMap::new(),
            tasks: BTreeMap::new(),
            now: Duration::ZERO,
            log: Vec::new(),
            worst: (0, 0),
        }
    }

    fn node(&mut self, id: &str) -> &mut Node {
        self.nodes.iter_mut().find(|node| node.id == id).unwrap()
    }

    fn observe(&mut self) -> Event {
        for node in &mut self.nodes {
            let down = self.down.get(&node.id).copied().unwrap_or(0);
            node.state = if down > 0 { "down" } else { "ready" }.into();
            if node.manager {
                node.reachability = Some(if down > 0 { "unreachable" } else { "reachable" }.into());
            }
            if down > 0 && !self.never_back.contains(&node.id) {
                self.down.insert(node.id.clone(), down - 1);
            }
        }
        let unavailable = |managers_only: bool| {
            self.nodes
                .iter()
                .filter(|node| {
                    (node.manager || !managers_only)
                        && (node.availability != "active" || node.state != "ready")
                })
                .count()
        };
        self.worst = (
            self.worst.0.max(unavailable(true)),
            self.worst.1.max(unavailable(false)),
        );
        let live_tasks = self.tasks.clone();
        for count in self.tasks.values_mut() {
            *count = count.saturating_sub(1);
        }
        let event = Event::Observed {
            now: self.now,
            nodes: self.nodes.clone(),
            live_tasks,
        };
        self.now += Duration::from_secs(1);
        event
    }

    /// Carry out actions, feeding their results back, until none is left.
    fn act(&mut self, rollout: &mut Rollout, actions: Vec<Action>) {
        let mut actions = std::collections::VecDeque::from(actions);
        while let Some(action) = actions.pop_front() {
            self.log.push(action.clone());
            let event = match &action {
                Action::Drain(id) => {
                    self.node(id).availability = "drain".into();
                    self.tasks.insert(id.clone(), 1);
                    Event::Updated {
                        node: id.clone(),
                        result: Ok(()),
                    }
                }
                Action::Activate(id) => {
                    self.node(id).availability = "active".into();
                    Event::Updated {
                        node: id.clone(),
                        result: Ok(()),
                    }
                }
                Action::Run(id) => {
                    if self.command_fails.contains(id) {
                        Event::Ran {
                            node: id.clone(),
                            result: Err("exit status 255".into()),
                        }
                    } else {
                        self.down.insert(id.clone(), 1);
                        Event::Ran {
                            node: id.clone(),
                            result: Ok(()),
                        }
                    }
                }
            };
            actions.extend(rollout.handle(event));
        }
    }

    /// Run the rollout to its end (or 1000 observations).
    fn run(&mut self, rollout: &mut Rollout) {
        for _ in 0..1000 {
            let event = self.observe();
            let actions = rollout.handle(event);
            self.act(rollout, actions);
            if rollout.finished() {
                return;
            }
        }
        panic!("the rollout did not finish: {rollout:#?}");
    }

    fn drains(&self) -> Vec<&str> {
        self.log
            .iter()
            .filter_map(|action| match action {
                Action::Drain(id) => Some(id.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn ids(nodes: &[Node]) -> Vec<String> {
    nodes.iter().map(|node| node.id.clone()).collect()
}

fn phase<'a>(rollout: &'a Rollout, id: &str) -> &'a Phase {
    &rollout
        .steps
        .iter()
        .find(|step| step.node.id == id)
        .unwrap()
        .phase
}

#[test]
fn at_most_n_nodes_and_one_manager_at_a_time_workers_first_the_leader_last() {
    let nodes = cluster(3, 5);
    let mut rollout = Rollout::new(&nodes, &ids(&nodes), limits(2)).unwrap();
    let mut fake = Fake::new(nodes);
    fake.run(&mut rollout);
    assert!(rollout.stopped.is_none(), "{:?}", rollout.stopped);
    assert!(
        rollout.steps.iter().all(|step| step.phase == Phase::Done),
        "{rollout:#?}"
    );
    assert_eq!(fake.worst.0, 1, "never two managers down at once");
    assert_eq!(fake.worst.1, 2, "never more than --max-unavailable nodes");
    let drains = fake.drains();
    assert_eq!(
        drains,
        ["w1", "w2", "w3", "w4", "w5", "m2", "m3", "m1"],
        "workers first, the leader last"
    );
    // Every node is drained before its command runs, and active again in the end.
    for id in ["m1", "m2", "m3", "w1", "w5"] {
        let at = |wanted: &Action| fake.log.iter().position(|action| action == wanted).unwrap();
        assert!(at(&Action::Drain(id.into())) < at(&Action::Run(id.into())));
        assert!(at(&Action::Run(id.into())) < at(&Action::Activate(id.into())));
    }
    assert!(fake.nodes.iter().all(|node| node.availability == "active"));
}

#[test]
fn a_node_that_does_not_come_back_stops_the_rollout_and_is_left_drained() {
    let nodes = cluster(3, 4);
    let mut rollout = Rollout::new(&nodes, &ids(&nodes), limits(1)).unwrap();
    let mut fake = Fake::new(nodes);
    fake.never_back.insert("w2".into());
    fake.run(&mut rollout);
    let Phase::Failed(why) = phase(&rollout, "w2") else {
        panic!("w2 failed: {rollout:#?}");
    };
    assert!(why.contains("did not come back: still down"), "{why}");
    assert!(why.contains("left drained"), "{why}");
    assert!(
        rollout.stopped.as_deref().unwrap().contains("w2"),
        "{:?}",
        rollout.stopped
    );
    assert_eq!(phase(&rollout, "w1"), &Phase::Done);
    // Nothing after it was touched: no drain, still active.
    for id in ["w3", "w4", "m1", "m2", "m3"] {
        assert_eq!(phase(&rollout, id), &Phase::Waiting, "{id}");
        assert!(!fake.drains().contains(&id), "{id} was drained");
    }
    assert_eq!(rollout.untouched().len(), 5);
    let w2 = fake.nodes.iter().find(|node| node.id == "w2").unwrap();
    assert_eq!(
        (w2.availability.as_str(), w2.state.as_str()),
        ("drain", "down")
    );
    let seen = &rollout
        .steps
        .iter()
        .find(|step| step.node.id == "w2")
        .unwrap()
        .seen;
    assert_eq!(
        (seen.availability.as_str(), seen.state.as_str()),
        ("drain", "down")
    );
}

#[test]
fn nodes_in_flight_when_another_fails_are_finished() {
    let nodes = cluster(1, 3);
    let selected = vec!["w1".to_string(), "w2".to_string(), "w3".to_string()];
    let mut rollout = Rollout::new(&nodes, &selected, limits(2)).unwrap();
    let mut fake = Fake::new(nodes);
    fake.command_fails.insert("w1".into());
    fake.run(&mut rollout);
    let Phase::Failed(why) = phase(&rollout, "w1") else {
        panic!("w1 failed");
    };
    assert!(why.contains("exit status 255"), "{why}");
    assert_eq!(
        phase(&rollout, "w2"),
        &Phase::Done,
        "w2 was in flight with w1"
    );
    assert_eq!(phase(&rollout, "w3"), &Phase::Waiting);
}

#[test]
fn managers_are_skipped_when_the_others_make_no_quorum() {
    let nodes = cluster(2, 1);
    let mut rollout = Rollout::new(&nodes, &ids(&nodes), limits(1)).unwrap();
    let mut fake = Fake::new(nodes.clone());
    fake.run(&mut rollout);
    let Phase::Skipped(why) = phase(&rollout, "m2") else {
        panic!("m2 skipped: {rollout:#?}");
    };
    assert!(why.contains("1 of 2 manager(s)"), "{why}");
    assert!(why.contains("--allow-quorum-loss"), "{why}");
    assert_eq!(phase(&rollout, "w1"), &Phase::Done);
    assert!(!fake.drains().contains(&"m1") && !fake.drains().contains(&"m2"));

    let single = cluster(1, 0);
    let mut rollout = Rollout::new(
        &single,
        &ids(&single),
        Limits {
            allow_quorum_loss: true,
            ..limits(1)
        },
    )
    .unwrap();
    let mut fake = Fake::new(single);
    fake.run(&mut rollout);
    assert_eq!(phase(&rollout, "m1"), &Phase::Done);
}

#[test]
fn a_cluster_that_is_not_whole_is_not_touched() {
    let mut nodes = cluster(3, 2);
    nodes[4].state = "down".into();
    nodes[1].availability = "drain".into();
    let error = Rollout::new(&nodes, &ids(&nodes), limits(1)).unwrap_err();
    assert!(error.contains("w2 (down, active)"), "{error}");
    assert!(error.contains("m2 (ready, drain, reachable)"), "{error}");
}

#[test]
fn another_node_going_down_stops_the_rollout() {
    let nodes = cluster(3, 3);
    let selected = vec!["w1".to_string(), "w2".to_string()];
    let mut rollout = Rollout::new(&nodes, &selected, limits(1)).unwrap();
    let mut fake = Fake::new(nodes);
    fake.never_back.insert("w3".into());
    fake.down.insert("w3".into(), 1);
    fake.run(&mut rollout);
    assert!(
        rollout.stopped.as_deref().unwrap().contains("w3 is down"),
        "{:?}",
        rollout.stopped
    );
    assert!(fake.drains().is_empty(), "{:?}", fake.drains());
}

#[test]
fn an_interruption_brings_drained_nodes_back_and_touches_no_other() {
    let nodes = cluster(1, 3);
    let selected = vec!["w1".to_string(), "w2".to_string()];
    let mut rollout = Rollout::new(&nodes, &selected, limits(1)).unwrap();
    let mut fake = Fake::new(nodes);
    let event = fake.observe();
    let actions = rollout.handle(event);
    assert_eq!(actions, [Action::Drain("w1".into())]);
    fake.act(&mut rollout, actions);
    assert_eq!(phase(&rollout, "w1"), &Phase::Drained);
    let actions = rollout.handle(Event::Interrupted);
    assert_eq!(actions, [Action::Activate("w1".into())]);
    fake.act(&mut rollout, actions);
    fake.run(&mut rollout);
    let Phase::Skipped(why) = phase(&rollout, "w1") else {
        panic!("w1: {rollout:#?}");
    };
    assert!(why.contains("interrupted"), "{why}");
    assert_eq!(phase(&rollout, "w2"), &Phase::Waiting);
    assert!(!fake.log.contains(&Action::Run("w1".into())));
}

#[test]
fn a_drain_that_leaves_tasks_running_fails_within_the_bound() {
    let nodes = cluster(1, 1);
    let mut rollout = Rollout::new(&nodes, &["w1".to_string()], limits(1)).unwrap();
    let mut fake = Fake::new(nodes);
    let actions = rollout.handle(fake.observe());
    fake.act(&mut rollout, actions);
    // The task never leaves.
    for second in 0..40 {
        let event = Event::Observed {
            now: Duration::from_secs(second + 1),
            nodes: fake.nodes.clone(),
            live_tasks: BTreeMap::from([("w1".to_string(), 1)]),
        };
        let actions = rollout.handle(event);
        assert!(!actions.contains(&Action::Run("w1".into())));
    }
    let Phase::Failed(why) = phase(&rollout, "w1") else {
        panic!("w1 failed");
    };
    assert!(why.contains("1 task(s) still ran"), "{why}");
    assert!(rollout.finished());
}
