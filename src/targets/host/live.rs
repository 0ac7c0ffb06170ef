//! A node's live state: the document over its units, daemon.json and files, and what plans and
//! snapshots need of it (diffs, saved files).

use std::sync::Arc;

use super::changes::{self, FileChange, describe, loosens, needs_restart};
use super::fsroot::{self, Kind, mode_string};
use super::restart_command;
use super::roles::RoleState;
use super::saved::SavedFiles;
use super::state::State;
use crate::error::Result;
use crate::keypath::KeyPath;
use crate::targets::{Document, Edit, LiveState, Product, Saved, Written};

/// The live state of a node: the document over its files.
#[derive(Clone, Debug)]
pub struct HostLive {
    pub fingerprint: String,
    pub(super) state: Arc<State>,
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

    fn source(&self, path: &KeyPath) -> Option<String> {
        self.state.source(path)
    }

    fn unknown(&self, path: &KeyPath) -> Option<String> {
        self.state.unknown(path)
    }

    /// A mode that would add a permission bit is refused, whatever the playbook asks.
    fn accepts(&self, path: &KeyPath, after: &toml::Value) -> Result<(), String> {
        let segments = path.segments();
        if segments.len() < 3 || segments[0] != "files" || path.leaf() != "mode" {
            return Ok(());
        }
        let role = &segments[1..segments.len() - 1];
        let (Some(RoleState::Present(resolved)), Some(want)) =
            (self.state.role(role), crate::values::mode_value(after))
        else {
            return Ok(());
        };
        match resolved.stat {
            Some(stat) => match loosens(&self.state.root.show(&resolved.rel), stat.mode, want) {
                Some(why) => Err(why),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    fn same(&self, path: &KeyPath, a: Option<&toml::Value>, b: Option<&toml::Value>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => same_value(path, a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl HostLive {
    pub(super) fn new(state: State) -> HostLive {
        HostLive {
            fingerprint: state.fingerprint.clone(),
            state: Arc::new(state),
        }
    }
}

impl LiveState for HostLive {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn product(&self) -> Option<Product> {
        self.state.product.clone()
    }

    /// Observations for the plan: kernel FIPS mode, pending restarts, what stigfix cannot see.
    fn notes(&self) -> Vec<String> {
        let mut notes = self.state.notes.clone();
        notes.extend(self.state.no_engine.clone());
        notes
    }

    /// A root with no Docker Engine installation (empty, or a mount point not mounted): apply
    /// refuses it outright.
    fn refusal(&self) -> Option<String> {
        self.state.no_engine.clone()
    }

    /// What must happen besides the file writes.
    fn actions(&self, edits: &[Edit]) -> Vec<String> {
        if !edits.iter().any(needs_restart) {
            return Vec::new();
        }
        let socket = changes::compute(&self.state, edits).is_ok_and(|c| c.socket_config);
        if socket {
            vec![format!(
                "restart docker.socket and docker.service ({})",
                restart_command(true)
            )]
        } else {
            vec![format!(
                "restart docker.service ({})",
                restart_command(false)
            )]
        }
    }

    /// What a restore needs to put back the files `edits` change.
    fn saved(&self, edits: &[Edit]) -> Result<Saved> {
        let changes = changes::compute(&self.state, edits)?;
        let paths = edits.iter().map(|edit| edit.path.to_string()).collect();
        SavedFiles::from_changes(&self.state.endpoint, &changes, paths).to_saved()
    }

    /// The planned changes: unified diffs of contents, and owner/mode/create lines.
    fn diff(&self, edits: &[Edit]) -> Result<String> {
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
    fn diff_to_saved(&self, saved: &Saved, _scope: &[Written]) -> String {
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
    fn edits_to_saved(&self, saved: &Saved) -> Vec<Edit> {
        let Ok(files) = SavedFiles::from_saved(saved) else {
            return Vec::new();
        };
        let overlay = files.overlay();
        let Ok(then) = State::read(&self.state.root, Some(&overlay), None, &[]) else {
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

    /// The current state of every file and directory `saved` holds, in the same form: what a
    /// rollback to `saved` must save first, so that the rollback itself can be undone.
    fn capture(&self, saved: &Saved) -> Result<Saved> {
        let mut files = SavedFiles::from_saved(saved)?;
        let view = self.state.root.view();
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

/// Whether a value read back equals the value an edit wrote.
pub(super) fn same_value(path: &KeyPath, have: &toml::Value, want: &toml::Value) -> bool {
    if path.leaf() == "mode" {
        return crate::values::mode_value(have).is_some()
            && crate::values::mode_value(have) == crate::values::mode_value(want);
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
