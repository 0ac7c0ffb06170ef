//! The simulated UCP/MKE configuration (`config-toml`): a schema of known keys, the
//! PUT-style parser (type checks, defaults for omitted keys, unknown keys dropped,
//! validation) and the canonical rendering served by `GET /api/ucp/config-toml`.
//!
//! Behaviour that the sources leave open (api-facts §5 items 3, 4) is decided here:
//! - A PUT replaces the whole document: every known key left out falls back to its default
//!   (UNCONFIRMED, api-facts §2.4 / §5 item 4).
//! - Unknown keys and sections are silently dropped, including `[auth.ldap]` (which real UCP
//!   never exports, api-facts §1.2) and the STIG spelling `min_TLS_version` (api-facts §5 item 6).
//! - A known key with the wrong TOML type is rejected, naming the key (UNCONFIRMED).
//! - The rendering imitates the Go TOML encoder seen in sample B (api-facts §1.5 B):
//!   2-space indentation per nesting level, keys sorted, every known table present.

use std::fmt::Write as _;

/// The TOML type of a known key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Str,
    StrList,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Bool => "boolean",
            Kind::Int => "integer",
            Kind::Str => "string",
            Kind::StrList => "array of strings",
        }
    }
}

/// A default value in the schema.
#[derive(Clone, Copy, Debug)]
enum Def {
    Bool(bool),
    Int(i64),
    Str(&'static str),
    /// Arrays of strings default to empty in every known case.
    EmptyList,
}

impl Def {
    fn kind(self) -> Kind {
        match self {
            Def::Bool(_) => Kind::Bool,
            Def::Int(_) => Kind::Int,
            Def::Str(_) => Kind::Str,
            Def::EmptyList => Kind::StrList,
        }
    }

    fn value(self) -> Val {
        match self {
            Def::Bool(b) => Val::Bool(b),
            Def::Int(i) => Val::Int(i),
            Def::Str(s) => Val::Str(s.to_owned()),
            Def::EmptyList => Val::StrList(Vec::new()),
        }
    }
}

/// A stored value of a known key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Val {
    Bool(bool),
    Int(i64),
    Str(String),
    StrList(Vec<String>),
}

struct KeyDef {
    name: &'static str,
    default: Def,
}

struct TableDef {
    /// Dotted path of the table, e.g. `auth.sessions`.
    path: &'static str,
    keys: &'static [KeyDef],
}

const fn b(name: &'static str, v: bool) -> KeyDef {
    KeyDef {
        name,
        default: Def::Bool(v),
    }
}
const fn i(name: &'static str, v: i64) -> KeyDef {
    KeyDef {
        name,
        default: Def::Int(v),
    }
}
const fn s(name: &'static str, v: &'static str) -> KeyDef {
    KeyDef {
        name,
        default: Def::Str(v),
    }
}
const fn l(name: &'static str) -> KeyDef {
    KeyDef {
        name,
        default: Def::EmptyList,
    }
}

/// Known tables in rendering order. A parent table always comes before its children, and
/// children directly follow their top-level table. Defaults are the MKE 3.x column of
/// api-facts §1.2.
const TABLES: &[TableDef] = &[
    // api-facts §1.2 `[auth]`
    TableDef {
        path: "auth",
        keys: &[
            s("backend", "managed"),
            s("default_new_user_role", "restrictedcontrol"),
            b("samlEnabled", false),
            s("samlLoginText", ""),
            b("scimEnabled", false),
            b("managedPasswordDisabled", false),
            s("managedPasswordFallbackUser", ""),
        ],
    },
    // api-facts §1.2 `[auth.sessions]` (MKE 3.x / UCP >= 3.2 defaults)
    TableDef {
        path: "auth.sessions",
        keys: &[
            i("lifetime_minutes", 60),
            i("renewal_threshold_minutes", 20),
            i("per_user_limit", 10),
            b("store_token_per_session", false),
        ],
    },
    // api-facts §1.2 `[auth.saml]`
    TableDef {
        path: "auth.saml",
        keys: &[
            s("idpMetadataURL", ""),
            s("spHost", ""),
            s("rootCerts", ""),
            b("tlsSkipVerify", false),
        ],
    },
    // api-facts §1.2 `[auth.account_lock]`
    TableDef {
        path: "auth.account_lock",
        keys: &[
            b("enabled", false),
            i("failureTrigger", 0),
            i("durationSeconds", 0),
        ],
    },
    // api-facts §1.2 `[auth.samlProxy]` (seen only in mkectl output, S6)
    TableDef {
        path: "auth.samlProxy",
        keys: &[b("enabled", false), s("proxy_url", "")],
    },
    TableDef {
        path: "auth.samlProxy.credentials",
        keys: &[],
    },
    // `password` is a secret, exported in plaintext (api-facts §1.3).
    TableDef {
        path: "auth.samlProxy.credentials.basic",
        keys: &[s("user", ""), s("password", "")],
    },
    // api-facts §1.2 `[hardening_configuration]`
    TableDef {
        path: "hardening_configuration",
        keys: &[
            b("hardening_enabled", false),
            b("limit_kernel_capabilities", false),
            i("pid_limit", 0),
            b("pid_limit_unspecified", true),
            b("use_strong_tls_ciphers", false),
        ],
    },
    // api-facts §1.2 `[audit_log_configuration]`; the docs spelling
    // `support_dump_include_audit_logs` is used (api-facts §5 item 7).
    TableDef {
        path: "audit_log_configuration",
        keys: &[s("level", ""), b("support_dump_include_audit_logs", false)],
    },
    // api-facts §1.2 `[scheduling_configuration]`
    TableDef {
        path: "scheduling_configuration",
        keys: &[
            b("enable_admin_ucp_scheduling", false),
            s("default_node_orchestrator", "swarm"),
        ],
    },
    // api-facts §1.2 `[tracking_configuration]`
    TableDef {
        path: "tracking_configuration",
        keys: &[
            b("disable_usageinfo", false),
            b("disable_tracking", false),
            b("anonymize_tracking", false),
            s("cluster_label", ""),
            b("ops_care", false),
        ],
    },
    // api-facts §1.2 `[trust_configuration]`
    TableDef {
        path: "trust_configuration",
        keys: &[
            b("require_content_trust", false),
            l("require_signature_from"),
            l("allow_repos"),
        ],
    },
    // api-facts §1.2 `[log_configuration]`
    TableDef {
        path: "log_configuration",
        keys: &[s("protocol", "tcp"), s("host", ""), s("level", "INFO")],
    },
    // api-facts §1.2 `[license_configuration]`
    TableDef {
        path: "license_configuration",
        keys: &[b("auto_refresh", true), b("omit_telemetry", false)],
    },
    // api-facts §1.2 `[backup_schedule_config]`, S6 spellings (api-facts §5 item 8);
    // `passphrase` is a secret, exported in plaintext (api-facts §1.3).
    TableDef {
        path: "backup_schedule_config",
        keys: &[
            b("enabled", false),
            s("path", ""),
            b("no_passphrase", false),
            s("passphrase", ""),
            s("cron_spec", ""),
            b("include_logs", false),
            i("notification_delay", 7),
            i("backups_limit", 30),
        ],
    },
    // api-facts §1.2 `[pki]`
    TableDef {
        path: "pki",
        keys: &[s("client_ca_bundle", "")],
    },
    // api-facts §1.2 `[cluster_config]`. `min_tls_version` uses the docs spelling; the STIG's
    // `min_TLS_version` is UNCONFIRMED (api-facts §5 item 6) and dropped like any unknown key.
    TableDef {
        path: "cluster_config",
        keys: &[
            i("controller_port", 443),
            i("kube_apiserver_port", 6443),
            i("swarm_port", 2376),
            s("swarm_strategy", "spread"),
            l("dns"),
            l("dns_opt"),
            l("dns_search"),
            b("profiling_enabled", false),
            i("kv_timeout", 5000),
            i("kv_snapshot_count", 20000),
            s("external_service_lb", ""),
            s("metrics_retention_time", ""),
            s("metrics_scrape_interval", "1m"),
            s("rethinkdb_cache_size", "1GB"),
            b("exclude_server_identity_headers", false),
            s("cloud_provider", ""),
            s("pod_cidr", "192.168.0.0/16"),
            s("service_cluster_ip_range", "10.96.0.0/16"),
            s("nodeport_range", "32768-35535"),
            s("min_tls_version", ""),
            b("secure_overlay", false),
            s("pre_logon_message", ""),
            l("custom_kube_api_server_flags"),
            s("cipher_suites_for_kube_api_server", ""),
            b("kube_protect_kernel_defaults", false),
            b("kube_api_server_auditing", false),
        ],
    },
];

/// Keys of one `[[registries]]` entry (api-facts §1.2), all strings. Missing keys are stored
/// as `""` and rendered, as a Go struct encoder would (UNCONFIRMED).
const REGISTRY_KEYS: [&str; 3] = ["ca_bundle", "host_address", "service_id"];

/// The validated configuration held by the simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UcpConfig {
    /// `values[t][k]` is the value of `TABLES[t].keys[k]`.
    values: Vec<Vec<Val>>,
    /// `[[registries]]` entries, values in `REGISTRY_KEYS` order.
    registries: Vec<[String; 3]>,
}

impl Default for UcpConfig {
    fn default() -> Self {
        UcpConfig {
            values: TABLES
                .iter()
                .map(|t| t.keys.iter().map(|k| k.default.value()).collect())
                .collect(),
            registries: Vec::new(),
        }
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
    /// (api-facts §2.4): invalid TOML, a wrongly typed known key or a failed validation
    /// give an error message; omitted known keys take their defaults; unknown keys are dropped.
    pub(crate) fn parse(text: &str) -> Result<UcpConfig, String> {
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| format!("invalid TOML: {}", e.to_string().trim_end()))?;
        let mut values = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let given = lookup_table(&doc, table.path)?;
            let mut row = Vec::with_capacity(table.keys.len());
            for key in table.keys {
                let value = match given.and_then(|t| t.get(key.name)) {
                    None => key.default.value(),
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
        let config = UcpConfig { values, registries };
        config.validate()?;
        Ok(config)
    }

    /// Value checks of api-facts §1.2 and §2.2. The exact rules and messages of real MKE are
    /// UNCONFIRMED (api-facts §5 item 4).
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

    /// The canonical rendering (api-facts §1.5 B, §5 item 3): every known table in schema
    /// order, keys sorted, 2-space indentation per nesting level, a blank line between
    /// top-level tables, `[[registries]]` entries last, a final newline.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for (n, (table, row)) in TABLES.iter().zip(&self.values).enumerate() {
            let depth = table.path.matches('.').count();
            if depth == 0 && n > 0 {
                out.push('\n');
            }
            let _ = writeln!(out, "{:indent$}[{}]", "", table.path, indent = depth * 2);
            let mut keys: Vec<(&str, &Val)> =
                table.keys.iter().map(|k| k.name).zip(row.iter()).collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            for (name, value) in keys {
                let _ = writeln!(
                    out,
                    "{:indent$}{name} = {}",
                    "",
                    render_value(value),
                    indent = (depth + 1) * 2
                );
            }
        }
        for entry in &self.registries {
            out.push_str("\n[[registries]]\n");
            for (name, value) in REGISTRY_KEYS.iter().zip(entry) {
                let _ = writeln!(out, "  {name} = {}", quote(value));
            }
        }
        out
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

fn render_value(value: &Val) -> String {
    match value {
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Str(s) => quote(s),
        Val::StrList(items) => {
            let inner: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", inner.join(", "))
        }
    }
}

/// A TOML basic string with the escapes the spec requires (`\"`, `\\`, control characters).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_toml(text: &str) -> toml::Table {
        text.parse().expect("valid TOML")
    }

    #[test]
    fn defaults_render_like_sample_b() {
        let text = UcpConfig::default().render();
        assert!(
            text.starts_with("[auth]\n  backend = \"managed\"\n"),
            "{text}"
        );
        assert!(text.contains("\n  [auth.sessions]\n    lifetime_minutes = 60\n"));
        assert!(text.contains(
            "\n    [auth.samlProxy.credentials]\n      [auth.samlProxy.credentials.basic]\n        password = \"\"\n        user = \"\"\n"
        ));
        assert!(
            text.contains("\n\n[cluster_config]\n  cipher_suites_for_kube_api_server = \"\"\n")
        );
        assert!(text.contains("  dns = []\n"));
        assert!(text.ends_with("\n") && !text.ends_with("\n\n"));
        // Every known table is present, in schema order.
        let mut pos = 0;
        for t in TABLES {
            let header = format!("[{}]\n", t.path);
            let found = text[pos..].find(&header).expect(t.path);
            pos += found + header.len();
        }
    }

    #[test]
    fn rendering_round_trips() {
        let banner = "You are accessing a U.S. Government (USG) Information System (IS).\n\n\
                      By using this IS, you consent to \"monitoring\" \\ C:\\path\ttab\u{1}";
        let input = format!(
            "[cluster_config]\npre_logon_message = {}\ndns = [\"8.8.8.8\", \"1.1.1.1\"]\n\
             [[registries]]\nhost_address = \"dtr.example.com:444\"\nca_bundle = \"-----BEGIN\\n\"\n",
            quote(banner)
        );
        let config = UcpConfig::parse(&input).expect("valid");
        let text = config.render();
        assert!(text.contains("\\n\\nBy using"), "{text}");
        let reparsed = parse_toml(&text);
        assert_eq!(
            reparsed["cluster_config"]["pre_logon_message"].as_str(),
            Some(banner)
        );
        assert_eq!(
            reparsed["registries"][0]["host_address"].as_str(),
            Some("dtr.example.com:444")
        );
        assert_eq!(reparsed["registries"][0]["service_id"].as_str(), Some(""));
        assert!(text.contains("\n[[registries]]\n  ca_bundle = \"-----BEGIN\\n\"\n"));
        assert_eq!(UcpConfig::parse(&text).expect("re-parse"), config);
        assert_eq!(UcpConfig::parse(&text).expect("re-parse").render(), text);
        // The default rendering round-trips too.
        let defaults = UcpConfig::default();
        assert_eq!(
            UcpConfig::parse(&defaults.render()).expect("defaults"),
            defaults
        );
    }

    #[test]
    fn omitted_keys_default_and_unknown_keys_drop() {
        let config = UcpConfig::parse(
            "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 0\n\
             [auth.ldap]\nreader_password = \"x\"\n[cluster_config]\nmin_TLS_version = \"TLSv1.2\"\n\
             [made_up]\nfoo = 1\n",
        )
        .expect("valid");
        let text = config.render();
        let doc = parse_toml(&text);
        assert_eq!(
            doc["auth"]["sessions"]["lifetime_minutes"].as_integer(),
            Some(10)
        );
        assert_eq!(
            doc["auth"]["sessions"]["per_user_limit"].as_integer(),
            Some(10)
        );
        assert_eq!(doc["auth"]["backend"].as_str(), Some("managed"));
        assert!(doc["auth"].get("ldap").is_none());
        assert!(doc["cluster_config"].get("min_TLS_version").is_none());
        assert_eq!(doc["cluster_config"]["min_tls_version"].as_str(), Some(""));
        assert!(doc.get("made_up").is_none());
    }

    #[test]
    fn type_errors_name_the_key() {
        let err = UcpConfig::parse("[auth.sessions]\nlifetime_minutes = \"10\"\n").unwrap_err();
        assert_eq!(
            err,
            "auth.sessions.lifetime_minutes: expected integer, found string"
        );
        let err = UcpConfig::parse("auth = 3\n").unwrap_err();
        assert_eq!(err, "auth: expected table, found integer");
        let err =
            UcpConfig::parse("[trust_configuration]\nallow_repos = [\"a\", 2]\n").unwrap_err();
        assert_eq!(
            err,
            "trust_configuration.allow_repos[1]: expected string, found integer"
        );
        let err = UcpConfig::parse("[trust_configuration]\nallow_repos = \"a\"\n").unwrap_err();
        assert_eq!(
            err,
            "trust_configuration.allow_repos: expected array of strings, found string"
        );
        let err = UcpConfig::parse("[registries]\nhost_address = \"x\"\n").unwrap_err();
        assert_eq!(err, "registries: expected array of tables, found table");
        let err = UcpConfig::parse("[[registries]]\nservice_id = 5\n").unwrap_err();
        assert_eq!(
            err,
            "registries[0].service_id: expected string, found integer"
        );
        let err = UcpConfig::parse("[auth\n").unwrap_err();
        assert!(err.starts_with("invalid TOML: "), "{err}");
    }

    #[test]
    fn validation_rules() {
        let bad = [
            "[auth.sessions]\nlifetime_minutes = 9\n",
            "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 6\n",
            "[auth.sessions]\nrenewal_threshold_minutes = -1\n",
            "[audit_log_configuration]\nlevel = \"Request\"\n",
            "[auth]\nbackend = \"saml\"\n",
        ];
        for text in bad {
            assert!(UcpConfig::parse(text).is_err(), "{text}");
        }
        let good = [
            "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 0\n",
            "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 5\n",
            "[audit_log_configuration]\nlevel = \"request\"\n",
            "[auth]\nbackend = \"ldap\"\n",
            "",
        ];
        for text in good {
            assert!(UcpConfig::parse(text).is_ok(), "{text}");
        }
    }
}
