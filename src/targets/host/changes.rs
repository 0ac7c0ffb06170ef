//! The file changes a set of edits needs: pure computation over the state read.
//!
//! dockerd settings are never changed in the vendor unit: the new `ExecStart=` and
//! `Environment=` go to stigfix's own drop-in `zz-stigfix.conf`, and daemon.json is rewritten
//! with its other keys kept in order.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::daemon_json;
use super::dockerd::{self, Arg, Flag};
use super::fsroot::{Stat, mode_string};
use super::state::{DROPIN_NAME, RULES_PREFIX, RoleState, State};
use super::systemd::{Exec, quote_word};
use crate::error::{Error, Result};
use crate::targets::document::Edit;

/// One file (or directory, or socket) the change set touches.
#[derive(Clone, Debug, PartialEq)]
pub struct FileChange {
    /// Resolved root-relative path.
    pub rel: PathBuf,
    /// The object before; `None` when it is created.
    pub before: Option<Stat>,
    /// The bytes before, when the content changes and the file exists.
    pub before_bytes: Option<Vec<u8>>,
    /// The new bytes; `None` when only owner or mode change.
    pub content: Option<Vec<u8>>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangeSet {
    /// Directories to create (0755, root's ids), parent first.
    pub dirs: Vec<PathBuf>,
    pub files: Vec<FileChange>,
    /// Whether dockerd configuration (daemon.json, the drop-in) changes.
    pub dockerd_config: bool,
}

/// Whether an edit is about dockerd's configuration (and so needs a restart).
pub fn needs_restart(edit: &Edit) -> bool {
    edit.path.segments().first().map(String::as_str) == Some("dockerd")
}

#[derive(Default)]
struct Pending {
    content: Option<Vec<u8>>,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: Option<u32>,
}

fn string_list(edit: &Edit) -> Result<Vec<String>> {
    match &edit.after {
        toml::Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::new(format!("`{}` must be a list of strings", edit.path)))
            })
            .collect(),
        _ => Err(Error::new(format!(
            "`{}` must be a list of strings",
            edit.path
        ))),
    }
}

fn scalar(edit: &Edit) -> Result<String> {
    match &edit.after {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(if *flag { "1" } else { "0" }.to_string()),
        _ => Err(Error::new(format!("`{}` must be a string", edit.path))),
    }
}

/// The changes for `edits` on `state`.
pub fn compute(state: &State, edits: &[Edit]) -> Result<ChangeSet> {
    let mut tcp_keep: Option<Vec<String>> = None;
    let mut registries_keep: Option<Vec<String>> = None;
    let mut environment: Vec<(String, String)> = Vec::new();
    let mut rules: Vec<String> = Vec::new();
    let mut meta: BTreeMap<Vec<String>, Pending> = BTreeMap::new();

    for edit in edits {
        state
            .writable(&edit.path)
            .map_err(|why| Error::new(format!("{}: {why}", state.endpoint)))?;
        let segments: Vec<&str> = edit.path.segments().iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["dockerd", "tcp_hosts"] => tcp_keep = Some(string_list(edit)?),
            ["dockerd", "insecure_registries"] => registries_keep = Some(string_list(edit)?),
            ["dockerd", "environment", name] => environment.push((name.to_string(), scalar(edit)?)),
            ["files", role @ .., leaf] => {
                let role: Vec<String> = role.iter().map(|s| s.to_string()).collect();
                let pending = meta.entry(role).or_default();
                let value = scalar(edit)?;
                match *leaf {
                    "owner" => {
                        pending.uid = Some(state.users.check_user(&value).map_err(Error::new)?);
                    }
                    "group" => {
                        pending.gid = Some(state.users.check_group(&value).map_err(Error::new)?);
                    }
                    _ => {
                        pending.mode = Some(crate::values::mode_value(&edit.after).ok_or_else(|| {
                            Error::new(format!(
                                "`{}`: `{value}` is not a file mode (octal digits such as \"0644\")",
                                edit.path
                            ))
                        })?);
                    }
                }
            }
            _ => {}
        }
        if needs_restart(edit) {
            rules.extend(edit.rules.iter().cloned());
        }
    }

    let mut files: BTreeMap<PathBuf, Pending> = BTreeMap::new();

    // dockerd: flags of the effective ExecStart and daemon.json.
    let service = state.service.as_ref();
    let mut args: Vec<Arg> = service
        .map(|service| service.args.clone())
        .unwrap_or_default();
    let original_args = args.clone();
    let mut map = state.daemon_map.clone();
    if let Some(keep) = &tcp_keep {
        let current = state.tcp_hosts();
        if let Some(extra) = keep.iter().find(|host| !current.contains(host)) {
            return Err(Error::new(format!(
                "{}: stigfix only removes TCP listeners; `{extra}` is not one of the current ones ({})",
                state.endpoint,
                current.join(", ")
            )));
        }
        let removable = |host: &str| dockerd::is_tcp(host) && !keep.iter().any(|k| k == host);
        let before = args.len();
        args.retain(|arg| !matches!(&arg.flag, Flag::Host(host) if removable(host)));
        let mut removed = before != args.len();
        match map.get_mut("hosts") {
            Some(Value::Array(items)) => {
                let before = items.len();
                items.retain(|item| !item.as_str().is_some_and(removable));
                removed |= before != items.len();
            }
            // One listener as a plain string (read as a list of one by `tcp_hosts`).
            Some(Value::String(host)) if removable(host) => {
                map.shift_remove("hosts");
                removed = true;
            }
            _ => {}
        }
        if removed {
            if matches!(map.get("hosts"), Some(Value::Array(items)) if items.is_empty()) {
                map.shift_remove("hosts");
            }
            if map.contains_key("hosts") {
                // Listeners from the file only: a -H flag as well stops dockerd.
                args.retain(|arg| !matches!(arg.flag, Flag::Host(_)));
            } else if service.is_some() && dockerd::hosts(&args).is_empty() {
                let listener = if state.socket_unit {
                    "fd://"
                } else {
                    "unix:///var/run/docker.sock"
                };
                args.insert(
                    0,
                    Arg {
                        words: vec!["-H".to_string(), listener.to_string()],
                        flag: Flag::Host(listener.to_string()),
                    },
                );
            }
        }
    }
    if let Some(keep) = &registries_keep {
        let current = state.insecure_registries();
        if let Some(extra) = keep.iter().find(|registry| !current.contains(registry)) {
            return Err(Error::new(format!(
                "{}: stigfix only removes insecure registries; `{extra}` is not one of the current ones ({})",
                state.endpoint,
                current.join(", ")
            )));
        }
        let before = args.len();
        args.retain(|arg| {
            !matches!(&arg.flag, Flag::InsecureRegistry(registry) if !keep.contains(registry))
        });
        let removed_flags = before != args.len();
        if map.contains_key("insecure-registries") || removed_flags {
            let kept: Vec<Value> = daemon_json::strings(&map, "insecure-registries")
                .into_iter()
                .filter(|registry| keep.contains(registry))
                .map(Value::String)
                .collect();
            map.insert("insecure-registries".to_string(), Value::Array(kept));
        }
    }
    let args_changed = args != original_args;
    let map_changed = map != state.daemon_map;

    // Environment variables that differ from the effective ones.
    let environment: Vec<(String, String)> = environment
        .into_iter()
        .filter(|(name, value)| {
            service.and_then(|service| service.settings.get_env(name)) != Some(value.as_str())
        })
        .collect();

    let mut dockerd_config = false;
    if args_changed || !environment.is_empty() {
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
            .map(|(name, value)| (name.clone(), env_line(name, value, false)))
            .collect();
        for (name, value) in &environment {
            let line = env_line(name, value, true);
            match env_lines.iter_mut().find(|(existing, _)| existing == name) {
                Some(slot) => slot.1 = line,
                None => env_lines.push((name.clone(), line)),
            }
        }
        let exec_line = if args_changed {
            let mut words: Vec<String> = service.exec.head().to_vec();
            words.extend(dockerd::render(&args));
            Some(Exec::render(&service.exec.prefix, &words))
        } else {
            own.exec
                .last()
                .map(|exec| Exec::render(&exec.prefix, &exec.words))
        };
        let mut all_rules = service.own_rules.clone();
        all_rules.extend(rules);
        all_rules.sort();
        all_rules.dedup();
        let text = render_dropin(&all_rules, &env_lines, exec_line.as_deref());
        if state.dropin.bytes.as_deref() != Some(text.as_bytes()) {
            files.entry(state.dropin.rel.clone()).or_default().content = Some(text.into_bytes());
            dockerd_config = true;
        }
    }
    if map_changed {
        files.entry(state.daemon.rel.clone()).or_default().content =
            Some(daemon_json::render(&map));
        dockerd_config = true;
    }

    // Owner, group and mode.
    for (role, pending) in meta {
        let rel = match state.role(&role) {
            Some(RoleState::Present(resolved)) => resolved.rel.clone(),
            Some(RoleState::Absent(_)) if role == ["daemon_json"] => {
                let entry = files.entry(state.daemon.rel.clone()).or_default();
                if entry.content.is_none() {
                    entry.content = Some(b"{}\n".to_vec());
                }
                state.daemon.rel.clone()
            }
            Some(RoleState::Absent(why) | RoleState::Refused(why)) => {
                return Err(Error::new(why.clone()));
            }
            None => {
                return Err(Error::new(format!(
                    "unknown file role `{}`",
                    role.join(".")
                )));
            }
        };
        let entry = files.entry(rel).or_default();
        entry.uid = pending.uid.or(entry.uid);
        entry.gid = pending.gid.or(entry.gid);
        entry.mode = pending.mode.or(entry.mode);
    }

    // Final owner and mode of every file; directories to create.
    let (root_uid, root_gid) = state.users.root_ids();
    let mut changes = ChangeSet {
        dockerd_config,
        ..ChangeSet::default()
    };
    for (rel, pending) in files {
        let before = state.stat_of(&rel);
        let before_bytes = if rel == state.daemon.rel {
            state.daemon.bytes.clone()
        } else if rel == state.dropin.rel {
            state.dropin.bytes.clone()
        } else {
            None
        };
        let change = FileChange {
            uid: pending
                .uid
                .or(before.map(|stat| stat.uid))
                .unwrap_or(root_uid),
            gid: pending
                .gid
                .or(before.map(|stat| stat.gid))
                .unwrap_or(root_gid),
            mode: pending
                .mode
                .or(before.map(|stat| stat.mode))
                .unwrap_or(0o644),
            before_bytes: if pending.content.is_some() {
                before_bytes.filter(|_| before.is_some())
            } else {
                None
            },
            content: pending.content,
            before,
            rel,
        };
        let unchanged = change.content.is_none()
            && before.is_some_and(|stat| {
                stat.uid == change.uid && stat.gid == change.gid && stat.mode == change.mode
            });
        if unchanged {
            continue;
        }
        if change.before.is_none() {
            let missing = if change.rel == state.daemon.rel {
                &state.daemon.missing_dirs
            } else {
                &state.dropin.missing_dirs
            };
            for dir in missing {
                if !changes.dirs.contains(dir) {
                    changes.dirs.push(dir.clone());
                }
            }
        }
        changes.files.push(change);
    }
    Ok(changes)
}

fn env_line(name: &str, value: &str, escape_specifiers: bool) -> String {
    let value = if escape_specifiers {
        value.replace('%', "%%")
    } else {
        value.to_string()
    };
    let word = quote_word(&format!("{name}={value}"));
    if word.starts_with('"') {
        format!("Environment={word}")
    } else {
        format!("Environment=\"{word}\"")
    }
}

/// The text of stigfix's drop-in.
pub fn render_dropin(
    rules: &[String],
    env_lines: &[(String, String)],
    exec_line: Option<&str>,
) -> String {
    let mut text = String::new();
    text.push_str(
        "# Written by stigfix. It rewrites this file whenever it changes dockerd settings,\n",
    );
    text.push_str("# so change them with stigfix (or remove this file, then run\n");
    text.push_str("# `systemctl daemon-reload && systemctl restart docker`).\n");
    text.push_str(&format!(
        "# The name starts with \"zz-\" so that {DROPIN_NAME} sorts after every other drop-in in\n"
    ));
    text.push_str(
        "# docker.service.d/: systemd applies drop-ins in file-name order, so the settings\n",
    );
    text.push_str("# here win over the vendor unit and earlier drop-ins.\n");
    if !rules.is_empty() {
        text.push_str(&format!("{RULES_PREFIX}{}\n", rules.join(", ")));
    }
    text.push_str("[Service]\n");
    for (_, line) in env_lines {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(exec) = exec_line {
        text.push_str("ExecStart=\n");
        text.push_str(&format!("ExecStart={exec}\n"));
    }
    text
}

/// How a file's owner and mode are shown: `root:root 0644`.
pub fn describe(state: &State, uid: u32, gid: u32, mode: u32) -> String {
    format!(
        "{}:{} {}",
        state.users.user_name(uid),
        state.users.group_name(gid),
        mode_string(mode)
    )
}
