//! `stigfix nodes` against the simulator's built-in cluster (issue 12 §3, §4): the scanner is a
//! global job created through the UCP API, each node's task "prints" what the real `stigfix
//! plan --host-root /host --format json` of this build prints for a fake node root (run here,
//! then handed to the simulated node), and the results come back through the service's logs in
//! Docker's multiplexed stream. The rollout runs its command for real (`touch` of the file
//! that is the simulated node's restart) against nodes that go down and come back — or not.
//! The real swarm is `nodes_swarm.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use stigfix::sim::{SimCluster, SimEngine, SimJob, host};

use crate::support::{
    EnvOptions, Output, TEST_NOW, TestEnv, assert_valid_plan, ctrl_c, finish, json, wait_for,
};

/// What the scanner's task prints on a node with this root: the real `stigfix plan
/// --host-root` of this build with no site file, its paths as the task sees them (`/host`).
fn node_output(root: &Path, extra: &[&str]) -> String {
    let work = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["plan", "--host-root"];
    let root_text = root.to_str().expect("UTF-8 path");
    args.push(root_text);
    args.extend(["--format", "json", "--no-progress", "--color", "never"]);
    args.extend(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_stigfix"))
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", work.path())
        .env("NO_COLOR", "1")
        .env("STIGFIX_TEST_NOW", TEST_NOW)
        .current_dir(work.path())
        .output()
        .expect("run stigfix plan");
    assert!(
        out.status.success(),
        "stigfix plan --host-root {root_text}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .replace(root_text, "/host")
}

/// Three fake nodes: manager-1 with the usual findings (Ubuntu), worker-1 compliant, worker-2
/// RHEL with a TCP listener in daemon.json.
pub struct Roots {
    dir: tempfile::TempDir,
}

impl Roots {
    pub fn new() -> Roots {
        let dir = tempfile::tempdir().expect("temp dir");
        host::ubuntu_node(&dir.path().join("manager-1")).expect("ubuntu node");
        host::compliant_node(&dir.path().join("worker-1")).expect("compliant node");
        host::rhel_node(&dir.path().join("worker-2")).expect("rhel node");
        Roots { dir }
    }

    fn root(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The cluster whose nodes print their roots' plans.
    pub fn cluster(&self, extra: &[&str]) -> SimCluster {
        let mut cluster = SimCluster::with_nodes(1, 2);
        for name in ["manager-1", "worker-1", "worker-2"] {
            cluster.node_mut(name).expect("node").job = SimJob::Complete {
                stdout: node_output(&self.root(name), extra),
                stderr: String::new(),
            };
        }
        cluster
    }
}

pub fn env_for(cluster: SimCluster) -> TestEnv {
    let mut env = TestEnv::start(EnvOptions {
        engine: SimEngine::Cluster(cluster),
        ..EnvOptions::default()
    });
    env.set_env("STIGFIX_POLL_MS", "20");
    env
}

/// The scanner service was created once and removed.
#[track_caller]
fn assert_service_removed(env: &TestEnv) {
    let journal = env.sim.requests();
    let created = journal
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/v1.41/services/create")
        .count();
    assert_eq!(created, 1, "{journal:#?}");
    let removed: Vec<_> = journal
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.starts_with("/v1.41/services/"))
        .collect();
    assert_eq!(removed.len(), 1, "{journal:#?}");
    assert_eq!(removed[0].status, 200);
}

fn rule<'a>(checklist: &'a Value, id: &str) -> &'a Value {
    checklist["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|rule| rule["stig_id"] == id)
        .unwrap_or_else(|| panic!("no rule {id}"))
}

fn checklist<'a>(report: &'a Value, host: &str, stig: &str) -> &'a Value {
    report["checklists"]
        .as_array()
        .expect("checklists")
        .iter()
        .find(|checklist| {
            checklist["asset"]["host_name"] == host
                && checklist["stig"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(stig)
        })
        .unwrap_or_else(|| panic!("no checklist of {host} for {stig}: {report:#}"))
}

#[test]
fn check_has_a_checklist_per_node_from_what_each_node_reported() {
    let roots = Roots::new();
    let env = env_for(roots.cluster(&[]));
    let out = env.run(&["nodes", "check", "--format", "json"]);
    out.assert_code(2);
    let report = json(&out.stdout);
    let hosts: Vec<&str> = report["checklists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|checklist| checklist["asset"]["host_name"].as_str().unwrap())
        .collect();
    for node in ["manager-1", "worker-1", "worker-2"] {
        assert!(hosts.contains(&node), "{hosts:?}");
    }
    assert!(
        hosts
            .iter()
            .all(|host| host.starts_with("manager") || host.starts_with("worker")),
        "only node checklists: {hosts:?}"
    );
    let docker = "Docker_Enterprise";
    let tcp = |host: &str| rule(checklist(&report, host, docker), "DKER-EE-001050");
    assert_eq!(tcp("manager-1")["status"], "Open", "{}", tcp("manager-1"));
    assert_eq!(tcp("worker-1")["status"], "NotAFinding");
    assert_eq!(tcp("worker-2")["status"], "Open");
    // The evidence names the node's own files, never the task's mount point.
    let manager = checklist(&report, "manager-1", docker);
    assert_eq!(manager["asset"]["key"], "host:manager-1:/");
    assert_eq!(manager["asset"]["host_ip"], "10.0.0.11");
    assert_eq!(manager["asset"]["role"], "Member Server");
    assert_eq!(manager["asset"]["web_or_database"], false);
    assert!(!out.stdout.contains("/host/"), "{}", out.stdout);
    assert!(out.stdout.contains("/etc/docker/daemon.json"));
    assert_service_removed(&env);
}

#[test]
fn check_writes_one_checklist_file_per_node_and_stig() {
    let roots = Roots::new();
    let env = env_for(roots.cluster(&[]));
    let dir = env.path("checklists");
    let out = env.run(&[
        "nodes",
        "check",
        "--format",
        "ckl",
        "--out",
        dir.to_str().unwrap(),
    ]);
    out.assert_code(2);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    for node in ["manager-1", "worker-1", "worker-2"] {
        assert!(
            files
                .iter()
                .any(|file| file.starts_with(&format!("host-{node}_Docker_Enterprise"))),
            "{files:?}"
        );
    }
    let ckl = std::fs::read_to_string(
        dir.join(
            files
                .iter()
                .find(|file| file.starts_with("host-worker-1_Docker"))
                .unwrap(),
        ),
    )
    .unwrap();
    assert!(ckl.contains("<HOST_NAME>worker-1</HOST_NAME>"), "{ckl}");
    assert!(ckl.contains("<HOST_IP>10.0.1.11</HOST_IP>"));
}

#[test]
fn plan_is_one_valid_plan_with_a_host_target_per_node_and_the_site_waivers() {
    let roots = Roots::new();
    let env = env_for(roots.cluster(&[]));
    std::fs::write(
        env.path("stigfix.toml"),
        "[[waivers]]\nrule = \"DKER-EE-001050\"\njustification = \"The TCP socket is mTLS only.\"\nticket = \"CHG-9\"\nexpires = 2099-01-01\n",
    )
    .unwrap();
    let out = env.run(&["nodes", "plan", "--format", "json", "--detailed-exitcode"]);
    out.assert_code(2);
    let plan = json(&out.stdout);
    assert_valid_plan(&plan);
    let targets: Vec<(&str, &str)> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| {
            (
                target["id"].as_str().unwrap(),
                target["product"]["version"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("host:manager-1:/", "23.0.15"),
            ("host:worker-1:/", "23.0.15"),
            ("host:worker-2:/", "23.0.15")
        ]
    );
    let results = |id: &str| -> Vec<(String, String)> {
        plan["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|rule| rule["stig_id"] == id)
            .map(|rule| {
                (
                    rule["target"].as_str().unwrap_or("-").to_string(),
                    rule["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    for (_, status) in results("DKER-EE-001050") {
        assert_eq!(status, "waived");
    }
    let modes = results("DKER-EE-005170");
    assert_eq!(modes.len(), 3, "{modes:?}");
    // Worker-1 has nothing to change; the others have changes, each on its own target.
    let changes = |id: &str| {
        plan["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|target| target["id"] == id)
            .unwrap()["changes"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(changes("host:worker-1:/"), 0);
    assert!(changes("host:manager-1:/") > 0);
    // A UCP rule is not assessed: the run is about the nodes.
    assert_eq!(
        results("DKER-EE-002180"),
        [("-".to_string(), "not_assessed".to_string())]
    );
    assert_service_removed(&env);
}

#[test]
fn nodes_plan_and_check_are_recorded_in_the_run_log_with_a_target_per_node() {
    let roots = Roots::new();
    let env = env_for(roots.cluster(&[]));
    let log = env.path("runs.jsonl");
    let metrics = env.path("stigfix.prom");
    let log_arg = log.display().to_string();
    let metrics_arg = metrics.display().to_string();
    env.run(&[
        "nodes",
        "plan",
        "--log",
        &log_arg,
        "--metrics",
        &metrics_arg,
    ])
    .assert_code(0);
    let out_dir = env.path("checklists");
    let out_arg = out_dir.display().to_string();
    env.run(&[
        "nodes", "check", "--format", "ckl", "--out", &out_arg, "--log", &log_arg,
    ])
    .assert_code(2);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .expect("the run log")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let commands: Vec<&str> = lines
        .iter()
        .map(|line| line["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["nodes plan", "nodes check"]);
    for line in &lines {
        let targets: Vec<&str> = line["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .map(|target| target["endpoint"].as_str().unwrap())
            .collect();
        assert_eq!(targets.len(), 3, "{line}");
        assert!(line["targets"][0]["kind"] == "host", "{line}");
        assert_eq!(
            line["exit_code"],
            if line["command"] == "nodes plan" {
                0
            } else {
                2
            }
        );
    }
    let text = std::fs::read_to_string(&metrics).expect("the metrics file");
    assert!(
        text.lines()
            .any(|line| line.starts_with("stigfix_last_run_exit_code{")
                && line.contains("command=\"nodes plan\"")),
        "{text}"
    );
}

#[test]
fn text_names_every_node() {
    let roots = Roots::new();
    let env = env_for(roots.cluster(&[]));
    let out = env.run(&["nodes", "plan"]);
    out.assert_code(0);
    for node in ["manager-1:/", "worker-1:/", "worker-2:/"] {
        assert!(out.stdout.contains(node), "{node}:\n{}", out.stdout);
    }
}

#[test]
fn rule_filters_go_to_the_nodes() {
    let roots = Roots::new();
    let filter = ["--rule", "DKER-EE-001050"];
    let env = env_for(roots.cluster(&filter));
    let out = env.run(&[
        "nodes",
        "plan",
        "--format",
        "json",
        "--rule",
        "DKER-EE-001050",
    ]);
    out.assert_code(0);
    let plan = json(&out.stdout);
    let assessed: Vec<&str> = plan["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["stig_id"].as_str().unwrap())
        .collect();
    assert_eq!(assessed, ["DKER-EE-001050"; 3]);
}

#[test]
fn nodes_that_fail_hang_or_run_another_version_are_named_and_the_others_reported() {
    let roots = Roots::new();
    let mut cluster = roots.cluster(&[]);
    cluster.node_mut("worker-1").unwrap().job = SimJob::Hang;
    cluster.node_mut("worker-2").unwrap().job = SimJob::Fail {
        code: 1,
        stderr: "error: cannot read /host/etc/docker: permission denied\n".into(),
    };
    let manager_plan = node_output(&roots.root("manager-1"), &[]);
    let mut older: Value = serde_json::from_str(&manager_plan).unwrap();
    older["rules_digest"] = Value::String("sha256:0000".into());
    let mut cluster4 = cluster.clone();
    cluster4
        .nodes
        .push(stigfix::sim::SimNode::new("worker-3", false, "10.0.1.13"));
    cluster4.node_mut("worker-3").unwrap().job = SimJob::Complete {
        stdout: older.to_string(),
        stderr: String::new(),
    };
    let env = env_for(cluster4);
    let out = env.run(&["nodes", "plan", "--format", "json", "--wait", "2"]);
    out.assert_code(1);
    let plan = json(&out.stdout);
    let targets: Vec<&str> = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| target["id"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["host:manager-1:/"]);
    let error = out.error_line();
    assert!(error.contains("3 of 4 node(s) did not report"), "{error}");
    assert!(
        error.contains("worker-1 (did not report within 2s (its task is `running`"),
        "{error}"
    );
    assert!(
        error.contains("worker-2 (its task failed (task: non-zero exit (1)): error: cannot read /host/etc/docker: permission denied)"),
        "{error}"
    );
    assert!(error.contains("worker-3 (it ran other rules"), "{error}");
    assert!(error.contains("`stigfix nodes image`"), "{error}");
    assert_service_removed(&env);
}

#[test]
fn a_rejected_task_says_to_load_the_image_and_drained_nodes_are_skipped() {
    let roots = Roots::new();
    let mut cluster = roots.cluster(&[]);
    cluster.node_mut("worker-2").unwrap().job =
        SimJob::Reject("No such image: stigfix:0.1.0".into());
    let env = env_for(cluster);
    let out = env.run(&["nodes", "check", "--format", "json"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.contains("1 of 3 node(s) did not report"), "{error}");
    assert!(
        error.contains("rejected (No such image: stigfix:0.1.0)"),
        "{error}"
    );
    assert!(error.contains("docker load -i"), "{error}");
    // The two others are in the report.
    let report = json(&out.stdout);
    assert_eq!(report["checklists"].as_array().unwrap().len() % 2, 0);
    assert_service_removed(&env);
}

#[test]
fn a_playbook_that_changes_host_rules_is_refused_before_anything_runs() {
    let roots = Roots::new();
    let env = env_for(roots.cluster(&[]));
    let playbook = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/playbooks/docker-enterprise-2x-v2r2.toml"
    ))
    .unwrap()
    .replacen("mode_within = \"0644\"", "mode_within = \"0600\"", 1);
    let path = env.path("custom.toml");
    std::fs::write(&path, playbook).unwrap();
    let out = env.run(&["nodes", "plan", "--playbook", path.to_str().unwrap()]);
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("differ from the shipped playbooks the nodes run"),
        "{}",
        out.stderr
    );
    assert_eq!(env.sim.write_count(), 0, "{:#?}", env.sim.requests());
}

#[test]
fn ctrl_c_while_waiting_removes_the_service() {
    let roots = Roots::new();
    let mut cluster = roots.cluster(&[]);
    cluster.node_mut("worker-1").unwrap().job = SimJob::Hang;
    let env = env_for(cluster);
    let mut child = env.spawn(&["nodes", "plan", "--wait", "600"]);
    let created = wait_for(&mut child, || {
        env.sim
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == "/v1.41/tasks")
    });
    assert!(created, "the scanner was not started");
    ctrl_c(&child);
    let out: Output = finish(child);
    out.assert_code(1);
    assert!(out.error_line().contains("interrupted"), "{}", out.stderr);
    assert!(out.error_line().contains("was removed"), "{}", out.stderr);
    assert_service_removed(&env);
}

#[test]
fn without_a_ucp_url_nodes_is_a_usage_error() {
    let roots = Roots::new();
    let mut env = env_for(roots.cluster(&[]));
    env.remove_env("STIGFIX_UCP_URL");
    let out = env.run(&["nodes", "plan"]);
    out.assert_code(64);
    assert!(out.error_line().contains("--ucp-url"), "{}", out.stderr);
}

/// A cluster whose nodes restart when the rollout's command touches their file.
pub fn restartable(managers: usize, workers: usize, dir: &Path) -> SimCluster {
    let mut cluster = SimCluster::with_nodes(managers, workers);
    for node in &mut cluster.nodes {
        node.restart_file = Some(dir.join(&node.name));
    }
    cluster
}

pub fn touch_command(dir: &Path) -> String {
    format!(
        "touch {}/{{node}} && echo {{node}} >> {}/ran",
        dir.display(),
        dir.display()
    )
}

fn ran(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("ran"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn rollout_takes_every_node_down_and_back_one_manager_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(restartable(3, 3, dir.path()));
    let out = env.run(&[
        "nodes",
        "rollout",
        "--all",
        "--max-unavailable",
        "2",
        "--run",
        &touch_command(dir.path()),
        "--format",
        "json",
    ]);
    out.assert_code(0);
    let report = json(&out.stdout);
    let nodes: Vec<(&str, &str, &str)> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            (
                node["hostname"].as_str().unwrap(),
                node["outcome"].as_str().unwrap(),
                node["availability"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [
            ("worker-1", "done", "active"),
            ("worker-2", "done", "active"),
            ("worker-3", "done", "active"),
            ("manager-2", "done", "active"),
            ("manager-3", "done", "active"),
            ("manager-1", "done", "active"),
        ]
    );
    let mut order = ran(dir.path());
    assert_eq!(order.len(), 6);
    assert_eq!(order.pop().as_deref(), Some("manager-1"), "the leader last");
    // Each node: drained, then active again (2 updates), and the lock taken and released on
    // the leader (2 more).
    let updates = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/update"))
        .count();
    assert_eq!(updates, 6 * 2 + 2);
}

#[test]
fn a_node_that_does_not_come_back_stops_the_rollout_and_is_reported_drained() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = restartable(1, 4, dir.path());
    cluster.node_mut("worker-2").unwrap().comes_back = false;
    let env = env_for(cluster);
    let out = env.run(&[
        "nodes",
        "rollout",
        "--all",
        "--node-timeout",
        "2",
        "--run",
        &touch_command(dir.path()),
    ]);
    out.assert_code(3);
    assert_eq!(ran(dir.path()), ["worker-1", "worker-2"]);
    assert!(
        out.stdout.contains("  done      worker-1 (worker)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  FAILED    worker-2 (worker): it did not come back: still down after the command; it is left drained [now drain, down]"),
        "{}",
        out.stdout
    );
    for node in ["worker-3", "worker-4", "manager-1"] {
        assert!(
            out.stdout.contains(&format!("  untouched {node}")),
            "{node}:\n{}",
            out.stdout
        );
    }
    let error = out.error_line();
    assert!(
        error.contains("the rollout stopped at worker-2 (now drain, down)"),
        "{error}"
    );
    // The untouched nodes were never updated.
    let updated: Vec<String> = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/update"))
        .map(|r| r.path.clone())
        .collect();
    let ids = |name: &str| stigfix::sim::SimNode::new(name, false, "").id();
    for node in ["worker-3", "worker-4"] {
        assert!(
            !updated.iter().any(|path| path.contains(&ids(node))),
            "{node} was updated: {updated:?}"
        );
    }
}

#[test]
fn rollout_by_default_takes_the_nodes_whose_plan_has_changes() {
    let roots = Roots::new();
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = roots.cluster(&[]);
    for node in &mut cluster.nodes {
        node.restart_file = Some(dir.path().join(&node.name));
    }
    let env = env_for(cluster);
    let out = env.run(&[
        "nodes",
        "rollout",
        "--allow-quorum-loss",
        "--run",
        &touch_command(dir.path()),
    ]);
    out.assert_code(0);
    let mut order = ran(dir.path());
    order.sort();
    assert_eq!(order, ["manager-1", "worker-2"], "worker-1 has no changes");
    assert!(
        out.stderr.contains("Rolling out to 2 node(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_single_manager_is_not_taken_down_without_allow_quorum_loss() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(restartable(1, 1, dir.path()));
    let out = env.run(&[
        "nodes",
        "rollout",
        "--all",
        "--run",
        &touch_command(dir.path()),
    ]);
    out.assert_code(1);
    assert!(
        out.stdout.contains("skipped   manager-1 (manager): not restarted: without it 0 of 1 manager(s) would be reachable"),
        "{}",
        out.stdout
    );
    assert_eq!(ran(dir.path()), ["worker-1"]);
}
