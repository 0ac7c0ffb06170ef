//! The text of stigfix's drop-ins for docker.service and docker.socket.

use super::super::systemd::quote_word;
use super::super::units::{DROPIN_NAME, RULES_PREFIX};

/// An `Environment=` line for `NAME=value`; `escape_specifiers` when the value is a literal
/// (so a `%` in it stays a `%`), not when it is a value already written in a unit file.
pub fn env_line(name: &str, value: &str, escape_specifiers: bool) -> String {
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

/// `what`: the settings it holds; `restart`: the units to restart; `unit`: whose drop-in.
fn header(text: &mut String, what: &str, restart: &str, unit: &str, rules: &[String]) {
    text.push_str(&format!(
        "# Written by stigfix. It rewrites this file whenever it changes {what},\n"
    ));
    text.push_str("# so change them with stigfix (or remove this file, then run\n");
    text.push_str(&format!(
        "# `systemctl daemon-reload && systemctl restart {restart}`).\n"
    ));
    text.push_str(&format!(
        "# The name starts with \"zz-\" so that {DROPIN_NAME} sorts after every other drop-in in\n"
    ));
    text.push_str(&format!(
        "# {unit}.d/: systemd applies drop-ins in file-name order, so the settings\n"
    ));
    text.push_str("# here win over the vendor unit and earlier drop-ins.\n");
    if !rules.is_empty() {
        text.push_str(&format!("{RULES_PREFIX}{}\n", rules.join(", ")));
    }
}

/// The text of stigfix's drop-in for docker.service.
pub fn render_dropin(
    rules: &[String],
    env_lines: &[(String, String)],
    exec_line: Option<&str>,
) -> String {
    let mut text = String::new();
    header(
        &mut text,
        "dockerd settings",
        "docker",
        "docker.service",
        rules,
    );
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

/// The text of stigfix's drop-in for docker.socket: the listeners reset, then `listen`.
pub fn render_socket_dropin(rules: &[String], listen: &[String]) -> String {
    let mut text = String::new();
    header(
        &mut text,
        "docker.socket's listeners",
        "docker.socket docker",
        "docker.socket",
        rules,
    );
    text.push_str("[Socket]\n");
    text.push_str("ListenStream=\n");
    for address in listen {
        text.push_str(&format!("ListenStream={}\n", address.replace('%', "%%")));
    }
    text
}
