//! The site file (`stigfix.toml`): endpoints, organisation-defined values and waivers.
//!
//! ```toml
//! ucp_url = "https://ucp.example.mil"
//! username = "admin"
//! ca_cert = "/etc/pki/dod-root-bundle.pem"
//!
//! [variables]
//! session_per_user_limit = 3
//! require_signature_from = ["security/signers"]
//!
//! [[waivers]]
//! rule = "DKER-EE-002180"
//! justification = "LDAP is the enterprise identity provider; SAML is not used."
//! approver = "ISSM J. Smith"
//! ticket = "CHG-1234"
//! expires = 2027-06-30
//! ```
//!
//! Many clusters are listed as `[[clusters]]` ([`clusters`]); then `ucp_url`, `dtr_url` and
//! `host_root` belong in the entries, and `username` and `ca_cert` at the top are defaults.

pub mod clusters;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::Item;

use crate::error::{Error, IoContext, Location, Result, line_column};
use crate::playbook;

/// A waiver: a rule the organisation accepted the risk of, until a date.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Waiver {
    pub rule: String,
    pub justification: String,
    pub approver: Option<String>,
    pub ticket: Option<String>,
    /// Last day the waiver holds (inclusive); `None` = no expiry.
    #[serde(serialize_with = "serialize_date")]
    pub expires: Option<time::Date>,
    #[serde(skip)]
    pub location: Location,
}

fn serialize_date<S: serde::Serializer>(
    date: &Option<time::Date>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match date {
        Some(date) => serializer.collect_str(date),
        None => serializer.serialize_none(),
    }
}

impl Waiver {
    pub fn is_expired(&self, today: time::Date) -> bool {
        self.expires.is_some_and(|expires| today > expires)
    }
}

/// The parsed site file. Every field is optional; flags and environment win over it.
#[derive(Clone, Debug, Default)]
pub struct SiteFile {
    pub path: Option<PathBuf>,
    pub ucp_url: Option<String>,
    pub dtr_url: Option<String>,
    pub host_root: Option<PathBuf>,
    pub username: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub snapshot_dir: Option<PathBuf>,
    pub playbooks: Vec<PathBuf>,
    /// `workload = false`: leave the cluster's containers out of runs (the `workload` target).
    pub workload: Option<bool>,
    /// `client_bundle = "…"`: the MKE client bundle the workload target reads pods with.
    pub client_bundle: Option<PathBuf>,
    pub variables: BTreeMap<String, (toml::Value, Location)>,
    pub waivers: Vec<Waiver>,
    /// The inventory (`[[clusters]]`); empty when the file describes one cluster.
    pub clusters: Vec<clusters::Cluster>,
    /// Where the value of each top-level key is (`file:line:col`), for messages about it.
    pub value_locations: BTreeMap<String, Location>,
}

const KNOWN_KEYS: &[&str] = &[
    "ucp_url",
    "dtr_url",
    "host_root",
    "username",
    "ca_cert",
    "snapshot_dir",
    "playbooks",
    "workload",
    "client_bundle",
    "variables",
    "waivers",
    "clusters",
];

impl SiteFile {
    /// Read and validate a site file. Relative paths inside it are relative to its folder.
    pub fn load(path: &Path) -> Result<SiteFile> {
        let text = std::fs::read_to_string(path).with_path("read site file", path)?;
        SiteFile::parse(&text, path)
    }

    /// Read an inventory file (`--inventory`): `[[clusters]]` entries and nothing else.
    pub fn load_inventory(path: &Path) -> Result<Vec<clusters::Cluster>> {
        let text = std::fs::read_to_string(path).with_path("read inventory", path)?;
        let site = SiteFile::parse(&text, path)?;
        if let Some((key, location)) = site
            .value_locations
            .iter()
            .find(|(key, _)| key.as_str() != "clusters")
        {
            return Err(Error::new(format!(
                "{location}: `{key}` in an inventory file: it holds [[clusters]] entries only; `{key}` belongs in the site file"
            ))
            .with_hint("the inventory is documented in README.md (\"Fleets\")"));
        }
        if site.clusters.is_empty() {
            return Err(Error::new(format!(
                "{}: the inventory lists no [[clusters]]",
                path.display()
            ))
            .with_hint("the inventory is documented in README.md (\"Fleets\")"));
        }
        Ok(site.clusters)
    }

    pub fn parse(text: &str, path: &Path) -> Result<SiteFile> {
        let location = |span: Option<Range<usize>>| {
            let (line, column) = line_column(text, span.map_or(0, |span| span.start));
            Location {
                file: path.to_path_buf(),
                line,
                column,
            }
        };
        let hint = "the site file is documented in README.md (\"The site file\")";
        let document = toml_edit::Document::parse(text).map_err(|error| {
            Error::new(format!(
                "{}: invalid TOML: {}",
                location(error.span()),
                error.message().trim()
            ))
            .with_hint(hint)
        })?;
        let mut problems = Vec::new();
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut site = SiteFile {
            path: Some(path.to_path_buf()),
            ..SiteFile::default()
        };
        let root = document.as_table();
        for (key, item) in root.iter() {
            let key_span = root.key(key).and_then(toml_edit::Key::span);
            site.value_locations
                .insert(key.to_string(), location(item.span()));
            let string = |problems: &mut Vec<String>| -> Option<String> {
                match item.as_str() {
                    Some(text) => Some(text.to_string()),
                    None => {
                        problems.push(format!(
                            "{}: `{key}` must be a string",
                            location(item.span())
                        ));
                        None
                    }
                }
            };
            match key {
                "ucp_url" => site.ucp_url = string(&mut problems),
                "dtr_url" => site.dtr_url = string(&mut problems),
                "username" => site.username = string(&mut problems),
                "host_root" => site.host_root = string(&mut problems).map(|p| base.join(p)),
                "ca_cert" => site.ca_cert = string(&mut problems).map(|p| base.join(p)),
                "snapshot_dir" => site.snapshot_dir = string(&mut problems).map(|p| base.join(p)),
                "client_bundle" => {
                    site.client_bundle = string(&mut problems).map(|p| base.join(p));
                }
                "workload" => match item.as_bool() {
                    Some(on) => site.workload = Some(on),
                    None => problems.push(format!(
                        "{}: `workload` must be true or false",
                        location(item.span())
                    )),
                },
                "playbooks" => match item.as_array() {
                    Some(array) if array.iter().all(|value| value.as_str().is_some()) => {
                        site.playbooks = array
                            .iter()
                            .filter_map(|value| value.as_str().map(|p| base.join(p)))
                            .collect();
                    }
                    _ => problems.push(format!(
                        "{}: `playbooks` must be an array of paths",
                        location(item.span())
                    )),
                },
                "variables" => match item.as_table_like() {
                    Some(table) => {
                        for (name, value) in table.iter() {
                            match playbook::parse_item_value(value) {
                                Some(plain) => {
                                    let span = table.key(name).and_then(toml_edit::Key::span);
                                    site.variables
                                        .insert(name.to_string(), (plain, location(span)));
                                }
                                None => problems.push(format!(
                                    "{}: variable `{name}` must be a value",
                                    location(value.span())
                                )),
                            }
                        }
                    }
                    None => problems.push(format!(
                        "{}: `variables` must be a table",
                        location(item.span())
                    )),
                },
                "waivers" => match item.as_array_of_tables() {
                    Some(tables) => {
                        for table in tables.iter() {
                            match waiver(table, &location) {
                                Ok(waiver) => {
                                    // One waiver a rule: with two, which one holds is a guess.
                                    match site.waivers.iter().find(|w| w.rule == waiver.rule) {
                                        Some(first) => problems.push(format!(
                                            "{}: a second waiver for {} (the first is at {}): keep one",
                                            waiver.location, waiver.rule, first.location
                                        )),
                                        None => site.waivers.push(waiver),
                                    }
                                }
                                Err(problem) => problems.push(problem),
                            }
                        }
                    }
                    None => problems.push(format!(
                        "{}: `waivers` must be an array of tables ([[waivers]])",
                        location(item.span())
                    )),
                },
                "clusters" => {
                    site.clusters = clusters::parse(item, base, &location, &mut problems);
                }
                _ => problems.push(format!(
                    "{}: unknown key `{key}` in the site file (expected one of: {})",
                    location(key_span),
                    KNOWN_KEYS.join(", ")
                )),
            }
        }
        if !site.clusters.is_empty() {
            // A client bundle names its cluster's Kubernetes API: one for every cluster would
            // read one cluster's pods for all of them.
            for key in ["ucp_url", "dtr_url", "host_root", "client_bundle"] {
                if let Some(location) = site.value_locations.get(key) {
                    problems.push(format!(
                        "{location}: `{key}` at the top of a file with [[clusters]]: each cluster names its own endpoints; move it into a [[clusters]] entry"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(site)
        } else {
            Err(Error::new(problems.join("\n")).with_hint(hint))
        }
    }
}

fn waiver(
    table: &toml_edit::Table,
    location: &dyn Fn(Option<Range<usize>>) -> Location,
) -> std::result::Result<Waiver, String> {
    let here = location(table.span());
    for (key, _) in table.iter() {
        if !["rule", "justification", "approver", "ticket", "expires"].contains(&key) {
            let span = table.key(key).and_then(toml_edit::Key::span);
            return Err(format!(
                "{}: unknown key `{key}` in a waiver (expected rule, justification, approver, ticket, expires)",
                location(span)
            ));
        }
    }
    let text = |key: &str| table.get(key).and_then(Item::as_str).map(str::to_string);
    let rule = text("rule").ok_or_else(|| format!("{here}: a waiver needs `rule` (a STIG ID)"))?;
    let justification = text("justification")
        .filter(|justification| !justification.trim().is_empty())
        .ok_or_else(|| format!("{here}: the waiver for {rule} needs a `justification`"))?;
    let approver = text("approver");
    let ticket = text("ticket");
    if approver.is_none() && ticket.is_none() {
        return Err(format!(
            "{here}: the waiver for {rule} needs an `approver` or a `ticket`"
        ));
    }
    let expires = match table.get("expires") {
        None => None,
        Some(item) => {
            let shown = item
                .as_value()
                .map(|value| value.to_string())
                .unwrap_or_default();
            let date = item
                .as_value()
                .and_then(|value| match value {
                    toml_edit::Value::Datetime(datetime) => datetime.value().date,
                    _ => None,
                })
                .and_then(|date| {
                    time::Month::try_from(date.month).ok().and_then(|month| {
                        time::Date::from_calendar_date(i32::from(date.year), month, date.day).ok()
                    })
                });
            Some(date.ok_or_else(|| {
                format!(
                    "{}: `expires` of the waiver for {rule} must be a date like 2027-06-30, not{shown}",
                    location(item.span())
                )
            })?)
        }
    };
    Ok(Waiver {
        rule,
        justification,
        approver,
        ticket,
        expires,
        location: here,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_site_file() {
        let text = "ucp_url = \"https://ucp.example.mil\"\nca_cert = \"ca.pem\"\n[variables]\nsession_per_user_limit = 3\n[[waivers]]\nrule = \"DKER-EE-002180\"\njustification = \"LDAP is used\"\nticket = \"CHG-1\"\nexpires = 2027-06-30\n";
        let site = SiteFile::parse(text, Path::new("/etc/stigfix/stigfix.toml")).unwrap();
        assert_eq!(site.ucp_url.as_deref(), Some("https://ucp.example.mil"));
        assert_eq!(
            site.value_locations["ucp_url"].to_string(),
            "/etc/stigfix/stigfix.toml:1:11"
        );
        assert_eq!(site.ca_cert, Some(PathBuf::from("/etc/stigfix/ca.pem")));
        assert_eq!(
            site.variables["session_per_user_limit"].0,
            toml::Value::Integer(3)
        );
        let waiver = &site.waivers[0];
        assert_eq!(waiver.expires, Some(time::macros::date!(2027 - 06 - 30)));
        assert!(!waiver.is_expired(time::macros::date!(2027 - 06 - 30)));
        assert!(waiver.is_expired(time::macros::date!(2027 - 07 - 01)));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let error = SiteFile::parse("ucp_url = \"x\"\nucp_ulr = \"y\"\n", Path::new("site.toml"))
            .unwrap_err();
        assert!(
            error
                .message()
                .starts_with("site.toml:2:1: unknown key `ucp_ulr`"),
            "{}",
            error.message()
        );
        let error = SiteFile::parse(
            "[[waivers]]\nrule = \"DKER-EE-002180\"\njustification = \"x\"\n",
            Path::new("site.toml"),
        )
        .unwrap_err();
        assert!(
            error
                .message()
                .contains("needs an `approver` or a `ticket`")
        );
    }

    #[test]
    fn two_waivers_for_one_rule_are_an_error_naming_both() {
        let waiver = "[[waivers]]\nrule = \"DKER-EE-002180\"\njustification = \"LDAP\"\nticket = \"CHG-1\"\n";
        let other =
            "[[waivers]]\nrule = \"DKER-EE-001000\"\njustification = \"SSP\"\nticket = \"CHG-2\"\n";
        let error = SiteFile::parse(&format!("{waiver}{other}{waiver}"), Path::new("site.toml"))
            .unwrap_err();
        assert_eq!(
            error.message(),
            "site.toml:9:1: a second waiver for DKER-EE-002180 (the first is at site.toml:1:1): keep one"
        );
        let site = SiteFile::parse(&format!("{waiver}{other}"), Path::new("site.toml")).unwrap();
        assert_eq!(site.waivers.len(), 2);
    }
}
