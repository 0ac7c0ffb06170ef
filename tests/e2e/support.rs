//! The harness: a simulated UCP/MKE cluster in the test process, and the real `stigfix` binary
//! run as a child process against it with a clean environment in a private temp folder.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stigfix::demo::{DEMO_SITE, NONCOMPLIANT_CONFIG};
use stigfix::sim::{
    DtrOptions, RequestRecord, SimEngine, SimOptions, SimUser, Simulator, UcpRelease,
};
use tempfile::TempDir;

/// The password of the simulator's `admin` account. Distinctive, so a leak is easy to spot.
pub const PASSWORD: &str = "e2e-Sim-Pa55word-93c1f7";
/// The secret in [`NONCOMPLIANT_CONFIG`] that must never be shown.
pub const PASSPHRASE: &str = "correct-horse-battery-staple";
/// The config-toml API path.
pub const CONFIG_PATH: &str = "/api/ucp/config-toml";
/// No single invocation of the binary should take longer than this.
const RUN_TIMEOUT: Duration = Duration::from_secs(45);
/// The clock every run sees (`STIGFIX_TEST_NOW`), so dates in the output are the same each run.
pub const TEST_NOW: &str = "2026-11-22T10:00:00Z";

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Both streams, for "never appears anywhere" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, showing both streams when it is wrong.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The first line of stderr starting with `error:`.
    #[track_caller]
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|line| line.starts_with("error:"))
            .unwrap_or_else(|| panic!("no `error:` line on stderr:\n{}", self.stderr))
    }
}

/// How to start a [`TestEnv`].
pub struct EnvOptions {
    pub tls: bool,
    pub config: &'static str,
    /// Write `sim.ca_pem()` to a file and point `STIGFIX_CA_CERT` at it.
    pub trust_ca: bool,
    /// Point `STIGFIX_UCP_URL` at the simulator.
    pub ucp: bool,
    /// Simulate a DTR too (same URL) and point `STIGFIX_DTR_URL` at it.
    pub dtr: Option<DtrOptions>,
    /// The UCP/MKE release the simulator is (its configuration schema and version).
    pub ucp_release: UcpRelease,
    /// Where the private folder is made (default: the system's temp folder).
    pub temp_in: Option<PathBuf>,
    /// The cluster's containers (the workload target's Engine API): by default UCP's own only.
    pub engine: SimEngine,
}

impl Default for EnvOptions {
    fn default() -> Self {
        EnvOptions {
            tls: true,
            config: NONCOMPLIANT_CONFIG,
            trust_ca: true,
            ucp: true,
            dtr: None,
            temp_in: None,
            ucp_release: UcpRelease::default(),
            engine: SimEngine::default(),
        }
    }
}

/// One simulated cluster plus a private folder (HOME, XDG dirs, snapshots, site file).
pub struct TestEnv {
    pub sim: Simulator,
    pub dir: TempDir,
    /// The simulator's rendering of its config at start.
    pub original: String,
    pub ca_path: Option<PathBuf>,
    env: Vec<(String, OsString)>,
}

impl TestEnv {
    /// HTTPS with a CA made by the simulator, trusted through `STIGFIX_CA_CERT`.
    pub fn https() -> TestEnv {
        TestEnv::start(EnvOptions::default())
    }

    /// Plain HTTP.
    pub fn http() -> TestEnv {
        TestEnv::start(EnvOptions {
            tls: false,
            ..EnvOptions::default()
        })
    }

    pub fn start(options: EnvOptions) -> TestEnv {
        let sim = Simulator::start(SimOptions {
            tls: options.tls,
            users: vec![SimUser {
                name: "admin".into(),
                password: PASSWORD.into(),
                admin: true,
            }],
            ucp_config: Some(options.config.into()),
            ucp_release: options.ucp_release,
            token_ttl: Duration::from_secs(3600),
            dtr: options.dtr.clone().unwrap_or_default(),
            engine: options.engine.clone(),
        })
        .expect("start the simulator");
        let mut builder = tempfile::Builder::new();
        builder.prefix("stigfix-e2e-");
        let dir = match &options.temp_in {
            Some(parent) => {
                std::fs::create_dir_all(parent).expect("create the temp folder's parent");
                builder.tempdir_in(parent)
            }
            None => builder.tempdir(),
        }
        .expect("temp dir");
        let root = dir.path();
        for sub in ["home", "config", "state"] {
            std::fs::create_dir_all(root.join(sub)).expect("create dir");
        }
        let site = root.join("stigfix.toml");
        std::fs::write(&site, DEMO_SITE).expect("write site file");
        let mut env: Vec<(String, OsString)> = vec![
            (
                "PATH".into(),
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            ),
            ("HOME".into(), root.join("home").into()),
            ("XDG_CONFIG_HOME".into(), root.join("config").into()),
            ("XDG_STATE_HOME".into(), root.join("state").into()),
            ("STIGFIX_SNAPSHOT_DIR".into(), root.join("snapshots").into()),
            ("STIGFIX_LOCK_DIR".into(), root.join("locks").into()),
            ("STIGFIX_USERNAME".into(), "admin".into()),
            ("STIGFIX_PASSWORD".into(), PASSWORD.into()),
            ("STIGFIX_CONFIG".into(), site.into()),
            ("NO_COLOR".into(), "1".into()),
            ("STIGFIX_TEST_NOW".into(), TEST_NOW.into()),
        ];
        if options.ucp {
            env.push(("STIGFIX_UCP_URL".into(), sim.url().into()));
        }
        if options.dtr.is_some() {
            env.push(("STIGFIX_DTR_URL".into(), sim.url().into()));
        }
        let mut ca_path = None;
        if let Some(pem) = sim.ca_pem() {
            let path = root.join("ca.pem");
            std::fs::write(&path, pem).expect("write CA");
            if options.trust_ca {
                env.push(("STIGFIX_CA_CERT".into(), path.clone().into()));
            }
            ca_path = Some(path);
        }
        let original = sim.ucp().config_toml();
        TestEnv {
            sim,
            dir,
            original,
            ca_path,
            env,
        }
    }

    pub fn url(&self) -> String {
        self.sim.url()
    }

    /// A path inside the test's private folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A plan now proposes no change (findings that `apply` cannot fix, such as a setting the
    /// simulated release does not have, may remain: `--detailed-exitcode` would still say 2).
    #[track_caller]
    pub fn assert_no_changes(&self) {
        let out = self.run(&["plan", "--format", "json"]);
        out.assert_code(0);
        let plan = json(&out.stdout);
        assert_eq!(plan["summary"]["changes"], 0, "{}", out.stdout);
        assert_eq!(plan["summary"]["fix"], 0, "{}", out.stdout);
    }

    pub fn snapshot_dir(&self) -> PathBuf {
        self.path("snapshots")
    }

    /// Set (or replace) an environment variable of every later run.
    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// Remove an environment variable from every later run.
    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// The binary with the clean environment, working in the temp folder, stdin null.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stigfix"));
        command.args(args);
        self.prepare(command)
    }

    /// The binary run inside `keyring`'s kernel session keyring, so that `login` in one run
    /// and `plan` in the next share it the way two commands of one login shell do.
    pub fn command_in_keyring(&self, keyring: &KeyringSession, args: &[&str]) -> Command {
        let mut command = Command::new("python3");
        command
            .arg("-c")
            .arg(join_keyring_script("os.execv(sys.argv[2], sys.argv[2:])"))
            .arg(&keyring.name)
            .arg(env!("CARGO_BIN_EXE_stigfix"))
            .args(args);
        self.prepare(command)
    }

    fn prepare(&self, mut command: Command) -> Command {
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Run the binary to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        finish(self.command(args).spawn().expect("spawn stigfix"))
    }

    /// Run the binary with `input` on standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        feed(self.command(args), input)
    }

    /// Run a prepared command (e.g. [`TestEnv::command_in_keyring`]) to completion.
    pub fn run_command(&self, mut command: Command, input: Option<&str>) -> Output {
        match input {
            Some(input) => feed(command, input),
            None => finish(command.spawn().expect("spawn stigfix")),
        }
    }

    /// Start the binary without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("spawn stigfix")
    }

    /// The simulator's current config rendering.
    pub fn config(&self) -> String {
        self.sim.ucp().config_toml()
    }

    /// Asserts that the cluster's config is exactly what it was at start.
    #[track_caller]
    pub fn assert_unchanged(&self) {
        assert_eq!(self.config(), self.original, "the cluster's config changed");
    }

    pub fn count(&self, method: &str, path: &str) -> usize {
        count(&self.sim.requests(), method, path)
    }

    /// Every regular file under the snapshot folder (excluding lock files).
    pub fn snapshot_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        walk(&self.snapshot_dir(), &mut files);
        files.retain(|f| !f.components().any(|c| c.as_os_str() == ".locks"));
        files.sort();
        files
    }

    /// Snapshot folders (those holding a manifest.json), oldest id first.
    pub fn snapshot_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = match std::fs::read_dir(self.snapshot_dir()) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("manifest.json").is_file())
                .collect(),
            Err(_) => Vec::new(),
        };
        dirs.sort();
        dirs
    }
}

fn feed(mut command: Command, input: &str) -> Output {
    command.stdin(Stdio::piped());
    let mut child = command.spawn().expect("spawn stigfix");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    finish(child)
}

/// Python that joins the session keyring named `sys.argv[1]` (creating it if nobody holds it),
/// then runs `then`. The test process may have no session keyring of its own (containers, CI)
/// and `unsafe_code` is forbidden here, so python3 makes the `keyctl(2)` call.
fn join_keyring_script(then: &str) -> String {
    [
        "import ctypes, os, sys",
        "libc = ctypes.CDLL(None, use_errno=True)",
        "# keyctl(2) is syscall 250 on x86_64, 219 on aarch64; KEYCTL_JOIN_SESSION_KEYRING = 1",
        "nr = {'x86_64': 250, 'aarch64': 219}[os.uname().machine]",
        "if libc.syscall(nr, ctypes.c_long(1), ctypes.c_char_p(sys.argv[1].encode())) < 0:",
        "    sys.exit('cannot join session keyring: errno %d' % ctypes.get_errno())",
        then,
    ]
    .join("\n")
}

/// A named kernel session keyring kept alive for a test by a helper process that holds it
/// until the session is dropped (a session keyring is destroyed with its last member, and a
/// key stored by `stigfix login` must outlive that process).
pub struct KeyringSession {
    pub name: String,
    holder: Child,
}

impl KeyringSession {
    pub fn new(name: &str) -> KeyringSession {
        let mut holder = Command::new("python3")
            .arg("-c")
            .arg(join_keyring_script(
                "print('joined', flush=True)\nsys.stdin.read()",
            ))
            .arg(name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed to give the keyring test a session keyring");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.as_mut().expect("stdout")),
            &mut line,
        )
        .expect("read from the keyring helper");
        assert_eq!(line.trim(), "joined", "the keyring helper failed");
        KeyringSession {
            name: name.to_string(),
            holder,
        }
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        // Closing its stdin ends the helper.
        drop(self.holder.stdin.take());
        let _ = self.holder.wait();
    }
}

pub fn count(journal: &[RequestRecord], method: &str, path: &str) -> usize {
    journal
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The first statement of every `root_*` test: such a test is ignored by default and run with
/// `cargo test -- --ignored root_`, and must fail rather than pass without checking anything
/// when that run is not root.
#[track_caller]
pub fn assert_root() {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    // `Uid:` real, effective, saved, filesystem.
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .expect("a Uid: line in /proc/self/status");
    assert_eq!(euid, "0", "this test needs root");
}

/// Send the child SIGINT, as Ctrl-C on its terminal would.
pub fn ctrl_c(child: &Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT failed");
}

/// Wait for a child with a deadline (a hung child is killed and the test fails).
pub fn finish(mut child: Child) -> Output {
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for stigfix") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stigfix did not finish within {RUN_TIMEOUT:?}\n--- stderr\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// Parse a TOML document into a table.
pub fn toml_table(text: &str) -> toml::Table {
    text.parse().expect("valid TOML")
}

/// Every leaf path (`a.b.c`) of a TOML table with its value.
pub fn leaves(table: &toml::Table) -> Vec<(String, toml::Value)> {
    fn go(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => go(&path, inner, out),
                other => out.push((path, other.clone())),
            }
        }
    }
    let mut out = Vec::new();
    go("", table, &mut out);
    out
}

/// Parse text as JSON. A stigfix plan (it has `rules_digest`) must also validate against the
/// shipped schema, `docs/plan.schema.json`.
#[track_caller]
pub fn json(text: &str) -> serde_json::Value {
    let value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    if value.get("rules_digest").is_some() {
        assert_valid_plan(&value);
    }
    value
}

/// Validate a plan against `docs/plan.schema.json`.
#[track_caller]
pub fn assert_valid_plan(plan: &serde_json::Value) {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/plan.schema.json"
        ))
        .expect("docs/plan.schema.json");
        let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
    });
    let problems: Vec<String> = validator
        .iter_errors(plan)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "the plan does not validate against docs/plan.schema.json:\n{}",
        problems.join("\n")
    );
}

/// Asserts that `needle` is nowhere in `haystack`.
#[track_caller]
pub fn assert_absent(haystack: &str, needle: &str, what: &str) {
    assert!(
        !haystack.contains(needle),
        "{what} contains `{needle}`:\n{haystack}"
    );
}

/// Poll `condition` every millisecond while `child` runs; true once it holds, false if the child
/// ended (or 30 s passed) first. Used with `Simulator::set_latency` to arm a fault between two
/// requests of one run: a PUT changes the config as soon as it is routed, and the latency keeps
/// the client waiting for the answer long enough for the test to react.
pub fn wait_for(child: &mut Child, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        if child.try_wait().expect("poll stigfix").is_some() {
            return condition();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Send the child SIGTERM, as `systemctl stop` or `kill` would.
pub fn sigterm(child: &Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM failed");
}

/// The manifest of a snapshot folder, parsed.
#[track_caller]
pub fn manifest(dir: &Path) -> serde_json::Value {
    let path = dir.join("manifest.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    json(&text)
}

/// The id of a snapshot folder (its name).
pub fn snapshot_id(dir: &Path) -> String {
    dir.file_name()
        .and_then(|name| name.to_str())
        .expect("a snapshot folder name")
        .to_string()
}

/// The `state` of every target of a snapshot, in manifest order, as `kind state`.
#[track_caller]
pub fn target_states(dir: &Path) -> Vec<String> {
    manifest(dir)["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|target| {
            format!(
                "{} {}",
                target["kind"].as_str().unwrap_or("?"),
                target["state"].as_str().unwrap_or("?")
            )
        })
        .collect()
}
