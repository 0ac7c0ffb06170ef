//! Many clusters (issue 12): an inventory of three simulated clusters — UCP + DTR, and UCP,
//! each with its own CA and password, and one whose simulator was stopped (a closed port) —
//! planned and applied in parallel; each converged and rolled back on its own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use stigfix::demo::{DEMO_SITE, NONCOMPLIANT_CONFIG};
use stigfix::sim::{DtrOptions, SimOptions, SimUser, Simulator};

use crate::support::{
    EnvOptions, Output, PASSWORD, TestEnv, assert_absent, assert_valid_plan, finish, json,
};

/// East's password (from `$EAST_PASSWORD`) and west's (from a systemd credential file).
pub const EAST_PASSWORD: &str = PASSWORD;
pub const WEST_PASSWORD: &str = "west-Pa55-41b7aa";

/// Three clusters: `east` (UCP + DTR; the [`TestEnv`]'s simulator), `west` (UCP; another
/// simulator) and `north` (a third simulator, stopped: its port is closed).
pub struct Fleet {
    pub env: TestEnv,
    pub west: Simulator,
    pub north: String,
    /// `$CREDENTIALS_DIRECTORY` as systemd would make it: `west` holds west's password.
    pub credentials: PathBuf,
}

impl Fleet {
    pub fn start() -> Fleet {
        let mut env = TestEnv::start(EnvOptions {
            ucp: false,
            trust_ca: false,
            dtr: Some(DtrOptions::default()),
            ..EnvOptions::default()
        });
        // No shared password: each cluster names its own.
        env.remove_env("STIGFIX_PASSWORD");
        env.remove_env("STIGFIX_USERNAME");
        env.remove_env("STIGFIX_DTR_URL");
        let west = Simulator::start(SimOptions {
            tls: true,
            users: vec![SimUser {
                name: "ops".into(),
                password: WEST_PASSWORD.into(),
                admin: true,
            }],
            ucp_config: Some(NONCOMPLIANT_CONFIG.into()),
            ..SimOptions::default()
        })
        .expect("start the west simulator");
        std::fs::write(env.path("west-ca.pem"), west.ca_pem().expect("tls")).unwrap();
        // A third cluster that went down: its simulator stopped, its port closed.
        let north = {
            let simulator = Simulator::start(SimOptions {
                tls: true,
                ..SimOptions::default()
            })
            .expect("start the north simulator");
            let url = simulator.url();
            simulator.shutdown();
            url
        };
        let credentials = env.path("credentials");
        std::fs::create_dir_all(&credentials).unwrap();
        let file = credentials.join("west");
        std::fs::write(&file, format!("{WEST_PASSWORD}\n")).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        env.set_env("EAST_PASSWORD", EAST_PASSWORD);
        env.set_env("NORTH_PASSWORD", "north-unused");
        env.set_env("CREDENTIALS_DIRECTORY", &credentials);
        let fleet = Fleet {
            env,
            west,
            north,
            credentials,
        };
        std::fs::write(fleet.env.path("stigfix.toml"), fleet.site_file()).unwrap();
        fleet
    }

    /// The site file: the demo's variables and waiver, and the inventory.
    pub fn site_file(&self) -> String {
        let url = self.env.url();
        format!(
            r#"username = "admin"

[[clusters]]
name = "east"
ucp_url = "{url}"
dtr_url = "{url}"
password_env = "EAST_PASSWORD"
ca_cert = "ca.pem"
tags = ["prod", "us"]

[[clusters]]
name = "west"
ucp_url = "{west}"
username = "ops"
password_file = "$CREDENTIALS_DIRECTORY/west"
ca_cert = "west-ca.pem"
tags = ["prod"]

[[clusters]]
name = "north"
ucp_url = "{north}"
password_env = "NORTH_PASSWORD"
tags = ["lab"]

{DEMO_SITE}"#,
            west = self.west.url(),
            north = self.north,
        )
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.env.run(args)
    }

    /// The snapshot folders of a cluster (those holding a manifest), oldest first.
    pub fn snapshots(&self, cluster: &str) -> Vec<PathBuf> {
        let dir = self.env.snapshot_dir().join(cluster);
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("manifest.json").is_file())
                .collect(),
            Err(_) => Vec::new(),
        };
        dirs.sort();
        dirs
    }
}

/// The rows of the summary table: cluster → its cells.
fn table(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut lines = text.lines().skip_while(|line| !line.starts_with("CLUSTER"));
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("no summary table:\n{text}"));
    assert!(
        header.contains("CAT I") && header.contains("SNAPSHOT"),
        "{header}"
    );
    lines
        .take_while(|line| !line.is_empty() && !line.contains("cluster(s):"))
        .map(|line| {
            let cells: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            (cells[0].clone(), cells[1..].to_vec())
        })
        .collect()
}

/// Every JSON document of a stream (one per cluster).
fn documents(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|document| document.unwrap_or_else(|e| panic!("not a JSON stream ({e}):\n{text}")))
        .collect()
}

#[test]
fn a_plan_over_three_clusters_reports_each_and_exits_with_the_aggregate() {
    let fleet = Fleet::start();
    let out = fleet.run(&["plan", "--detailed-exitcode"]);
    // north is down: 1 beats 2.
    out.assert_code(1);
    for line in out.stdout.lines().take_while(|line| !line.is_empty()) {
        assert!(
            line.starts_with("[east]") || line.starts_with("[west]"),
            "a line without its cluster: {line}\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("[east] ucp https://127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[east] dtr https://127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[west] ucp https://127.0.0.1:"),
        "{}",
        out.stdout
    );
    let error = out
        .stderr
        .lines()
        .find(|line| line.starts_with("[north] error:"))
        .unwrap_or_else(|| panic!("no error for north:\n{}", out.stderr));
    assert!(error.contains(&fleet.north), "{error}");
    let rows = table(&out.stdout);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["east", "north", "west"]);
    assert_eq!(rows["north"], ["-", "-", "-", "-", "failed", "(1)", "-"]);
    assert_eq!(rows["east"][4..6], ["changes", "(2)"]);
    assert_eq!(rows["west"][4..6], ["changes", "(2)"]);
    assert_ne!(rows["east"][0], "0");
    assert!(
        out.stdout.contains(
            "3 cluster(s): 0 ok, 2 with changes or findings, 1 failed, 0 not restored; exit 1"
        ),
        "{}",
        out.stdout
    );
    // Each cluster logged in with its own account and password, and nothing was written.
    assert_eq!(fleet.env.sim.write_count(), 0);
    assert_eq!(fleet.west.write_count(), 0);
    for password in [EAST_PASSWORD, WEST_PASSWORD] {
        assert_absent(&out.all(), password, "the output");
    }

    // Without north: 2 (changes pending); without --detailed-exitcode: 0.
    let out = fleet.run(&["plan", "--detailed-exitcode", "--cluster", "tag:prod"]);
    out.assert_code(2);
    assert!(!out.all().contains("[north]"), "{}", out.all());
    fleet.run(&["plan", "--cluster", "tag:prod"]).assert_code(0);
}

#[test]
fn json_plans_name_their_cluster_and_the_table_goes_to_stderr() {
    let fleet = Fleet::start();
    let out = fleet.run(&["plan", "--format", "json"]);
    out.assert_code(1);
    // One document per cluster, in the order the clusters finished.
    let mut plans = documents(&out.stdout);
    plans.sort_by_key(|plan| {
        plan["cluster"]
            .as_str()
            .expect("a cluster field")
            .to_string()
    });
    let clusters: Vec<&str> = plans
        .iter()
        .map(|plan| plan["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["east", "west"]);
    for plan in &plans {
        assert_valid_plan(plan);
    }
    // east: UCP, its workloads and DTR; west: UCP and its workloads.
    let kinds = |plan: &serde_json::Value| -> Vec<String> {
        plan["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|target| target["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kinds(&plans[0]), ["ucp", "dtr", "workload"]);
    assert_eq!(kinds(&plans[1]), ["ucp", "workload"]);
    assert!(table(&out.stderr).contains_key("north"), "{}", out.stderr);

    // --out and --report: one file per cluster, the JSON naming its cluster.
    let out = fleet.run(&[
        "plan",
        "--cluster",
        "tag:prod",
        "--out",
        "plan.json",
        "--report",
        "plan.md",
    ]);
    out.assert_code(0);
    for cluster in ["east", "west"] {
        let saved = json(
            &std::fs::read_to_string(fleet.env.path(&format!("plan.{cluster}.json"))).unwrap(),
        );
        assert_eq!(saved["cluster"], cluster);
        assert!(fleet.env.path(&format!("plan.{cluster}.md")).is_file());
    }
    assert!(!fleet.env.path("plan.json").exists());
}

#[test]
fn clusters_are_picked_by_name_glob_and_tag() {
    let fleet = Fleet::start();
    let picked = |selectors: &[&str]| -> Vec<String> {
        let mut args = vec!["plan", "--format", "json"];
        for selector in selectors {
            args.extend(["--cluster", selector]);
        }
        let out = fleet.run(&args);
        let mut names: Vec<String> = documents(&out.stdout)
            .iter()
            .map(|plan| plan["cluster"].as_str().unwrap().to_string())
            .chain(
                table(&out.stderr)
                    .into_iter()
                    .filter(|(_, row)| row[0] == "-")
                    .map(|(name, _)| name),
            )
            .collect();
        names.sort();
        names
    };
    assert_eq!(picked(&["west"]), ["west"]);
    assert_eq!(picked(&["e*"]), ["east"]);
    assert_eq!(picked(&["tag:us"]), ["east"]);
    assert_eq!(picked(&["tag:prod"]), ["east", "west"]);
    assert_eq!(picked(&["west", "tag:lab"]), ["north", "west"]);
    assert_eq!(picked(&["*"]), ["east", "north", "west"]);
    let out = fleet.run(&["plan", "--cluster", "south"]);
    out.assert_code(64);
    assert!(
        out.error_line()
            .contains("--cluster south: no cluster has that name"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("clusters: east, west, north; tags: lab, prod, us"),
        "{}",
        out.stderr
    );
    // One cluster's flags and an inventory are one or the other.
    let mut command = fleet.env.command(&["plan"]);
    command.env("STIGFIX_UCP_URL", fleet.env.url());
    let out = finish(command.spawn().unwrap());
    out.assert_code(64);
    assert!(
        out.error_line()
            .contains("names one cluster, and the inventory"),
        "{}",
        out.stderr
    );
    // So does a client bundle: it names one cluster's Kubernetes API.
    let mut command = fleet.env.command(&["plan"]);
    command.env("STIGFIX_CLIENT_BUNDLE", fleet.env.path("bundle.zip"));
    let out = finish(command.spawn().unwrap());
    out.assert_code(64);
    assert!(
        out.error_line()
            .contains("--client-bundle / STIGFIX_CLIENT_BUNDLE names one cluster"),
        "{}",
        out.stderr
    );
}

#[test]
fn apply_converges_each_reachable_cluster_and_each_rolls_back_on_its_own() {
    let fleet = Fleet::start();
    let east_before = fleet.env.config();
    let west_before = fleet.west.ucp().config_toml();
    let out = fleet.run(&["apply", "--yes", "--parallel", "3"]);
    out.assert_code(1);
    let rows = table(&out.stdout);
    assert_eq!(rows["east"][4], "applied", "{}", out.stdout);
    assert_eq!(rows["west"][4], "applied", "{}", out.stdout);
    assert_eq!(rows["north"][4], "failed", "{}", out.stdout);
    let east = fleet.snapshots("east");
    let west = fleet.snapshots("west");
    assert_eq!((east.len(), west.len()), (1, 1));
    assert!(fleet.snapshots("north").is_empty());
    assert_eq!(
        rows["east"][6],
        east[0].file_name().unwrap().to_str().unwrap()
    );
    assert!(
        out.all()
            .contains("(or `stigfix rollback --last --cluster east`)"),
        "{}",
        out.all()
    );
    assert_ne!(fleet.env.config(), east_before);
    assert_ne!(fleet.west.ucp().config_toml(), west_before);

    // Converged: a second apply writes nothing anywhere.
    let writes = (fleet.env.sim.write_count(), fleet.west.write_count());
    let out = fleet.run(&["apply", "--yes", "--cluster", "tag:prod"]);
    out.assert_code(0);
    assert_eq!(
        (fleet.env.sim.write_count(), fleet.west.write_count()),
        writes
    );
    let rows = table(&out.stdout);
    assert_eq!(
        (rows["east"][0].as_str(), rows["east"][4].as_str()),
        ("0", "ok")
    );
    assert_eq!(
        (rows["west"][0].as_str(), rows["west"][4].as_str()),
        ("0", "ok")
    );

    // Each cluster rolls back alone, from its own snapshots.
    let out = fleet.run(&["rollback", "--last", "--yes", "--cluster", "east"]);
    out.assert_code(0);
    assert_eq!(fleet.env.config(), east_before);
    assert_ne!(fleet.west.ucp().config_toml(), west_before);
    assert!(out.all().contains("[east] Rolled back."), "{}", out.all());
    let out = fleet.run(&["rollback", "--last", "--yes", "--cluster", "west"]);
    out.assert_code(0);
    assert_eq!(fleet.west.ucp().config_toml(), west_before);
    // Rollback is one cluster at a time.
    let out = fleet.run(&["rollback", "--last", "--yes"]);
    out.assert_code(64);
    assert!(
        out.error_line()
            .contains("rollback works on one cluster at a time")
    );

    // Each cluster's snapshots, listed with their cluster.
    let out = fleet.run(&["snapshots", "--format", "json"]);
    out.assert_code(0);
    let listed: Vec<String> = json(&out.stdout)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["cluster"].as_str().unwrap(),
                m["command"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        listed,
        ["east apply", "east rollback", "west apply", "west rollback"]
    );
    let out = fleet.run(&["snapshots", "--cluster", "west"]);
    out.assert_code(0);
    assert!(
        out.stdout.lines().all(|line| line.starts_with("[west] ")),
        "{}",
        out.stdout
    );
}

#[test]
fn a_saved_plan_of_a_cluster_is_applied_to_that_cluster_only() {
    let fleet = Fleet::start();
    fleet
        .run(&["plan", "--cluster", "west", "--out", "plan.json"])
        .assert_code(0);
    let out = fleet.run(&["apply", "plan.west.json", "--yes"]);
    out.assert_code(0);
    assert_eq!(fleet.snapshots("west").len(), 1);
    assert_eq!(fleet.env.sim.write_count(), 0);
    let out = fleet.run(&["apply", "plan.west.json", "--yes", "--cluster", "east"]);
    out.assert_code(64);
    assert!(
        out.error_line().contains("is a plan of cluster west"),
        "{}",
        out.stderr
    );
}

#[test]
fn max_changes_refuses_a_larger_apply_and_writes_nothing() {
    let fleet = Fleet::start();
    let out = fleet.run(&["apply", "--yes", "--cluster", "east", "--max-changes", "3"]);
    out.assert_code(1);
    let error = out
        .stderr
        .lines()
        .find(|line| line.starts_with("[east] error:"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(
        error.contains("changes, more than --max-changes 3 allows; nothing was changed"),
        "{error}"
    );
    let count: usize = error
        .split("the plan has ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {error}"));
    assert!(count > 3, "{error}");
    assert_eq!(fleet.env.sim.write_count(), 0);
    assert!(fleet.snapshots("east").is_empty());
    // The same budget without an inventory (today's flags), and a budget that fits.
    let env = TestEnv::https();
    let out = env.run(&["apply", "--yes", "--max-changes", "1"]);
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("more than --max-changes 1 allows"),
        "{}",
        out.stderr
    );
    env.assert_unchanged();
    env.run(&["apply", "--yes", "--max-changes", "1000"])
        .assert_code(0);
}

#[test]
fn an_unattended_apply_waits_a_bounded_time_for_a_held_lock() {
    let fleet = Fleet::start();
    let spec = stigfix::targets::TargetSpec::new(stigfix::targets::ucp::KIND, fleet.env.url());
    let dir = fleet.env.path("locks");
    let hold = || {
        stigfix::lock::keys(&spec)
            .iter()
            .map(|key| stigfix::lock::acquire(&dir, key, "ucp (the test)").unwrap())
            .collect::<Vec<_>>()
    };
    let held = hold();
    let out = fleet.run(&["apply", "--yes", "--cluster", "east", "--lock-wait", "1"]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("is still working on ucp") && out.stderr.contains("after waiting 1 s"),
        "{}",
        out.stderr
    );
    assert_eq!(fleet.env.sim.write_count(), 0);
    // Released while the run waits: it goes ahead.
    let child = fleet
        .env
        .spawn(&["apply", "--yes", "--cluster", "east", "--lock-wait", "60"]);
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
    let out = finish(child);
    out.assert_code(0);
    assert_eq!(fleet.snapshots("east").len(), 1);
}

#[test]
fn a_cluster_credential_is_by_reference_only() {
    let fleet = Fleet::start();
    let site = fleet.env.path("stigfix.toml");
    let text = fleet.site_file().replace(
        "password_env = \"NORTH_PASSWORD\"",
        "password = \"Inline-Secret-77\"",
    );
    std::fs::write(&site, text).unwrap();
    let line = fleet
        .site_file()
        .lines()
        .position(|line| line.starts_with("password_env = \"NORTH"))
        .unwrap()
        + 1;
    let out = fleet.run(&["plan"]);
    out.assert_code(1);
    assert!(
        out.error_line().contains(&format!(
            "stigfix.toml:{line}:1: `password`: a password is never written in the inventory"
        )),
        "{}",
        out.stderr
    );
    assert_absent(&out.all(), "Inline-Secret-77", "the output");

    // A credential that is not there fails its cluster only, naming it.
    std::fs::write(&site, fleet.site_file()).unwrap();
    std::fs::remove_file(fleet.credentials.join("west")).unwrap();
    let out = fleet.run(&["plan", "--cluster", "tag:prod"]);
    out.assert_code(1);
    let error = out
        .stderr
        .lines()
        .find(|line| line.starts_with("[west] error:"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(error.contains("password file of cluster west"), "{error}");
    assert_eq!(table(&out.stdout)["east"][4], "ok");
}

/// Python that runs its arguments on a new pseudo-terminal (stdin, stdout and stderr), copying
/// its own stdin to it: a person at a terminal.
const PTY: &str =
    "import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))";

/// Run stigfix on a terminal, typing `input`; stdout holds everything it wrote.
fn at_a_terminal(env: &TestEnv, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let template = env.command(args);
    let mut command = std::process::Command::new("python3");
    command
        .arg("-c")
        .arg(PTY)
        .arg(template.get_program())
        .args(template.get_args())
        .env_clear()
        .current_dir(template.get_current_dir().expect("a working folder"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in template.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    let mut child = command.spawn().expect("python3 runs the pseudo-terminal");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("type the answer");
    finish(child)
}

#[test]
fn apply_at_a_terminal_shows_every_plan_and_asks_once() {
    let fleet = Fleet::start();
    // No terminal and no --yes: the plans, one refusal, nothing written.
    let out = fleet.run(&["apply"]);
    out.assert_code(1);
    assert!(out.stdout.contains("[east] ucp https://"), "{}", out.stdout);
    assert!(out.stdout.contains("[west] ucp https://"), "{}", out.stdout);
    let refusals = out
        .stderr
        .lines()
        .filter(|line| line.contains("refusing to apply without confirmation"))
        .count();
    assert_eq!(refusals, 1, "{}", out.stderr);
    assert_eq!(
        (fleet.env.sim.write_count(), fleet.west.write_count()),
        (0, 0)
    );

    // At a terminal: one question for both clusters; "n" changes nothing.
    let out = at_a_terminal(&fleet.env, &["apply", "--cluster", "tag:prod"], "n\n");
    out.assert_code(1);
    let asked: Vec<&str> = out
        .stdout
        .lines()
        .filter(|line| line.contains("[y/N]"))
        .collect();
    assert_eq!(asked.len(), 1, "{}", out.stdout);
    assert!(
        asked[0].contains("to 2 cluster(s) (east, west)?"),
        "{}",
        asked[0]
    );
    assert!(
        out.stdout.contains("apply cancelled; nothing was changed"),
        "{}",
        out.stdout
    );
    assert_eq!(
        (fleet.env.sim.write_count(), fleet.west.write_count()),
        (0, 0)
    );

    // "y": both applied, each with its own snapshot.
    let out = at_a_terminal(&fleet.env, &["apply", "--cluster", "tag:prod"], "y\n");
    out.assert_code(0);
    assert_eq!(
        (fleet.snapshots("east").len(), fleet.snapshots("west").len()),
        (1, 1)
    );
    assert!(out.stdout.contains("applied (0)"), "{}", out.stdout);
    fleet
        .run(&["plan", "--cluster", "tag:prod", "--format", "json"])
        .assert_code(0);
}

#[test]
fn a_cluster_left_changed_makes_the_whole_run_exit_3() {
    let fleet = Fleet::start();
    // west: the PUT lands, its read-back is malformed (verification fails), the restore's PUT
    // answers 500.
    fleet.west.ucp().malformed_reads(2, 1);
    fleet.west.ucp().fail_writes(2, 1, 500);
    let out = fleet.run(&["apply", "--yes"]);
    out.assert_code(3);
    let rows = table(&out.stdout);
    assert_eq!(
        rows["west"][4..7],
        ["NOT", "RESTORED", "(3)"],
        "{}",
        out.stdout
    );
    assert_eq!(rows["east"][4], "applied");
    assert_eq!(rows["north"][4], "failed");
    assert!(
        out.stdout.contains(
            "3 cluster(s): 1 ok, 0 with changes or findings, 1 failed, 1 not restored; exit 3"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .lines()
            .any(|line| line.starts_with("[west] error:")),
        "{}",
        out.stderr
    );
}

#[test]
fn check_writes_each_clusters_checklists_into_its_own_folder_and_logs_each() {
    let fleet = Fleet::start();
    let out_dir = fleet.env.path("checklists");
    let log = fleet.env.path("runs.jsonl");
    let out = fleet.run(&[
        "check",
        "--format",
        "ckl",
        "--out",
        out_dir.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ]);
    // north is down: the aggregate is a failure, and the others' checklists are written.
    out.assert_code(1);
    let files = |cluster: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(out_dir.join(cluster))
            .unwrap_or_else(|e| panic!("{cluster}'s folder: {e}\n{}", out.stderr))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let east = files("east");
    let west = files("west");
    assert!(east.iter().any(|name| name.starts_with("dtr-")), "{east:?}");
    assert!(east.iter().any(|name| name.starts_with("ucp-")), "{east:?}");
    assert!(west.iter().all(|name| name.ends_with(".ckl")), "{west:?}");
    assert!(
        !west.iter().any(|name| name.starts_with("dtr-")),
        "{west:?}"
    );
    assert!(!out_dir.join("north").exists());
    let rows = table(&out.stderr);
    assert!(
        rows["north"].iter().any(|cell| cell.contains("failed")),
        "{rows:?}"
    );
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut logged: Vec<(&str, &str)> = lines
        .iter()
        .map(|line| {
            (
                line["cluster"].as_str().unwrap(),
                line["command"].as_str().unwrap(),
            )
        })
        .collect();
    logged.sort();
    assert_eq!(
        logged,
        [("east", "check"), ("north", "check"), ("west", "check")]
    );
}
