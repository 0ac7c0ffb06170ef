//! Assets: what a checklist is about. Targets configured by the same option at the same
//! endpoint are one asset — the UCP/MKE cluster (with every target that runs on its URL), the
//! DTR/MSR, each Engine node — so no kind is named here.
//!
//! The data a checklist's ASSET / `target_data` carries: host name, FQDN and IP where they are
//! known (the URL's host; a node's `etc/hostname` under its root), role, type, and for the
//! cluster and the registry the web/database fields, which let the checklists of several
//! clusters (and the UCP and DTR of one cluster behind one name) live in one STIG Manager
//! collection: STIG Manager names such an asset `<HOST_NAME>-<WEB_DB_SITE>-<WEB_DB_INSTANCE>`.

use std::net::IpAddr;
use std::path::Path;

use crate::plan::Plan;
use crate::targets::{Product, TargetKind, TargetSpec};

/// One asset of a run.
#[derive(Clone, Debug)]
pub struct Asset {
    /// `ucp:ucp.example.mil`: the id of its first target; stable across runs.
    pub key: String,
    /// What configures it (`--ucp-url`): targets configured alike at one endpoint are one asset.
    pub class: &'static str,
    /// Its targets, with the product each runs.
    pub targets: Vec<(TargetSpec, Option<Product>)>,
    /// The file-name part: `ucp-ucp.example.mil`, `host-node1`.
    pub file_name: String,
    pub data: AssetData,
}

/// The ASSET element of a `.ckl` (`target_data` of a `.cklb`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssetData {
    /// `None`, `Workstation`, `Member Server` or `Domain Controller`.
    pub role: String,
    /// `Computing` or `Non-Computing`.
    pub asset_type: String,
    pub marking: String,
    pub host_name: String,
    pub host_ip: String,
    pub host_mac: String,
    pub host_fqdn: String,
    pub target_comment: String,
    pub tech_area: String,
    pub web_or_database: bool,
    pub web_db_site: String,
    pub web_db_instance: String,
}

impl AssetData {
    /// Fill the fields that are empty here from `other` (a person's data wins).
    pub fn fill_from(&mut self, other: &AssetData) {
        for (mine, theirs) in [
            (&mut self.role, &other.role),
            (&mut self.asset_type, &other.asset_type),
            (&mut self.marking, &other.marking),
            (&mut self.host_name, &other.host_name),
            (&mut self.host_ip, &other.host_ip),
            (&mut self.host_mac, &other.host_mac),
            (&mut self.host_fqdn, &other.host_fqdn),
            (&mut self.target_comment, &other.target_comment),
            (&mut self.tech_area, &other.tech_area),
            (&mut self.web_db_site, &other.web_db_site),
            (&mut self.web_db_instance, &other.web_db_instance),
        ] {
            if mine.trim().is_empty() {
                mine.clone_from(theirs);
            }
        }
        if !self.web_or_database && other.web_or_database && self.web_db_site.is_empty() {
            self.web_or_database = true;
        }
    }

    /// Whether two checklists are about the same asset, as STIG Manager tells assets apart.
    pub fn same_asset(&self, other: &AssetData) -> bool {
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        same(&self.host_name, &other.host_name)
            && (!self.web_or_database && !other.web_or_database
                || same(&self.web_db_site, &other.web_db_site)
                    && same(&self.web_db_instance, &other.web_db_instance))
    }

    /// `host` or `host (site/instance)`, for messages.
    pub fn label(&self) -> String {
        if self.web_or_database {
            format!(
                "{} ({}/{})",
                self.host_name, self.web_db_site, self.web_db_instance
            )
        } else {
            self.host_name.clone()
        }
    }
}

impl Asset {
    /// Whether the asset holds this target.
    pub fn has_target(&self, spec: &TargetSpec) -> bool {
        self.targets.iter().any(|(target, _)| target == spec)
    }

    /// Whether targets of `kind` belong to assets like this one (configured by the same
    /// option): a rule of such a kind that was not assessed is not assessed here, not
    /// inapplicable.
    pub fn class_has(&self, kind: TargetKind) -> bool {
        kind.registration().asset_class() == self.class
    }

    /// The kind of its first target: `ucp`, `dtr`, `host`.
    pub fn kind_label(&self) -> String {
        self.targets
            .first()
            .map(|(spec, _)| spec.kind.to_string())
            .unwrap_or_default()
    }

    /// `ucp https://… (UCP 3.2.5)` for each target, for messages and TARGET_COMMENT.
    pub fn describe_targets(&self) -> String {
        self.targets
            .iter()
            .map(|(spec, product)| match product {
                Some(product) => format!("{} ({product})", spec.label()),
                None => spec.label(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A node's host name from `etc/hostname` under its root, when the file says one (the
    /// only I/O of building checklists; the Markdown report does without).
    pub fn read_host_name(&mut self) {
        let Some((spec, _)) = self.targets.first() else {
            return;
        };
        if spec.endpoint.contains("://") {
            return;
        }
        let read = std::fs::read_to_string(Path::new(&spec.endpoint).join("etc/hostname"))
            .ok()
            .and_then(|text| text.lines().next().map(|line| line.trim().to_string()))
            .filter(|name| !name.is_empty() && !name.contains(char::is_whitespace));
        if let Some(name) = read {
            self.data.host_fqdn = if name.contains('.') {
                name.clone()
            } else {
                String::new()
            };
            self.data.host_name = name;
            self.file_name = format!(
                "{}-{}",
                self.kind_label(),
                super::sanitize(&self.data.host_name)
            );
        }
    }
}

/// The assets of a plan, in the plan's target order.
pub fn assets(plan: &Plan) -> Vec<Asset> {
    let mut assets: Vec<Asset> = Vec::new();
    let site = cluster_site(plan);
    for target in &plan.targets {
        let class = target.spec.kind.registration().asset_class();
        let product = target.product.clone();
        if let Some(asset) = assets.iter_mut().find(|asset| {
            asset.class == class
                && asset
                    .targets
                    .first()
                    .is_some_and(|(spec, _)| spec.endpoint == target.spec.endpoint)
        }) {
            asset.targets.push((target.spec.clone(), product));
            continue;
        }
        let mut asset = Asset {
            key: target.spec.id(),
            class,
            targets: vec![(target.spec.clone(), product)],
            file_name: String::new(),
            data: AssetData::default(),
        };
        asset.data = describe(&target.spec, site.as_deref());
        asset.file_name = format!(
            "{}-{}",
            target.spec.kind,
            super::sanitize(&match url_host(&target.spec.endpoint) {
                Some((host, Some(port))) => format!("{host}-{port}"),
                Some((host, None)) => host,
                None => asset.data.host_name.clone(),
            })
        );
        assets.push(asset);
    }
    for asset in &mut assets {
        asset.data.target_comment = format!("stigfix targets: {}", asset.describe_targets());
    }
    assets
}

/// The cluster's name for WEB_DB_SITE: the host (and port) of the first URL target in the run
/// (the UCP/MKE, read first), so the cluster and its registry share it.
fn cluster_site(plan: &Plan) -> Option<String> {
    plan.targets.iter().find_map(|target| {
        url_host(&target.spec.endpoint).map(|(host, port)| match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    })
}

/// Host and explicit port of a URL endpoint; `None` for a host root.
fn url_host(endpoint: &str) -> Option<(String, Option<u16>)> {
    let (_, rest) = endpoint.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|port| port.parse().ok());
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            Some((host.to_string(), port.parse().ok()))
        }
        _ => Some((authority.to_string(), None)),
    }
}

/// The asset data that follows from a target's endpoint.
fn describe(spec: &TargetSpec, site: Option<&str>) -> AssetData {
    let mut data = AssetData {
        role: "None".into(),
        asset_type: "Computing".into(),
        tech_area: "Application Review".into(),
        ..AssetData::default()
    };
    match url_host(&spec.endpoint) {
        Some((host, _)) => {
            if host.parse::<IpAddr>().is_ok() {
                data.host_ip = host.clone();
            } else if host.contains('.') {
                data.host_fqdn = host.clone();
            }
            data.host_name = host;
            data.web_or_database = true;
            data.web_db_site = site.unwrap_or_default().to_string();
            data.web_db_instance = spec.kind.to_string();
        }
        None => {
            data.role = "Member Server".into();
            let root = Path::new(&spec.endpoint);
            data.host_name = match root.file_name() {
                Some(name) => name.to_string_lossy().into_owned(),
                None => "localhost".to_string(),
            };
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_and_ports() {
        assert_eq!(
            url_host("https://ucp.example.mil"),
            Some(("ucp.example.mil".into(), None))
        );
        assert_eq!(
            url_host("https://127.0.0.1:8443/x"),
            Some(("127.0.0.1".into(), Some(8443)))
        );
        assert_eq!(url_host("https://[::1]:9"), Some(("::1".into(), Some(9))));
        assert_eq!(url_host("/mnt/node1"), None);
    }

    #[test]
    fn web_database_identity_and_filling() {
        let ucp = describe(
            &TargetSpec::new(TargetKind::parse("ucp").unwrap(), "https://ucp.example.mil"),
            Some("ucp.example.mil"),
        );
        assert_eq!(ucp.host_fqdn, "ucp.example.mil");
        assert!(ucp.web_or_database);
        assert_eq!(ucp.web_db_instance, "ucp");
        let mut person = AssetData {
            host_name: "UCP.example.mil".into(),
            host_mac: "00:11:22:33:44:55".into(),
            web_or_database: true,
            web_db_site: "ucp.example.mil".into(),
            web_db_instance: "ucp".into(),
            ..AssetData::default()
        };
        assert!(person.same_asset(&ucp));
        person.fill_from(&ucp);
        assert_eq!(person.host_mac, "00:11:22:33:44:55");
        assert_eq!(person.role, "None");
        let node = describe(
            &TargetSpec::new(TargetKind::parse("host").unwrap(), "/mnt/node1"),
            None,
        );
        assert_eq!(node.host_name, "node1");
        assert!(!node.web_or_database);
        assert!(!node.same_asset(&ucp));
    }
}
