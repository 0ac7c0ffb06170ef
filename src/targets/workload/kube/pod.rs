//! One Kubernetes pod as the rules see it (reference/next-phase.md §1.2, the "Kubernetes Pod
//! field" column): `pods."<namespace>/<name>".<field>` for the pod's own settings and
//! `pods."<namespace>/<name>".containers.<container>.<field>` for each of its containers,
//! init containers and ephemeral containers (their names are unique within a pod).
//!
//! What a value means where Kubernetes' default is not what the field says:
//! - `allow_privilege_escalation`: `true` unless the container sets it `false` (and always
//!   `true` for a privileged container or one that adds `SYS_ADMIN`, as Kubernetes has it).
//! - `run_as_non_root`: the container's `runAsNonRoot`/`runAsUser`, else the pod's; neither set
//!   means the image's `USER` decides, which the pod does not show: unknown, never a pass.
//! - `seccomp`: the container's `seccompProfile.type`, else the pod's, else the legacy
//!   annotations; none means the kubelet's default (Unconfined unless it runs with
//!   SeccompDefault), which the API does not show: unknown, never a guess either way.
//! - `host_users`: only when the pod sets `hostUsers` (left unset it is the host's user
//!   namespace, as a Docker container without `--userns` is; the check texts flag an explicit
//!   `host` only).
//! - `host_uts`: a pod on the host's network shares the host's UTS namespace too.
//! - `host_ports`: a declared `hostPort`, or on the host's network every `containerPort`.
//! - `memory_limit` (bytes) and `cpu_limit` (millicores): 0 when there is no limit.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::targets::workload::container::{Fields, Slot, digest};

/// The fields of a pod, with the API field each is read from.
pub const POD_FIELDS: &[(&str, &str)] = &[
    ("host_network", "spec.hostNetwork"),
    ("host_pid", "spec.hostPID"),
    ("host_ipc", "spec.hostIPC"),
    (
        "host_uts",
        "spec.hostNetwork (a pod on the host's network shares its UTS namespace)",
    ),
    ("host_users", "spec.hostUsers"),
];

/// The fields of each container, with the API field each is read from (relative to the
/// container's entry in `spec.containers`, `spec.initContainers` or `spec.ephemeralContainers`).
pub const CONTAINER_FIELDS: &[(&str, &str)] = &[
    ("privileged", "securityContext.privileged"),
    (
        "allow_privilege_escalation",
        "securityContext.allowPrivilegeEscalation",
    ),
    (
        "read_only_root_filesystem",
        "securityContext.readOnlyRootFilesystem",
    ),
    (
        "run_as_non_root",
        "securityContext.runAsNonRoot/runAsUser (the container's, else the pod's)",
    ),
    (
        "seccomp",
        "securityContext.seccompProfile.type (the container's, else the pod's)",
    ),
    ("cap_add", "securityContext.capabilities.add"),
    ("memory_limit", "resources.limits.memory"),
    ("cpu_limit", "resources.limits.cpu"),
    ("docker_socket_mounts", "volumeMounts[] of hostPath volumes"),
    (
        "rw_host_mounts",
        "volumeMounts[] of hostPath volumes (not readOnly)",
    ),
    ("devices", "volumeMounts[] of hostPath volumes under /dev"),
    ("mounts", "volumeMounts[].mountPropagation"),
    ("host_ports", "ports[].hostPort/hostIP/protocol"),
    ("healthcheck", "livenessProbe/readinessProbe/startupProbe"),
];

/// The API field of a pod field (`host_pid`) or container field (`privileged`).
pub fn api_field(container: bool, field: &str) -> Option<&'static str> {
    let table = if container {
        CONTAINER_FIELDS
    } else {
        POD_FIELDS
    };
    table
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, api)| *api)
}

/// One pod, read.
#[derive(Clone, Debug)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub labels: Map<String, Value>,
    pub fields: Fields,
    /// Container name → the list it is in (`containers`, `initContainers`,
    /// `ephemeralContainers`).
    pub lists: BTreeMap<String, &'static str>,
    pub digest: String,
}

impl Pod {
    /// `namespace/name`, its key in the document.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Why the pod is not the user's (never assessed; listed in the notes), or `None`.
    pub fn system(&self) -> Option<String> {
        if ["kube-system", "kube-public", "kube-node-lease"].contains(&self.namespace.as_str()) {
            return Some(format!(
                "Kubernetes system pod (namespace {})",
                self.namespace
            ));
        }
        if self.labels.contains_key("com.docker.ucp.version") {
            return Some("UCP/MKE component (label com.docker.ucp.version)".into());
        }
        if self.labels.contains_key("com.stigfix.scanner") {
            return Some("stigfix's scanner (label com.stigfix.scanner)".into());
        }
        None
    }
}

fn put(fields: &mut Fields, path: &[&str], value: impl Into<toml::Value>) {
    fields.insert(
        path.iter().map(|s| s.to_string()).collect(),
        Slot::Set(value.into()),
    );
}

fn flag(value: &Value, pointer: &str) -> Option<bool> {
    value.pointer(pointer).and_then(Value::as_bool)
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn entries<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A pod of `GET /api/v1/pods`' `items`; `None` without a namespace and name.
pub fn parse(item: &Value) -> Option<Pod> {
    let namespace = text(item, "/metadata/namespace")?.to_string();
    let name = text(item, "/metadata/name")?.to_string();
    let spec = item.get("spec").cloned().unwrap_or(Value::Null);
    let mut fields = Fields::new();
    let host_network = flag(&spec, "/hostNetwork").unwrap_or(false);
    put(&mut fields, &["host_network"], host_network);
    put(&mut fields, &["host_uts"], host_network);
    put(
        &mut fields,
        &["host_pid"],
        flag(&spec, "/hostPID").unwrap_or(false),
    );
    put(
        &mut fields,
        &["host_ipc"],
        flag(&spec, "/hostIPC").unwrap_or(false),
    );
    if let Some(users) = flag(&spec, "/hostUsers") {
        put(&mut fields, &["host_users"], users);
    }
    let annotations = item
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut lists = BTreeMap::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in entries(&spec, &format!("/{list}")) {
            let Some(container_name) = text(container, "/name") else {
                continue;
            };
            lists.insert(container_name.to_string(), list);
            let mut own = Fields::new();
            container_fields(&spec, &annotations, container, list, &mut own);
            for (path, slot) in own {
                let mut full = vec!["containers".to_string(), container_name.to_string()];
                full.extend(path);
                fields.insert(full, slot);
            }
        }
    }
    Some(Pod {
        node: text(&spec, "/nodeName").map(str::to_string),
        labels: item
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        digest: digest(&fields),
        namespace,
        name,
        fields,
        lists,
    })
}

/// The fields of one container (paths relative to `containers.<name>`).
fn container_fields(
    spec: &Value,
    annotations: &Map<String, Value>,
    container: &Value,
    list: &str,
    fields: &mut Fields,
) {
    let own = container.get("securityContext").unwrap_or(&Value::Null);
    let pod = spec.get("securityContext").unwrap_or(&Value::Null);
    let privileged = flag(own, "/privileged").unwrap_or(false);
    put(fields, &["privileged"], privileged);
    let mut capabilities: Vec<String> = entries(own, "/capabilities/add")
        .filter_map(Value::as_str)
        .map(|capability| {
            capability
                .trim()
                .to_ascii_uppercase()
                .trim_start_matches("CAP_")
                .to_string()
        })
        .collect();
    capabilities.dedup();
    for capability in &capabilities {
        put(fields, &["cap_add", capability], capability.as_str());
    }
    let escalation = privileged
        || capabilities
            .iter()
            .any(|capability| capability == "SYS_ADMIN")
        || flag(own, "/allowPrivilegeEscalation").unwrap_or(true);
    put(fields, &["allow_privilege_escalation"], escalation);
    put(
        fields,
        &["read_only_root_filesystem"],
        flag(own, "/readOnlyRootFilesystem").unwrap_or(false),
    );
    let either = |pointer: &str| {
        own.pointer(pointer)
            .or_else(|| pod.pointer(pointer))
            .cloned()
    };
    let user = either("/runAsUser").and_then(|user| user.as_i64());
    let non_root = either("/runAsNonRoot").and_then(|flag| flag.as_bool());
    let slot = match (user, non_root) {
        (Some(0), _) => Slot::Set(false.into()),
        (_, Some(true)) | (Some(_), _) => Slot::Set(true.into()),
        _ => Slot::Unknown(
            "neither runAsNonRoot nor runAsUser is set (for the container or the pod): the image's USER decides, which the pod does not show; set runAsNonRoot: true".into(),
        ),
    };
    fields.insert(vec!["run_as_non_root".into()], slot);
    let name = text(container, "/name").unwrap_or_default();
    fields.insert(vec!["seccomp".into()], seccomp(own, pod, annotations, name));
    if list != "ephemeralContainers" {
        let limit = |resource: &str, scale: f64, unit: &str| match text(
            container,
            &format!("/resources/limits/{resource}"),
        ) {
            None => Slot::Set(0.into()),
            Some(quantity) => match parse_quantity(quantity) {
                Some(value) => Slot::Set(((value * scale).ceil() as i64).into()),
                None => Slot::Unknown(format!(
                    "resources.limits.{resource} `{quantity}` is not a Kubernetes quantity ({unit})"
                )),
            },
        };
        fields.insert(vec!["memory_limit".into()], limit("memory", 1.0, "bytes"));
        fields.insert(vec!["cpu_limit".into()], limit("cpu", 1000.0, "cores"));
    }
    if list == "containers" {
        let probed = ["livenessProbe", "readinessProbe", "startupProbe"]
            .iter()
            .any(|probe| container.get(*probe).is_some_and(|value| !value.is_null()));
        put(fields, &["healthcheck"], probed);
    }
    mounts(spec, container, fields);
    ports(spec, container, fields);
}

/// The seccomp profile in force: the container's, the pod's, or a legacy annotation.
fn seccomp(own: &Value, pod: &Value, annotations: &Map<String, Value>, name: &str) -> Slot {
    if let Some(kind) =
        text(own, "/seccompProfile/type").or_else(|| text(pod, "/seccompProfile/type"))
    {
        return Slot::Set(kind.into());
    }
    let annotation = annotations
        .get(&format!(
            "container.seccomp.security.alpha.kubernetes.io/{name}"
        ))
        .or_else(|| annotations.get("seccomp.security.alpha.kubernetes.io/pod"))
        .and_then(Value::as_str);
    match annotation {
        Some("unconfined") => Slot::Set("Unconfined".into()),
        Some("runtime/default" | "docker/default") => Slot::Set("RuntimeDefault".into()),
        Some(other) if other.starts_with("localhost/") => Slot::Set("Localhost".into()),
        _ => Slot::Unknown(
            "no seccompProfile (container or pod): the kubelet's default applies (Unconfined unless it runs with SeccompDefault), which the API does not show; set seccompProfile.type: RuntimeDefault".into(),
        ),
    }
}

/// hostPath volumes as the container mounts them: the Docker socket, devices, sensitive paths
/// mounted read-write; and every mount's propagation.
fn mounts(spec: &Value, container: &Value, fields: &mut Fields) {
    let host_paths: BTreeMap<&str, &str> = entries(spec, "/volumes")
        .filter_map(|volume| Some((text(volume, "/name")?, text(volume, "/hostPath/path")?)))
        .collect();
    let mut sockets = Vec::new();
    for mount in entries(container, "/volumeMounts") {
        let (Some(volume), Some(at)) = (text(mount, "/name"), text(mount, "/mountPath")) else {
            continue;
        };
        put(
            fields,
            &["mounts", at, "propagation"],
            text(mount, "/mountPropagation").unwrap_or("None"),
        );
        let Some(host) = host_paths.get(volume) else {
            continue;
        };
        let host = match text(mount, "/subPath").filter(|sub| !sub.is_empty()) {
            Some(sub) => format!("{}/{sub}", host.trim_end_matches('/')),
            None => host.to_string(),
        };
        let lower = host.to_ascii_lowercase();
        if lower.contains("docker.sock") || lower.contains("docker_engine") {
            sockets.push(toml::Value::String(host.clone()));
        }
        if host == "/dev" || host.starts_with("/dev/") {
            put(fields, &["devices", &host], host.as_str());
        }
        if !flag(mount, "/readOnly").unwrap_or(false) {
            put(fields, &["rw_host_mounts", at], host.as_str());
        }
    }
    put(
        fields,
        &["docker_socket_mounts"],
        toml::Value::Array(sockets),
    );
}

/// Host ports: `"<host ip>:<host port>-><container port>/<protocol>"`, as the container side
/// names a port binding.
fn ports(spec: &Value, container: &Value, fields: &mut Fields) {
    let host_network = flag(spec, "/hostNetwork").unwrap_or(false);
    for port in entries(container, "/ports") {
        let container_port = port
            .get("containerPort")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let host_port = match port.get("hostPort").and_then(Value::as_i64) {
            Some(port) if port > 0 => port,
            _ if host_network => container_port,
            _ => continue,
        };
        let protocol = text(port, "/protocol")
            .unwrap_or("TCP")
            .to_ascii_lowercase();
        let ip = text(port, "/hostIP").unwrap_or_default();
        let shown = if ip.is_empty() { "0.0.0.0" } else { ip };
        let key = format!("{shown}:{host_port}->{container_port}/{protocol}");
        put(
            fields,
            &["host_ports", &key, "published"],
            format!("{host_port}/{protocol}"),
        );
        put(fields, &["host_ports", &key, "host_port"], host_port);
        put(fields, &["host_ports", &key, "host_ip"], ip);
    }
}

/// A Kubernetes quantity (`256Mi`, `1.5Gi`, `500m`, `2`, `1e3`) as a number.
pub fn parse_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent => {
            let power: i32 = exponent
                .strip_prefix('e')
                .or_else(|| exponent.strip_prefix('E'))?
                .parse()
                .ok()?;
            10f64.powi(power)
        }
    };
    (number >= 0.0).then_some(number * scale)
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
