//! Golden outputs: what a user sees, pinned with insta so that a change to any of it shows up
//! as a snapshot diff. Each snapshot (`snapshots/e2e__golden__*.snap`) is one run: its exit
//! code, then stdout, then stderr. Only what varies between runs is masked (see [`settings`]).
//!
//! Kept as they are: dates (every run sees `STIGFIX_TEST_NOW`), and the fingerprints of UCP,
//! DTR and host states, which are the same from run to run for the same content (the host's
//! does not depend on inodes, mtimes or where the root is; the DTR's would depend on the
//! simulator's port through `dtrHost`, which is therefore set to a fixed name). The fake node's
//! owners are a real node's when the tests run as root, as CI runs them; run as another user,
//! its owner names differ and the snapshots with a host target do not match.
//!
//! A changed output fails the test. To accept it: `INSTA_UPDATE=always cargo test --test e2e
//! golden::` (or `cargo insta review`), then read the diff of the `.snap` files. Under CI
//! (`CI=true`) insta never writes a snapshot: a difference fails.

use stigfix::demo::NONCOMPLIANT_CONFIG;
use stigfix::sim::host::ubuntu_node;
use stigfix::sim::{DtrOptions, generate_repositories};

use crate::support::{EnvOptions, Output, TestEnv};

/// Every variable that points the binary somewhere; removed for `--help`, which would show
/// their values (`[env: STIGFIX_CONFIG=/tmp/…]`).
const POINTERS: [&str; 8] = [
    "STIGFIX_CONFIG",
    "STIGFIX_UCP_URL",
    "STIGFIX_DTR_URL",
    "STIGFIX_HOST_ROOT",
    "STIGFIX_USERNAME",
    "STIGFIX_CA_CERT",
    "STIGFIX_SNAPSHOT_DIR",
    "STIGFIX_PLAYBOOK",
];

/// The run as one block: `exit: N`, `--- stdout`, …, `--- stderr`, … . A stream that does not
/// end with a newline says so, so that the block's layout cannot hide it.
fn block(out: &Output) -> String {
    fn stream(text: &str) -> String {
        if text.is_empty() || text.ends_with('\n') {
            text.to_string()
        } else {
            format!("{text}\n[no newline at end]\n")
        }
    }
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.code,
        stream(&out.stdout),
        stream(&out.stderr)
    )
}

/// `text` as a regex matching itself.
fn literal(text: &str) -> String {
    let mut escaped = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// insta settings for a run in `env`, described by the command line it ran. Filters:
/// - the test's temp folder (as given and canonical: host roots are shown canonical) → `[TEMP]`;
/// - the simulator's `127.0.0.1:<port>` (a free port each run) → `[SERVER]`;
/// - snapshot ids (`20261122T100000.123456Z-abcdef`: the date is the pinned clock, but the
///   microseconds come from the real clock and the suffix is random) → `[SNAPSHOT]`.
fn settings(env: &TestEnv, args: &[&str]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_omit_expression(true);
    settings.set_description(format!("stigfix {}", args.join(" ")));
    let dir = env.dir.path();
    let canonical = std::fs::canonicalize(dir).expect("canonical temp folder");
    for path in [canonical.as_path(), dir] {
        settings.add_filter(&literal(&path.display().to_string()), "[TEMP]");
    }
    settings.add_filter(r"127\.0\.0\.1:\d+", "[SERVER]");
    settings.add_filter(r"\b\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}\b", "[SNAPSHOT]");
    // A plan's digest covers its endpoints (the port, the temp folder): it differs every run.
    settings.add_filter(
        r#""digest": "sha256:[0-9a-f]{64}""#,
        r#""digest": "[DIGEST]""#,
    );
    settings.add_filter(
        r"Plan digest: `sha256:[0-9a-f]{64}`",
        "Plan digest: `[DIGEST]`",
    );
    settings.add_filter(r"Plan sha256:[0-9a-f]{64}", "Plan [DIGEST]");
    settings
}

/// Runs `args` in `env` and checks the block against the snapshot `name`.
#[track_caller]
fn golden(env: &TestEnv, name: &str, args: &[&str]) -> Output {
    let out = env.run(args);
    settings(env, args).bind(|| insta::assert_snapshot!(name, block(&out)));
    out
}

/// An environment with clap's help wrapped at a fixed width.
fn fixed_width(mut env: TestEnv) -> TestEnv {
    env.set_env("COLUMNS", "100");
    env
}

/// The content the other end-to-end tests use: the non-compliant UCP config over HTTPS, a DTR
/// with scanning and create-on-push as many are found (12 repositories, every third not
/// scanning on push) under a fixed host name, and a fake Ubuntu node.
fn cluster() -> TestEnv {
    let mut env = fixed_width(TestEnv::start(EnvOptions {
        dtr: Some(DtrOptions {
            repositories: generate_repositories(12, 3),
            settings: Some(serde_json::json!({
                "scanningEnabled": false,
                "createRepositoryOnPush": true,
                // The simulator's default is its own `127.0.0.1:<port>`, a new port each run,
                // which would change the DTR's fingerprint from run to run.
                "dtrHost": "dtr.example.mil",
            })),
            ..DtrOptions::default()
        }),
        ..EnvOptions::default()
    }));
    let root = env.path("node1");
    ubuntu_node(&root).expect("build the fake node");
    env.set_env("STIGFIX_HOST_ROOT", &root);
    env
}

/// UCP alone over HTTPS, for the error cases.
fn ucp() -> TestEnv {
    fixed_width(TestEnv::https())
}

#[test]
fn help_of_every_command() {
    let mut env = fixed_width(TestEnv::http());
    for key in POINTERS {
        env.remove_env(key);
    }
    for (name, args) in [
        ("help", &["--help"][..]),
        ("help_plan", &["plan", "--help"][..]),
        ("help_check", &["check", "--help"][..]),
        ("help_apply", &["apply", "--help"][..]),
        ("help_rollback", &["rollback", "--help"][..]),
        ("help_snapshots", &["snapshots", "--help"][..]),
        ("help_playbook", &["playbook", "--help"][..]),
        ("help_playbook_list", &["playbook", "list", "--help"][..]),
        ("help_playbook_show", &["playbook", "show", "--help"][..]),
        (
            "help_playbook_validate",
            &["playbook", "validate", "--help"][..],
        ),
        ("help_login", &["login", "--help"][..]),
        ("help_logout", &["logout", "--help"][..]),
        ("help_demo", &["demo", "--help"][..]),
        ("help_nodes", &["nodes", "--help"][..]),
        ("help_nodes_plan", &["nodes", "plan", "--help"][..]),
        ("help_nodes_check", &["nodes", "check", "--help"][..]),
        ("help_nodes_image", &["nodes", "image", "--help"][..]),
        ("help_nodes_rollout", &["nodes", "rollout", "--help"][..]),
    ] {
        golden(&env, name, args).assert_code(0);
    }
    assert!(env.sim.requests().is_empty());
}

/// `stigfix nodes`: the report of three nodes (the scanner's service name is random), and a
/// rollout that stops at a node that does not come back.
#[test]
fn nodes_plan_check_and_rollout() {
    let roots = crate::nodes::Roots::new();
    let env = fixed_width(crate::nodes::env_for(roots.cluster(&[])));
    let run = |name: &str, args: &[&str]| {
        let out = env.run(args);
        let mut settings = settings(&env, args);
        settings.add_filter(r"stigfix-scan-[0-9a-f]{8}", "stigfix-scan-[ID]");
        settings.bind(|| insta::assert_snapshot!(name, block(&out)));
        out
    };
    run("nodes_plan_text", &["nodes", "plan", "--color", "never"]).assert_code(0);
    run("nodes_check_text", &["nodes", "check", "--color", "never"]).assert_code(2);
    let restarts = tempfile::tempdir().expect("a folder for the restarts");
    let mut cluster = crate::nodes::restartable(1, 3, restarts.path());
    cluster.node_mut("worker-2").expect("worker-2").comes_back = false;
    let env = fixed_width(crate::nodes::env_for(cluster));
    let command = crate::nodes::touch_command(restarts.path());
    let args = [
        "nodes",
        "rollout",
        "--all",
        "--node-timeout",
        "2",
        "--run",
        &command,
    ];
    let out = env.run(&args);
    let mut settings = settings(&env, &args);
    settings.set_description(
        "stigfix nodes rollout --all --node-timeout 2 --run 'touch [RESTARTS]/{node} && …'",
    );
    settings.add_filter(
        &literal(&restarts.path().display().to_string()),
        "[RESTARTS]",
    );
    settings.bind(|| insta::assert_snapshot!("nodes_rollout_stopped", block(&out)));
    out.assert_code(3);
}

#[test]
fn plan_in_every_format() {
    let env = cluster();
    golden(&env, "plan_text", &["plan", "--color", "never"]).assert_code(0);
    golden(&env, "plan_markdown", &["plan", "--format", "markdown"]).assert_code(0);
    golden(&env, "plan_json", &["plan", "--format", "json"]).assert_code(0);
    assert_eq!(env.sim.write_count(), 0);
}

/// `check` on a terminal, and the evidence and waiver of a few rules in the `.ckl` it writes.
#[test]
fn check_text_and_checklist_evidence() {
    let env = cluster();
    golden(&env, "check_text", &["check"]).assert_code(2);
    env.run(&["check", "--format", "ckl", "--out", "ckl"])
        .assert_code(2);
    let mut excerpt = String::new();
    for (asset, stig_id) in [
        ("ucp", "DKER-EE-004370"),
        ("ucp", "DKER-EE-002180"),
        ("ucp", "DKER-EE-001100"),
        ("dtr", "DKER-EE-003840"),
        ("host", "DKER-EE-005320"),
        ("host", "DKER-EE-004370"),
    ] {
        let file = std::fs::read_dir(env.path("ckl"))
            .expect("the checklists")
            .map(|entry| entry.expect("an entry").path())
            .find(|path| {
                let name = path.file_name().unwrap().to_string_lossy();
                name.starts_with(&format!("{asset}-")) && name.contains("Docker_Enterprise")
            })
            .expect("the asset's checklist");
        let text = std::fs::read_to_string(&file).expect("read the checklist");
        excerpt.push_str(&format!(
            "=== {asset} {stig_id}: {}\n--- FINDING_DETAILS\n{}\n--- COMMENTS\n{}\n\n",
            crate::check::ckl_field(&text, stig_id, "STATUS"),
            crate::check::ckl_field(&text, stig_id, "FINDING_DETAILS"),
            crate::check::ckl_field(&text, stig_id, "COMMENTS"),
        ));
    }
    settings(&env, &["check", "--format", "ckl"])
        .bind(|| insta::assert_snapshot!("check_ckl_evidence", excerpt));
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn apply_plan_snapshots_rollback() {
    let env = cluster();
    golden(&env, "cycle_1_apply", &["apply", "--yes"]).assert_code(0);
    golden(&env, "cycle_2_plan", &["plan"]).assert_code(0);
    golden(&env, "cycle_3_snapshots", &["snapshots"]).assert_code(0);
    golden(&env, "cycle_4_rollback", &["rollback", "--last", "--yes"]).assert_code(0);
    env.assert_unchanged();
}

#[test]
fn unknown_flag() {
    let env = ucp();
    golden(&env, "error_unknown_flag", &["plan", "--no-such-flag"]).assert_code(64);
}

/// A rule with a STIG ID no benchmark has (line 6, column 6 of the file).
const BAD_PLAYBOOK: &str = r#"[playbook]
benchmark = "Docker_Enterprise_2-x_Linux-UNIX_STIG"
release = "V2R2"

[[rules]]
id = "DKER-EE-123456"
target = "ucp"
settings = [{ path = "trust_configuration.require_content_trust", value = true }]
"#;

#[test]
fn bad_playbook() {
    let env = ucp();
    std::fs::write(env.path("bad.toml"), BAD_PLAYBOOK).expect("write the playbook");
    golden(
        &env,
        "error_bad_playbook",
        &["plan", "--playbook", "bad.toml"],
    )
    .assert_code(1);
    assert!(env.sim.requests().is_empty());
}

#[test]
fn bad_credentials() {
    let mut env = ucp();
    env.set_env("STIGFIX_PASSWORD", "Wr0ng-Pa55-e2e-5d2a");
    golden(&env, "error_bad_credentials", &["plan"]).assert_code(1);
}

#[test]
fn stale_saved_plan() {
    let env = ucp();
    env.run(&["plan", "--out", "plan.json"]).assert_code(0);
    let changed = NONCOMPLIANT_CONFIG.replace("/var/backups/mke", "/srv/backups/mke");
    env.sim
        .ucp()
        .set_config_toml(&changed)
        .expect("change the config");
    golden(&env, "error_stale_plan", &["apply", "plan.json", "--yes"]).assert_code(1);
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn apply_without_yes_and_without_a_terminal() {
    let env = ucp();
    golden(&env, "error_apply_without_yes", &["apply"]).assert_code(1);
    env.assert_unchanged();
}
