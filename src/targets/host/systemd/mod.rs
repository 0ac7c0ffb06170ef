//! systemd as it builds a service's command line and environment: unit files and their syntax
//! ([`syntax`]), the unit search path and drop-ins ([`search`]), `[Service]` settings
//! ([`service`]), `EnvironmentFile=` files ([`envfile`]), `%` specifiers ([`specifiers`]) and
//! socket units ([`socket`]).

pub mod envfile;
pub mod search;
pub mod service;
pub mod socket;
pub mod specifiers;
pub mod syntax;

pub use search::{Found, LoadedUnit, UNIT_DIRS, find_fragment, load, load_at};
pub use service::{Exec, ServiceSettings};
pub use syntax::{quote_word, valid_env_name};

/// What a problem makes uncertain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything about dockerd's configuration: docker.service itself is in doubt.
    Service,
    /// dockerd's command line (`ExecStart=`).
    Command,
    /// One environment variable of the service.
    Variable(String),
    /// Every environment variable (a file that sets them could not be read).
    Environment,
    /// docker.socket's listeners.
    Socket,
    /// What daemon.json says.
    DaemonJson,
}

/// Something stigfix cannot interpret, and what it makes `unknown`.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub scope: Scope,
    /// What and where (`FILE:LINE: …`).
    pub reason: String,
}

impl Problem {
    pub fn new(scope: Scope, reason: impl Into<String>) -> Problem {
        Problem {
            scope,
            reason: reason.into(),
        }
    }
}
