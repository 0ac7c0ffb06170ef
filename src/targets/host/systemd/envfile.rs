//! `EnvironmentFile=` files, read exactly as systemd's `parse_env_file_internal()` reads them
//! (src/basic/env-file.c): `KEY=VALUE` lines; `#`/`;` comments only where a key could start;
//! single quotes literal; in double quotes a backslash escapes only `"`, `\`, `` ` `` and `$`
//! (others keep it) and a backslash-newline is dropped; unquoted, a backslash takes the next
//! character literally and a backslash-newline is dropped; quoted and unquoted runs are joined
//! into one value; trailing blanks of an unquoted value are cut. A later assignment of a name
//! replaces an earlier one (`strv_env_replace_consume()`), and names that are not valid
//! variable names are dropped (`strv_env_clean()`).
//!
//! What systemd does is certain, but these files are also shell scripts for the SysV init
//! scripts (`/etc/default/docker`, `/etc/sysconfig/docker`), and what an admin meant may
//! differ: lines systemd skips (`if …; then`), keys it drops (`export DOCKER_OPTS=…`), shell
//! syntax it keeps literally (`$(…)`, `` `…` ``, `$VAR`) and a line after a comment that ends in
//! a backslash (a comment before systemd v254, an assignment since) are [`Doubt`]s about the
//! names they mention.

use std::ops::Range;

use super::syntax::{names_in, valid_env_name};

/// One assignment systemd keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvAssignment {
    pub key: String,
    pub value: String,
    /// The line the key is on.
    pub line: usize,
    /// Bytes of the assignment in the file, from the key to the end of the value (the newline
    /// excluded).
    pub span: Range<usize>,
}

/// Something in the file that makes the value of the names it mentions uncertain.
#[derive(Clone, Debug, PartialEq)]
pub struct Doubt {
    pub line: usize,
    pub names: Vec<String>,
    pub what: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvFile {
    /// Every kept assignment in file order (a later one of the same name wins).
    pub assignments: Vec<EnvAssignment>,
    pub doubts: Vec<Doubt>,
}

impl EnvFile {
    /// The assignment in effect for `name` (the last one).
    pub fn get(&self, name: &str) -> Option<&EnvAssignment> {
        self.assignments.iter().rev().find(|a| a.key == name)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    SingleQuote,
    DoubleQuote,
    DoubleQuoteEscape,
    Comment,
    CommentEscape,
}

const WHITESPACE: &[u8] = b" \t\n\r";
const NEWLINE: &[u8] = b"\n\r";
const SHELL_NEED_ESCAPE: &[u8] = b"\"\\`$";

/// Parse an environment file; `Err` when it is not UTF-8 (systemd then refuses the whole file).
pub fn parse(bytes: &[u8]) -> Result<EnvFile, String> {
    if let Err(error) = std::str::from_utf8(bytes) {
        let line = bytes[..error.valid_up_to()]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1;
        return Err(format!(
            "line {line} is not UTF-8 text, and systemd refuses such a file"
        ));
    }
    let mut file = EnvFile::default();
    let mut state = State::PreKey;
    let mut key: Vec<u8> = Vec::new();
    let mut value: Vec<u8> = Vec::new();
    let mut last_key_ws: Option<usize> = None;
    let mut last_value_ws: Option<usize> = None;
    let mut line = 1;
    let mut key_line = 1;
    let mut key_start = 0;
    // The line after a comment that ended in a backslash (read differently before v254).
    let mut after_comment_escape: Option<usize> = None;

    let finish = |file: &mut EnvFile,
                  key: &mut Vec<u8>,
                  value: &mut Vec<u8>,
                  last_key_ws: Option<usize>,
                  last_value_ws: Option<usize>,
                  key_line: usize,
                  span: Range<usize>,
                  doubtful_line: bool| {
        if let Some(cut) = last_key_ws {
            key.truncate(cut);
        }
        if let Some(cut) = last_value_ws {
            value.truncate(cut);
        }
        let name = String::from_utf8_lossy(key).into_owned();
        let text = String::from_utf8_lossy(value).into_owned();
        key.clear();
        value.clear();
        if doubtful_line {
            file.doubts.push(Doubt {
                line: key_line,
                names: names_in(&name),
                what: "follows a comment that ends in a backslash: systemd before v254 reads it as part of the comment, later versions as an assignment".to_string(),
            });
        }
        if !valid_env_name(&name) {
            file.doubts.push(Doubt {
                line: key_line,
                names: names_in(&name),
                what: format!(
                    "`{name}` is not a variable name: systemd ignores this assignment (shell syntax such as `export` is not read)"
                ),
            });
            return;
        }
        if let Some(shell) = shell_syntax(&text) {
            file.doubts.push(Doubt {
                line: key_line,
                names: vec![name.clone()],
                what: format!(
                    "the value of {name} holds {shell}, which systemd passes on literally (it is not a shell)"
                ),
            });
        }
        file.assignments.push(EnvAssignment {
            key: name,
            value: text,
            line: key_line,
            span,
        });
    };

    for (index, &c) in bytes.iter().enumerate() {
        match state {
            State::PreKey => {
                if c == b'#' || c == b';' {
                    state = State::Comment;
                } else if !WHITESPACE.contains(&c) {
                    state = State::Key;
                    last_key_ws = None;
                    key_line = line;
                    key_start = index;
                    key.push(c);
                }
            }
            State::Key => {
                if NEWLINE.contains(&c) {
                    let text = String::from_utf8_lossy(&key).into_owned();
                    file.doubts.push(Doubt {
                        line: key_line,
                        names: names_in(&text),
                        what: format!(
                            "`{}` is not an assignment: systemd skips the line (it does not run shell code)",
                            text.trim()
                        ),
                    });
                    key.clear();
                    state = State::PreKey;
                } else if c == b'=' {
                    state = State::PreValue;
                    last_value_ws = None;
                } else {
                    if !WHITESPACE.contains(&c) {
                        last_key_ws = None;
                    } else if last_key_ws.is_none() {
                        last_key_ws = Some(key.len());
                    }
                    key.push(c);
                }
            }
            State::PreValue => {
                if NEWLINE.contains(&c) {
                    let doubtful = after_comment_escape == Some(key_line);
                    finish(
                        &mut file,
                        &mut key,
                        &mut value,
                        last_key_ws,
                        None,
                        key_line,
                        key_start..index,
                        doubtful,
                    );
                    state = State::PreKey;
                } else if c == b'\'' {
                    state = State::SingleQuote;
                } else if c == b'"' {
                    state = State::DoubleQuote;
                } else if c == b'\\' {
                    state = State::ValueEscape;
                } else if !WHITESPACE.contains(&c) {
                    state = State::Value;
                    value.push(c);
                }
            }
            State::Value => {
                if NEWLINE.contains(&c) {
                    let doubtful = after_comment_escape == Some(key_line);
                    finish(
                        &mut file,
                        &mut key,
                        &mut value,
                        last_key_ws,
                        last_value_ws,
                        key_line,
                        key_start..index,
                        doubtful,
                    );
                    state = State::PreKey;
                } else if c == b'\\' {
                    state = State::ValueEscape;
                    last_value_ws = None;
                } else {
                    if !WHITESPACE.contains(&c) {
                        last_value_ws = None;
                    } else if last_value_ws.is_none() {
                        last_value_ws = Some(value.len());
                    }
                    value.push(c);
                }
            }
            State::ValueEscape => {
                state = State::Value;
                if !NEWLINE.contains(&c) {
                    value.push(c);
                }
            }
            State::SingleQuote => {
                if c == b'\'' {
                    state = State::PreValue;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuote => {
                if c == b'"' {
                    state = State::PreValue;
                } else if c == b'\\' {
                    state = State::DoubleQuoteEscape;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuoteEscape => {
                state = State::DoubleQuote;
                if SHELL_NEED_ESCAPE.contains(&c) {
                    value.push(c);
                } else if c != b'\n' {
                    value.push(b'\\');
                    value.push(c);
                }
            }
            State::Comment => {
                if c == b'\\' {
                    state = State::CommentEscape;
                } else if NEWLINE.contains(&c) {
                    state = State::PreKey;
                }
            }
            State::CommentEscape => {
                if NEWLINE.contains(&c) {
                    state = State::PreKey;
                    after_comment_escape = Some(line + 1);
                } else {
                    state = State::Comment;
                }
            }
        }
        if c == b'\n' {
            line += 1;
        }
    }
    match state {
        State::PreValue
        | State::Value
        | State::ValueEscape
        | State::SingleQuote
        | State::DoubleQuote
        | State::DoubleQuoteEscape => {
            let doubtful = after_comment_escape == Some(key_line);
            let cut = if state == State::Value {
                last_value_ws
            } else {
                None
            };
            finish(
                &mut file,
                &mut key,
                &mut value,
                last_key_ws,
                cut,
                key_line,
                key_start..bytes.len(),
                doubtful,
            );
        }
        State::Key => {
            let text = String::from_utf8_lossy(&key).into_owned();
            file.doubts.push(Doubt {
                line: key_line,
                names: names_in(&text),
                what: format!(
                    "`{}` is not an assignment: systemd skips the line (it does not run shell code)",
                    text.trim()
                ),
            });
        }
        _ => {}
    }
    Ok(file)
}

/// Shell syntax in a value that a shell would expand and systemd does not.
fn shell_syntax(value: &str) -> Option<&'static str> {
    if value.contains("$(") {
        Some("a command substitution `$(…)`")
    } else if value.contains('`') {
        Some("a command substitution `` `…` ``")
    } else if value.contains("${") {
        Some("a variable reference `${…}`")
    } else if value
        .split('$')
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
    {
        Some("a variable reference `$…`")
    } else {
        None
    }
}

/// A value written so that systemd reads it back exactly (and a POSIX shell too): in double
/// quotes, with `"`, `\`, `` ` `` and `$` escaped.
pub fn render_value(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if c.is_ascii() && SHELL_NEED_ESCAPE.contains(&(c as u8)) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The file with the assignment at `span` replaced by `NAME="value"`.
pub fn replace(bytes: &[u8], span: &Range<usize>, name: &str, value: &str) -> Vec<u8> {
    let mut out = bytes[..span.start].to_vec();
    out.extend_from_slice(format!("{name}={}", render_value(value)).as_bytes());
    out.extend_from_slice(&bytes[span.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(file: &EnvFile) -> Vec<(&str, &str, usize)> {
        file.assignments
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str(), a.line))
            .collect()
    }

    #[test]
    fn quoting_escapes_and_joins_as_systemd_does() {
        let text = "# c\n  ; c\nA=plain value  \nB=\"-H tcp://0.0.0.0:2375 --dns 8.8.8.8\"\nC='single $X \\n'\nD=\"q\\\"\\$\\a\"\nE=un\\ quoted\\\n next\nF=\"multi\nline\"\nG=\"x\"  'y' z\nH=\nB=\"--dns 1.1.1.1\" # not a comment\n";
        let file = parse(text.as_bytes()).unwrap();
        assert_eq!(
            pairs(&file),
            [
                ("A", "plain value", 3),
                ("B", "-H tcp://0.0.0.0:2375 --dns 8.8.8.8", 4),
                ("C", "single $X \\n", 5),
                ("D", "q\"$\\a", 6),
                ("E", "un quoted next", 7),
                ("F", "multi\nline", 9),
                ("G", "xyz", 11),
                ("H", "", 12),
                ("B", "--dns 1.1.1.1# not a comment", 13),
            ]
        );
        assert_eq!(file.get("B").unwrap().line, 13);
        // `$X` in single quotes is still kept literally by systemd: a doubt about C.
        assert_eq!(file.doubts.len(), 1);
        assert_eq!(file.doubts[0].names, ["C"]);
        let b = &file.assignments[1];
        assert_eq!(
            &text[b.span.clone()],
            "B=\"-H tcp://0.0.0.0:2375 --dns 8.8.8.8\""
        );
    }

    #[test]
    fn shell_lines_are_doubts_about_the_names_they_mention() {
        let text = "OPTIONS='--selinux-enabled'\nif [ -z \"${DOCKER_CERT_PATH}\" ]; then\n    DOCKER_CERT_PATH=/etc/docker\nfi\nexport DOCKER_OPTS=\"-H tcp://0.0.0.0:2375\"\nX=\"$(cat /etc/x)\"\n# note \\\nY=1\n";
        let file = parse(text.as_bytes()).unwrap();
        assert_eq!(
            pairs(&file),
            [
                ("OPTIONS", "--selinux-enabled", 1),
                ("DOCKER_CERT_PATH", "/etc/docker", 3),
                ("X", "$(cat /etc/x)", 6),
                ("Y", "1", 8),
            ]
        );
        let doubts: Vec<(usize, Vec<String>)> = file
            .doubts
            .iter()
            .map(|d| (d.line, d.names.clone()))
            .collect();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            doubts,
            [
                (2, names(&["if", "z", "DOCKER_CERT_PATH", "then"])),
                (4, names(&["fi"])),
                (5, names(&["export", "DOCKER_OPTS"])),
                (6, names(&["X"])),
                (8, names(&["Y"])),
            ]
        );
        assert!(
            file.doubts[2]
                .what
                .contains("systemd ignores this assignment")
        );
        assert!(file.doubts[3].what.contains("command substitution"));
        assert!(file.doubts[4].what.contains("v254"));
    }

    #[test]
    fn crlf_and_a_last_line_without_newline() {
        let file = parse(b"A=1\r\nB=\"2\"").unwrap();
        assert_eq!(pairs(&file), [("A", "1", 1), ("B", "2", 2)]);
        assert!(parse(b"A=\xff\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn a_rewritten_value_reads_back_the_same() {
        let text = "# x\nDOCKER_OPTS=\"-H tcp://0.0.0.0:2375 --dns 8.8.8.8\"\nOTHER=1\n";
        let file = parse(text.as_bytes()).unwrap();
        let span = file.get("DOCKER_OPTS").unwrap().span.clone();
        let weird = "--label a\"b --x=$HOME `c` \\d";
        let out = replace(text.as_bytes(), &span, "DOCKER_OPTS", weird);
        let again = parse(&out).unwrap();
        assert_eq!(again.get("DOCKER_OPTS").unwrap().value, weird);
        assert_eq!(again.get("OTHER").unwrap().value, "1");
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("# x\nDOCKER_OPTS=\"")
        );
    }
}
