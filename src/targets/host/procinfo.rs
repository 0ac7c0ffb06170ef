//! What the running kernel and dockerd say (only for the root `/`): kernel FIPS mode and the
//! command line and `DOCKER_FIPS` of running dockerd processes, from /proc.

use std::fs;
use std::path::Path;

use super::systemd::Exec;
use super::units::Service;

/// A note when kernel FIPS mode is not on.
pub fn fips_note(proc: &Path) -> Option<String> {
    let path = proc.join("sys/crypto/fips_enabled");
    match fs::read_to_string(&path) {
        Ok(text) if text.trim() == "1" => None,
        Ok(text) => Some(format!(
            "kernel FIPS mode is off ({} = {}): enabling it needs the OS FIPS setup and a reboot; stigfix does not do that",
            path.display(),
            text.trim()
        )),
        Err(_) => Some(format!(
            "kernel FIPS mode is off ({} does not exist): enabling it needs the OS FIPS setup and a reboot; stigfix does not do that",
            path.display()
        )),
    }
}

/// A running dockerd process.
#[derive(Clone, Debug, PartialEq)]
pub struct Running {
    pub pid: u32,
    pub argv: Vec<String>,
    /// `DOCKER_FIPS` in its environment; `None` when unset or unreadable.
    pub fips: Option<String>,
}

/// Every process whose comm is `dockerd`.
pub fn running_dockerd(proc: &Path) -> Vec<Running> {
    let Ok(entries) = fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let Ok(comm) = fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if comm.trim() != "dockerd" {
            continue;
        }
        let Ok(cmdline) = fs::read(dir.join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = split_nul(&cmdline);
        let fips = fs::read(dir.join("environ")).ok().and_then(|environ| {
            split_nul(&environ)
                .into_iter()
                .find_map(|pair| pair.strip_prefix("DOCKER_FIPS=").map(str::to_string))
        });
        found.push(Running { pid, argv, fips });
    }
    found.sort_by_key(|running| running.pid);
    found
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    let mut parts: Vec<String> = bytes
        .split(|byte| *byte == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    if parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

/// Notes about running dockerd processes whose command line or DOCKER_FIPS differ from what
/// docker.service now configures (a restart is pending).
pub fn pending_restart_notes(proc: &Path, service: &Service) -> Vec<String> {
    let configured_fips = service
        .env
        .get("DOCKER_FIPS")
        .map(|variable| variable.value.clone());
    let configured: Option<Vec<String>> = service
        .exec
        .as_ref()
        .filter(|_| service.command.problems.is_empty())
        .map(|_| {
            service
                .command
                .words
                .iter()
                .map(|word| word.text.clone())
                .collect()
        });
    let mut notes = Vec::new();
    for running in running_dockerd(proc) {
        let mut differences = Vec::new();
        let running_args = running.argv.get(1..).unwrap_or_default();
        if let Some(configured) = &configured
            && running_args != configured.as_slice()
        {
            let mut words = vec![running.argv.first().cloned().unwrap_or_default()];
            words.extend(configured.iter().cloned());
            differences.push(format!(
                "it runs as `{}` but docker.service now says `{}`",
                Exec::render("", &running.argv),
                Exec::render("", &words)
            ));
        }
        if running.fips != configured_fips {
            let show = |value: &Option<String>| {
                value
                    .as_ref()
                    .map_or_else(|| "unset".to_string(), |value| format!("`{value}`"))
            };
            differences.push(format!(
                "its DOCKER_FIPS is {} but docker.service now sets {}",
                show(&running.fips),
                show(&configured_fips)
            ));
        }
        if !differences.is_empty() {
            notes.push(format!(
                "restart pending: dockerd (pid {}): {}; it takes effect after `systemctl daemon-reload && systemctl restart docker`",
                running.pid,
                differences.join("; ")
            ));
        }
    }
    notes
}
