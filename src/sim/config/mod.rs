//! The simulated UCP/MKE configuration (`config-toml`): a schema of known keys, the
//! PUT-style parser (type checks, defaults for omitted keys, unknown keys dropped,
//! validation) and the canonical rendering served by `GET /api/ucp/config-toml`.
//!
//! Behaviour that the sources leave open (docs/reference/api-facts.md §5 items 3, 4) is decided here:
//! - A PUT replaces the whole document: every known key left out falls back to its default
//!   (UNCONFIRMED, docs/reference/api-facts.md §2.4 / §5 item 4).
//! - Unknown keys and sections are silently dropped, including `[auth.ldap]` (which real UCP
//!   never exports, docs/reference/api-facts.md §1.2) and the STIG spelling `min_TLS_version` (docs/reference/api-facts.md §5 item 6).
//! - A known key with the wrong TOML type is rejected, naming the key (UNCONFIRMED).
//! - The rendering imitates the Go TOML encoder seen in sample B (docs/reference/api-facts.md §1.5 B):
//!   2-space indentation per nesting level, keys sorted, every known table present.

mod render;
mod schema;
#[cfg(test)]
mod tests;

use schema::{Avail, Def, KeyDef, Kind, REGISTRY_KEYS, TABLES, TableDef, Val};

/// The release a simulated UCP/MKE is: which keys its configuration schema has, their defaults,
/// and what `GET /version` answers (docs/reference/api-facts.md §1.2 and §2.5; docs/reference/next-phase.md §5.2
/// for MKE 4k).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UcpRelease {
    /// UCP 3.1: the UCP 3.0/3.1 reference (S2) — `cluster_config.min_tls_version`, session
    /// defaults 4320/1440/5, none of the MKE additions.
    Ucp31,
    /// UCP 3.3: the UCP 3.2/3.3 reference — no `min_tls_version`, session defaults 60/20/10.
    Ucp33,
    /// MKE 3.7: the MKE 3.x reference (S5, S6) — no `min_tls_version`; `pre_logon_message`,
    /// `secure_overlay`, `[backup_schedule_config]`, `[hardening_configuration]`, …
    #[default]
    Mke37,
    /// MKE 4k (k0s): no UCP controller API at all; `GET /version` is Kubernetes'.
    Mke4,
}

impl UcpRelease {
    /// The releases with a config-toml, oldest first.
    pub const WITH_CONFIG_TOML: [UcpRelease; 3] =
        [UcpRelease::Ucp31, UcpRelease::Ucp33, UcpRelease::Mke37];

    /// The version `GET /version` reports after `ucp/`.
    pub fn version(self) -> &'static str {
        match self {
            UcpRelease::Ucp31 => "3.1.15",
            UcpRelease::Ucp33 => "3.3.5",
            UcpRelease::Mke37 => "3.7.3",
            UcpRelease::Mke4 => "4.1.0",
        }
    }

    /// Whether the product is called MKE (3.4 on) rather than UCP.
    pub fn has_mke_name(self) -> bool {
        matches!(self, UcpRelease::Mke37 | UcpRelease::Mke4)
    }

    /// Whether keys or tables marked `avail` exist in this release.
    fn has(self, avail: Avail) -> bool {
        match avail {
            Avail::All => true,
            Avail::UpToUcp31 => self == UcpRelease::Ucp31,
            Avail::Mke => matches!(self, UcpRelease::Mke37 | UcpRelease::Mke4),
        }
    }

    fn has_key(self, table: &TableDef, key: &KeyDef) -> bool {
        self.has(table.avail) && self.has(key.avail)
    }

    /// A key's default in this release: UCP 3.0/3.1 session defaults differ (docs/reference/api-facts.md §1.2
    /// `[auth.sessions]`, "UCP 3.0/3.1 docs" column).
    fn default_of(self, table: &TableDef, key: &KeyDef) -> Val {
        if self == UcpRelease::Ucp31 && table.path == "auth.sessions" {
            let old = match key.name {
                "lifetime_minutes" => Some(4320),
                "renewal_threshold_minutes" => Some(1440),
                "per_user_limit" => Some(5),
                _ => None,
            };
            if let Some(value) = old {
                return Def::Int(value).value();
            }
        }
        key.default.value()
    }
}

/// The validated configuration held by the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UcpConfig {
    release: UcpRelease,
    /// `values[t][k]` is the value of `TABLES[t].keys[k]` (the default where the release has
    /// no such key: it is neither read nor rendered).
    values: Vec<Vec<Val>>,
    /// `[[registries]]` entries, values in `REGISTRY_KEYS` order.
    registries: Vec<[String; 3]>,
}

impl UcpConfig {
    /// Every key at its default.
    pub(crate) fn new(release: UcpRelease) -> Self {
        UcpConfig {
            release,
            values: TABLES
                .iter()
                .map(|t| t.keys.iter().map(|k| release.default_of(t, k)).collect())
                .collect(),
            registries: Vec::new(),
        }
    }

    pub(crate) fn release(&self) -> UcpRelease {
        self.release
    }
}

impl Default for UcpConfig {
    fn default() -> Self {
        UcpConfig::new(UcpRelease::default())
    }
}

fn type_mismatch(path: &str, expected: &str, found: &toml::Value) -> String {
    format!("{path}: expected {expected}, found {}", found.type_str())
}

/// Finds the table at `path` in `doc`: `Ok(None)` when absent, an error naming the first
/// path element that exists but is not a table.
fn lookup_table<'a>(doc: &'a toml::Table, path: &str) -> Result<Option<&'a toml::Table>, String> {
    let mut current = doc;
    let mut seen = String::new();
    for seg in path.split('.') {
        if !seen.is_empty() {
            seen.push('.');
        }
        seen.push_str(seg);
        match current.get(seg) {
            None => return Ok(None),
            Some(toml::Value::Table(t)) => current = t,
            Some(other) => return Err(type_mismatch(&seen, "table", other)),
        }
    }
    Ok(Some(current))
}

fn convert(path: &str, kind: Kind, value: &toml::Value) -> Result<Val, String> {
    match (kind, value) {
        (Kind::Bool, toml::Value::Boolean(b)) => Ok(Val::Bool(*b)),
        (Kind::Int, toml::Value::Integer(i)) => Ok(Val::Int(*i)),
        (Kind::Str, toml::Value::String(s)) => Ok(Val::Str(s.clone())),
        (Kind::StrList, toml::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(n, item)| match item {
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(type_mismatch(&format!("{path}[{n}]"), "string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Val::StrList),
        (kind, other) => Err(type_mismatch(path, kind.describe(), other)),
    }
}

impl UcpConfig {
    /// Parses a whole TOML document the way `PUT /api/ucp/config-toml` does
    /// (docs/reference/api-facts.md §2.4): invalid TOML, a wrongly typed known key or a failed validation
    /// give an error message; omitted known keys take their defaults; unknown keys are dropped.
    pub(crate) fn parse(text: &str, release: UcpRelease) -> Result<UcpConfig, String> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| format!("invalid TOML: {}", e.to_string().trim_end()))?;
        let mut values = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let given = lookup_table(&doc, table.path)?;
            let mut row = Vec::with_capacity(table.keys.len());
            for key in table.keys {
                let value = match given.and_then(|t| t.get(key.name)) {
                    // A key this release does not have is dropped like any unknown key.
                    _ if !release.has_key(table, key) => release.default_of(table, key),
                    None => release.default_of(table, key),
                    Some(v) => convert(
                        &format!("{}.{}", table.path, key.name),
                        key.default.kind(),
                        v,
                    )?,
                };
                row.push(value);
            }
            values.push(row);
        }
        let registries = parse_registries(&doc)?;
        let config = UcpConfig {
            release,
            values,
            registries,
        };
        config.validate()?;
        Ok(config)
    }

    /// Value checks of docs/reference/api-facts.md §1.2 and §2.2. The exact rules and messages of real MKE are
    /// UNCONFIRMED (docs/reference/api-facts.md §5 item 4).
    fn validate(&self) -> Result<(), String> {
        let lifetime = self.int("auth.sessions", "lifetime_minutes");
        if lifetime < 10 {
            return Err(format!(
                "auth.sessions.lifetime_minutes: must be at least 10, got {lifetime}"
            ));
        }
        let renewal = self.int("auth.sessions", "renewal_threshold_minutes");
        if renewal != 0 && (renewal < 0 || renewal > lifetime - 5) {
            return Err(format!(
                "auth.sessions.renewal_threshold_minutes: must be 0 or between 1 and \
                 lifetime_minutes - 5 ({}), got {renewal}",
                lifetime - 5
            ));
        }
        let level = self.str("audit_log_configuration", "level");
        if !matches!(level, "" | "metadata" | "request") {
            return Err(format!(
                "audit_log_configuration.level: must be one of \"\", \"metadata\", \"request\", \
                 got {level:?}"
            ));
        }
        let backend = self.str("auth", "backend");
        if !matches!(backend, "managed" | "ldap") {
            return Err(format!(
                "auth.backend: must be \"managed\" or \"ldap\", got {backend:?}"
            ));
        }
        Ok(())
    }

    fn find(&self, table: &str, key: &str) -> Option<&Val> {
        let t = TABLES.iter().position(|t| t.path == table)?;
        let k = TABLES[t].keys.iter().position(|k| k.name == key)?;
        self.values.get(t)?.get(k)
    }

    fn int(&self, table: &str, key: &str) -> i64 {
        match self.find(table, key) {
            Some(Val::Int(i)) => *i,
            _ => 0,
        }
    }

    fn str(&self, table: &str, key: &str) -> &str {
        match self.find(table, key) {
            Some(Val::Str(s)) => s,
            _ => "",
        }
    }
}

fn parse_registries(doc: &toml::Table) -> Result<Vec<[String; 3]>, String> {
    let Some(value) = doc.get("registries") else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(items) = value else {
        return Err(type_mismatch("registries", "array of tables", value));
    };
    items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let toml::Value::Table(t) = item else {
                return Err(type_mismatch(&format!("registries[{n}]"), "table", item));
            };
            let mut entry: [String; 3] = Default::default();
            for (slot, name) in entry.iter_mut().zip(REGISTRY_KEYS) {
                match t.get(name) {
                    None => {}
                    Some(toml::Value::String(s)) => slot.clone_from(s),
                    Some(other) => {
                        return Err(type_mismatch(
                            &format!("registries[{n}].{name}"),
                            "string",
                            other,
                        ));
                    }
                }
            }
            Ok(entry)
        })
        .collect()
}
