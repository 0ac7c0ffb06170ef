//! dockerd's command line as systemd builds it from `ExecStart=` (systemd.service(5),
//! "Command lines"; systemd's `replace_env_argv()`): `%` specifiers are resolved in each word;
//! a word that is exactly `$NAME` becomes the variable's value split into words (quotes in the
//! value are honoured, an unset variable gives no word); `${NAME}` inside a word is replaced by
//! the value as it is (one word); `$$` is a `$`; the `:` prefix turns variable expansion off.
//!
//! Every resulting word remembers where it came from, so that a fix can take a flag out of the
//! place that sets it: the `ExecStart=` line, or the value of a variable.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::dockerd::{self, Arg};
use super::environment::Environment;
use super::systemd::specifiers::{self, Context};
use super::systemd::{Exec, Problem, Scope, valid_env_name};

/// Where a word of dockerd's arguments came from.
#[derive(Clone, Debug, PartialEq)]
pub enum From {
    /// The `ExecStart=` word with this index.
    Exec(usize),
    /// Word `part` of the value of `$name`, which the `ExecStart=` word `exec` expands.
    Variable {
        exec: usize,
        name: String,
        part: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    pub text: String,
    pub from: From,
}

/// dockerd's arguments (the words after the executable) and where each came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Command {
    pub words: Vec<Word>,
    pub args: Vec<Arg>,
    /// Variables the command line reads.
    pub uses: BTreeSet<String>,
    pub problems: Vec<Problem>,
}

/// Split a variable's value the way `$NAME` is split (`extract_first_word()` with unquoting,
/// relaxed): blanks separate words; single and double quotes group and are removed; a
/// backslash takes the next character literally. Each word comes with its bytes in `value`.
pub fn split_value(value: &str) -> Vec<(String, Range<usize>)> {
    let mut words = Vec::new();
    let bytes: Vec<(usize, char)> = value.char_indices().collect();
    let mut index = 0;
    while index < bytes.len() {
        while index < bytes.len() && bytes[index].1.is_whitespace() {
            index += 1;
        }
        if index >= bytes.len() {
            break;
        }
        let start = bytes[index].0;
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while index < bytes.len() {
            let c = bytes[index].1;
            index += 1;
            match (quote, c) {
                (_, '\\') => {
                    if index < bytes.len() {
                        word.push(bytes[index].1);
                        index += 1;
                    }
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '"' | '\'') => quote = Some(c),
                (None, c) if c.is_whitespace() => {
                    index -= 1;
                    break;
                }
                (None, c) => word.push(c),
            }
        }
        let end = bytes.get(index).map_or(value.len(), |(at, _)| *at);
        words.push((word, start..end));
    }
    words
}

/// `${NAME}` replaced and `$$` made `$` in one word; `Err` for `${` syntax stigfix will not
/// guess at (`${NAME:-default}` is left as written by systemd, which is rarely what was meant).
fn replace_in_word(
    word: &str,
    env: &Environment,
    uses: &mut BTreeSet<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(close) = tail.find('}') else {
                return Err(format!("`{word}` has a `${{` without its `}}`"));
            };
            let name = &tail[..close];
            if !valid_env_name(name) {
                return Err(format!(
                    "`${{{name}}}` in `{word}` is not a plain variable reference"
                ));
            }
            uses.insert(name.to_string());
            if let Some(variable) = env.get(name) {
                out.push_str(&variable.value);
            }
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl Command {
    /// The arguments `exec` gives dockerd in the environment `env`.
    pub fn build(exec: &Exec, env: &Environment, context: &Context<'_>, at: &str) -> Command {
        let mut command = Command::default();
        for (index, raw) in exec.words.iter().enumerate().skip(exec.head_len()) {
            let word = match context.expand(raw) {
                Ok(word) => word,
                Err(what) => {
                    command.problems.push(Problem::new(
                        Scope::Command,
                        format!("{at}: `{raw}` uses {what}, which stigfix cannot resolve"),
                    ));
                    raw.clone()
                }
            };
            if !exec.expands_variables() {
                command.words.push(Word {
                    text: word,
                    from: From::Exec(index),
                });
                continue;
            }
            let whole = word
                .strip_prefix('$')
                .filter(|name| !name.starts_with(['{', '$']));
            if let Some(name) = whole {
                // systemd drops a `$word` that is not a variable name, like an unset one.
                if valid_env_name(name) {
                    command.uses.insert(name.to_string());
                    if let Some(variable) = env.get(name) {
                        for (part, (text, _)) in
                            split_value(&variable.value).into_iter().enumerate()
                        {
                            command.words.push(Word {
                                text,
                                from: From::Variable {
                                    exec: index,
                                    name: name.to_string(),
                                    part,
                                },
                            });
                        }
                    }
                }
                continue;
            }
            match replace_in_word(&word, env, &mut command.uses) {
                Ok(text) => command.words.push(Word {
                    text,
                    from: From::Exec(index),
                }),
                Err(why) => {
                    command
                        .problems
                        .push(Problem::new(Scope::Command, format!("{at}: {why}")));
                    command.words.push(Word {
                        text: word,
                        from: From::Exec(index),
                    });
                }
            }
        }
        let texts: Vec<String> = command.words.iter().map(|word| word.text.clone()).collect();
        command.args = dockerd::parse(&texts);
        command
    }

    /// The edits that take the arguments `remove` picks out of their sources, and put
    /// `-H insert` first when given: the new `ExecStart=` words (when they change) and the new
    /// value of each variable that changes.
    pub fn rewrite(
        &self,
        exec: &Exec,
        env: &Environment,
        remove: impl Fn(&Arg) -> bool,
        insert: Option<&str>,
    ) -> Rewrite {
        let decisions = dockerd::rewrite_words(&self.args, self.words.len(), remove);
        let mut exec_words: Vec<Option<String>> = exec.words.iter().cloned().map(Some).collect();
        let mut exec_changed = false;
        // Per variable: part → new text (None: dropped).
        let mut parts: BTreeMap<String, BTreeMap<usize, Option<String>>> = BTreeMap::new();
        for (word, decision) in self.words.iter().zip(&decisions) {
            if decision.as_deref() == Some(word.text.as_str()) {
                continue;
            }
            match &word.from {
                From::Exec(index) => {
                    exec_changed = true;
                    exec_words[*index] = decision
                        .as_ref()
                        .map(|text| specifiers::escape(&text.replace('$', "$$")));
                }
                From::Variable { name, part, .. } => {
                    let slot = parts
                        .entry(name.clone())
                        .or_default()
                        .entry(*part)
                        .or_insert(decision.clone());
                    if decision.is_none() {
                        *slot = None;
                    }
                }
            }
        }
        let mut words: Vec<String> = exec_words.into_iter().flatten().collect();
        if let Some(listener) = insert {
            let head = exec.head_len().min(words.len());
            words.insert(head, "-H".to_string());
            words.insert(head + 1, specifiers::escape(listener));
            exec_changed = true;
        }
        let mut values = BTreeMap::new();
        for (name, changes) in parts {
            let Some(variable) = env.get(&name) else {
                continue;
            };
            values.insert(name, edit_value(&variable.value, &changes));
        }
        Rewrite {
            exec_words: exec_changed.then_some(words),
            values,
        }
    }
}

/// What a fix changes on the command line's sources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rewrite {
    /// The new `ExecStart=` words (as written, for stigfix's drop-in), when they change.
    pub exec_words: Option<Vec<String>>,
    /// The new values of the variables whose words change.
    pub values: BTreeMap<String, String>,
}

/// A value with some of its words dropped or replaced; the kept words keep their text as
/// written (quotes and all) and the blanks before them.
fn edit_value(value: &str, changes: &BTreeMap<usize, Option<String>>) -> String {
    let words = split_value(value);
    let mut out = String::new();
    let mut previous_end = 0;
    let mut first = true;
    for (part, (_, span)) in words.iter().enumerate() {
        let gap = &value[previous_end..span.start];
        previous_end = span.end;
        let text = match changes.get(&part) {
            Some(None) => continue,
            Some(Some(text)) => super::systemd::quote_word(text),
            None => value[span.clone()].to_string(),
        };
        if first {
            out.push_str(&value[..words[0].1.start]);
            first = false;
        } else {
            out.push_str(if gap.is_empty() { " " } else { gap });
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::environment::{Origin, Variable};
    use super::super::systemd::syntax::split_words;
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let mut env = Environment::default();
        for (name, value) in pairs {
            env.vars.insert(
                name.to_string(),
                Variable {
                    value: value.to_string(),
                    origin: Origin::Unit {
                        file: PathBuf::from("/u"),
                        line: 1,
                    },
                },
            );
        }
        env
    }

    fn exec(line: &str) -> Exec {
        Exec::parse(line, &PathBuf::from("/u"), 1).unwrap()
    }

    const CONTEXT: Context<'static> = Context {
        unit: "docker.service",
        fragment: "/lib/systemd/system/docker.service",
    };

    fn texts(command: &Command) -> Vec<&str> {
        command.words.iter().map(|w| w.text.as_str()).collect()
    }

    #[test]
    fn dollar_words_split_and_braces_do_not() {
        let env = env(&[
            (
                "DOCKER_OPTS",
                "-H tcp://0.0.0.0:2375 --label 'a b' --dns 8.8.8.8",
            ),
            ("ONE", "x y"),
        ]);
        let command = Command::build(
            &exec(
                "/usr/sbin/dockerd -H fd:// $DOCKER_OPTS --x=${ONE} $UNSET \"$ONE\" $$HOME %t/d.sock :$NOT-A-NAME",
            ),
            &env,
            &CONTEXT,
            "u:1",
        );
        assert_eq!(
            texts(&command),
            [
                "-H",
                "fd://",
                "-H",
                "tcp://0.0.0.0:2375",
                "--label",
                "a b",
                "--dns",
                "8.8.8.8",
                "--x=x y",
                "x",
                "y",
                "$HOME",
                "/run/d.sock",
                ":$NOT-A-NAME"
            ]
        );
        assert_eq!(
            command.uses.iter().collect::<Vec<_>>(),
            ["DOCKER_OPTS", "ONE", "UNSET"]
        );
        assert_eq!(
            command.words[3].from,
            From::Variable {
                exec: 3,
                name: "DOCKER_OPTS".into(),
                part: 1
            }
        );
        assert_eq!(
            dockerd::hosts(&command.args),
            ["fd://", "tcp://0.0.0.0:2375"]
        );
        assert!(command.problems.is_empty());
    }

    #[test]
    fn what_stigfix_cannot_expand_is_a_problem() {
        let command = Command::build(
            &exec("/usr/bin/dockerd -H tcp://%H:2376 ${X:-tcp://0.0.0.0:2375}"),
            &env(&[]),
            &CONTEXT,
            "u:1",
        );
        assert_eq!(command.problems.len(), 2);
        assert!(
            command.problems[0]
                .reason
                .contains("`%H` (the node's host name)")
        );
        assert!(
            command.problems[1]
                .reason
                .contains("not a plain variable reference")
        );
        let plain = Command::build(
            &exec(":/usr/bin/dockerd $OPTS"),
            &env(&[("OPTS", "-D")]),
            &CONTEXT,
            "u:1",
        );
        assert_eq!(texts(&plain), ["$OPTS"]);
    }

    #[test]
    fn values_split_with_their_spans() {
        let value = "  -H tcp://x 'a b'\"c\"  d\\ e";
        let words = split_value(value);
        let texts: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(texts, ["-H", "tcp://x", "a bc", "d e"]);
        assert_eq!(&value[words[2].1.clone()], "'a b'\"c\"");
    }

    #[test]
    fn rewrite_edits_each_source() {
        let env = env(&[(
            "DOCKER_OPTS",
            "--dns 8.8.8.8 -H tcp://0.0.0.0:2375 --label 'a b'",
        )]);
        let exec =
            exec("/usr/sbin/dockerd -H fd:// -H tcp://127.0.0.1:2376 $DOCKER_OPTS --x=100%%");
        let command = Command::build(&exec, &env, &CONTEXT, "u:1");
        let rewrite = command.rewrite(
            &exec,
            &env,
            |arg| matches!(&arg.flag, dockerd::Flag::Host(h) if dockerd::is_tcp(h)),
            None,
        );
        assert_eq!(rewrite.values["DOCKER_OPTS"], "--dns 8.8.8.8 --label 'a b'");
        let words = rewrite.exec_words.unwrap();
        assert_eq!(
            words,
            [
                "/usr/sbin/dockerd",
                "-H",
                "fd://",
                "$DOCKER_OPTS",
                "--x=100%%"
            ]
        );
        // The words read back as the same command.
        let line = Exec::render("", &words);
        assert_eq!(split_words(&line).unwrap(), words);
        // Nothing removed: nothing changes.
        let same = command.rewrite(&exec, &env, |_| false, None);
        assert_eq!(same, Rewrite::default());
        // A listener put first.
        let inserted = command.rewrite(&exec, &env, |_| false, Some("fd://"));
        assert_eq!(inserted.exec_words.unwrap()[1..3], ["-H", "fd://"]);
    }
}
