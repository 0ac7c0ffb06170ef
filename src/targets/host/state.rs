//! The state of a host root as stigfix sees it: docker.service and docker.socket with dockerd's
//! effective command line and environment, daemon.json, the files of the STIG's rules, and
//! what cannot be interpreted. The document over it is in [`super::paths`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::daemon_json;
use super::dockerd::{self, Arg, Flag};
use super::engine_version;
use super::fsroot::{FsRoot, Kind, Overlay, Stat, View, mode_string};
use super::procinfo;
use super::roles::{self, DOCKER_SOCK, ETC_DEFAULT_DOCKER, ETC_DOCKER, RoleState, Roles, key};
use super::systemd::{self, Problem, Scope, UNIT_DIRS};
use super::units::{
    self, DROPIN, DROPIN_NAME, SERVICE, SOCKET, SOCKET_DROPIN, Service, Socket, SocketFound,
};
use super::users::Users;
use crate::error::{Error, Result};
use crate::targets::Product;

pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// A file stigfix may write whole (daemon.json, its drop-ins, environment files).
#[derive(Clone, Debug)]
pub struct ContentFile {
    pub rel: PathBuf,
    pub stat: Option<Stat>,
    pub bytes: Option<Vec<u8>>,
    /// Directories to create, parent first, before the file can be created.
    pub missing_dirs: Vec<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct State {
    pub root: FsRoot,
    /// The running Docker Engine (root `/` only; not part of the fingerprint).
    pub product: Option<Product>,
    pub endpoint: String,
    pub users: Users,
    /// Why no Docker Engine installation was found under the root, when none was.
    pub no_engine: Option<String>,
    pub service: Option<Service>,
    pub socket: Option<Socket>,
    pub daemon: ContentFile,
    pub daemon_map: Map<String, Value>,
    pub dropin: ContentFile,
    pub socket_dropin: ContentFile,
    pub default_docker: Option<Vec<u8>>,
    pub roles: Roles,
    /// Whether a TLS file's path is dockerd's default (it then depends on the environment).
    pub tls_defaults: bool,
    /// What stigfix cannot interpret, and what it makes unknown.
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
    pub fingerprint: String,
}

impl State {
    /// Read the state of a root (through an overlay when given). `proc` is the /proc to ask
    /// about the running kernel and dockerd (only for the root `/`).
    pub fn read(
        root: &FsRoot,
        overlay: Option<&Overlay>,
        proc: Option<&Path>,
        engine_sockets: &[PathBuf],
    ) -> Result<State> {
        let view = match overlay {
            Some(overlay) => root.view_with(overlay),
            None => root.view(),
        };
        let endpoint = root.path().display().to_string();
        let users = Users::read(&view)?;
        let mut notes = Vec::new();
        let mut roles = Roles::new();
        let mut problems = Vec::new();

        let dropin = content_file(&view, Path::new(DROPIN))?;
        let socket_dropin = content_file(&view, Path::new(SOCKET_DROPIN))?;

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
                let fragment = view.resolve(&unit.fragment.rel, true)?;
                roles.insert(key("docker_service"), RoleState::Present(fragment));
                let service = Service::read(&view, unit);
                problems.extend(service.problems().cloned());
                if !service.later.is_empty() {
                    notes.push(later_note(&view, &service.later, SERVICE));
                }
                Some(service)
            }
        };

        let socket = match units::read_socket(&view)? {
            SocketFound::Absent => {
                roles.insert(
                    key("docker_socket"),
                    RoleState::Absent(format!(
                        "docker.socket not found on the unit search path under {endpoint}"
                    )),
                );
                None
            }
            SocketFound::Masked(path) => {
                let why = format!(
                    "docker.socket is masked ({} links to /dev/null)",
                    view.show(&path)
                );
                notes.push(why.clone());
                roles.insert(key("docker_socket"), RoleState::Absent(why));
                None
            }
            SocketFound::Present(socket) => {
                let fragment = view.resolve(&socket.unit.fragment.rel, true)?;
                roles.insert(key("docker_socket"), RoleState::Present(fragment));
                problems.extend(socket.settings.problems.iter().cloned());
                if !socket.later.is_empty() {
                    notes.push(later_note(&view, &socket.later, SOCKET));
                }
                Some(*socket)
            }
        };

        let args: &[Arg] = service
            .as_ref()
            .map_or(&[], |service| &service.command.args);

        // daemon.json: the --config-file flag or the default path.
        let config_flag = dockerd::last_value(args, |flag| match flag {
            Flag::ConfigFile(value) => Some(value),
            _ => None,
        });
        let daemon_path = roles::absolute(config_flag.as_deref().unwrap_or(DAEMON_JSON));
        let daemon = content_file(&view, &daemon_path)?;
        let daemon_map = match (&daemon.stat, &daemon.bytes) {
            (Some(_), Some(bytes)) => {
                let shown = view.show(&daemon.rel);
                if let Ok((_, Some(encoding))) = daemon_json::decode(bytes) {
                    notes.push(daemon_json::bom_note(&shown, encoding));
                }
                match daemon_json::parse(bytes, &shown) {
                    Ok(map) => map,
                    Err(error) => {
                        problems.push(Problem::new(
                            Scope::DaemonJson,
                            format!("{}; dockerd refuses to start with it", error.message()),
                        ));
                        Map::new()
                    }
                }
            }
            _ => Map::new(),
        };
        roles.insert(
            key("daemon_json"),
            match daemon.stat {
                Some(stat) => RoleState::Present(roles::present(&daemon.rel, stat)),
                None => RoleState::Absent(format!(
                    "{} does not exist; the STIG requires it: the fix creates it as {{}} root:root 0644",
                    view.show(&daemon.rel)
                )),
            },
        );

        let etc_docker = roles::role_at(&view, Path::new(ETC_DOCKER), "");
        let no_engine = (service.is_none()
            && socket.is_none()
            && !units::dockerd_installed(&view)
            && !matches!(etc_docker, RoleState::Present(_)))
        .then(|| {
            format!(
                "no Docker Engine installation found under {endpoint}: no docker.service or docker.socket on the unit search path, no dockerd in {}, no {ETC_DOCKER}; check that --host-root is the node's root (a mount point that is not mounted looks like this)",
                units::DOCKERD_PATHS.join(", ")
            )
        });
        roles.insert(key("etc_docker"), etc_docker);
        let default_role = roles::role_at(
            &view,
            Path::new(ETC_DEFAULT_DOCKER),
            " (only Debian and Ubuntu packages install it): not a finding",
        );
        let default_docker = match &default_role {
            RoleState::Present(resolved)
                if resolved.stat.map(|stat| stat.kind) == Some(Kind::File) =>
            {
                view.read(&resolved.rel).ok()
            }
            _ => None,
        };
        roles.insert(key("etc_default_docker"), default_role);
        roles.insert(
            key("docker_sock"),
            roles::role_at(&view, Path::new(DOCKER_SOCK), " (is dockerd running?)"),
        );
        let env = |name: &str| {
            service
                .as_ref()
                .and_then(|service| service.env.get(name))
                .map(|variable| variable.value.clone())
        };
        let tls_defaults = roles::tls_roles(
            &view,
            args,
            &daemon_map,
            &env,
            &roles::root_home(&users.passwd),
            &mut roles,
        );
        if let Err(why) = roles::registry_certs(&view, &mut roles) {
            notes.push(format!("registry certificates not checked: {why}"));
        }

        if let Some(service) = &service {
            let flag_hosts = dockerd::hosts(&service.command.args);
            if !flag_hosts.is_empty() && daemon_map.contains_key("hosts") {
                notes.push(format!(
                    "dockerd gets listeners both from -H flags ({}) and from \"hosts\" in {}: dockerd refuses to start with both",
                    flag_hosts.join(", "),
                    view.show(&daemon.rel)
                ));
            }
        }
        // The running Engine's product and version: only the root `/` has one to ask.
        let mut product = None;
        if !engine_sockets.is_empty() {
            let sockets: Vec<&Path> = engine_sockets.iter().map(PathBuf::as_path).collect();
            match engine_version::running_engine(&sockets, Duration::from_secs(3)) {
                Ok(found) => product = Some(found),
                Err(why) => notes.push(why),
            }
        }
        if let Some(proc) = proc {
            notes.extend(procinfo::fips_note(proc));
            if let Some(service) = &service {
                notes.extend(procinfo::pending_restart_notes(proc, service));
            }
        }

        let mut state = State {
            root: root.clone(),
            product,
            endpoint,
            users,
            no_engine,
            service,
            socket,
            daemon,
            daemon_map,
            dropin,
            socket_dropin,
            default_docker,
            roles,
            tls_defaults,
            problems,
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
        let units = self
            .service
            .iter()
            .map(|service| &service.unit)
            .chain(self.socket.iter().map(|socket| &socket.unit));
        for unit in units {
            for file in unit.files() {
                add(&format!("unit {}", file.rel.display()), &file.bytes);
            }
        }
        if let Some(service) = &self.service {
            for file in &service.env.files {
                add(&format!("env {}", file.rel.display()), &file.bytes);
            }
        }
        for (label, file) in [
            ("daemon.json", &self.daemon),
            ("dropin", &self.dropin),
            ("socket dropin", &self.socket_dropin),
        ] {
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
                // Not the reasons: they name the root folder, and the fingerprint of a node
                // must not change with where its `/` is mounted (`stigfix nodes`: `/host`).
                RoleState::Absent(_) => "absent".to_string(),
                RoleState::Refused(_) => "refused".to_string(),
            };
            add(&format!("role {}", role.join("/")), text.as_bytes());
        }
        crate::values::fingerprint(&buffer)
    }

    pub fn role(&self, role: &[String]) -> Option<&RoleState> {
        self.roles.get(role)
    }

    /// The stat of a file this state knows (role files, daemon.json, drop-ins, environment
    /// files).
    pub fn stat_of(&self, rel: &Path) -> Option<Stat> {
        if let Some(file) = self.content(rel) {
            return file.stat;
        }
        self.roles.values().find_map(|state| match state {
            RoleState::Present(resolved) if resolved.rel == rel => resolved.stat,
            _ => None,
        })
    }

    /// A file stigfix may rewrite, as read.
    pub fn content(&self, rel: &Path) -> Option<ContentFile> {
        for file in [&self.daemon, &self.dropin, &self.socket_dropin] {
            if file.rel == rel {
                return Some(file.clone());
            }
        }
        let service = self.service.as_ref()?;
        service
            .env
            .files
            .iter()
            .find(|file| file.rel == rel)
            .map(|file| ContentFile {
                rel: file.rel.clone(),
                stat: Some(file.stat),
                bytes: Some(file.bytes.clone()),
                missing_dirs: Vec::new(),
            })
    }
}

fn later_note(view: &View<'_>, later: &[PathBuf], unit: &str) -> String {
    format!(
        "drop-in {} sorts after {DROPIN_NAME} and overrides it: stigfix cannot change the settings of {unit} until it is renamed or removed",
        later
            .iter()
            .map(|path| view.show(path))
            .collect::<Vec<_>>()
            .join(", ")
    )
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
