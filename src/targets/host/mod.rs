//! The Docker Engine node ("host") target: files under a host root (`--host-root`, `/` for
//! this node).
//!
//! The document ([`paths`]): `dockerd.tcp_hosts`, `dockerd.insecure_registries`,
//! `dockerd.environment.<NAME>` — dockerd's effective configuration, built as systemd builds
//! it ([`units`], [`environment`], [`command`]) from docker.service, its drop-ins and
//! environment files, docker.socket, and daemon.json — and `files.<role>.owner|group|mode`
//! for the files the STIG's ownership rules name ([`roles`], docs/reference/stig-ids.md §1.4). What stigfix
//! cannot interpret makes the values it could affect `unknown`. Reads and writes never leave
//! the root ([`fsroot`]); dockerd settings are changed where they are set, never in the vendor
//! unit ([`changes`]).

mod changes;
mod command;
mod daemon_json;
mod dockerd;
pub mod engine_version;
mod environment;
mod fsroot;
mod live;
mod paths;
mod procinfo;
mod restore;
mod roles;
mod saved;
mod state;
mod systemd;
mod units;
mod users;

#[cfg(all(test, feature = "sim"))]
mod tests;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use changes::{ChangeSet, needs_restart};
use fsroot::FsRoot;
use saved::{SavedEntry, SavedFiles};
use state::State;

pub use live::HostLive;

use super::registry::{Registration, TargetKind};
use super::{Edit, LiveState, Saved, Stop, Target, TargetSpec, Written, own_state};
use crate::error::{Error, Result};

pub const KIND: TargetKind = TargetKind::new("host");

pub static REGISTRATION: Registration = Registration {
    kind: KIND,
    configured_by: "--host-root",
    part_of: None,
    service: None,
    specs: |settings| {
        settings
            .host_roots
            .iter()
            .map(|root| {
                Ok(TargetSpec::new(
                    KIND,
                    FsRoot::new(root)?.path().display().to_string(),
                ))
            })
            .collect()
    },
    connect: |spec, connector| {
        let settings = connector.settings;
        let restart = match settings.restart {
            crate::cli::RestartArg::Never => RestartPolicy::Never,
            crate::cli::RestartArg::IfNeeded => RestartPolicy::IfNeeded,
        };
        // A test hook: a stand-in for systemctl, which also allows restarts under a root other
        // than `/`.
        let systemctl = std::env::var_os("STIGFIX_SYSTEMCTL").map(PathBuf::from);
        Ok(Box::new(HostTarget::new(
            Path::new(&spec.endpoint),
            restart,
            systemctl,
        )?))
    },
};

/// Whether stigfix may restart docker.service after a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    IfNeeded,
}

/// A Docker Engine node reached through its root directory.
pub struct HostTarget {
    root: FsRoot,
    spec: TargetSpec,
    restart: RestartPolicy,
    systemctl: Option<PathBuf>,
    /// The /proc to ask about the running kernel and dockerd: only for the root `/`.
    proc: Option<PathBuf>,
    /// The running Engine's unix sockets, asked for its version: only for the root `/`.
    engine_sockets: Vec<PathBuf>,
    /// Whether the last apply changed docker.socket's listeners (it must restart too).
    socket_changed: AtomicBool,
}

const RESTART_COMMAND: &str = "systemctl daemon-reload && systemctl restart docker";
const RESTART_WITH_SOCKET: &str =
    "systemctl daemon-reload && systemctl restart docker.socket docker";

/// The command that makes new dockerd settings take effect.
fn restart_command(socket: bool) -> &'static str {
    if socket {
        RESTART_WITH_SOCKET
    } else {
        RESTART_COMMAND
    }
}

impl HostTarget {
    /// `root` must be an existing directory; it is stored canonicalized. `systemctl`: a
    /// systemctl binary to use instead of `systemctl` from PATH; it also allows restarts when
    /// the root is not `/` (a test hook).
    pub fn new(
        root: &Path,
        restart: RestartPolicy,
        systemctl: Option<PathBuf>,
    ) -> Result<HostTarget> {
        let root = FsRoot::new(root)?;
        let spec = TargetSpec::new(KIND, root.path().display().to_string());
        let proc = root.is_slash().then(|| PathBuf::from("/proc"));
        let engine_sockets = match root.is_slash() {
            true => engine_version::SOCKETS.iter().map(PathBuf::from).collect(),
            false => Vec::new(),
        };
        Ok(HostTarget {
            root,
            spec,
            restart,
            systemctl,
            proc,
            engine_sockets,
            socket_changed: AtomicBool::new(false),
        })
    }

    /// The canonical root, e.g. `/` or `/tmp/x/node1`.
    pub fn endpoint(&self) -> &str {
        &self.spec.endpoint
    }

    #[cfg(all(test, feature = "sim"))]
    fn with_proc(mut self, proc: &Path) -> HostTarget {
        self.proc = Some(proc.to_path_buf());
        self
    }

    fn read_state(&self) -> Result<State> {
        State::read(&self.root, None, self.proc.as_deref(), &self.engine_sockets)
    }

    pub async fn read(&self) -> Result<HostLive> {
        Ok(HostLive::new(self.read_state()?))
    }

    /// Write the changes for `edits`, atomically per file, then read the root again and check
    /// that every edited path has its new value. Restarts nothing.
    pub async fn apply(&self, live: &HostLive, edits: &[Edit]) -> Result<HostLive> {
        let current = self.read_state()?;
        if current.fingerprint != live.fingerprint {
            return Err(Error::new(format!(
                "host {}: the files changed since they were read; nothing was written",
                self.endpoint()
            ))
            .with_hint("run the plan again"));
        }
        if let Some(why) = &current.no_engine {
            return Err(
                Error::new(format!("host {}: {why}", self.endpoint())).with_hint(
                    "point --host-root at the node's root filesystem; nothing was written",
                ),
            );
        }
        let changes = changes::compute(&live.state, edits)?;
        self.socket_changed
            .store(changes.socket_config, Ordering::SeqCst);
        self.execute(&live.state, &changes)?;
        let after = self.read().await?;
        let mismatches: Vec<String> = edits
            .iter()
            .filter(|edit| {
                !after
                    .state
                    .lookup(&edit.path)
                    .is_some_and(|value| live::same_value(&edit.path, &value, &edit.after))
            })
            .map(|edit| {
                let now = after
                    .state
                    .lookup(&edit.path)
                    .map_or_else(|| "not set".to_string(), |value| value.to_string());
                format!("`{}` is {now}", edit.path)
            })
            .collect();
        if !mismatches.is_empty() {
            return Err(Error::new(format!(
                "host {}: the files were written but read back differently: {}",
                self.spec.endpoint,
                mismatches.join(", ")
            )));
        }
        Ok(after)
    }

    fn execute(&self, state: &State, changes: &ChangeSet) -> Result<()> {
        let (root_uid, root_gid) = state.users.root_ids();
        for dir in &changes.dirs {
            self.root.create_dir(dir, root_uid, root_gid, 0o755)?;
        }
        for file in &changes.files {
            match &file.content {
                Some(bytes) => self
                    .root
                    .write_atomic(&file.rel, bytes, file.uid, file.gid, file.mode)?,
                None => {
                    let before = file.before;
                    let owner_changes =
                        before.is_none_or(|stat| stat.uid != file.uid || stat.gid != file.gid);
                    let mode_changes = before.is_none_or(|stat| stat.mode != file.mode);
                    self.root.set_meta(
                        &file.rel,
                        owner_changes.then_some(file.uid),
                        owner_changes.then_some(file.gid),
                        // chown clears setuid/setgid: set the mode again after it.
                        (mode_changes || owner_changes).then_some(file.mode),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn restarts_allowed(&self) -> bool {
        self.restart == RestartPolicy::IfNeeded
            && (self.root.is_slash() || self.systemctl.is_some())
    }

    fn node(&self) -> String {
        if self.root.is_slash() {
            "this node".to_string()
        } else {
            format!("the node whose root is {}", self.spec.endpoint)
        }
    }

    async fn systemctl(&self, args: &[&str]) -> Result<()> {
        let program = self
            .systemctl
            .clone()
            .unwrap_or_else(|| PathBuf::from("systemctl"));
        let owned: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        let shown = format!("systemctl {}", args.join(" "));
        let run_program = program.clone();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(&run_program)
                .args(&owned)
                .stdin(std::process::Stdio::null())
                .output()
        })
        .await
        .map_err(|error| Error::new(format!("`{shown}` did not finish: {error}")))?
        .map_err(|error| Error::io("run", &program, &error))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("");
            return Err(Error::new(format!(
                "`{shown}` failed on {} ({}){}",
                self.node(),
                output.status,
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {}", first.trim())
                }
            ))
            .with_hint("look at `journalctl -u docker.service` on the node; `stigfix rollback` puts the files back"));
        }
        Ok(())
    }

    async fn restart_docker(&self, socket: bool) -> Result<Vec<String>> {
        self.systemctl(&["daemon-reload"]).await?;
        let mut lines = vec![format!("ran `systemctl daemon-reload` on {}", self.node())];
        if socket {
            self.systemctl(&["restart", "docker.socket", "docker.service"])
                .await?;
            lines.push(format!(
                "restarted docker.socket and docker.service on {} (`systemctl restart docker.socket docker.service`)",
                self.node()
            ));
        } else {
            self.systemctl(&["restart", "docker.service"]).await?;
            lines.push(format!(
                "restarted docker.service on {} (`systemctl restart docker.service`)",
                self.node()
            ));
        }
        Ok(lines)
    }

    fn restart_instructions(&self, why: &str, socket: bool) -> Vec<String> {
        let reason = match self.restart {
            RestartPolicy::Never => " (restarts are turned off)",
            RestartPolicy::IfNeeded if !self.root.is_slash() => {
                " (stigfix restarts services only for the root `/`)"
            }
            RestartPolicy::IfNeeded => "",
        };
        let units = if socket {
            "docker.socket and docker.service"
        } else {
            "docker.service"
        };
        vec![format!(
            "{units} on {} must be restarted for {why} to take effect{reason}: run `{}` on that node",
            self.node(),
            restart_command(socket)
        )]
    }

    /// After a verified apply: restart docker.service when an edit needs it and restarts are
    /// allowed, or say what must be restarted where and how. Empty when nothing needs it.
    pub async fn post_apply(&self, edits: &[Edit]) -> Result<Vec<String>> {
        if !edits.iter().any(needs_restart) {
            return Ok(Vec::new());
        }
        let socket = self.socket_changed.load(Ordering::SeqCst);
        if self.restarts_allowed() {
            self.restart_docker(socket).await
        } else {
            Ok(self.restart_instructions("the new dockerd settings", socket))
        }
    }

    /// What must be restarted after a restore (for the rollback report): the same as
    /// `post_apply` but for saved files.
    pub fn restore_actions(&self, saved: &Saved) -> Vec<String> {
        match SavedFiles::from_saved(saved) {
            Ok(files) if files.restart_dockerd && !self.restarts_allowed() => {
                self.restart_instructions("the restored dockerd settings", files.restart_socket)
            }
            _ => Vec::new(),
        }
    }
}

impl HostTarget {
    /// Put back exactly what `saved` holds, verify it by reading again, and restart
    /// docker.service again when dockerd configuration was restored and restarts are allowed.
    pub async fn restore(&self, saved: &Saved) -> Result<HostLive> {
        self.restore_entries(saved, None).await
    }

    async fn restore_entries(&self, saved: &Saved, scope: Option<&[Written]>) -> Result<HostLive> {
        let files = SavedFiles::from_saved(saved)?;
        let entries = match scope {
            Some(scope) => self.entries_for(&files, scope),
            None => files.entries.clone(),
        };
        restore::put_back(&self.root, &entries)?;
        if files.restart_dockerd && !entries.is_empty() && self.restarts_allowed() {
            self.restart_docker(files.restart_socket).await?;
        }
        self.read().await
    }

    /// The saved entries that restoring `scope` must put back: all of them when the scope is
    /// every path the change wrote, else the files those paths' edits touch (worked out from
    /// the saved state, as when the change was planned).
    fn entries_for(&self, files: &SavedFiles, scope: &[Written]) -> Vec<SavedEntry> {
        let wanted: BTreeSet<String> = scope.iter().map(|w| w.path.to_string()).collect();
        let all: BTreeSet<String> = files.paths.iter().cloned().collect();
        if all.is_empty() || wanted == all {
            return files.entries.clone();
        }
        let edits: Vec<Edit> = scope
            .iter()
            .filter_map(|written| {
                Some(Edit {
                    path: written.path.clone(),
                    before: written.before.clone(),
                    after: written.after.clone()?,
                    rules: Vec::new(),
                })
            })
            .collect();
        let overlay = files.overlay();
        let touched = State::read(&self.root, Some(&overlay), None, &[])
            .and_then(|then| changes::compute(&then, &edits));
        match touched {
            Ok(changes) => {
                let rels: BTreeSet<PathBuf> = changes
                    .files
                    .iter()
                    .map(|file| file.rel.clone())
                    .chain(changes.dirs.iter().cloned())
                    .collect();
                files
                    .entries
                    .iter()
                    .filter(|entry| rels.contains(&entry.rel()))
                    .cloned()
                    .collect()
            }
            Err(_) => files.entries.clone(),
        }
    }
}

#[async_trait::async_trait]
impl Target for HostTarget {
    fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    async fn read(&self) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(HostTarget::read(self).await?))
    }

    async fn apply(
        &self,
        live: &dyn LiveState,
        edits: &[Edit],
        _stop: &Stop,
    ) -> Result<Box<dyn LiveState>> {
        let live: &HostLive = own_state(live, &self.spec)?;
        Ok(Box::new(HostTarget::apply(self, live, edits).await?))
    }

    async fn post_apply(&self, edits: &[Edit]) -> Result<Vec<String>> {
        HostTarget::post_apply(self, edits).await
    }

    async fn restore(
        &self,
        _now: &dyn LiveState,
        saved: &Saved,
        scope: &[Written],
    ) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(self.restore_entries(saved, Some(scope)).await?))
    }

    fn restore_actions(&self, saved: &Saved) -> Vec<String> {
        HostTarget::restore_actions(self, saved)
    }
}
