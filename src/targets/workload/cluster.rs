//! The cluster around the containers: which containers are the user's (system containers are
//! excluded the way the check texts intend), their nodes, Swarm services and stacks, and what
//! each node's `/info` says about its daemon-wide defaults.
//!
//! System containers (never assessed, each listed in the plan's notes):
//! - the label `com.docker.ucp.version`, which UCP/MKE puts on its own components. The MKE
//!   checks *select* on that label (`docker ps --filter label=com.docker.ucp.version`), which
//!   keeps exactly the system containers; the DKER-EE checks drop them (`grep -iv
//!   "ucp\|kube\|dtr"`). stigfix follows the evident intent and checks the user's containers.
//!   Other `com.docker.ucp.*` labels (`com.docker.ucp.access.label`, the RBAC collection) are on
//!   user containers too and exclude nothing.
//! - names `ucp-*` and `dtr-*`, and images whose name is `ucp…` or `dtr…` (UCP/MKE and DTR/MSR
//!   components);
//! - Kubernetes pods of the `kube-system` namespace (label `io.kubernetes.pod.namespace`);
//! - stigfix's own scanner (label `com.stigfix.scanner`).
//!
//! A Kubernetes pod's sandbox (`k8s_POD_…`, label `io.kubernetes.docker.type=podsandbox`) holds
//! the pod's namespaces (`hostNetwork`, `hostPID`, `hostIPC`): it is checked for those only.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::container::NodeDefaults;

/// How a listed container is treated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    User,
    /// A Kubernetes pod sandbox: checked for its namespaces only.
    Sandbox,
    /// Not the user's: why (`UCP/MKE component (label com.docker.ucp.version)`).
    System(String),
}

/// A container of `GET /containers/json?all=1`.
#[derive(Clone, Debug)]
pub struct Listed {
    pub id: String,
    /// The node from the name UCP gives (`/<node>/<name>`), when it has one.
    pub node: Option<String>,
    pub name: String,
    pub image: String,
    pub labels: Map<String, Value>,
    pub running: bool,
}

impl Listed {
    pub fn parse(entry: &Value) -> Option<Listed> {
        let id = entry.get("Id")?.as_str()?.to_string();
        let full = entry
            .get("Names")
            .and_then(Value::as_array)
            .and_then(|names| names.first())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim_start_matches('/');
        let (node, name) = match full.split_once('/') {
            Some((node, name)) => (Some(node.to_string()), name.to_string()),
            None => (None, full.to_string()),
        };
        Some(Listed {
            name: if name.is_empty() { short(&id) } else { name },
            node,
            image: entry
                .get("Image")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            labels: entry
                .get("Labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            running: entry.get("State").and_then(Value::as_str) == Some("running"),
            id,
        })
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).and_then(Value::as_str)
    }

    pub fn class(&self) -> Class {
        if self.labels.contains_key("com.docker.ucp.version") {
            return Class::System("UCP/MKE component (label com.docker.ucp.version)".into());
        }
        if self.labels.contains_key("com.stigfix.scanner") {
            return Class::System("stigfix's scanner (label com.stigfix.scanner)".into());
        }
        for (prefix, what) in [("ucp-", "UCP/MKE"), ("dtr-", "DTR/MSR")] {
            if self.name.starts_with(prefix) {
                return Class::System(format!("{what} component (name {prefix}*)"));
            }
        }
        let image = image_name(&self.image);
        for (prefix, what) in [("ucp", "UCP/MKE"), ("dtr", "DTR/MSR")] {
            if image.starts_with(prefix) {
                return Class::System(format!("{what} component (image {})", self.image));
            }
        }
        if self.label("io.kubernetes.pod.namespace") == Some("kube-system") {
            return Class::System("Kubernetes system pod (namespace kube-system)".into());
        }
        if self.label("io.kubernetes.docker.type") == Some("podsandbox")
            || self.name.starts_with("k8s_POD_")
        {
            return Class::Sandbox;
        }
        Class::User
    }
}

/// `registry:5000/org/ucp-agent:3.7.3@sha256:…` → `ucp-agent`.
fn image_name(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split(':').next().unwrap_or(last)
}

/// The first 12 characters of an ID, as `docker ps` shows it.
pub fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// A Swarm service: its name, stack and published ports.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub stack: Option<String>,
    /// `(published port, protocol, publish mode)`.
    pub ports: Vec<(i64, String, String)>,
}

impl Service {
    pub fn parse(entry: &Value) -> Option<Service> {
        let ports = entry
            .pointer("/Endpoint/Ports")
            .or_else(|| entry.pointer("/Spec/EndpointSpec/Ports"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|port| {
                Some((
                    port.get("PublishedPort")?.as_i64()?,
                    port.get("Protocol")
                        .and_then(Value::as_str)
                        .unwrap_or("tcp")
                        .to_string(),
                    port.get("PublishMode")
                        .and_then(Value::as_str)
                        .unwrap_or("ingress")
                        .to_string(),
                ))
            })
            .collect();
        Some(Service {
            id: entry.get("ID")?.as_str()?.to_string(),
            name: entry.pointer("/Spec/Name")?.as_str()?.to_string(),
            stack: entry
                .pointer("/Spec/Labels/com.docker.stack.namespace")
                .and_then(Value::as_str)
                .map(str::to_string),
            ports,
        })
    }

    /// A UCP/MKE or DTR/MSR service (`ucp-agent`, `ucp-interlock-proxy`, …).
    pub fn is_system(&self) -> bool {
        self.name.starts_with("ucp-") || self.name.starts_with("dtr-")
    }
}

/// What the nodes tell: names by Swarm node ID, addresses, and daemon defaults.
#[derive(Clone, Debug, Default)]
pub struct Nodes {
    /// Swarm node ID → hostname.
    pub names: BTreeMap<String, String>,
    /// Hostname → address (`Status.Addr`).
    pub addresses: BTreeMap<String, String>,
    /// Hostname → the daemon's defaults, for the nodes whose `/info` was read on its own.
    pub defaults: BTreeMap<String, bool>,
    /// Why the other nodes' defaults are not known.
    pub why_unknown: Option<String>,
    /// The node a single Engine's `/info` names (its hostname), when `/info` was one Engine's.
    pub single: Option<String>,
}

impl Nodes {
    /// `GET /nodes` (Swarm mode; empty when Swarm is off).
    pub fn add_swarm_nodes(&mut self, nodes: &Value) {
        for node in nodes.as_array().into_iter().flatten() {
            let (Some(id), Some(name)) = (
                node.get("ID").and_then(Value::as_str),
                node.pointer("/Description/Hostname")
                    .and_then(Value::as_str),
            ) else {
                continue;
            };
            self.names.insert(id.to_string(), name.to_string());
            if let Some(address) = node.pointer("/Status/Addr").and_then(Value::as_str) {
                self.addresses.insert(name.to_string(), address.to_string());
            }
        }
    }

    /// `GET /info`: one Engine's (its own `SecurityOptions`) or, through UCP, the cluster's
    /// (classic Swarm's aggregate: `ServerVersion` `swarm/…` or `ucp/…`, no node's options).
    pub fn add_info(&mut self, info: &Value) {
        let version = info
            .get("ServerVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let aggregate = version.starts_with("swarm/")
            || version.starts_with("ucp/")
            || info
                .get("SystemStatus")
                .is_some_and(|status| !status.is_null());
        let name = info.get("Name").and_then(Value::as_str);
        match (aggregate, name) {
            (false, Some(name)) => {
                let options: Vec<&str> = info
                    .get("SecurityOptions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let listed = options.iter().any(|option| {
                    option
                        .split(',')
                        .any(|part| part == "name=no-new-privileges")
                });
                // Engines before 24.0 (API 1.43) never list it, set or not.
                let major = version
                    .split(['.', '+', '-'])
                    .next()
                    .and_then(|major| major.parse::<u32>().ok());
                self.single = Some(name.to_string());
                if listed || major.is_some_and(|major| major >= 24) {
                    self.defaults.insert(name.to_string(), listed);
                    self.why_unknown = Some(format!("GET /info answered for node {name} only"));
                } else {
                    self.why_unknown = Some(format!(
                        "Docker Engine {version} on node {name} does not list a daemon-wide no-new-privileges in GET /info (Engine 24.0 and later do); check its daemon.json with the host target"
                    ));
                }
            }
            _ => {
                self.why_unknown = Some(
                    "UCP answers GET /info for the whole cluster (classic Swarm), without each node's security options; check each node's daemon.json with the host target".into(),
                );
            }
        }
    }

    /// The daemon defaults of a node, for its containers' fields.
    pub fn defaults(&self, node: Option<&str>, address: Option<String>) -> NodeDefaults {
        let known = node.and_then(|node| self.defaults.get(node)).copied();
        NodeDefaults {
            no_new_privileges: known,
            why_unknown: self.why_unknown.clone(),
            address: address.or_else(|| node.and_then(|node| self.addresses.get(node).cloned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listed(name: &str, image: &str, labels: Value) -> Listed {
        Listed::parse(&json!({"Id": "0123456789abcdef", "Names": [name], "Image": image, "Labels": labels, "State": "exited"})).unwrap()
    }

    #[test]
    fn system_containers_are_told_from_the_users() {
        let ucp = listed(
            "/manager-1/ucp-proxy",
            "mirantis/ucp-proxy:3.7.3",
            json!({"com.docker.ucp.version": "3.7.3"}),
        );
        assert_eq!(ucp.node.as_deref(), Some("manager-1"));
        assert_eq!(ucp.name, "ucp-proxy");
        assert!(
            matches!(ucp.class(), Class::System(why) if why.contains("com.docker.ucp.version"))
        );
        let access = listed(
            "/worker-1/web",
            "nginx:1.25",
            json!({"com.docker.ucp.access.label": "/Shared/Private/admin"}),
        );
        assert_eq!(access.class(), Class::User);
        assert!(matches!(
            listed("/w/dtr-nginx-000000000001", "x", json!({})).class(),
            Class::System(_)
        ));
        assert!(matches!(
            listed(
                "/w/agent",
                "registry.example.mil/docker/ucp-agent:3.2",
                json!({})
            )
            .class(),
            Class::System(_)
        ));
        assert!(matches!(
            listed(
                "/w/k8s_calico_calico-node-x_kube-system_1_0",
                "calico/node",
                json!({"io.kubernetes.pod.namespace": "kube-system"})
            )
            .class(),
            Class::System(_)
        ));
        assert_eq!(
            listed(
                "/w/k8s_POD_web_shop_1_0",
                "pause:3.9",
                json!({"io.kubernetes.pod.namespace": "shop"})
            )
            .class(),
            Class::Sandbox
        );
        assert_eq!(
            listed(
                "/w/k8s_app_web_shop_1_0",
                "shop/app:1",
                json!({"io.kubernetes.pod.namespace": "shop"})
            )
            .class(),
            Class::User
        );
        // Names without a node (a single Engine).
        let plain = listed("/web", "nginx", json!({}));
        assert_eq!((plain.node, plain.name.as_str()), (None, "web"));
    }

    #[test]
    fn info_of_one_engine_or_of_the_cluster() {
        let mut nodes = Nodes::default();
        nodes.add_info(&json!({"Name": "worker-1", "ServerVersion": "20.10.24", "SecurityOptions": ["name=seccomp,profile=default", "name=no-new-privileges"]}));
        assert_eq!(
            nodes.defaults(Some("worker-1"), None).no_new_privileges,
            Some(true)
        );
        assert_eq!(
            nodes.defaults(Some("worker-2"), None).no_new_privileges,
            None
        );
        // Not listed: off from Engine 24.0 on; before, it would not be listed either way.
        let mut nodes = Nodes::default();
        nodes.add_info(&json!({"Name": "n", "ServerVersion": "25.0.3", "SecurityOptions": ["name=seccomp,profile=default"]}));
        assert_eq!(
            nodes.defaults(Some("n"), None).no_new_privileges,
            Some(false)
        );
        let mut nodes = Nodes::default();
        nodes.add_info(&json!({"Name": "n", "ServerVersion": "20.10.24+dfsg1", "SecurityOptions": ["name=seccomp,profile=default"]}));
        let defaults = nodes.defaults(Some("n"), None);
        assert_eq!(defaults.no_new_privileges, None);
        assert!(
            defaults
                .why_unknown
                .unwrap()
                .contains("Engine 24.0 and later")
        );

        let mut nodes = Nodes::default();
        nodes.add_info(&json!({"Name": "ucp-controller", "ServerVersion": "ucp/3.7.3", "SystemStatus": [["Nodes", "3"]], "SecurityOptions": ["name=no-new-privileges"]}));
        let defaults = nodes.defaults(Some("ucp-controller"), None);
        assert_eq!(defaults.no_new_privileges, None);
        assert!(defaults.why_unknown.unwrap().contains("whole cluster"));
    }
}
