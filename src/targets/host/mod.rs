//! The Docker Engine node ("host") target: files under a host root (`--host-root`, `/` for
//! this node).
//!
//! The document: `dockerd.tcp_hosts`, `dockerd.insecure_registries`,
//! `dockerd.environment.<NAME>` (from the effective docker.service and daemon.json), and
//! `files.<role>.owner|group|mode` for the files the STIG's ownership rules name (stig-ids.md
//! §1.4). Reads and writes never leave the root ([`fsroot`]); dockerd settings are changed in
//! stigfix's own drop-in and in daemon.json, never in the vendor unit ([`changes`]).

mod changes;
mod daemon_json;
mod dockerd;
mod fsroot;
mod procinfo;
mod saved;
mod state;
mod systemd;
mod users;

#[cfg(all(test, feature = "sim"))]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use changes::{ChangeSet, FileChange, describe, needs_restart};
use fsroot::{FsRoot, Kind, mode_string};
use saved::SavedFiles;
use state::State;

use crate::error::{Error, Result};
use crate::keypath::KeyPath;
use crate::targets::document::{Document, Edit, Saved};

/// Whether stigfix may restart docker.service after a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Never,
    IfNeeded,
}

/// A Docker Engine node reached through its root directory.
pub struct HostTarget {
    root: FsRoot,
    endpoint: String,
    restart: RestartPolicy,
    systemctl: Option<PathBuf>,
    /// The /proc to ask about the running kernel and dockerd: only for the root `/`.
    proc: Option<PathBuf>,
}

const RESTART_COMMAND: &str = "systemctl daemon-reload && systemctl restart docker";

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
        let endpoint = root.path().display().to_string();
        let proc = root.is_slash().then(|| PathBuf::from("/proc"));
        Ok(HostTarget {
            root,
            endpoint,
            restart,
            systemctl,
            proc,
        })
    }

    /// The canonical root, e.g. `/` or `/tmp/x/node1`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    #[cfg(all(test, feature = "sim"))]
    fn with_proc(mut self, proc: &Path) -> HostTarget {
        self.proc = Some(proc.to_path_buf());
        self
    }

    fn read_state(&self) -> Result<State> {
        State::read(&self.root, None, self.proc.as_deref())
    }

    pub async fn read(&self) -> Result<HostLive> {
        Ok(HostLive::new(self.read_state()?))
    }

    /// The current state of every file and directory `saved` holds, in the same form: what a
    /// rollback to `saved` must save first, so that the rollback itself can be undone.
    pub fn capture(&self, saved: &Saved) -> Result<Saved> {
        let mut files = SavedFiles::from_saved(saved)?;
        let view = self.root.view();
        for entry in &mut files.entries {
            let rel = entry.rel();
            let rewritten = entry.bytes_hex.is_some() || !entry.existed;
            match view.lstat(&rel)? {
                Some(stat) => {
                    entry.existed = true;
                    entry.kind = stat.kind.as_str().to_string();
                    entry.uid = Some(stat.uid);
                    entry.gid = Some(stat.gid);
                    entry.mode = Some(fsroot::mode_string(stat.mode));
                    entry.bytes_hex = (rewritten && stat.kind == fsroot::Kind::File)
                        .then(|| view.read(&rel).map(hex::encode))
                        .transpose()?;
                }
                None => {
                    entry.existed = false;
                    entry.uid = None;
                    entry.gid = None;
                    entry.mode = None;
                    entry.bytes_hex = None;
                }
            }
        }
        files.to_saved()
    }

    /// Write the changes for `edits`, atomically per file, then read the root again and check
    /// that every edited path has its new value. Restarts nothing.
    pub async fn apply(&self, live: &HostLive, edits: &[Edit]) -> Result<HostLive> {
        let current = self.read_state()?;
        if current.fingerprint != live.fingerprint {
            return Err(Error::new(format!(
                "host {}: the files changed since they were read; nothing was written",
                self.endpoint
            ))
            .with_hint("run the plan again"));
        }
        let changes = changes::compute(&live.state, edits)?;
        self.execute(&live.state, &changes)?;
        let after = self.read().await?;
        let mismatches: Vec<String> = edits
            .iter()
            .filter(|edit| {
                !after
                    .state
                    .lookup(&edit.path)
                    .is_some_and(|value| same_value(&edit.path, &value, &edit.after))
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
                self.endpoint,
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
            format!("the node whose root is {}", self.endpoint)
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

    async fn restart_docker(&self) -> Result<Vec<String>> {
        self.systemctl(&["daemon-reload"]).await?;
        self.systemctl(&["restart", "docker.service"]).await?;
        Ok(vec![
            format!("ran `systemctl daemon-reload` on {}", self.node()),
            format!(
                "restarted docker.service on {} (`systemctl restart docker.service`)",
                self.node()
            ),
        ])
    }

    fn restart_instructions(&self, why: &str) -> Vec<String> {
        let reason = match self.restart {
            RestartPolicy::Never => " (restarts are turned off)",
            RestartPolicy::IfNeeded if !self.root.is_slash() => {
                " (stigfix restarts services only for the root `/`)"
            }
            RestartPolicy::IfNeeded => "",
        };
        vec![format!(
            "docker.service on {} must be restarted for {why} to take effect{reason}: run `{RESTART_COMMAND}` on that node",
            self.node()
        )]
    }

    /// After a verified apply: restart docker.service when an edit needs it and restarts are
    /// allowed, or say what must be restarted where and how. Empty when nothing needs it.
    pub async fn post_apply(&self, edits: &[Edit]) -> Result<Vec<String>> {
        if !edits.iter().any(needs_restart) {
            return Ok(Vec::new());
        }
        if self.restarts_allowed() {
            self.restart_docker().await
        } else {
            Ok(self.restart_instructions("the new dockerd settings"))
        }
    }

    /// Put back exactly what `saved` holds, verify it by reading again, and restart
    /// docker.service again when dockerd configuration was restored and restarts are allowed.
    pub async fn restore(&self, saved: &Saved) -> Result<HostLive> {
        let files = SavedFiles::from_saved(saved)?;
        let view = self.root.view();
        // The parent of every entry must still resolve to itself inside the root.
        for entry in &files.entries {
            let rel = entry.rel();
            if let Some(parent) = rel.parent() {
                let resolved = view.resolve(parent, true)?;
                if resolved.rel != parent && resolved.stat.is_some() {
                    return Err(Error::needs_operator(format!(
                        "cannot restore {}: its directory is now reached through a symlink ({})",
                        self.root.show(&rel),
                        self.root.show(&resolved.rel)
                    ))
                    .with_hint("put the file back by hand from the snapshot"));
                }
            }
        }
        // Every entry is attempted even when one fails (an immutable file, a full disk), so
        // that as much as possible is put back; the first failure is returned afterwards.
        // An object already in its saved state is not touched.
        let mut failures: Vec<Error> = Vec::new();
        // Files and directories that existed: bytes, owner, mode.
        for entry in files.entries.iter().filter(|entry| entry.existed) {
            let rel = entry.rel();
            let stat = entry.stat().expect("checked when the snapshot was read");
            let result = (|| -> Result<()> {
                let now = view.lstat(&rel)?;
                match entry.bytes() {
                    Some(bytes) => {
                        let same = now == Some(stat)
                            && stat.kind == Kind::File
                            && view.read(&rel)? == bytes;
                        if !same {
                            self.root
                                .write_atomic(&rel, &bytes, stat.uid, stat.gid, stat.mode)?;
                        }
                    }
                    None => {
                        let Some(now) = now else {
                            return Err(Error::needs_operator(format!(
                                "cannot restore the owner and mode of {}: it no longer exists",
                                self.root.show(&rel)
                            ))
                            .with_hint("recreate it by hand"));
                        };
                        if now != stat {
                            self.root.set_meta(
                                &rel,
                                Some(stat.uid),
                                Some(stat.gid),
                                Some(stat.mode),
                            )?;
                        }
                    }
                }
                Ok(())
            })();
            failures.extend(result.err());
        }
        // Files that were created: remove them; then created directories, deepest first, when
        // empty.
        for entry in files
            .entries
            .iter()
            .filter(|entry| !entry.existed && entry.kind() != Kind::Dir)
        {
            let rel = entry.rel();
            let result = (|| -> Result<()> {
                if let Some(stat) = view.lstat(&rel)? {
                    if stat.kind == Kind::Dir {
                        return Err(Error::needs_operator(format!(
                            "cannot remove {}: it is now a directory",
                            self.root.show(&rel)
                        )));
                    }
                    self.root.remove_file(&rel)?;
                }
                Ok(())
            })();
            failures.extend(result.err());
        }
        let mut dirs: Vec<PathBuf> = files
            .entries
            .iter()
            .filter(|entry| !entry.existed && entry.kind() == Kind::Dir)
            .map(|entry| entry.rel())
            .collect();
        dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
        for dir in &dirs {
            let result = (|| -> Result<()> {
                if view.lstat(dir)?.is_some_and(|stat| stat.kind == Kind::Dir) {
                    self.root.remove_dir_if_empty(dir)?;
                }
                Ok(())
            })();
            failures.extend(result.err());
        }
        if let Some(first) = failures.into_iter().next() {
            return Err(first);
        }
        // Verify.
        for entry in &files.entries {
            let rel = entry.rel();
            let now = view.lstat(&rel)?;
            let problem = match (entry.existed, now) {
                (false, None) => None,
                (false, Some(stat)) if stat.kind == Kind::Dir => {
                    (view.list(&rel)?.is_empty()).then(|| "it still exists".to_string())
                }
                (false, Some(_)) => Some("it still exists".to_string()),
                (true, None) => Some("it does not exist".to_string()),
                (true, Some(stat)) => {
                    let want = entry.stat().expect("checked when the snapshot was read");
                    if stat != want {
                        Some(format!(
                            "it is {} {}:{} {}, expected {} {}:{} {}",
                            stat.kind.as_str(),
                            stat.uid,
                            stat.gid,
                            mode_string(stat.mode),
                            want.kind.as_str(),
                            want.uid,
                            want.gid,
                            mode_string(want.mode)
                        ))
                    } else if let Some(bytes) = entry.bytes() {
                        (view.read(&rel)? != bytes)
                            .then(|| "its content differs from the snapshot".to_string())
                    } else {
                        None
                    }
                }
            };
            if let Some(problem) = problem {
                return Err(Error::needs_operator(format!(
                    "restore of {} did not take: {problem}",
                    self.root.show(&rel)
                ))
                .with_hint("put the file back by hand from the snapshot"));
            }
        }
        if files.restart_dockerd && self.restarts_allowed() {
            self.restart_docker().await?;
        }
        self.read().await
    }

    /// What must be restarted after a restore (for the rollback report): the same as
    /// `post_apply` but for saved files.
    pub fn restore_actions(&self, saved: &Saved) -> Vec<String> {
        match SavedFiles::from_saved(saved) {
            Ok(files) if files.restart_dockerd && !self.restarts_allowed() => {
                self.restart_instructions("the restored dockerd settings")
            }
            _ => Vec::new(),
        }
    }
}

/// Whether a value read back equals the value an edit wrote.
fn same_value(path: &KeyPath, have: &toml::Value, want: &toml::Value) -> bool {
    if path.leaf() == "mode" {
        return changes::parse_mode(have).is_some()
            && changes::parse_mode(have) == changes::parse_mode(want);
    }
    match (have, want) {
        (toml::Value::Array(have), toml::Value::Array(want)) => {
            let mut have: Vec<String> = have.iter().map(|v| v.to_string()).collect();
            let mut want: Vec<String> = want.iter().map(|v| v.to_string()).collect();
            have.sort();
            want.sort();
            have == want
        }
        (toml::Value::String(have), toml::Value::Integer(want)) => *have == want.to_string(),
        (toml::Value::String(have), toml::Value::Boolean(want)) => {
            *have == if *want { "1" } else { "0" }
        }
        _ => have == want,
    }
}

/// The live state of a node: the document over its files.
#[derive(Clone, Debug)]
pub struct HostLive {
    pub fingerprint: String,
    state: Arc<State>,
}

impl Document for HostLive {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        self.state.lookup(path)
    }

    fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        self.state.expand(pattern)
    }

    fn writable(&self, path: &KeyPath) -> Result<(), String> {
        self.state.writable(path)
    }

    fn explain(&self, path: &KeyPath) -> Option<String> {
        self.state.explain(path)
    }
}

impl HostLive {
    fn new(state: State) -> HostLive {
        HostLive {
            fingerprint: state.fingerprint.clone(),
            state: Arc::new(state),
        }
    }

    /// Observations for the plan: kernel FIPS mode, pending restarts, what stigfix cannot see.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.state.notes.clone();
        let absent = |role: &str| {
            self.expand(&KeyPath::from_segments(vec![
                "files".into(),
                role.into(),
                "mode".into(),
            ]))
            .is_empty()
        };
        if absent("docker_service") && absent("etc_docker") {
            notes.push(format!(
                "no Docker Engine found under {}: neither docker.service nor /etc/docker exists; check that --host-root is the node's root (a mount point that is not mounted looks like this)",
                self.state.endpoint
            ));
        }
        notes
    }

    /// What must happen besides the file writes.
    pub fn actions(&self, edits: &[Edit]) -> Vec<String> {
        if edits.iter().any(needs_restart) {
            vec![format!("restart docker.service ({RESTART_COMMAND})")]
        } else {
            Vec::new()
        }
    }

    /// What a restore needs to put back the files `edits` change.
    pub fn saved(&self, edits: &[Edit]) -> Result<Saved> {
        let changes = changes::compute(&self.state, edits)?;
        SavedFiles::from_changes(&self.state.endpoint, &changes).to_saved()
    }

    /// The planned changes: unified diffs of contents, and owner/mode/create lines.
    pub fn diff(&self, edits: &[Edit]) -> Result<String> {
        let changes = changes::compute(&self.state, edits)?;
        let state = &self.state;
        let (root_uid, root_gid) = state.users.root_ids();
        let mut out = String::new();
        for dir in &changes.dirs {
            out.push_str(&format!(
                "create {}/ ({})\n",
                dir.display(),
                describe(state, root_uid, root_gid, 0o755)
            ));
        }
        for file in &changes.files {
            out.push_str(&describe_change(state, file));
        }
        Ok(out)
    }

    /// Current → saved, in the style of `diff` (what a rollback does).
    pub fn diff_to_saved(&self, saved: &Saved) -> String {
        let files = match SavedFiles::from_saved(saved) {
            Ok(files) => files,
            Err(error) => return format!("{}\n", error.message()),
        };
        let state = &self.state;
        let view = state.root.view();
        let mut out = String::new();
        for entry in &files.entries {
            let rel = entry.rel();
            let shown = rel.display().to_string();
            let now = view.lstat(&rel).ok().flatten();
            let now_bytes = |stat: Option<fsroot::Stat>| -> Vec<u8> {
                match stat {
                    Some(stat) if stat.kind == Kind::File => view.read(&rel).unwrap_or_default(),
                    _ => Vec::new(),
                }
            };
            match (entry.existed, now) {
                (false, None) => {}
                (false, Some(stat)) if stat.kind == Kind::Dir => {
                    out.push_str(&format!("remove {shown}/ (when empty)\n"));
                }
                (false, Some(stat)) => {
                    out.push_str(&format!("remove {shown}\n"));
                    out.push_str(&unified(
                        &now_bytes(Some(stat)),
                        b"",
                        &format!("{shown} (live)"),
                        "/dev/null",
                    ));
                }
                (true, now) => {
                    let want = entry.stat().expect("checked when the snapshot was read");
                    if now.is_none() {
                        out.push_str(&format!(
                            "create {shown} ({})\n",
                            describe(state, want.uid, want.gid, want.mode)
                        ));
                    }
                    if let Some(bytes) = entry.bytes() {
                        let current = now_bytes(now);
                        if current != bytes {
                            out.push_str(&unified(
                                &current,
                                &bytes,
                                &format!("{shown} (live)"),
                                &format!("{shown} (saved)"),
                            ));
                        }
                    }
                    if let Some(now) = now {
                        out.push_str(&meta_lines(
                            state, &shown, now.uid, now.gid, now.mode, want.uid, want.gid,
                            want.mode,
                        ));
                    }
                }
            }
        }
        out
    }

    /// Edits on the document's paths that turn the current state into the saved one (best
    /// effort, for showing a rollback).
    pub fn edits_to_saved(&self, saved: &Saved) -> Vec<Edit> {
        let Ok(files) = SavedFiles::from_saved(saved) else {
            return Vec::new();
        };
        let overlay = files.overlay();
        let Ok(then) = State::read(&self.state.root, Some(&overlay), None) else {
            return Vec::new();
        };
        let mut paths = self.state.all_paths();
        for path in then.all_paths() {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
            .into_iter()
            .filter_map(|path| {
                let before = self.state.lookup(&path);
                let after = then.lookup(&path)?;
                (before.as_ref() != Some(&after)).then(|| Edit {
                    path,
                    before,
                    after,
                    rules: Vec::new(),
                })
            })
            .collect()
    }
}

fn describe_change(state: &State, file: &FileChange) -> String {
    let shown = file.rel.display().to_string();
    let mut out = String::new();
    match file.before {
        None => {
            out.push_str(&format!(
                "create {shown} ({})\n",
                describe(state, file.uid, file.gid, file.mode)
            ));
            if let Some(content) = &file.content {
                out.push_str(&unified(
                    b"",
                    content,
                    "/dev/null",
                    &format!("{shown} (planned)"),
                ));
            }
        }
        Some(before) => {
            if let Some(content) = &file.content {
                out.push_str(&unified(
                    file.before_bytes.as_deref().unwrap_or_default(),
                    content,
                    &format!("{shown} (live)"),
                    &format!("{shown} (planned)"),
                ));
            }
            out.push_str(&meta_lines(
                state,
                &shown,
                before.uid,
                before.gid,
                before.mode,
                file.uid,
                file.gid,
                file.mode,
            ));
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn meta_lines(
    state: &State,
    shown: &str,
    uid: u32,
    gid: u32,
    mode: u32,
    new_uid: u32,
    new_gid: u32,
    new_mode: u32,
) -> String {
    let mut out = String::new();
    if (uid, gid) != (new_uid, new_gid) {
        out.push_str(&format!(
            "owner {shown} {}:{} -> {}:{}\n",
            state.users.user_name(uid),
            state.users.group_name(gid),
            state.users.user_name(new_uid),
            state.users.group_name(new_gid)
        ));
    }
    if mode != new_mode {
        out.push_str(&format!(
            "mode {shown} {} -> {}\n",
            mode_string(mode),
            mode_string(new_mode)
        ));
    }
    out
}

fn unified(old: &[u8], new: &[u8], old_name: &str, new_name: &str) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let diff = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
