//! docker.service's environment, as systemd builds it for dockerd (systemd.exec(5)):
//! `Environment=` assignments, then every `EnvironmentFile=` in order (settings from files win
//! over `Environment=`, and a later file over an earlier one), then `UnsetEnvironment=`.
//! Each value keeps the file and line it came from.
//!
//! An `EnvironmentFile=` path may start with `-`: a missing file is then ignored; without it
//! systemd refuses to start the service. A file stigfix cannot read, a glob it does not expand
//! or what [`envfile::Doubt`] lists is a [`Problem`] for the variables it could set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fsroot::{Kind, Stat, View};
use super::systemd::envfile::{self, EnvFile};
use super::systemd::specifiers::Context;
use super::systemd::{Problem, Scope, ServiceSettings};

/// Where a variable's value was set.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// `Environment=` in a unit file.
    Unit { file: PathBuf, line: usize },
    /// An assignment in a loaded environment file (index into [`Environment::files`]).
    File {
        file: usize,
        rel: PathBuf,
        line: usize,
    },
}

/// One variable of the service's environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub value: String,
    pub origin: Origin,
}

/// An environment file systemd reads for the service.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedFile {
    /// Resolved root-relative path.
    pub rel: PathBuf,
    pub stat: Stat,
    pub bytes: Vec<u8>,
    pub parsed: EnvFile,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Environment {
    pub vars: BTreeMap<String, Variable>,
    pub files: Vec<LoadedFile>,
    pub problems: Vec<Problem>,
}

impl Environment {
    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.vars.get(name)
    }

    /// Build the environment of a service whose settings are `settings`.
    pub fn build(
        view: &View<'_>,
        settings: &ServiceSettings,
        context: &Context<'_>,
    ) -> Environment {
        let mut env = Environment::default();
        for setting in &settings.env {
            let at = format!("{}:{}", view.show(&setting.file), setting.line);
            match context.expand(&setting.value) {
                Ok(value) => {
                    env.vars.insert(
                        setting.name.clone(),
                        Variable {
                            value,
                            origin: Origin::Unit {
                                file: setting.file.clone(),
                                line: setting.line,
                            },
                        },
                    );
                }
                Err(what) => env.problems.push(Problem::new(
                    Scope::Variable(setting.name.clone()),
                    format!(
                        "{at}: the value of {} uses {what}, which stigfix cannot resolve",
                        setting.name
                    ),
                )),
            }
        }
        for setting in &settings.env_files {
            env.load_file(view, &setting.value, &setting.file, setting.line, context);
        }
        for unset in &settings.unset {
            let drop = match unset.value.split_once('=') {
                // `NAME=VALUE` unsets only that exact assignment.
                Some((name, value)) => env.vars.get(name).is_some_and(|v| v.value == value),
                None => true,
            };
            if drop {
                env.vars.remove(&unset.name);
            }
        }
        for pass in &settings.pass {
            if !env.vars.contains_key(&pass.name) {
                env.problems.push(Problem::new(
                    Scope::Variable(pass.name.clone()),
                    format!(
                        "{}:{}: PassEnvironment={} takes its value from the service manager's own environment, which stigfix cannot see",
                        view.show(&pass.file),
                        pass.line,
                        pass.name
                    ),
                ));
            }
        }
        env
    }

    fn load_file(
        &mut self,
        view: &View<'_>,
        spec: &str,
        unit_file: &Path,
        line: usize,
        context: &Context<'_>,
    ) {
        let at = format!("{}:{line}", view.show(unit_file));
        let all = |reason: String| Problem::new(Scope::Environment, format!("{at}: {reason}"));
        let spec = match context.expand(spec) {
            Ok(spec) => spec,
            Err(what) => {
                self.problems.push(all(format!(
                    "EnvironmentFile={spec} uses {what}, which stigfix cannot resolve"
                )));
                return;
            }
        };
        let (optional, path) = match spec.strip_prefix('-') {
            Some(path) => (true, path),
            None => (false, spec.as_str()),
        };
        let refuses = |what: String| {
            Problem::new(
                Scope::Service,
                format!("{at}: {what}: systemd refuses to start docker.service"),
            )
        };
        if !path.starts_with('/') {
            if !optional {
                self.problems.push(refuses(format!(
                    "EnvironmentFile={path} is not an absolute path"
                )));
            }
            return;
        }
        if path.contains(['*', '?', '[']) {
            self.problems.push(all(format!(
                "EnvironmentFile={path} is a glob pattern, which stigfix does not expand"
            )));
            return;
        }
        let resolved = match view.resolve(Path::new(path), true) {
            Ok(resolved) => resolved,
            Err(error) => {
                self.problems.push(all(format!(
                    "EnvironmentFile={path} cannot be read: {}",
                    error.message()
                )));
                return;
            }
        };
        let shown = view.show(&resolved.rel);
        let stat = match resolved.stat {
            Some(stat) if stat.kind == Kind::File => stat,
            Some(stat) => {
                if !optional {
                    self.problems
                        .push(refuses(format!("{shown} is a {}", stat.kind.as_str())));
                }
                return;
            }
            None => {
                if !optional {
                    self.problems
                        .push(refuses(format!("EnvironmentFile={path} does not exist")));
                }
                return;
            }
        };
        let bytes = match view.read(&resolved.rel) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.problems.push(all(format!(
                    "EnvironmentFile={path} cannot be read: {}",
                    error.message()
                )));
                return;
            }
        };
        let parsed = match envfile::parse(&bytes) {
            Ok(parsed) => parsed,
            Err(why) => {
                self.problems
                    .push(Problem::new(Scope::Environment, format!("{shown}: {why}")));
                return;
            }
        };
        for doubt in &parsed.doubts {
            for name in &doubt.names {
                self.problems.push(Problem::new(
                    Scope::Variable(name.clone()),
                    format!("{shown}:{}: {}", doubt.line, doubt.what),
                ));
            }
        }
        // A file named twice is read twice by systemd; it is one file to rewrite.
        let index = match self.files.iter().position(|file| file.rel == resolved.rel) {
            Some(index) => index,
            None => self.files.len(),
        };
        for assignment in &parsed.assignments {
            self.vars.insert(
                assignment.key.clone(),
                Variable {
                    value: assignment.value.clone(),
                    origin: Origin::File {
                        file: index,
                        rel: resolved.rel.clone(),
                        line: assignment.line,
                    },
                },
            );
        }
        if index == self.files.len() {
            self.files.push(LoadedFile {
                rel: resolved.rel,
                stat,
                bytes,
                parsed,
            });
        }
    }
}
