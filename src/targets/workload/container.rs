//! One container as the rules see it: `GET /containers/{id}/json` turned into the values of its
//! document paths (`containers."<node>/<name>".<field>`), with the quirks of the STIG check
//! texts handled here (reference/next-phase.md §1.1):
//!
//! - IPC: the value is `HostConfig.IpcMode` as it is; the rule wants it not `host` (the check
//!   text's `shareable` is a private namespace other containers may join, not the host's).
//! - seccomp: `seccomp=unconfined` and the deprecated `seccomp:unconfined` both count (the
//!   check text's `seccomp:=unconfined` is neither).
//! - no-new-privileges: the container's own `SecurityOpt`, else its node's daemon-wide default
//!   (`GET /info` `SecurityOptions` has `name=no-new-privileges`), which the container record
//!   does not show; when that default cannot be read the value is unknown, never a finding.
//! - ports: `HostConfig.PortBindings` (what was asked, kept while a container is stopped) and,
//!   for a running one, `NetworkSettings.Ports` (what the daemon bound, e.g. for `-P`).
//! - health: absent when the image has no healthcheck (`State.Health` is x-nullable).

use std::collections::BTreeMap;

use serde_json::Value;

/// A value of a container's document: set, known to be absent (with why), or unknown (why).
#[derive(Clone, Debug, PartialEq)]
pub enum Slot {
    Set(toml::Value),
    /// The path exists for this container but has no value (e.g. no healthcheck): why.
    Absent(String),
    /// The value cannot be determined: why.
    Unknown(String),
}

/// What a container's fields depend on besides its own record: its node's daemon defaults.
#[derive(Clone, Debug, Default)]
pub struct NodeDefaults {
    /// `Some(true)` when the node's `/info` lists `name=no-new-privileges`; `None` when its
    /// `/info` could not be read on its own (UCP answers one cluster-wide `/info`).
    pub no_new_privileges: Option<bool>,
    /// Why the defaults are not known, for the reason of an unknown value.
    pub why_unknown: Option<String>,
    /// The node's address, which classic Swarm (UCP's Docker API) writes in place of a
    /// `0.0.0.0` host IP.
    pub address: Option<String>,
}

/// The fields every container has, with the API field each is read from.
pub const FIELDS: &[(&str, &str)] = &[
    ("privileged", "HostConfig.Privileged"),
    ("pid_mode", "HostConfig.PidMode"),
    ("ipc_mode", "HostConfig.IpcMode"),
    ("network_mode", "HostConfig.NetworkMode"),
    ("uts_mode", "HostConfig.UTSMode"),
    ("userns_mode", "HostConfig.UsernsMode"),
    ("readonly_rootfs", "HostConfig.ReadonlyRootfs"),
    ("seccomp", "HostConfig.SecurityOpt"),
    ("no_new_privileges", "HostConfig.SecurityOpt"),
    ("docker_socket_mounts", "Mounts[].Source"),
    ("rw_host_mounts", "Mounts[] (bind, RW)"),
    ("mounts", "Mounts[].Propagation"),
    ("memory", "HostConfig.Memory"),
    ("cpu_shares", "HostConfig.CpuShares"),
    ("pids_limit", "HostConfig.PidsLimit"),
    ("user", "Config.User"),
    ("restart_policy", "HostConfig.RestartPolicy.Name"),
    (
        "restart_retries",
        "HostConfig.RestartPolicy.MaximumRetryCount",
    ),
    ("cap_add", "HostConfig.CapAdd"),
    ("devices", "HostConfig.Devices[].PathOnHost"),
    ("cgroup_parent", "HostConfig.CgroupParent"),
    ("ulimits", "HostConfig.Ulimits"),
    (
        "port_bindings",
        "HostConfig.PortBindings, NetworkSettings.Ports",
    ),
    ("healthcheck", "Config.Healthcheck"),
    ("health", "State.Health.Status"),
];

/// The namespace fields: all a Kubernetes pod's sandbox (`k8s_POD_…`) is checked for, since the
/// pod's `hostPID`/`hostIPC`/`hostNetwork` are set on it.
const NAMESPACE_FIELDS: &[(&str, &str)] = &[
    ("pid_mode", "PidMode"),
    ("ipc_mode", "IpcMode"),
    ("network_mode", "NetworkMode"),
    ("uts_mode", "UTSMode"),
    ("userns_mode", "UsernsMode"),
];

/// The API field a document field is read from.
pub fn api_field(field: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, api)| *api)
}

/// Host IPs that bind every interface (DKER-EE-002160).
const WILDCARD_IPS: [&str; 3] = ["", "0.0.0.0", "::"];

/// The document of one container: field → slot; nested fields (`cap_add.NET_ADMIN`,
/// `port_bindings."0.0.0.0:80->80/tcp".host_port`) as dotted segment lists.
pub type Fields = BTreeMap<Vec<String>, Slot>;

/// The parts of an inspect the fields read (the rest — environment, labels, networks, health
/// logs — is skipped while parsing: a plan parses one inspect per container).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wanted {
    #[serde(default)]
    host_config: Value,
    #[serde(default)]
    config: WantedConfig,
    #[serde(default)]
    state: WantedState,
    #[serde(default)]
    mounts: Value,
    #[serde(default)]
    network_settings: WantedNetwork,
    #[serde(default)]
    node: Value,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct WantedConfig {
    #[serde(default)]
    user: Value,
    #[serde(default)]
    healthcheck: Value,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct WantedState {
    #[serde(default)]
    running: Value,
    #[serde(default)]
    health: Option<WantedHealth>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WantedHealth {
    #[serde(default)]
    status: Value,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct WantedNetwork {
    #[serde(default)]
    ports: Value,
}

/// An inspect's body, reduced to what [`fields`] reads.
pub fn parse_inspect(body: &str) -> Result<Value, serde_json::Error> {
    let wanted: Wanted = serde_json::from_str(body)?;
    let mut state = serde_json::json!({ "Running": wanted.state.running });
    if let Some(health) = wanted.state.health {
        state["Health"] = serde_json::json!({ "Status": health.status });
    }
    Ok(serde_json::json!({
        "HostConfig": wanted.host_config,
        "Config": { "User": wanted.config.user, "Healthcheck": wanted.config.healthcheck },
        "State": state,
        "Mounts": wanted.mounts,
        "NetworkSettings": { "Ports": wanted.network_settings.ports },
        "Node": wanted.node,
    }))
}

/// `sha256:…` of a container's fields (for the target's fingerprint), fed value by value.
pub fn digest(fields: &Fields) -> String {
    use sha2::{Digest, Sha256};
    fn feed(hasher: &mut Sha256, value: &toml::Value) {
        match value {
            toml::Value::String(text) => {
                hasher.update(b"s");
                hasher.update(text.as_bytes());
            }
            toml::Value::Integer(number) => {
                hasher.update(b"i");
                hasher.update(number.to_le_bytes());
            }
            toml::Value::Boolean(flag) => hasher.update(if *flag { b"t" } else { b"f" }),
            toml::Value::Array(items) => {
                hasher.update(b"[");
                for item in items {
                    feed(hasher, item);
                }
                hasher.update(b"]");
            }
            other => hasher.update(other.to_string().as_bytes()),
        }
        hasher.update([0]);
    }
    let mut hasher = Sha256::new();
    for (path, slot) in fields {
        for segment in path {
            hasher.update(segment.as_bytes());
            hasher.update([1]);
        }
        match slot {
            Slot::Set(value) => feed(&mut hasher, value),
            Slot::Absent(why) => hasher.update(format!("absent {why}\0").as_bytes()),
            Slot::Unknown(why) => hasher.update(format!("unknown {why}\0").as_bytes()),
        }
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn put(fields: &mut Fields, path: &[&str], value: impl Into<toml::Value>) {
    fields.insert(
        path.iter().map(|s| s.to_string()).collect(),
        Slot::Set(value.into()),
    );
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn integer(value: &Value, pointer: &str) -> i64 {
    value.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The fields of a container from its inspect record. `sandbox`: a Kubernetes pod sandbox,
/// checked for its namespaces only.
pub fn fields(inspect: &Value, defaults: &NodeDefaults, sandbox: bool) -> Fields {
    let mut fields = Fields::new();
    let hc = |name: &str| format!("/HostConfig/{name}");
    for (field, key) in NAMESPACE_FIELDS {
        put(&mut fields, &[field], text(inspect, &hc(key)));
    }
    if sandbox {
        return fields;
    }
    let flag = |name: &str| {
        inspect
            .pointer(&hc(name))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    put(&mut fields, &["privileged"], flag("Privileged"));
    put(&mut fields, &["readonly_rootfs"], flag("ReadonlyRootfs"));
    security_options(inspect, defaults, &mut fields);
    mounts(inspect, &mut fields);
    put(&mut fields, &["memory"], integer(inspect, &hc("Memory")));
    put(
        &mut fields,
        &["cpu_shares"],
        integer(inspect, &hc("CpuShares")),
    );
    // `null` and -1 are "unlimited" like 0 (the API's x-nullable PidsLimit).
    put(
        &mut fields,
        &["pids_limit"],
        integer(inspect, &hc("PidsLimit")),
    );
    let user = text(inspect, "/Config/User");
    put(
        &mut fields,
        &["user"],
        user.split(':').next().unwrap_or_default(),
    );
    let policy = text(inspect, &hc("RestartPolicy/Name"));
    put(&mut fields, &["restart_policy"], policy);
    if policy == "on-failure" {
        put(
            &mut fields,
            &["restart_retries"],
            integer(inspect, &hc("RestartPolicy/MaximumRetryCount")),
        );
    }
    for capability in list(inspect, &hc("CapAdd")) {
        let capability = capability
            .trim()
            .to_ascii_uppercase()
            .trim_start_matches("CAP_")
            .to_string();
        put(&mut fields, &["cap_add", &capability], capability.as_str());
    }
    for device in inspect
        .pointer(&hc("Devices"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = text(device, "/PathOnHost");
        put(&mut fields, &["devices", path], path);
    }
    let parent = text(inspect, &hc("CgroupParent"));
    if !parent.is_empty() {
        put(&mut fields, &["cgroup_parent"], parent);
    }
    for ulimit in inspect
        .pointer(&hc("Ulimits"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = text(ulimit, "/Name");
        let shown = format!(
            "{name}={}:{}",
            integer(ulimit, "/Soft"),
            integer(ulimit, "/Hard")
        );
        put(&mut fields, &["ulimits", name], shown);
    }
    ports(inspect, defaults, &mut fields);
    health(inspect, &mut fields);
    fields
}

fn list(inspect: &Value, pointer: &str) -> Vec<String> {
    inspect
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// `seccomp` and `no_new_privileges` from `HostConfig.SecurityOpt` (`key=value`, or the
/// deprecated `key:value`).
fn security_options(inspect: &Value, defaults: &NodeDefaults, fields: &mut Fields) {
    let mut seccomp = "default".to_string();
    let mut no_new_privileges = None;
    for option in list(inspect, "/HostConfig/SecurityOpt") {
        let (key, value) = match option.find(['=', ':']) {
            Some(at) => (&option[..at], Some(&option[at + 1..])),
            None => (option.as_str(), None),
        };
        match key {
            "seccomp" => {
                let value = value.unwrap_or_default();
                seccomp = if value.trim_start().starts_with('{') {
                    "custom profile".to_string()
                } else {
                    value.to_string()
                };
            }
            "no-new-privileges" => {
                no_new_privileges = Some(value.is_none_or(|value| value == "true"));
            }
            _ => {}
        }
    }
    put(fields, &["seccomp"], seccomp);
    let slot = match (no_new_privileges, defaults.no_new_privileges) {
        (Some(own), _) => Slot::Set(own.into()),
        (None, Some(default)) => Slot::Set(default.into()),
        (None, None) => Slot::Unknown(format!(
            "no `no-new-privileges` in HostConfig.SecurityOpt, and the node's daemon-wide default is not known ({})",
            defaults
                .why_unknown
                .as_deref()
                .unwrap_or("its GET /info was not read")
        )),
    };
    fields.insert(vec!["no_new_privileges".into()], slot);
}

/// The Docker socket mounted (DKER-EE-002130), sensitive paths mounted read-write
/// (DKER-EE-001190) and mount propagation (DKER-EE-002050).
fn mounts(inspect: &Value, fields: &mut Fields) {
    let mut sockets = Vec::new();
    let mounts = inspect
        .pointer("/Mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for mount in &mounts {
        let source = text(mount, "/Source");
        let destination = text(mount, "/Destination");
        let lower = source.to_ascii_lowercase();
        if lower.contains("docker.sock") || lower.contains("docker_engine") {
            sockets.push(toml::Value::String(source.to_string()));
        }
        if text(mount, "/Type") == "bind"
            && mount.pointer("/RW").and_then(Value::as_bool) == Some(true)
        {
            put(fields, &["rw_host_mounts", destination], source);
        }
        put(
            fields,
            &["mounts", destination, "propagation"],
            text(mount, "/Propagation"),
        );
    }
    put(
        fields,
        &["docker_socket_mounts"],
        toml::Value::Array(sockets),
    );
}

/// One entry of `port_bindings`: `"<host ip>:<host port>-><container port>"`, as `docker ps`
/// shows it (`0.0.0.0` for an empty host IP).
fn binding_key(host_ip: &str, host_port: &str, container_port: &str) -> String {
    let ip = if host_ip.is_empty() {
        "0.0.0.0"
    } else {
        host_ip
    };
    let port = if host_port.is_empty() {
        "(assigned at start)"
    } else {
        host_port
    };
    format!("{ip}:{port}->{container_port}")
}

fn ports(inspect: &Value, defaults: &NodeDefaults, fields: &mut Fields) {
    // (container port "80/tcp", host ip, host port, configured: from PortBindings)
    let mut bindings: Vec<(String, String, String, bool)> = Vec::new();
    let table = |pointer: &str| {
        inspect
            .pointer(pointer)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    for (configured, pointer) in [
        (true, "/HostConfig/PortBindings"),
        (false, "/NetworkSettings/Ports"),
    ] {
        for (container_port, hosts) in table(pointer) {
            for host in hosts.as_array().into_iter().flatten() {
                let ip = text(host, "/HostIp").to_string();
                let port = text(host, "/HostPort").to_string();
                let known = bindings.iter().any(|(c, i, p, _)| {
                    *c == container_port && *p == port && same_ip(i, &ip, defaults)
                });
                if !configured && (known || port.is_empty()) {
                    continue;
                }
                bindings.push((container_port.clone(), ip, port, configured));
            }
        }
    }
    for (container_port, ip, port, configured) in bindings {
        let key = binding_key(&ip, &port, &container_port);
        let protocol = container_port.split('/').nth(1).unwrap_or("tcp");
        let published = if port.is_empty() {
            format!("(assigned at start):{container_port}")
        } else {
            format!("{port}/{protocol}")
        };
        put(fields, &["port_bindings", &key, "published"], published);
        if let Ok(number) = port.parse::<i64>() {
            put(fields, &["port_bindings", &key, "host_port"], number);
        }
        // Classic Swarm writes the node's address over a `0.0.0.0` it reports; what was asked
        // (`PortBindings`) keeps the wildcard, but a port the daemon chose (`-P`) is only known
        // as reported.
        let rewritten = !configured && defaults.address.as_deref() == Some(ip.as_str());
        let slot = if rewritten {
            Slot::Unknown(format!(
                "UCP reports the host IP of a published port as the node's address ({ip}) when it is 0.0.0.0; the container was started with -P, so which it is cannot be told"
            ))
        } else {
            Slot::Set(ip.into())
        };
        fields.insert(vec!["port_bindings".into(), key, "host_ip".into()], slot);
    }
    if inspect
        .pointer("/HostConfig/PublishAllPorts")
        .and_then(Value::as_bool)
        == Some(true)
    {
        put(fields, &["port_bindings", "-P", "published"], "-P");
    }
}

/// Whether a reported host IP is the configured one: the same, both wildcards (`""`, `0.0.0.0`,
/// `::`), or a configured wildcard that classic Swarm reports as the node's address.
fn same_ip(configured: &str, reported: &str, defaults: &NodeDefaults) -> bool {
    let wildcard = WILDCARD_IPS.contains(&configured);
    configured == reported
        || (wildcard && WILDCARD_IPS.contains(&reported))
        || (wildcard && defaults.address.as_deref() == Some(reported))
}

/// `healthcheck` for every container; `health` for a running one (the check reads
/// `docker ps --quiet`, running containers only).
fn health(inspect: &Value, fields: &mut Fields) {
    let test = list(inspect, "/Config/Healthcheck/Test");
    let configured = test.first().is_some_and(|first| first != "NONE");
    put(fields, &["healthcheck"], configured);
    if inspect.pointer("/State/Running").and_then(Value::as_bool) != Some(true) {
        return;
    }
    let slot = match inspect.pointer("/State/Health/Status").and_then(Value::as_str) {
        Some(status) => Slot::Set(status.into()),
        None => Slot::Absent(
            "no healthcheck: the image defines none and the container was not started with --health-cmd".into(),
        ),
    };
    fields.insert(vec!["health".into()], slot);
}

#[cfg(test)]
#[path = "container_tests.rs"]
mod tests;
