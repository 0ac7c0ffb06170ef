use serde_json::{Value, json};

use super::cluster::{Listed, Nodes, Service};
use super::live::{Inspected, Reads, WorkloadLive};
use crate::assess::{self, Observed, Outcome, Status};
use crate::keypath::KeyPath;
use crate::playbook::{RuleFilter, resolve, shipped};
use crate::site::SiteFile;
use crate::targets::{Document, LiveState};

const BASE: &str = "https://ucp.example.mil";

fn path(text: &str) -> KeyPath {
    KeyPath::parse(text).unwrap()
}

fn entry(id: &str, name: &str, labels: Value) -> Value {
    json!({"Id": id, "Names": [name], "Image": "registry.example.mil/app:1", "Labels": labels, "State": "running"})
}

/// A cluster as UCP lists it: a UCP component, a privileged task of `shop_web`, a clean task
/// of `shop_web`, a plain stopped container, a pod sandbox on the host network, one container
/// that went away and one whose inspect failed.
fn reads() -> Reads {
    let listed = [
        entry(
            "u1",
            "/manager-1/ucp-proxy",
            json!({"com.docker.ucp.version": "3.7.3"}),
        ),
        entry(
            "a1",
            "/worker-1/shop_web.1.abc",
            json!({"com.docker.swarm.service.name": "shop_web", "com.docker.stack.namespace": "shop"}),
        ),
        entry(
            "a2",
            "/worker-2/shop_web.2.def",
            json!({"com.docker.swarm.service.name": "shop_web", "com.docker.stack.namespace": "shop"}),
        ),
        entry("b1", "/worker-2/legacy", json!({})),
        entry(
            "p1",
            "/worker-1/k8s_POD_cache_team-a_1_0",
            json!({"io.kubernetes.docker.type": "podsandbox"}),
        ),
        entry("g1", "/worker-1/gone", json!({})),
        entry("e1", "/worker-1/broken", json!({})),
    ];
    let clean = json!({
        "State": {"Running": true, "Health": {"Status": "healthy"}},
        "Config": {"User": "1000", "Healthcheck": {"Test": ["CMD", "true"]}},
        "HostConfig": {"Privileged": false, "ReadonlyRootfs": true, "SecurityOpt": ["no-new-privileges"],
                       "Memory": 1, "CpuShares": 512, "PidsLimit": 10, "NetworkMode": "default"}
    });
    let mut privileged = clean.clone();
    privileged["HostConfig"]["Privileged"] = json!(true);
    let legacy = json!({
        "State": {"Running": false},
        "HostConfig": {"IpcMode": "host", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "80"}]}}
    });
    let sandbox = json!({"State": {"Running": true}, "HostConfig": {"NetworkMode": "host", "Privileged": true}});
    let mut reads = Reads {
        listed: listed.iter().filter_map(Listed::parse).collect(),
        ..Reads::default()
    };
    let mut nodes = Nodes::default();
    nodes.add_info(&json!({"ServerVersion": "ucp/3.7.3", "SystemStatus": [["Nodes", "3"]]}));
    reads.nodes = nodes;
    let answers = [
        ("a1", Ok(Some(privileged))),
        ("a2", Ok(Some(clean))),
        ("b1", Ok(Some(legacy))),
        ("p1", Ok(Some(sandbox))),
        ("g1", Ok(None)),
        (
            "e1",
            Err("GET https://ucp.example.mil/containers/e1/json answered 500: boom".to_string()),
        ),
    ];
    for (id, answer) in answers {
        let listed = reads.listed.iter().find(|listed| listed.id == id).unwrap();
        let inspected = Inspected::of(listed, &reads.nodes, answer);
        reads.inspected.insert(id.into(), inspected);
    }
    reads.services = [json!({"ID": "s1", "Spec": {"Name": "shop_web", "Labels": {"com.docker.stack.namespace": "shop"}},
                             "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 443, "PublishMode": "ingress"}]}}),
                      json!({"ID": "s2", "Spec": {"Name": "ucp-agent"}})]
    .iter()
    .filter_map(Service::parse)
    .collect();
    reads
}

#[test]
fn system_containers_are_left_out_and_said_so() {
    let live = WorkloadLive::build(BASE, reads());
    let keys: Vec<&str> = live.order.iter().map(String::as_str).collect();
    // Grouped: the stack's service first, then plain containers.
    assert_eq!(
        keys,
        [
            "worker-1/shop_web.1.abc",
            "worker-2/shop_web.2.def",
            "worker-1/broken",
            "worker-1/k8s_POD_cache_team-a_1_0",
            "worker-2/legacy"
        ]
    );
    let notes = live.notes();
    assert!(notes[0].starts_with("5 user container(s) checked on 3 node(s) (2 of them tasks of 1 Swarm service(s) in 1 stack(s)); 2 left out"), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|note| note.contains("label com.docker.ucp.version): manager-1/ucp-proxy")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|note| note.contains("removed between the list and its inspect: worker-1/gone")),
        "{notes:?}"
    );
    assert!(!live.services.contains_key("ucp-agent"));
}

#[test]
fn the_document_names_each_container_its_node_and_field() {
    let live = WorkloadLive::build(BASE, reads());
    let privileged = live.expand(&path("containers.*.privileged"));
    // The sandbox is checked for its namespaces only; the unreadable container stands for itself.
    assert_eq!(
        privileged
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "containers.\"worker-1/shop_web.1.abc\".privileged",
            "containers.\"worker-2/shop_web.2.def\".privileged",
            "containers.\"worker-1/broken\".privileged",
            "containers.\"worker-2/legacy\".privileged"
        ]
    );
    assert_eq!(live.expand(&path("containers.*.network_mode")).len(), 5);
    assert_eq!(
        live.lookup(&privileged[0]),
        Some(toml::Value::Boolean(true))
    );
    assert_eq!(
        live.source(&privileged[0]).unwrap(),
        "GET https://ucp.example.mil/containers/a1/json HostConfig.Privileged on node worker-1 (service shop_web, stack shop)"
    );
    assert!(
        live.source(&path("containers.*.privileged"))
            .unwrap()
            .contains("for each user container of GET https://ucp.example.mil/containers/json?all=1 (5 on 3 node(s))")
    );
    assert!(
        live.unknown(&privileged[2])
            .unwrap()
            .contains("answered 500")
    );
    let bindings = live.expand(&path("containers.*.port_bindings.*.host_port"));
    assert_eq!(bindings.len(), 2, "{bindings:?}");
    assert_eq!(
        bindings[1].to_string(),
        "containers.\"worker-2/legacy\".port_bindings.\"0.0.0.0:80->80/tcp\".host_port"
    );
    assert_eq!(
        live.expand(&path("services.*.ports.*.published_port")),
        [path("services.shop_web.ports.\"443/tcp\".published_port")]
    );
    assert!(live.writable(&privileged[0]).unwrap_err().contains("never"));
    // No-new-privileges from the container, else unknown (UCP's /info is the cluster's).
    assert_eq!(
        live.lookup(&path(
            "containers.\"worker-2/shop_web.2.def\".no_new_privileges"
        )),
        Some(toml::Value::Boolean(true))
    );
    assert!(
        live.unknown(&path("containers.\"worker-2/legacy\".no_new_privileges"))
            .unwrap()
            .contains("whole cluster")
    );
}

fn assessed(reads: Reads) -> (Vec<assess::RuleResult>, Vec<crate::targets::Edit>) {
    let live = WorkloadLive::build(BASE, reads);
    let rules = resolve(
        shipped().unwrap(),
        vec![],
        &SiteFile::default(),
        &RuleFilter::default(),
    )
    .unwrap();
    assess::assess(
        rules.for_target(super::KIND),
        &live,
        time::macros::date!(2026 - 11 - 22),
        None,
    )
}

#[test]
fn the_shipped_rules_judge_the_workloads() {
    let mut readable = reads();
    readable.listed.retain(|listed| listed.id != "e1");
    let (results, edits) = assessed(readable);
    assert!(edits.is_empty(), "a workload is never changed");
    let status = |id: &str| {
        results
            .iter()
            .find(|result| result.stig_id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let privileged = status("DKER-EE-001960");
    assert_eq!(privileged.status, Status::Open);
    match &privileged.checks[0].observed {
        Observed::Items { failing, .. } => {
            assert_eq!(failing.len(), 1);
            assert_eq!(
                failing[0].path.to_string(),
                "containers.\"worker-1/shop_web.1.abc\".privileged"
            );
        }
        other => panic!("{other:?}"),
    }
    // The host network of the pod, seen on its sandbox.
    assert_eq!(status("DKER-EE-002000").status, Status::Open);
    assert_eq!(status("DKER-EE-001250").status, Status::Open);
    assert_eq!(status("DKER-EE-002150").status, Status::Open);
    // Ports without an allow-list: a person reviews them, each listed.
    let ports = status("DKER-EE-001990");
    assert_eq!(ports.status, Status::Manual);
    assert_eq!(ports.checks[0].outcome, Outcome::VariableUnset);
    // Nothing to review: no container adds a capability.
    assert_eq!(status("DKER-EE-001950").status, Status::Pass);

    // One container could not be read: what it might hold is unknown, never a pass.
    let (results, _) = assessed(reads());
    let capabilities = results
        .iter()
        .find(|result| result.stig_id == "DKER-EE-001950")
        .unwrap();
    assert_eq!(capabilities.status, Status::Unknown);
    assert!(
        matches!(&capabilities.checks[0].outcome, Outcome::Unknown(why) if why.contains("answered 500"))
    );
}
