//! Tests over fake node roots (`crate::sim::host`). CI runs them as root, so owners really
//! change.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::live::same_value;
use super::*;
use crate::keypath::KeyPath;
use crate::sim::host::{
    compliant_node, debian_docker_io_node, docker_ce_rpm_node, rhel_docker_node, rhel_node, tree,
    ubuntu_node,
};
use crate::targets::{Document, LiveState};

fn kp(text: &str) -> KeyPath {
    // `*` segments written quoted, so the test does not depend on the wildcard syntax.
    KeyPath::parse(&text.replace(".*", ".\"*\"")).unwrap()
}

fn s(text: &str) -> toml::Value {
    toml::Value::String(text.to_string())
}

fn empty() -> toml::Value {
    toml::Value::Array(Vec::new())
}

fn strings(items: &[&str]) -> toml::Value {
    toml::Value::Array(items.iter().map(|item| s(item)).collect())
}

fn edit(live: &HostLive, path: &str, after: toml::Value) -> Edit {
    let path = kp(path);
    Edit {
        before: live.lookup(&path),
        path,
        after,
        rules: vec!["DKER-EE-001050".to_string()],
    }
}

fn node(make: fn(&Path) -> std::io::Result<()>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node1");
    make(&root).unwrap();
    (dir, root)
}

fn target(root: &Path) -> HostTarget {
    HostTarget::new(root, RestartPolicy::IfNeeded, None).unwrap()
}

/// The first statement of every `root_*` test: such a test is ignored by default and run with
/// `cargo test -- --ignored root_`, and must fail rather than pass without checking anything
/// when that run is not root.
#[track_caller]
fn assert_root() {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    // `Uid:` real, effective, saved, filesystem.
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("a Uid: line in /proc/self/status");
    assert_eq!(
        euid, "0",
        "this test needs root: only root can give files other owners"
    );
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// The STIG's host fixes, as the engine would ask for them.
fn all_fixes(live: &HostLive) -> Vec<Edit> {
    let mut edits = vec![
        edit(live, "dockerd.tcp_hosts", empty()),
        edit(live, "dockerd.insecure_registries", empty()),
        edit(live, "dockerd.environment.DOCKER_FIPS", s("1")),
    ];
    let wanted = [
        ("docker_service", "0644", "root"),
        ("docker_socket", "0644", "root"),
        ("etc_docker", "0755", "root"),
        ("daemon_json", "0644", "root"),
        ("etc_default_docker", "0644", "root"),
        ("docker_sock", "0660", "docker"),
        ("tls_ca", "0444", "root"),
        ("tls_cert", "0444", "root"),
        ("tls_key", "0400", "root"),
    ];
    for (role, mode, group) in wanted {
        for (leaf, value) in [("owner", "root"), ("group", group), ("mode", mode)] {
            for path in live.expand(&kp(&format!("files.{role}.{leaf}"))) {
                if live.lookup(&path) != Some(s(value)) {
                    edits.push(Edit {
                        before: live.lookup(&path),
                        path,
                        after: s(value),
                        rules: vec![],
                    });
                }
            }
        }
    }
    for path in live.expand(&kp("files.registry_certs.*.mode")) {
        edits.push(edit(live, &path.to_string(), s("0444")));
    }
    edits.retain(|edit| edit.before.as_ref() != Some(&edit.after));
    edits
}

#[tokio::test]
async fn reads_the_ubuntu_node() {
    let (_dir, root) = node(ubuntu_node);
    let host = target(&root);
    assert_eq!(
        host.endpoint(),
        fs::canonicalize(&root).unwrap().to_str().unwrap()
    );
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2375"]))
    );
    assert_eq!(
        live.lookup(&kp("dockerd.insecure_registries")),
        Some(strings(&["registry.local:5000"]))
    );
    assert_eq!(live.lookup(&kp("dockerd.environment.DOCKER_FIPS")), None);
    assert!(
        live.explain(&kp("dockerd.environment.DOCKER_FIPS"))
            .unwrap()
            .contains("not set by any Environment=")
    );
    assert_eq!(
        live.lookup(&kp("files.docker_service.mode")),
        Some(s("0664"))
    );
    assert_eq!(
        live.lookup(&kp("files.docker_service.owner")),
        Some(s("root"))
    );
    assert_eq!(live.lookup(&kp("files.etc_docker.mode")), Some(s("0775")));
    assert_eq!(
        live.lookup(&kp("files.etc_default_docker.mode")),
        Some(s("0666"))
    );
    // Through the /var/run -> /run symlink of the fake root.
    assert_eq!(live.lookup(&kp("files.docker_sock.mode")), Some(s("0666")));
    assert_eq!(live.lookup(&kp("files.tls_key.mode")), Some(s("0644")));
    let certs = live.expand(&kp("files.registry_certs.*.mode"));
    assert_eq!(
        certs,
        [kp("files.registry_certs.\"dtr.example.mil/ca.crt\".mode")]
    );
    assert_eq!(live.lookup(&certs[0]), Some(s("0644")));
    assert_eq!(live.expand(&kp("files.tls_ca.mode")).len(), 1);
    assert!(live.writable(&kp("files.docker_sock.group")).is_ok());
    assert!(live.notes().is_empty(), "{:?}", live.notes());
}

/// Built as root, the fake node has a real node's owners, read back by name.
#[tokio::test]
#[ignore = "needs root: run with `cargo test -- --ignored root_`"]
async fn root_reads_the_owners_of_the_ubuntu_node() {
    assert_root();
    let (_dir, root) = node(ubuntu_node);
    let live = target(&root).read().await.unwrap();
    assert_eq!(live.lookup(&kp("files.docker_sock.owner")), Some(s("root")));
    assert_eq!(live.lookup(&kp("files.docker_sock.group")), Some(s("root")));
    assert_eq!(live.lookup(&kp("files.tls_key.owner")), Some(s("alice")));
    assert_eq!(live.lookup(&kp("files.tls_key.group")), Some(s("alice")));
}

#[tokio::test]
async fn absent_files_expand_to_nothing_except_daemon_json() {
    let (_dir, root) = node(rhel_node);
    let live = target(&root).read().await.unwrap();
    for role in [
        "etc_default_docker",
        "tls_ca",
        "tls_cert",
        "tls_key",
        "docker_socket",
    ] {
        assert!(
            live.expand(&kp(&format!("files.{role}.mode"))).is_empty(),
            "{role}"
        );
        assert!(live.explain(&kp(&format!("files.{role}.mode"))).is_some());
    }
    assert!(live.expand(&kp("files.registry_certs.*.mode")).is_empty());
    assert_eq!(live.lookup(&kp("files.daemon_json.mode")), Some(s("0664")));
    assert_eq!(live.lookup(&kp("files.etc_docker.mode")), Some(s("0777")));
    assert_eq!(live.lookup(&kp("files.docker_sock.mode")), Some(s("0660")));

    // daemon.json absent: still expands; the fix creates it.
    fs::remove_file(root.join("etc/docker/daemon.json")).unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    let path = kp("files.daemon_json.mode");
    assert_eq!(live.expand(&path), std::slice::from_ref(&path));
    assert_eq!(live.lookup(&path), None);
    assert!(live.explain(&path).unwrap().contains("does not exist"));
    assert!(live.writable(&path).is_ok());
    let edits = vec![
        edit(&live, "files.daemon_json.owner", s("root")),
        edit(&live, "files.daemon_json.mode", s("0600")),
    ];
    let diff = live.diff(&edits).unwrap();
    assert!(
        diff.contains("create /etc/docker/daemon.json (root:root 0600)"),
        "{diff}"
    );
    let before = tree(&root).unwrap();
    let saved = live.saved(&edits).unwrap();
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        fs::read(root.join("etc/docker/daemon.json")).unwrap(),
        b"{}\n"
    );
    assert_eq!(mode_of(&root.join("etc/docker/daemon.json")), 0o600);
    assert_eq!(after.lookup(&path), Some(s("0600")));
    host.restore(&saved).await.unwrap();
    assert_eq!(tree(&root).unwrap(), before);
}

#[tokio::test]
async fn tcp_fix_on_ubuntu_writes_a_dropin_and_keeps_fd() {
    let (_dir, root) = node(ubuntu_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    let vendor = fs::read(root.join("lib/systemd/system/docker.service")).unwrap();
    let override_conf =
        fs::read(root.join("etc/systemd/system/docker.service.d/override.conf")).unwrap();
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    assert_eq!(
        live.actions(&edits),
        ["restart docker.service (systemctl daemon-reload && systemctl restart docker)"]
    );
    let diff = live.diff(&edits).unwrap();
    assert!(
        diff.contains(
            "create /etc/systemd/system/docker.service.d/zz-stigfix.conf (root:root 0644)"
        ),
        "{diff}"
    );
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(after.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    let dropin =
        fs::read_to_string(root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf"))
            .unwrap();
    assert!(
        dropin.contains(
            "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n"
        ),
        "{dropin}"
    );
    assert!(dropin.contains("# STIG rules: DKER-EE-001050"));
    assert!(dropin.contains("zz-"));
    assert_eq!(
        mode_of(&root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf")),
        0o644
    );
    // The vendor unit and the admin's override stay as they were.
    assert_eq!(
        fs::read(root.join("lib/systemd/system/docker.service")).unwrap(),
        vendor
    );
    assert_eq!(
        fs::read(root.join("etc/systemd/system/docker.service.d/override.conf")).unwrap(),
        override_conf
    );
    // A second run finds nothing to do.
    let again = vec![edit(&after, "dockerd.tcp_hosts", empty())];
    assert_eq!(after.diff(&again).unwrap(), "");
}

#[tokio::test]
async fn tcp_fix_on_rhel_edits_daemon_json_only() {
    let (_dir, root) = node(rhel_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2376"]))
    );
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let diff = live.diff(&edits).unwrap();
    assert!(
        diff.contains("--- /etc/docker/daemon.json (live)"),
        "{diff}"
    );
    assert!(
        diff.contains("+++ /etc/docker/daemon.json (planned)"),
        "{diff}"
    );
    assert!(
        diff.contains("-  \"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2376\"],"),
        "{diff}"
    );
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(after.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    assert_eq!(
        fs::read_to_string(root.join("etc/docker/daemon.json")).unwrap(),
        "{\n  \"hosts\": [\n    \"unix:///var/run/docker.sock\"\n  ],\n  \"selinux-enabled\": true\n}\n"
    );
    assert_eq!(mode_of(&root.join("etc/docker/daemon.json")), 0o664);
    assert!(!root.join("etc/systemd/system/docker.service.d").exists());
}

#[tokio::test]
async fn listener_added_when_the_last_one_goes() {
    let (_dir, root) = node(rhel_node);
    fs::write(
        root.join("etc/docker/daemon.json"),
        "{\"hosts\": [\"tcp://0.0.0.0:2376\"], \"debug\": false}",
    )
    .unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        fs::read_to_string(root.join("etc/docker/daemon.json")).unwrap(),
        "{\n  \"debug\": false\n}\n"
    );
    let dropin =
        fs::read_to_string(root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf"))
            .unwrap();
    // No docker.socket on this node: the unix socket.
    assert!(
        dropin.contains("ExecStart=/usr/bin/dockerd -H unix:///var/run/docker.sock\n"),
        "{dropin}"
    );
}

#[tokio::test]
async fn a_single_string_listener_in_daemon_json_is_removed() {
    let (_dir, root) = node(rhel_node);
    fs::write(
        root.join("etc/docker/daemon.json"),
        "{\"hosts\": \"tcp://0.0.0.0:2376\", \"debug\": false}",
    )
    .unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2376"]))
    );
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(after.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    assert_eq!(
        fs::read_to_string(root.join("etc/docker/daemon.json")).unwrap(),
        "{\n  \"debug\": false\n}\n"
    );
}

#[tokio::test]
async fn hosts_in_daemon_json_mean_no_host_flag() {
    let (_dir, root) = node(ubuntu_node);
    fs::write(
        root.join("etc/docker/daemon.json"),
        "{\"hosts\": [\"unix:///var/run/docker.sock\", \"TCP://10.0.0.1:2376\"]}\n",
    )
    .unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2375", "TCP://10.0.0.1:2376"]))
    );
    assert!(
        live.notes()
            .iter()
            .any(|note| note.contains("dockerd refuses to start"))
    );
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(after.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    let dropin =
        fs::read_to_string(root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf"))
            .unwrap();
    assert!(
        dropin
            .contains("ExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock\n"),
        "{dropin}"
    );
    assert!(after.notes().is_empty(), "{:?}", after.notes());
}

#[tokio::test]
async fn apply_then_read_is_compliant_and_restore_is_exact() {
    for make in [ubuntu_node as fn(&Path) -> std::io::Result<()>, rhel_node] {
        let (_dir, root) = node(make);
        let host = target(&root);
        let live = host.read().await.unwrap();
        let before = tree(&root).unwrap();
        let edits = all_fixes(&live);
        let saved = live.saved(&edits).unwrap();
        assert_eq!(saved.file, "host-files.json");
        let after = host.apply(&live, &edits).await.unwrap();
        for edit in &edits {
            assert!(
                same_value(&edit.path, &after.lookup(&edit.path).unwrap(), &edit.after),
                "{}",
                edit.path
            );
        }
        assert_ne!(after.fingerprint, live.fingerprint);
        // A second plan is empty.
        assert!(all_fixes(&after).is_empty(), "{:?}", all_fixes(&after));
        let dropin = root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf");
        let text = fs::read_to_string(&dropin).unwrap();
        assert!(text.contains("Environment=\"DOCKER_FIPS=1\""), "{text}");

        // What a rollback would do.
        let back = after.diff_to_saved(&saved, &[]);
        assert!(
            back.contains("remove /etc/systemd/system/docker.service.d/zz-stigfix.conf"),
            "{back}"
        );
        let undo = after.edits_to_saved(&saved);
        assert!(
            undo.iter()
                .any(|edit| edit.path == kp("files.daemon_json.mode")
                    || edit.path == kp("files.docker_sock.mode")),
            "{undo:?}"
        );
        assert!(undo.iter().any(|edit| edit.path == kp("dockerd.tcp_hosts")));

        let restored = host.restore(&saved).await.unwrap();
        assert_eq!(restored.fingerprint, live.fingerprint);
        let now = tree(&root).unwrap();
        assert_eq!(now, before);
    }
}

#[tokio::test]
async fn saved_holds_bytes_only_of_rewritten_files() {
    let (_dir, root) = node(ubuntu_node);
    let live = target(&root).read().await.unwrap();
    let edits = all_fixes(&live);
    let saved = live.saved(&edits).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&saved.bytes).unwrap();
    let entries = json["entries"].as_array().unwrap();
    let entry = |path: &str| {
        entries
            .iter()
            .find(|entry| entry["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in {json}"))
    };
    assert!(
        entry("/etc/docker/tls/server-key.pem")
            .get("bytes_hex")
            .is_none()
    );
    assert_eq!(entry("/etc/docker/tls/server-key.pem")["mode"], "0644");
    assert!(entry("/etc/docker/daemon.json").get("bytes_hex").is_some());
    assert_eq!(
        entry("/etc/systemd/system/docker.service.d/zz-stigfix.conf")["existed"],
        false
    );
    assert_eq!(entry("/run/docker.sock")["kind"], "socket");
    assert_eq!(json["restart_dockerd"], true);
}

#[tokio::test]
async fn dropin_is_updated_not_duplicated() {
    let (_dir, root) = node(ubuntu_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    let fips = vec![edit(&live, "dockerd.environment.DOCKER_FIPS", s("1"))];
    let live = host.apply(&live, &fips).await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("1"))
    );
    let tcp = vec![Edit {
        rules: vec!["DKER-EE-001070".into()],
        ..edit(&live, "dockerd.tcp_hosts", empty())
    }];
    let live = host.apply(&live, &tcp).await.unwrap();
    let dir = root.join("etc/systemd/system/docker.service.d");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["override.conf", "zz-stigfix.conf"]);
    let text = fs::read_to_string(dir.join("zz-stigfix.conf")).unwrap();
    assert!(
        text.contains("# STIG rules: DKER-EE-001050, DKER-EE-001070"),
        "{text}"
    );
    assert!(
        text.contains(
            "Environment=\"DOCKER_FIPS=1\"\nExecStart=\nExecStart=/usr/bin/dockerd -H fd://"
        ),
        "{text}"
    );
    assert_eq!(
        live.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("1"))
    );
    assert_eq!(live.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    // FIPS again after the ExecStart rewrite keeps the ExecStart.
    let off = vec![edit(&live, "dockerd.environment.DOCKER_FIPS", s("0"))];
    let live = host.apply(&live, &off).await.unwrap();
    assert_eq!(live.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    assert_eq!(
        live.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("0"))
    );
}

#[tokio::test]
async fn insecure_registries_from_flags_and_file() {
    let (_dir, root) = node(ubuntu_node);
    fs::write(
        root.join("etc/systemd/system/docker.service.d/override.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --insecure-registry=flag.local:5000 --insecure-registry other:1\n",
    )
    .unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.insecure_registries")),
        Some(strings(&[
            "flag.local:5000",
            "other:1",
            "registry.local:5000"
        ]))
    );
    let edits = vec![edit(&live, "dockerd.insecure_registries", empty())];
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        after.lookup(&kp("dockerd.insecure_registries")),
        Some(empty())
    );
    let json = fs::read_to_string(root.join("etc/docker/daemon.json")).unwrap();
    assert!(
        json.starts_with(
            "{\n  \"log-driver\": \"journald\",\n  \"insecure-registries\": [],\n  \"tlscacert\""
        ),
        "{json}"
    );
    let dropin =
        fs::read_to_string(root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf"))
            .unwrap();
    assert!(
        dropin.contains("ExecStart=/usr/bin/dockerd -H fd://\n"),
        "{dropin}"
    );
}

#[tokio::test]
async fn dropins_hide_by_name_apply_in_order_and_reset_exec_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write("etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    write("etc/group", "root:x:0:\n");
    write(
        "lib/systemd/system/docker.service",
        "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
    );
    // Hidden by the same name in /etc: its ExecStart (no reset) would make two.
    write(
        "usr/lib/systemd/system/docker.service.d/10-a.conf",
        "[Service]\nExecStart=/usr/bin/dockerd -H tcp://hidden:1\n",
    );
    write(
        "etc/systemd/system/docker.service.d/10-a.conf",
        "[Service]\nEnvironment=\"DOCKER_FIPS=1\" 'OTHER=a b'\n",
    );
    write(
        "run/systemd/system/docker.service.d/20-b.conf",
        "[Service]\nExecStart=\nExecStart=-/usr/bin/dockerd -H fd:// \\\n  --host=tcp://b:2\n",
    );
    write(
        "usr/local/lib/systemd/system/docker.service.d/30-c.conf",
        "[Service]\nEnvironment=DOCKER_FIPS=0\nEnvironment=DOCKER_FIPS=2\n",
    );
    write(
        "usr/lib/systemd/system/docker.service.d/notes.txt",
        "ignored",
    );
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://b:2"]))
    );
    assert_eq!(
        live.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("2"))
    );
    assert_eq!(
        live.lookup(&kp("dockerd.environment.OTHER")),
        Some(s("a b"))
    );
    assert_eq!(
        live.expand(&kp("dockerd.environment.*")),
        [
            kp("dockerd.environment.DOCKER_FIPS"),
            kp("dockerd.environment.OTHER")
        ]
    );

    // Without the hiding file, two ExecStart= lines: systemd refuses the unit, so every
    // dockerd setting is unknown (never a pass), and none can be fixed.
    fs::remove_file(root.join("etc/systemd/system/docker.service.d/10-a.conf")).unwrap();
    fs::remove_file(root.join("run/systemd/system/docker.service.d/20-b.conf")).unwrap();
    let live = host.read().await.unwrap();
    let why = live.unknown(&kp("dockerd.tcp_hosts")).unwrap();
    assert!(
        why.contains("docker.service has more than one ExecStart=")
            && why.contains("systemd refuses it")
            && why.contains("10-a.conf:2"),
        "{why}"
    );
    assert!(
        live.unknown(&kp("dockerd.environment.DOCKER_FIPS"))
            .is_some()
    );
    assert!(live.writable(&kp("dockerd.tcp_hosts")).is_err());
    assert_eq!(live.unknown(&kp("files.docker_service.mode")), None);

    // The rewritten ExecStart keeps the prefix and quotes what needs quoting.
    fs::remove_file(root.join("usr/lib/systemd/system/docker.service.d/10-a.conf")).unwrap();
    write(
        "run/systemd/system/docker.service.d/20-b.conf",
        "[Service]\nExecStart=\nExecStart=-/usr/bin/dockerd -H tcp://b:2 --label \"a b\" -H fd://\n",
    );
    let live = host.read().await.unwrap();
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    host.apply(&live, &edits).await.unwrap();
    let dropin =
        fs::read_to_string(root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf"))
            .unwrap();
    assert!(
        dropin.contains("ExecStart=-/usr/bin/dockerd --label \"a b\" -H fd://\n"),
        "{dropin}"
    );
}

#[tokio::test]
async fn malformed_files_are_named_with_line() {
    let (_dir, root) = node(ubuntu_node);
    let daemon = root.join("etc/docker/daemon.json");
    fs::write(&daemon, "{\n  \"debug\": true,\n  \"hosts\" [\n}\n").unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    let canonical = fs::canonicalize(&root).unwrap();
    let why = live.unknown(&kp("dockerd.tcp_hosts")).unwrap();
    assert!(
        why.starts_with(&format!(
            "{}:3:11: not valid JSON",
            canonical.join("etc/docker/daemon.json").display()
        )) && why.ends_with("dockerd refuses to start with it"),
        "{why}"
    );
    assert!(live.unknown(&kp("dockerd.insecure_registries")).is_some());
    assert!(live.unknown(&kp("files.tls_key.mode")).is_some());
    // The file itself is there: its owner and mode are known.
    assert_eq!(live.unknown(&kp("files.daemon_json.mode")), None);
    assert_eq!(live.unknown(&kp("dockerd.environment.DOCKER_FIPS")), None);
    fs::write(&daemon, "{}\n").unwrap();

    let override_conf = root.join("etc/systemd/system/docker.service.d/override.conf");
    fs::write(
        &override_conf,
        "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd \"-H fd://\n",
    )
    .unwrap();
    let live = host.read().await.unwrap();
    let why = live.unknown(&kp("dockerd.tcp_hosts")).unwrap();
    assert!(
        why.contains(&format!(
            "{}:3: ExecStart= cannot be read (unterminated double quote",
            canonical
                .join("etc/systemd/system/docker.service.d/override.conf")
                .display()
        )),
        "{why}"
    );
    fs::write(&override_conf, "[Service\n").unwrap();
    let live = host.read().await.unwrap();
    let why = live.unknown(&kp("dockerd.tcp_hosts")).unwrap();
    assert!(
        why.contains("override.conf:1: invalid section header `[Service`"),
        "{why}"
    );
}

#[tokio::test]
async fn masked_service_is_an_error() {
    let (_dir, root) = node(ubuntu_node);
    symlink("/dev/null", root.join("etc/systemd/system/docker.service")).unwrap();
    let error = target(&root).read().await.unwrap_err();
    assert!(
        error.message().starts_with("docker.service is masked: "),
        "{}",
        error.message()
    );
    assert!(
        error
            .message()
            .contains("etc/systemd/system/docker.service links to /dev/null")
    );
}

#[tokio::test]
async fn escaping_symlinks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/node");
    ubuntu_node(&root).unwrap();
    // A file outside the root the link would reach.
    let outside = dir.path().join("secret");
    fs::write(&outside, "do not touch").unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o640)).unwrap();
    let daemon = root.join("etc/docker/daemon.json");
    fs::remove_file(&daemon).unwrap();
    symlink("../../../../../secret", &daemon).unwrap();
    let host = target(&root);
    let error = host.read().await.unwrap_err();
    assert!(
        error.message().starts_with(
            "symlink /etc/docker/daemon.json -> ../../../../../secret escapes the host root"
        ),
        "{}",
        error.message()
    );
    assert!(error.hint().is_some());

    // An escaping TLS key: read works, the key cannot be fixed, nothing outside changes.
    fs::remove_file(&daemon).unwrap();
    fs::write(&daemon, "{\"tlskey\": \"/etc/docker/tls/key.pem\"}\n").unwrap();
    symlink(
        "../../../../../../secret",
        root.join("etc/docker/tls/key.pem"),
    )
    .unwrap();
    let live = host.read().await.unwrap();
    let path = kp("files.tls_key.mode");
    assert_eq!(live.expand(&path), std::slice::from_ref(&path));
    assert_eq!(live.lookup(&path), None);
    let why = live.writable(&path).unwrap_err();
    assert!(why.contains("escapes the host root"), "{why}");
    assert!(
        live.explain(&path)
            .unwrap()
            .contains("escapes the host root")
    );
    let edits = vec![edit(&live, "files.tls_key.mode", s("0400"))];
    assert!(host.apply(&live, &edits).await.is_err());
    assert_eq!(mode_of(&outside), 0o640);
    assert_eq!(fs::read(&outside).unwrap(), b"do not touch");

    // Absolute targets stay inside the root.
    fs::remove_file(root.join("etc/docker/tls/key.pem")).unwrap();
    symlink(
        "/etc/docker/tls/server-key.pem",
        root.join("etc/docker/tls/key.pem"),
    )
    .unwrap();
    let live = host.read().await.unwrap();
    assert_eq!(live.lookup(&path), Some(s("0644")));
    host.apply(&live, &[edit(&live, "files.tls_key.mode", s("0400"))])
        .await
        .unwrap();
    assert_eq!(mode_of(&root.join("etc/docker/tls/server-key.pem")), 0o400);
    assert!(
        fs::symlink_metadata(root.join("etc/docker/tls/key.pem"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[tokio::test]
async fn daemon_json_behind_a_symlink_is_written_at_its_target() {
    let (_dir, root) = node(rhel_node);
    fs::rename(
        root.join("etc/docker/daemon.json"),
        root.join("etc/docker/real.json"),
    )
    .unwrap();
    symlink("real.json", root.join("etc/docker/daemon.json")).unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    let before = tree(&root).unwrap();
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let saved = live.saved(&edits).unwrap();
    host.apply(&live, &edits).await.unwrap();
    assert!(
        fs::symlink_metadata(root.join("etc/docker/daemon.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        !fs::read_to_string(root.join("etc/docker/real.json"))
            .unwrap()
            .contains("tcp://")
    );
    host.restore(&saved).await.unwrap();
    assert_eq!(tree(&root).unwrap(), before);
}

/// Names come from the root's own passwd and group; ids they do not know show as numbers.
#[tokio::test]
#[ignore = "needs root: run with `cargo test -- --ignored root_`"]
async fn root_owners_come_from_the_roots_passwd_and_are_really_changed() {
    assert_root();
    let (_dir, root) = node(rhel_node);
    let host = target(&root);
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nbob:x:4321:4321::/home/bob:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nbobs:x:4321:\ndocker:x:998:\n",
    )
    .unwrap();
    std::os::unix::fs::chown(root.join("etc/docker/daemon.json"), Some(4321), Some(4321)).unwrap();
    std::os::unix::fs::chown(root.join("etc/docker"), Some(5555), Some(5555)).unwrap();
    let live = host.read().await.unwrap();
    assert_eq!(live.lookup(&kp("files.daemon_json.owner")), Some(s("bob")));
    assert_eq!(live.lookup(&kp("files.daemon_json.group")), Some(s("bobs")));
    assert_eq!(
        live.lookup(&kp("files.etc_docker.owner")),
        Some(s("uid 5555"))
    );
    assert_eq!(
        live.lookup(&kp("files.etc_docker.group")),
        Some(s("gid 5555"))
    );
    let edits = vec![
        edit(&live, "files.daemon_json.owner", s("root")),
        edit(&live, "files.daemon_json.group", s("root")),
    ];
    let diff = live.diff(&edits).unwrap();
    assert!(
        diff.contains("owner /etc/docker/daemon.json bob:bobs -> root:root"),
        "{diff}"
    );
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        after.lookup(&kp("files.daemon_json.owner")),
        Some(s("root"))
    );
    let metadata = fs::metadata(root.join("etc/docker/daemon.json")).unwrap();
    assert_eq!((metadata.uid(), metadata.gid()), (0, 0));
}

/// An owner the root's passwd does not name is refused before anything is written.
#[tokio::test]
async fn an_owner_the_roots_passwd_does_not_know_is_refused() {
    let (_dir, root) = node(rhel_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    let before = tree(&root).unwrap();
    let bad = vec![edit(&live, "files.daemon_json.owner", s("mallory"))];
    let error = host.apply(&live, &bad).await.unwrap_err();
    let passwd = fs::canonicalize(&root).unwrap().join("etc/passwd");
    assert_eq!(
        error.message(),
        format!(
            "user `mallory` does not exist in {}: create it on the node first",
            passwd.display()
        )
    );
    assert_eq!(tree(&root).unwrap(), before);
}

#[tokio::test]
async fn writable_needs_the_docker_group() {
    let (_dir, root) = node(ubuntu_node);
    let group = fs::read_to_string(root.join("etc/group")).unwrap();
    let without: String = group
        .lines()
        .filter(|line| !line.starts_with("docker:"))
        .map(|line| format!("{line}\n"))
        .collect();
    fs::write(root.join("etc/group"), without).unwrap();
    let live = target(&root).read().await.unwrap();
    let why = live.writable(&kp("files.docker_sock.group")).unwrap_err();
    let canonical = fs::canonicalize(&root).unwrap();
    assert_eq!(
        why,
        format!(
            "group `docker` does not exist in {}: create it on the node first",
            canonical.join("etc/group").display()
        )
    );
    // The plan says why: the rule's result carries the reason.
    let rules = crate::playbook::resolve(
        crate::playbook::shipped().unwrap(),
        vec![],
        &crate::site::SiteFile::default(),
        &crate::playbook::RuleFilter::default(),
    )
    .unwrap()
    .rules;
    let (results, _) = crate::assess::assess(
        rules.iter().filter(|rule| rule.rule.target == super::KIND),
        &live,
        time::macros::date!(2026 - 11 - 22),
        None,
    );
    let socket = results
        .iter()
        .find(|result| result.stig_id == "DKER-EE-005310")
        .unwrap();
    assert!(
        socket
            .unfixable
            .iter()
            .any(|unfixable| unfixable.path == kp("files.docker_sock.group")
                && unfixable.reason == why),
        "{:?}",
        socket.unfixable
    );
    assert!(live.writable(&kp("files.daemon_json.group")).is_ok());
    assert!(live.writable(&kp("files.nonsense.mode")).is_err());
    assert!(live.writable(&kp("bogus")).is_err());
}

#[tokio::test]
async fn no_service_means_no_environment_fix() {
    let (_dir, root) = node(rhel_node);
    fs::remove_file(root.join("usr/lib/systemd/system/docker.service")).unwrap();
    let live = target(&root).read().await.unwrap();
    let path = kp("dockerd.environment.DOCKER_FIPS");
    assert!(
        live.writable(&path)
            .unwrap_err()
            .contains("docker.service not found")
    );
    assert!(
        live.explain(&path)
            .unwrap()
            .contains("docker.service not found on the unit search path")
    );
    assert!(live.expand(&kp("files.docker_service.mode")).is_empty());
    // The TCP listener in daemon.json is still seen and fixable.
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2376"]))
    );
}

#[tokio::test]
async fn post_apply_restarts_with_an_overridden_systemctl() {
    let (dir, root) = node(ubuntu_node);
    let log = dir.path().join("systemctl.log");
    let script = dir.path().join("systemctl");
    fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let host = HostTarget::new(&root, RestartPolicy::IfNeeded, Some(script.clone())).unwrap();
    let live = host.read().await.unwrap();
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let saved = live.saved(&edits).unwrap();
    host.apply(&live, &edits).await.unwrap();
    assert!(!log.exists(), "apply must not restart");
    let lines = host.post_apply(&edits).await.unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "daemon-reload\nrestart docker.service\n"
    );
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains("restarted docker.service"));
    // Only file modes: nothing to restart.
    let modes = vec![edit(&live, "files.docker_service.mode", s("0644"))];
    assert!(host.post_apply(&modes).await.unwrap().is_empty());
    // A restore of dockerd configuration restarts again.
    host.restore(&saved).await.unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "daemon-reload\nrestart docker.service\ndaemon-reload\nrestart docker.service\n"
    );

    // Without the override: instructions.
    let plain = target(&root);
    let lines = plain.post_apply(&edits).await.unwrap();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("systemctl daemon-reload && systemctl restart docker")
            && lines[0].contains(&plain.endpoint().to_string()),
        "{lines:?}"
    );
    assert_eq!(plain.restore_actions(&saved).len(), 1);
    let never = HostTarget::new(&root, RestartPolicy::Never, Some(script)).unwrap();
    let lines = never.post_apply(&edits).await.unwrap();
    assert!(lines[0].contains("restarts are turned off"), "{lines:?}");

    // A failing systemctl is an error naming the command.
    let failing = dir.path().join("failing");
    fs::write(
        &failing,
        "#!/bin/sh\necho 'Job for docker.service failed' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&failing, fs::Permissions::from_mode(0o755)).unwrap();
    let host = HostTarget::new(&root, RestartPolicy::IfNeeded, Some(failing)).unwrap();
    let error = host.post_apply(&edits).await.unwrap_err();
    assert!(
        error.message().contains("`systemctl daemon-reload` failed")
            && error.message().contains("Job for docker.service failed"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn stale_state_is_not_written() {
    let (_dir, root) = node(ubuntu_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    fs::set_permissions(root.join("etc/docker"), fs::Permissions::from_mode(0o700)).unwrap();
    let again = host.read().await.unwrap();
    assert_ne!(again.fingerprint, live.fingerprint);
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let error = host.apply(&live, &edits).await.unwrap_err();
    assert!(error.message().contains("changed since they were read"));
    assert!(
        !root
            .join("etc/systemd/system/docker.service.d/zz-stigfix.conf")
            .exists()
    );
}

#[tokio::test]
async fn notes_about_kernel_fips_pending_restart_and_variables() {
    let (dir, root) = node(ubuntu_node);
    let proc = dir.path().join("proc");
    fs::create_dir_all(proc.join("sys/crypto")).unwrap();
    fs::write(proc.join("sys/crypto/fips_enabled"), "0\n").unwrap();
    fs::create_dir_all(proc.join("4242")).unwrap();
    fs::write(proc.join("4242/comm"), "dockerd\n").unwrap();
    fs::write(
        proc.join("4242/cmdline"),
        "/usr/bin/dockerd\0-H\0fd://\0-H\0tcp://0.0.0.0:2375\0--containerd=/run/containerd/containerd.sock\0",
    )
    .unwrap();
    fs::write(proc.join("4242/environ"), "PATH=/usr/bin\0").unwrap();
    fs::create_dir_all(proc.join("7")).unwrap();
    fs::write(proc.join("7/comm"), "bash\n").unwrap();
    let host = target(&root).with_proc(&proc);
    let live = host.read().await.unwrap();
    let notes = live.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("kernel FIPS mode is off ("));
    assert!(
        notes[0].contains("fips_enabled = 0): enabling it needs the OS FIPS setup and a reboot")
    );
    let edits = vec![
        edit(&live, "dockerd.tcp_hosts", empty()),
        edit(&live, "dockerd.environment.DOCKER_FIPS", s("1")),
    ];
    let after = host.apply(&live, &edits).await.unwrap();
    let notes = after.notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[1].starts_with("restart pending: dockerd (pid 4242)"),
        "{}",
        notes[1]
    );
    assert!(notes[1].contains("DOCKER_FIPS is unset but docker.service now sets `1`"));

    // $VARIABLES in ExecStart are expanded from the environment file.
    fs::write(
        root.join("etc/systemd/system/docker.service.d/override.conf"),
        "[Service]\nEnvironmentFile=-/etc/default/docker\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// $DOCKER_OPTS\n",
    )
    .unwrap();
    fs::write(
        root.join("etc/default/docker"),
        "DOCKER_OPTS=\"-H tcp://0.0.0.0:2375 --dns 8.8.8.8\"\n",
    )
    .unwrap();
    fs::remove_file(root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf")).unwrap();
    let live = target(&root).read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2375"]))
    );
    assert_eq!(
        live.source(&kp("dockerd.tcp_hosts")).unwrap(),
        format!(
            "{}:1 (DOCKER_OPTS)",
            fs::canonicalize(&root)
                .unwrap()
                .join("etc/default/docker")
                .display()
        )
    );
}

#[tokio::test]
async fn compliant_node_needs_nothing() {
    let (_dir, root) = node(compliant_node);
    let live = target(&root).read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("1"))
    );
    assert_eq!(live.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    assert_eq!(
        live.lookup(&kp("dockerd.insecure_registries")),
        Some(empty())
    );
    // Modes do not depend on who built the node.
    let modes: Vec<Edit> = all_fixes(&live)
        .into_iter()
        .filter(|edit| !edit.path.to_string().ends_with(".owner"))
        .filter(|edit| !edit.path.to_string().ends_with(".group"))
        .collect();
    assert!(modes.is_empty(), "{modes:?}");
}

/// Owners too: built as root, the compliant node has a real node's owners.
#[tokio::test]
#[ignore = "needs root: run with `cargo test -- --ignored root_`"]
async fn root_compliant_node_needs_no_fix_at_all() {
    assert_root();
    let (_dir, root) = node(compliant_node);
    let live = target(&root).read().await.unwrap();
    assert!(all_fixes(&live).is_empty(), "{:?}", all_fixes(&live));
}

#[test]
fn new_needs_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let error = HostTarget::new(&dir.path().join("missing"), RestartPolicy::Never, None)
        .err()
        .unwrap();
    assert!(error.message().contains("missing"));
    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let error = HostTarget::new(&file, RestartPolicy::Never, None)
        .err()
        .unwrap();
    assert!(error.message().contains("is not a directory"));
}

#[tokio::test]
async fn created_directories_are_removed_by_restore() {
    let (_dir, root) = node(rhel_node);
    fs::remove_dir_all(root.join("etc/systemd")).unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    let before = tree(&root).unwrap();
    let edits = vec![edit(&live, "dockerd.environment.DOCKER_FIPS", s("1"))];
    let diff = live.diff(&edits).unwrap();
    assert!(diff.starts_with("create /etc/systemd/ (root:root 0755)\ncreate /etc/systemd/system/ (root:root 0755)\ncreate /etc/systemd/system/docker.service.d/ (root:root 0755)\n"), "{diff}");
    let saved = live.saved(&edits).unwrap();
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        after.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("1"))
    );
    assert_eq!(
        mode_of(&root.join("etc/systemd/system/docker.service.d")),
        0o755
    );
    host.restore(&saved).await.unwrap();
    assert_eq!(tree(&root).unwrap(), before);
    assert!(!root.join("etc/systemd").exists());
}

fn write_file(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

#[tokio::test]
async fn debian_docker_io_reads_docker_opts_and_environment_files_win() {
    let (_dir, root) = node(debian_docker_io_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert_eq!(live.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    assert_eq!(live.unknown(&kp("dockerd.tcp_hosts")), None);
    assert!(live.refusal().is_none());

    // Environment= says one thing, the environment file another: the file wins (systemd.exec
    // (5)), and the fix rewrites the file's assignment.
    write_file(
        &root,
        "etc/systemd/system/docker.service.d/env.conf",
        "[Service]\nEnvironment=DOCKER_FIPS=1 \"DOCKER_OPTS=--debug\"\nUnsetEnvironment=HTTP_PROXY\n",
    );
    let shipped = fs::read_to_string(root.join("etc/default/docker")).unwrap();
    fs::write(
        root.join("etc/default/docker"),
        format!("{shipped}DOCKER_FIPS=0\nHTTP_PROXY=http://proxy:3128\nDOCKER_OPTS='-H tcp://0.0.0.0:2375 --label \"a b\"'\n"),
    )
    .unwrap();
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("0"))
    );
    assert_eq!(live.lookup(&kp("dockerd.environment.HTTP_PROXY")), None);
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2375"]))
    );
    let shown = fs::canonicalize(&root).unwrap().join("etc/default/docker");
    assert_eq!(
        live.source(&kp("dockerd.environment.DOCKER_FIPS")).unwrap(),
        format!("{}:13", shown.display())
    );
    let edits = vec![
        edit(&live, "dockerd.tcp_hosts", empty()),
        edit(&live, "dockerd.environment.DOCKER_FIPS", s("1")),
    ];
    let saved = live.saved(&edits).unwrap();
    let before = tree(&root).unwrap();
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        fs::read_to_string(root.join("etc/default/docker")).unwrap(),
        format!(
            "{shipped}DOCKER_FIPS=\"1\"\nHTTP_PROXY=http://proxy:3128\nDOCKER_OPTS=\"--label \\\"a b\\\"\"\n"
        )
    );
    assert!(
        !root
            .join("etc/systemd/system/docker.service.d/zz-stigfix.conf")
            .exists()
    );
    assert_eq!(after.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    assert_eq!(
        after.lookup(&kp("dockerd.environment.DOCKER_FIPS")),
        Some(s("1"))
    );
    host.restore(&saved).await.unwrap();
    assert_eq!(tree(&root).unwrap(), before);
}

#[tokio::test]
async fn rhel_docker_options_with_shell_lines_around_them() {
    let (_dir, root) = node(rhel_docker_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    // The `if … fi` around DOCKER_CERT_PATH: systemd sets it unconditionally, the shell would
    // not; no rule reads it, and it is not on the command line.
    assert!(
        live.unknown(&kp("dockerd.environment.DOCKER_CERT_PATH"))
            .is_some()
    );
    assert_eq!(live.unknown(&kp("dockerd.tcp_hosts")), None);
    assert_eq!(
        live.lookup(&kp("dockerd.environment.OPTIONS")),
        Some(s(
            "--selinux-enabled --log-driver=journald --signature-verification=false"
        ))
    );
    assert_eq!(live.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
    // An insecure registry in OPTIONS, and one in daemon.json.
    let text = fs::read_to_string(root.join("etc/sysconfig/docker")).unwrap();
    fs::write(
        root.join("etc/sysconfig/docker"),
        text.replace(
            "--signature-verification=false'",
            "--signature-verification=false --insecure-registry=registry.local:5000'",
        ),
    )
    .unwrap();
    fs::write(
        root.join("etc/docker/daemon.json"),
        "{\"insecure-registries\": [\"other:5000\"]}\n",
    )
    .unwrap();
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.insecure_registries")),
        Some(strings(&["registry.local:5000", "other:5000"]))
    );
    let edits = vec![edit(&live, "dockerd.insecure_registries", empty())];
    host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        fs::read_to_string(root.join("etc/sysconfig/docker")).unwrap(),
        text.replace(
            "OPTIONS='--selinux-enabled --log-driver=journald --signature-verification=false'",
            "OPTIONS=\"--selinux-enabled --log-driver=journald --signature-verification=false\"",
        )
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/docker/daemon.json")).unwrap(),
        "{\n  \"insecure-registries\": []\n}\n"
    );
}

#[tokio::test]
async fn socket_listeners_are_replaced_by_a_socket_dropin_and_restart_the_socket() {
    let (dir, root) = node(docker_ce_rpm_node);
    write_file(
        &root,
        "etc/systemd/system/docker.socket.d/tcp.conf",
        "[Socket]\nListenStream=[::]:2375\nListenStream=@docker-abstract\nListenStream=vsock:2:2376\n",
    );
    let log = dir.path().join("systemctl.log");
    let script = dir.path().join("systemctl");
    fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let host = HostTarget::new(&root, RestartPolicy::IfNeeded, Some(script)).unwrap();
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["[::]:2375", "vsock:2:2376"]))
    );
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    assert_eq!(
        live.actions(&edits),
        [
            "restart docker.socket and docker.service (systemctl daemon-reload && systemctl restart docker.socket docker)"
        ]
    );
    let saved = live.saved(&edits).unwrap();
    let before = tree(&root).unwrap();
    host.apply(&live, &edits).await.unwrap();
    let dropin =
        fs::read_to_string(root.join("etc/systemd/system/docker.socket.d/zz-stigfix.conf"))
            .unwrap();
    assert!(
        dropin.ends_with("[Socket]\nListenStream=\nListenStream=/run/docker.sock\nListenStream=@docker-abstract\n"),
        "{dropin}"
    );
    host.post_apply(&edits).await.unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "daemon-reload\nrestart docker.socket docker.service\n"
    );
    host.restore(&saved).await.unwrap();
    assert_eq!(tree(&root).unwrap(), before);
    assert!(host.restore_actions(&saved).is_empty());
}

#[tokio::test]
async fn a_daemon_json_with_a_byte_order_mark_is_read_and_rewritten_without_it() {
    let (_dir, root) = node(rhel_node);
    let daemon = root.join("etc/docker/daemon.json");
    fs::write(
        &daemon,
        b"\xef\xbb\xbf{\"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2376\"]}\n",
    )
    .unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert_eq!(
        live.lookup(&kp("dockerd.tcp_hosts")),
        Some(strings(&["tcp://0.0.0.0:2376"]))
    );
    assert!(
        live.notes()
            .iter()
            .any(|note| note.contains("UTF-8 byte order mark") && note.contains("dockerd 24.0")),
        "{:?}",
        live.notes()
    );
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let saved = live.saved(&edits).unwrap();
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        fs::read_to_string(&daemon).unwrap(),
        "{\n  \"hosts\": [\n    \"unix:///var/run/docker.sock\"\n  ]\n}\n"
    );
    assert!(
        !after
            .notes()
            .iter()
            .any(|note| note.contains("byte order mark"))
    );
    host.restore(&saved).await.unwrap();
    assert!(fs::read(&daemon).unwrap().starts_with(b"\xef\xbb\xbf"));
}

#[tokio::test]
async fn an_empty_root_is_unknown_everywhere_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = target(dir.path());
    let live = host.read().await.unwrap();
    let why = live.refusal().unwrap();
    assert!(
        why.starts_with("no Docker Engine installation found under"),
        "{why}"
    );
    for path in [
        "dockerd.tcp_hosts",
        "dockerd.environment.DOCKER_FIPS",
        "files.daemon_json.owner",
        "files.docker_sock.mode",
    ] {
        assert_eq!(live.expand(&kp(path)), [kp(path)], "{path}");
        assert_eq!(
            live.unknown(&kp(path)).as_deref(),
            Some(why.as_str()),
            "{path}"
        );
        assert!(live.writable(&kp(path)).is_err(), "{path}");
    }
    assert!(live.notes().contains(&why));
    let edits = vec![Edit {
        path: kp("files.daemon_json.owner"),
        before: None,
        after: s("root"),
        rules: vec![],
    }];
    let error = host.apply(&live, &edits).await.unwrap_err();
    assert!(
        error
            .message()
            .contains("no Docker Engine installation found")
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
    // A dockerd binary alone is an installation (a node without systemd units).
    fs::create_dir_all(dir.path().join("usr/bin")).unwrap();
    fs::write(dir.path().join("usr/bin/dockerd"), "").unwrap();
    assert!(host.read().await.unwrap().refusal().is_none());
}

#[tokio::test]
async fn a_mode_that_adds_a_bit_is_unfixable_at_plan_time_and_refused_at_write_time() {
    let (_dir, root) = node(ubuntu_node);
    let key = root.join("etc/docker/tls/server-key.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
    let host = target(&root);
    let live = host.read().await.unwrap();
    let why = live
        .accepts(&kp("files.tls_key.mode"), &s("0440"))
        .unwrap_err();
    assert!(
        why.contains("would go from 0400 to 0440, adding permission bits 0040"),
        "{why}"
    );
    assert!(live.accepts(&kp("files.tls_key.mode"), &s("0400")).is_ok());
    assert!(live.accepts(&kp("files.tls_key.mode"), &s("0000")).is_ok());
    assert!(live.accepts(&kp("files.tls_key.owner"), &s("root")).is_ok());
    let before = tree(&root).unwrap();
    let edits = vec![edit(&live, "files.tls_key.mode", s("0644"))];
    let error = host.apply(&live, &edits).await.unwrap_err();
    assert!(
        error.message().contains("only ever makes a mode stricter"),
        "{}",
        error.message()
    );
    assert_eq!(tree(&root).unwrap(), before);
}

#[tokio::test]
async fn pass_environment_and_unset_environment() {
    let (_dir, root) = node(debian_docker_io_node);
    write_file(
        &root,
        "etc/systemd/system/docker.service.d/env.conf",
        "[Service]\nPassEnvironment=DOCKER_OPTS\nUnsetEnvironment=DOCKER_FIPS\n",
    );
    let live = target(&root).read().await.unwrap();
    let why = live.unknown(&kp("dockerd.tcp_hosts")).unwrap();
    assert!(
        why.contains("PassEnvironment=DOCKER_OPTS takes its value from the service manager"),
        "{why}"
    );
    let why = live
        .writable(&kp("dockerd.environment.DOCKER_FIPS"))
        .unwrap_err();
    assert!(why.contains("UnsetEnvironment=DOCKER_FIPS"), "{why}");
}

#[tokio::test]
async fn tls_files_at_dockerds_default_paths_when_tls_is_on() {
    let (_dir, root) = node(debian_docker_io_node);
    let host = target(&root);
    let live = host.read().await.unwrap();
    // TLS off: no TLS file to check.
    assert!(live.expand(&kp("files.tls_ca.mode")).is_empty());
    // `--tlsverify` in DOCKER_OPTS, no paths: $DOCKER_CERT_PATH/ca.pem …
    let shipped = fs::read_to_string(root.join("etc/default/docker")).unwrap();
    write_file(&root, "etc/docker/tls/ca.pem", "ca\n");
    write_file(&root, "etc/docker/tls/key.pem", "key\n");
    fs::set_permissions(
        root.join("etc/docker/tls/key.pem"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::write(
        root.join("etc/default/docker"),
        format!("{shipped}DOCKER_CERT_PATH=/etc/docker/tls\nDOCKER_OPTS=\"--tlsverify\"\n"),
    )
    .unwrap();
    let live = host.read().await.unwrap();
    assert_eq!(live.lookup(&kp("files.tls_key.mode")), Some(s("0600")));
    assert_eq!(
        live.source(&kp("files.tls_ca.mode")).unwrap(),
        fs::canonicalize(&root)
            .unwrap()
            .join("etc/docker/tls/ca.pem")
            .display()
            .to_string()
    );
    // cert.pem is not there: dockerd goes without it, nothing to check.
    assert!(live.expand(&kp("files.tls_cert.mode")).is_empty());
    assert!(
        live.explain(&kp("files.tls_cert.mode"))
            .unwrap()
            .contains("dockerd's default --tlscert")
    );
    // … else root's ~/.docker (from the root's /etc/passwd).
    fs::write(
        root.join("etc/default/docker"),
        format!("{shipped}DOCKER_OPTS=\"--tlsverify\"\n"),
    )
    .unwrap();
    let live = host.read().await.unwrap();
    assert!(
        live.explain(&kp("files.tls_ca.mode"))
            .unwrap()
            .contains("/root/.docker/ca.pem"),
        "{:?}",
        live.explain(&kp("files.tls_ca.mode"))
    );
    // A DOCKER_CERT_PATH stigfix cannot be sure of makes the default path unknown.
    fs::write(
        root.join("etc/default/docker"),
        format!("{shipped}if [ -z \"$DOCKER_CERT_PATH\" ]; then\n  DOCKER_CERT_PATH=/etc/docker/tls\nfi\nDOCKER_OPTS=\"--tlsverify\"\n"),
    )
    .unwrap();
    let live = host.read().await.unwrap();
    assert!(live.unknown(&kp("files.tls_key.mode")).is_some());
    assert_eq!(live.unknown(&kp("dockerd.tcp_hosts")), None);
}

#[tokio::test]
async fn listeners_in_daemon_json_take_every_h_flag_out_of_every_source() {
    // Debian docker.io: `-H fd://` in ExecStart, a TCP listener in DOCKER_OPTS, and "hosts" in
    // daemon.json: dockerd refuses this already; the fix leaves the file's listeners alone.
    let (_dir, root) = node(debian_docker_io_node);
    let shipped = fs::read_to_string(root.join("etc/default/docker")).unwrap();
    fs::write(
        root.join("etc/default/docker"),
        format!("{shipped}DOCKER_OPTS=\"-H tcp://0.0.0.0:2375 --dns 8.8.8.8\"\n"),
    )
    .unwrap();
    write_file(
        &root,
        "etc/docker/daemon.json",
        "{\"hosts\": [\"unix:///var/run/docker.sock\", \"tcp://0.0.0.0:2376\"]}\n",
    );
    let host = target(&root);
    let live = host.read().await.unwrap();
    assert!(
        live.notes()
            .iter()
            .any(|note| note.contains("dockerd refuses to start with both"))
    );
    let edits = vec![edit(&live, "dockerd.tcp_hosts", empty())];
    let after = host.apply(&live, &edits).await.unwrap();
    assert_eq!(
        fs::read_to_string(root.join("etc/default/docker")).unwrap(),
        format!("{shipped}DOCKER_OPTS=\"--dns 8.8.8.8\"\n")
    );
    let dropin =
        fs::read_to_string(root.join("etc/systemd/system/docker.service.d/zz-stigfix.conf"))
            .unwrap();
    assert!(
        dropin.contains(
            "ExecStart=\nExecStart=/usr/sbin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n"
        ),
        "{dropin}"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/docker/daemon.json")).unwrap(),
        "{\n  \"hosts\": [\n    \"unix:///var/run/docker.sock\"\n  ]\n}\n"
    );
    assert!(
        !after
            .notes()
            .iter()
            .any(|note| note.contains("refuses to start with both"))
    );
    assert_eq!(after.lookup(&kp("dockerd.tcp_hosts")), Some(empty()));
}

/// `stigfix nodes` reads a node at `/host`, an admin at `/`: the same node is the same state.
#[tokio::test]
async fn the_fingerprint_does_not_depend_on_where_the_root_is() {
    for make in [ubuntu_node as fn(&Path) -> std::io::Result<()>, rhel_node] {
        let (_one, first) = node(make);
        let (_two, second) = node(make);
        let a = target(&first).read().await.unwrap();
        let b = target(&second).read().await.unwrap();
        assert_ne!(first, second);
        assert_eq!(a.fingerprint, b.fingerprint);
    }
}
