//! The workload target's Kubernetes half (issue #10 §2) against the simulated MKE: pods read
//! from its Kubernetes API with a client bundle (mutual TLS), paged with `limit`/`continue` and
//! started again after `410 Gone`; every pod rule's status and evidence; kube-system left out
//! and listed; no bundle → unknown, never pass; a bad bundle → one line naming the file; the
//! bundle's key never in any output.

use std::path::{Path, PathBuf};

use serde_json::Value;
use stigfix::sim::{SimCluster, SimEngine, SimKube};

use crate::support::{EnvOptions, TestEnv, json};

const CLEAN_POD: &str = "team-a/web-5f6d8b7c9-x7k2p";

fn cluster(kube: SimKube) -> TestEnv {
    TestEnv::start(EnvOptions {
        engine: SimEngine::Cluster(SimCluster::demo()),
        kube,
        ..EnvOptions::default()
    })
}

/// The simulator's client bundle, written into the test's folder.
fn bundle(env: &TestEnv) -> PathBuf {
    let path = env.path("ucp-bundle-admin.zip");
    let kube = env.sim.kube().expect("the Kubernetes API is on");
    std::fs::write(&path, kube.client_bundle()).expect("write the bundle");
    path
}

fn rule<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|rule| rule["stig_id"] == id)
        .unwrap_or_else(|| panic!("no rule {id}"))
}

/// The pod checks of a rule.
fn pod_checks(rule: &Value) -> Vec<&Value> {
    rule["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|check| check["path"].as_str().unwrap().starts_with("pods."))
        .collect()
}

/// The pod items a rule's checks list.
fn pod_items(rule: &Value) -> Vec<String> {
    pod_checks(rule)
        .iter()
        .flat_map(|check| {
            check["observed"]["failing"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|item| item["path"].as_str().expect("path").to_string())
        .collect()
}

fn workload(plan: &Value) -> &Value {
    plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|target| target["kind"] == "workload")
        .expect("a workload target")
}

fn plan_with(env: &TestEnv, bundle: &Path) -> Value {
    let out = env.run(&[
        "plan",
        "--format",
        "json",
        "--client-bundle",
        bundle.to_str().unwrap(),
    ]);
    out.assert_code(0);
    json(&out.stdout)
}

#[test]
fn every_pod_rule_is_judged_with_the_pod_container_and_field_as_evidence() {
    let env = cluster(SimKube::demo());
    let plan = plan_with(&env, &bundle(&env));
    let expect = |id: &str, status: &str, named: &[&str]| {
        let rule = rule(&plan, id);
        assert_eq!(rule["status"], status, "{id}: {rule:#}");
        let items = pod_items(rule);
        for name in named {
            assert!(
                items.iter().any(|item| item.contains(name)),
                "{id} does not name {name}: {items:?}"
            );
        }
        items
    };
    let debugger = "pods.\"team-b/node-debugger\"";
    let shell = &format!("{debugger}.containers.shell");
    // A privileged container, and a job's privileged init container.
    let privileged = expect(
        "DKER-EE-001960",
        "open",
        &[
            &format!("{shell}.privileged"),
            "pods.\"team-c/report-28391\".containers.fetch.privileged",
        ],
    );
    assert_eq!(privileged.len(), 2, "{privileged:?}");
    expect("DKER-EE-001240", "open", &[&format!("{debugger}.host_pid")]);
    expect("DKER-EE-001250", "open", &[&format!("{debugger}.host_ipc")]);
    for id in ["DKER-EE-002000", "CNTR-MK-000150"] {
        expect(id, "open", &["pods.\"team-a/cache-7d9f4\".host_network"]);
    }
    expect(
        "DKER-EE-002060",
        "open",
        &["pods.\"team-a/cache-7d9f4\".host_uts"],
    );
    expect(
        "DKER-EE-002130",
        "open",
        &[&format!("{shell}.docker_socket_mounts")],
    );
    expect(
        "DKER-EE-001190",
        "open",
        &[&format!("{shell}.rw_host_mounts.\"/host/etc\"")],
    );
    expect(
        "DKER-EE-002050",
        "open",
        &[&format!("{shell}.mounts.\"/host/etc\".propagation")],
    );
    let port = format!("{shell}.host_ports.\"0.0.0.0:80->80/tcp\"");
    for id in ["DKER-EE-002150", "CNTR-MK-000570", "CNTR-MK-000650"] {
        let items = expect(id, "open", &[&format!("{port}.host_port")]);
        // The cache's 6379 on the host's network is a host port, and above 1023.
        assert_eq!(items.len(), 1, "{id}: {items:?}");
    }
    expect(
        "DKER-EE-002160",
        "open",
        &[
            &format!("{port}.host_ip"),
            "pods.\"team-a/cache-7d9f4\".containers.redis.host_ports.\"0.0.0.0:6379->6379/tcp\".host_ip",
        ],
    );
    expect(
        "DKER-EE-002010",
        "open",
        &[&format!("{shell}.memory_limit")],
    );
    expect("DKER-EE-002020", "open", &[&format!("{shell}.cpu_limit")]);
    expect(
        "DKER-EE-002030",
        "open",
        &[&format!("{shell}.read_only_root_filesystem")],
    );
    expect("DKER-EE-002070", "open", &[&format!("{shell}.seccomp")]);
    for id in ["DKER-EE-002110", "CNTR-MK-001010"] {
        expect(
            id,
            "open",
            &[
                &format!("{shell}.allow_privilege_escalation"),
                "containers.fetch.allow_privilege_escalation",
            ],
        );
    }
    expect(
        "DKER-EE-003200",
        "open",
        &[&format!("{shell}.run_as_non_root")],
    );
    expect("DKER-EE-002770", "open", &[&format!("{shell}.healthcheck")]);
    // Allow-lists not set: each item listed for a person — the ephemeral container's too.
    expect(
        "DKER-EE-001950",
        "manual",
        &[
            &format!("{shell}.cap_add.SYS_ADMIN"),
            "pods.\"team-c/report-28391\".containers.debugger-7xk2.cap_add.NET_RAW",
        ],
    );
    expect(
        "DKER-EE-002040",
        "manual",
        &[&format!("{shell}.devices.\"/dev/fuse\"")],
    );
    expect("DKER-EE-001990", "manual", &[&format!("{port}.published")]);
    expect("CNTR-MK-000640", "manual", &[&format!("{port}.published")]);
    // No pod sets hostUsers: the pods comply, the stopped container does not.
    let userns = rule(&plan, "DKER-EE-002120");
    assert_eq!(userns["status"], "open");
    assert_eq!(pod_checks(userns)[0]["outcome"], "pass", "{userns:#}");
    // Rules the MKE check texts make Not Applicable for Kubernetes read no pods.
    for id in [
        "CNTR-MK-000550",
        "CNTR-MK-000560",
        "CNTR-MK-000680",
        "CNTR-MK-001160",
        "CNTR-MK-001170",
        "CNTR-MK-001200",
        "CNTR-MK-001220",
    ] {
        assert!(pod_checks(rule(&plan, id)).is_empty(), "{id} reads pods");
    }

    // The source names the endpoint, the lists and the field.
    let source = pod_checks(rule(&plan, "DKER-EE-001960"))[0]["source"]
        .as_str()
        .unwrap()
        .to_string();
    let kube = env.sim.kube().unwrap().url();
    assert!(
        source.starts_with(&format!(
            "GET {kube}/api/v1/pods spec.{{containers,initContainers,ephemeralContainers}}[].securityContext.privileged"
        )),
        "{source}"
    );

    // The clean pod and kube-system's are never named in a finding…
    let text = plan["rules"].to_string();
    for pod in [CLEAN_POD, "calico-node-x2k9f", "coredns"] {
        assert!(!text.contains(pod), "{pod} is named in a finding");
    }
    // …and kube-system's are listed as left out.
    let notes = workload(&plan)["notes"].to_string();
    assert!(
        notes.contains("4 user pod(s) checked in 3 namespace(s) (1 page(s) of GET"),
        "{notes}"
    );
    assert!(
        notes.contains("left out, Kubernetes system pod (namespace kube-system): kube-system/calico-node-x2k9f, kube-system/coredns-6f4b8d9c5-q9w8e"),
        "{notes}"
    );
    // Read only: GETs of the pod list, nothing else.
    let pods = env
        .sim
        .requests()
        .into_iter()
        .filter(|request| request.path.starts_with("/api/v1/"))
        .collect::<Vec<_>>();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn the_pod_list_is_paged_and_started_again_after_410_gone() {
    let env = cluster(SimKube::generated(1200));
    let kube = env.sim.kube().unwrap();
    assert_eq!(kube.pod_count(), 1202);
    kube.expire_continue_tokens(1);
    let plan = plan_with(&env, &bundle(&env));
    let statuses: Vec<u16> = env
        .sim
        .requests()
        .iter()
        .filter(|request| request.path == "/api/v1/pods")
        .map(|request| request.status)
        .collect();
    // Page 1, page 2 answered 410 Gone, then pages 1, 2 and 3 again.
    assert_eq!(statuses, [200, 410, 200, 200, 200]);
    let notes = workload(&plan)["notes"].to_string();
    assert!(
        notes.contains("1200 user pod(s) checked in 10 namespace(s) (3 page(s) of GET")
            && notes.contains("?limit=500, started again once after 410 Gone); 2 left out"),
        "{notes}"
    );
    // Every fifth pod is privileged: 240, none twice.
    let privileged = pod_items(rule(&plan, "DKER-EE-001960"));
    assert_eq!(privileged.len(), 240);
    let mut unique = privileged.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 240);

    // A list that keeps expiring: the pods are unknown, with the reason, never a pass.
    kube.expire_continue_tokens(10);
    let plan = plan_with(&env, &bundle(&env));
    let check = &pod_checks(rule(&plan, "DKER-EE-001960"))[0];
    assert_eq!(check["outcome"], "unknown");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("answered 410 Gone") && reason.contains("started again 3 times"),
        "{reason}"
    );
}

#[test]
fn without_a_bundle_the_pods_are_unknown_never_pass() {
    // UCP's own containers only: every container setting complies; the pods are not read.
    let env = TestEnv::start(EnvOptions {
        kube: SimKube::demo(),
        ..EnvOptions::default()
    });
    let out = env.run(&["plan", "--format", "json", "--detailed-exitcode"]);
    out.assert_code(2);
    let plan = json(&out.stdout);
    for id in ["DKER-EE-001960", "DKER-EE-001240", "CNTR-MK-000150"] {
        let rule = rule(&plan, id);
        assert_eq!(rule["status"], "unknown", "{id}: {rule:#}");
        let check = &pod_checks(rule)[0];
        assert!(
            check["reason"]
                .as_str()
                .unwrap()
                .contains("pods not read: no client bundle given (--client-bundle FILE.zip|DIR)"),
            "{check:#}"
        );
    }
    // A rule Kubernetes is not applicable to still passes on the containers alone.
    assert_eq!(rule(&plan, "CNTR-MK-001220")["status"], "pass");
    let notes = workload(&plan)["notes"].to_string();
    assert!(
        notes.contains("pods not read: no MKE client bundle"),
        "{notes}"
    );
    assert!(
        !env.sim
            .requests()
            .iter()
            .any(|request| request.path.starts_with("/api/v1/"))
    );
}

#[test]
fn the_bundle_comes_from_the_flag_the_environment_or_the_site_file() {
    let mut env = cluster(SimKube::demo());
    let path = bundle(&env);
    let named = |plan: &Value| {
        pod_items(rule(plan, "DKER-EE-001240"))
            .contains(&"pods.\"team-b/node-debugger\".host_pid".to_string())
    };
    std::fs::write(
        env.path("stigfix.toml"),
        format!(
            "client_bundle = \"ucp-bundle-admin.zip\"\n{}",
            stigfix::demo::DEMO_SITE
        ),
    )
    .unwrap();
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    assert!(named(&json(&out.stdout)), "site file, relative to it");
    std::fs::write(env.path("stigfix.toml"), stigfix::demo::DEMO_SITE).unwrap();
    env.set_env("STIGFIX_CLIENT_BUNDLE", &path);
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    assert!(named(&json(&out.stdout)), "environment");
    // The unpacked folder works the same.
    let folder = env.path("bundle");
    unpack(&path, &folder);
    env.set_env("STIGFIX_CLIENT_BUNDLE", &folder);
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    assert!(named(&json(&out.stdout)), "folder");
}

/// Unpack a bundle with the real `unzip` when the machine has it, else with Python's zipfile.
fn unpack(zip: &Path, folder: &Path) {
    std::fs::create_dir_all(folder).unwrap();
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
        ])
        .arg(zip)
        .arg(folder)
        .status()
        .expect("python3 runs");
    assert!(status.success());
}

#[test]
fn a_bad_bundle_fails_the_plan_in_one_line_naming_the_file() {
    let env = cluster(SimKube::demo());
    let garbage = env.path("bundle.zip");
    std::fs::write(&garbage, "this is not a zip").unwrap();
    let folder = env.path("half");
    unpack(&bundle(&env), &folder);
    std::fs::remove_file(folder.join("key.pem")).unwrap();
    for (path, wanted) in [
        (garbage, "not a zip archive"),
        (folder, "no key.pem in it"),
        (
            env.path("missing.zip"),
            "cannot read it: no such file or directory",
        ),
    ] {
        let out = env.run(&["plan", "--client-bundle", path.to_str().unwrap()]);
        out.assert_code(1);
        let line = out.error_line();
        assert!(
            line.contains(&format!("client bundle {}: {wanted}", path.display())),
            "{line}"
        );
        assert!(
            out.stderr.contains("POST /api/clientbundle"),
            "{}",
            out.stderr
        );
        assert_eq!(env.sim.write_count(), 0);
    }
}

#[test]
fn a_certificate_the_server_refuses_or_a_server_the_bundle_does_not_trust_is_unknown() {
    let env = cluster(SimKube::demo());
    let other = cluster(SimKube::demo());
    let (ours, theirs) = (env.path("ours"), env.path("theirs"));
    unpack(&bundle(&env), &ours);
    unpack(&bundle(&other), &theirs);
    // Our server and CA, another cluster's certificate and key.
    let refused = env.path("refused");
    let untrusted = env.path("untrusted");
    for (folder, from_theirs) in [
        (&refused, ["cert.pem", "key.pem"]),
        (&untrusted, ["ca.pem", "ca.pem"]),
    ] {
        std::fs::create_dir_all(folder).unwrap();
        for name in ["ca.pem", "cert.pem", "key.pem", "kube.yml"] {
            let source = if from_theirs.contains(&name) {
                &theirs
            } else {
                &ours
            };
            std::fs::copy(source.join(name), folder.join(name)).unwrap();
        }
    }
    for (folder, wanted) in [
        (
            refused,
            "the server refused the certificate of the client bundle",
        ),
        (untrusted, "not signed by the ca.pem of the client bundle"),
    ] {
        let plan = plan_with(&env, &folder);
        let check = &pod_checks(rule(&plan, "DKER-EE-001960"))[0];
        assert_eq!(check["outcome"], "unknown", "{check:#}");
        let reason = check["reason"].as_str().unwrap();
        assert!(reason.contains(wanted), "{reason}");
        assert!(reason.contains(&folder.display().to_string()), "{reason}");
    }
}

#[test]
fn the_bundle_key_is_never_in_any_output() {
    let env = cluster(SimKube::demo());
    let path = bundle(&env);
    let folder = env.path("unpacked");
    unpack(&path, &folder);
    let key = std::fs::read_to_string(folder.join("key.pem")).unwrap();
    // Every base64 line of the key.
    let secrets: Vec<&str> = key
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() > 16)
        .collect();
    assert!(!secrets.is_empty());
    let bundle = path.to_str().unwrap();
    let checklists = env.path("checklists");
    let mut outputs = Vec::new();
    for args in [
        vec!["plan", "--client-bundle", bundle],
        vec!["plan", "--format", "json", "--client-bundle", bundle],
        vec!["plan", "--format", "markdown", "--client-bundle", bundle],
        vec![
            "check",
            "--format",
            "ckl",
            "--out",
            checklists.to_str().unwrap(),
            "--client-bundle",
            bundle,
        ],
        vec!["apply", "--yes", "--client-bundle", bundle],
    ] {
        outputs.push(env.run(&args).all());
    }
    // And every file the runs wrote: checklists, snapshots, logs.
    for file in walk(env.dir.path()) {
        if file.starts_with(&folder) || file == path {
            continue;
        }
        outputs.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
    }
    for output in &outputs {
        assert!(!output.contains("PRIVATE KEY"), "{output}");
        for line in &secrets {
            assert!(!output.contains(line), "a line of key.pem is shown");
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// What a person reads of the pods: the plan text of the demo cluster's pod rules.
#[test]
fn golden_plan_text_with_pods() {
    let env = cluster(SimKube::demo());
    let bundle = bundle(&env);
    let out = env.run(&[
        "plan",
        "--color",
        "never",
        "--client-bundle",
        bundle.to_str().unwrap(),
        "--rule",
        "DKER-EE-001960",
        "--rule",
        "DKER-EE-003200",
        "--rule",
        "DKER-EE-002070",
        "--rule",
        "CNTR-MK-000150",
        "--rule",
        "CNTR-MK-000650",
    ]);
    out.assert_code(0);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_omit_expression(true);
    settings.set_description(
        "stigfix plan --color never --client-bundle … --rule … (SimCluster::demo, SimKube::demo)",
    );
    settings.add_filter(r"127\.0\.0\.1:\d+", "[SERVER]");
    settings.bind(|| {
        insta::assert_snapshot!(
            "workload_kube_plan_text",
            format!(
                "exit: {}\n--- stdout\n{}--- stderr\n{}",
                out.code, out.stdout, out.stderr
            )
        )
    });
}
