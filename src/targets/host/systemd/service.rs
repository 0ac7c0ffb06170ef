//! The `[Service]` settings that decide dockerd's command line and environment, after the
//! fragment and its drop-ins are applied in order (systemd.service(5), systemd.exec(5)):
//! `ExecStart=` (an empty assignment resets the list), `Environment=` (a later assignment of a
//! name wins; an empty one resets), `EnvironmentFile=` (an empty one resets),
//! `UnsetEnvironment=` and `PassEnvironment=`.

use std::path::{Path, PathBuf};

use super::super::fsroot::View;
use super::search::LoadedUnit;
use super::syntax::{Parsed, names_in, parse_unit, quote_word, split_words, valid_env_name};
use super::{Problem, Scope};

/// An `ExecStart=` command: prefix characters (`-@:+!|`), the words as written (unquoted, `$`
/// and `%` untouched), and where it was set.
#[derive(Clone, Debug, PartialEq)]
pub struct Exec {
    pub prefix: String,
    pub words: Vec<String>,
    /// Root-relative path of the file that set it.
    pub file: PathBuf,
    pub line: usize,
}

impl Exec {
    pub fn parse(value: &str, file: &Path, line: usize) -> Result<Exec, String> {
        let prefix: String = value
            .chars()
            .take_while(|c| matches!(c, '-' | '@' | ':' | '+' | '!' | '|'))
            .collect();
        let words = split_words(&value[prefix.len()..])?;
        if words.is_empty() {
            return Err("ExecStart= names no command".into());
        }
        Ok(Exec {
            prefix,
            words,
            file: file.to_path_buf(),
            line,
        })
    }

    /// How many words come before the program's arguments (the executable, and argv[0] with
    /// `@`).
    pub fn head_len(&self) -> usize {
        let skip = if self.prefix.contains('@') { 2 } else { 1 };
        skip.min(self.words.len())
    }

    /// Whether `$VAR` and `${VAR}` are expanded (not with the `:` prefix).
    pub fn expands_variables(&self) -> bool {
        !self.prefix.contains(':')
    }

    /// The value of an `ExecStart=` line for these words.
    pub fn render(prefix: &str, words: &[String]) -> String {
        let rendered: Vec<String> = words.iter().map(|word| quote_word(word)).collect();
        format!("{prefix}{}", rendered.join(" "))
    }
}

/// One `NAME=value` of `Environment=` (also used for the names of `UnsetEnvironment=` and
/// `PassEnvironment=`), as written, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct EnvSetting {
    pub name: String,
    /// The value as written (unquoted; `%` specifiers not yet resolved).
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

/// The settings of docker.service that stigfix reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSettings {
    /// The `ExecStart=` commands in effect (systemd accepts exactly one for a non-oneshot).
    pub exec: Vec<Exec>,
    /// `Environment=` assignments in effect, one per name, in the order names first appeared.
    pub env: Vec<EnvSetting>,
    /// `EnvironmentFile=` values in order (`value` is the path as written, with a leading `-`
    /// when the file is optional).
    pub env_files: Vec<EnvSetting>,
    pub unset: Vec<EnvSetting>,
    pub pass: Vec<EnvSetting>,
    pub problems: Vec<Problem>,
}

fn list_setting(list: &mut Vec<EnvSetting>, value: &str, file: &Path, line: usize) {
    if value.is_empty() {
        list.clear();
        return;
    }
    list.push(EnvSetting {
        name: String::new(),
        value: value.to_string(),
        file: file.to_path_buf(),
        line,
    });
}

impl ServiceSettings {
    /// Apply one parsed file on top of the settings so far; `shown` names it in reasons.
    pub fn apply(&mut self, parsed: &Parsed, file: &Path, shown: &str) {
        for bad in &parsed.bad {
            self.problems.push(Problem::new(
                Scope::Service,
                format!(
                    "{shown}:{}: {} (systemd skips it; stigfix cannot tell what it was meant to set)",
                    bad.line, bad.what
                ),
            ));
        }
        for assignment in parsed.assignments.iter().filter(|a| a.section == "Service") {
            let at = |what: String| format!("{shown}:{}: {what}", assignment.line);
            let value = assignment.value.as_str();
            let line = assignment.line;
            match assignment.key.as_str() {
                "ExecStart" if value.is_empty() => self.exec.clear(),
                "ExecStart" => match Exec::parse(value, file, line) {
                    Ok(exec) => self.exec.push(exec),
                    Err(why) => self.problems.push(Problem::new(
                        Scope::Service,
                        at(format!(
                            "ExecStart= cannot be read ({why}); systemd ignores it"
                        )),
                    )),
                },
                "Environment" => self.environment(value, file, line, &at),
                "EnvironmentFile" => list_setting(&mut self.env_files, value, file, line),
                "UnsetEnvironment" | "PassEnvironment" => {
                    let list = if assignment.key == "PassEnvironment" {
                        &mut self.pass
                    } else {
                        &mut self.unset
                    };
                    match split_words(value) {
                        Ok(words) if words.is_empty() => list.clear(),
                        Ok(words) => list.extend(words.into_iter().map(|word| {
                            EnvSetting {
                                name: word
                                    .split_once('=')
                                    .map_or(word.as_str(), |(n, _)| n)
                                    .to_string(),
                                value: word,
                                file: file.to_path_buf(),
                                line,
                            }
                        })),
                        Err(why) => self
                            .problems
                            .extend(names_in(value).into_iter().map(|name| {
                                Problem::new(
                                    Scope::Variable(name),
                                    at(format!("{}= cannot be read: {why}", assignment.key)),
                                )
                            })),
                    }
                }
                _ => {}
            }
        }
    }

    fn environment(
        &mut self,
        value: &str,
        file: &Path,
        line: usize,
        at: &dyn Fn(String) -> String,
    ) {
        let words = match split_words(value) {
            Ok(words) => words,
            Err(why) => {
                // systemd ignores the whole line: every name it assigns is in doubt.
                for name in assigned_names(value) {
                    self.problems.push(Problem::new(
                        Scope::Variable(name),
                        at(format!(
                            "Environment= cannot be read ({why}); systemd ignores the line"
                        )),
                    ));
                }
                return;
            }
        };
        if words.is_empty() {
            self.env.clear();
            return;
        }
        for word in words {
            let Some((name, value)) = word
                .split_once('=')
                .filter(|(name, _)| valid_env_name(name))
            else {
                for name in names_in(&word) {
                    self.problems.push(Problem::new(
                        Scope::Variable(name),
                        at(format!(
                            "`{word}` is not a `NAME=value` assignment; systemd ignores it"
                        )),
                    ));
                }
                continue;
            };
            let setting = EnvSetting {
                name: name.to_string(),
                value: value.to_string(),
                file: file.to_path_buf(),
                line,
            };
            match self.env.iter_mut().find(|existing| existing.name == name) {
                Some(slot) => *slot = setting,
                None => self.env.push(setting),
            }
        }
    }

    #[cfg(test)]
    pub fn env_setting(&self, name: &str) -> Option<&EnvSetting> {
        self.env.iter().find(|setting| setting.name == name)
    }
}

/// The names a line that cannot be split seems to assign (`NAME=` at the start of a word, quotes
/// ignored), else every name it mentions.
fn assigned_names(value: &str) -> Vec<String> {
    let names: Vec<String> = value
        .split_whitespace()
        .filter_map(|chunk| chunk.trim_start_matches(['"', '\'']).split_once('='))
        .map(|(name, _)| name.to_string())
        .filter(|name| valid_env_name(name))
        .collect();
    if names.is_empty() {
        names_in(value)
    } else {
        names
    }
}

/// The effective `[Service]` settings of a loaded unit. What systemd would refuse (more than
/// one `ExecStart=`, none at all) or a file that cannot be read is a problem for the whole
/// service.
pub fn effective(view: &View<'_>, unit: &LoadedUnit) -> ServiceSettings {
    let mut settings = ServiceSettings::default();
    for file in unit.files() {
        let shown = view.show(&file.rel);
        if let Some(why) = &file.unreadable {
            settings.problems.push(Problem::new(
                Scope::Service,
                format!("{shown} cannot be read: {why}"),
            ));
            continue;
        }
        settings.apply(&parse_unit(&file.bytes), &file.rel, &shown);
    }
    match settings.exec.len() {
        0 => settings.problems.push(Problem::new(
            Scope::Service,
            format!(
                "{} has no ExecStart= after its drop-ins are applied ({}); systemd refuses to start it",
                unit.fragment.name,
                view.show(&unit.fragment.rel)
            ),
        )),
        1 => {}
        _ => {
            let places: Vec<String> = settings
                .exec
                .iter()
                .map(|exec| format!("{}:{}", view.show(&exec.file), exec.line))
                .collect();
            settings.problems.push(Problem::new(
                Scope::Service,
                format!(
                    "{} has more than one ExecStart= ({}); systemd refuses it: put an empty `ExecStart=` line before the one that should win",
                    unit.fragment.name,
                    places.join(", ")
                ),
            ));
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(settings: &mut ServiceSettings, text: &str, file: &str) {
        settings.apply(&parse_unit(text.as_bytes()), Path::new(file), file);
    }

    #[test]
    fn exec_reset_and_environment() {
        let mut settings = ServiceSettings::default();
        apply(
            &mut settings,
            "[Service]\nExecStart=/usr/bin/dockerd -H fd://\nEnvironment=A=1 \"B=two words\"\nEnvironmentFile=-/etc/default/docker\n",
            "/f",
        );
        apply(
            &mut settings,
            "[Service]\nExecStart=\nExecStart=-/usr/bin/dockerd -H unix:// $OPTS\nEnvironment='A=3'\n",
            "/d",
        );
        assert_eq!(settings.exec.len(), 1);
        let exec = &settings.exec[0];
        assert_eq!(exec.prefix, "-");
        assert_eq!(exec.words[exec.head_len()..], ["-H", "unix://", "$OPTS"]);
        assert_eq!(exec.file, Path::new("/d"));
        assert!(exec.expands_variables());
        let a = settings.env_setting("A").unwrap();
        assert_eq!(
            (a.value.as_str(), a.line, a.file.to_str()),
            ("3", 4, Some("/d"))
        );
        assert_eq!(settings.env_setting("B").unwrap().value, "two words");
        assert_eq!(settings.env_files[0].value, "-/etc/default/docker");
        apply(
            &mut settings,
            "[Service]\nEnvironment=\nEnvironment=C=1\nEnvironmentFile=\nUnsetEnvironment=X Y=1\n",
            "/e",
        );
        assert!(settings.env_setting("A").is_none());
        assert_eq!(settings.env_setting("C").unwrap().value, "1");
        assert!(settings.env_files.is_empty());
        let unset: Vec<&str> = settings.unset.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(unset, ["X", "Y"]);
        assert!(settings.problems.is_empty());
    }

    #[test]
    fn what_systemd_ignores_is_a_problem_for_what_it_names() {
        let mut settings = ServiceSettings::default();
        apply(
            &mut settings,
            "[Service]\nEnvironment=\"DOCKER_OPTS=-H tcp://x\nEnvironment=DOCKER_FIPS\nExecStart=/usr/bin/dockerd \"open\nExecStart /usr/bin/dockerd\n",
            "/r/b.conf",
        );
        let problems: Vec<(Scope, &str)> = settings
            .problems
            .iter()
            .map(|p| (p.scope.clone(), p.reason.as_str()))
            .collect();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(problems[0].0, Scope::Service);
        assert!(
            problems[0]
                .1
                .starts_with("/r/b.conf:5: `ExecStart /usr/bin/dockerd` is not")
        );
        assert_eq!(problems[1].0, Scope::Variable("DOCKER_OPTS".into()));
        assert!(
            problems[1]
                .1
                .starts_with("/r/b.conf:2: Environment= cannot be read (unterminated double quote")
        );
        assert_eq!(problems[2].0, Scope::Variable("DOCKER_FIPS".into()));
        assert_eq!(problems[3].0, Scope::Service);
        assert!(
            problems[3]
                .1
                .starts_with("/r/b.conf:4: ExecStart= cannot be read")
        );
        assert!(settings.exec.is_empty());
    }
}
