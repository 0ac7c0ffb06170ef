//! The cluster's workloads as read, as the document the rules address:
//!
//! - `containers."<node>/<name>".<field>`: every user container (see `container::FIELDS`), its
//!   key the name UCP lists it under (`worker-1/shop_web.1.k3j…`). Collections have one path
//!   per item: `cap_add.<CAP>`, `devices.<path on host>`, `ulimits.<name>`,
//!   `rw_host_mounts.<destination>` (value: the host path), `mounts.<destination>.propagation`,
//!   `port_bindings."<ip>:<host port>-><container port>".published|host_port|host_ip`.
//! - `services.<name>.ports."<port>/<protocol>".published|published_port`: the ports a Swarm
//!   service publishes (on every node, through the routing mesh: invisible to an inspect of its
//!   task containers).
//!
//! Items are listed grouped by stack, then service, then name, so a thousand findings of one
//! service stay together.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use super::cluster::{Class, Listed, Nodes, Service, short};
use super::container::{self, Fields, Slot};
use crate::keypath::{KeyPath, WILDCARD};
use crate::targets::{Document, LiveState, Product};
use crate::values::fingerprint;

/// One user container.
#[derive(Clone, Debug)]
pub struct Checked {
    pub id: String,
    pub node: Option<String>,
    pub name: String,
    pub service: Option<String>,
    pub stack: Option<String>,
    /// Its fields, or why its inspect could not be read.
    pub fields: Result<Fields, String>,
    /// A digest of them (or of why not), for the fingerprint.
    pub digest: String,
}

/// A container left out: system, or gone before its inspect.
#[derive(Clone, Debug)]
pub struct Skipped {
    pub key: String,
    pub why: String,
}

/// One user container's inspect, turned into its fields as soon as it arrives (while other
/// inspects are in flight), with a digest of them for the fingerprint.
#[derive(Clone, Debug)]
pub enum Inspected {
    Read {
        fields: Fields,
        digest: String,
    },
    /// 404: removed between the list and its inspect.
    Gone,
    /// Why it could not be read.
    Unreadable(String),
}

impl Inspected {
    /// From an inspect's answer (`Ok(None)`: 404), for a container of `nodes`.
    pub fn of(
        listed: &Listed,
        nodes: &Nodes,
        answer: Result<Option<serde_json::Value>, String>,
    ) -> Inspected {
        match answer {
            Ok(Some(inspect)) => {
                // Classic Swarm adds the node to an inspect (`Node.Name`, `Node.IP`).
                let address = inspect
                    .pointer("/Node/IP")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string);
                let defaults = nodes.defaults(node_of(listed, nodes).as_deref(), address);
                let fields =
                    container::fields(&inspect, &defaults, listed.class() == Class::Sandbox);
                Inspected::Read {
                    digest: container::digest(&fields),
                    fields,
                }
            }
            Ok(None) => Inspected::Gone,
            Err(why) => Inspected::Unreadable(why),
        }
    }
}

/// The node a listed container runs on: from the name UCP lists it under, else its Swarm
/// node's hostname, else the one Engine whose `/info` was read.
pub fn node_of(listed: &Listed, nodes: &Nodes) -> Option<String> {
    listed
        .node
        .clone()
        .or_else(|| {
            let id = listed.label("com.docker.swarm.node.id")?;
            nodes.names.get(id).cloned()
        })
        .or_else(|| nodes.single.clone())
}

/// Everything read from the cluster.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    pub product: Option<Product>,
    pub listed: Vec<Listed>,
    /// Each user container listed, by ID.
    pub inspected: BTreeMap<String, Inspected>,
    pub nodes: Nodes,
    pub services: Vec<Service>,
    /// Container ID → service ID, from `GET /tasks`.
    pub task_services: BTreeMap<String, String>,
    /// Lists that could not be read, as notes (`GET /services answered 503: …`).
    pub gaps: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct WorkloadLive {
    /// `https://ucp.example.mil`.
    pub base: String,
    pub product: Option<Product>,
    /// Container key (`node/name`) → container, and the keys in report order.
    pub containers: HashMap<String, Checked>,
    pub order: Vec<String>,
    /// Service name → its port fields.
    pub services: BTreeMap<String, Fields>,
    pub skipped: Vec<Skipped>,
    pub nodes: usize,
    pub notes: Vec<String>,
    pub fingerprint: String,
}

impl WorkloadLive {
    pub fn build(base: &str, reads: Reads) -> WorkloadLive {
        let Reads {
            product,
            listed,
            mut inspected,
            nodes: node_reads,
            services: service_reads,
            task_services,
            gaps,
        } = reads;
        let services_by_id: BTreeMap<&str, &Service> = service_reads
            .iter()
            .map(|service| (service.id.as_str(), service))
            .collect();
        let mut containers = HashMap::new();
        let mut skipped = Vec::new();
        let mut nodes = std::collections::BTreeSet::new();
        for listed in &listed {
            let node = node_of(listed, &node_reads);
            if let Some(node) = &node {
                nodes.insert(node.clone());
            }
            let key = match &node {
                Some(node) => format!("{node}/{}", listed.name),
                None => listed.name.clone(),
            };
            let class = listed.class();
            if let Class::System(why) = class {
                skipped.push(Skipped { key, why });
                continue;
            }
            let (fields, digest) = match inspected.remove(&listed.id) {
                Some(Inspected::Read { fields, digest }) => (Ok(fields), digest),
                Some(Inspected::Gone) => {
                    skipped.push(Skipped {
                        key,
                        why: "removed between the list and its inspect".into(),
                    });
                    continue;
                }
                Some(Inspected::Unreadable(why)) => {
                    let digest = format!("unreadable {why}");
                    (Err(why), digest)
                }
                None => (Err("not inspected".to_string()), "not inspected".into()),
            };
            let service_by_task = task_services
                .get(&listed.id)
                .and_then(|id| services_by_id.get(id.as_str()));
            let service = listed
                .label("com.docker.swarm.service.name")
                .map(str::to_string)
                .or_else(|| service_by_task.map(|service| service.name.clone()));
            let stack = listed
                .label("com.docker.stack.namespace")
                .map(str::to_string)
                .or_else(|| service_by_task.and_then(|service| service.stack.clone()));
            containers.insert(
                key,
                Checked {
                    id: listed.id.clone(),
                    node,
                    name: listed.name.clone(),
                    service,
                    stack,
                    fields,
                    digest,
                },
            );
        }
        let mut order: Vec<String> = containers.keys().cloned().collect();
        order.sort_by_cached_key(|key| {
            let checked = &containers[key];
            (
                checked.stack.is_none(),
                checked.stack.clone(),
                checked.service.is_none(),
                checked.service.clone(),
                checked.name.clone(),
                key.clone(),
            )
        });
        let mut services = BTreeMap::new();
        for service in service_reads.iter().filter(|service| !service.is_system()) {
            let mut fields = Fields::new();
            for (port, protocol, mode) in &service.ports {
                let key = format!("{port}/{protocol}");
                let at = |leaf: &str| vec!["ports".to_string(), key.clone(), leaf.to_string()];
                fields.insert(at("published"), Slot::Set(key.clone().into()));
                fields.insert(at("published_port"), Slot::Set((*port).into()));
                fields.insert(at("mode"), Slot::Set(mode.clone().into()));
            }
            services.insert(service.name.clone(), fields);
        }
        let mut live = WorkloadLive {
            base: base.trim_end_matches('/').to_string(),
            product,
            containers,
            order,
            services,
            skipped,
            nodes: nodes.len(),
            notes: gaps,
            fingerprint: String::new(),
        };
        live.notes.splice(0..0, live.summary());
        live.fingerprint = live.compute_fingerprint();
        live
    }

    /// The notes that say what was read and what was left out.
    fn summary(&self) -> Vec<String> {
        let tasks = self
            .containers
            .values()
            .filter(|checked| checked.service.is_some())
            .count();
        let services: std::collections::BTreeSet<&String> = self
            .containers
            .values()
            .filter_map(|checked| checked.service.as_ref())
            .collect();
        let stacks: std::collections::BTreeSet<&String> = self
            .containers
            .values()
            .filter_map(|checked| checked.stack.as_ref())
            .collect();
        let swarm = if tasks > 0 {
            format!(
                " ({tasks} of them tasks of {} Swarm service(s) in {} stack(s))",
                services.len(),
                stacks.len()
            )
        } else {
            String::new()
        };
        let mut notes = vec![format!(
            "{} user container(s) checked on {} node(s){swarm}; {} left out",
            self.containers.len(),
            self.nodes,
            self.skipped.len()
        )];
        let mut reasons: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for skipped in &self.skipped {
            reasons.entry(&skipped.why).or_default().push(&skipped.key);
        }
        for (why, keys) in reasons {
            let mut named: Vec<&str> = keys.iter().take(8).copied().collect();
            let more = keys.len() - named.len();
            let tail = if more > 0 {
                format!(", … and {more} more")
            } else {
                String::new()
            };
            named.sort_unstable();
            notes.push(format!("left out, {why}: {}{tail}", named.join(", ")));
        }
        notes
    }

    fn compute_fingerprint(&self) -> String {
        let mut text = String::new();
        let mut keys: Vec<&String> = self.containers.keys().collect();
        keys.sort();
        for key in keys {
            let checked = &self.containers[key];
            let _ = writeln!(text, "container {key} {} {}", checked.id, checked.digest);
        }
        for (name, fields) in &self.services {
            let _ = writeln!(text, "service {name}");
            for (path, slot) in fields {
                let _ = writeln!(text, "  {} {slot:?}", path.join("."));
            }
        }
        for skipped in &self.skipped {
            let _ = writeln!(text, "skipped {} {}", skipped.key, skipped.why);
        }
        fingerprint(text.as_bytes())
    }

    /// The slot at a concrete path.
    fn slot(&self, path: &KeyPath) -> Option<Result<&Slot, &str>> {
        match path.segments() {
            [root, key, rest @ ..] if root == "containers" => {
                match &self.containers.get(key)?.fields {
                    Ok(fields) => fields.get(rest).map(Ok),
                    Err(why) => Some(Err(why)),
                }
            }
            [root, name, rest @ ..] if root == "services" => {
                self.services.get(name)?.get(rest).map(Ok)
            }
            _ => None,
        }
    }

    fn container_of(&self, path: &KeyPath) -> Option<&Checked> {
        match path.segments() {
            [root, key, ..] if root == "containers" => self.containers.get(key),
            _ => None,
        }
    }
}

/// Whether the segments of a field match a pattern's (with `*`).
fn matches(pattern: &[String], segments: &[String]) -> bool {
    pattern.len() == segments.len()
        && pattern
            .iter()
            .zip(segments)
            .all(|(pattern, segment)| pattern == WILDCARD || pattern == segment)
}

/// The concrete paths of one item's fields that a pattern's tail stands for. A tail without a
/// wildcard is one lookup, and one that starts with a field name looks only at that field's
/// entries (a plan asks this for every rule and every container).
fn expand_fields(prefix: &[String], fields: &Fields, tail: &[String], out: &mut Vec<KeyPath>) {
    let mut push = |path: &[String]| {
        let mut segments = Vec::with_capacity(prefix.len() + path.len());
        segments.extend_from_slice(prefix);
        segments.extend_from_slice(path);
        out.push(KeyPath::from_segments(segments));
    };
    if !tail.iter().any(|segment| segment == WILDCARD) {
        if fields.contains_key(tail) {
            push(tail);
        }
        return;
    }
    match tail.first() {
        Some(first) if first != WILDCARD => {
            let start = vec![first.clone()];
            for path in fields
                .range(start..)
                .map(|(path, _)| path)
                .take_while(|path| path.first() == Some(first))
                .filter(|path| matches(tail, path))
            {
                push(path);
            }
        }
        _ => {
            for path in fields.keys().filter(|path| matches(tail, path)) {
                push(path);
            }
        }
    }
}

impl Document for WorkloadLive {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        match self.slot(path)? {
            Ok(Slot::Set(value)) => Some(value.clone()),
            _ => None,
        }
    }

    fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        if !pattern.is_pattern() {
            return vec![pattern.clone()];
        }
        let mut out = Vec::new();
        match pattern.segments() {
            [root, item, tail @ ..] if root == "containers" => {
                for key in self
                    .order
                    .iter()
                    .filter(|key| item == WILDCARD || *key == item)
                {
                    let prefix = [root.clone(), key.clone()];
                    match &self.containers[key].fields {
                        Ok(fields) => expand_fields(&prefix, fields, tail, &mut out),
                        // One path for a container that could not be read: its `unknown`.
                        Err(_) => {
                            let mut segments = prefix.to_vec();
                            segments.extend(tail.iter().map(|segment| {
                                if segment == WILDCARD {
                                    "(unreadable)".to_string()
                                } else {
                                    segment.clone()
                                }
                            }));
                            out.push(KeyPath::from_segments(segments));
                        }
                    }
                }
            }
            [root, item, tail @ ..] if root == "services" => {
                for (name, fields) in &self.services {
                    if item == WILDCARD || name == item {
                        expand_fields(&[root.clone(), name.clone()], fields, tail, &mut out);
                    }
                }
            }
            _ => {}
        }
        out
    }

    fn writable(&self, _path: &KeyPath) -> Result<(), String> {
        Err("stigfix never stops, removes or changes a workload: redeploy it (its service, stack or pod) without the setting; the rule's note says how".into())
    }

    fn explain(&self, path: &KeyPath) -> Option<String> {
        if path.is_pattern() {
            let counts = format!(
                "{} checked on {} node(s), {} left out: see the target's notes",
                self.containers.len(),
                self.nodes,
                self.skipped.len()
            );
            let what = match path.segments().first().map(String::as_str) {
                Some("services") => format!(
                    "no user Swarm service publishes a port ({} user service(s))",
                    self.services.len()
                ),
                _ if self.containers.is_empty() => format!("no user container ({counts})"),
                _ => format!("no user container has one ({counts})"),
            };
            return Some(what);
        }
        match self.slot(path)? {
            Ok(Slot::Absent(why)) => Some(why.clone()),
            _ => None,
        }
    }

    fn source(&self, path: &KeyPath) -> Option<String> {
        let segments = path.segments();
        match segments {
            [root, _, rest @ ..] if root == "services" && !rest.is_empty() => {
                Some(format!("GET {}/services Endpoint.Ports", self.base))
            }
            [root, item, field, ..] if root == "containers" => {
                let api = container::api_field(field)?;
                let nnp = if field == "no_new_privileges" {
                    ", and its node's GET /info SecurityOptions"
                } else {
                    ""
                };
                if item == WILDCARD {
                    return Some(format!(
                        "GET {}/containers/{{id}}/json {api}{nnp}, for each user container of GET {}/containers/json?all=1 ({} on {} node(s))",
                        self.base,
                        self.base,
                        self.containers.len(),
                        self.nodes
                    ));
                }
                let checked = self.container_of(path)?;
                let mut text = format!(
                    "GET {}/containers/{}/json {api}{nnp}",
                    self.base,
                    short(&checked.id)
                );
                if let Some(node) = &checked.node {
                    let _ = write!(text, " on node {node}");
                }
                match (&checked.service, &checked.stack) {
                    (Some(service), Some(stack)) => {
                        let _ = write!(text, " (service {service}, stack {stack})");
                    }
                    (Some(service), None) => {
                        let _ = write!(text, " (service {service})");
                    }
                    _ => {}
                }
                Some(text)
            }
            _ => None,
        }
    }

    fn unknown(&self, path: &KeyPath) -> Option<String> {
        match self.slot(path)? {
            Ok(Slot::Unknown(why)) => Some(why.clone()),
            Err(why) => Some(why.to_string()),
            _ => None,
        }
    }
}

impl LiveState for WorkloadLive {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn product(&self) -> Option<Product> {
        self.product.clone()
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}
