//! A node's systemd configuration of docker.service as systemd reads it, for the tests that hand
//! it to a real dockerd ([`crate::dockerd`]), and `systemd-analyze verify` on it.
//!
//! Order (systemd.unit(5)): the unit file from the first folder of the search path that has it,
//! then every `docker.service.d/*.conf` of all those folders sorted by file name (a name in an
//! earlier folder hides the same name in a later one). `ExecStart=` with no value empties the
//! list; so does `Environment=`. A service that is not `Type=oneshot` must end with exactly one
//! `ExecStart=`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::dockerd::Launch;

/// The unit search path under a root, highest priority first (the folders a node can have).
const UNIT_DIRS: &[&str] = &[
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// What systemd would run for a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The effective `ExecStart=`, split into words (program first, prefixes such as `-` gone,
    /// `$VAR`/`${VAR}` expanded from the environment as systemd does).
    pub exec_start: Vec<String>,
    /// `Environment=` assignments, later ones winning.
    pub environment: Vec<(String, String)>,
    /// The files read, in order (relative to the root).
    pub files: Vec<PathBuf>,
}

/// The unit file and its drop-ins under `root`, in the order systemd reads them.
pub fn unit_files(root: &Path, unit: &str) -> Vec<PathBuf> {
    let main = UNIT_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(unit))
        .find(|rel| root.join(rel).is_file())
        .unwrap_or_else(|| panic!("no {unit} under {}", root.display()));
    let mut dropins: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in UNIT_DIRS {
        let rel = Path::new(dir).join(format!("{unit}.d"));
        let Ok(entries) = fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") && entry.path().is_file() {
                dropins
                    .entry(name.clone())
                    .or_insert_with(|| rel.join(&name));
            }
        }
    }
    std::iter::once(main).chain(dropins.into_values()).collect()
}

/// The effective service of `unit` under `root`.
#[track_caller]
pub fn effective_service(root: &Path, unit: &str) -> Service {
    let files = unit_files(root, unit);
    let mut exec: Vec<String> = Vec::new();
    let mut environment: Vec<(String, String)> = Vec::new();
    let mut oneshot = false;
    for rel in &files {
        let text = fs::read_to_string(root.join(rel))
            .unwrap_or_else(|e| panic!("read {}: {e}", rel.display()));
        for (key, value) in service_settings(&text) {
            match key.as_str() {
                "ExecStart" if value.is_empty() => exec.clear(),
                "ExecStart" => exec.push(value),
                "Environment" if value.is_empty() => environment.clear(),
                "Environment" => {
                    for word in split_words(&value, None) {
                        let (k, v) = word.split_once('=').unwrap_or_else(|| {
                            panic!("{}: Environment word `{word}` lacks `=`", rel.display())
                        });
                        environment.retain(|(old, _)| old != k);
                        environment.push((k.into(), v.into()));
                    }
                }
                "EnvironmentFile" => panic!(
                    "{}: EnvironmentFile= is not modelled by this test harness",
                    rel.display()
                ),
                "Type" => oneshot = value == "oneshot",
                _ => {}
            }
        }
    }
    assert!(
        oneshot || exec.len() == 1,
        "{unit} under {} ends with {} ExecStart= lines ({exec:?}); systemd refuses that for a service that is not Type=oneshot\nfiles: {files:?}",
        root.display(),
        exec.len()
    );
    let line = exec.last().expect("one ExecStart");
    let mut words = split_words(line, Some(&environment));
    let program = words[0]
        .trim_start_matches(['@', '-', ':', '+', '!'])
        .to_string();
    words[0] = program;
    Service {
        exec_start: words,
        environment,
        files,
    }
}

/// `key=value` settings of the `[Service]` section, in order (continuation lines joined,
/// comments dropped).
fn service_settings(text: &str) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        let line = format!("{pending}{line}");
        pending.clear();
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            continue;
        }
        if section != "Service" {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            settings.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    settings
}

/// Split a command line or an `Environment=` value into words: whitespace separates, double
/// and single quotes group, backslash escapes. With `env` (command lines), `${VAR}` is
/// replaced inside a word and a word that is only `$VAR` becomes the words of its value
/// (systemd.service(5), "Command lines"); an unset variable is empty.
fn split_words(text: &str, env: Option<&[(String, String)]>) -> Vec<String> {
    let lookup = |name: &str| {
        env.unwrap_or_default()
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut bare_var = None;
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some(other) => word.push(other),
                    None => {}
                },
                (q, '$') if env.is_some() => {
                    if chars.peek() == Some(&'{') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                        word.push_str(&lookup(&name));
                    } else if chars.peek() == Some(&'$') {
                        chars.next();
                        word.push('$');
                    } else {
                        let mut name = String::new();
                        while let Some(c) = chars.peek().copied() {
                            if c.is_ascii_alphanumeric() || c == '_' {
                                name.push(c);
                                chars.next();
                            } else {
                                break;
                            }
                        }
                        if word.is_empty()
                            && q.is_none()
                            && chars.peek().is_none_or(|c| c.is_whitespace())
                        {
                            bare_var = Some(lookup(&name));
                        } else {
                            word.push_str(&lookup(&name));
                        }
                    }
                }
                (_, c) => word.push(c),
            }
        }
        match bare_var {
            Some(value) => words.extend(value.split_whitespace().map(str::to_string)),
            None => words.push(word),
        }
    }
    words
}

/// How the node's dockerd would start: the effective `ExecStart=` (program checked, then its
/// arguments), the unit's environment, the `daemon.json` it reads (`--config-file`, else
/// `/etc/docker/daemon.json`), all under `root`.
#[track_caller]
pub fn node_launch(root: &Path) -> Launch {
    let service = effective_service(root, "docker.service");
    assert_eq!(
        service.exec_start[0], "/usr/bin/dockerd",
        "the effective ExecStart runs {} ({:?})",
        service.exec_start[0], service.files
    );
    let args: Vec<String> = service.exec_start[1..].to_vec();
    let mut config = "/etc/docker/daemon.json".to_string();
    for (i, arg) in args.iter().enumerate() {
        if let Some(value) = arg.strip_prefix("--config-file=") {
            config = value.to_string();
        } else if arg == "--config-file" {
            config = args.get(i + 1).expect("--config-file value").clone();
        }
    }
    let path = root.join(config.trim_start_matches('/'));
    let daemon_json = match fs::read_to_string(&path) {
        Ok(text) => Some(
            serde_json::from_str::<Value>(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", path.display())),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("read {}: {e}", path.display()),
    };
    Launch {
        args,
        daemon_json,
        env: service.environment,
        node_root: Some(root.to_path_buf()),
    }
}

/// `systemd-analyze` on PATH; a test fails (never passes) without it.
pub fn systemd_analyze() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/bin")])
        .map(|dir| dir.join("systemd-analyze"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "systemd-analyze is not installed: `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd` (.ci/run does this when it is missing)"
            )
        })
}

/// What `systemd-analyze verify` said.
#[derive(Debug)]
pub struct Verified {
    pub success: bool,
    pub output: String,
    pub command: String,
}

/// `systemd-analyze verify --root=<copy> --recursive-errors=no --man=no --generators=no` of
/// docker.service (and docker.socket when the node has it) on a copy of the node.
///
/// Why these flags and the copy: a fake node holds docker's units, not the rest of an OS.
/// `--root` makes systemd read units, drop-ins and the executables they name from the node.
/// With the default `--recursive-errors=yes` verify also loads the units docker.service
/// depends on (sysinit.target, containerd.service), which no fake node has, and fails on their
/// absence; `no` checks the named units only: every file's syntax and settings, the merged
/// service (one `ExecStart=` for a service that is not oneshot), and that each `Exec*=`
/// program exists and is executable under the root. The copy gets an executable `bin/kill`
/// when the node lacks it: the packaged units' `ExecReload=/bin/kill -s HUP $MAINPID` names
/// it, and every real node has it. Nothing else is added, so a drop-in naming a program the
/// node lacks still fails.
pub fn verify(root: &Path) -> Verified {
    let analyze = systemd_analyze();
    let copy = tempfile::Builder::new()
        .prefix("stigfix-verify-")
        .tempdir()
        .expect("temp dir");
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", root.display()))
        .arg(copy.path())
        .status()
        .expect("run cp");
    assert!(status.success(), "cp -a {} failed", root.display());
    let kill = copy.path().join("bin/kill");
    if !kill.exists() {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir_all(kill.parent().unwrap()).expect("bin");
        fs::write(&kill, "#!/bin/sh\n").expect("bin/kill");
        fs::set_permissions(&kill, fs::Permissions::from_mode(0o755)).expect("chmod bin/kill");
    }
    let mut units = vec!["docker.service"];
    if UNIT_DIRS
        .iter()
        .any(|dir| copy.path().join(dir).join("docker.socket").is_file())
    {
        units.push("docker.socket");
    }
    let mut command = Command::new(&analyze);
    command
        .arg("verify")
        .arg(format!("--root={}", copy.path().display()))
        .args(["--recursive-errors=no", "--man=no", "--generators=no"])
        .args(&units)
        .env("SYSTEMD_LOG_COLOR", "0")
        .env("SYSTEMD_PAGER", "");
    let shown = format!("{command:?}");
    let out = command.output().expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace(&copy.path().display().to_string(), "<root>");
    Verified {
        success: out.status.success(),
        output: text,
        command: shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn the_last_execstart_after_a_reset_wins_and_drop_ins_go_by_name_across_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "lib/systemd/system/docker.service",
            "[Unit]\nExecStart=/not/service\n[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd://\nEnvironment=A=1 \"B=two words\"\n",
        );
        // a.conf in /usr/lib runs before b.conf in /etc; /etc's c.conf hides /lib's c.conf.
        write(
            root,
            "etc/systemd/system/docker.service.d/b.conf",
            "[Service]\nExecStart=\nExecStart=-/usr/bin/dockerd \\\n  -H unix:///x.sock \"--label=a b\" $OPTS ${A}x\n",
        );
        write(
            root,
            "usr/lib/systemd/system/docker.service.d/a.conf",
            "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2375\nEnvironment=OPTS=\"--debug --tls\"\n",
        );
        write(
            root,
            "lib/systemd/system/docker.service.d/c.conf",
            "[Service]\nExecStart=/usr/bin/dockerd --second\n",
        );
        write(
            root,
            "etc/systemd/system/docker.service.d/c.conf",
            "# comment\n[Service]\nEnvironment=A=3\n",
        );
        write(
            root,
            "etc/systemd/system/docker.service.d/d.txt",
            "[Service]\nExecStart=/usr/bin/dockerd --ignored\n",
        );
        let service = effective_service(root, "docker.service");
        assert_eq!(
            service.exec_start,
            [
                "/usr/bin/dockerd",
                "-H",
                "unix:///x.sock",
                "--label=a b",
                "--debug",
                "--tls",
                "3x"
            ]
        );
        assert_eq!(
            service.environment,
            [
                ("B".to_string(), "two words".to_string()),
                ("OPTS".to_string(), "--debug --tls".to_string()),
                ("A".to_string(), "3".to_string())
            ]
        );
        assert_eq!(
            service.files,
            [
                PathBuf::from("lib/systemd/system/docker.service"),
                PathBuf::from("usr/lib/systemd/system/docker.service.d/a.conf"),
                PathBuf::from("etc/systemd/system/docker.service.d/b.conf"),
                PathBuf::from("etc/systemd/system/docker.service.d/c.conf"),
            ]
        );
    }

    #[test]
    #[should_panic(expected = "ends with 2 ExecStart= lines")]
    fn a_second_execstart_without_a_reset_is_what_systemd_refuses() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/bin/dockerd -H fd://\n",
        );
        write(
            dir.path(),
            "etc/systemd/system/docker.service.d/x.conf",
            "[Service]\nExecStart=/usr/bin/dockerd\n",
        );
        effective_service(dir.path(), "docker.service");
    }
}
