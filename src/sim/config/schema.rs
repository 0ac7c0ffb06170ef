//! The schema of known keys: their tables, TOML types and defaults (docs/reference/api-facts.md §1.2).

/// The TOML type of a known key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Bool,
    Int,
    Str,
    StrList,
}

impl Kind {
    pub(super) fn describe(self) -> &'static str {
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
pub(super) enum Def {
    Bool(bool),
    Int(i64),
    Str(&'static str),
    /// Arrays of strings default to empty in every known case.
    EmptyList,
}

impl Def {
    pub(super) fn kind(self) -> Kind {
        match self {
            Def::Bool(_) => Kind::Bool,
            Def::Int(_) => Kind::Int,
            Def::Str(_) => Kind::Str,
            Def::EmptyList => Kind::StrList,
        }
    }

    pub(super) fn value(self) -> Val {
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
pub(super) enum Val {
    Bool(bool),
    Int(i64),
    Str(String),
    StrList(Vec<String>),
}

/// Which releases have a key or a table, from the source columns of docs/reference/api-facts.md §1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Avail {
    /// Every UCP 3.x and MKE 3.x release.
    All,
    /// Documented only by the UCP 3.0/3.1 reference (S2): `cluster_config.min_tls_version`.
    UpToUcp31,
    /// Documented by the MKE 3.x references (S5, S6) and not the UCP ones.
    Mke,
}

pub(super) struct KeyDef {
    pub(super) name: &'static str,
    pub(super) default: Def,
    pub(super) avail: Avail,
}

pub(super) struct TableDef {
    /// Dotted path of the table, e.g. `auth.sessions`.
    pub(super) path: &'static str,
    pub(super) keys: &'static [KeyDef],
    pub(super) avail: Avail,
}

const fn b(name: &'static str, v: bool) -> KeyDef {
    KeyDef {
        name,
        default: Def::Bool(v),
        avail: Avail::All,
    }
}
const fn i(name: &'static str, v: i64) -> KeyDef {
    KeyDef {
        name,
        default: Def::Int(v),
        avail: Avail::All,
    }
}
const fn s(name: &'static str, v: &'static str) -> KeyDef {
    KeyDef {
        name,
        default: Def::Str(v),
        avail: Avail::All,
    }
}
const fn l(name: &'static str) -> KeyDef {
    KeyDef {
        name,
        default: Def::EmptyList,
        avail: Avail::All,
    }
}

/// A key only some releases have.
const fn only(avail: Avail, key: KeyDef) -> KeyDef {
    KeyDef { avail, ..key }
}

/// Known tables in rendering order. A parent table always comes before its children, and
/// children directly follow their top-level table. Defaults are the MKE 3.x column of
/// docs/reference/api-facts.md §1.2.
pub(super) const TABLES: &[TableDef] = &[
    // docs/reference/api-facts.md §1.2 `[auth]`
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
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[auth.sessions]` (MKE 3.x / UCP >= 3.2 defaults)
    TableDef {
        path: "auth.sessions",
        keys: &[
            i("lifetime_minutes", 60),
            i("renewal_threshold_minutes", 20),
            i("per_user_limit", 10),
            b("store_token_per_session", false),
        ],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[auth.saml]`
    TableDef {
        path: "auth.saml",
        keys: &[
            s("idpMetadataURL", ""),
            s("spHost", ""),
            s("rootCerts", ""),
            b("tlsSkipVerify", false),
        ],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[auth.account_lock]`
    TableDef {
        path: "auth.account_lock",
        keys: &[
            b("enabled", false),
            i("failureTrigger", 0),
            i("durationSeconds", 0),
        ],
        avail: Avail::Mke,
    },
    // docs/reference/api-facts.md §1.2 `[auth.samlProxy]` (seen only in mkectl output, S6)
    TableDef {
        path: "auth.samlProxy",
        keys: &[b("enabled", false), s("proxy_url", "")],
        avail: Avail::Mke,
    },
    TableDef {
        path: "auth.samlProxy.credentials",
        keys: &[],
        avail: Avail::Mke,
    },
    // `password` is a secret, exported in plaintext (docs/reference/api-facts.md §1.3).
    TableDef {
        path: "auth.samlProxy.credentials.basic",
        keys: &[s("user", ""), s("password", "")],
        avail: Avail::Mke,
    },
    // docs/reference/api-facts.md §1.2 `[hardening_configuration]`
    TableDef {
        path: "hardening_configuration",
        keys: &[
            b("hardening_enabled", false),
            b("limit_kernel_capabilities", false),
            i("pid_limit", 0),
            b("pid_limit_unspecified", true),
            b("use_strong_tls_ciphers", false),
        ],
        avail: Avail::Mke,
    },
    // docs/reference/api-facts.md §1.2 `[audit_log_configuration]`; the docs spelling
    // `support_dump_include_audit_logs` is used (docs/reference/api-facts.md §5 item 7).
    TableDef {
        path: "audit_log_configuration",
        keys: &[s("level", ""), b("support_dump_include_audit_logs", false)],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[scheduling_configuration]`
    TableDef {
        path: "scheduling_configuration",
        keys: &[
            b("enable_admin_ucp_scheduling", false),
            s("default_node_orchestrator", "swarm"),
        ],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[tracking_configuration]`
    TableDef {
        path: "tracking_configuration",
        keys: &[
            b("disable_usageinfo", false),
            b("disable_tracking", false),
            b("anonymize_tracking", false),
            s("cluster_label", ""),
            b("ops_care", false),
        ],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[trust_configuration]`
    TableDef {
        path: "trust_configuration",
        keys: &[
            b("require_content_trust", false),
            l("require_signature_from"),
            l("allow_repos"),
        ],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[log_configuration]`
    TableDef {
        path: "log_configuration",
        keys: &[s("protocol", "tcp"), s("host", ""), s("level", "INFO")],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[license_configuration]`
    TableDef {
        path: "license_configuration",
        keys: &[b("auto_refresh", true), b("omit_telemetry", false)],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[backup_schedule_config]`, S6 spellings (docs/reference/api-facts.md §5 item 8);
    // `passphrase` is a secret, exported in plaintext (docs/reference/api-facts.md §1.3).
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
        avail: Avail::Mke,
    },
    // docs/reference/api-facts.md §1.2 `[pki]`
    TableDef {
        path: "pki",
        keys: &[s("client_ca_bundle", "")],
        avail: Avail::All,
    },
    // docs/reference/api-facts.md §1.2 `[cluster_config]`. `min_tls_version` uses the docs spelling; the STIG's
    // `min_TLS_version` is UNCONFIRMED (docs/reference/api-facts.md §5 item 6) and dropped like any unknown key.
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
            only(Avail::UpToUcp31, s("min_tls_version", "")),
            only(Avail::Mke, b("secure_overlay", false)),
            only(Avail::Mke, s("pre_logon_message", "")),
            l("custom_kube_api_server_flags"),
            only(Avail::Mke, s("cipher_suites_for_kube_api_server", "")),
            only(Avail::Mke, b("kube_protect_kernel_defaults", false)),
            only(Avail::Mke, b("kube_api_server_auditing", false)),
            // Who besides admins may run pods with privileged attributes (`hostIPC`,
            // `hostNetwork`, `hostPID`, `hostBindMounts`, `privileged`, `kernelCapabilities`):
            // MKE 3.x selective grants, string arrays in `[cluster_config]`, none by default
            // (docs/reference/next-phase.md §1.5, M1, M2).
            only(Avail::Mke, l("priv_attributes_allowed_for_user_accounts")),
            only(Avail::Mke, l("priv_attributes_user_accounts")),
            only(
                Avail::Mke,
                l("priv_attributes_allowed_for_service_accounts"),
            ),
            only(Avail::Mke, l("priv_attributes_service_accounts")),
        ],
        avail: Avail::All,
    },
];

/// Keys of one `[[registries]]` entry (docs/reference/api-facts.md §1.2), all strings. Missing keys are stored
/// as `""` and rendered, as a Go struct encoder would (UNCONFIRMED).
pub(super) const REGISTRY_KEYS: [&str; 3] = ["ca_bundle", "host_address", "service_id"];
