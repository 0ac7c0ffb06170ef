//! The workload target (issue #10) against the simulated cluster: UCP's own containers, a clean
//! Swarm service, and workloads as many are found (`SimCluster::demo`). Read-only, every rule's
//! status and evidence, allow-lists from the site file, the switch that leaves it out.

use serde_json::Value;
use stigfix::sim::{SimCluster, SimEngine};

use crate::support::{EnvOptions, TestEnv, json};

fn cluster() -> TestEnv {
    TestEnv::start(EnvOptions {
        engine: SimEngine::Cluster(SimCluster::demo()),
        ..EnvOptions::default()
    })
}

/// The compliant containers' keys: never named in a finding.
fn clean_keys() -> Vec<String> {
    SimCluster::demo()
        .containers
        .iter()
        .filter(|container| {
            ["shop_web.", "billing_api.", "k8s_redis_"]
                .iter()
                .any(|prefix| container.name.starts_with(prefix))
        })
        .map(|container| format!("{}/{}", container.node, container.name))
        .collect()
}

fn rule<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|rule| rule["stig_id"] == id)
        .unwrap_or_else(|| panic!("no rule {id}"))
}

/// The item paths a rule's checks list.
fn items(rule: &Value) -> Vec<String> {
    rule["checks"]
        .as_array()
        .expect("checks")
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

fn plan(env: &TestEnv) -> Value {
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    json(&out.stdout)
}

#[test]
fn every_rule_is_judged_with_the_container_node_and_field_as_evidence() {
    let env = cluster();
    let plan = plan(&env);
    let workload = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|target| target["kind"] == "workload")
        .expect("a workload target");
    assert_eq!(workload["changes"].as_array().unwrap().len(), 0);
    assert_eq!(workload["product"]["name"], "MKE");

    let expect = |id: &str, status: &str, named: &[&str]| {
        let rule = rule(&plan, id);
        assert_eq!(rule["status"], status, "{id}: {rule:#}");
        assert_eq!(
            rule["target"].as_str().unwrap().split(':').next(),
            Some("workload")
        );
        let items = items(rule);
        for name in named {
            assert!(
                items.iter().any(|item| item.contains(name)),
                "{id} does not name {name}: {items:?}"
            );
        }
        items
    };
    expect("DKER-EE-001960", "open", &["monitor.", ".privileged"]);
    expect("CNTR-MK-001220", "open", &["monitor."]);
    // The pod's host network is seen on its sandbox.
    expect("DKER-EE-002000", "open", &["k8s_POD_cache", "monitor."]);
    expect("DKER-EE-001240", "open", &["monitor."]);
    // IPC host (the check text says `shareable`), UTS, user namespace of a stopped container.
    expect(
        "DKER-EE-001250",
        "open",
        &["worker-2/legacy-app\".ipc_mode"],
    );
    expect("DKER-EE-002060", "open", &["legacy-app"]);
    expect("DKER-EE-002120", "open", &["legacy-app"]);
    // `seccomp:unconfined`, the deprecated spelling.
    expect("DKER-EE-002070", "open", &["legacy-app\".seccomp"]);
    expect(
        "DKER-EE-002130",
        "open",
        &["monitor.", "docker_socket_mounts"],
    );
    expect("CNTR-MK-000550", "open", &["monitor."]);
    // A stopped container's port binding, from HostConfig.PortBindings.
    expect(
        "DKER-EE-002150",
        "open",
        &[
            "legacy-app\".port_bindings.\"0.0.0.0:80->80/tcp\".host_port",
            "services.billing_api.ports.\"80/tcp\".published_port",
        ],
    );
    expect("DKER-EE-002160", "open", &["legacy-app"]);
    expect(
        "DKER-EE-001190",
        "open",
        &["legacy-app\".rw_host_mounts.\"/host/etc\""],
    );
    expect("DKER-EE-002050", "open", &["legacy-app"]);
    expect("DKER-EE-002010", "open", &["shop_db.", "legacy-app"]);
    expect("DKER-EE-002030", "open", &["shop_db."]);
    expect("DKER-EE-002770", "open", &["shop_db.", "healthcheck"]);
    expect("DKER-EE-003200", "open", &["shop_db."]);
    expect("DKER-EE-004030", "open", &["legacy-app\".restart_policy"]);
    // Allow-lists not set: every item listed for a person.
    expect(
        "DKER-EE-001950",
        "manual",
        &["shop_db.", "cap_add.NET_ADMIN"],
    );
    expect("DKER-EE-002040", "manual", &["devices.\"/dev/fuse\""]);
    expect("DKER-EE-004040", "manual", &["ulimits.nofile"]);
    expect("DKER-EE-002100", "manual", &["legacy-app\".cgroup_parent"]);
    expect(
        "DKER-EE-001990",
        "manual",
        &["legacy-app", "services.shop_web.ports"],
    );
    expect("CNTR-MK-000640", "manual", &["services.billing_api"]);
    // No container shows its own no-new-privileges and UCP does not tell the nodes' default:
    // unknown, never a finding on a guess and never a pass.
    let nnp = rule(&plan, "DKER-EE-002110");
    assert_eq!(nnp["status"], "unknown");
    assert!(
        nnp["checks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("the node's daemon-wide default is not known"),
        "{nnp:#}"
    );

    // The source names the endpoint and the API field.
    let source = rule(&plan, "DKER-EE-001960")["checks"][0]["source"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        source.contains("/containers/{id}/json HostConfig.Privileged"),
        "{source}"
    );

    // The clean containers and the system containers are never named in a finding.
    let text = plan["rules"].to_string();
    for key in clean_keys() {
        assert!(!text.contains(&key), "{key} is named in a finding");
    }
    for system in ["ucp-proxy", "ucp-agent", "dtr-registry", "calico"] {
        assert!(!text.contains(system), "{system} is named in a finding");
    }
    // …and the system containers are listed as left out.
    let notes = workload["notes"].to_string();
    assert!(notes.contains("manager-1/ucp-controller"), "{notes}");
    assert!(
        notes.contains("worker-2/dtr-registry-0a1b2c3d4e5f"),
        "{notes}"
    );
}

#[test]
fn plan_and_check_are_read_only_one_list_and_one_inspect_per_user_container() {
    let env = cluster();
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert_eq!(env.sim.write_count(), 0, "{:?}", env.sim.requests());
    let journal = env.sim.requests();
    let engine: Vec<_> = journal
        .iter()
        .filter(|request| {
            request.path.starts_with("/containers/")
                || ["/services", "/tasks", "/nodes", "/info"].contains(&request.path.as_str())
        })
        .collect();
    assert!(engine.iter().all(|request| request.method == "GET"));
    let user = SimCluster::demo()
        .containers
        .iter()
        .filter(|container| {
            !container.name.starts_with("ucp-")
                && !container.name.starts_with("dtr-")
                && !container.name.contains("kube-system")
        })
        .count();
    let inspects = engine
        .iter()
        .filter(|request| request.path.ends_with("/json") && request.path != "/containers/json")
        .count();
    assert_eq!(inspects, user, "only the user's containers are inspected");
    assert_eq!(env.count("GET", "/containers/json"), 1);

    // apply changes the config and never a workload.
    env.run(&["apply", "--yes"]).assert_code(0);
    let writes: Vec<_> = env
        .sim
        .requests()
        .into_iter()
        .filter(|request| request.method != "GET" && request.path != "/auth/login")
        .collect();
    assert!(
        writes
            .iter()
            .all(|request| request.path == "/api/ucp/config-toml"),
        "{writes:?}"
    );
}

#[test]
fn allow_lists_from_the_site_file_judge_each_item() {
    let env = cluster();
    std::fs::write(
        env.path("stigfix.toml"),
        stigfix::demo::DEMO_SITE.replacen(
            "[variables]\n",
            "[variables]\nallowed_published_ports = [\"8443/tcp\", \"80/tcp\"]\nallowed_capabilities = []\n",
            1,
        ),
    )
    .unwrap();
    let plan = plan(&env);
    // Every port is approved, the service's and the containers'.
    assert_eq!(rule(&plan, "DKER-EE-001990")["status"], "pass");
    assert_eq!(rule(&plan, "CNTR-MK-001360")["status"], "pass");
    // No capability may be added: NET_ADMIN is a finding.
    let capabilities = rule(&plan, "DKER-EE-001950");
    assert_eq!(capabilities["status"], "open");
    assert_eq!(items(capabilities).len(), 1, "{capabilities:#}");

    std::fs::write(
        env.path("stigfix.toml"),
        stigfix::demo::DEMO_SITE.replacen(
            "[variables]\n",
            "[variables]\nallowed_published_ports = [\"8443/tcp\"]\n",
            1,
        ),
    )
    .unwrap();
    let plan = self::plan(&env);
    let ports = rule(&plan, "DKER-EE-001990");
    assert_eq!(ports["status"], "open");
    let named = items(ports);
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(
        named.iter().all(|item| !item.contains("shop_web")),
        "{named:?}"
    );
}

#[test]
fn no_workload_leaves_the_containers_out() {
    let env = cluster();
    let out = env.run(&["plan", "--no-workload", "--format", "json"]);
    out.assert_code(0);
    let plan = json(&out.stdout);
    let privileged = rule(&plan, "DKER-EE-001960");
    assert_eq!(privileged["status"], "not_assessed");
    assert_eq!(
        privileged["not_assessed"],
        "target workload is not configured (--ucp-url, without --no-workload)"
    );
    assert!(
        !env.sim
            .requests()
            .iter()
            .any(|request| request.path == "/containers/json")
    );

    // The same from the site file.
    std::fs::write(
        env.path("stigfix.toml"),
        format!("workload = false\n{}", stigfix::demo::DEMO_SITE),
    )
    .unwrap();
    let plan = self::plan(&env);
    assert_eq!(rule(&plan, "DKER-EE-002000")["status"], "not_assessed");
    std::fs::write(env.path("stigfix.toml"), "workload = \"no\"\n").unwrap();
    let out = env.run(&["plan"]);
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("`workload` must be true or false"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_waiver_covers_a_workload_rule() {
    let env = cluster();
    std::fs::write(
        env.path("stigfix.toml"),
        format!(
            "{}\n[[waivers]]\nrule = \"DKER-EE-002000\"\njustification = \"The node agent needs the host network (SSP 4.2).\"\nticket = \"CHG-7\"\n",
            stigfix::demo::DEMO_SITE
        ),
    )
    .unwrap();
    let plan = plan(&env);
    assert_eq!(rule(&plan, "DKER-EE-002000")["status"], "waived");
}

#[test]
fn the_plan_text_groups_and_names_what_a_person_fixes() {
    let env = cluster();
    let out = env.run(&[
        "plan",
        "--rule",
        "DKER-EE-001960",
        "--rule",
        "DKER-EE-001950",
    ]);
    out.assert_code(0);
    let text = &out.stdout;
    assert!(
        text.contains("! DKER-EE-001960 (CAT II, V-235802) on workload:"),
        "{text}"
    );
    assert!(
        text.contains("containers.*.privileged: 2 of 8 do not comply, requires = false: containers.\"worker-1/monitor."),
        "{text}"
    );
    // The STIG's `docker rm` is left to a person.
    assert!(text.contains("stigfix never does"), "{text}");
    // The allow-list's items are listed for review.
    assert!(
        text.contains("DKER-EE-001950 containers.*.cap_add.* is 1 item(s); not assessed: set variable `allowed_capabilities` in the site file: containers.\"worker-1/shop_db.1."),
        "{text}"
    );
}

#[test]
fn an_engine_api_that_does_not_answer_fails_the_plan_in_one_line() {
    let env = TestEnv::start(EnvOptions {
        engine: SimEngine::Proxy {
            socket: std::path::PathBuf::from("/nonexistent/stigfix-test/docker.sock"),
        },
        ..EnvOptions::default()
    });
    let out = env.run(&["plan"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(
        error.contains(&format!(
            "GET {}/containers/json?all=1 answered 502",
            env.url()
        )),
        "{error}"
    );
    assert!(error.contains("did not answer"), "{error}");
    assert_eq!(env.sim.write_count(), 0);
}

/// What a person reads of the workloads: the text plan of the demo cluster.
#[test]
fn golden_plan_text_of_the_demo_cluster() {
    let env = cluster();
    let out = env.run(&["plan", "--color", "never"]);
    out.assert_code(0);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.set_omit_expression(true);
    settings.set_description("stigfix plan --color never (SimCluster::demo)");
    settings.add_filter(r"127\.0\.0\.1:\d+", "[SERVER]");
    settings.bind(|| {
        insta::assert_snapshot!(
            "workload_plan_text",
            format!(
                "exit: {}\n--- stdout\n{}--- stderr\n{}",
                out.code, out.stdout, out.stderr
            )
        )
    });
}
