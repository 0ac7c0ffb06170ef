//! dockerd's settings changed where they are set: a flag in an environment file's variable
//! (`DOCKER_OPTS`, `OPTIONS`) is taken out of that variable's value, rewritten in place with
//! every other option kept; a flag of the `ExecStart=` line or of an `Environment=` variable
//! goes through stigfix's drop-in (a new `ExecStart=` or `Environment=`); `"hosts"` and
//! `"insecure-registries"` are edited in daemon.json; docker.socket's network `ListenStream=`s
//! are replaced by a drop-in for the socket. At least one local listener stays, and `-H` flags
//! never stay beside a `"hosts"` of daemon.json (dockerd refuses that, docs/reference/api-facts.md §4.1).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::super::daemon_json;
use super::super::dockerd::{self, Arg, Flag};
use super::super::environment::Origin;
use super::super::state::State;
use super::super::systemd::{Exec, envfile};
use super::render::{env_line, render_dropin, render_socket_dropin};
use crate::error::{Error, Result};

/// What the dockerd edits ask for.
#[derive(Default)]
pub struct Wanted {
    pub tcp_keep: Option<Vec<String>>,
    pub registries_keep: Option<Vec<String>>,
    pub environment: Vec<(String, String)>,
    /// The rules of every dockerd edit (named in the service's drop-in).
    pub rules: Vec<String>,
    /// The rules of the listener edit (named in the socket's drop-in).
    pub tcp_rules: Vec<String>,
}

/// New contents of files, and which units must restart.
#[derive(Default)]
pub struct Contents {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    pub service: bool,
    pub socket: bool,
}

/// The socket address dockerd gets when its last listener goes.
const SOCKET_PATH: &str = "/run/docker.sock";

fn check_subset(state: &State, keep: &[String], current: &[String], what: &str) -> Result<()> {
    match keep.iter().find(|item| !current.contains(item)) {
        Some(extra) => Err(Error::new(format!(
            "{}: stigfix only removes {what}; `{extra}` is not one of the current ones ({})",
            state.endpoint,
            current.join(", ")
        ))),
        None => Ok(()),
    }
}

pub fn compute(state: &State, wanted: Wanted) -> Result<Contents> {
    let mut contents = Contents::default();
    let service = state.service.as_ref();
    let mut map = state.daemon_map.clone();
    let removable_host = |host: &str| {
        wanted
            .tcp_keep
            .as_ref()
            .is_some_and(|keep| dockerd::is_tcp(host) && !keep.iter().any(|k| k == host))
    };
    let removable_registry = |registry: &str| {
        wanted
            .registries_keep
            .as_ref()
            .is_some_and(|keep| !keep.iter().any(|k| k == registry))
    };
    if let Some(keep) = &wanted.tcp_keep {
        check_subset(state, keep, &state.tcp_hosts(), "TCP listeners")?;
    }
    if let Some(keep) = &wanted.registries_keep {
        check_subset(
            state,
            keep,
            &state.insecure_registries(),
            "insecure registries",
        )?;
    }

    // daemon.json
    let mut removed_host = false;
    match map.get_mut("hosts") {
        Some(Value::Array(items)) => {
            let before = items.len();
            items.retain(|item| !item.as_str().is_some_and(removable_host));
            removed_host |= before != items.len();
            if items.is_empty() && removed_host {
                map.shift_remove("hosts");
            }
        }
        // One listener as a plain string (read as a list of one).
        Some(Value::String(host)) if removable_host(host) => {
            map.shift_remove("hosts");
            removed_host = true;
        }
        _ => {}
    }
    if map.contains_key("insecure-registries") && wanted.registries_keep.is_some() {
        let kept: Vec<Value> = daemon_json::strings(&map, "insecure-registries")
            .into_iter()
            .filter(|registry| !removable_registry(registry))
            .map(Value::String)
            .collect();
        map.insert("insecure-registries".to_string(), Value::Array(kept));
    }

    // The command line, where its flags are set.
    let args: &[Arg] = service.map_or(&[], |service| &service.command.args);
    removed_host |= args
        .iter()
        .any(|arg| matches!(&arg.flag, Flag::Host(host) if removable_host(host)));
    let file_hosts = map.contains_key("hosts");
    let remove = |arg: &Arg| match &arg.flag {
        // Listeners from the file only: a -H flag as well stops dockerd.
        Flag::Host(host) => removable_host(host) || (removed_host && file_hosts),
        Flag::InsecureRegistry(registry) => removable_registry(registry),
        _ => false,
    };
    let socket_listens = state.socket.as_ref().map(|socket| &socket.settings.listen);
    let socket_removed = socket_listens.is_some_and(|listens| {
        listens.iter().any(|listen| {
            listen.is_network()
                && removable_host(&super::super::systemd::socket::shown_address(
                    &listen.address,
                ))
        })
    });
    let flags_left = args
        .iter()
        .any(|arg| matches!(arg.flag, Flag::Host(_)) && !remove(arg));
    let insert = (removed_host && !file_hosts && !flags_left).then(|| {
        if state.socket.is_some() {
            "fd://"
        } else {
            "unix:///var/run/docker.sock"
        }
    });
    let mut dropin_env: Vec<(String, String)> = Vec::new();
    let mut exec_line: Option<String> = None;
    if let (Some(service), Some(exec)) = (service, service.and_then(|s| s.exec.as_ref())) {
        let rewrite = service.command.rewrite(exec, &service.env, remove, insert);
        if let Some(words) = &rewrite.exec_words {
            exec_line = Some(Exec::render(&exec.prefix, words));
        }
        for (name, value) in rewrite.values {
            set_variable(state, &name, &value, &mut contents, &mut dropin_env)?;
        }
    }
    for (name, value) in &wanted.environment {
        let current = service
            .and_then(|s| s.env.get(name))
            .map(|v| v.value.as_str());
        if current != Some(value.as_str()) {
            set_variable(state, name, value, &mut contents, &mut dropin_env)?;
        }
    }

    // stigfix's drop-in for docker.service.
    if exec_line.is_some() || !dropin_env.is_empty() {
        let Some(service) = service else {
            return Err(Error::new(format!(
                "docker.service not found on the unit search path under {}: cannot change dockerd flags or environment",
                state.endpoint
            )));
        };
        let own = service.own.clone().unwrap_or_default();
        let mut env_lines: Vec<(String, String)> = own
            .env
            .iter()
            .map(|setting| {
                (
                    setting.name.clone(),
                    env_line(&setting.name, &setting.value, false),
                )
            })
            .collect();
        for (name, line) in dropin_env {
            match env_lines.iter_mut().find(|(existing, _)| *existing == name) {
                Some(slot) => slot.1 = line,
                None => env_lines.push((name, line)),
            }
        }
        let exec_line = exec_line.or_else(|| {
            own.exec
                .last()
                .map(|exec| Exec::render(&exec.prefix, &exec.words))
        });
        let text = render_dropin(
            &rules(service.own_rules.clone(), &wanted.rules),
            &env_lines,
            exec_line.as_deref(),
        );
        if state.dropin.bytes.as_deref() != Some(text.as_bytes()) {
            contents
                .files
                .insert(state.dropin.rel.clone(), text.into_bytes());
            contents.service = true;
        }
    }

    // stigfix's drop-in for docker.socket.
    if socket_removed && let Some(listens) = socket_listens {
        let mut kept: Vec<String> = listens
            .iter()
            .filter(|listen| {
                !(listen.is_network()
                    && removable_host(&super::super::systemd::socket::shown_address(
                        &listen.address,
                    )))
            })
            .map(|listen| listen.address.clone())
            .collect();
        if !kept.iter().any(|address| address.starts_with('/')) {
            kept.insert(0, SOCKET_PATH.to_string());
        }
        let text = render_socket_dropin(&rules(Vec::new(), &wanted.tcp_rules), &kept);
        if state.socket_dropin.bytes.as_deref() != Some(text.as_bytes()) {
            contents
                .files
                .insert(state.socket_dropin.rel.clone(), text.into_bytes());
            contents.socket = true;
            contents.service = true;
        }
    }

    if map != state.daemon_map {
        contents
            .files
            .insert(state.daemon.rel.clone(), daemon_json::render(&map));
        contents.service = true;
    }
    Ok(contents)
}

fn rules(mut own: Vec<String>, new: &[String]) -> Vec<String> {
    own.extend(new.iter().cloned());
    own.sort();
    own.dedup();
    own
}

/// Give `name` the value `value` where it is set: its environment file's assignment, else an
/// `Environment=` line of stigfix's drop-in (values are literal: a `%` is escaped there).
fn set_variable(
    state: &State,
    name: &str,
    value: &str,
    contents: &mut Contents,
    dropin_env: &mut Vec<(String, String)>,
) -> Result<()> {
    let service = state.service.as_ref();
    match service.and_then(|s| s.env.get(name)).map(|v| &v.origin) {
        Some(Origin::File { file, .. }) => {
            let loaded = &service.expect("a variable comes from a service").env.files[*file];
            let current = contents
                .files
                .get(&loaded.rel)
                .cloned()
                .unwrap_or_else(|| loaded.bytes.clone());
            let parsed = envfile::parse(&current)
                .map_err(|why| Error::new(format!("{}: {why}", state.root.show(&loaded.rel))))?;
            let Some(assignment) = parsed.get(name) else {
                return Err(Error::new(format!(
                    "{}: {name} is no longer assigned in the file",
                    state.root.show(&loaded.rel)
                )));
            };
            let bytes = envfile::replace(&current, &assignment.span, name, value);
            contents.files.insert(loaded.rel.clone(), bytes);
            contents.service = true;
        }
        Some(Origin::Unit { .. }) | None => {
            dropin_env.push((name.to_string(), env_line(name, value, true)));
        }
    }
    Ok(())
}
