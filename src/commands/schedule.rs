//! `stigfix schedule print|install`: drift correction as a service — a systemd service and
//! timer that run `plan --detailed-exitcode` (check) or `apply --yes` (apply) on the site
//! file's clusters, with a run log and node_exporter metrics.
//!
//! The check unit only reads: exit 2 (drift found) is a success for systemd
//! (`SuccessExitStatus=2`). The apply unit waits a bounded time for an interactive run's lock
//! (`--lock-wait`) and, when the site file names a host root, may write the Docker Engine's
//! configuration (`/etc/docker`, unit drop-ins, environment files) and change owners and modes.
//! Both units run with a read-only system (`ProtectSystem=strict`), a private /tmp, no new
//! privileges and only the capabilities their mode needs; the state folder
//! (`/var/lib/stigfix`), the log folder (`/var/log/stigfix`) and the metrics folder are
//! writable. Cluster passwords come through `LoadCredential=` (systemd 247 and later) or, on
//! older systemd (RHEL 8 has 239), from root-only files named by `CREDENTIALS_DIRECTORY`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{GlobalArgs, ScheduleCommand, ScheduleMode, UnitArgs};
use crate::error::{Error, ExitStatus, IoContext, Result};
use crate::fleet::Scope;
use crate::output::Output;
use crate::settings::Settings;
use crate::site::clusters::{CREDENTIALS_DIRECTORY, Cluster, PasswordRef};

/// The first systemd with `LoadCredential=`.
const CREDENTIALS_SINCE: u32 = 247;
/// Where the state, logs and lock folders are (StateDirectory=, LogsDirectory=,
/// RuntimeDirectory=).
const STATE_DIR: &str = "/var/lib/stigfix";
const LOGS_DIR: &str = "/var/log/stigfix";
/// node_exporter's usual textfile collector folder (Debian's prometheus-node-exporter).
const TEXTFILE_DIR: &str = "/var/lib/node_exporter/textfile_collector";
/// Environment for the shared password variables, root-only.
const ENVIRONMENT_FILE: &str = "/etc/stigfix/environment";
/// The default wait of the apply unit for an interactive run's lock.
const APPLY_LOCK_WAIT: u64 = 900;

/// Where a host apply writes: the engine's configuration, unit drop-ins and environment files
/// of the Debian and RHEL layouts, the packaged units and socket whose owner and mode the STIG
/// sets, and root's default TLS folder.
const HOST_WRITE_PATHS: &[&str] = &[
    "/etc/docker",
    "/etc/systemd/system",
    "/etc/default",
    "/etc/sysconfig",
    "/usr/lib/systemd/system/docker.service",
    "/usr/lib/systemd/system/docker.socket",
    "/lib/systemd/system/docker.service",
    "/lib/systemd/system/docker.socket",
    "/run/docker.sock",
    "/root/.docker",
];

/// One unit file.
pub struct UnitFile {
    pub name: String,
    pub text: String,
}

pub fn run(global: &GlobalArgs, command: ScheduleCommand, output: Output) -> Result<ExitStatus> {
    let (args, dir) = match command {
        ScheduleCommand::Print(args) => (args, None),
        ScheduleCommand::Install(install) => (install.unit, Some(install.dir)),
    };
    let units = units(global, &args, &output)?;
    match dir {
        None => {
            let texts: Vec<&str> = units.iter().map(|unit| unit.text.as_str()).collect();
            output.data(&texts.join("\n"));
        }
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::usage(format!(
                    "--dir {}: not a folder",
                    dir.display()
                )));
            }
            for unit in &units {
                let path = dir.join(&unit.name);
                super::write_file(&path, &unit.text)?;
                std::fs::set_permissions(
                    &path,
                    std::os::unix::fs::PermissionsExt::from_mode(0o644),
                )
                .with_path("set the mode of", &path)?;
                output.status(&format!("Wrote {}", path.display()));
            }
            output.status(&format!(
                "Start it: systemctl daemon-reload && systemctl enable --now {}",
                units[1].name
            ));
        }
    }
    Ok(ExitStatus::Success)
}

/// The service and the timer.
pub fn units(global: &GlobalArgs, args: &UnitArgs, output: &Output) -> Result<Vec<UnitFile>> {
    for (flag, given) in [
        ("--ucp-url", global.ucp_url.is_some()),
        ("--dtr-url", global.dtr_url.is_some()),
        ("--host-root", !global.host_roots.is_empty()),
    ] {
        if given {
            return Err(Error::usage(format!(
                "{flag} (or its STIGFIX_ variable) is not carried into the unit: the scheduled run reads the site file only"
            ))
            .with_hint("put the endpoints in the site file (or its [[clusters]]) and pass it with --config FILE"));
        }
    }
    let scope = Scope::resolve(global, output.clone(), false)?;
    let (base, clusters): (&Settings, Vec<Cluster>) = match &scope {
        Scope::One(settings) => (settings, Vec::new()),
        Scope::Many(fleet) => (&fleet.base, fleet.clusters.clone()),
    };
    let site = base.site.path.as_deref().ok_or_else(|| {
        Error::usage("a scheduled run needs a site file naming what it works on; there is none")
            .with_hint("write one (README, \"The site file\" and \"Fleets\") and pass it with --config FILE")
    })?;
    let site = absolute(site)?;
    let mode = args.mode;
    let name = match mode {
        ScheduleMode::Check => "stigfix-check",
        ScheduleMode::Apply => "stigfix-apply",
    };
    let exec = match &args.exec {
        Some(path) if path.is_absolute() => path.clone(),
        Some(path) => {
            return Err(Error::usage(format!(
                "--exec {}: the unit needs an absolute path",
                path.display()
            )));
        }
        None => std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .map_err(|error| {
                Error::new(format!("cannot tell where this stigfix binary is: {error}"))
                    .with_hint("pass --exec /usr/local/bin/stigfix")
            })?,
    };
    check_time("--on-calendar", "calendar", &args.on_calendar)?;
    check_time("--randomized-delay", "timespan", &args.randomized_delay)?;
    let version = match args.systemd_version {
        Some(version) => Some(version),
        None => {
            let detected = systemd_version();
            if detected.is_none() {
                output.warn(&format!(
                    "cannot tell the systemd version (`systemctl --version`); the unit uses LoadCredential=, which needs systemd {CREDENTIALS_SINCE} or later: pass --systemd-version N for an older one"
                ));
            }
            detected
        }
    };
    let modern = version.is_none_or(|version| version >= CREDENTIALS_SINCE);
    let log = match &args.record.log {
        Some(path) => absolute(path)?,
        None => Path::new(LOGS_DIR).join(format!("{}.jsonl", mode_word(mode))),
    };
    let metrics = match &args.record.metrics {
        Some(path) => absolute(path)?,
        None => Path::new(TEXTFILE_DIR).join(format!("{name}.prom")),
    };
    let host = !base.host_roots.is_empty();
    let mut exec_line: Vec<String> = vec![checked(&exec)?];
    exec_line.extend(match mode {
        ScheduleMode::Check => vec!["plan".to_string(), "--detailed-exitcode".to_string()],
        ScheduleMode::Apply => vec!["apply".to_string(), "--yes".to_string()],
    });
    let mut flag = |name: &str, value: String| {
        exec_line.push(name.to_string());
        exec_line.push(value);
    };
    flag("--config", checked(&site)?);
    if let Some(inventory) = &global.fleet.inventory {
        flag("--inventory", checked(&absolute(inventory)?)?);
    }
    for selector in &global.fleet.clusters {
        flag("--cluster", selector.clone());
    }
    flag("--parallel", global.fleet.parallel.to_string());
    let mut writable: Vec<PathBuf> = Vec::new();
    match (&global.snapshot_dir, &base.site.snapshot_dir) {
        (Some(dir), _) => {
            let dir = absolute(dir)?;
            writable.push(dir.clone());
            flag("--snapshot-dir", checked(&dir)?);
        }
        (None, Some(dir)) => writable.push(dir.clone()),
        (None, None) => flag("--snapshot-dir", format!("{STATE_DIR}/snapshots")),
    }
    for playbook in &global.playbooks {
        flag("--playbook", checked(&absolute(playbook)?)?);
    }
    // What this shell would run with: the account, the CA, the rule filters.
    if let Some(username) = &global.username {
        flag("--username", username.clone());
    }
    if let Some(ca_cert) = &global.ca_cert {
        flag("--ca-cert", checked(&absolute(ca_cert)?)?);
    }
    if let Some(bundle) = &global.client_bundle {
        flag("--client-bundle", checked(&absolute(bundle)?)?);
    }
    for rule in &global.rules {
        flag("--rule", rule.clone());
    }
    if let Some(severity) = global.severity {
        let value = clap::ValueEnum::to_possible_value(&severity)
            .map(|value| value.get_name().to_string())
            .unwrap_or_default();
        flag("--severity", value);
    }
    if mode == ScheduleMode::Apply {
        let wait = if global.fleet.lock_wait > 0 {
            global.fleet.lock_wait
        } else {
            APPLY_LOCK_WAIT
        };
        flag("--lock-wait", wait.to_string());
        if let Some(max) = args.max_changes {
            flag("--max-changes", max.to_string());
        }
    }
    flag("--log", checked(&log)?);
    flag("--metrics", checked(&metrics)?);
    if global.insecure {
        exec_line.push("--insecure".to_string());
    }
    exec_line.extend([
        "--no-progress".to_string(),
        "--color".to_string(),
        "never".to_string(),
    ]);
    for path in [&log, &metrics] {
        writable.push(path.parent().unwrap_or(Path::new("/")).to_path_buf());
    }

    let mut service = String::new();
    let mut line = |text: &str| {
        service.push_str(text);
        service.push('\n');
    };
    line(&format!(
        "# /etc/systemd/system/{name}.service: written by `stigfix schedule` (stigfix {})",
        env!("CARGO_PKG_VERSION")
    ));
    match mode {
        ScheduleMode::Check => line(
            "# Detects drift and changes nothing. Exit 2 (changes pending or open findings) is a success for systemd; 1 means a cluster could not be checked.",
        ),
        ScheduleMode::Apply => line(
            "# Corrects drift. It waits (--lock-wait) for an interactive stigfix run to finish, and never overlaps one.",
        ),
    }
    line(&format!(
        "# Run log: {}; metrics for node_exporter's textfile collector: {}.",
        log.display(),
        metrics.display()
    ));
    line("[Unit]");
    line(&format!(
        "Description=stigfix: {} DISA STIG settings ({})",
        match mode {
            ScheduleMode::Check => "check",
            ScheduleMode::Apply => "apply",
        },
        site.display()
    ));
    line("Wants=network-online.target");
    line("After=network-online.target");
    line("");
    line("[Service]");
    line("Type=oneshot");
    line(&format!(
        "ExecStart={}",
        exec_line
            .iter()
            .map(|word| quote(word))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    if mode == ScheduleMode::Check {
        line("SuccessExitStatus=2");
    }
    // A hung run is stopped (SIGTERM: an apply restores what it changed) after two hours.
    line("TimeoutStartSec=2h");
    line("StateDirectory=stigfix");
    line("StateDirectoryMode=0700");
    line("LogsDirectory=stigfix");
    line("LogsDirectoryMode=0750");
    // The lock folder (/run/stigfix/locks) outlives the run: an interactive run may hold a lock.
    line("RuntimeDirectory=stigfix");
    line("RuntimeDirectoryPreserve=yes");
    credentials(&clusters, &args.credentials_dir, modern, &mut line)?;
    line(&format!("EnvironmentFile=-{ENVIRONMENT_FILE}"));
    line("UMask=0077");
    line("ProtectSystem=strict");
    writable.retain(|path| !path.starts_with(STATE_DIR) && !path.starts_with(LOGS_DIR));
    writable.sort();
    writable.dedup();
    let mut rw: Vec<String> = writable
        .iter()
        .map(|path| path_text(path).map(|text| format!("-{text}")))
        .collect::<Result<_>>()?;
    if host && mode == ScheduleMode::Apply {
        rw.extend(HOST_WRITE_PATHS.iter().map(|path| format!("-{path}")));
    }
    if !rw.is_empty() {
        line(&format!("ReadWritePaths={}", rw.join(" ")));
    }
    let reads = read_paths(base, &clusters, &site);
    let reads_home = reads
        .iter()
        .any(|path| path.starts_with("/home") || path.starts_with("/root"));
    for path in reads
        .iter()
        .chain(&writable)
        .filter(|path| path.starts_with("/tmp") || path.starts_with("/var/tmp"))
    {
        output.warn(&format!(
            "the unit uses {}, which its private /tmp (PrivateTmp=yes) hides: move it (site files under /etc/stigfix, state under /var/lib/stigfix)",
            path.display()
        ));
    }
    line(if reads_home || (host && mode == ScheduleMode::Apply) {
        "ProtectHome=read-only"
    } else {
        "ProtectHome=yes"
    });
    line("PrivateTmp=yes");
    line("PrivateDevices=yes");
    line("NoNewPrivileges=yes");
    line("ProtectKernelTunables=yes");
    line("ProtectKernelModules=yes");
    if version.is_none_or(|version| version >= 244) {
        line("ProtectKernelLogs=yes");
    }
    if version.is_none_or(|version| version >= 245) {
        line("ProtectClock=yes");
    }
    line("ProtectControlGroups=yes");
    line("ProtectHostname=yes");
    line("RestrictNamespaces=yes");
    line("RestrictRealtime=yes");
    line("RestrictSUIDSGID=yes");
    line("LockPersonality=yes");
    line("MemoryDenyWriteExecute=yes");
    line("SystemCallArchitectures=native");
    line("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX");
    line(if host && mode == ScheduleMode::Apply {
        // Owner, group and mode rules (chown, chmod of files root does not own), and reading
        // files whatever their mode.
        "CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH"
    } else {
        "CapabilityBoundingSet=CAP_DAC_READ_SEARCH"
    });

    let timer = [
        format!(
            "# /etc/systemd/system/{name}.timer: written by `stigfix schedule` (stigfix {})",
            env!("CARGO_PKG_VERSION")
        ),
        "[Unit]".to_string(),
        format!("Description=Run {name}.service on a schedule"),
        String::new(),
        "[Timer]".to_string(),
        format!("OnCalendar={}", args.on_calendar.replace('%', "%%")),
        // Spread runs evenly over the delay: a large random delay with a fine accuracy.
        format!("RandomizedDelaySec={}", args.randomized_delay),
        "AccuracySec=1us".to_string(),
        // A run missed while the machine was off runs at boot.
        "Persistent=true".to_string(),
        String::new(),
        "[Install]".to_string(),
        "WantedBy=timers.target".to_string(),
        String::new(),
    ]
    .join("\n");
    Ok(vec![
        UnitFile {
            name: format!("{name}.service"),
            text: service,
        },
        UnitFile {
            name: format!("{name}.timer"),
            text: timer,
        },
    ])
}

/// How the clusters' passwords reach the run: `LoadCredential=ID:DIR/ID` for each
/// `password_file = "$CREDENTIALS_DIRECTORY/ID"`, or, before systemd 247, the variable set to
/// DIR itself (root-only files, read in place).
fn credentials(
    clusters: &[Cluster],
    dir: &Path,
    modern: bool,
    line: &mut dyn FnMut(&str),
) -> Result<()> {
    let dir = absolute(dir)?;
    let ids: Vec<&str> = clusters.iter().filter_map(Cluster::credential_id).collect();
    let mut variables: Vec<&str> = clusters
        .iter()
        .filter_map(|cluster| match &cluster.password {
            PasswordRef::Env(variable) => Some(variable.as_str()),
            _ => None,
        })
        .collect();
    variables.sort_unstable();
    variables.dedup();
    if !ids.is_empty() {
        if modern {
            line(&format!(
                "# Passwords: {} (root-only files, mode 0600); systemd passes them in $CREDENTIALS_DIRECTORY.",
                path_text(&dir)?
            ));
            for id in &ids {
                let source = path_text(&dir.join(id))?;
                line(&format!("LoadCredential={id}:{source}"));
            }
        } else {
            line(&format!(
                "# systemd older than {CREDENTIALS_SINCE} has no LoadCredential=: the password files are read in place from this root-only folder (mode 0700, files 0600)."
            ));
            line(&format!(
                "Environment={CREDENTIALS_DIRECTORY}={}",
                path_text(&dir)?
            ));
        }
    }
    if !variables.is_empty() {
        line(&format!(
            "# Set {} in {ENVIRONMENT_FILE} (root-only, mode 0600), or better, give those clusters a password_file.",
            variables.join(", ")
        ));
    }
    Ok(())
}

/// Files the run reads that a `ProtectHome=yes` would hide.
fn read_paths(base: &Settings, clusters: &[Cluster], site: &Path) -> Vec<PathBuf> {
    let mut paths = vec![site.to_path_buf()];
    paths.extend(base.tls.ca_cert.clone());
    paths.extend(base.client_bundle.clone());
    paths.extend(base.playbooks.iter().cloned());
    for cluster in clusters {
        paths.extend(cluster.ca_cert.clone());
        paths.extend(cluster.client_bundle.clone());
        if let PasswordRef::File(path) = &cluster.password {
            paths.push(path.clone());
        }
    }
    paths
}

fn mode_word(mode: ScheduleMode) -> &'static str {
    match mode {
        ScheduleMode::Check => "check",
        ScheduleMode::Apply => "apply",
    }
}

/// `systemd-analyze calendar|timespan VALUE` must accept it, when systemd-analyze is here.
fn check_time(flag: &str, verb: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() || value.contains(['\n', '\r']) {
        return Err(Error::usage(format!("{flag}: `{value}` is not a time")));
    }
    match Command::new("systemd-analyze")
        .arg(verb)
        .arg(value)
        .output()
    {
        Ok(out) if !out.status.success() => Err(Error::usage(format!(
            "{flag} {value}: systemd does not read it: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .with_hint(
            "see systemd.time(7), e.g. `daily`, `*-*-* 02:00:00`, `Mon..Fri 06:00`, `45min`",
        )),
        _ => Ok(()),
    }
}

/// The version `systemctl --version` reports (`systemd 252 (252.38-1~deb12u1)`).
fn systemd_version() -> Option<u32> {
    let out = Command::new("systemctl").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()?
        .strip_prefix("systemd ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let here = std::env::current_dir()
        .map_err(|error| Error::new(format!("cannot tell the working folder: {error}")))?;
    Ok(here.join(path))
}

/// A path for a unit directive: `%` escaped; whitespace and control characters refused (the
/// path lists of ReadWritePaths= are split on whitespace).
fn path_text(path: &Path) -> Result<String> {
    Ok(checked(path)?.replace('%', "%%"))
}

/// A path as text, refused when a unit file cannot carry it.
fn checked(path: &Path) -> Result<String> {
    let text = path.to_str().ok_or_else(|| {
        Error::usage(format!(
            "{}: not UTF-8, which a unit file cannot hold",
            path.display()
        ))
    })?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::usage(format!(
            "`{text}`: a path with spaces cannot go into the unit"
        ))
        .with_hint("use a path without spaces (a symlink will do)"));
    }
    Ok(text.to_string())
}

/// One word of `ExecStart=`: `$` and `%` escaped (no variable or specifier expansion), quoted
/// when it holds a quote, a backslash or a `;`.
fn quote(word: &str) -> String {
    let escaped = word.replace('$', "$$").replace('%', "%%");
    if escaped.is_empty() || escaped.contains(['"', '\'', '\\', ';']) {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_escaped_for_exec_start() {
        assert_eq!(quote("tag:prod"), "tag:prod");
        assert_eq!(quote("prod-*"), "prod-*");
        assert_eq!(quote("a$b"), "a$$b");
        assert_eq!(quote("50%"), "50%%");
        assert_eq!(quote("x;y"), "\"x;y\"");
        assert_eq!(quote(""), "\"\"");
        assert!(path_text(Path::new("/a b")).is_err());
        assert_eq!(path_text(Path::new("/a%b")).unwrap(), "/a%%b");
    }
}
