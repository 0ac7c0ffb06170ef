//! The pods part of the workload document: `pods."<namespace>/<name>".<field>` and
//! `pods."<namespace>/<name>".containers.<container>.<field>` (see `kube::pod`), the system pods
//! left out, and — when the pods were not read (no client bundle, or the API failed) — one
//! `unknown` per pod setting, saying why and how to give a bundle: never a `pass` for pods
//! that were not read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use super::container::{Fields, Slot};
use super::kube::PodReads;
use super::kube::pod::{self, Pod};
use super::live::{Skipped, expand_fields};
use crate::keypath::{KeyPath, WILDCARD};

/// Why pods are not read without a bundle: each pod setting's reason…
pub const NO_BUNDLE: &str = "pods not read: no client bundle given (--client-bundle FILE.zip|DIR)";
/// …and the target's note, once, with what to do.
const NO_BUNDLE_NOTE: &str = "pods not read: no MKE client bundle was given, and MKE's Kubernetes API takes its certificate; every pod setting is unknown until one is: give --client-bundle FILE.zip|DIR (STIGFIX_CLIENT_BUNDLE, or `client_bundle` in the site file), the zip MKE's web UI makes under My Profile > Client Bundles";

/// The cluster's pods as read (or why not).
#[derive(Clone, Debug)]
pub struct PodsLive {
    /// `Err`: why the pods were not read.
    pub read: Result<(), String>,
    /// The Kubernetes API server.
    pub base: String,
    pub pods: HashMap<String, Pod>,
    /// Pod keys in report order (namespace, then name).
    pub order: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub pages: usize,
    pub restarts: usize,
}

impl Default for PodsLive {
    fn default() -> Self {
        PodsLive {
            read: Err(NO_BUNDLE.into()),
            base: String::new(),
            pods: HashMap::new(),
            order: Vec::new(),
            skipped: Vec::new(),
            pages: 0,
            restarts: 0,
        }
    }
}

impl PodsLive {
    pub fn build(reads: PodReads) -> PodsLive {
        let listing = match reads {
            PodReads::NotConfigured => {
                return PodsLive {
                    read: Err(NO_BUNDLE.into()),
                    ..PodsLive::default()
                };
            }
            PodReads::Failed { base, why } => {
                return PodsLive {
                    read: Err(format!("pods not read: {why}")),
                    base,
                    ..PodsLive::default()
                };
            }
            PodReads::Read(listing) => listing,
        };
        let mut live = PodsLive {
            read: Ok(()),
            base: listing.base,
            pages: listing.pages,
            restarts: listing.restarts,
            ..PodsLive::default()
        };
        for pod in listing.pods {
            let key = pod.key();
            match pod.system() {
                Some(why) => live.skipped.push(Skipped { key, why }),
                None => {
                    live.pods.insert(key, pod);
                }
            }
        }
        live.order = live.pods.keys().cloned().collect();
        live.order.sort_by_cached_key(|key| {
            let pod = &live.pods[key];
            (pod.namespace.clone(), pod.name.clone())
        });
        live
    }

    /// What was read and what was left out (or why nothing was).
    pub fn notes(&self) -> Vec<String> {
        match &self.read {
            Err(why) if why == NO_BUNDLE => return vec![NO_BUNDLE_NOTE.to_string()],
            Err(why) => return vec![why.clone()],
            Ok(()) => {}
        }
        let namespaces: BTreeSet<&str> = self
            .pods
            .values()
            .map(|pod| pod.namespace.as_str())
            .collect();
        let restarted = match self.restarts {
            0 => String::new(),
            1 => ", started again once after 410 Gone".to_string(),
            n => format!(", started again {n} times after 410 Gone"),
        };
        let mut notes = vec![format!(
            "{} user pod(s) checked in {} namespace(s) ({} page(s) of GET {}/api/v1/pods?limit={}{restarted}); {} left out",
            self.pods.len(),
            namespaces.len(),
            self.pages,
            self.base,
            super::kube::PAGE,
            self.skipped.len()
        )];
        let mut reasons: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for skipped in &self.skipped {
            reasons.entry(&skipped.why).or_default().push(&skipped.key);
        }
        for (why, mut keys) in reasons {
            keys.sort_unstable();
            let more = keys.len().saturating_sub(8);
            keys.truncate(8);
            let tail = if more > 0 {
                format!(", … and {more} more")
            } else {
                String::new()
            };
            notes.push(format!("left out, {why}: {}{tail}", keys.join(", ")));
        }
        notes
    }

    /// The pods' part of the target's fingerprint.
    pub fn fingerprint_text(&self, text: &mut String) {
        if let Err(why) = &self.read {
            let _ = writeln!(text, "pods unread {why}");
            return;
        }
        let mut keys: Vec<&String> = self.pods.keys().collect();
        keys.sort();
        for key in keys {
            let _ = writeln!(text, "pod {key} {}", self.pods[key].digest);
        }
        for skipped in &self.skipped {
            let _ = writeln!(text, "skipped pod {} {}", skipped.key, skipped.why);
        }
    }

    /// The slot at `pods.<key>.<rest…>`; `Err(why)` when the pods were not read.
    pub fn slot(&self, key: &str, rest: &[String]) -> Option<Result<&Slot, &str>> {
        if let Err(why) = &self.read {
            return Some(Err(why));
        }
        self.pods.get(key)?.fields.get(rest).map(Ok)
    }

    /// The concrete paths of `pods.<item>.<tail…>`. Pods not read: the pattern itself, whose
    /// value is unknown.
    pub fn expand(&self, pattern: &KeyPath, item: &str, tail: &[String], out: &mut Vec<KeyPath>) {
        if self.read.is_err() {
            out.push(pattern.clone());
            return;
        }
        for key in self
            .order
            .iter()
            .filter(|key| item == WILDCARD || *key == item)
        {
            let fields: &Fields = &self.pods[key].fields;
            expand_fields(&["pods".to_string(), key.clone()], fields, tail, out);
        }
    }

    /// Why a pod pattern matched nothing.
    pub fn explain_empty(&self) -> String {
        let counts = format!(
            "{} checked, {} left out: see the target's notes",
            self.pods.len(),
            self.skipped.len()
        );
        if self.pods.is_empty() {
            format!("no user pod ({counts})")
        } else {
            format!("no user pod has one ({counts})")
        }
    }

    /// Where `pods.<item>.<rest…>` is read: the endpoint, the pod, the container and the field.
    pub fn source(&self, item: &str, rest: &[String]) -> Option<String> {
        let (container, field) = match rest {
            [containers, name, field, ..] if containers == "containers" => {
                (Some(name.as_str()), field.as_str())
            }
            [field, ..] => (None, field.as_str()),
            [] => return None,
        };
        let api = pod::api_field(container.is_some(), field)?;
        let endpoint = if self.base.is_empty() {
            "GET /api/v1/pods (MKE's Kubernetes API)".to_string()
        } else {
            format!("GET {}/api/v1/pods", self.base)
        };
        if item == WILDCARD || self.read.is_err() {
            let what = match container {
                Some(_) => {
                    format!("spec.{{containers,initContainers,ephemeralContainers}}[].{api}")
                }
                None => api.to_string(),
            };
            let count = match &self.read {
                Ok(()) => format!(" ({} user pod(s))", self.pods.len()),
                Err(_) => String::new(),
            };
            return Some(format!(
                "{endpoint} {what}, for each pod outside the system namespaces{count}"
            ));
        }
        let pod = self.pods.get(item)?;
        let mut text = match container {
            Some(name) => {
                let list = pod.lists.get(name).copied().unwrap_or("containers");
                format!("{endpoint} spec.{list}[{name}].{api} of pod {}", pod.key())
            }
            None => format!("{endpoint} {api} of pod {}", pod.key()),
        };
        if let Some(node) = &pod.node {
            let _ = write!(text, " on node {node}");
        }
        Some(text)
    }

    pub fn unknown(&self, key: &str, rest: &[String]) -> Option<String> {
        match self.slot(key, rest)? {
            Ok(Slot::Unknown(why)) => Some(why.clone()),
            Err(why) => Some(why.to_string()),
            _ => None,
        }
    }
}
