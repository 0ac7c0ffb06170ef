//! The state of a host root as stigfix sees it, and the document (key paths) over it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::daemon_json;
use super::dockerd::{self, Arg, Flag};
use super::fsroot::{FsRoot, Kind, Overlay, Resolved, Stat, View, mode_string};
use super::procinfo;
use super::systemd::{self, Exec, Found, LoadedUnit, ServiceSettings, UNIT_DIRS};
use super::users::Users;
use crate::error::{Error, Result};
use crate::keypath::KeyPath;

pub const SERVICE: &str = "docker.service";
pub const SOCKET: &str = "docker.socket";
pub const DROPIN_NAME: &str = "zz-stigfix.conf";
pub const DROPIN: &str = "/etc/systemd/system/docker.service.d/zz-stigfix.conf";
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";
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

/// A file stigfix may write whole (daemon.json, its drop-in).
#[derive(Clone, Debug)]
pub struct ContentFile {
    pub rel: PathBuf,
    pub stat: Option<Stat>,
    pub bytes: Option<Vec<u8>>,
    /// Directories to create, parent first, before the file can be created.
    pub missing_dirs: Vec<PathBuf>,
}

/// docker.service as found.
#[derive(Clone, Debug)]
pub struct Service {
    pub unit: LoadedUnit,
    pub settings: ServiceSettings,
    pub exec: Exec,
    pub args: Vec<Arg>,
    /// The settings of stigfix's own drop-in alone, when it exists.
    pub own: Option<ServiceSettings>,
    /// STIG IDs recorded in stigfix's own drop-in.
    pub own_rules: Vec<String>,
    /// Drop-ins that sort after stigfix's own and so would override it.
    pub later: Vec<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct State {
    pub root: FsRoot,
    pub endpoint: String,
    pub users: Users,
    pub service: Option<Service>,
    pub socket_unit: bool,
    pub daemon: ContentFile,
    pub daemon_map: Map<String, Value>,
    pub dropin: ContentFile,
    pub default_docker: Option<Vec<u8>>,
    pub roles: BTreeMap<Vec<String>, RoleState>,
    pub notes: Vec<String>,
    pub fingerprint: String,
}

fn key(role: &str) -> Vec<String> {
    vec![role.to_string()]
}

/// The rules stigfix's drop-in records in its header comment.
pub const RULES_PREFIX: &str = "# STIG rules: ";

impl State {
    /// Read the state of a root (through an overlay when given). `proc` is the /proc to ask
    /// about the running kernel and dockerd (only for the root `/`).
    pub fn read(root: &FsRoot, overlay: Option<&Overlay>, proc: Option<&Path>) -> Result<State> {
        let view = match overlay {
            Some(overlay) => root.view_with(overlay),
            None => root.view(),
        };
        let endpoint = root.path().display().to_string();
        let users = Users::read(&view)?;
        let mut notes = Vec::new();
        let mut roles = BTreeMap::new();

        // The drop-in stigfix writes.
        let dropin = content_file(&view, Path::new(DROPIN))?;

        // docker.service, its drop-ins and the dockerd command line.
        let service = match systemd::load(&view, SERVICE)? {
            None => {
                roles.insert(
                    key("docker_service"),
                    RoleState::Absent(format!(
                        "docker.service not found on the unit search path under {endpoint} ({})",
                        UNIT_DIRS.join(", ")
                    )),
                );
                None
            }
            Some(unit) => {
                let settings = systemd::effective(&view, &unit)?;
                let Some(exec) = settings.exec.first().cloned() else {
                    return Err(Error::new(format!(
                        "{} has no ExecStart= after its drop-ins are applied; systemd refuses it",
                        view.show(&unit.fragment.rel)
                    ))
                    .with_hint("give docker.service an ExecStart= line (an empty `ExecStart=` in a drop-in must be followed by a new one)"));
                };
                let args = dockerd::parse(exec.args());
                let own = match &dropin.bytes {
                    Some(bytes) if dropin.stat.is_some() => {
                        let shown = view.show(&dropin.rel);
                        let mut own = ServiceSettings::default();
                        own.apply(&systemd::parse_unit(bytes, &shown)?, &dropin.rel, &shown)?;
                        Some(own)
                    }
                    _ => None,
                };
                let own_rules = dropin
                    .bytes
                    .as_ref()
                    .map(|bytes| {
                        String::from_utf8_lossy(bytes)
                            .lines()
                            .filter_map(|line| line.strip_prefix(RULES_PREFIX))
                            .flat_map(|rules| rules.split(',').map(|rule| rule.trim().to_string()))
                            .filter(|rule| !rule.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                let later: Vec<PathBuf> = unit
                    .dropins
                    .iter()
                    .filter(|file| file.name.as_str() > DROPIN_NAME)
                    .map(|file| file.rel.clone())
                    .collect();
                if !later.is_empty() {
                    notes.push(format!(
                        "drop-in {} sorts after {DROPIN_NAME} and overrides it: stigfix cannot change dockerd settings until it is renamed or removed",
                        later
                            .iter()
                            .map(|path| view.show(path))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                let fragment = view.resolve(&unit.fragment.rel, true)?;
                roles.insert(key("docker_service"), RoleState::Present(fragment));
                Some(Service {
                    unit,
                    settings,
                    exec,
                    args,
                    own,
                    own_rules,
                    later,
                })
            }
        };

        let socket_unit = match systemd::find_fragment(&view, SOCKET)? {
            Found::Absent => {
                roles.insert(
                    key("docker_socket"),
                    RoleState::Absent(format!(
                        "docker.socket not found on the unit search path under {endpoint}"
                    )),
                );
                false
            }
            Found::Masked(path) => {
                let why = format!(
                    "docker.socket is masked ({} links to /dev/null)",
                    view.show(&path)
                );
                notes.push(why.clone());
                roles.insert(key("docker_socket"), RoleState::Absent(why));
                false
            }
            Found::Fragment(path) => {
                let resolved = view.resolve(&path, true)?;
                roles.insert(key("docker_socket"), RoleState::Present(resolved));
                true
            }
        };

        let args: &[Arg] = service.as_ref().map_or(&[], |service| &service.args);

        // daemon.json: the --config-file flag or the default path.
        let config_flag = dockerd::last_value(args, |flag| match flag {
            Flag::ConfigFile(value) => Some(value),
            _ => None,
        });
        let daemon_path = absolute(config_flag.as_deref().unwrap_or(DAEMON_JSON));
        let daemon = content_file(&view, &daemon_path)?;
        let daemon_map = match (&daemon.stat, &daemon.bytes) {
            (Some(_), Some(bytes)) => daemon_json::parse(bytes, &view.show(&daemon.rel))?,
            _ => Map::new(),
        };
        roles.insert(
            key("daemon_json"),
            match daemon.stat {
                Some(stat) => RoleState::Present(Resolved {
                    rel: daemon.rel.clone(),
                    stat: Some(stat),
                }),
                None => RoleState::Absent(format!(
                    "{} does not exist; the STIG requires it: the fix creates it as {{}} root:root 0644",
                    view.show(&daemon.rel)
                )),
            },
        );

        roles.insert(
            key("etc_docker"),
            role_at(&view, Path::new(ETC_DOCKER), "")?,
        );
        let default_role = role_at(
            &view,
            Path::new(ETC_DEFAULT_DOCKER),
            " (only Ubuntu and Debian packages install it): not a finding",
        )?;
        let default_docker = match &default_role {
            RoleState::Present(resolved)
                if resolved.stat.map(|stat| stat.kind) == Some(Kind::File) =>
            {
                Some(view.read(&resolved.rel)?)
            }
            _ => None,
        };
        roles.insert(key("etc_default_docker"), default_role);
        roles.insert(
            key("docker_sock"),
            role_at(&view, Path::new(DOCKER_SOCK), " (is dockerd running?)")?,
        );

        // TLS files: dockerd flags, else daemon.json.
        for (role, flag_name, json_key) in [
            ("tls_ca", "--tlscacert", "tlscacert"),
            ("tls_cert", "--tlscert", "tlscert"),
            ("tls_key", "--tlskey", "tlskey"),
        ] {
            let from_flag = dockerd::last_value(args, |flag| match (flag, role) {
                (Flag::TlsCaCert(value), "tls_ca")
                | (Flag::TlsCert(value), "tls_cert")
                | (Flag::TlsKey(value), "tls_key") => Some(value),
                _ => None,
            });
            let state = match from_flag
                .map(|path| (path, flag_name.to_string()))
                .or_else(|| {
                    daemon_json::string(&daemon_map, json_key)
                        .map(|path| (path, format!("\"{json_key}\" in daemon.json")))
                }) {
                Some((path, source)) => role_at(
                    &view,
                    &absolute(&path),
                    &format!(" (named by {source}): not a finding"),
                )?,
                None => RoleState::Absent(format!(
                    "no {flag_name} flag in ExecStart and no \"{json_key}\" in daemon.json: no such file to check"
                )),
            };
            roles.insert(key(role), state);
        }

        // Registry certificates: every regular file under /etc/docker/certs.d.
        let certs = view.resolve(Path::new(CERTS_D), true);
        match certs {
            Ok(resolved) if resolved.stat.map(|stat| stat.kind) == Some(Kind::Dir) => {
                walk_certs(&view, &resolved.rel, "", &mut roles)?;
            }
            Ok(_) => {}
            Err(error) => notes.push(format!(
                "registry certificates not checked: {}",
                error.message()
            )),
        }

        // Notes about the configuration.
        if let Some(service) = &service {
            let variables: Vec<&String> = service
                .exec
                .words
                .iter()
                .filter(|word| word.contains('$'))
                .collect();
            if !variables.is_empty() {
                let files = if service.settings.env_files.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (EnvironmentFile={})",
                        service.settings.env_files.join(", ")
                    )
                };
                notes.push(format!(
                    "ExecStart of docker.service ({}:{}) uses {}{files}: stigfix does not expand variables, so dockerd flags set through them are not seen or changed",
                    view.show(&service.exec.file),
                    service.exec.line,
                    variables
                        .iter()
                        .map(|word| format!("`{word}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let flag_hosts = dockerd::hosts(&service.args);
            if !flag_hosts.is_empty() && daemon_map.contains_key("hosts") {
                notes.push(format!(
                    "dockerd gets listeners both from -H flags ({}) and from \"hosts\" in {}: dockerd refuses to start with both",
                    flag_hosts.join(", "),
                    view.show(&daemon.rel)
                ));
            }
        }
        if let Some(proc) = proc {
            notes.extend(procinfo::fips_note(proc));
            if let Some(service) = &service {
                notes.extend(pending_restart_notes(proc, service));
            }
        }

        let mut state = State {
            root: root.clone(),
            endpoint,
            users,
            service,
            socket_unit,
            daemon,
            daemon_map,
            dropin,
            default_docker,
            roles,
            notes,
            fingerprint: String::new(),
        };
        state.fingerprint = state.compute_fingerprint();
        Ok(state)
    }

    fn compute_fingerprint(&self) -> String {
        let mut buffer: Vec<u8> = Vec::new();
        let mut add = |label: &str, bytes: &[u8]| {
            buffer.extend_from_slice(label.as_bytes());
            buffer.extend_from_slice(format!(" {}\n", bytes.len()).as_bytes());
            buffer.extend_from_slice(bytes);
            buffer.push(b'\n');
        };
        if let Some(service) = &self.service {
            for file in std::iter::once(&service.unit.fragment).chain(&service.unit.dropins) {
                add(&format!("unit {}", file.rel.display()), &file.bytes);
            }
        }
        for (label, file) in [("daemon.json", &self.daemon), ("dropin", &self.dropin)] {
            match (&file.stat, &file.bytes) {
                (Some(_), Some(bytes)) => add(&format!("{label} {}", file.rel.display()), bytes),
                _ => add(&format!("{label} {} absent", file.rel.display()), b""),
            }
        }
        if let Some(bytes) = &self.default_docker {
            add("default", bytes);
        }
        add("users", self.users.text.as_bytes());
        for (role, state) in &self.roles {
            let text = match state {
                RoleState::Present(resolved) => match resolved.stat {
                    Some(stat) => format!(
                        "{} {} {} {} {}",
                        resolved.rel.display(),
                        stat.kind.as_str(),
                        stat.uid,
                        stat.gid,
                        mode_string(stat.mode)
                    ),
                    None => "absent".to_string(),
                },
                RoleState::Absent(why) => format!("absent {why}"),
                RoleState::Refused(why) => format!("refused {why}"),
            };
            add(&format!("role {}", role.join("/")), text.as_bytes());
        }
        crate::values::fingerprint(&buffer)
    }

    /// `tcp://` listeners of the effective configuration.
    pub fn tcp_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .service
            .as_ref()
            .map(|service| dockerd::hosts(&service.args))
            .unwrap_or_default();
        hosts.extend(daemon_json::strings(&self.daemon_map, "hosts"));
        hosts.retain(|host| dockerd::is_tcp(host));
        hosts
    }

    pub fn insecure_registries(&self) -> Vec<String> {
        let mut registries: Vec<String> = self
            .service
            .as_ref()
            .map(|service| dockerd::insecure_registries(&service.args))
            .unwrap_or_default();
        registries.extend(daemon_json::strings(
            &self.daemon_map,
            "insecure-registries",
        ));
        registries
    }

    pub fn role(&self, role: &[String]) -> Option<&RoleState> {
        self.roles.get(role)
    }

    /// Every concrete path of the document.
    pub fn all_paths(&self) -> Vec<KeyPath> {
        let mut paths = vec![
            path(&["dockerd", "tcp_hosts"]),
            path(&["dockerd", "insecure_registries"]),
        ];
        if let Some(service) = &self.service {
            for (name, _) in &service.settings.env {
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
                .settings
                .get_env(name)
                .map(|value| toml::Value::String(value.to_string())),
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
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "tcp_hosts"] | ["dockerd", "insecure_registries"] => self.dropin_usable(),
            ["dockerd", "environment", name] => {
                if self.service.is_none() {
                    return Err(format!(
                        "docker.service not found on the unit search path under {}: there is no unit to set {name} for",
                        self.endpoint
                    ));
                }
                if !systemd::valid_env_name(name) {
                    return Err(format!("`{name}` is not an environment variable name"));
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

    fn dropin_usable(&self) -> std::result::Result<(), String> {
        if let Some(service) = &self.service
            && !service.later.is_empty()
        {
            return Err(format!(
                "drop-in {} sorts after {DROPIN_NAME} and would override stigfix's settings: rename or remove it on the node first",
                service
                    .later
                    .iter()
                    .map(|path| self.root.show(path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(())
    }

    pub fn explain(&self, path: &KeyPath) -> Option<String> {
        let segments: Vec<&str> = path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "environment", name] => match &self.service {
                None => Some(format!(
                    "docker.service not found on the unit search path under {}",
                    self.endpoint
                )),
                Some(service) if service.settings.get_env(name).is_none() => {
                    let files = if service.settings.env_files.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; EnvironmentFile= ({}) is not read by stigfix",
                            service.settings.env_files.join(", ")
                        )
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

    /// The stat of a file this state knows (role files, daemon.json, the drop-in).
    pub fn stat_of(&self, rel: &Path) -> Option<Stat> {
        if self.daemon.rel == rel {
            return self.daemon.stat;
        }
        if self.dropin.rel == rel {
            return self.dropin.stat;
        }
        self.roles.values().find_map(|state| match state {
            RoleState::Present(resolved) if resolved.rel == rel => resolved.stat,
            _ => None,
        })
    }
}

fn unknown_path(path: &KeyPath) -> String {
    let roles = ROLES.join(", ");
    format!(
        "`{path}` is not a host setting stigfix knows (dockerd.tcp_hosts, dockerd.insecure_registries, dockerd.environment.<NAME>, files.<role>.owner|group|mode with role one of {roles}, registry_certs.<file>)"
    )
}

pub fn path(segments: &[&str]) -> KeyPath {
    KeyPath::from_segments(segments.iter().map(|s| s.to_string()).collect())
}

fn strings_value(items: Vec<String>) -> toml::Value {
    toml::Value::Array(items.into_iter().map(toml::Value::String).collect())
}

/// A configured path: absolute paths as they are, relative ones from `/` (dockerd's working
/// directory under systemd).
fn absolute(path: &str) -> PathBuf {
    Path::new("/").join(path)
}

fn content_file(view: &View<'_>, path: &Path) -> Result<ContentFile> {
    let resolved = view.resolve(path, true)?;
    let bytes = match resolved.stat {
        Some(stat) if stat.kind == Kind::File => Some(view.read(&resolved.rel)?),
        Some(stat) => {
            return Err(Error::new(format!(
                "{} is a {}, not a regular file",
                view.show(&resolved.rel),
                stat.kind.as_str()
            ))
            .with_hint("the node's file layout is unexpected; fix it by hand"));
        }
        None => None,
    };
    let missing_dirs = if resolved.stat.is_none() {
        view.missing_dirs(&resolved.rel)?
    } else {
        Vec::new()
    };
    Ok(ContentFile {
        rel: resolved.rel,
        stat: resolved.stat,
        bytes,
        missing_dirs,
    })
}

fn role_at(view: &View<'_>, path: &Path, absent_note: &str) -> Result<RoleState> {
    match view.resolve(path, true) {
        Ok(resolved) if resolved.stat.is_some() => Ok(RoleState::Present(resolved)),
        Ok(resolved) => Ok(RoleState::Absent(format!(
            "{} does not exist{absent_note}",
            view.show(&resolved.rel)
        ))),
        Err(error) => Ok(RoleState::Refused(error.message().to_string())),
    }
}

fn walk_certs(
    view: &View<'_>,
    dir: &Path,
    prefix: &str,
    roles: &mut BTreeMap<Vec<String>, RoleState>,
) -> Result<()> {
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

fn pending_restart_notes(proc: &Path, service: &Service) -> Vec<String> {
    let configured_fips = service.settings.get_env("DOCKER_FIPS").map(str::to_string);
    let comparable = !service.exec.words.iter().any(|word| word.contains('$'));
    let mut notes = Vec::new();
    for running in procinfo::running_dockerd(proc) {
        let mut differences = Vec::new();
        let running_args = running.argv.get(1..).unwrap_or_default();
        if comparable && running_args != service.exec.args() {
            differences.push(format!(
                "it runs as `{}` but docker.service now says `{}`",
                systemd::Exec::render("", &running.argv),
                service.exec.display()
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
