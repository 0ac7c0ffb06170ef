//! Tests of `pod`: pods as MKE's Kubernetes API lists them, turned into fields.

use super::*;
use serde_json::json;

fn get<'a>(pod: &'a Pod, path: &str) -> &'a Slot {
    let key: Vec<String> = path.split('|').map(str::to_string).collect();
    pod.fields
        .get(&key)
        .unwrap_or_else(|| panic!("{path} in {:#?}", pod.fields))
}

fn has(pod: &Pod, path: &str) -> bool {
    let key: Vec<String> = path.split('|').map(str::to_string).collect();
    pod.fields.contains_key(&key)
}

fn set(value: impl Into<toml::Value>) -> Slot {
    Slot::Set(value.into())
}

#[test]
fn quantities() {
    assert_eq!(parse_quantity("256Mi"), Some(268_435_456.0));
    assert_eq!(parse_quantity("1Gi"), Some(1_073_741_824.0));
    assert_eq!(parse_quantity("500m"), Some(0.5));
    assert_eq!(parse_quantity("2"), Some(2.0));
    assert_eq!(parse_quantity("1e3"), Some(1000.0));
    assert_eq!(parse_quantity("128M"), Some(128e6));
    assert_eq!(parse_quantity("lots"), None);
    assert_eq!(parse_quantity("1Zi"), None);
}

#[test]
fn a_violating_pod_names_each_container_and_field() {
    let pod = parse(&json!({
        "metadata": {"namespace": "team-b", "name": "debug",
                     "annotations": {"container.seccomp.security.alpha.kubernetes.io/side": "runtime/default"}},
        "spec": {
            "hostPID": true, "hostIPC": true, "hostUsers": true, "nodeName": "worker-2",
            "volumes": [
                {"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}},
                {"name": "etc", "hostPath": {"path": "/etc"}},
                {"name": "fuse", "hostPath": {"path": "/dev/fuse"}},
                {"name": "scratch", "emptyDir": {}}
            ],
            "initContainers": [{"name": "setup", "securityContext": {"privileged": true, "runAsUser": 0}}],
            "containers": [{
                "name": "shell",
                "securityContext": {"capabilities": {"add": ["cap_sys_admin", "NET_ADMIN"]}, "seccompProfile": {"type": "Unconfined"}},
                "ports": [{"containerPort": 80, "hostPort": 80}, {"containerPort": 53, "hostPort": 5353, "hostIP": "10.0.0.5", "protocol": "UDP"}, {"containerPort": 8080}],
                "resources": {"limits": {"memory": "a lot"}},
                "volumeMounts": [
                    {"name": "sock", "mountPath": "/var/run/docker.sock", "readOnly": true},
                    {"name": "etc", "mountPath": "/host/etc", "mountPropagation": "Bidirectional"},
                    {"name": "fuse", "mountPath": "/dev/fuse"},
                    {"name": "scratch", "mountPath": "/tmp"}
                ]
            }, {"name": "side", "livenessProbe": {"exec": {"command": ["true"]}}}],
            "ephemeralContainers": [{"name": "debugger", "securityContext": {"allowPrivilegeEscalation": false}}]
        }
    }))
    .unwrap();
    assert_eq!(pod.key(), "team-b/debug");
    assert_eq!(pod.node.as_deref(), Some("worker-2"));
    assert_eq!(pod.system(), None);
    assert_eq!(get(&pod, "host_pid"), &set(true));
    assert_eq!(get(&pod, "host_ipc"), &set(true));
    assert_eq!(get(&pod, "host_network"), &set(false));
    assert_eq!(get(&pod, "host_users"), &set(true));
    assert_eq!(get(&pod, "containers|setup|privileged"), &set(true));
    assert_eq!(get(&pod, "containers|setup|run_as_non_root"), &set(false));
    assert_eq!(
        get(&pod, "containers|setup|allow_privilege_escalation"),
        &set(true)
    );
    assert_eq!(get(&pod, "containers|shell|privileged"), &set(false));
    // SYS_ADMIN always allows escalation.
    assert_eq!(
        get(&pod, "containers|shell|allow_privilege_escalation"),
        &set(true)
    );
    assert_eq!(
        get(&pod, "containers|shell|cap_add|SYS_ADMIN"),
        &set("SYS_ADMIN")
    );
    assert_eq!(
        get(&pod, "containers|shell|cap_add|NET_ADMIN"),
        &set("NET_ADMIN")
    );
    assert_eq!(get(&pod, "containers|shell|seccomp"), &set("Unconfined"));
    assert_eq!(get(&pod, "containers|side|seccomp"), &set("RuntimeDefault"));
    assert!(
        matches!(get(&pod, "containers|setup|seccomp"), Slot::Unknown(why) if why.contains("SeccompDefault"))
    );
    assert!(matches!(
        get(&pod, "containers|shell|run_as_non_root"),
        Slot::Unknown(_)
    ));
    assert!(
        matches!(get(&pod, "containers|shell|memory_limit"), Slot::Unknown(why) if why.contains("`a lot`"))
    );
    assert_eq!(get(&pod, "containers|side|memory_limit"), &set(0));
    assert_eq!(get(&pod, "containers|shell|healthcheck"), &set(false));
    assert_eq!(get(&pod, "containers|side|healthcheck"), &set(true));
    assert_eq!(
        get(&pod, "containers|shell|docker_socket_mounts"),
        &set(vec![toml::Value::from("/var/run/docker.sock")])
    );
    assert_eq!(
        get(&pod, "containers|shell|rw_host_mounts|/host/etc"),
        &set("/etc")
    );
    assert_eq!(
        get(&pod, "containers|shell|devices|/dev/fuse"),
        &set("/dev/fuse")
    );
    assert_eq!(
        get(&pod, "containers|shell|mounts|/host/etc|propagation"),
        &set("Bidirectional")
    );
    assert_eq!(
        get(&pod, "containers|shell|mounts|/tmp|propagation"),
        &set("None")
    );
    // The socket is mounted read-only: not a read-write host mount, still the socket.
    assert!(!has(
        &pod,
        "containers|shell|rw_host_mounts|/var/run/docker.sock"
    ));
    assert_eq!(
        get(
            &pod,
            "containers|shell|host_ports|0.0.0.0:80->80/tcp|host_port"
        ),
        &set(80)
    );
    assert_eq!(
        get(
            &pod,
            "containers|shell|host_ports|0.0.0.0:80->80/tcp|host_ip"
        ),
        &set("")
    );
    assert_eq!(
        get(
            &pod,
            "containers|shell|host_ports|10.0.0.5:5353->53/udp|published"
        ),
        &set("5353/udp")
    );
    assert_eq!(
        pod.fields
            .keys()
            .filter(|path| path.contains(&"host_ports".to_string())
                && path.last().unwrap() == "published")
            .count(),
        2
    );
    // Ephemeral containers have no resources, ports or probes.
    assert_eq!(
        get(&pod, "containers|debugger|allow_privilege_escalation"),
        &set(false)
    );
    assert!(!has(&pod, "containers|debugger|memory_limit"));
    assert_eq!(pod.lists["debugger"], "ephemeralContainers");
}

#[test]
fn a_clean_pod_and_the_defaults() {
    let pod = parse(&json!({
        "metadata": {"namespace": "team-a", "name": "web"},
        "spec": {
            "hostNetwork": false,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app",
                "ports": [{"containerPort": 8080}],
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"port": 8080}},
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}}]
        }
    }))
    .unwrap();
    // hostUsers unset: not a field (the check texts flag an explicit `host` only).
    assert!(!has(&pod, "host_users"));
    assert_eq!(get(&pod, "host_network"), &set(false));
    assert_eq!(get(&pod, "containers|app|run_as_non_root"), &set(true));
    assert_eq!(get(&pod, "containers|app|seccomp"), &set("RuntimeDefault"));
    assert_eq!(
        get(&pod, "containers|app|allow_privilege_escalation"),
        &set(false)
    );
    assert_eq!(
        get(&pod, "containers|app|read_only_root_filesystem"),
        &set(true)
    );
    assert_eq!(get(&pod, "containers|app|memory_limit"), &set(268_435_456));
    assert_eq!(get(&pod, "containers|app|cpu_limit"), &set(500));
    assert_eq!(get(&pod, "containers|app|healthcheck"), &set(true));
    assert_eq!(
        get(&pod, "containers|app|docker_socket_mounts"),
        &set(Vec::<toml::Value>::new())
    );
    // A containerPort without hostPort is not on the host…
    assert!(
        !pod.fields
            .keys()
            .any(|path| path.contains(&"host_ports".to_string()))
    );
    // …unless the pod is on the host's network.
    let host = parse(&json!({
        "metadata": {"namespace": "team-a", "name": "cache"},
        "spec": {"hostNetwork": true, "containers": [{"name": "redis", "ports": [{"containerPort": 6379}]}]}
    }))
    .unwrap();
    assert_eq!(get(&host, "host_uts"), &set(true));
    assert_eq!(
        get(
            &host,
            "containers|redis|host_ports|0.0.0.0:6379->6379/tcp|host_port"
        ),
        &set(6379)
    );
    // System pods.
    let system = |namespace: &str, labels: Value| {
        parse(&json!({"metadata": {"namespace": namespace, "name": "x", "labels": labels}, "spec": {}}))
            .unwrap()
            .system()
    };
    assert!(
        system("kube-system", json!({}))
            .unwrap()
            .contains("namespace kube-system")
    );
    assert!(
        system("team-a", json!({"com.stigfix.scanner": "true"}))
            .unwrap()
            .contains("scanner")
    );
    assert_eq!(system("team-a", json!({"app": "web"})), None);
    assert!(parse(&json!({"metadata": {"name": "no-namespace"}})).is_none());
}
