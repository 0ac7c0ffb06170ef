//! The files the STIG's ownership and permission rules name (docs/reference/stig-ids.md §1.4), by role:
//! where each is on the root, or why it is not there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::daemon_json;
use super::dockerd::{self, Arg, Flag};
use super::fsroot::{Kind, Resolved, Stat, View};
use crate::error::Result;

pub const ETC_DOCKER: &str = "/etc/docker";
pub const ETC_DEFAULT_DOCKER: &str = "/etc/default/docker";
pub const DOCKER_SOCK: &str = "/var/run/docker.sock";
pub const CERTS_D: &str = "/etc/docker/certs.d";

/// The fixed file roles, in the order they are reported.
pub const ROLES: [&str; 9] = [
    "docker_service",
    "docker_socket",
    "etc_docker",
    "daemon_json",
    "etc_default_docker",
    "docker_sock",
    "tls_ca",
    "tls_cert",
    "tls_key",
];

pub const REGISTRY_CERTS: &str = "registry_certs";

/// Roles whose file dockerd's configuration names (their path is unknown when it is).
pub const CONFIGURED_ROLES: [&str; 4] = ["daemon_json", "tls_ca", "tls_cert", "tls_key"];

/// What is known about a role's file.
#[derive(Clone, Debug)]
pub enum RoleState {
    /// Exists; `Resolved::stat` is `Some`.
    Present(Resolved),
    /// Does not exist, or is not configured: why.
    Absent(String),
    /// Cannot be used (a symlink out of the root): why.
    Refused(String),
}

pub type Roles = BTreeMap<Vec<String>, RoleState>;

pub fn key(role: &str) -> Vec<String> {
    vec![role.to_string()]
}

/// A role file that exists at `rel`.
pub fn present(rel: &Path, stat: Stat) -> Resolved {
    Resolved {
        rel: rel.to_path_buf(),
        stat: Some(stat),
    }
}

pub fn role_at(view: &View<'_>, path: &Path, absent_note: &str) -> RoleState {
    match view.resolve(path, true) {
        Ok(resolved) if resolved.stat.is_some() => RoleState::Present(resolved),
        Ok(resolved) => RoleState::Absent(format!(
            "{} does not exist{absent_note}",
            view.show(&resolved.rel)
        )),
        Err(error) => RoleState::Refused(error.message().to_string()),
    }
}

/// A configured path: absolute paths as they are, relative ones from `/` (dockerd's working
/// directory under systemd).
pub fn absolute(path: &str) -> PathBuf {
    Path::new("/").join(path)
}

/// The variables dockerd's default TLS file paths depend on.
pub const TLS_DEFAULT_VARIABLES: [&str; 2] = ["DOCKER_CERT_PATH", "DOCKER_CONFIG"];

/// Why dockerd serves TLS, when it does (moby `cmd/dockerd/options.go` `SetDefaultOptions()`:
/// `--tls`, any `--tlsverify` even `=false`, a non-empty `DOCKER_TLS_VERIFY`; daemon.json
/// `"tls": true` or any `"tlsverify"`).
fn tls_on(
    args: &[Arg],
    daemon: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    for arg in args {
        let word = arg.words.first().map(String::as_str).unwrap_or_default();
        let (name, value) = word.split_once('=').unwrap_or((word, "true"));
        match name {
            "--tlsverify" => return Some(format!("`{word}`")),
            "--tls" if value != "false" => return Some(format!("`{word}`")),
            _ => {}
        }
    }
    if daemon.contains_key("tlsverify") {
        return Some("\"tlsverify\" in daemon.json".to_string());
    }
    if daemon.get("tls") == Some(&Value::Bool(true)) {
        return Some("\"tls\": true in daemon.json".to_string());
    }
    env("DOCKER_TLS_VERIFY")
        .filter(|value| !value.is_empty())
        .map(|_| "DOCKER_TLS_VERIFY in dockerd's environment".to_string())
}

/// The roles of the TLS files: named by a dockerd flag, else by daemon.json, else dockerd's
/// default when TLS is on (`$DOCKER_CERT_PATH`, else `$DOCKER_CONFIG`, else root's
/// `~/.docker`: `ca.pem`, `cert.pem`, `key.pem`). `env` is dockerd's environment, `home`
/// root's home folder. Returns whether a default path was used.
pub fn tls_roles(
    view: &View<'_>,
    args: &[Arg],
    daemon: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
    home: &str,
    roles: &mut Roles,
) -> bool {
    let on = tls_on(args, daemon, env);
    let mut defaulted = false;
    for (role, flag_name, json_key, file) in [
        ("tls_ca", "--tlscacert", "tlscacert", "ca.pem"),
        ("tls_cert", "--tlscert", "tlscert", "cert.pem"),
        ("tls_key", "--tlskey", "tlskey", "key.pem"),
    ] {
        let from_flag = dockerd::last_value(args, |flag| match (flag, role) {
            (Flag::TlsCaCert(value), "tls_ca")
            | (Flag::TlsCert(value), "tls_cert")
            | (Flag::TlsKey(value), "tls_key") => Some(value),
            _ => None,
        });
        let named = from_flag
            .map(|path| (path, flag_name.to_string()))
            .or_else(|| {
                daemon_json::string(daemon, json_key)
                    .map(|path| (path, format!("\"{json_key}\" in daemon.json")))
            });
        let state = match (named, &on) {
            (Some((path, source)), _) => role_at(
                view,
                &absolute(&path),
                &format!(" (named by {source}): not a finding"),
            ),
            (None, Some(why)) => {
                defaulted = true;
                let dir = TLS_DEFAULT_VARIABLES
                    .iter()
                    .find_map(|name| env(name).filter(|value| !value.is_empty()))
                    .unwrap_or_else(|| format!("{home}/.docker"));
                role_at(
                    view,
                    &absolute(&format!("{dir}/{file}")),
                    &format!(
                        " (dockerd's default {flag_name} with TLS on through {why}): not a finding"
                    ),
                )
            }
            (None, None) => RoleState::Absent(format!(
                "no {flag_name} flag on dockerd's command line, no \"{json_key}\" in daemon.json and TLS off: no such file to check"
            )),
        };
        roles.insert(key(role), state);
    }
    defaulted
}

/// Root's home folder from the root's /etc/passwd (dockerd's `~` when it runs as root).
pub fn root_home(passwd: &str) -> String {
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 6 && fields[2] == "0" && !fields[5].is_empty())
                .then(|| fields[5].to_string())
        })
        .unwrap_or_else(|| "/root".to_string())
}

/// Registry certificates: every regular file under /etc/docker/certs.d. `Err` says why the
/// folder could not be walked.
pub fn registry_certs(view: &View<'_>, roles: &mut Roles) -> std::result::Result<(), String> {
    match view.resolve(Path::new(CERTS_D), true) {
        Ok(resolved) if resolved.stat.map(|stat| stat.kind) == Some(Kind::Dir) => {
            walk_certs(view, &resolved.rel, "", roles).map_err(|error| error.message().to_string())
        }
        Ok(_) => Ok(()),
        Err(error) => Err(error.message().to_string()),
    }
}

fn walk_certs(view: &View<'_>, dir: &Path, prefix: &str, roles: &mut Roles) -> Result<()> {
    for name in view.list(dir)? {
        let path = dir.join(&name);
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let Some(stat) = view.lstat(&path)? else {
            continue;
        };
        let role = vec![REGISTRY_CERTS.to_string(), rel.clone()];
        match stat.kind {
            Kind::Dir => walk_certs(view, &path, &rel, roles)?,
            Kind::File => {
                roles.insert(
                    role,
                    RoleState::Present(Resolved {
                        rel: path,
                        stat: Some(stat),
                    }),
                );
            }
            Kind::Symlink => match view.resolve(&path, true) {
                Ok(resolved) if resolved.stat.map(|stat| stat.kind) == Some(Kind::File) => {
                    roles.insert(role, RoleState::Present(resolved));
                }
                Ok(_) => {}
                Err(error) => {
                    roles.insert(role, RoleState::Refused(error.message().to_string()));
                }
            },
            _ => {}
        }
    }
    Ok(())
}
