//! A built-in cluster for the simulated UCP/MKE's Docker Engine API: nodes, containers (UCP's
//! own, DTR's, Kubernetes system pods, and the user's: Swarm tasks, plain containers, pod
//! containers), Swarm services and their tasks. Each container is Docker's defaults with a
//! JSON patch on top, so a test says only what differs.
//!
//! The answers have classic Swarm's shape (UCP's Docker API, reference/next-phase.md §1.3):
//! `Names` are `/<node>/<name>`, an inspect carries `Node`, a `HostIp` of `0.0.0.0` reads as the
//! node's address, and `/info` describes the whole cluster (`ServerVersion` `ucp/…`), not a node.

use std::path::PathBuf;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A node of the simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SimNode {
    pub name: String,
    pub manager: bool,
    pub address: String,
    /// What a job's task does on this node (`stigfix nodes`' scanner), canned.
    pub job: SimJob,
    /// A file whose appearance is this node's dockerd restarting (what `stigfix nodes
    /// rollout --run` triggers on a real node): the node reads as `down` for the next two
    /// `GET /nodes`, then `ready` again (the file is removed) — or stays down for good when
    /// `comes_back` is false.
    pub restart_file: Option<PathBuf>,
    pub comes_back: bool,
}

impl SimNode {
    pub fn new(name: &str, manager: bool, address: &str) -> SimNode {
        SimNode {
            name: name.into(),
            manager,
            address: address.into(),
            job: SimJob::default(),
            restart_file: None,
            comes_back: true,
        }
    }

    /// The node's Swarm ID (25 characters, derived from its name).
    pub fn id(&self) -> String {
        hex_id(&self.name)[..25].to_string()
    }
}

/// What the task of a job (a `global-job` service) does on a node: the simulator does not run
/// images, it answers with this.
#[derive(Clone, Debug, PartialEq)]
pub enum SimJob {
    /// Exits 0 having written `stdout` and `stderr` (in the service's logs).
    Complete { stdout: String, stderr: String },
    /// Exits with `code` having written `stderr`.
    Fail { code: i64, stderr: String },
    /// Rejected before a container starts (`No such image: …`).
    Reject(String),
    /// Runs and never finishes.
    Hang,
}

impl Default for SimJob {
    /// A task that prints nothing.
    fn default() -> Self {
        SimJob::Complete {
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

/// A container: where it runs, what it is, and how its inspect differs from Docker's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SimContainer {
    pub node: String,
    pub name: String,
    pub image: String,
    pub running: bool,
    pub labels: Vec<(String, String)>,
    /// Merged over the default inspect (objects key by key, everything else replaced).
    pub patch: Value,
}

impl SimContainer {
    pub fn new(node: &str, name: &str, image: &str) -> SimContainer {
        SimContainer {
            node: node.into(),
            name: name.into(),
            image: image.into(),
            running: true,
            labels: Vec::new(),
            patch: json!({}),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> SimContainer {
        self.labels.push((key.into(), value.into()));
        self
    }

    pub fn stopped(mut self) -> SimContainer {
        self.running = false;
        self
    }

    /// Merge `patch` over what the inspect already differs in.
    pub fn with(mut self, patch: Value) -> SimContainer {
        merge(&mut self.patch, patch);
        self
    }

    /// Every setting the container-runtime rules ask for: read-only root, limits, a healthcheck
    /// (healthy), a non-root user, no-new-privileges.
    pub fn compliant(self) -> SimContainer {
        self.with(json!({
            "Config": {"User": "1000", "Healthcheck": {"Test": ["CMD", "/healthz"]}},
            "State": {"Health": {"Status": "healthy", "FailingStreak": 0}},
            "HostConfig": {
                "ReadonlyRootfs": true, "Memory": 268435456, "CpuShares": 512, "PidsLimit": 100,
                "SecurityOpt": ["no-new-privileges"],
                "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}
            }
        }))
    }

    /// A task of a Swarm service (its labels and name `<service>.<slot>.<task id>`).
    pub fn task(node: &str, service: &SimService, slot: usize, image: &str) -> SimContainer {
        let task = hex_id(&format!("task {} {slot} {node}", service.name));
        let task = &task[..25];
        // A replicated service's tasks are `<service>.<slot>.<task>`, a global one's
        // `<service>.<node id>.<task>` (slot 0 here).
        let slot = match slot {
            0 => hex_id(node)[..25].to_string(),
            slot => slot.to_string(),
        };
        let mut container =
            SimContainer::new(node, &format!("{}.{slot}.{task}", service.name), image)
                .label("com.docker.swarm.service.name", &service.name)
                .label("com.docker.swarm.service.id", &service.id())
                .label("com.docker.swarm.task.id", task)
                .label("com.docker.swarm.node.id", &hex_id(node)[..25]);
        if let Some(stack) = &service.stack {
            container = container.label("com.docker.stack.namespace", stack);
        }
        container
    }

    pub fn id(&self) -> String {
        hex_id(&format!("{}/{}", self.node, self.name))
    }
}

/// A Swarm service.
#[derive(Clone, Debug, PartialEq)]
pub struct SimService {
    pub name: String,
    pub stack: Option<String>,
    /// `(published port, protocol)`, published through the routing mesh.
    pub ports: Vec<(u16, String)>,
}

impl SimService {
    pub fn new(name: &str, stack: Option<&str>) -> SimService {
        SimService {
            name: name.into(),
            stack: stack.map(str::to_string),
            ports: Vec::new(),
        }
    }

    pub fn publish(mut self, port: u16) -> SimService {
        self.ports.push((port, "tcp".into()));
        self
    }

    pub fn id(&self) -> String {
        hex_id(&format!("service {}", self.name))[..25].to_string()
    }
}

/// The cluster the simulated Engine API answers for.
#[derive(Clone, Debug, PartialEq)]
pub struct SimCluster {
    pub nodes: Vec<SimNode>,
    pub containers: Vec<SimContainer>,
    pub services: Vec<SimService>,
}

/// A 64-character hex ID, derived from `seed` so runs are repeatable.
pub fn hex_id(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(into), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, patch) => *into = patch,
    }
}

const UCP_IMAGE: &str = "mirantis/ucp-agent:3.7.3";

impl SimCluster {
    fn three_nodes() -> Vec<SimNode> {
        [
            ("manager-1", true, "10.0.0.11"),
            ("worker-1", false, "10.0.0.21"),
            ("worker-2", false, "10.0.0.22"),
        ]
        .into_iter()
        .map(|(name, manager, address)| SimNode::new(name, manager, address))
        .collect()
    }

    /// `managers` managers (`manager-1`…) and `workers` workers (`worker-1`…), each running a
    /// task of one global service (`ucp-agent`, as on a UCP node) and nothing else.
    pub fn with_nodes(managers: usize, workers: usize) -> SimCluster {
        let mut nodes = Vec::new();
        for index in 1..=managers {
            nodes.push(SimNode::new(
                &format!("manager-{index}"),
                true,
                &format!("10.0.0.{}", 10 + index),
            ));
        }
        for index in 1..=workers {
            nodes.push(SimNode::new(
                &format!("worker-{index}"),
                false,
                &format!("10.0.1.{}", 10 + index),
            ));
        }
        let agent = SimService::new("ucp-agent", None);
        let containers = nodes
            .iter()
            .map(|node| {
                SimContainer::task(&node.name, &agent, 0, UCP_IMAGE)
                    .label("com.docker.ucp.version", "3.7.3")
            })
            .collect();
        SimCluster {
            nodes,
            containers,
            services: vec![agent],
        }
    }

    /// The node called `name`, to set its job or restart behaviour.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut SimNode> {
        self.nodes.iter_mut().find(|node| node.name == name)
    }

    /// Three nodes running only UCP/MKE's, DTR's and Kubernetes' own containers: nothing of the
    /// user's to check (the default, so that runs that are not about workloads see none).
    pub fn system_only() -> SimCluster {
        let nodes = SimCluster::three_nodes();
        let agent = SimService::new("ucp-agent", None);
        let mut containers = Vec::new();
        for node in &nodes {
            let ucp = |name: &str| {
                SimContainer::new(&node.name, name, UCP_IMAGE)
                    .label("com.docker.ucp.version", "3.7.3")
                    .with(json!({"HostConfig": {"Privileged": true, "NetworkMode": "host", "PidMode": "host"},
                                 "Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock", "RW": true, "Propagation": "rprivate"}]}))
            };
            containers.push(ucp("ucp-proxy"));
            containers.push(
                SimContainer::task(&node.name, &agent, 1, UCP_IMAGE)
                    .label("com.docker.ucp.version", "3.7.3")
                    .with(json!({"HostConfig": {"Privileged": true}})),
            );
            if node.manager {
                containers.push(ucp("ucp-controller"));
                containers.push(ucp("ucp-kv"));
            }
        }
        containers.push(
            SimContainer::new("worker-2", "dtr-registry-0a1b2c3d4e5f", "mirantis/dtr-registry:2.9.16")
                .with(json!({"HostConfig": {"PortBindings": {"443/tcp": [{"HostIp": "", "HostPort": "443"}]}}})),
        );
        containers.push(
            SimContainer::new(
                "worker-1",
                "k8s_calico-node_calico-node-x2k9f_kube-system_0f1e2d3c_0",
                "mirantis/ucp-calico-node:3.26",
            )
            .label("io.kubernetes.pod.namespace", "kube-system")
            .label("io.kubernetes.container.name", "calico-node")
            .with(json!({"HostConfig": {"Privileged": true, "NetworkMode": "host"}})),
        );
        SimCluster {
            nodes,
            containers,
            services: vec![agent],
        }
    }

    /// The demo's cluster: UCP's own containers, a clean service, and workloads as many are
    /// found — a privileged monitoring agent with the Docker socket, a database as root without
    /// limits, a stopped legacy container with host namespaces and a port below 1024, a
    /// service published on port 80, a Kubernetes pod on the host's network.
    pub fn demo() -> SimCluster {
        let mut cluster = SimCluster::system_only();
        let web = SimService::new("shop_web", Some("shop")).publish(8443);
        let db = SimService::new("shop_db", Some("shop"));
        let monitor = SimService::new("monitor", None);
        let api = SimService::new("billing_api", Some("billing")).publish(80);
        let user = &mut cluster.containers;
        for (slot, node) in [(1, "worker-1"), (2, "worker-2")] {
            user.push(
                SimContainer::task(node, &web, slot, "registry.example.mil/shop/web:2.4")
                    .compliant(),
            );
        }
        user.push(
            SimContainer::task("worker-1", &db, 1, "registry.example.mil/shop/postgres:15").with(json!({
                "HostConfig": {"CapAdd": ["NET_ADMIN"], "CpuShares": 0},
                "Mounts": [{"Type": "bind", "Source": "/srv/shop/db", "Destination": "/var/lib/postgresql/data", "RW": true, "Propagation": "rprivate"}]
            })),
        );
        for node in ["worker-1", "worker-2"] {
            user.push(
                SimContainer::task(node, &monitor, 0, "registry.example.mil/ops/node-agent:1.8").with(json!({
                    "HostConfig": {"Privileged": true, "PidMode": "host", "NetworkMode": "host", "ReadonlyRootfs": true},
                    "Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock", "RW": false, "Propagation": "rprivate"}]
                })),
            );
        }
        user.push(
            SimContainer::task("manager-1", &api, 1, "registry.example.mil/billing/api:7.1")
                .compliant(),
        );
        user.push(
            SimContainer::new("worker-2", "legacy-app", "registry.example.mil/legacy/app:0.9")
                .stopped()
                .with(json!({
                    "HostConfig": {
                        "IpcMode": "host", "UTSMode": "host", "UsernsMode": "host",
                        "SecurityOpt": ["seccomp:unconfined"],
                        "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "80"}]},
                        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                        "Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}],
                        "Ulimits": [{"Name": "nofile", "Soft": 65536, "Hard": 65536}],
                        "CgroupParent": "/legacy"
                    },
                    "Mounts": [{"Type": "bind", "Source": "/etc", "Destination": "/host/etc", "RW": true, "Propagation": "rshared"}]
                })),
        );
        let pod = "cache-7d9f4_team-a_5b6c7d8e_0";
        user.push(
            SimContainer::new("worker-1", &format!("k8s_POD_{pod}"), "mirantis/pause:3.9")
                .label("io.kubernetes.pod.namespace", "team-a")
                .label("io.kubernetes.docker.type", "podsandbox")
                .with(json!({"HostConfig": {"NetworkMode": "host"}})),
        );
        user.push(
            SimContainer::new(
                "worker-1",
                &format!("k8s_redis_{pod}"),
                "registry.example.mil/team-a/redis:7",
            )
            .label("io.kubernetes.pod.namespace", "team-a")
            .label("io.kubernetes.docker.type", "container")
            .compliant(),
        );
        cluster.services.extend([web, db, monitor, api]);
        cluster
    }

    /// `count` user containers over three nodes, every fifth privileged, for benchmarks.
    pub fn generated(count: usize) -> SimCluster {
        let mut cluster = SimCluster::system_only();
        let nodes: Vec<String> = cluster.nodes.iter().map(|node| node.name.clone()).collect();
        for index in 0..count {
            let node = &nodes[index % nodes.len()];
            let mut container = SimContainer::new(
                node,
                &format!("app-{index:05}"),
                "registry.example.mil/app:1",
            )
            .compliant();
            if index % 5 == 0 {
                container = container.with(json!({"HostConfig": {"Privileged": true}}));
            }
            cluster.containers.push(container);
        }
        cluster
    }

    fn node(&self, name: &str) -> Option<&SimNode> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// `GET /containers/{id}/json` as UCP answers it.
    pub fn inspect(&self, container: &SimContainer) -> Value {
        let id = container.id();
        let mut labels = serde_json::Map::new();
        for (key, value) in &container.labels {
            labels.insert(key.clone(), Value::String(value.clone()));
        }
        let status = if container.running {
            "running"
        } else {
            "exited"
        };
        let mut inspect = json!({
            "Id": id,
            "Created": "2026-11-01T08:00:00.000000000Z",
            "Path": "/entrypoint",
            "Args": [],
            "State": {"Status": status, "Running": container.running, "Paused": false,
                      "Restarting": false, "ExitCode": if container.running { 0 } else { 137 }},
            "Image": format!("sha256:{}", hex_id(&container.image)),
            "Name": format!("/{}", container.name),
            "RestartCount": 0,
            "AppArmorProfile": "docker-default",
            "Config": {"Hostname": &id[..12], "User": "", "Image": container.image, "Labels": labels},
            "HostConfig": {
                "Privileged": false, "ReadonlyRootfs": false, "NetworkMode": "default",
                "PidMode": "", "IpcMode": "private", "UTSMode": "", "UsernsMode": "",
                "CapAdd": null, "CapDrop": null, "SecurityOpt": null, "Memory": 0,
                "CpuShares": 0, "PidsLimit": null, "Devices": [], "Ulimits": null,
                "CgroupParent": "", "PortBindings": {}, "PublishAllPorts": false,
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}
            },
            "Mounts": [],
            "NetworkSettings": {"Ports": {}}
        });
        merge(&mut inspect, container.patch.clone());
        if !container.running {
            // A stopped container has no health status and binds nothing.
            if let Some(state) = inspect.get_mut("State").and_then(Value::as_object_mut) {
                state.remove("Health");
            }
        } else if let Some(bindings) = inspect.pointer("/HostConfig/PortBindings").cloned() {
            inspect["NetworkSettings"]["Ports"] = bindings;
        }
        let node = self.node(&container.node);
        let address = node.map_or("127.0.0.1", |node| node.address.as_str());
        if let Some(object) = inspect.as_object_mut() {
            object.insert(
                "Node".into(),
                json!({"ID": &hex_id(&container.node)[..25], "IP": address,
                       "Addr": format!("{address}:12376"), "Name": container.node}),
            );
        }
        rewrite_wildcard(&mut inspect, address);
        inspect
    }

    /// An entry of `GET /containers/json`.
    pub fn listed(&self, container: &SimContainer) -> Value {
        let inspect = self.inspect(container);
        json!({
            "Id": inspect["Id"],
            "Names": [format!("/{}/{}", container.node, container.name)],
            "Image": container.image,
            "ImageID": inspect["Image"],
            "Command": "/entrypoint",
            "Created": 1793520000,
            "Labels": inspect["Config"]["Labels"],
            "State": inspect["State"]["Status"],
            "Status": if container.running { "Up 3 weeks" } else { "Exited (137) 2 days ago" },
            "HostConfig": {"NetworkMode": inspect["HostConfig"]["NetworkMode"]},
            "Mounts": inspect["Mounts"]
        })
    }

    pub fn services_json(&self) -> Value {
        Value::Array(
            self.services
                .iter()
                .map(|service| {
                    let ports: Vec<Value> = service
                        .ports
                        .iter()
                        .map(|(port, protocol)| {
                            json!({"Protocol": protocol, "TargetPort": port, "PublishedPort": port, "PublishMode": "ingress"})
                        })
                        .collect();
                    let mut labels = serde_json::Map::new();
                    if let Some(stack) = &service.stack {
                        labels.insert("com.docker.stack.namespace".into(), Value::String(stack.clone()));
                    }
                    json!({
                        "ID": service.id(),
                        "Spec": {"Name": service.name, "Labels": labels,
                                 "TaskTemplate": {"ContainerSpec": {"Image": "app"}},
                                 "EndpointSpec": {"Mode": "vip", "Ports": ports}},
                        "Endpoint": {"Ports": ports}
                    })
                })
                .collect(),
        )
    }

    pub fn tasks_json(&self) -> Value {
        Value::Array(
            self.containers
                .iter()
                .filter_map(|container| {
                    let service = container
                        .labels
                        .iter()
                        .find(|(key, _)| key == "com.docker.swarm.service.name")?;
                    let service = self.services.iter().find(|s| s.name == service.1)?;
                    Some(json!({
                        "ID": container.labels.iter().find(|(k, _)| k == "com.docker.swarm.task.id").map(|(_, v)| v.clone()),
                        "ServiceID": service.id(),
                        "NodeID": &hex_id(&container.node)[..25],
                        "DesiredState": if container.running { "running" } else { "shutdown" },
                        "Status": {"State": if container.running { "running" } else { "complete" },
                                   "ContainerStatus": {"ContainerID": container.id()}}
                    }))
                })
                .collect(),
        )
    }

    /// `GET /info` as UCP answers it: the whole cluster's (classic Swarm), no node's options.
    pub fn info_json(&self, ucp_version: &str) -> Value {
        let mut status = vec![json!(["Nodes", self.nodes.len().to_string()])];
        for node in &self.nodes {
            status.push(json!([node.name, format!("{}:12376", node.address)]));
            status.push(json!([" └ Status", "Healthy"]));
            status.push(json!([" └ Labels", "kernelversion=5.15.0, operatingsystem=Ubuntu 22.04.4 LTS, ostype=linux, storagedriver=overlay2"]));
        }
        json!({
            "ID": "",
            "Containers": self.containers.len(),
            "Name": "ucp-controller",
            "ServerVersion": format!("ucp/{ucp_version}"),
            "OperatingSystem": "linux",
            "SystemStatus": status,
            "SecurityOptions": []
        })
    }
}

/// What classic Swarm does to an inspect: a `HostIp` of `0.0.0.0` becomes the node's address.
pub fn rewrite_wildcard(value: &mut Value, address: &str) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "HostIp" && item.as_str() == Some("0.0.0.0") {
                    *item = Value::String(address.to_string());
                } else {
                    rewrite_wildcard(item, address);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_wildcard(item, address)),
        _ => {}
    }
}
