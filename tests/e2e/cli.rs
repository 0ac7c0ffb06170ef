//! Usage errors, help, `playbook`, `login`/`logout`, `snapshots prune`, `demo --serve`.

use std::io::BufRead;

use crate::support::{KeyringSession, PASSWORD, TEST_NOW, TestEnv, ctrl_c, finish, json};

#[test]
fn help_and_version_exit_0() {
    let env = TestEnv::http();
    let out = env.run(&["--help"]);
    out.assert_code(0);
    assert!(out.stdout.contains("plan"), "{}", out.stdout);
    assert!(
        out.stdout.contains("64"),
        "exit codes are documented:\n{}",
        out.stdout
    );
    env.run(&["plan", "--help"]).assert_code(0);
    let out = env.run(&["--version"]);
    out.assert_code(0);
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")));
    assert!(env.sim.requests().is_empty());
}

/// `--help` names the environment variables, never their values: a URL, a path or an account
/// from the environment stays out of a help text pasted into a ticket.
#[test]
fn help_shows_no_environment_values() {
    let mut env = TestEnv::http();
    env.set_env(
        "STIGFIX_UCP_URL",
        "https://admin:Help-Pa55-e2e@ucp.example.mil",
    );
    env.set_env("STIGFIX_DTR_URL", "https://dtr-help.example.mil");
    env.set_env("STIGFIX_USERNAME", "help-account-e2e");
    for args in [
        &["--help"][..],
        &["plan", "--help"][..],
        &["snapshots", "prune", "--help"][..],
    ] {
        let out = env.run(args);
        out.assert_code(0);
        assert!(
            out.stdout.contains("[env: STIGFIX_UCP_URL]"),
            "{}",
            out.stdout
        );
        for value in [
            "Help-Pa55-e2e",
            "dtr-help.example.mil",
            "help-account-e2e",
            "stigfix-e2e-",
        ] {
            assert!(
                !out.stdout.contains(value),
                "{args:?} shows {value}:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn usage_errors_exit_64_never_2() {
    let env = TestEnv::http();
    for args in [
        &["plan", "--no-such-flag"][..],
        &["plan", "--detailed-exitcode", "--no-such-flag"][..],
        &["plan", "--format", "yaml"][..],
        &["rollback"][..],
        &["rollback", "--yes"][..],
        &["rollback", "SOME-ID", "--last"][..],
        &["no-such-command"][..],
        &["snapshots", "--format", "markdown"][..],
        &["snapshots", "prune"][..],
        &[][..],
    ] {
        let out = env.run(args);
        assert_eq!(
            out.code, 64,
            "{args:?} exited {}\n{}{}",
            out.code, out.stdout, out.stderr
        );
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
    let out = env.run(&["rollback"]);
    assert!(out.stderr.contains("<SNAPSHOT>"), "{}", out.stderr);
    assert!(env.sim.requests().is_empty());
}

#[test]
fn bad_url_is_a_usage_error() {
    let env = TestEnv::http();
    let out = env.run(&["plan", "--ucp-url", "ftp://example.mil"]);
    out.assert_code(64);
    let out = env.run(&["plan", "--ucp-url", "https://admin:hunter2@example.mil"]);
    out.assert_code(64);
    assert!(!out.all().contains("hunter2"), "{}", out.all());
}

#[test]
fn playbook_list_show_validate() {
    let env = TestEnv::http();
    let out = env.run(&["playbook", "list"]);
    out.assert_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("DKER-EE-004370"))
        .unwrap_or_else(|| panic!("no DKER-EE-004370 in:\n{}", out.stdout));
    assert!(line.contains("V-235847"), "{line}");
    assert!(out.stdout.contains("CNTR-MK-001380"));

    let out = env.run(&["playbook", "show", "DKER-EE-004370"]);
    out.assert_code(0);
    assert!(out.stdout.contains("V-235847"), "{}", out.stdout);
    assert!(out.stdout.contains("Check text:"), "{}", out.stdout);
    assert!(out.stdout.contains("Fix text:"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("trust_configuration.require_content_trust"),
        "{}",
        out.stdout
    );
    // By Vuln ID too.
    let by_vuln = env.run(&["playbook", "show", "V-235847"]);
    by_vuln.assert_code(0);
    assert_eq!(by_vuln.stdout, out.stdout);

    let out = env.run(&["playbook", "show", "DKER-EE-000000"]);
    out.assert_code(1);
    assert!(out.error_line().contains("DKER-EE-000000"));

    let out = env.run(&["playbook", "validate"]);
    out.assert_code(0);
    assert!(out.stdout.starts_with("valid:"), "{}", out.stdout);

    std::fs::write(
        env.path("bad.toml"),
        "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n\n[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nmode = \"sometimes\"\nsettings = [{ path = \"trust_configuration.require_content_trust\", value = true }]\n",
    )
    .unwrap();
    let out = env.run(&["playbook", "validate", "bad.toml"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.starts_with("error: bad.toml:8:"), "{error}");
    assert!(error.contains("sometimes"), "{error}");

    std::fs::write(env.path("syntax.toml"), "[playbook\nbenchmark = 1\n").unwrap();
    let out = env.run(&["playbook", "validate", "syntax.toml"]);
    out.assert_code(1);
    assert!(
        out.error_line().starts_with("error: syntax.toml:1:"),
        "{}",
        out.stderr
    );
    assert!(env.sim.requests().is_empty());
}

/// Removes the keyring entry even when the test fails half-way.
struct Logout<'a>(&'a TestEnv, &'a KeyringSession);

impl Drop for Logout<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .run_command(self.0.command_in_keyring(self.1, &["logout"]), None);
    }
}

#[test]
fn login_stores_the_password_in_the_keyring_and_logout_removes_it() {
    let mut env = TestEnv::https();
    env.remove_env("STIGFIX_PASSWORD");
    // One kernel session keyring for every run of this test (as in one login shell).
    let keyring = KeyringSession::new(&format!(
        "stigfix-e2e-{}",
        env.url().rsplit(':').next().unwrap()
    ));
    let run = |args: &[&str], input: Option<&str>| {
        env.run_command(env.command_in_keyring(&keyring, args), input)
    };

    // No password anywhere: plan fails asking for one.
    let out = run(&["plan"], None);
    out.assert_code(1);
    assert!(out.error_line().contains("no password"), "{}", out.stderr);
    assert!(out.stderr.contains("stigfix login"), "{}", out.stderr);
    assert!(env.sim.requests().is_empty());

    let out = run(
        &["login", "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    let _guard = Logout(&env, &keyring);
    out.assert_code(0);
    assert!(out.stderr.contains("kernel keyring"), "{}", out.stderr);
    assert!(!out.all().contains(PASSWORD));

    let out = run(&["plan", "--detailed-exitcode"], None);
    out.assert_code(2);
    assert!(!out.all().contains(PASSWORD));
    assert_eq!(env.count("POST", "/auth/login"), 1);
    assert_eq!(env.count("GET", crate::support::CONFIG_PATH), 1);

    let out = run(&["logout"], None);
    out.assert_code(0);
    assert!(out.stderr.contains("Removed"), "{}", out.stderr);

    let out = run(&["plan"], None);
    out.assert_code(1);
    assert!(out.error_line().contains("no password"), "{}", out.stderr);
    assert!(out.error_line().contains(&env.url()), "{}", out.stderr);
    assert_eq!(env.count("POST", "/auth/login"), 1);

    // A second logout has nothing to remove, and says so.
    let out = run(&["logout"], None);
    out.assert_code(0);
    assert!(out.stderr.contains("No stored password"), "{}", out.stderr);
}

/// `stigfix login` as it runs from cron, a systemd unit or a container: the process has no
/// session keyring of its own (this test's processes have none). The password goes into the
/// user's persistent keyring, readable by the user's processes only, and a later run (another
/// process, as from the next cron job) finds it there.
#[test]
fn login_works_without_a_session_keyring() {
    let mut env = TestEnv::http();
    env.remove_env("STIGFIX_PASSWORD");
    let out = env.run_with_stdin(&["login", "--password-stdin"], &format!("{PASSWORD}\n"));
    let _guard = LogoutPlain(&env);
    out.assert_code(0);
    assert!(
        out.stderr
            .contains("in the kernel keyring (the user's persistent keyring"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(PASSWORD));
    let description = format!("stigfix:admin@{}", env.url());
    let keys = std::fs::read_to_string("/proc/keys").unwrap();
    let line = keys
        .lines()
        .find(|line| line.ends_with(&format!("{description}: {}", PASSWORD.len())))
        .unwrap_or_else(|| panic!("no key {description} in /proc/keys:\n{keys}"));
    // Possessor: everything; the owner: view, read, write, search; group and others: nothing.
    assert!(line.contains(" perm 3f0f0000 "), "{line}");

    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert_eq!(env.count("POST", "/auth/login"), 1);

    let out = env.run(&["logout"]);
    out.assert_code(0);
    assert!(out.stderr.contains("Removed"), "{}", out.stderr);
    let out = env.run(&["plan"]);
    out.assert_code(1);
    assert!(out.error_line().contains("no password"), "{}", out.stderr);
}

/// Removes the keyring entry of a test without a session keyring, even when it fails half-way.
struct LogoutPlain<'a>(&'a TestEnv);

impl Drop for LogoutPlain<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["logout"]);
    }
}

#[test]
fn password_stdin_is_used_for_a_plan() {
    let mut env = TestEnv::http();
    env.remove_env("STIGFIX_PASSWORD");
    let out = env.run_with_stdin(&["plan", "--password-stdin"], &format!("{PASSWORD}\n"));
    out.assert_code(0);
    assert!(!out.all().contains(PASSWORD));
    let out = env.run_with_stdin(&["plan", "--password-stdin"], "");
    out.assert_code(64);
}

#[test]
fn login_without_a_tty_or_stdin_refuses() {
    let mut env = TestEnv::http();
    env.remove_env("STIGFIX_PASSWORD");
    let out = env.run(&["login"]);
    out.assert_code(1);
    assert!(out.stderr.contains("--password-stdin"), "{}", out.stderr);
}

/// Three snapshots: an apply that was rolled back, its rollback, and a later apply in force.
fn three_snapshots(env: &TestEnv) -> Vec<String> {
    env.run(&["apply", "--yes"]).assert_code(0);
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    env.run(&["apply", "--yes"]).assert_code(0);
    let ids: Vec<String> = env
        .snapshot_dirs()
        .iter()
        .map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    ids
}

#[test]
fn prune_keeps_the_way_back_and_asks_first() {
    let env = TestEnv::https();
    let ids = three_snapshots(&env);

    // Without --yes and without a terminal: the list, and nothing removed.
    let out = env.run(&["snapshots", "prune", "--keep", "0"]);
    out.assert_code(1);
    assert!(
        out.error_line().contains("nothing was removed"),
        "{}",
        out.stderr
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(
        lines[0].starts_with(&format!("remove  {}  apply ", ids[0])),
        "{}",
        out.stdout
    );
    assert!(
        lines[0].ends_with("older than the 0 newest"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with(&format!("remove  {}  rollback ", ids[1])),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with(&format!("keep    {}  apply ", ids[2])),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].ends_with(&format!(
            "the newest change in force on ucp {}: rolling it back needs this snapshot",
            env.url()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(env.snapshot_dirs().len(), 3);

    let out = env.run(&[
        "snapshots",
        "prune",
        "--keep",
        "0",
        "--yes",
        "--format",
        "json",
    ]);
    out.assert_code(0);
    let report = json(&out.stdout);
    assert_eq!(report["removed"], true);
    let actions: Vec<(&str, &str)> = report["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["id"].as_str().unwrap(),
                entry["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (ids[0].as_str(), "remove"),
            (ids[1].as_str(), "remove"),
            (ids[2].as_str(), "keep")
        ]
    );
    assert!(report["freed_bytes"].as_u64().unwrap() > 0);
    assert!(
        out.stderr.contains("Removed 2 snapshot(s)"),
        "{}",
        out.stderr
    );
    assert_eq!(env.snapshot_dirs().len(), 1);

    // The way back still works.
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    env.assert_unchanged();
}

#[test]
fn prune_by_age_and_never_under_a_running_run() {
    let mut env = TestEnv::https();
    let ids = three_snapshots(&env);
    let later = |days: i64| {
        let now =
            time::OffsetDateTime::parse(TEST_NOW, &time::format_description::well_known::Rfc3339)
                .unwrap();
        (now + time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };

    env.set_env("STIGFIX_TEST_NOW", later(10));
    let out = env.run(&["snapshots", "prune", "--older-than", "30", "--yes"]);
    out.assert_code(0);
    assert!(out.stderr.contains("Nothing to remove"), "{}", out.stderr);
    assert!(
        out.stdout.contains("made within the last 30 day(s)"),
        "{}",
        out.stdout
    );

    // Another run holds the lock of the cluster: nothing of it is removed.
    env.set_env("STIGFIX_TEST_NOW", later(40));
    let spec = stigfix::targets::TargetSpec::new(stigfix::targets::ucp::KIND, env.url());
    let key = stigfix::lock::keys(&spec).remove(0);
    let held = stigfix::lock::acquire(&env.path("locks"), &key, "ucp (the test)").unwrap();
    let out = env.run(&["snapshots", "prune", "--older-than", "30", "--yes"]);
    out.assert_code(0);
    assert!(
        out.stdout.contains(&format!(
            "another stigfix run is working on ucp {}",
            env.url()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(env.snapshot_dirs().len(), 3);
    drop(held);

    let out = env.run(&["snapshots", "prune", "--older-than", "30", "--yes"]);
    out.assert_code(0);
    assert!(
        out.stdout.contains("made more than 30 day(s) ago"),
        "{}",
        out.stdout
    );
    let left: Vec<String> = env
        .snapshot_dirs()
        .iter()
        .map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [ids[2].clone()]);
}

/// `demo --serve` runs until Ctrl-C, then removes its folder (the node, the CA, snapshots).
#[test]
fn demo_serve_cleans_up_after_ctrl_c() {
    let mut env = TestEnv::http();
    let temp = env.path("tmp");
    std::fs::create_dir_all(&temp).unwrap();
    env.set_env("TMPDIR", &temp);
    let mut child = env.spawn(&["demo", "--serve"]);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut shown = String::new();
    while !shown.contains("Ctrl-C stops the simulator") {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            panic!("demo --serve ended early:\n{shown}");
        }
        shown.push_str(&line);
    }
    let folder = temp.join(format!("stigfix-demo-{}", child.id()));
    assert!(shown.contains(&folder.display().to_string()), "{shown}");
    assert!(folder.join("node1").is_dir(), "{shown}");

    ctrl_c(&child);
    child.stdout = Some(stdout.into_inner());
    let out = finish(child);
    out.assert_code(0);
    assert!(!folder.exists(), "{} was left behind", folder.display());
}

/// The README's first command: `stigfix demo` runs the whole cycle and ends well — converged,
/// a second apply without a write, everything rolled back exactly — and leaves nothing behind.
#[test]
fn the_demo_runs_the_whole_cycle_and_exits_0() {
    let mut env = TestEnv::http();
    let temp = env.path("tmp");
    std::fs::create_dir_all(&temp).unwrap();
    env.set_env("TMPDIR", &temp);
    let out = env.run(&["demo"]);
    out.assert_code(0);
    for line in [
        "Writes by the second apply: 0",
        "UCP config after rollback is identical to the original",
        "The node's files (bytes, owners, modes) are identical to the originals",
    ] {
        assert!(
            out.stderr.contains(line),
            "missing `{line}`:\n{}",
            out.stderr
        );
    }
    assert!(out.stdout.contains("Plan: no changes"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_dir(&temp).unwrap().count(),
        0,
        "the demo left files"
    );
}
