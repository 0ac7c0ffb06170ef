//! The document over a host's state: `dockerd.tcp_hosts`, `dockerd.insecure_registries`,
//! `dockerd.environment.<NAME>` and `files.<role>.owner|group|mode` — their values, where each
//! was read, which can be written, and which cannot be determined.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::command::From;
use super::daemon_json;
use super::dockerd::{self, Flag};
use super::environment::Origin;
use super::fsroot::mode_string;
use super::roles::{
    CONFIGURED_ROLES, REGISTRY_CERTS, ROLES, RoleState, TLS_DEFAULT_VARIABLES, key,
};
use super::state::State;
use super::systemd::socket::shown_address;
use super::systemd::{Scope, valid_env_name};
use super::units::DROPIN_NAME;
use crate::keypath::KeyPath;

/// A TCP (or other network) listener of dockerd, and where it is set.
#[derive(Clone, Debug, PartialEq)]
pub struct Listener {
    pub address: String,
    pub at: String,
}

pub fn path(segments: &[&str]) -> KeyPath {
    KeyPath::from_segments(segments.iter().map(|s| s.to_string()).collect())
}

fn strings_value(items: Vec<String>) -> toml::Value {
    toml::Value::Array(items.into_iter().map(toml::Value::String).collect())
}

fn unknown_path(path: &KeyPath) -> String {
    let roles = ROLES.join(", ");
    format!(
        "`{path}` is not a host setting stigfix knows (dockerd.tcp_hosts, dockerd.insecure_registries, dockerd.environment.<NAME>, files.<role>.owner|group|mode with role one of {roles}, registry_certs.<file>)"
    )
}

impl State {
    /// Where the flag at argument `index` of dockerd's command line is set.
    fn flag_at(&self, index: usize) -> String {
        let Some(service) = &self.service else {
            return String::new();
        };
        let arg = &service.command.args[index];
        let word = arg.span.clone().find_map(|i| service.command.words.get(i));
        match word.map(|word| &word.from) {
            Some(From::Variable { name, .. }) => match service.env.get(name).map(|v| &v.origin) {
                Some(Origin::File { rel, line, .. }) => {
                    format!("{}:{line} ({name})", self.root.show(rel))
                }
                Some(Origin::Unit { file, line }) => {
                    format!("{}:{line} (Environment={name})", self.root.show(file))
                }
                None => String::new(),
            },
            _ => service.exec.as_ref().map_or_else(String::new, |exec| {
                format!("{}:{} (ExecStart)", self.root.show(&exec.file), exec.line)
            }),
        }
    }

    /// dockerd's network listeners: `-H` flags, `"hosts"` of daemon.json, and docker.socket's
    /// network `ListenStream=`s.
    pub fn listeners(&self) -> Vec<Listener> {
        let mut listeners = Vec::new();
        if let Some(service) = &self.service {
            for (index, arg) in service.command.args.iter().enumerate() {
                if let Flag::Host(host) = &arg.flag
                    && dockerd::is_tcp(host)
                {
                    listeners.push(Listener {
                        address: host.clone(),
                        at: self.flag_at(index),
                    });
                }
            }
        }
        for host in daemon_json::strings(&self.daemon_map, "hosts") {
            if dockerd::is_tcp(&host) {
                listeners.push(Listener {
                    address: host,
                    at: format!("{} (\"hosts\")", self.root.show(&self.daemon.rel)),
                });
            }
        }
        if let Some(socket) = &self.socket {
            for listen in socket.settings.listen.iter().filter(|l| l.is_network()) {
                listeners.push(Listener {
                    address: shown_address(&listen.address),
                    at: format!(
                        "{}:{} (ListenStream)",
                        self.root.show(&listen.file),
                        listen.line
                    ),
                });
            }
        }
        listeners
    }

    pub fn tcp_hosts(&self) -> Vec<String> {
        self.listeners().into_iter().map(|l| l.address).collect()
    }

    pub fn insecure_registries(&self) -> Vec<String> {
        let mut registries: Vec<String> = self
            .service
            .as_ref()
            .map(|service| dockerd::insecure_registries(&service.command.args))
            .unwrap_or_default();
        registries.extend(daemon_json::strings(
            &self.daemon_map,
            "insecure-registries",
        ));
        registries
    }

    /// Whether a problem of `scope` makes dockerd's command line uncertain.
    fn touches_command(&self, scope: &Scope) -> bool {
        let uses = self.service.as_ref().map(|service| &service.command.uses);
        match scope {
            Scope::Service | Scope::Command => true,
            Scope::Environment => uses.is_some_and(|uses| !uses.is_empty()),
            Scope::Variable(name) => uses.is_some_and(|uses| uses.contains(name)),
            Scope::Socket | Scope::DaemonJson => false,
        }
    }

    fn doubt(&self, relevant: impl Fn(&Scope) -> bool) -> Option<String> {
        let mut seen = BTreeSet::new();
        let reasons: Vec<&str> = self
            .problems
            .iter()
            .filter(|problem| relevant(&problem.scope))
            .map(|problem| problem.reason.as_str())
            .filter(|reason| seen.insert(*reason))
            .collect();
        match reasons.len() {
            0 => None,
            1..=3 => Some(reasons.join("; ")),
            more => Some(format!(
                "{} (and {} more)",
                reasons[..3].join("; "),
                more - 3
            )),
        }
    }

    /// Why the value at `path` cannot be determined.
    pub fn unknown(&self, path: &KeyPath) -> Option<String> {
        if let Some(why) = &self.no_engine {
            return Some(why.clone());
        }
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "tcp_hosts"] => self.doubt(|scope| {
                self.touches_command(scope) || matches!(scope, Scope::Socket | Scope::DaemonJson)
            }),
            ["dockerd", "insecure_registries"] => {
                self.doubt(|scope| self.touches_command(scope) || *scope == Scope::DaemonJson)
            }
            ["dockerd", "environment", name] => self.doubt(|scope| match scope {
                Scope::Service | Scope::Environment => true,
                Scope::Variable(variable) => variable == name,
                _ => false,
            }),
            ["files", role, _] if CONFIGURED_ROLES.contains(role) => self.doubt(|scope| {
                let tls = *role != "daemon_json";
                // A default TLS path depends on the environment.
                let default_path = tls
                    && self.tls_defaults
                    && match scope {
                        Scope::Environment => true,
                        Scope::Variable(name) => TLS_DEFAULT_VARIABLES.contains(&name.as_str()),
                        _ => false,
                    };
                self.touches_command(scope) || (tls && *scope == Scope::DaemonJson) || default_path
            }),
            _ => None,
        }
    }

    /// Every concrete path of the document.
    pub fn all_paths(&self) -> Vec<KeyPath> {
        let mut paths = vec![
            path(&["dockerd", "tcp_hosts"]),
            path(&["dockerd", "insecure_registries"]),
        ];
        if let Some(service) = &self.service {
            for name in service.env.vars.keys() {
                paths.push(path(&["dockerd", "environment", name]));
            }
        }
        for (role, state) in &self.roles {
            if matches!(state, RoleState::Absent(_)) && role != &key("daemon_json") {
                continue;
            }
            for leaf in ["owner", "group", "mode"] {
                let mut segments = vec!["files".to_string()];
                segments.extend(role.iter().cloned());
                segments.push(leaf.to_string());
                paths.push(KeyPath::from_segments(segments));
            }
        }
        paths
    }

    pub fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "tcp_hosts"] => Some(strings_value(self.tcp_hosts())),
            ["dockerd", "insecure_registries"] => Some(strings_value(self.insecure_registries())),
            ["dockerd", "environment", name] => self
                .service
                .as_ref()?
                .env
                .get(name)
                .map(|variable| toml::Value::String(variable.value.clone())),
            ["files", role @ .., leaf] if !role.is_empty() => {
                let role: Vec<String> = role.iter().map(|s| s.to_string()).collect();
                let RoleState::Present(resolved) = self.roles.get(&role)? else {
                    return None;
                };
                let stat = resolved.stat?;
                Some(toml::Value::String(match *leaf {
                    "owner" => self.users.user_name(stat.uid),
                    "group" => self.users.group_name(stat.gid),
                    "mode" => mode_string(stat.mode),
                    _ => return None,
                }))
            }
            _ => None,
        }
    }

    pub fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        let segments = pattern.segments();
        // Nothing to enumerate, or a path whose file is not certain: the path itself, so that
        // `unknown` answers for it.
        if self.no_engine.is_some() || self.unknown(pattern).is_some() {
            return vec![pattern.clone()];
        }
        if !segments.iter().any(|segment| segment == "*") {
            if segments.len() >= 3 && segments[0] == "files" {
                let role = &segments[1..segments.len() - 1];
                match self.roles.get(role) {
                    Some(RoleState::Absent(_)) if role != key("daemon_json").as_slice() => {
                        return Vec::new();
                    }
                    // A registry certificate that is not there.
                    None if role.first().map(String::as_str) == Some(REGISTRY_CERTS)
                        && role.len() == 2 =>
                    {
                        return Vec::new();
                    }
                    _ => {}
                }
            }
            return vec![pattern.clone()];
        }
        self.all_paths()
            .into_iter()
            .filter(|candidate| {
                candidate.segments().len() == segments.len()
                    && candidate
                        .segments()
                        .iter()
                        .zip(segments)
                        .all(|(have, want)| want == "*" || have == want)
            })
            .collect()
    }

    pub fn writable(&self, path: &KeyPath) -> std::result::Result<(), String> {
        if let Some(why) = &self.no_engine {
            return Err(why.clone());
        }
        if let Some(why) = self.unknown(path) {
            return Err(format!("stigfix cannot tell what to change: {why}"));
        }
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "tcp_hosts"] => {
                self.dropin_usable()?;
                match &self.socket {
                    Some(socket) if !socket.later.is_empty() => {
                        Err(self.later_error(&socket.later))
                    }
                    _ => Ok(()),
                }
            }
            ["dockerd", "insecure_registries"] => self.dropin_usable(),
            ["dockerd", "environment", name] => {
                let Some(service) = &self.service else {
                    return Err(format!(
                        "docker.service not found on the unit search path under {}: there is no unit to set {name} for",
                        self.endpoint
                    ));
                };
                if !valid_env_name(name) {
                    return Err(format!("`{name}` is not an environment variable name"));
                }
                if let Some(unset) = service.settings.unset.iter().find(|u| u.name == *name) {
                    return Err(format!(
                        "UnsetEnvironment={} in {}:{} removes {name} from dockerd's environment: remove that line by hand",
                        unset.value,
                        self.root.show(&unset.file),
                        unset.line
                    ));
                }
                self.dropin_usable()
            }
            ["files", role @ .., leaf] if !role.is_empty() => {
                let role: Vec<String> = role.iter().map(|s| s.to_string()).collect();
                match self.roles.get(&role) {
                    Some(RoleState::Present(_)) => {}
                    Some(RoleState::Absent(_)) if role == key("daemon_json") => {}
                    Some(RoleState::Absent(why)) => {
                        return Err(format!("{why}: nothing to change"));
                    }
                    Some(RoleState::Refused(why)) => return Err(why.clone()),
                    None => return Err(unknown_path(path)),
                }
                // The trait gives no value: check the names the STIG asks for.
                match *leaf {
                    "owner" => self.users.check_user("root").map(|_| ()),
                    "group" if role == key("docker_sock") => {
                        self.users.check_group("docker").map(|_| ())
                    }
                    "group" => self.users.check_group("root").map(|_| ()),
                    "mode" => Ok(()),
                    _ => Err(unknown_path(path)),
                }
            }
            _ => Err(unknown_path(path)),
        }
    }

    fn later_error(&self, later: &[PathBuf]) -> String {
        format!(
            "drop-in {} sorts after {DROPIN_NAME} and would override stigfix's settings: rename or remove it on the node first",
            later
                .iter()
                .map(|path| self.root.show(path))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    fn dropin_usable(&self) -> std::result::Result<(), String> {
        match &self.service {
            Some(service) if !service.later.is_empty() => Err(self.later_error(&service.later)),
            _ => Ok(()),
        }
    }

    /// The files dockerd's configuration was read from, for evidence when no single line sets
    /// a value.
    fn consulted(&self, socket: bool) -> Vec<String> {
        let mut files: Vec<String> = Vec::new();
        if let Some(service) = &self.service {
            files.extend(service.unit.files().map(|file| self.root.show(&file.rel)));
            files.extend(
                service
                    .env
                    .files
                    .iter()
                    .map(|file| self.root.show(&file.rel)),
            );
        }
        if self.daemon.stat.is_some() {
            files.push(self.root.show(&self.daemon.rel));
        }
        if socket && let Some(socket) = &self.socket {
            files.extend(socket.unit.files().map(|file| self.root.show(&file.rel)));
        }
        files
    }

    pub fn source(&self, path: &KeyPath) -> Option<String> {
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        let places = match segments.as_slice() {
            ["files", role @ .., _] if !role.is_empty() => {
                let role: Vec<String> = role.iter().map(|s| s.to_string()).collect();
                return match self.roles.get(&role)? {
                    RoleState::Present(resolved) => Some(self.root.show(&resolved.rel)),
                    _ => None,
                };
            }
            ["dockerd", "tcp_hosts"] => {
                let listeners = self.listeners();
                if listeners.is_empty() {
                    self.consulted(true)
                } else {
                    listeners.into_iter().map(|l| l.at).collect()
                }
            }
            ["dockerd", "insecure_registries"] => {
                let mut places: Vec<String> = Vec::new();
                if let Some(service) = &self.service {
                    for (index, arg) in service.command.args.iter().enumerate() {
                        if matches!(arg.flag, Flag::InsecureRegistry(_)) {
                            places.push(self.flag_at(index));
                        }
                    }
                }
                if self.daemon_map.contains_key("insecure-registries") {
                    places.push(self.root.show(&self.daemon.rel));
                }
                if places.is_empty() {
                    self.consulted(false)
                } else {
                    places
                }
            }
            ["dockerd", "environment", name] => {
                match self.service.as_ref()?.env.get(name).map(|v| &v.origin) {
                    Some(Origin::File { rel, line, .. }) => {
                        vec![format!("{}:{line}", self.root.show(rel))]
                    }
                    Some(Origin::Unit { file, line }) => {
                        vec![format!("{}:{line}", self.root.show(file))]
                    }
                    None => self.consulted(false),
                }
            }
            _ => return None,
        };
        let mut seen = BTreeSet::new();
        let places: Vec<String> = places
            .into_iter()
            .filter(|p| seen.insert(p.clone()))
            .collect();
        (!places.is_empty()).then(|| places.join(", "))
    }

    pub fn explain(&self, path: &KeyPath) -> Option<String> {
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "environment", name] => match &self.service {
                None => Some(format!(
                    "docker.service not found on the unit search path under {}",
                    self.endpoint
                )),
                Some(service) if service.env.get(name).is_none() => {
                    let files: Vec<String> = service
                        .settings
                        .env_files
                        .iter()
                        .map(|file| file.value.clone())
                        .collect();
                    let files = if files.is_empty() {
                        String::new()
                    } else {
                        format!(" or its EnvironmentFile= ({})", files.join(", "))
                    };
                    Some(format!(
                        "{name} is not set by any Environment= line of docker.service or its drop-ins{files}"
                    ))
                }
                Some(_) => None,
            },
            ["files", role @ .., _] if !role.is_empty() => {
                let role: Vec<String> = role.iter().map(|s| s.to_string()).collect();
                match self.roles.get(&role) {
                    Some(RoleState::Absent(why) | RoleState::Refused(why)) => Some(why.clone()),
                    Some(RoleState::Present(_)) => None,
                    None => Some(unknown_path(path)),
                }
            }
            ["dockerd", "tcp_hosts" | "insecure_registries"] => None,
            _ => Some(unknown_path(path)),
        }
    }
}
