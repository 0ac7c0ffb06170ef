//! The Docker Engine node ("host") target: a fake node's files under `STIGFIX_HOST_ROOT`, with
//! real owners and modes (the tests run as root). Every change is checked on the disk, and
//! "writes nothing" and "restored exactly" are byte-for-byte comparisons of the whole tree,
//! owner and mode included.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use stigfix::sim::host::{
    Entry, compliant_node, debian_docker_io_node, docker_ce_rpm_node, rhel_docker_node, rhel_node,
    tree, ubuntu_node,
};
use stigfix::sim::{DtrOptions, SimRepo, generate_repositories};

use crate::support::{EnvOptions, Output, TestEnv, assert_root, json};

const DROPIN: &str = "etc/systemd/system/docker.service.d/zz-stigfix.conf";
const DAEMON_JSON: &str = "etc/docker/daemon.json";
const SOCKET_DROPIN: &str = "etc/systemd/system/docker.socket.d/zz-stigfix.conf";
const ETC_DEFAULT_DOCKER: &str = "etc/default/docker";
const SYSCONFIG_DOCKER: &str = "etc/sysconfig/docker";
const RESTART: &str = "systemctl daemon-reload && systemctl restart docker";

/// Ids the simulator's fake nodes use when built as root.
const ALICE: u32 = 1001;
const DOCKER_GID: u32 = 998;

type Tree = BTreeMap<PathBuf, Entry>;

/// A test folder with a node built by `build` under `node1`, and only the host target.
fn host_env(build: fn(&Path) -> io::Result<()>) -> (TestEnv, PathBuf) {
    let mut env = TestEnv::start(EnvOptions {
        ucp: false,
        ..EnvOptions::default()
    });
    let root = env.path("node1");
    build(&root).expect("build the fake node");
    env.set_env("STIGFIX_HOST_ROOT", &root);
    (env, root)
}

fn snap(root: &Path) -> Tree {
    tree(root).expect("walk the node")
}

/// (uid, gid, mode) of a path under the root, not following a last symlink.
fn meta(root: &Path, rel: &str) -> (u32, u32, u32) {
    let metadata =
        fs::symlink_metadata(root.join(rel)).unwrap_or_else(|e| panic!("stat {rel}: {e}"));
    (metadata.uid(), metadata.gid(), metadata.mode() & 0o7777)
}

fn read(root: &Path, rel: &str) -> String {
    fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn write(root: &Path, rel: &str, text: &str) {
    if let Some(parent) = root.join(rel).parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create the folder of {rel}: {e}"));
    }
    fs::write(root.join(rel), text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
}

fn chmod(root: &Path, rel: &str, mode: u32) {
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {rel}: {e}"));
}

/// Asserts that the tree is exactly `before`, naming the first differences.
#[track_caller]
fn assert_tree(root: &Path, before: &Tree, what: &str) {
    let after = snap(root);
    if &after != before {
        let mut problems = Vec::new();
        for (path, entry) in before {
            match after.get(path) {
                None => problems.push(format!("{} is gone", path.display())),
                Some(now) if now != entry => problems.push(format!(
                    "{} differs: {:?} {}:{} {:o} -> {:?} {}:{} {:o}",
                    path.display(),
                    entry.kind,
                    entry.uid,
                    entry.gid,
                    entry.mode,
                    now.kind,
                    now.uid,
                    now.gid,
                    now.mode
                )),
                Some(_) => {}
            }
        }
        for path in after.keys().filter(|path| !before.contains_key(*path)) {
            problems.push(format!("{} is new", path.display()));
        }
        panic!("{what}: the node's files differ:\n{}", problems.join("\n"));
    }
}

/// Asserts that `out` (exit 1) touched nothing: same tree, no snapshot left behind.
#[track_caller]
fn assert_refused(env: &TestEnv, root: &Path, before: &Tree, out: &Output) {
    out.assert_code(1);
    assert_eq!(
        out.stderr
            .lines()
            .filter(|line| line.starts_with("error:"))
            .count(),
        1,
        "one error line:\n{}",
        out.stderr
    );
    assert_tree(root, before, "after a refused run");
    assert!(
        env.snapshot_dirs().is_empty(),
        "no snapshot: {:?}",
        env.snapshot_dirs()
    );
}

/// The canonical root as the binary names it in messages.
fn shown(root: &Path) -> String {
    fs::canonicalize(root).unwrap().display().to_string()
}

/// A stand-in for systemctl that appends its arguments to `log`, one call a line, and fails
/// with `fail_on` (when the arguments are exactly that) the first time only.
fn fake_systemctl(env: &TestEnv, fail_on: Option<&str>) -> (PathBuf, PathBuf) {
    let log = env.path("systemctl.log");
    let script = env.path("systemctl");
    let fail = match fail_on {
        Some(args) => format!(
            "if [ \"$*\" = \"{args}\" ] && [ ! -e \"{marker}\" ]; then\n  : > \"{marker}\"\n  echo \"Job for docker.service failed because the control process exited with error code.\" >&2\n  exit 1\nfi\n",
            marker = env.path("systemctl.failed").display()
        ),
        None => String::new(),
    };
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> \"{}\"\n{fail}exit 0\n",
            log.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

fn log_lines(log: &Path) -> Vec<String> {
    match fs::read_to_string(log) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read {}: {e}", log.display()),
    }
}

#[test]
fn ubuntu_node_plan_apply_idempotent_and_exact_rollback() {
    let (env, root) = host_env(ubuntu_node);
    let original = snap(&root);
    let vendor_unit = fs::read(root.join("lib/systemd/system/docker.service")).unwrap();

    // Plan: every finding, the diff and the restart; nothing written.
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    for needle in [
        "~ dockerd.tcp_hosts: [\"tcp://0.0.0.0:2375\"] -> []  DKER-EE-001050",
        "+ dockerd.environment.DOCKER_FIPS: (not set) -> \"1\"  DKER-EE-001070, CNTR-MK-000870",
        "~ dockerd.insecure_registries: [\"registry.local:5000\"] -> []  DKER-EE-001800",
        "~ files.tls_key.owner: \"alice\" -> \"root\"",
        "~ files.tls_key.mode: \"0644\" -> \"0400\"",
        "~ files.docker_sock.group: \"root\" -> \"docker\"",
        "~ files.docker_sock.mode: \"0666\" -> \"0660\"",
        "~ files.docker_service.mode: \"0664\" -> \"0644\"",
        "owner /etc/docker/tls/server-key.pem alice:alice -> root:root",
        "mode /run/docker.sock 0666 -> 0660",
        "create /etc/systemd/system/docker.service.d/zz-stigfix.conf (root:root 0644)",
        &format!("! restart docker.service ({RESTART})"),
    ] {
        assert!(
            out.stdout.contains(needle),
            "plan lacks `{needle}`:\n{}",
            out.stdout
        );
    }
    assert_tree(&root, &original, "after plan");
    assert!(env.snapshot_dirs().is_empty());

    // Apply.
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    assert!(
        out.stderr.contains("14 change(s) applied and verified"),
        "{}",
        out.stderr
    );
    assert_eq!(env.snapshot_dirs().len(), 1);

    // The drop-in resets ExecStart, keeps the local listener, drops TCP, sets FIPS.
    let dropin = read(&root, DROPIN);
    let lines: Vec<&str> = dropin.lines().collect();
    let service = lines
        .iter()
        .position(|line| *line == "[Service]")
        .expect("a [Service] section");
    let exec: Vec<&&str> = lines[service..]
        .iter()
        .filter(|line| line.starts_with("ExecStart="))
        .collect();
    assert_eq!(
        exec,
        [
            &"ExecStart=",
            &"ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock"
        ],
        "{dropin}"
    );
    assert!(lines.contains(&"Environment=\"DOCKER_FIPS=1\""), "{dropin}");
    assert!(!dropin.contains("tcp://"), "{dropin}");
    assert!(
        dropin.contains("DKER-EE-001050"),
        "the drop-in names its rules:\n{dropin}"
    );
    assert_eq!(meta(&root, DROPIN), (0, 0, 0o644));
    // The vendor unit and the operator's override are untouched (bytes); the unit's mode is
    // made stricter.
    assert_eq!(
        fs::read(root.join("lib/systemd/system/docker.service")).unwrap(),
        vendor_unit
    );
    assert_eq!(
        meta(&root, "lib/systemd/system/docker.service"),
        (0, 0, 0o644)
    );
    let override_rel = PathBuf::from("etc/systemd/system/docker.service.d/override.conf");
    assert_eq!(snap(&root)[&override_rel], original[&override_rel]);

    // daemon.json: no insecure registry, other keys in order.
    let daemon: serde_json::Value = json(&read(&root, DAEMON_JSON));
    assert_eq!(daemon["insecure-registries"], serde_json::json!([]));
    let keys: Vec<&String> = daemon.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "log-driver",
            "insecure-registries",
            "tlscacert",
            "tlscert",
            "tlskey",
            "tlsverify"
        ]
    );

    // Owners and modes as the STIG says.
    for (rel, want) in [
        ("etc/docker/tls/server-key.pem", (0, 0, 0o400)),
        ("etc/docker/tls/server-cert.pem", (0, 0, 0o444)),
        ("etc/docker/tls/ca.pem", (0, 0, 0o444)),
        ("etc/docker/certs.d/dtr.example.mil/ca.crt", (0, 0, 0o444)),
        ("run/docker.sock", (0, DOCKER_GID, 0o660)),
        (DAEMON_JSON, (0, 0, 0o644)),
        ("etc/docker", (0, 0, 0o755)),
        ("etc/default/docker", (0, 0, 0o644)),
        ("lib/systemd/system/docker.socket", (0, 0, 0o644)),
    ] {
        assert_eq!(meta(&root, rel), want, "{rel}");
    }
    // The socket is reached through var/run -> /run, which stays a link.
    assert_eq!(
        fs::read_link(root.join("var/run")).unwrap(),
        Path::new("/run")
    );

    // Converged: the TCP rule in particular, then everything.
    let out = env.run(&["plan", "--rule", "DKER-EE-001050", "--detailed-exitcode"]);
    out.assert_code(0);
    assert!(!out.stdout.contains("tcp://"), "{}", out.stdout);
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(0);
    assert!(out.stdout.contains("no changes"), "{}", out.stdout);

    // A second apply changes nothing.
    let applied = snap(&root);
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    assert!(out.stderr.contains("Nothing to change"), "{}", out.all());
    assert_tree(&root, &applied, "after a second apply");
    assert_eq!(env.snapshot_dirs().len(), 1, "no snapshot for no change");

    // Rollback: exactly the original tree; the drop-in is gone.
    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("remove /etc/systemd/system/docker.service.d/zz-stigfix.conf"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("owner /etc/docker/tls/server-key.pem root:root -> alice:alice"),
        "{}",
        out.stdout
    );
    assert!(!root.join(DROPIN).exists());
    assert_tree(&root, &original, "after rollback");
    assert_eq!(
        meta(&root, "etc/docker/tls/server-key.pem"),
        (ALICE, ALICE, 0o644)
    );
    env.run(&["plan", "--detailed-exitcode"]).assert_code(2);

    // The private key only changed owner and mode: its bytes are in no snapshot.
    let key = fs::read(root.join("etc/docker/tls/server-key.pem")).unwrap();
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let files = env.snapshot_files();
    assert!(files.iter().any(|f| f.ends_with("host-files.json")));
    for file in files {
        let bytes = fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("ZmFrZSBrZXks"),
            "{} holds the key",
            file.display()
        );
        assert!(
            !text.contains(&key_hex),
            "{} holds the key (hex)",
            file.display()
        );
    }

    // `--last` is the last apply, which is rolled back now: it says so, and names the rollback.
    let again = env.run(&["rollback", "--last", "--yes"]);
    again.assert_code(1);
    assert!(
        again
            .error_line()
            .contains("has already been rolled back (by snapshot"),
        "{}",
        again.stderr
    );
    // The rollback is itself undoable by naming its snapshot: back to exactly the applied state.
    let undo = rollback_snapshot(&env);
    assert!(
        again.stderr.contains(&format!(
            "`stigfix rollback {undo}` would undo that rollback"
        )),
        "{}",
        again.stderr
    );
    env.run(&["rollback", &undo, "--yes"]).assert_code(0);
    assert_tree(&root, &applied, "after rolling back the rollback");
}

#[test]
fn rhel_node_listeners_in_daemon_json_are_edited_there_without_a_flag() {
    let (env, root) = host_env(rhel_node);
    // Other keys, in an order that is not sorted, with nesting.
    write(
        &root,
        DAEMON_JSON,
        "{\n  \"selinux-enabled\": true,\n  \"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2376\"],\n  \"log-opts\": {\"max-size\": \"10m\", \"max-file\": \"3\"},\n  \"data-root\": \"/var/lib/docker\"\n}\n",
    );
    let original = snap(&root);
    let unit = fs::read(root.join("usr/lib/systemd/system/docker.service")).unwrap();

    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout
            .contains("~ dockerd.tcp_hosts: [\"tcp://0.0.0.0:2376\"] -> []"),
        "{}",
        out.stdout
    );
    assert_tree(&root, &original, "after plan");

    env.run(&["apply", "--yes"]).assert_code(0);
    assert_eq!(
        read(&root, DAEMON_JSON),
        "{\n  \"selinux-enabled\": true,\n  \"hosts\": [\n    \"unix:///var/run/docker.sock\"\n  ],\n  \"log-opts\": {\n    \"max-size\": \"10m\",\n    \"max-file\": \"3\"\n  },\n  \"data-root\": \"/var/lib/docker\"\n}\n"
    );
    assert_eq!(meta(&root, DAEMON_JSON), (0, 0, 0o644));
    assert_eq!(meta(&root, "etc/docker"), (0, 0, 0o755));
    // FIPS goes to the drop-in, which has no ExecStart: with "hosts" in daemon.json a -H flag
    // would stop dockerd.
    let dropin = read(&root, DROPIN);
    assert!(dropin.contains("Environment=\"DOCKER_FIPS=1\""), "{dropin}");
    assert!(!dropin.contains("ExecStart"), "{dropin}");
    assert!(!dropin.contains("-H"), "{dropin}");
    assert_eq!(
        fs::read(root.join("usr/lib/systemd/system/docker.service")).unwrap(),
        unit
    );
    for entry in snap(&root).keys() {
        let text = fs::read_to_string(root.join(entry)).unwrap_or_default();
        for line in text.lines().filter(|line| line.starts_with("ExecStart=")) {
            assert!(!line.contains("-H"), "{}: {line}", entry.display());
        }
    }
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(0);
    assert!(
        !out.stdout.contains("both"),
        "no flag+file conflict noted:\n{}",
        out.stdout
    );

    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_tree(&root, &original, "after rollback");
}

#[test]
fn restart_is_explained_by_default_and_run_through_systemctl_when_asked() {
    let (mut env, root) = host_env(ubuntu_node);
    let (script, log) = fake_systemctl(&env, None);
    env.set_env("STIGFIX_SYSTEMCTL", &script);
    let original = snap(&root);

    // Default (--restart never): nothing run; the exact command and where to run it.
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    assert!(log_lines(&log).is_empty(), "{:?}", log_lines(&log));
    assert!(
        out.stdout
            .contains(&format!("! restart docker.service ({RESTART})")),
        "{}",
        out.stdout
    );
    let expected = format!(
        "host {root}: docker.service on the node whose root is {root} must be restarted for the new dockerd settings to take effect (restarts are turned off): run `{RESTART}` on that node",
        root = shown(&root)
    );
    assert!(
        out.stderr.lines().any(|line| line == expected),
        "expected `{expected}` in:\n{}",
        out.stderr
    );
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert!(log_lines(&log).is_empty(), "{:?}", log_lines(&log));
    assert_tree(&root, &original, "after the first rollback");

    // --restart if-needed: daemon-reload, then the restart, after the files are written.
    let out = env.run(&["apply", "--yes", "--restart", "if-needed"]);
    out.assert_code(0);
    assert_eq!(log_lines(&log), ["daemon-reload", "restart docker.service"]);
    assert!(
        out.stderr
            .contains("restarted docker.service on the node whose root is"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("must be restarted"), "{}", out.stderr);
    // A rollback of dockerd settings restarts again.
    let out = env.run(&["rollback", "--last", "--yes", "--restart", "if-needed"]);
    out.assert_code(0);
    assert_eq!(
        log_lines(&log),
        [
            "daemon-reload",
            "restart docker.service",
            "daemon-reload",
            "restart docker.service"
        ]
    );
    assert_tree(&root, &original, "after the second rollback");

    // Only owner and mode changes: no restart.
    let out = env.run(&[
        "apply",
        "--yes",
        "--restart",
        "if-needed",
        "--rule",
        "DKER-EE-005300",
    ]);
    out.assert_code(0);
    assert_eq!(log_lines(&log).len(), 4, "{:?}", log_lines(&log));
    assert!(
        !out.stdout.contains("restart docker.service"),
        "{}",
        out.stdout
    );
    assert_eq!(
        meta(&root, "etc/docker/tls/server-key.pem"),
        (ALICE, ALICE, 0o400)
    );

    // Without the stand-in, stigfix restarts nothing for a root other than `/`.
    env.remove_env("STIGFIX_SYSTEMCTL");
    let out = env.run(&["apply", "--yes", "--restart", "if-needed"]);
    out.assert_code(0);
    assert_eq!(log_lines(&log).len(), 4);
    assert!(
        out.stderr
            .contains("(stigfix restarts services only for the root `/`)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_failed_restart_restores_every_file() {
    let (mut env, root) = host_env(ubuntu_node);
    // The restart fails once (dockerd refuses the new settings); the one after the restore
    // works.
    let (script, log) = fake_systemctl(&env, Some("restart docker.service"));
    env.set_env("STIGFIX_SYSTEMCTL", &script);
    let original = snap(&root);
    let out = env.run(&["apply", "--yes", "--restart", "if-needed"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.contains("apply failed on host"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`systemctl restart docker.service` failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Job for docker.service failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("restored from snapshot"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    assert_tree(&root, &original, "after the failed restart");
    // The files were written, dockerd restarted, then the originals restored and dockerd
    // restarted on them.
    assert_eq!(
        log_lines(&log),
        [
            "daemon-reload",
            "restart docker.service",
            "daemon-reload",
            "restart docker.service"
        ]
    );
    let manifest = json(&fs::read_to_string(env.snapshot_dirs()[0].join("manifest.json")).unwrap());
    assert_eq!(manifest["targets"][0]["state"], "rolled-back", "{manifest}");
}

#[test]
fn a_symlink_out_of_the_root_is_refused_and_nothing_outside_is_touched() {
    let (env, root) = host_env(ubuntu_node);
    // A decoy outside the root, where the link would lead without confinement.
    let outside = env.path("outside");
    fs::create_dir_all(outside.join("etc")).unwrap();
    fs::write(
        outside.join("etc/daemon.json"),
        "{\"hosts\": [\"tcp://0.0.0.0:1\"]}\n",
    )
    .unwrap();
    fs::set_permissions(
        outside.join("etc/daemon.json"),
        fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    fs::remove_file(root.join(DAEMON_JSON)).unwrap();
    // etc/docker/daemon.json -> ../../../outside/etc/daemon.json climbs out of node1.
    symlink("../../../outside/etc/daemon.json", root.join(DAEMON_JSON)).unwrap();
    let machine_passwd = fs::read("/etc/passwd").ok();
    let before = snap(&root);
    let outside_before = snap(&outside);
    for command in [&["plan"][..], &["apply", "--yes"]] {
        let out = env.run(command);
        assert_refused(&env, &root, &before, &out);
        let error = out.error_line();
        assert!(error.contains("escapes the host root"), "{error}");
        assert!(error.contains("/etc/docker/daemon.json"), "{error}");
    }
    assert_tree(&outside, &outside_before, "outside the root");
    assert_eq!(fs::read("/etc/passwd").ok(), machine_passwd);

    // The same through many `..`, toward the machine's /etc/passwd.
    fs::remove_file(root.join(DAEMON_JSON)).unwrap();
    symlink("../../../../../../../../etc/passwd", root.join(DAEMON_JSON)).unwrap();
    let before = snap(&root);
    let out = env.run(&["apply", "--yes"]);
    assert_refused(&env, &root, &before, &out);
    assert!(
        out.error_line().contains("escapes the host root"),
        "{}",
        out.stderr
    );
    assert_eq!(fs::read("/etc/passwd").ok(), machine_passwd);
}

#[test]
fn an_absolute_symlink_is_followed_inside_the_root() {
    let (env, root) = host_env(ubuntu_node);
    // daemon.json kept elsewhere on the node and linked with an absolute path: the path is
    // the node's /srv/docker/daemon.json, i.e. ROOT/srv/docker/daemon.json.
    fs::create_dir_all(root.join("srv/docker")).unwrap();
    fs::rename(root.join(DAEMON_JSON), root.join("srv/docker/daemon.json")).unwrap();
    symlink("/srv/docker/daemon.json", root.join(DAEMON_JSON)).unwrap();
    assert!(!Path::new("/srv/docker/daemon.json").exists());
    let original = snap(&root);
    env.run(&["apply", "--yes"]).assert_code(0);
    assert!(
        fs::symlink_metadata(root.join(DAEMON_JSON))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let daemon = json(&read(&root, "srv/docker/daemon.json"));
    assert_eq!(daemon["insecure-registries"], serde_json::json!([]));
    assert!(!Path::new("/srv/docker/daemon.json").exists());
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_tree(&root, &original, "after rollback");
}

#[test]
fn modes_are_only_made_stricter() {
    let (env, root) = host_env(ubuntu_node);
    chmod(&root, DAEMON_JSON, 0o600);
    chmod(&root, "etc/docker/tls/ca.pem", 0o400);
    chmod(&root, "etc/default/docker", 0o604);
    let out = env.run(&["plan"]);
    out.assert_code(0);
    assert!(
        !out.stdout.contains("files.daemon_json.mode"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("files.tls_ca.mode"), "{}", out.stdout);
    // 0604 is within 0644 already.
    assert!(
        !out.stdout.contains("files.etc_default_docker"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ files.docker_sock.mode: \"0666\" -> \"0660\""),
        "{}",
        out.stdout
    );
    env.run(&["apply", "--yes"]).assert_code(0);
    assert_eq!(
        meta(&root, DAEMON_JSON),
        (0, 0, 0o600),
        "rewritten, mode kept"
    );
    assert_eq!(meta(&root, "etc/docker/tls/ca.pem"), (0, 0, 0o400));
    assert_eq!(meta(&root, "etc/default/docker"), (0, 0, 0o604));
    assert_eq!(meta(&root, "run/docker.sock"), (0, DOCKER_GID, 0o660));
    assert_eq!(
        meta(&root, "etc/docker/certs.d/dtr.example.mil/ca.crt"),
        (0, 0, 0o444)
    );
}

#[test]
fn setuid_bits_are_removed_not_kept() {
    let (env, root) = host_env(compliant_node);
    // 2755 is not within 0755 (nor 4444 within 0444): the extra bit goes, the rest stays.
    chmod(&root, "etc/docker", 0o2755);
    chmod(&root, "etc/docker/tls/server-cert.pem", 0o4444);
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout
            .contains("~ files.etc_docker.mode: \"2755\" -> \"0755\""),
        "{}",
        out.stdout
    );
    env.run(&["apply", "--yes"]).assert_code(0);
    assert_eq!(meta(&root, "etc/docker"), (0, 0, 0o755));
    assert_eq!(meta(&root, "etc/docker/tls/server-cert.pem"), (0, 0, 0o444));
}

#[test]
fn a_missing_daemon_json_is_created_and_rollback_removes_it() {
    let (env, root) = host_env(compliant_node);
    fs::remove_file(root.join(DAEMON_JSON)).unwrap();
    let original = snap(&root);
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout
            .contains("create /etc/docker/daemon.json (root:root 0644)"),
        "{}",
        out.stdout
    );
    assert_tree(&root, &original, "after plan");
    env.run(&["apply", "--yes"]).assert_code(0);
    assert_eq!(read(&root, DAEMON_JSON), "{}\n");
    assert_eq!(meta(&root, DAEMON_JSON), (0, 0, 0o644));
    env.run(&["plan", "--detailed-exitcode"]).assert_code(0);
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert!(!root.join(DAEMON_JSON).exists());
    assert_tree(&root, &original, "after rollback");
}

#[test]
fn a_missing_etc_docker_is_created_with_daemon_json_and_both_are_rolled_back() {
    let (env, root) = host_env(compliant_node);
    fs::remove_dir_all(root.join("etc/docker")).unwrap();
    let original = snap(&root);
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("create /etc/docker/ (root:root 0755)"),
        "{}",
        out.stdout
    );
    env.run(&["apply", "--yes"]).assert_code(0);
    assert_eq!(meta(&root, "etc/docker"), (0, 0, 0o755));
    assert_eq!(read(&root, DAEMON_JSON), "{}\n");
    env.run(&["plan", "--detailed-exitcode"]).assert_code(0);
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert!(!root.join("etc/docker").exists());
    assert_tree(&root, &original, "after rollback");
}

#[test]
fn a_missing_docker_group_leaves_that_finding_open_and_fixes_the_rest() {
    let (env, root) = host_env(ubuntu_node);
    let group = read(&root, "etc/group");
    write(
        &root,
        "etc/group",
        &group
            .lines()
            .filter(|line| !line.starts_with("docker:"))
            .map(|line| format!("{line}\n"))
            .collect::<String>(),
    );
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("! DKER-EE-005310") && out.stdout.contains("Open findings"),
        "{}",
        out.stdout
    );
    let group_path = format!("{}/etc/group", shown(&root));
    let reason = out
        .stdout
        .lines()
        .find(|line| line.contains("group `docker` does not exist"))
        .unwrap_or_else(|| panic!("no reason naming the group:\n{}", out.stdout));
    assert!(reason.contains(&group_path), "{reason}");
    assert!(
        !out.stdout.contains("files.docker_sock.group:"),
        "{}",
        out.stdout
    );

    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    // The group stays; everything else, the socket's mode included, is fixed.
    assert_eq!(meta(&root, "run/docker.sock"), (0, 0, 0o660));
    assert_eq!(meta(&root, "etc/docker/tls/server-key.pem"), (0, 0, 0o400));
    assert!(read(&root, DROPIN).contains("DOCKER_FIPS=1"));
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("group `docker` does not exist"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("no changes"), "{}", out.stdout);
}

#[test]
fn names_come_from_the_roots_passwd_and_group_not_this_machines() {
    let (env, root) = host_env(ubuntu_node);
    // uid/gid 1001 is called something no real machine has.
    let rename = |text: String| text.replace("alice", "nodeuser-7c1");
    write(&root, "etc/passwd", &rename(read(&root, "etc/passwd")));
    write(&root, "etc/group", &rename(read(&root, "etc/group")));
    // A file owned by ids the node does not name at all.
    std::os::unix::fs::chown(root.join("etc/docker/tls/ca.pem"), Some(4242), Some(4343)).unwrap();
    let out = env.run(&["plan"]);
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("~ files.tls_key.owner: \"nodeuser-7c1\" -> \"root\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "owner /etc/docker/tls/server-key.pem nodeuser-7c1:nodeuser-7c1 -> root:root"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ files.tls_ca.owner: \"uid 4242\" -> \"root\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("owner /etc/docker/tls/ca.pem uid 4242:gid 4343 -> root:root"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("alice"), "{}", out.stdout);
}

#[test]
fn ucp_dtr_and_host_are_applied_in_one_snapshot_and_rolled_back_together() {
    let mut env = TestEnv::start(EnvOptions {
        dtr: Some(DtrOptions {
            repositories: generate_repositories(30, 3),
            settings: Some(serde_json::json!({
                "scanningEnabled": false,
                "createRepositoryOnPush": true,
            })),
            ..DtrOptions::default()
        }),
        ..EnvOptions::default()
    });
    let root = env.path("node1");
    ubuntu_node(&root).unwrap();
    env.set_env("STIGFIX_HOST_ROOT", &root);
    let original = snap(&root);
    let dtr_before = dtr_state(&env);

    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    let dirs = env.snapshot_dirs();
    assert_eq!(dirs.len(), 1);
    let manifest = json(&fs::read_to_string(dirs[0].join("manifest.json")).unwrap());
    let kinds: Vec<&str> = manifest["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ucp", "dtr", "host"]);
    assert!(dirs[0].join("host-files.json").is_file());
    assert_ne!(env.config(), env.original);
    assert_ne!(dtr_state(&env), dtr_before);
    assert!(root.join(DROPIN).exists());
    env.assert_no_changes();

    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(0);
    env.assert_unchanged();
    assert_eq!(dtr_state(&env), dtr_before);
    assert_tree(&root, &original, "after rollback");
}

#[test]
fn a_host_failure_after_ucp_and_dtr_were_changed_restores_all_three() {
    let mut env = TestEnv::start(EnvOptions {
        dtr: Some(DtrOptions {
            repositories: generate_repositories(30, 3),
            settings: Some(serde_json::json!({"scanningEnabled": false})),
            ..DtrOptions::default()
        }),
        ..EnvOptions::default()
    });
    let root = env.path("node1");
    ubuntu_node(&root).unwrap();
    env.set_env("STIGFIX_HOST_ROOT", &root);
    let (script, _log) = fake_systemctl(&env, Some("daemon-reload"));
    env.set_env("STIGFIX_SYSTEMCTL", &script);
    let original = snap(&root);
    let dtr_before = dtr_state(&env);

    let out = env.run(&["apply", "--yes", "--restart", "if-needed"]);
    out.assert_code(1);
    assert!(
        out.error_line().contains("apply failed on host"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    for kind in ["ucp", "dtr", "host"] {
        assert!(
            out.stderr
                .lines()
                .any(|line| line.trim_start().starts_with(kind)
                    && line.contains("was restored from snapshot")),
            "{kind} restored:\n{}",
            out.stderr
        );
    }
    assert!(env.sim.write_count() > 0, "UCP and DTR had been written");
    env.assert_unchanged();
    assert_eq!(dtr_state(&env), dtr_before);
    assert_tree(&root, &original, "after the failed apply");
}

#[test]
fn a_directory_where_the_drop_in_goes_is_refused_before_any_write() {
    let (env, root) = host_env(ubuntu_node);
    fs::create_dir(root.join(DROPIN)).unwrap();
    let before = snap(&root);
    let out = env.run(&["apply", "--yes"]);
    assert_refused(&env, &root, &before, &out);
    let error = out.error_line();
    assert!(error.contains("zz-stigfix.conf"), "{error}");
    assert!(error.contains("not a regular file"), "{error}");
}

#[test]
fn a_file_changed_between_plan_and_apply_is_refused() {
    let (env, root) = host_env(ubuntu_node);
    let plan_file = env.path("plan.json");
    env.run(&["plan", "--out", plan_file.to_str().unwrap()])
        .assert_code(0);
    chmod(&root, "etc/docker/tls/server-cert.pem", 0o640);
    let before = snap(&root);
    let out = env.run(&["apply", "--yes", plan_file.to_str().unwrap()]);
    assert_refused(&env, &root, &before, &out);
    let error = out.error_line();
    assert!(error.contains("plan is stale"), "{error}");
    assert!(error.contains("nothing was changed"), "{error}");
}

#[test]
fn a_later_drop_in_that_overrides_stigfix_leaves_dockerd_findings_open() {
    let (env, root) = host_env(ubuntu_node);
    write(
        &root,
        "etc/systemd/system/docker.service.d/zzz-local.conf",
        "[Service]\nEnvironment=\"HTTP_PROXY=http://proxy:3128\"\n",
    );
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(out.stdout.contains("zzz-local.conf"), "{}", out.stdout);
    assert!(
        out.stdout.contains("sorts after zz-stigfix.conf"),
        "{}",
        out.stdout
    );
    env.run(&["apply", "--yes"]).assert_code(0);
    assert!(
        !root.join(DROPIN).exists(),
        "no drop-in that would be overridden"
    );
    assert!(read(&root, DAEMON_JSON).contains("registry.local:5000"));
    // File modes were still fixed.
    assert_eq!(meta(&root, "etc/docker/tls/server-key.pem"), (0, 0, 0o400));
}

#[test]
fn the_last_listener_going_leaves_a_local_one() {
    // RHEL: no docker.socket, so the unix socket, as a flag in stigfix's drop-in (daemon.json
    // no longer has "hosts").
    let (env, root) = host_env(rhel_node);
    write(
        &root,
        DAEMON_JSON,
        "{\"hosts\": [\"tcp://0.0.0.0:2376\"], \"debug\": false}\n",
    );
    let original = snap(&root);
    env.run(&["apply", "--yes", "--rule", "DKER-EE-001050"])
        .assert_code(0);
    assert_eq!(read(&root, DAEMON_JSON), "{\n  \"debug\": false\n}\n");
    let dropin = read(&root, DROPIN);
    assert!(
        dropin.contains("ExecStart=\nExecStart=/usr/bin/dockerd -H unix:///var/run/docker.sock\n"),
        "{dropin}"
    );
    // The drop-in folder did not exist: it was created, and the rollback removes it.
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert!(!root.join("etc/systemd/system/docker.service.d").exists());
    assert_tree(&root, &original, "after rollback");

    // One listener written as a plain string.
    write(
        &root,
        DAEMON_JSON,
        "{\"hosts\": \"tcp://0.0.0.0:2376\", \"debug\": true}\n",
    );
    let out = env.run(&["plan", "--rule", "DKER-EE-001050", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout
            .contains("~ dockerd.tcp_hosts: [\"tcp://0.0.0.0:2376\"] -> []"),
        "{}",
        out.stdout
    );
    env.run(&["apply", "--yes", "--rule", "DKER-EE-001050"])
        .assert_code(0);
    assert_eq!(read(&root, DAEMON_JSON), "{\n  \"debug\": true\n}\n");
    env.run(&["plan", "--rule", "DKER-EE-001050", "--detailed-exitcode"])
        .assert_code(0);
}

#[test]
fn tcp_flags_in_every_spelling_are_removed_and_earlier_environment_is_overridden() {
    let (env, root) = host_env(ubuntu_node);
    write(
        &root,
        "etc/systemd/system/docker.service.d/override.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --host=tcp://0.0.0.0:2375 -Htcp://127.0.0.1:2376 -H unix:///var/run/docker.sock --containerd=/run/containerd/containerd.sock\nEnvironment=\"HTTP_PROXY=http://proxy:3128\" \"DOCKER_FIPS=0\"\n",
    );
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains(
            "~ dockerd.tcp_hosts: [\"tcp://0.0.0.0:2375\", \"tcp://127.0.0.1:2376\"] -> []"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ dockerd.environment.DOCKER_FIPS: \"0\" -> \"1\""),
        "{}",
        out.stdout
    );
    env.run(&["apply", "--yes"]).assert_code(0);
    let dropin = read(&root, DROPIN);
    assert!(
        dropin.contains("ExecStart=/usr/bin/dockerd -H unix:///var/run/docker.sock --containerd=/run/containerd/containerd.sock\n"),
        "{dropin}"
    );
    assert!(!dropin.contains("tcp"), "{dropin}");
    assert!(dropin.contains("Environment=\"DOCKER_FIPS=1\""), "{dropin}");
    env.run(&["plan", "--detailed-exitcode"]).assert_code(0);
}

/// `chattr +i` on a path, undone when dropped (so the temp folder can be removed).
struct Immutable(PathBuf);

impl Immutable {
    /// Panics when chattr is missing or fails: it needs root (CAP_LINUX_IMMUTABLE) and a file
    /// system with inode flags (ext4, xfs, btrfs; not tmpfs before Linux 6.0).
    #[track_caller]
    fn set(path: PathBuf) -> Immutable {
        let out = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("run chattr (e2fsprogs): {e}"));
        assert!(
            out.status.success(),
            "chattr +i {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Immutable(path)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
#[ignore = "needs root: run with `cargo test -- --ignored root_`"]
fn root_a_write_failing_midway_is_undone_and_an_untouched_immutable_file_is_no_obstacle() {
    assert_root();
    // Under the target folder, not the system's temp folder, which may be a file system
    // that refuses `chattr +i` (tmpfs before Linux 6.0).
    let mut env = TestEnv::start(EnvOptions {
        ucp: false,
        temp_in: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR"))),
        ..EnvOptions::default()
    });
    let root = env.path("node1");
    ubuntu_node(&root).expect("build the fake node");
    env.set_env("STIGFIX_HOST_ROOT", &root);
    let original = snap(&root);
    // The drop-in folder cannot take a new file: the failure comes after /etc/default/docker,
    // /etc/docker, the registry certificate, daemon.json and the TLS files were changed.
    let guard = Immutable::set(root.join("etc/systemd/system/docker.service.d"));
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(1);
    assert!(
        out.error_line().contains("apply failed on host"),
        "{}",
        out.stderr
    );
    assert!(
        out.error_line().contains("zz-stigfix.conf"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("was restored from snapshot"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    drop(guard);
    assert_tree(&root, &original, "after the failed apply");

    // The vendor unit cannot change mode: the last change fails; the restore must not trip
    // over that file, which it never changed.
    let guard = Immutable::set(root.join("lib/systemd/system/docker.service"));
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("lib/systemd/system/docker.service"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    drop(guard);
    assert_tree(&root, &original, "after the second failed apply");
    assert_eq!(env.snapshot_dirs().len(), 2);
}

/// The JSON plan of `rules` (all rules when empty).
fn plan_json(env: &TestEnv, rules: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", "--format", "json"];
    for rule in rules {
        args.extend(["--rule", rule]);
    }
    let out = env.run(&args);
    assert!(out.code == 0 || out.code == 2, "{}", out.all());
    json(&out.stdout)
}

/// The result of one rule in a JSON plan.
fn rule_of<'a>(plan: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    plan["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["stig_id"] == id)
        .unwrap_or_else(|| panic!("no rule {id} in the plan"))
}

fn status_of(plan: &serde_json::Value, id: &str) -> String {
    rule_of(plan, id)["status"].as_str().unwrap().to_string()
}

/// The evidence of a rule's first check: where it was read.
fn source_of(plan: &serde_json::Value, id: &str) -> String {
    rule_of(plan, id)["checks"][0]["source"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Every line of `text` but one, which must be `old` and becomes `new`.
fn replace_line(text: &str, old: &str, new: &str) -> String {
    assert!(text.lines().any(|line| line == old), "no line `{old}`");
    text.lines()
        .map(|line| if line == old { new } else { line })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Plan shows the finding, apply fixes only it, the re-plan is clean, rollback is exact.
#[track_caller]
fn fix_and_undo(env: &TestEnv, root: &Path, rule: &str) -> Output {
    let original = snap(root);
    env.run(&["plan", "--rule", rule, "--detailed-exitcode"])
        .assert_code(2);
    let out = env.run(&["apply", "--yes", "--rule", rule]);
    out.assert_code(0);
    env.run(&["plan", "--rule", rule, "--detailed-exitcode"])
        .assert_code(0);
    let applied = snap(root);
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_tree(root, &original, "after rollback");
    // Leave the fixed state for the caller to look at.
    env.run(&["apply", "--yes", "--rule", rule]).assert_code(0);
    assert_eq!(snap(root).len(), applied.len());
    out
}

#[test]
fn debian_docker_io_docker_opts_listener_is_fixed_in_etc_default_docker() {
    let (env, root) = host_env(debian_docker_io_node);
    // As the package ships it: no listener; the evidence names every file read.
    let plan = plan_json(&env, &["DKER-EE-001050"]);
    assert_eq!(status_of(&plan, "DKER-EE-001050"), "pass");
    let source = source_of(&plan, "DKER-EE-001050");
    for file in [
        "/lib/systemd/system/docker.service",
        "/etc/default/docker",
        "/lib/systemd/system/docker.socket",
    ] {
        assert!(source.contains(file), "{source}");
    }

    // DOCKER_OPTS with a TCP listener beside an unrelated option.
    let shipped = read(&root, ETC_DEFAULT_DOCKER);
    write(
        &root,
        ETC_DEFAULT_DOCKER,
        &format!("{shipped}DOCKER_OPTS=\"-H tcp://0.0.0.0:2375 --dns 8.8.8.8\"\n"),
    );
    let plan = plan_json(&env, &["DKER-EE-001050"]);
    assert_eq!(status_of(&plan, "DKER-EE-001050"), "fix");
    assert_eq!(
        source_of(&plan, "DKER-EE-001050"),
        format!("{}/etc/default/docker:13 (DOCKER_OPTS)", shown(&root))
    );
    let out = fix_and_undo(&env, &root, "DKER-EE-001050");
    assert!(
        out.stdout
            .contains("~ dockerd.tcp_hosts: [\"tcp://0.0.0.0:2375\"] -> []"),
        "{}",
        out.stdout
    );
    // Only the assignment changed, in place; the unit is not overridden.
    assert_eq!(
        read(&root, ETC_DEFAULT_DOCKER),
        format!("{shipped}DOCKER_OPTS=\"--dns 8.8.8.8\"\n")
    );
    assert_eq!(meta(&root, ETC_DEFAULT_DOCKER), (0, 0, 0o644));
    assert!(!root.join(DROPIN).exists());

    // The same variable set by Environment= in a drop-in instead: fixed in stigfix's drop-in,
    // which sorts after it.
    write(&root, ETC_DEFAULT_DOCKER, &shipped);
    write(
        &root,
        "etc/systemd/system/docker.service.d/opts.conf",
        "[Service]\nEnvironment=\"DOCKER_OPTS=--dns 8.8.8.8 -H tcp://0.0.0.0:2375 --label 'site=east'\"\n",
    );
    env.run(&["apply", "--yes", "--rule", "DKER-EE-001050"])
        .assert_code(0);
    let dropin = read(&root, DROPIN);
    assert!(
        dropin.contains("Environment=\"DOCKER_OPTS=--dns 8.8.8.8 --label 'site=east'\"\n"),
        "{dropin}"
    );
    assert!(!dropin.contains("ExecStart"), "{dropin}");
    env.run(&["plan", "--rule", "DKER-EE-001050", "--detailed-exitcode"])
        .assert_code(0);
}

#[test]
fn rhel_docker_options_in_sysconfig_are_fixed_there_and_the_node_converges() {
    let (env, root) = host_env(rhel_docker_node);
    let shipped = read(&root, SYSCONFIG_DOCKER);
    let old = "OPTIONS='--selinux-enabled --log-driver=journald --signature-verification=false'";
    write(
        &root,
        SYSCONFIG_DOCKER,
        &replace_line(
            &shipped,
            old,
            "OPTIONS='--selinux-enabled --log-driver=journald --signature-verification=false -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2375 --insecure-registry registry.local:5000'",
        ),
    );
    let original = snap(&root);
    let plan = plan_json(&env, &[]);
    for id in ["DKER-EE-001050", "DKER-EE-001800", "DKER-EE-001070"] {
        assert_eq!(status_of(&plan, id), "fix", "{id}");
    }
    assert_eq!(
        source_of(&plan, "DKER-EE-001050"),
        format!("{}/etc/sysconfig/docker:4 (OPTIONS)", shown(&root))
    );
    // The shell lines of the file (`if [ -z "${DOCKER_CERT_PATH}" ]`) touch no variable the
    // command line reads: nothing is unknown.
    assert!(
        plan["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|rule| rule["status"] != "unknown"),
        "{plan}"
    );

    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    assert_eq!(
        read(&root, SYSCONFIG_DOCKER),
        replace_line(
            &shipped,
            old,
            "OPTIONS=\"--selinux-enabled --log-driver=journald --signature-verification=false -H unix:///var/run/docker.sock\"",
        )
    );
    // FIPS, which no file sets, goes to stigfix's drop-in; the vendor unit keeps its
    // ExecStart (no override: the flags were in OPTIONS).
    let dropin = read(&root, DROPIN);
    assert!(
        dropin.contains("Environment=\"DOCKER_FIPS=1\"\n"),
        "{dropin}"
    );
    assert!(!dropin.contains("ExecStart"), "{dropin}");
    env.run(&["plan", "--detailed-exitcode"]).assert_code(0);

    // The same counts for the apply and its rollback.
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_tree(&root, &original, "after rollback");
    let listing = env.run(&["snapshots"]);
    let counts: Vec<&str> = listing
        .stdout
        .lines()
        .filter_map(|line| line.split_whitespace().rev().nth(1))
        .collect();
    assert_eq!(counts.len(), 2, "{}", listing.stdout);
    assert_eq!(counts[0], counts[1], "{}", listing.stdout);
}

#[test]
fn docker_ce_listeners_from_every_source_are_fixed_where_they_are_set() {
    const UNIT: &str = "usr/lib/systemd/system/docker.service";
    const EXEC: &str =
        "ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock";

    // 1. The vendor unit's ExecStart: overridden by stigfix's drop-in, the unit untouched.
    let (env, root) = host_env(docker_ce_rpm_node);
    let unit = replace_line(
        &read(&root, UNIT),
        EXEC,
        "ExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:2375 --containerd=/run/containerd/containerd.sock",
    );
    write(&root, UNIT, &unit);
    let plan = plan_json(&env, &["DKER-EE-001050"]);
    assert_eq!(
        source_of(&plan, "DKER-EE-001050"),
        format!(
            "{}/usr/lib/systemd/system/docker.service:13 (ExecStart)",
            shown(&root)
        )
    );
    fix_and_undo(&env, &root, "DKER-EE-001050");
    assert_eq!(read(&root, UNIT), unit);
    assert!(
        read(&root, DROPIN).contains(&format!("ExecStart=\n{EXEC}\n")),
        "{}",
        read(&root, DROPIN)
    );

    // 2. daemon.json "hosts" with the documented drop-in (no -H): edited there; the last
    // listener gone, the drop-in's command line gets the socket-activated one.
    let (env, root) = host_env(docker_ce_rpm_node);
    write(
        &root,
        "etc/systemd/system/docker.service.d/hosts.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock\n",
    );
    write(
        &root,
        DAEMON_JSON,
        "{\n  \"hosts\": [\"tcp://0.0.0.0:2376\"],\n  \"log-driver\": \"journald\"\n}\n",
    );
    fix_and_undo(&env, &root, "DKER-EE-001050");
    assert_eq!(
        read(&root, DAEMON_JSON),
        "{\n  \"log-driver\": \"journald\"\n}\n"
    );
    assert!(
        read(&root, DROPIN).contains(&format!("ExecStart=\n{EXEC}\n")),
        "{}",
        read(&root, DROPIN)
    );

    // 3. docker.socket: a network ListenStream= in a drop-in, and a bare port in the unit.
    let (env, root) = host_env(docker_ce_rpm_node);
    write(
        &root,
        "etc/systemd/system/docker.socket.d/tcp.conf",
        "[Socket]\nListenStream=0.0.0.0:2375\n",
    );
    let plan = plan_json(&env, &["DKER-EE-001050"]);
    assert_eq!(status_of(&plan, "DKER-EE-001050"), "fix");
    assert_eq!(
        source_of(&plan, "DKER-EE-001050"),
        format!(
            "{}/etc/systemd/system/docker.socket.d/tcp.conf:2 (ListenStream)",
            shown(&root)
        )
    );
    let out = env.run(&["plan", "--rule", "DKER-EE-001050"]);
    assert!(
        out.stdout.contains(
            "! restart docker.socket and docker.service (systemctl daemon-reload && systemctl restart docker.socket docker)"
        ),
        "{}",
        out.stdout
    );
    let out = fix_and_undo(&env, &root, "DKER-EE-001050");
    assert!(
        out.stderr
            .contains("run `systemctl daemon-reload && systemctl restart docker.socket docker`"),
        "{}",
        out.stderr
    );
    let socket_dropin = read(&root, SOCKET_DROPIN);
    assert!(
        socket_dropin.ends_with("[Socket]\nListenStream=\nListenStream=/run/docker.sock\n"),
        "{socket_dropin}"
    );
    assert!(!root.join(DROPIN).exists(), "docker.service is not touched");

    let (env, root) = host_env(docker_ce_rpm_node);
    let socket = "usr/lib/systemd/system/docker.socket";
    write(
        &root,
        socket,
        &read(&root, socket).replace(
            "ListenStream=/run/docker.sock\n",
            "ListenStream=/run/docker.sock\nListenStream=2375\n",
        ),
    );
    let out = env.run(&["plan", "--rule", "DKER-EE-001050"]);
    assert!(
        out.stdout
            .contains("~ dockerd.tcp_hosts: [\"[::]:2375\"] -> []"),
        "{}",
        out.stdout
    );
    fix_and_undo(&env, &root, "DKER-EE-001050");
    assert!(
        read(&root, SOCKET_DROPIN).ends_with("ListenStream=\nListenStream=/run/docker.sock\n"),
        "{}",
        read(&root, SOCKET_DROPIN)
    );
}

#[test]
fn what_stigfix_cannot_interpret_is_unknown_never_pass() {
    let drop_in = "etc/systemd/system/docker.service.d/site.conf";
    let exec = "ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS";
    // (what is written where, the reason's text)
    let cases: Vec<(&str, String, &str)> = vec![
        (
            ETC_DEFAULT_DOCKER,
            "DOCKER_OPTS=\"$(cat /etc/docker/opts)\"\n".to_string(),
            "/etc/default/docker:1: the value of DOCKER_OPTS holds a command substitution",
        ),
        (
            ETC_DEFAULT_DOCKER,
            "export DOCKER_OPTS=\"-H tcp://0.0.0.0:2375\"\n".to_string(),
            "/etc/default/docker:1: `export DOCKER_OPTS` is not a variable name",
        ),
        (
            drop_in,
            format!("[Service]\nExecStart=\n{exec} -H tcp://%H:2376\n"),
            "site.conf:3: `tcp://%H:2376` uses `%H` (the node's host name)",
        ),
        (
            drop_in,
            "[Service]\nExecStart /usr/sbin/dockerd -H tcp://0.0.0.0:2375\n".to_string(),
            "site.conf:2: `ExecStart /usr/sbin/dockerd -H tcp://0.0.0.0:2375` is not a `Key=Value` assignment",
        ),
        (
            drop_in,
            "[Service]\nEnvironmentFile=/etc/docker/dockerd.env\n".to_string(),
            "EnvironmentFile=/etc/docker/dockerd.env does not exist: systemd refuses to start docker.service",
        ),
        (
            drop_in,
            format!("[Service]\nExecStart=\n{exec} ${{HOSTS:-tcp://0.0.0.0:2375}}\n"),
            "is not a plain variable reference",
        ),
        (
            DAEMON_JSON,
            "{\n  \"log-driver\": \"journald\",\n  \"hosts\" [\"fd://\"]\n}\n".to_string(),
            "/etc/docker/daemon.json:3:11: not valid JSON",
        ),
        (
            DAEMON_JSON,
            "[\"tcp://0.0.0.0:2375\"]\n".to_string(),
            "daemon.json must hold a JSON object",
        ),
    ];
    for (file, text, reason) in cases {
        let (env, root) = host_env(debian_docker_io_node);
        write(&root, file, &text);
        let plan = plan_json(&env, &["DKER-EE-001050"]);
        assert_eq!(status_of(&plan, "DKER-EE-001050"), "unknown", "{text}");
        let out = env.run(&["plan", "--rule", "DKER-EE-001050", "--detailed-exitcode"]);
        out.assert_code(2);
        assert!(
            out.stdout.contains("? DKER-EE-001050") && out.stdout.contains(reason),
            "{text}: {}",
            out.stdout
        );
        // Nothing to apply for it, and nothing written.
        let before = snap(&root);
        env.run(&["apply", "--yes", "--rule", "DKER-EE-001050"])
            .assert_code(0);
        assert_tree(&root, &before, "after an apply of an unknown rule");
        assert!(env.snapshot_dirs().is_empty());
    }

    // An environment file reached through a symlink out of the root: unknown, never read.
    let (env, root) = host_env(debian_docker_io_node);
    fs::remove_file(root.join(ETC_DEFAULT_DOCKER)).unwrap();
    symlink("../../../outside/docker", root.join(ETC_DEFAULT_DOCKER)).unwrap();
    let plan = plan_json(&env, &["DKER-EE-001050", "DKER-EE-001070"]);
    assert_eq!(status_of(&plan, "DKER-EE-001050"), "unknown");
    assert_eq!(status_of(&plan, "DKER-EE-001070"), "unknown");
}

#[test]
fn an_empty_root_is_reported_and_apply_refuses_it() {
    let mut env = TestEnv::start(EnvOptions {
        ucp: false,
        ..EnvOptions::default()
    });
    let root = env.path("unmounted");
    fs::create_dir(&root).unwrap();
    env.set_env("STIGFIX_HOST_ROOT", &root);
    let plan = plan_json(&env, &[]);
    for rule in plan["rules"].as_array().unwrap() {
        if rule["kind"] == "host" && rule["mode"] == "enforce" {
            assert_eq!(rule["status"], "unknown", "{rule}");
        }
    }
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains(&format!(
            "no Docker Engine installation found under {}",
            shown(&root)
        )),
        "{}",
        out.stdout
    );
    for command in [
        &["apply", "--yes"][..],
        &["apply", "--yes", "--rule", "DKER-EE-005330"],
    ] {
        let out = env.run(command);
        out.assert_code(1);
        assert!(
            out.error_line()
                .contains("no Docker Engine installation found")
                && out.error_line().contains("nothing was changed"),
            "{}",
            out.stderr
        );
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "nothing created");
        assert!(env.snapshot_dirs().is_empty());
    }
}

/// Two locks against a looser mode: a playbook asking for one is refused when it is loaded
/// (tests/e2e/playbooks.rs has the variants), and the host target itself would refuse to add a
/// permission bit whatever the playbook said (its unit tests drive that guard directly).
#[test]
fn a_mode_that_would_add_a_permission_bit_is_never_written() {
    // No site file: the playbook below replaces the shipped one, whose variables it sets.
    let (env, root) = host_env(ubuntu_node);
    fs::write(env.path("stigfix.toml"), "").unwrap();
    chmod(&root, "etc/docker/tls/server-key.pem", 0o400);
    // A site playbook that asks for a looser mode than the file has.
    write(
        &root.parent().unwrap().join("site"),
        "loose.toml",
        "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\ndescription = \"a site's copy that asks for 0644\"\n\n[[rules]]\nid = \"DKER-EE-005300\"\ntarget = \"host\"\nsettings = [{ path = \"files.tls_key.mode\", value = \"0644\" }]\n",
    );
    let playbook = root.parent().unwrap().join("site/loose.toml");
    let playbook = playbook.to_str().unwrap();
    let before = snap(&root);
    for args in [
        &["plan", "--playbook", playbook][..],
        &["apply", "--yes", "--playbook", playbook][..],
    ] {
        let out = env.run(args);
        out.assert_code(1);
        assert!(
            out.error_line().contains("loose.toml:9:")
                && out.error_line().contains("give `mode_within`"),
            "{}",
            out.stderr
        );
    }
    assert_tree(&root, &before, "after an apply that may not loosen a mode");
    assert!(env.snapshot_dirs().is_empty());
}

type DtrState = (serde_json::Value, Vec<SimRepo>);

fn dtr_state(env: &TestEnv) -> DtrState {
    (env.sim.dtr().settings(), env.sim.dtr().repositories())
}

/// The id of the newest snapshot made by a rollback.
fn rollback_snapshot(env: &TestEnv) -> String {
    env.snapshot_dirs()
        .into_iter()
        .rev()
        .find(|dir| {
            let manifest = json(&fs::read_to_string(dir.join("manifest.json")).unwrap());
            manifest["command"] == "rollback"
        })
        .and_then(|dir| {
            dir.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .expect("a rollback snapshot")
}
