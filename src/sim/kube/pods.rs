//! The simulated cluster's pods, as `GET /api/v1/pods` lists them (field names from
//! reference/next-phase.md §1.3): the demo's — a clean pod, pods as many are found, and
//! Kubernetes' own in `kube-system` — and generated ones for benchmarks.

use serde_json::{Value, json};

/// A pod's JSON: `spec` as given, with the metadata and status the API adds.
pub fn pod(namespace: &str, name: &str, node: &str, labels: Value, mut spec: Value) -> Value {
    spec["nodeName"] = json!(node);
    spec.as_object_mut()
        .map(|spec| spec.entry("restartPolicy").or_insert(json!("Always")));
    let uid = crate::values::fingerprint(format!("{namespace}/{name}").as_bytes());
    let uid = uid.trim_start_matches("sha256:");
    json!({
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": format!("{}-{}-{}-{}-{}", &uid[0..8], &uid[8..12], &uid[12..16], &uid[16..20], &uid[20..32]),
            "resourceVersion": "48213",
            "creationTimestamp": "2026-11-01T08:00:00Z",
            "labels": labels,
        },
        "spec": spec,
        "status": {"phase": "Running", "hostIP": "10.0.0.12", "podIP": "192.168.12.7"},
    })
}

/// A container that complies with every pod rule.
fn clean_container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
        "securityContext": {
            "privileged": false, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]}
        }
    })
}

/// The pod-level settings of a clean pod.
fn clean_spec(containers: Vec<Value>) -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers,
    })
}

/// The demo's pods:
/// - `team-a/web-5f6d8b7c9-x7k2p`: clean (an init container too); never a finding.
/// - `team-a/cache-7d9f4`: on the host's network (the pod whose sandbox the Engine side sees).
/// - `team-b/node-debugger`: host PID and IPC, a privileged root shell adding SYS_ADMIN with the
///   Docker socket, `/etc` read-write (bidirectional), `/dev/fuse`, host port 80, no limits,
///   seccomp Unconfined.
/// - `team-c/report-28391`: a job whose init container is privileged and whose ephemeral
///   debugging container adds NET_RAW.
/// - `kube-system/calico-node-x2k9f`, `kube-system/coredns-6f4b8d9c5-q9w8e`: Kubernetes' own,
///   left out.
pub fn demo() -> Vec<Value> {
    let mut web = clean_spec(vec![clean_container(
        "app",
        "registry.example.mil/team-a/web:3.2",
    )]);
    web["initContainers"] = json!([{
        "name": "migrate", "image": "registry.example.mil/team-a/web:3.2",
        "resources": {"limits": {"cpu": "200m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}
    }]);
    let mut cache = clean_spec(vec![{
        let mut redis = clean_container("redis", "registry.example.mil/team-a/redis:7");
        redis["ports"] = json!([{"containerPort": 6379, "protocol": "TCP"}]);
        redis
    }]);
    cache["hostNetwork"] = json!(true);
    cache["dnsPolicy"] = json!("ClusterFirstWithHostNet");
    let debugger = json!({
        "hostPID": true,
        "hostIPC": true,
        "volumes": [
            {"name": "docker-sock", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}},
            {"name": "host-etc", "hostPath": {"path": "/etc"}},
            {"name": "fuse", "hostPath": {"path": "/dev/fuse", "type": "CharDevice"}}
        ],
        "containers": [{
            "name": "shell",
            "image": "registry.example.mil/ops/toolbox:1.4",
            "command": ["sleep", "infinity"],
            "ports": [{"containerPort": 80, "hostPort": 80, "protocol": "TCP"}],
            "securityContext": {
                "privileged": true, "runAsUser": 0,
                "capabilities": {"add": ["SYS_ADMIN"]},
                "seccompProfile": {"type": "Unconfined"}
            },
            "volumeMounts": [
                {"name": "docker-sock", "mountPath": "/var/run/docker.sock"},
                {"name": "host-etc", "mountPath": "/host/etc", "mountPropagation": "Bidirectional"},
                {"name": "fuse", "mountPath": "/dev/fuse"}
            ]
        }]
    });
    let mut report = clean_spec(vec![clean_container(
        "report",
        "registry.example.mil/team-c/report:2.0",
    )]);
    report["restartPolicy"] = json!("OnFailure");
    report["initContainers"] = json!([{
        "name": "fetch", "image": "registry.example.mil/team-c/fetch:1.1",
        "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}},
        "securityContext": {"privileged": true, "readOnlyRootFilesystem": true}
    }]);
    report["ephemeralContainers"] = json!([{
        "name": "debugger-7xk2", "image": "registry.example.mil/ops/toolbox:1.4",
        "targetContainerName": "report",
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"add": ["NET_RAW"]}}
    }]);
    vec![
        pod(
            "kube-system",
            "calico-node-x2k9f",
            "worker-1",
            json!({"k8s-app": "calico-node"}),
            json!({"hostNetwork": true, "containers": [{"name": "calico-node", "image": "mirantis/ucp-calico-node:3.26", "securityContext": {"privileged": true}}]}),
        ),
        pod(
            "kube-system",
            "coredns-6f4b8d9c5-q9w8e",
            "manager-1",
            json!({"k8s-app": "kube-dns"}),
            json!({"containers": [{"name": "coredns", "image": "mirantis/ucp-coredns:1.11", "ports": [{"containerPort": 53, "protocol": "UDP"}]}]}),
        ),
        pod(
            "team-a",
            "cache-7d9f4",
            "worker-1",
            json!({"app": "cache"}),
            cache,
        ),
        pod(
            "team-a",
            "web-5f6d8b7c9-x7k2p",
            "worker-2",
            json!({"app": "web", "pod-template-hash": "5f6d8b7c9"}),
            web,
        ),
        pod(
            "team-b",
            "node-debugger",
            "worker-2",
            json!({"run": "node-debugger"}),
            debugger,
        ),
        pod(
            "team-c",
            "report-28391",
            "worker-1",
            json!({"job-name": "report-28391"}),
            report,
        ),
    ]
}

/// `count` user pods in ten namespaces over three nodes, every fifth privileged, plus two of
/// `kube-system`, for benchmarks.
pub fn generated(count: usize) -> Vec<Value> {
    let nodes = ["manager-1", "worker-1", "worker-2"];
    let mut pods: Vec<Value> = demo()
        .into_iter()
        .filter(|pod| pod["metadata"]["namespace"] == "kube-system")
        .collect();
    for index in 0..count {
        let mut container = clean_container("app", "registry.example.mil/app:1");
        if index % 5 == 0 {
            container["securityContext"]["privileged"] = json!(true);
        }
        pods.push(pod(
            &format!("team-{}", index % 10),
            &format!("app-{index:06}"),
            nodes[index % nodes.len()],
            json!({"app": "app"}),
            clean_spec(vec![container]),
        ));
    }
    pods
}
