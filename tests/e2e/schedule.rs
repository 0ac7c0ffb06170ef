//! Drift correction as a service (issue 12): the systemd units `stigfix schedule` writes pass
//! `systemd-analyze verify`, the check unit's command runs as the unit would run it, and the
//! run log and the node_exporter metrics it writes parse.
//!
//! The metrics are checked by [`parse_exposition`], a strict reader of the Prometheus text
//! exposition format written here (no Python package is installed by the tests).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::fleet::Fleet;
use crate::support::{Output, TestEnv, finish};
use crate::units::systemd_analyze;

/// `stigfix schedule install` into `<root>/etc/systemd/system`, with `exec` (an absolute path)
/// as the binary the units run.
fn install(fleet: &Fleet, root: &Path, exec: &Path, extra: &[&str]) -> Output {
    let dir = root.join("etc/systemd/system");
    fs::create_dir_all(&dir).unwrap();
    let mut args = vec![
        "schedule",
        "install",
        "--dir",
        dir.to_str().unwrap(),
        "--exec",
        exec.to_str().unwrap(),
    ];
    args.extend(extra);
    fleet.run(&args)
}

/// `systemd-analyze verify --root=<root>` of the named units. A stub executable stands at the
/// units' `ExecStart=` path under the root (verify checks that it exists and is executable).
fn verify(root: &Path, exec: &Path, units: &[&str]) -> (bool, String) {
    let stub = root.join(exec.strip_prefix("/").unwrap());
    fs::create_dir_all(stub.parent().unwrap()).unwrap();
    fs::write(&stub, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(systemd_analyze())
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(["--recursive-errors=no", "--man=no", "--generators=no"])
        .args(units)
        .env("SYSTEMD_LOG_COLOR", "0")
        .env("SYSTEMD_PAGER", "")
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `key=value` lines of a unit file (comments dropped), in order.
fn directives(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn values<'a>(directives: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    directives
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The words of an `ExecStart=` as systemd splits them (this writer quotes nothing the tests
/// use; `$$` is a literal `$`).
fn exec_words(line: &str) -> Vec<String> {
    line.split_whitespace()
        .map(|word| word.replace("$$", "$").replace("%%", "%"))
        .collect()
}

/// The units in `examples/systemd/` are what `schedule print` writes for
/// `examples/inventory.toml` installed as `/etc/stigfix/stigfix.toml` (`STIGFIX_BLESS=1`
/// rewrites them).
#[test]
fn the_example_units_are_what_schedule_prints() {
    let env = TestEnv::https();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let inventory = examples.join("inventory.toml");
    for mode in ["check", "apply"] {
        let mut command = env.command(&[
            "schedule",
            "print",
            "--mode",
            mode,
            "--exec",
            "/usr/local/bin/stigfix",
            "--systemd-version",
            "252",
            "--config",
            inventory.to_str().unwrap(),
        ]);
        command
            .env_remove("STIGFIX_UCP_URL")
            .env_remove("STIGFIX_SNAPSHOT_DIR")
            .env_remove("STIGFIX_USERNAME")
            .env_remove("STIGFIX_CA_CERT");
        let out = finish(command.spawn().unwrap());
        out.assert_code(0);
        let text = out
            .stdout
            .replace(inventory.to_str().unwrap(), "/etc/stigfix/stigfix.toml");
        let (service, timer) = text
            .split_once("\n# /etc/systemd/system/")
            .expect("a service and a timer");
        let timer = format!("# /etc/systemd/system/{timer}");
        for (name, text) in [("service", service.to_string()), ("timer", timer)] {
            let path = examples.join(format!("systemd/stigfix-{mode}.{name}"));
            if std::env::var_os("STIGFIX_BLESS").is_some() {
                fs::write(&path, &text).unwrap();
            }
            let shipped = fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(
                shipped,
                text,
                "{} is not what `stigfix schedule print --mode {mode}` writes; run STIGFIX_BLESS=1 cargo test --test e2e schedule:: and read the diff",
                path.display()
            );
        }
    }
}

#[test]
fn the_check_and_apply_units_pass_systemd_analyze_verify() {
    let fleet = Fleet::start();
    let root = fleet.env.path("root");
    let exec = PathBuf::from("/usr/local/bin/stigfix");
    install(&fleet, &root, &exec, &["--mode", "check"]).assert_code(0);
    install(
        &fleet,
        &root,
        &exec,
        &["--mode", "apply", "--max-changes", "40"],
    )
    .assert_code(0);
    let (ok, text) = verify(
        &root,
        &exec,
        &[
            "stigfix-check.service",
            "stigfix-check.timer",
            "stigfix-apply.service",
            "stigfix-apply.timer",
        ],
    );
    assert!(ok, "systemd-analyze verify failed:\n{text}");
    assert!(
        text.trim().is_empty(),
        "systemd-analyze verify warned:\n{text}"
    );

    let unit = |name: &str| fs::read_to_string(root.join("etc/systemd/system").join(name)).unwrap();
    let check = directives(&unit("stigfix-check.service"));
    let exec_start = exec_words(values(&check, "ExecStart")[0]);
    assert_eq!(
        exec_start[..3],
        ["/usr/local/bin/stigfix", "plan", "--detailed-exitcode"]
    );
    assert_eq!(values(&check, "SuccessExitStatus"), ["2"]);
    assert_eq!(values(&check, "Type"), ["oneshot"]);
    assert_eq!(values(&check, "ProtectSystem"), ["strict"]);
    assert_eq!(values(&check, "PrivateTmp"), ["yes"]);
    assert_eq!(values(&check, "NoNewPrivileges"), ["yes"]);
    assert_eq!(values(&check, "StateDirectory"), ["stigfix"]);
    assert_eq!(
        values(&check, "CapabilityBoundingSet"),
        ["CAP_DAC_READ_SEARCH"]
    );
    // west's password is a systemd credential; east's comes from its variable.
    assert_eq!(
        values(&check, "LoadCredential"),
        ["west:/etc/stigfix/credentials/west"]
    );
    assert_eq!(
        values(&check, "EnvironmentFile"),
        ["-/etc/stigfix/environment"]
    );
    let timer = directives(&unit("stigfix-check.timer"));
    assert_eq!(values(&timer, "OnCalendar"), ["*-*-* 02:00:00"]);
    assert_eq!(values(&timer, "RandomizedDelaySec"), ["45min"]);
    assert_eq!(values(&timer, "AccuracySec"), ["1us"]);
    assert_eq!(values(&timer, "Persistent"), ["true"]);
    assert_eq!(values(&timer, "WantedBy"), ["timers.target"]);

    let apply = directives(&unit("stigfix-apply.service"));
    let words = exec_words(values(&apply, "ExecStart")[0]);
    assert_eq!(words[1..3], ["apply", "--yes"]);
    let after = |flag: &str| -> String {
        let index = words
            .iter()
            .position(|word| word == flag)
            .unwrap_or_else(|| panic!("no {flag} in {words:?}"));
        words[index + 1].clone()
    };
    assert_eq!(after("--lock-wait"), "900");
    assert_eq!(after("--max-changes"), "40");
    assert!(values(&apply, "SuccessExitStatus").is_empty());
    // No host root in this site file: no write access to the engine's configuration.
    assert!(!unit("stigfix-apply.service").contains("/etc/docker"));
}

#[test]
fn units_for_systemd_older_than_247_read_the_password_files_in_place() {
    let fleet = Fleet::start();
    let root = fleet.env.path("root");
    let exec = PathBuf::from("/usr/local/bin/stigfix");
    install(&fleet, &root, &exec, &["--systemd-version", "239"]).assert_code(0);
    let (ok, text) = verify(
        &root,
        &exec,
        &["stigfix-check.service", "stigfix-check.timer"],
    );
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
    let unit = fs::read_to_string(root.join("etc/systemd/system/stigfix-check.service")).unwrap();
    let check = directives(&unit);
    assert!(values(&check, "LoadCredential").is_empty(), "{unit}");
    assert_eq!(
        values(&check, "Environment"),
        ["CREDENTIALS_DIRECTORY=/etc/stigfix/credentials"]
    );
    // Directives systemd 239 does not know are left out.
    assert!(
        values(&check, "ProtectClock").is_empty() && values(&check, "ProtectKernelLogs").is_empty()
    );
}

#[test]
fn a_host_apply_unit_may_write_the_engine_configuration() {
    let env = TestEnv::https();
    let site = env.path("host.toml");
    fs::write(&site, "host_root = \"/\"\n").unwrap();
    let root = env.path("root");
    let dir = root.join("etc/systemd/system");
    fs::create_dir_all(&dir).unwrap();
    let exec = PathBuf::from("/usr/local/bin/stigfix");
    let mut command = env.command(&[
        "schedule",
        "install",
        "--mode",
        "apply",
        "--dir",
        dir.to_str().unwrap(),
        "--exec",
        "/usr/local/bin/stigfix",
        "--config",
        site.to_str().unwrap(),
    ]);
    command.env_remove("STIGFIX_UCP_URL");
    finish(command.spawn().unwrap()).assert_code(0);
    let (ok, text) = verify(&root, &exec, &["stigfix-apply.service"]);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
    let unit = fs::read_to_string(dir.join("stigfix-apply.service")).unwrap();
    let apply = directives(&unit);
    let writable = values(&apply, "ReadWritePaths").join(" ");
    for path in [
        "/etc/docker",
        "/etc/systemd/system",
        "/etc/default",
        "/etc/sysconfig",
    ] {
        assert!(writable.contains(&format!("-{path}")), "{writable}");
    }
    assert_eq!(
        values(&apply, "CapabilityBoundingSet"),
        ["CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH"]
    );
    assert_eq!(values(&apply, "ProtectSystem"), ["strict"]);

    // Flags are not carried into a unit; a bad time is refused.
    let out = env.run(&["schedule", "print"]);
    out.assert_code(64);
    assert!(
        out.error_line().contains("is not carried into the unit"),
        "{}",
        out.stderr
    );
    let mut command = env.command(&[
        "schedule",
        "print",
        "--on-calendar",
        "every tuesday-ish",
        "--config",
        site.to_str().unwrap(),
    ]);
    command.env_remove("STIGFIX_UCP_URL");
    let out = finish(command.spawn().unwrap());
    out.assert_code(64);
    assert!(
        out.error_line().contains("--on-calendar every tuesday-ish"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_scheduled_check_runs_as_its_unit_says_and_writes_a_log_and_metrics_that_parse() {
    let fleet = Fleet::start();
    let log = fleet.env.path("runs.jsonl");
    let metrics_dir = fleet.env.path("textfile");
    fs::create_dir_all(&metrics_dir).unwrap();
    let metrics = metrics_dir.join("stigfix-check.prom");
    let out = fleet.run(&[
        "schedule",
        "print",
        "--exec",
        env!("CARGO_BIN_EXE_stigfix"),
        "--log",
        log.to_str().unwrap(),
        "--metrics",
        metrics.to_str().unwrap(),
    ]);
    out.assert_code(0);
    let service = out.stdout.split("\n# /etc/systemd/system/").next().unwrap();
    let words = exec_words(values(&directives(service), "ExecStart")[0]);
    // As systemd runs it: no terminal, the credentials folder set, the environment file's
    // variable for east.
    let run = || {
        let mut command = Command::new(&words[0]);
        command
            .args(&words[1..])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", fleet.env.path("home"))
            .env("STIGFIX_LOCK_DIR", fleet.env.path("locks"))
            .env("STIGFIX_TEST_NOW", crate::support::TEST_NOW)
            .env("CREDENTIALS_DIRECTORY", &fleet.credentials)
            .env("EAST_PASSWORD", crate::fleet::EAST_PASSWORD)
            .env("NORTH_PASSWORD", "north-unused")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        finish(command.spawn().expect("run the unit's command"))
    };
    // north is down.
    run().assert_code(1);
    let lines: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert_eq!(lines.len(), 3);
    let by_cluster: BTreeMap<&str, &Value> = lines
        .iter()
        .map(|line| (line["cluster"].as_str().unwrap(), line))
        .collect();
    assert_eq!(
        by_cluster.keys().copied().collect::<Vec<_>>(),
        ["east", "north", "west"]
    );
    let east = by_cluster["east"];
    assert_eq!(east["command"], "plan");
    assert_eq!(east["exit_code"], 2);
    assert_eq!(east["time"], crate::support::TEST_NOW);
    assert_eq!(east["targets"][0]["kind"], "ucp");
    assert_eq!(east["targets"][0]["product"], "MKE");
    assert!(east["targets"][0]["version"].is_string(), "{east}");
    assert_eq!(east["targets"][1]["kind"], "dtr");
    assert!(east["changes_planned"].as_u64().unwrap() > 0);
    assert_eq!(east["changes_applied"], 0);
    for cat in ["I", "II", "III"] {
        for status in ["fix", "open", "unknown"] {
            assert!(east["findings"][cat][status].is_u64(), "{east}");
        }
    }
    assert!(east["duration_seconds"].is_f64() || east["duration_seconds"].is_u64());
    let north = by_cluster["north"];
    assert_eq!(north["exit_code"], 1);
    assert!(
        north["error"].as_str().unwrap().contains(&fleet.north),
        "{north}"
    );
    assert_eq!(north["targets"][0]["endpoint"], fleet.north.as_str());

    let text = fs::read_to_string(&metrics).unwrap();
    let samples = parse_exposition(&text);
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, value)| *value)
    };
    let now = time::OffsetDateTime::parse(
        crate::support::TEST_NOW,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp() as f64;
    for (cluster, code) in [("east", 2.0), ("west", 2.0), ("north", 1.0)] {
        let run = [("cluster", cluster), ("command", "plan")];
        assert_eq!(
            value("stigfix_last_run_exit_code", &run),
            Some(code),
            "{text}"
        );
        assert_eq!(value("stigfix_last_run_timestamp_seconds", &run), Some(now));
        assert!(value("stigfix_last_run_duration_seconds", &run).is_some());
    }
    assert_eq!(
        value(
            "stigfix_last_success_timestamp_seconds",
            &[("cluster", "north")]
        ),
        None
    );
    assert_eq!(
        value(
            "stigfix_last_success_timestamp_seconds",
            &[("cluster", "east")]
        ),
        Some(now)
    );
    assert!(value("stigfix_last_run_changes", &[("cluster", "east")]).unwrap() > 0.0);
    assert!(
        value(
            "stigfix_target_info",
            &[("cluster", "west"), ("product", "MKE")]
        )
        .is_some(),
        "{text}"
    );
    let cats: BTreeSet<&str> = samples
        .iter()
        .filter(|(name, _, _)| name == "stigfix_rules")
        .map(|(_, labels, _)| labels["cat"].as_str())
        .collect();
    assert_eq!(cats, BTreeSet::from(["I", "II", "III"]));
    let findings: f64 = samples
        .iter()
        .filter(|(name, labels, _)| {
            name == "stigfix_rules" && labels["cluster"] == "east" && labels["status"] == "fix"
        })
        .map(|(_, _, value)| value)
        .sum();
    assert!(findings > 0.0, "{text}");
    let mode = fs::metadata(&metrics).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o644
    );

    // A second run appends its lines; the metrics are replaced, not appended.
    run().assert_code(1);
    assert_eq!(fs::read_to_string(&log).unwrap().lines().count(), 6);
    let again = parse_exposition(&fs::read_to_string(&metrics).unwrap());
    assert_eq!(again.len(), samples.len());
}

/// A strict reader of the Prometheus text exposition format as node_exporter's textfile
/// collector takes it: `# HELP` and `# TYPE` at most once per metric and before its samples,
/// a metric's samples together, names and label names of the allowed characters, label values
/// with only `\\`, `\"` and `\n` escapes, a float value, **no timestamp**, no series twice,
/// every line ending in a newline.
fn parse_exposition(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    assert!(text.ends_with('\n'), "the last line lacks its newline");
    let metric_name = |name: &str| {
        !name.is_empty()
            && name.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let label_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()))
    };
    let mut samples = Vec::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series: BTreeSet<String> = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name) = (parts.next().unwrap(), parts.next().unwrap_or_default());
            assert!(metric_name(name), "bad metric name in `{line}`");
            assert!(
                !finished.contains(name) && current.as_deref() != Some(name),
                "`{line}` after samples of {name}"
            );
            match keyword {
                "HELP" => assert!(helped.insert(name.to_string()), "second HELP: {line}"),
                "TYPE" => {
                    let kind = parts.next().unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "bad type: {line}"
                    );
                    assert!(
                        typed.insert(name.to_string(), kind.into()).is_none(),
                        "second TYPE: {line}"
                    );
                }
                _ => {}
            }
            continue;
        }
        assert!(!line.trim().is_empty(), "an empty line");
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(metric_name(name), "bad metric name: {line}");
        if current.as_deref() != Some(name) {
            if let Some(previous) = current.take() {
                finished.insert(previous);
            }
            assert!(
                !finished.contains(name),
                "samples of {name} are not together: {line}"
            );
            current = Some(name.to_string());
        }
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices();
            loop {
                let mut key = String::new();
                let (index, c) = loop {
                    let (index, c) = chars
                        .next()
                        .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                    if c == '=' || c == '}' {
                        break (index, c);
                    }
                    key.push(c);
                };
                if c == '}' {
                    assert!(key.is_empty(), "label without value: {line}");
                    rest = &inner[index + 1..];
                    break;
                }
                assert!(label_name(&key), "bad label name `{key}`: {line}");
                assert_eq!(
                    chars.next().map(|(_, c)| c),
                    Some('"'),
                    "unquoted value: {line}"
                );
                let mut value = String::new();
                loop {
                    match chars
                        .next()
                        .unwrap_or_else(|| panic!("unclosed value: {line}"))
                        .1
                    {
                        '\\' => match chars.next().unwrap().1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            other => panic!("bad escape \\{other}: {line}"),
                        },
                        '"' => break,
                        '\n' => panic!("raw newline in a value: {line}"),
                        other => value.push(other),
                    }
                }
                assert!(labels.insert(key, value).is_none(), "label twice: {line}");
                match chars.next() {
                    Some((_, ',')) => {}
                    Some((index, '}')) => {
                        rest = &inner[index + 1..];
                        break;
                    }
                    other => panic!("unexpected {other:?}: {line}"),
                }
            }
        }
        let fields: Vec<&str> = rest.split(' ').filter(|f| !f.is_empty()).collect();
        assert_eq!(
            fields.len(),
            1,
            "a value and nothing else (no timestamp): {line}"
        );
        let value: f64 = match fields[0] {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            number => number
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        assert!(typed.contains_key(name), "no TYPE before {line}");
        let key = format!("{name}{labels:?}");
        assert!(series.insert(key), "series twice: {line}");
        samples.push((name.to_string(), labels, value));
    }
    assert!(!samples.is_empty(), "no samples:\n{text}");
    samples
}

#[test]
fn one_cluster_without_an_inventory_logs_a_line_with_no_cluster() {
    let env = TestEnv::https();
    let out = env.run(&[
        "plan",
        "--detailed-exitcode",
        "--log",
        "runs.jsonl",
        "--metrics",
        "stigfix.prom",
    ]);
    out.assert_code(2);
    // The output is today's: no prefix, no table.
    assert!(out.stdout.starts_with("ucp https://"), "{}", out.stdout);
    assert!(!out.stdout.contains("CLUSTER"), "{}", out.stdout);
    let text = fs::read_to_string(env.path("runs.jsonl")).unwrap();
    let line: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(line["cluster"], Value::Null);
    assert_eq!(line["exit_code"], 2);
    let samples = parse_exposition(&fs::read_to_string(env.path("stigfix.prom")).unwrap());
    assert!(
        samples
            .iter()
            .any(|(name, labels, value)| name == "stigfix_last_run_exit_code"
                && labels["cluster"].is_empty()
                && *value == 2.0)
    );

    // A failed run is logged too, and keeps its error and exit code.
    let mut command = env.command(&["plan", "--log", "runs.jsonl"]);
    command.env("STIGFIX_PASSWORD", "wrong");
    let out = finish(command.spawn().unwrap());
    out.assert_code(1);
    let text = fs::read_to_string(env.path("runs.jsonl")).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["exit_code"], 1);
    assert!(last["error"].is_string(), "{last}");
    assert!(!text.contains("wrong\""), "{text}");

    // A log in a folder that does not exist is refused before anything is read.
    let requests = env.sim.requests().len();
    let out = env.run(&["plan", "--log", "nowhere/runs.jsonl"]);
    out.assert_code(64);
    assert!(
        out.error_line().contains("--log nowhere/runs.jsonl"),
        "{}",
        out.stderr
    );
    assert_eq!(env.sim.requests().len(), requests);
}
