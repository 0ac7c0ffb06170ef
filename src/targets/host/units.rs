//! docker.service and docker.socket as read from a root: the effective settings, dockerd's
//! environment and command line, and stigfix's own drop-in of each.

use std::path::{Path, PathBuf};

use super::command::Command;
use super::environment::Environment;
use super::fsroot::View;
use super::systemd::socket::{self, SocketSettings};
use super::systemd::specifiers::Context;
use super::systemd::syntax::parse_unit;
use super::systemd::{self, Exec, Found, LoadedUnit, Problem, ServiceSettings};
use crate::error::Result;

pub const SERVICE: &str = "docker.service";
pub const SOCKET: &str = "docker.socket";
/// The name of stigfix's drop-ins (for docker.service and docker.socket).
pub const DROPIN_NAME: &str = "zz-stigfix.conf";
pub const DROPIN: &str = "/etc/systemd/system/docker.service.d/zz-stigfix.conf";
pub const SOCKET_DROPIN: &str = "/etc/systemd/system/docker.socket.d/zz-stigfix.conf";
/// The rules stigfix's drop-in records in its header comment.
pub const RULES_PREFIX: &str = "# STIG rules: ";

/// docker.service as found.
#[derive(Clone, Debug)]
pub struct Service {
    pub unit: LoadedUnit,
    pub settings: ServiceSettings,
    /// The `ExecStart=` in effect, when there is exactly one.
    pub exec: Option<Exec>,
    pub env: Environment,
    pub command: Command,
    /// The settings of stigfix's own drop-in alone, when it exists.
    pub own: Option<ServiceSettings>,
    /// STIG IDs recorded in stigfix's own drop-in.
    pub own_rules: Vec<String>,
    /// Drop-ins that sort after stigfix's own and so would override it.
    pub later: Vec<PathBuf>,
}

impl Service {
    pub fn read(view: &View<'_>, unit: LoadedUnit) -> Service {
        let settings = systemd::service::effective(view, &unit);
        let fragment = unit.fragment.rel.display().to_string();
        let context = Context {
            unit: &unit.fragment.name,
            fragment: &fragment,
        };
        let env = Environment::build(view, &settings, &context);
        let exec = (settings.exec.len() == 1).then(|| settings.exec[0].clone());
        let command = match &exec {
            Some(exec) => {
                let at = format!("{}:{}", view.show(&exec.file), exec.line);
                Command::build(exec, &env, &context, &at)
            }
            None => Command::default(),
        };
        let own_file = unit.dropins.iter().find(|file| file.name == DROPIN_NAME);
        let own = own_file.map(|file| {
            let mut own = ServiceSettings::default();
            own.apply(&parse_unit(&file.bytes), &file.rel, &view.show(&file.rel));
            own
        });
        let own_rules = own_file
            .map(|file| {
                String::from_utf8_lossy(&file.bytes)
                    .lines()
                    .filter_map(|line| line.strip_prefix(RULES_PREFIX))
                    .flat_map(|rules| rules.split(',').map(|rule| rule.trim().to_string()))
                    .filter(|rule| !rule.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let later = later_than_own(&unit);
        Service {
            unit,
            settings,
            exec,
            env,
            command,
            own,
            own_rules,
            later,
        }
    }

    /// Every problem that makes some of dockerd's settings unknown.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.settings
            .problems
            .iter()
            .chain(&self.env.problems)
            .chain(&self.command.problems)
    }
}

/// docker.socket as found (not masked).
#[derive(Clone, Debug)]
pub struct Socket {
    pub unit: LoadedUnit,
    pub settings: SocketSettings,
    /// Drop-ins that sort after stigfix's own and so would override it.
    pub later: Vec<PathBuf>,
}

impl Socket {
    pub fn read(view: &View<'_>, unit: LoadedUnit) -> Socket {
        let settings = socket::effective(view, &unit);
        let later = later_than_own(&unit);
        Socket {
            unit,
            settings,
            later,
        }
    }
}

fn later_than_own(unit: &LoadedUnit) -> Vec<PathBuf> {
    unit.dropins
        .iter()
        .filter(|file| file.name.as_str() > DROPIN_NAME)
        .map(|file| file.rel.clone())
        .collect()
}

/// What the unit search path holds for docker.socket.
pub enum SocketFound {
    Absent,
    Masked(PathBuf),
    Present(Box<Socket>),
}

pub fn read_socket(view: &View<'_>) -> Result<SocketFound> {
    Ok(match systemd::find_fragment(view, SOCKET)? {
        Found::Absent => SocketFound::Absent,
        Found::Masked(path) => SocketFound::Masked(path),
        Found::Fragment(path) => {
            let unit = systemd::load_at(view, SOCKET, path)?;
            SocketFound::Present(Box::new(Socket::read(view, unit)))
        }
    })
}

/// The dockerd executables a package installs, for telling whether Docker Engine is there.
pub const DOCKERD_PATHS: [&str; 3] = [
    "/usr/bin/dockerd",
    "/usr/sbin/dockerd",
    "/usr/local/bin/dockerd",
];

/// Whether any dockerd executable exists under the root.
pub fn dockerd_installed(view: &View<'_>) -> bool {
    DOCKERD_PATHS.iter().any(|path| {
        view.resolve(Path::new(path), true)
            .is_ok_and(|resolved| resolved.stat.is_some())
    })
}
