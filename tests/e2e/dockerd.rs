//! A real Docker Engine (`dockerd`, Debian's `docker.io`) started by the tests to judge a
//! configuration: an argument list as an `ExecStart=` gives it and a `daemon.json`.
//!
//! Everything the daemon would write on the machine is moved into a private temp folder:
//! `--data-root`, `--exec-root`, `--pidfile` and the trust key (`"deprecated-key-path"` in the
//! file; 20.10 has no flag for it and would otherwise create `/etc/docker/key.json`). It runs
//! with `--storage-driver vfs --iptables=false --bridge=none`, which work in a container. A
//! setting of these that the configuration already makes (a flag or a `daemon.json` key) is
//! not given again: a directive both as a flag and in the file is the very conflict dockerd
//! refuses. The paths of the sandbox settings are replaced by temp ones where the configuration
//! makes them.
//!
//! Listeners: `fd://` (systemd socket activation, which there is none of here) and every
//! `unix://` socket become unix sockets in the temp folder; the first is the one the harness
//! talks to. A TCP listener on a loopback address is kept as it is; one on any other address is
//! moved to a free port on 127.0.0.1 (never listen on the machine's network, never depend on a
//! fixed port being free) and the move is recorded in [`Dockerd::moved`]. When the
//! configuration names no listener at all dockerd would use `/var/run/docker.sock`; the temp
//! socket stands in for it. When it names only TCP ones, a temp unix socket is added (to the
//! file's `"hosts"` if the listeners are there, else as a flag) so that the harness can ask.
//!
//! `--containerd=PATH` (the packaged units name `/run/containerd/containerd.sock`, served by
//! containerd.service on a real node) gets a containerd of its own started in the temp folder;
//! without that flag dockerd starts and stops its own containerd (which creates the empty
//! folders `/opt/containerd/{bin,lib}` on the machine).
//!
//! Other absolute paths in the flags or the file (TLS certificates and the like) are looked up
//! under the node root ([`Launch::node_root`]); one that is not there fails the test, so no file
//! of this machine is used by mistake.
//!
//! One daemon runs at a time in the test process (a lock held by [`Dockerd`]): two cores are
//! shared, and a second daemon would only slow the first one's start. A test must drop (or
//! [`Dockerd::stop`]) one daemon before starting the next.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long dockerd (or containerd) may take to answer or to exit. A bound, not a speed claim:
/// the machine is shared and a start normally takes a second or two.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a SIGTERM may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// The hint every "not installed" failure gives.
pub const INSTALL_HINT: &str = "install Debian's Docker Engine: `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io` (.ci/run does this when dockerd is missing)";

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What to start.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// dockerd's arguments, as an `ExecStart=` line has them after the program (`-H fd://` …).
    pub args: Vec<String>,
    /// The `daemon.json` (an object); `None` is a node without one (`{}` is given, which
    /// dockerd treats the same).
    pub daemon_json: Option<Value>,
    /// The daemon's environment besides PATH (e.g. `Environment=` lines of the unit).
    pub env: Vec<(String, String)>,
    /// The root under which absolute paths of the configuration are looked up.
    pub node_root: Option<PathBuf>,
}

impl Launch {
    pub fn args(args: &[&str]) -> Launch {
        Launch {
            args: args.iter().map(|arg| arg.to_string()).collect(),
            ..Launch::default()
        }
    }

    pub fn daemon_json(mut self, value: Value) -> Launch {
        self.daemon_json = Some(value);
        self
    }
}

/// A daemon that ended before it answered.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stderr: String,
    /// The command line it was given (program first) and the file, for messages.
    pub argv: Vec<String>,
    pub daemon_json: String,
}

/// A running dockerd. Dropping it stops it (SIGTERM, then SIGKILL), stops the containerd the
/// harness started for it, unmounts what it left mounted under the temp folder and removes
/// that folder, also when a test panics.
pub struct Dockerd {
    child: Option<Child>,
    containerd: Option<Child>,
    argv: Vec<String>,
    daemon_json: String,
    socket: PathBuf,
    moved: Vec<(String, String)>,
    dir: Option<TempDir>,
    _turn: MutexGuard<'static, ()>,
}

/// `dockerd` on PATH, else in /usr/sbin or /usr/bin; a test fails (never passes) without it.
pub fn dockerd_binary() -> PathBuf {
    find_binary("dockerd").unwrap_or_else(|| {
        panic!(
            "dockerd is not installed, and these tests need a real Docker Engine: {INSTALL_HINT}"
        )
    })
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A TCP port on 127.0.0.1 that nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port on 127.0.0.1")
        .port()
}

/// dockerd's boolean flags (pflag: a value only as `--flag=value`), 20.10.
const BOOL_FLAGS: &[&str] = &[
    "debug",
    "tls",
    "tlsverify",
    "iptables",
    "ip-forward",
    "ip-masq",
    "icc",
    "ipv6",
    "userland-proxy",
    "selinux-enabled",
    "live-restore",
    "experimental",
    "init",
    "no-new-privileges",
    "raw-logs",
    "rootless",
    "validate",
    "help",
    "version",
    "disable-legacy-registry",
    "cri-containerd",
];

/// Short flags and their long names.
fn long_name(short: &str) -> Option<&'static str> {
    Some(match short {
        "H" => "host",
        "D" => "debug",
        "G" => "group",
        "g" => "data-root",
        "p" => "pidfile",
        "l" => "log-level",
        "b" => "bridge",
        "s" => "storage-driver",
        "v" => "version",
        "h" => "help",
        _ => return None,
    })
}

/// One flag of a command line: long name (aliases folded) and value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Flag {
    name: String,
    value: Option<String>,
}

fn canonical(name: &str) -> String {
    match name {
        "graph" => "data-root".into(),
        other => other.into(),
    }
}

/// Parse dockerd's arguments the way pflag does (every spelling: `-H x`, `-Hx`, `-H=x`,
/// `--host x`, `--host=x`, boolean flags only with `=`).
fn parse_flags(args: &[String]) -> Vec<Flag> {
    let mut flags = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => (canonical(name), Some(value.to_string())),
                None => (canonical(long), None),
            }
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let (letter, rest) = short.split_at(1);
            let name = long_name(letter)
                .unwrap_or_else(|| panic!("dockerd flag `{arg}`: unknown short flag"))
                .to_string();
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            (name, (!rest.is_empty()).then(|| rest.to_string()))
        } else {
            panic!("dockerd takes no positional argument, got `{arg}` in {args:?}");
        };
        let value = match inline {
            Some(value) => Some(value),
            None if BOOL_FLAGS.contains(&name.as_str()) => None,
            None => Some(
                iter.next()
                    .unwrap_or_else(|| panic!("dockerd flag `{arg}` lacks its value"))
                    .clone(),
            ),
        };
        flags.push(Flag { name, value });
    }
    flags
}

fn render_flags(flags: &[Flag]) -> Vec<String> {
    flags
        .iter()
        .map(|flag| match &flag.value {
            Some(value) => format!("--{}={value}", flag.name),
            None => format!("--{}", flag.name),
        })
        .collect()
}

/// The rewriting of one configuration into the sandbox.
struct Sandbox<'a> {
    dir: &'a Path,
    node_root: Option<&'a Path>,
    sockets: Vec<PathBuf>,
    moved: Vec<(String, String)>,
}

impl Sandbox<'_> {
    fn next_socket(&mut self) -> String {
        let name = match self.sockets.len() {
            0 => "docker.sock".to_string(),
            n => format!("docker-{n}.sock"),
        };
        let path = self.dir.join(name);
        self.sockets.push(path.clone());
        format!("unix://{}", path.display())
    }

    /// A listener address of the configuration, rewritten.
    fn host(&mut self, host: &str) -> String {
        if host.starts_with("fd://") || host.starts_with("unix://") {
            return self.next_socket();
        }
        let rest = host.strip_prefix("tcp://").unwrap_or(host);
        if host.contains("://") && !host.starts_with("tcp://") {
            panic!("listener `{host}`: the harness knows fd://, unix:// and tcp:// only");
        }
        let (address, port) = rest
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("listener `{host}` without a port"));
        let address = address.trim_start_matches('[').trim_end_matches(']');
        let loopback = address == "localhost"
            || address
                .parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        if loopback && !port.is_empty() {
            return host.to_string();
        }
        let moved = format!("tcp://127.0.0.1:{}", free_port());
        self.moved.push((host.to_string(), moved.clone()));
        moved
    }

    /// An absolute path of the configuration, looked up under the node root.
    fn path(&self, what: &str, path: &str) -> String {
        let Some(root) = self.node_root else {
            panic!("{what} `{path}` is an absolute path and no node root was given to map it");
        };
        let mapped = root.join(path.trim_start_matches('/'));
        assert!(
            mapped.exists(),
            "{what} `{path}` is not under the node root {} (the harness will not use this machine's {path})",
            root.display()
        );
        mapped.display().to_string()
    }

    /// Map every absolute path among the string values of a JSON tree.
    fn json_paths(&self, key: &str, value: &mut Value) {
        match value {
            Value::String(text) if text.starts_with('/') => {
                *text = self.path(&format!("daemon.json \"{key}\""), text);
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.json_paths(key, item)),
            Value::Object(map) => {
                for (inner, item) in map.iter_mut() {
                    self.json_paths(&format!("{key}.{inner}"), item);
                }
            }
            _ => {}
        }
    }
}

/// The command line and file dockerd is started with, and the containerd socket to serve.
struct Prepared {
    args: Vec<String>,
    daemon_json: Value,
    containerd: Option<PathBuf>,
    sockets: Vec<PathBuf>,
    moved: Vec<(String, String)>,
}

fn prepare(launch: &Launch, dir: &Path) -> Prepared {
    let mut flags = parse_flags(&launch.args);
    let mut file = launch
        .daemon_json
        .clone()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let Value::Object(map) = &mut file else {
        panic!("daemon.json is not a JSON object: {file}");
    };
    let mut sandbox = Sandbox {
        dir,
        node_root: launch.node_root.as_deref(),
        sockets: Vec::new(),
        moved: Vec::new(),
    };

    // Listeners, flags first (as dockerd lists them).
    for flag in flags.iter_mut().filter(|flag| flag.name == "host") {
        let value = flag.value.as_deref().expect("-H has a value");
        flag.value = Some(sandbox.host(value));
    }
    if let Some(hosts) = map.get_mut("hosts") {
        match hosts {
            Value::String(host) => *host = sandbox.host(host),
            Value::Array(items) => {
                for item in items {
                    let host = item
                        .as_str()
                        .unwrap_or_else(|| panic!("daemon.json \"hosts\" item {item}"));
                    *item = Value::String(sandbox.host(host));
                }
            }
            other => panic!("daemon.json \"hosts\" is {other}"),
        }
    }
    let flag_hosts = flags.iter().any(|flag| flag.name == "host");
    if sandbox.sockets.is_empty() {
        let socket = sandbox.next_socket();
        match map.get_mut("hosts") {
            Some(Value::Array(items)) if !flag_hosts => items.push(Value::String(socket)),
            Some(Value::String(host)) if !flag_hosts => {
                let host = host.clone();
                map.insert("hosts".into(), serde_json::json!([host, socket]));
            }
            _ => flags.push(Flag {
                name: "host".into(),
                value: Some(socket),
            }),
        }
    }

    // containerd.
    let mut containerd = None;
    for flag in flags.iter_mut().filter(|flag| flag.name == "containerd") {
        let socket = dir.join("containerd").join("containerd.sock");
        flag.value = Some(socket.display().to_string());
        containerd = Some(socket);
    }
    if map.contains_key("containerd") {
        let socket = dir.join("containerd").join("containerd.sock");
        map.insert(
            "containerd".into(),
            Value::String(socket.display().to_string()),
        );
        containerd = Some(socket);
    }

    // The sandbox: paths replaced where the configuration sets them, else given as flags.
    flags.retain(|flag| flag.name != "config-file");
    let paths = [
        ("data-root", dir.join("data")),
        ("exec-root", dir.join("exec")),
        ("pidfile", dir.join("dockerd.pid")),
    ];
    for (name, path) in &paths {
        let path = path.display().to_string();
        let mut set = false;
        for flag in flags.iter_mut().filter(|flag| flag.name == *name) {
            flag.value = Some(path.clone());
            set = true;
        }
        for key in [*name, if *name == "data-root" { "graph" } else { "" }] {
            if let Some(value) = map.get_mut(key) {
                *value = Value::String(path.clone());
                set = true;
            }
        }
        if !set {
            flags.push(Flag {
                name: name.to_string(),
                value: Some(path),
            });
        }
    }
    for (name, value) in [
        ("storage-driver", "vfs"),
        ("iptables", "false"),
        ("bridge", "none"),
    ] {
        if !flags.iter().any(|flag| flag.name == name) && !map.contains_key(name) {
            flags.push(Flag {
                name: name.into(),
                value: Some(value.into()),
            });
        }
    }
    map.insert(
        "deprecated-key-path".into(),
        Value::String(dir.join("key.json").display().to_string()),
    );

    // Every other absolute path: under the node root.
    let sandboxed: BTreeSet<&str> = [
        "host",
        "hosts",
        "containerd",
        "data-root",
        "exec-root",
        "pidfile",
        "config-file",
    ]
    .into();
    for flag in flags.iter_mut() {
        if sandboxed.contains(flag.name.as_str()) {
            continue;
        }
        if let Some(value) = flag.value.as_mut().filter(|value| value.starts_with('/')) {
            *value = sandbox.path(&format!("flag --{}", flag.name), value);
        }
    }
    for (key, value) in map.iter_mut() {
        let key = key.as_str();
        if !(sandboxed.contains(key) || key == "graph" || key == "deprecated-key-path") {
            sandbox.json_paths(key, value);
        }
    }

    Prepared {
        args: render_flags(&flags),
        daemon_json: file,
        containerd,
        sockets: sandbox.sockets,
        moved: sandbox.moved,
    }
}

impl Dockerd {
    /// Start dockerd and wait until it answers `GET /_ping` on its unix socket (`Ok`) or exits
    /// (`Err`, with its stderr). Panics when it does neither within the bound.
    pub fn start(launch: Launch) -> Result<Dockerd, Exited> {
        let binary = dockerd_binary();
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = tempfile::Builder::new()
            .prefix("stigfix-dockerd-")
            .tempdir()
            .expect("temp dir for dockerd");
        let prepared = prepare(&launch, dir.path());
        let config = dir.path().join("daemon.json");
        let daemon_json =
            serde_json::to_string_pretty(&prepared.daemon_json).expect("render daemon.json");
        fs::write(&config, &daemon_json).expect("write daemon.json");
        let mut argv = vec![binary.display().to_string()];
        argv.push(format!("--config-file={}", config.display()));
        argv.extend(prepared.args.iter().cloned());

        let mut dockerd = Dockerd {
            child: None,
            containerd: None,
            argv,
            daemon_json,
            socket: prepared.sockets[0].clone(),
            moved: prepared.moved,
            dir: Some(dir),
            _turn: turn,
        };
        if let Some(socket) = &prepared.containerd {
            dockerd.containerd = Some(start_containerd(dockerd.dir(), socket));
        }
        let log = fs::File::create(dockerd.dir().join("dockerd.log")).expect("dockerd log");
        let child = Command::new(&binary)
            .args(&dockerd.argv[1..])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        dockerd.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let child = dockerd.child.as_mut().expect("child");
            if let Some(status) = child.try_wait().expect("wait for dockerd") {
                let exited = Exited {
                    status,
                    stderr: dockerd.stderr(),
                    argv: dockerd.argv.clone(),
                    daemon_json: dockerd.daemon_json.clone(),
                };
                dockerd.child = None;
                return Err(exited);
            }
            if let Ok((200, body)) = dockerd.try_get("/_ping")
                && body == "OK"
            {
                return Ok(dockerd);
            }
            if Instant::now() > deadline {
                panic!(
                    "dockerd neither answered /_ping nor exited within {READY_TIMEOUT:?}\n{}",
                    dockerd.describe()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Start dockerd and fail the test, showing its stderr, when it does not come up.
    #[track_caller]
    pub fn running(launch: Launch) -> Dockerd {
        match Dockerd::start(launch) {
            Ok(dockerd) => dockerd,
            Err(exited) => panic!(
                "dockerd refused the configuration ({})\n--- argv\n{}\n--- daemon.json\n{}\n--- stderr\n{}",
                exited.status,
                exited.argv.join(" "),
                exited.daemon_json,
                exited.stderr
            ),
        }
    }

    /// Start dockerd and fail the test when it comes up: it must exit; its end is returned.
    #[track_caller]
    pub fn refused(launch: Launch) -> Exited {
        match Dockerd::start(launch) {
            Ok(dockerd) => panic!(
                "dockerd started, but this configuration should stop it\n{}",
                dockerd.describe()
            ),
            Err(exited) => exited,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().expect("temp dir").path()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("dockerd runs").id()
    }

    /// TCP listeners of the configuration that were moved to a free loopback port:
    /// (as configured, as started).
    pub fn moved(&self) -> &[(String, String)] {
        &self.moved
    }

    /// Everything dockerd wrote to stdout and stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir().join("dockerd.log")).unwrap_or_default()
    }

    /// Command line, file and log, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "--- argv\n{}\n--- daemon.json\n{}\n--- stderr\n{}",
            self.argv.join(" "),
            self.daemon_json,
            self.stderr()
        )
    }

    /// The daemon's environment, from /proc.
    pub fn environment(&self) -> Vec<String> {
        let raw = fs::read(format!("/proc/{}/environ", self.pid())).expect("read environ");
        raw.split(|byte| *byte == 0)
            .filter(|item| !item.is_empty())
            .map(|item| String::from_utf8_lossy(item).into_owned())
            .collect()
    }

    /// Every TCP socket (IPv4 and IPv6) the dockerd process listens on: the LISTEN entries of
    /// `/proc/<pid>/net/tcp{,6}` whose inode is one of the process's open sockets.
    pub fn tcp_listeners(&self) -> Vec<SocketAddr> {
        let pid = self.pid();
        let mut inodes = BTreeSet::new();
        for entry in fs::read_dir(format!("/proc/{pid}/fd")).expect("list /proc/<pid>/fd") {
            let Ok(entry) = entry else { continue };
            let Ok(target) = fs::read_link(entry.path()) else {
                continue;
            };
            if let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_string());
            }
        }
        let mut listeners = Vec::new();
        for table in ["tcp", "tcp6"] {
            let text = fs::read_to_string(format!("/proc/{pid}/net/{table}"))
                .unwrap_or_else(|e| panic!("read /proc/{pid}/net/{table}: {e}"));
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
                if fields.len() < 10 || fields[3] != "0A" || !inodes.contains(fields[9]) {
                    continue;
                }
                listeners.push(parse_proc_address(fields[1]));
            }
        }
        listeners.sort();
        listeners
    }

    /// The unix socket the harness talks to the daemon on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path` on the daemon's unix socket: status and body.
    #[track_caller]
    pub fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("GET {path} on dockerd: {e}\n{}", self.describe()))
    }

    /// `GET /info`, as `docker info` asks.
    #[track_caller]
    pub fn info(&self) -> Value {
        let (status, body) = self.get("/info");
        assert_eq!(status, 200, "GET /info: {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET /info is not JSON ({e}): {body}"))
    }

    fn try_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        // HTTP/1.0: the daemon closes the connection after the answer, no chunking.
        write!(stream, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other(format!("no HTTP header end in {text:?}")))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
        Ok((status, body.to_string()))
    }

    /// Stop the daemon now; its log.
    pub fn stop(mut self) -> String {
        self.shutdown();
        let log = self.stderr();
        self.cleanup();
        log
    }

    fn shutdown(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
        // A dockerd that had to be killed leaves the containerd it started running.
        if let Some(dir) = &self.dir
            && let Ok(pid) = fs::read_to_string(dir.path().join("exec/containerd/containerd.pid"))
        {
            let pid = pid.trim();
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*dir.path().to_string_lossy()) {
                signal("KILL", pid);
            }
        }
        if let Some(child) = self.containerd.take() {
            terminate(child);
        }
    }

    fn cleanup(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        // dockerd bind-mounts its data root onto itself and, when it does not end cleanly,
        // leaves that mount behind; deepest first.
        let prefix = dir.path().to_string_lossy().into_owned();
        let mut mounts: Vec<String> = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_whitespace().nth(4).map(str::to_string))
            .filter(|mount| mount.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|mount| std::cmp::Reverse(mount.len()));
        for mount in mounts {
            let _ = Command::new("umount").arg("-l").arg(&mount).status();
        }
        drop(dir);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.shutdown();
        self.cleanup();
    }
}

fn signal(name: &str, pid: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM, a bounded wait, then SIGKILL.
fn terminate(mut child: Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    signal("TERM", &child.id().to_string());
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A containerd serving `socket`, everything of it in the temp folder (as containerd.service
/// serves `/run/containerd/containerd.sock` on a node).
fn start_containerd(dir: &Path, socket: &Path) -> Child {
    let binary = find_binary("containerd").unwrap_or_else(|| {
        panic!("containerd is not installed (docker.io depends on it): {INSTALL_HINT}")
    });
    let home = dir.join("containerd");
    fs::create_dir_all(&home).expect("containerd folder");
    let config = home.join("config.toml");
    fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{socket}\"\n[ttrpc]\n  address = \"{socket}.ttrpc\"\n[debug]\n  address = \"{debug}\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = home.join("root").display(),
            state = home.join("state").display(),
            socket = socket.display(),
            debug = home.join("debug.sock").display(),
            opt = home.join("opt").display(),
        ),
    )
    .expect("containerd config");
    let log = fs::File::create(home.join("containerd.log")).expect("containerd log");
    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("containerd log"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if UnixStream::connect(socket).is_ok() {
            return child;
        }
        let ended = child.try_wait().expect("wait for containerd");
        if ended.is_some() || Instant::now() > deadline {
            if ended.is_none() {
                terminate(child);
            }
            panic!(
                "containerd did not come up ({ended:?})\n{}",
                fs::read_to_string(home.join("containerd.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `0100007F:5CC6` (IPv4) or 32 hex digits and a port (IPv6), as /proc/net/tcp{,6} write them:
/// the address in 32-bit words of host byte order (x86 and arm64: little-endian).
fn parse_proc_address(text: &str) -> SocketAddr {
    let (address, port) = text.split_once(':').expect("address:port");
    let port = u16::from_str_radix(port, 16).expect("hex port");
    let words: Vec<u32> = (0..address.len() / 8)
        .map(|i| u32::from_str_radix(&address[i * 8..i * 8 + 8], 16).expect("hex address"))
        .collect();
    let ip = match words.as_slice() {
        [word] => IpAddr::V4(Ipv4Addr::from(word.to_le_bytes())),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, word) in [a, b, c, d].into_iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => panic!("unexpected address `{text}` in /proc/net/tcp"),
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn flags_in_every_spelling_are_read_as_pflag_reads_them() {
        let flags = parse_flags(&strings(&[
            "-H",
            "fd://",
            "-Hunix:///a.sock",
            "-H=tcp://1.2.3.4:2375",
            "--host",
            "tcp://127.0.0.1:1",
            "--host=unix://",
            "--tlsverify",
            "--iptables=false",
            "-D",
            "--graph",
            "/var/lib/docker",
            "--containerd=/run/containerd/containerd.sock",
        ]));
        let pairs: Vec<(&str, Option<&str>)> = flags
            .iter()
            .map(|flag| (flag.name.as_str(), flag.value.as_deref()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("host", Some("fd://")),
                ("host", Some("unix:///a.sock")),
                ("host", Some("tcp://1.2.3.4:2375")),
                ("host", Some("tcp://127.0.0.1:1")),
                ("host", Some("unix://")),
                ("tlsverify", None),
                ("iptables", Some("false")),
                ("debug", None),
                ("data-root", Some("/var/lib/docker")),
                ("containerd", Some("/run/containerd/containerd.sock")),
            ]
        );
    }

    #[test]
    fn the_sandbox_moves_listeners_and_paths_and_never_repeats_a_setting_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc/docker/tls")).unwrap();
        fs::write(root.path().join("etc/docker/tls/ca.pem"), "x").unwrap();
        let launch = Launch {
            args: strings(&[
                "-H",
                "fd://",
                "-H",
                "tcp://0.0.0.0:2375",
                "--containerd=/run/containerd/containerd.sock",
                "--config-file",
                "/etc/docker/daemon.json",
            ]),
            daemon_json: Some(serde_json::json!({
                "tlscacert": "/etc/docker/tls/ca.pem",
                "data-root": "/var/lib/docker",
                "iptables": true,
            })),
            env: Vec::new(),
            node_root: Some(root.path().to_path_buf()),
        };
        let prepared = prepare(&launch, dir.path());
        let d = dir.path().display();
        let moved = &prepared.moved[0];
        assert_eq!(moved.0, "tcp://0.0.0.0:2375");
        assert_eq!(
            prepared.args,
            [
                format!("--host=unix://{d}/docker.sock"),
                format!("--host={}", moved.1),
                format!("--containerd={d}/containerd/containerd.sock"),
                format!("--exec-root={d}/exec"),
                format!("--pidfile={d}/dockerd.pid"),
                "--storage-driver=vfs".to_string(),
                "--bridge=none".to_string(),
            ]
        );
        assert_eq!(
            prepared.daemon_json,
            serde_json::json!({
                "tlscacert": format!("{}/etc/docker/tls/ca.pem", root.path().display()),
                "data-root": format!("{d}/data"),
                "iptables": true,
                "deprecated-key-path": format!("{d}/key.json"),
            })
        );
        assert_eq!(
            prepared.containerd,
            Some(dir.path().join("containerd/containerd.sock"))
        );

        // Listeners only in the file, TCP only: the local socket joins them there.
        let prepared = prepare(
            &Launch::default().daemon_json(serde_json::json!({"hosts": ["tcp://127.0.0.1:9"]})),
            dir.path(),
        );
        assert_eq!(
            prepared.daemon_json["hosts"],
            serde_json::json!(["tcp://127.0.0.1:9", format!("unix://{d}/docker.sock")])
        );
        assert!(!prepared.args.iter().any(|arg| arg.starts_with("--host")));
    }

    #[test]
    #[should_panic(expected = "is not under the node root")]
    fn a_path_that_is_not_on_the_node_is_never_taken_from_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let launch = Launch {
            args: strings(&["--tlscert=/etc/docker/tls/cert.pem"]),
            node_root: Some(root.path().to_path_buf()),
            ..Launch::default()
        };
        prepare(&launch, dir.path());
    }

    #[test]
    fn proc_net_tcp_addresses_are_decoded() {
        assert_eq!(
            parse_proc_address("0100007F:5CC6"),
            "127.0.0.1:23750".parse().unwrap()
        );
        assert_eq!(
            parse_proc_address("00000000:0947"),
            "0.0.0.0:2375".parse().unwrap()
        );
        assert_eq!(
            parse_proc_address("00000000000000000000000001000000:0948"),
            "[::1]:2376".parse().unwrap()
        );
        assert_eq!(
            parse_proc_address("0000000000000000FFFF00000100007F:0050"),
            "[::ffff:127.0.0.1]:80".parse().unwrap()
        );
    }
}
