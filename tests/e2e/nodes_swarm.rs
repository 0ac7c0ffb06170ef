//! `stigfix nodes` on a REAL swarm (issue 12 §3): Debian's `dockerd` (through
//! [`crate::dockerd`]) made a one-node swarm through its API (`POST /swarm/init`), the image
//! `stigfix nodes image` writes loaded with `docker load -i` and run, and the simulator in PROXY
//! mode standing for UCP in front of that Engine's socket (the UCP session and endpoints are
//! the simulator's; the swarm, the global job, the bind mount of `/` and the service logs are
//! the real Engine's). The node's `/` is this machine's: what the report says of it is judged
//! against what `stigfix plan --host-root /` says here.
//!
//! dockerd needs root: these tests are `root_*`, ignored by default, run by
//! `cargo test -- --ignored root_` (as `.ci/run` does).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stigfix::sim::SimEngine;

use crate::dockerd::{Dockerd, INSTALL_HINT, Launch, free_port};
use crate::support::{EnvOptions, Output, TestEnv, assert_root, json as parse_json};

/// How long a scanner run on the real swarm may take: a bound, not a speed claim (the debug
/// binary is 110 MB, and two cores are shared).
const RUN_BOUND: Duration = Duration::from_secs(300);
const TAG: &str = "stigfix:e2e";

fn docker_cli() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("docker"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("the docker CLI is not installed: {INSTALL_HINT}"))
}

/// `docker -H unix://<socket> args…`: its stdout, or the test fails with its stderr.
#[track_caller]
fn docker(dockerd: &Dockerd, args: &[&str]) -> String {
    let out = Command::new(docker_cli())
        .arg("-H")
        .arg(format!("unix://{}", dockerd.socket().display()))
        .args(args)
        .env(
            "DOCKER_CONFIG",
            dockerd.socket().parent().expect("temp folder"),
        )
        .output()
        .expect("run the docker CLI");
    assert!(
        out.status.success(),
        "docker {}: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr),
        dockerd.describe()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `POST path` with a JSON body on the daemon's socket: status and body.
fn post(dockerd: &Dockerd, path: &str, body: &Value) -> (u16, String) {
    let body = body.to_string();
    let mut stream = UnixStream::connect(dockerd.socket()).expect("connect to dockerd");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status");
    (status, body.to_string())
}

/// The image of this build, written by `stigfix nodes image` and loaded with `docker load`.
fn load_image(dockerd: &Dockerd, work: &Path) {
    let tar = work.join("stigfix-image.tar");
    let out = Command::new(env!("CARGO_BIN_EXE_stigfix"))
        .args(["nodes", "image", "--tag", TAG, "--out"])
        .arg(&tar)
        .env("NO_COLOR", "1")
        .current_dir(work)
        .output()
        .expect("run stigfix nodes image");
    assert!(
        out.status.success(),
        "stigfix nodes image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), TAG);
    let loaded = docker(dockerd, &["load", "-i", tar.to_str().expect("UTF-8")]);
    assert!(loaded.contains(&format!("Loaded image: {TAG}")), "{loaded}");
}

/// A one-node swarm, made through the Engine API.
fn swarm(dockerd: &Dockerd) {
    let address = format!("127.0.0.1:{}", free_port());
    let (status, body) = post(
        dockerd,
        "/v1.41/swarm/init",
        &json!({"ListenAddr": address, "AdvertiseAddr": address}),
    );
    assert_eq!(
        status,
        200,
        "POST /swarm/init: {body}\n{}",
        dockerd.describe()
    );
}

/// Wait for a child within [`RUN_BOUND`] (a hung child is killed and the test fails).
fn finish_within(mut child: Child) -> Output {
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + RUN_BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stigfix did not finish within {RUN_BOUND:?}\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

/// Services with the scanner's label on the real Engine.
fn scanner_services(dockerd: &Dockerd) -> Value {
    let (status, body) =
        dockerd.get("/v1.41/services?filters=%7B%22label%22%3A%5B%22com.stigfix.scanner%22%5D%7D");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
#[ignore = "needs root: dockerd runs as root; run with `cargo test -- --ignored root_`"]
fn root_the_image_loads_and_runs_as_a_container() {
    assert_root();
    let work = tempfile::tempdir().expect("temp dir");
    let dockerd = Dockerd::running(Launch::default());
    load_image(&dockerd, work.path());
    let version = docker(
        &dockerd,
        &["run", "--rm", "--network", "none", TAG, "--version"],
    );
    assert_eq!(version, format!("stigfix {}", env!("CARGO_PKG_VERSION")));
    let labels = docker(
        &dockerd,
        &[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            TAG,
        ],
    );
    let labels: Value = serde_json::from_str(&labels).expect("JSON");
    assert_eq!(labels["com.stigfix.scanner"], "1");
}

#[test]
#[ignore = "needs root: dockerd runs as root; run with `cargo test -- --ignored root_`"]
fn root_nodes_check_runs_on_a_real_swarm_and_leaves_no_service() {
    assert_root();
    let work = tempfile::tempdir().expect("temp dir");
    let dockerd = Dockerd::running(Launch::default());
    swarm(&dockerd);
    load_image(&dockerd, work.path());
    let info = dockerd.info();
    let hostname = info["Name"]
        .as_str()
        .expect("the Engine's name")
        .to_string();
    let mut env = TestEnv::start(EnvOptions {
        engine: SimEngine::Proxy {
            socket: dockerd.socket().to_path_buf(),
        },
        ..EnvOptions::default()
    });
    env.set_env("STIGFIX_POLL_MS", "200");
    // No waiver of the demo site touches a host rule: the nodes' results stand as printed.
    let out = finish_within(env.spawn(&[
        "nodes", "check", "--format", "json", "--image", TAG, "--wait", "240",
    ]));
    assert!(
        out.code == 0 || out.code == 2,
        "exit {}: {}\n{}",
        out.code,
        out.stderr,
        dockerd.describe()
    );
    let report = parse_json(&out.stdout);
    let checklists = report["checklists"].as_array().expect("checklists");
    assert!(!checklists.is_empty());
    for checklist in checklists {
        assert_eq!(
            checklist["asset"]["host_name"],
            hostname.split('.').next().unwrap()
        );
        assert_eq!(checklist["asset"]["key"], format!("host:{hostname}:/"));
    }
    assert!(!out.stdout.contains("/host/"), "{}", out.stdout);
    // What the node reported is what stigfix says of this machine's root here.
    let local = Command::new(env!("CARGO_BIN_EXE_stigfix"))
        .args([
            "plan",
            "--host-root",
            "/",
            "--format",
            "json",
            "--no-progress",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", work.path())
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .output()
        .expect("stigfix plan --host-root /");
    let local: Value = serde_json::from_slice(&local.stdout).expect("a plan");
    let docker = checklists
        .iter()
        .find(|checklist| {
            checklist["stig"]["id"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Docker_Enterprise")
        })
        .expect("the Docker Enterprise checklist");
    for id in ["DKER-EE-001050", "DKER-EE-001070", "DKER-EE-005170"] {
        let here = local["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|rule| rule["stig_id"] == id && rule["kind"] == "host")
            .expect("the rule here");
        let there = docker["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|rule| rule["stig_id"] == id)
            .expect("the rule in the checklist");
        assert_eq!(there["stigfix_status"], here["status"], "{id}: {there:#}");
    }
    assert_eq!(
        scanner_services(&dockerd),
        json!([]),
        "the scanner service is gone"
    );
    // The service ran as a labelled global job (its task's container is gone with it).
    let journal = env.sim.requests();
    assert!(
        journal
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/logs") && r.status == 200),
        "{journal:#?}"
    );
}

#[test]
#[ignore = "needs root: dockerd runs as root; run with `cargo test -- --ignored root_`"]
fn root_an_image_the_node_does_not_have_is_named_and_the_service_removed() {
    assert_root();
    let dockerd = Dockerd::running(Launch::default());
    swarm(&dockerd);
    let mut env = TestEnv::start(EnvOptions {
        engine: SimEngine::Proxy {
            socket: dockerd.socket().to_path_buf(),
        },
        ..EnvOptions::default()
    });
    env.set_env("STIGFIX_POLL_MS", "200");
    let out = finish_within(env.spawn(&[
        "nodes",
        "plan",
        "--image",
        "stigfix:not-loaded-anywhere",
        "--wait",
        "120",
    ]));
    assert_eq!(out.code, 1, "{}\n{}", out.stderr, out.stdout);
    let error = out.error_line();
    assert!(error.contains("1 of 1 node(s) did not report"), "{error}");
    assert!(
        error.contains("rejected (No such image: stigfix:not-loaded-anywhere)"),
        "{error}"
    );
    assert_eq!(scanner_services(&dockerd), json!([]));
}
