//! Flags + environment + site file → the settings of one run. Flags win over the environment
//! (clap's `env`), the environment over the site file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::benchmark::Severity;
use crate::cli::{GlobalArgs, Origin, RestartArg, SeverityArg};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::http::{self, TlsOptions};
use crate::output::Output;
use crate::playbook::{self, RuleFilter, RuleSet};
use crate::secrets::{self, ClusterPassword, PasswordSources, Secret, Transport};
use crate::site::SiteFile;
use crate::site::clusters::{CREDENTIALS_DIRECTORY, Cluster, PasswordRef};
use crate::targets::dtr::DtrOptions;
use crate::targets::{Connector, TargetSpec, registry};

/// Resolved settings.
#[derive(Clone)]
pub struct Settings {
    pub site: SiteFile,
    pub ucp_url: Option<String>,
    pub dtr_url: Option<String>,
    /// Engine nodes, each by its root (`/` for this node).
    pub host_roots: Vec<PathBuf>,
    pub username: Option<String>,
    pub tls: TlsOptions,
    pub playbooks: Vec<PathBuf>,
    pub snapshot_dir: PathBuf,
    pub filter: RuleFilter,
    pub timeout: Duration,
    pub passwords: PasswordSources,
    pub output: Output,
    pub dtr: DtrOptions,
    pub restart: RestartArg,
    /// The inventory's name of the cluster these settings are for; `None` without one.
    pub cluster: Option<String>,
    /// The rules, resolved once and shared by the clusters of a run.
    rules: Arc<OnceLock<RuleSet>>,
    /// Whether the cluster's containers are read with its UCP (`--no-workload` leaves them out).
    pub workload: bool,
    /// The MKE client bundle the workload target reads pods with (`--client-bundle`).
    pub client_bundle: Option<PathBuf>,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs, output: Output) -> Result<Settings> {
        let site = match site_file_path(args.config.as_deref()) {
            Some(path) => SiteFile::load(&path)?,
            None => SiteFile::default(),
        };
        let ucp_url = resolve_url(
            args.ucp_url.as_deref(),
            args.origins.ucp_url,
            &site,
            UrlOption::UCP,
        )?;
        let dtr_url = resolve_url(
            args.dtr_url.as_deref(),
            args.origins.dtr_url,
            &site,
            UrlOption::DTR,
        )?;
        let snapshot_dir = args
            .snapshot_dir
            .clone()
            .or_else(|| site.snapshot_dir.clone())
            .unwrap_or_else(default_snapshot_dir);
        let playbooks = if args.playbooks.is_empty() {
            site.playbooks.clone()
        } else {
            args.playbooks.clone()
        };
        let passwords = PasswordSources {
            stdin: if args.password_stdin {
                Some(PasswordSources::read_stdin()?)
            } else {
                None
            },
            allow_prompt: true,
            use_keyring: true,
            output: Some(output.clone()),
            cluster: None,
        };
        if args.insecure {
            output.warn("TLS verification is OFF (--insecure): the server's identity is not checked. This is recorded in the plan and every report.");
        }
        let workload = !args.no_workload && site.workload != Some(false);
        let client_bundle = args
            .client_bundle
            .clone()
            .or_else(|| site.client_bundle.clone());
        Ok(Settings {
            ucp_url,
            dtr_url,
            host_roots: if args.host_roots.is_empty() {
                site.host_root.iter().cloned().collect()
            } else {
                args.host_roots.clone()
            },
            username: args.username.clone().or_else(|| site.username.clone()),
            tls: TlsOptions {
                ca_cert: args.ca_cert.clone().or_else(|| site.ca_cert.clone()),
                insecure: args.insecure,
            },
            playbooks,
            snapshot_dir,
            filter: RuleFilter {
                rules: args.rules.clone(),
                min_severity: args.severity.map(|severity| match severity {
                    SeverityArg::High => Severity::High,
                    SeverityArg::Medium => Severity::Medium,
                    SeverityArg::Low => Severity::Low,
                }),
            },
            timeout: Duration::from_secs(args.timeout.max(1)),
            passwords,
            site,
            dtr: DtrOptions {
                concurrency: usize::from(args.concurrency),
                cve_db: args.cve_db.clone(),
                status_timeout: Duration::from_secs(args.scan_wait),
            },
            restart: args.restart,
            workload,
            client_bundle,
            output,
            cluster: None,
            rules: Arc::default(),
        })
    }

    /// The settings of one cluster of the inventory: its endpoints, account, CA and
    /// credential; its own snapshot folder (`<snapshot-dir>/<name>`); its output prefixed with
    /// `[name]`. `--username`, `--ca-cert` and `--insecure` (flags or environment) win over
    /// the entry, which wins over the top of the site file.
    pub fn for_cluster(&self, args: &GlobalArgs, cluster: &Cluster) -> Result<Settings> {
        let mut settings = self.for_cluster_without_credentials(args, cluster)?;
        let password = cluster_password(cluster, &settings.output)?;
        if let Some(sources) = settings.passwords.cluster.as_mut() {
            sources.password = password;
        }
        Ok(settings)
    }

    /// [`Settings::for_cluster`] for commands that send no password (listing snapshots,
    /// logout): the cluster's credential is not read, and only its keyring entry would be used.
    pub fn for_cluster_without_credentials(
        &self,
        args: &GlobalArgs,
        cluster: &Cluster,
    ) -> Result<Settings> {
        let output = self.output.for_cluster(&cluster.name);
        let url = |url: &Option<String>, key: &str| -> Result<Option<String>> {
            let Some(url) = url else {
                return Ok(None);
            };
            let source = match cluster.value_locations.get(key) {
                Some(location) => format!("{location}: `{key}` of cluster {}", cluster.name),
                None => format!("`{key}` of cluster {}", cluster.name),
            };
            normalize_url(url, &source).map(Some)
        };
        let ucp_url = url(&cluster.ucp_url, "ucp_url")?;
        let dtr_url = url(&cluster.dtr_url, "dtr_url")?;
        let mut settings = self.clone();
        settings.ucp_url = ucp_url;
        settings.dtr_url = dtr_url;
        settings.host_roots = Vec::new();
        settings.username = args
            .username
            .clone()
            .or_else(|| cluster.username.clone())
            .or_else(|| self.site.username.clone());
        settings.tls.ca_cert = args
            .ca_cert
            .clone()
            .or_else(|| cluster.ca_cert.clone())
            .or_else(|| self.site.ca_cert.clone());
        // Never another cluster's: a bundle names the Kubernetes API it is for.
        settings.client_bundle = cluster.client_bundle.clone();
        settings.snapshot_dir = self.snapshot_dir.join(&cluster.name);
        settings.passwords = PasswordSources {
            stdin: None,
            allow_prompt: false,
            use_keyring: true,
            output: Some(output.clone()),
            cluster: Some(ClusterPassword {
                name: cluster.name.clone(),
                password: None,
            }),
        };
        settings.output = output;
        settings.cluster = Some(cluster.name.clone());
        Ok(settings)
    }

    /// Shipped playbooks plus `--playbook`s, resolved with the site file (once per run).
    pub fn rule_set(&self) -> Result<RuleSet> {
        if let Some(rules) = self.rules.get() {
            return Ok(rules.clone());
        }
        let shipped = playbook::shipped()?;
        let user = if self.playbooks.is_empty() {
            Vec::new()
        } else {
            playbook::load_paths(&self.playbooks)?
        };
        let rules = playbook::resolve(shipped, user, &self.site, &self.filter)?;
        Ok(self.rules.get_or_init(|| rules).clone())
    }

    pub fn username(&self) -> Result<&str> {
        self.username.as_deref().ok_or_else(|| {
            Error::new("no account name for UCP/DTR").with_hint(
                "pass --username NAME, set STIGFIX_USERNAME, or `username` in the site file",
            )
        })
    }

    /// The HTTP client of this run: its TLS settings and timeout.
    pub fn http_client(&self) -> Result<reqwest::Client> {
        http::client(&self.tls, self.timeout)
    }

    /// The targets the settings configure.
    pub fn specs(&self) -> Result<Vec<TargetSpec>> {
        if let Some(cve_db) = &self.dtr.cve_db {
            if self.dtr_url.is_none() {
                return Err(Error::usage("--cve-db needs a DTR target (--dtr-url)"));
            }
            std::fs::metadata(cve_db)
                .map_err(|error| Error::io("read the CVE database", cve_db, &error))?;
        }
        registry::configured(self)
    }

    /// An engine over the targets the settings configure.
    pub fn engine(&self) -> Result<Engine> {
        self.engine_for(&self.specs()?)
    }

    /// An engine over the given targets (those a snapshot or a saved plan names), connected
    /// with this run's credentials and TLS settings.
    pub fn engine_for(&self, specs: &[TargetSpec]) -> Result<Engine> {
        let rules = self.rule_set()?;
        Ok(Engine {
            targets: Connector::new(self)?.connect_all(specs)?,
            rules,
            insecure: self.tls.insecure,
            snapshot_dir: self.snapshot_dir.clone(),
            output: self.output.clone(),
            now: now(),
        })
    }
}

/// The password an inventory cluster names (`password_env`, `password_file`), read now; `None`
/// for the keyring. Errors name the cluster and where its entry is; never the password.
fn cluster_password(cluster: &Cluster, output: &Output) -> Result<Option<Secret>> {
    let at = cluster
        .value_locations
        .get("password_env")
        .or_else(|| cluster.value_locations.get("password_file"))
        .unwrap_or(&cluster.location);
    match &cluster.password {
        PasswordRef::Keyring => Ok(None),
        PasswordRef::Env(variable) => match std::env::var(variable) {
            Ok(value) if !value.is_empty() => Ok(Some(Secret::new(value))),
            _ => Err(Error::new(format!(
                "{at}: cluster {} takes its password from ${variable}, which is not set",
                cluster.name
            ))
            .with_hint(format!(
                "export {variable}, or give the cluster a password_file (e.g. a systemd credential)"
            ))),
        },
        PasswordRef::File(path) => {
            let path = expand_credentials_directory(path).map_err(|()| {
                Error::new(format!(
                    "{at}: cluster {}'s password_file is under ${CREDENTIALS_DIRECTORY}, which is not set: it is set in a systemd service with LoadCredential= (systemd 247 and later)",
                    cluster.name
                ))
                .with_hint(format!(
                    "run from the unit `stigfix schedule` writes, or set {CREDENTIALS_DIRECTORY} to the folder of the password files (the fallback for systemd older than 247)"
                ))
            })?;
            let text = std::fs::read_to_string(&path).map_err(|error| {
                Error::io(
                    &format!("read the password file of cluster {} at", cluster.name),
                    &path,
                    &error,
                )
                .with_hint(format!("{at}: `password_file` of cluster {}", cluster.name))
            })?;
            if let Ok(metadata) = std::fs::metadata(&path) {
                let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions());
                if mode & 0o077 != 0 {
                    output.warn(&format!(
                        "the password file {} is readable by other users (mode {:04o}): chmod 600 it",
                        path.display(),
                        mode & 0o7777
                    ));
                }
            }
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(Error::new(format!(
                    "the password file {} of cluster {} is empty",
                    path.display(),
                    cluster.name
                )));
            }
            Ok(Some(Secret::new(password)))
        }
    }
}

/// `$CREDENTIALS_DIRECTORY/x` or `${CREDENTIALS_DIRECTORY}/x` with the variable's value; other
/// paths as they are. `Err` when the path needs the variable and it is not set.
fn expand_credentials_directory(path: &Path) -> std::result::Result<PathBuf, ()> {
    let text = path.to_string_lossy();
    let rest = text
        .strip_prefix("${CREDENTIALS_DIRECTORY}")
        .or_else(|| text.strip_prefix("$CREDENTIALS_DIRECTORY"));
    match rest {
        None => Ok(path.to_path_buf()),
        Some(rest) => match std::env::var_os(CREDENTIALS_DIRECTORY) {
            Some(dir) if !dir.is_empty() => {
                Ok(PathBuf::from(dir).join(rest.trim_start_matches('/')))
            }
            _ => Err(()),
        },
    }
}

/// The current time, or `STIGFIX_TEST_NOW` (RFC 3339) for reproducible tests.
pub fn now() -> time::OffsetDateTime {
    std::env::var("STIGFIX_TEST_NOW")
        .ok()
        .and_then(|text| {
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or_else(time::OffsetDateTime::now_utc)
}

/// [`now`] as RFC 3339.
pub fn now_rfc3339() -> String {
    now()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("timestamps format")
}

fn site_file_path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let local = PathBuf::from("stigfix.toml");
    if local.is_file() {
        return Some(local);
    }
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    let user = config_home.join("stigfix").join("stigfix.toml");
    user.is_file().then_some(user)
}

fn default_snapshot_dir() -> PathBuf {
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"));
    state_home.join("stigfix").join("snapshots")
}

/// A URL option: its flag, environment variable and site-file key.
pub struct UrlOption {
    pub flag: &'static str,
    pub env: &'static str,
    pub key: &'static str,
    pub in_site: fn(&SiteFile) -> Option<&String>,
}

impl UrlOption {
    pub const UCP: UrlOption = UrlOption {
        flag: "--ucp-url",
        env: "STIGFIX_UCP_URL",
        key: "ucp_url",
        in_site: |site| site.ucp_url.as_ref(),
    };
    pub const DTR: UrlOption = UrlOption {
        flag: "--dtr-url",
        env: "STIGFIX_DTR_URL",
        key: "dtr_url",
        in_site: |site| site.dtr_url.as_ref(),
    };
}

/// The URL from the flag, its environment variable or the site file (in that order), checked
/// and normalised; a problem names where the URL came from.
fn resolve_url(
    given: Option<&str>,
    origin: Origin,
    site: &SiteFile,
    option: UrlOption,
) -> Result<Option<String>> {
    let (url, source) = match given {
        Some(url) if origin == Origin::Env => (url.to_string(), option.env.to_string()),
        Some(url) => (url.to_string(), option.flag.to_string()),
        None => {
            let Some(url) = (option.in_site)(site).cloned() else {
                return Ok(None);
            };
            let source = match site.value_locations.get(option.key) {
                Some(location) => format!("{location}: `{}`", option.key),
                None => format!("`{}` in the site file", option.key),
            };
            (url, source)
        }
    };
    let url = normalize_url(&url, &source)?;
    Ok(Some(url))
}

/// Check a base URL and drop its trailing `/`. `source` names where it came from (`--ucp-url`,
/// `STIGFIX_UCP_URL`, `stigfix.toml:3:11: \`ucp_url\``). Refused: anything but http(s), user
/// or password in the URL (never echoed), a query or fragment (they would be pasted into every
/// request path), and plain `http://` to anything but this machine's loopback, where it would
/// carry the password in cleartext.
pub fn normalize_url(url: &str, source: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let shown = secrets::redact_url_credentials(trimmed);
    let example = "e.g. https://ucp.example.mil";
    let parsed = reqwest::Url::parse(trimmed).map_err(|error| {
        Error::usage(format!("{source}: `{shown}` is not a URL ({error})")).with_hint(example)
    })?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(
            Error::usage(format!("{source}: `{shown}` is not an https:// URL")).with_hint(example),
        );
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::usage(format!(
            "{source}: `{shown}`: credentials do not belong in the URL"
        ))
        .with_hint("use --username and STIGFIX_PASSWORD / --password-stdin / `stigfix login`"));
    }
    let mut base = parsed.clone();
    base.set_query(None);
    base.set_fragment(None);
    let base = base.as_str().trim_end_matches('/').to_string();
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::usage(format!(
            "{source}: `{base}…` has a query (`?…`) or fragment (`#…`); a base URL takes neither"
        ))
        .with_hint(format!("give the address alone: {base}")));
    }
    if secrets::transport(&parsed) == Transport::PlainRemote {
        let mut https = parsed.clone();
        let _ = https.set_scheme("https");
        return Err(Error::usage(format!(
            "{source}: `{base}` is plain http://, which would send the password across the network in cleartext"
        ))
        .with_hint(format!(
            "use {} (pass --ca-cert FILE if its CA is not in the system store); plain http:// is accepted only for this machine (127.0.0.1, ::1, localhost)",
            https.as_str().trim_end_matches('/')
        )));
    }
    Ok(trimmed.to_string())
}

/// Whether a prompt can be shown.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
