//! Flags + environment + site file → the settings of one run. Flags win over the environment
//! (clap's `env`), the environment over the site file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::benchmark::Severity;
use crate::cli::{GlobalArgs, RestartArg, SeverityArg};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::http::{self, TlsOptions};
use crate::output::Output;
use crate::playbook::{self, RuleFilter, RuleSet};
use crate::secrets::PasswordSources;
use crate::site::SiteFile;
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
    /// Whether the cluster's containers are read with its UCP (`--no-workload` leaves them out).
    pub workload: bool,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs, output: Output) -> Result<Settings> {
        let site = match site_file_path(args.config.as_deref()) {
            Some(path) => SiteFile::load(&path)?,
            None => SiteFile::default(),
        };
        let ucp_url = args
            .ucp_url
            .clone()
            .or_else(|| site.ucp_url.clone())
            .map(|url| normalize_url(&url, "--ucp-url"))
            .transpose()?;
        let dtr_url = args
            .dtr_url
            .clone()
            .or_else(|| site.dtr_url.clone())
            .map(|url| normalize_url(&url, "--dtr-url"))
            .transpose()?;
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
        };
        if args.insecure {
            output.warn("TLS verification is OFF (--insecure): the server's identity is not checked. This is recorded in the plan and every report.");
        }
        let workload = !args.no_workload && site.workload != Some(false);
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
            output,
        })
    }

    /// Shipped playbooks plus `--playbook`s, resolved with the site file.
    pub fn rule_set(&self) -> Result<RuleSet> {
        let shipped = playbook::shipped()?;
        let user = if self.playbooks.is_empty() {
            Vec::new()
        } else {
            playbook::load_paths(&self.playbooks)?
        };
        playbook::resolve(shipped, user, &self.site, &self.filter)
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

fn normalize_url(url: &str, flag: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|error| {
        Error::usage(format!("{flag} {url}: not a URL ({error})"))
            .with_hint("e.g. https://ucp.example.mil")
    })?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(Error::usage(format!(
            "{flag} {url}: expected an https:// URL"
        )));
    }
    if parsed.username() != "" || parsed.password().is_some() {
        return Err(
            Error::usage(format!("{flag}: credentials do not belong in the URL")).with_hint(
                "use --username and STIGFIX_PASSWORD / --password-stdin / `stigfix login`",
            ),
        );
    }
    Ok(trimmed.to_string())
}

/// Whether a prompt can be shown.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}
