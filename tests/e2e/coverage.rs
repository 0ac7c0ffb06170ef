//! Every rule of both benchmarks is accounted for (#10): `playbook list` shows all 145, a plan
//! against a whole simulated cluster (UCP/MKE, DTR/MSR and a fake node) reports each of them
//! once with a status of the design's closed set, manual rules come out `manual` with what to
//! look at, and the plan writes nothing anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use stigfix::benchmark::embedded;
use stigfix::sim::host::ubuntu_node;
use stigfix::sim::{DtrOptions, generate_repositories};

use crate::support::{EnvOptions, TestEnv, assert_valid_plan, json};

/// The statuses of the design ("Rule statuses").
const STATUSES: [&str; 8] = [
    "pass",
    "fix",
    "open",
    "manual",
    "waived",
    "not_applicable",
    "not_assessed",
    "unknown",
];

/// Every STIG ID of the embedded benchmarks.
fn benchmark_ids() -> BTreeSet<String> {
    embedded()
        .iter()
        .flat_map(|benchmark| benchmark.rules.keys().cloned())
        .collect()
}

/// A simulated MKE with a DTR and a fake Ubuntu node: every target configured.
fn whole_cluster() -> TestEnv {
    let mut env = TestEnv::start(EnvOptions {
        dtr: Some(DtrOptions {
            repositories: generate_repositories(5, 2),
            ..DtrOptions::default()
        }),
        ..EnvOptions::default()
    });
    let root = env.path("node1");
    ubuntu_node(&root).expect("build the fake node");
    env.set_env("STIGFIX_HOST_ROOT", &root);
    env
}

/// Path → (bytes or link target, mode, owner, group) of everything under `root`.
fn tree(root: &Path) -> BTreeMap<String, (Vec<u8>, u32, u32, u32)> {
    fn walk(dir: &Path, root: &Path, into: &mut BTreeMap<String, (Vec<u8>, u32, u32, u32)>) {
        for entry in std::fs::read_dir(dir).expect("read the node's folder") {
            let path = entry.expect("a folder entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let content = if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .expect("read link")
                    .into_os_string()
                    .into_encoded_bytes()
            } else if meta.is_file() {
                std::fs::read(&path).expect("read file")
            } else {
                Vec::new()
            };
            let name = path.strip_prefix(root).unwrap().display().to_string();
            into.insert(name, (content, meta.mode(), meta.uid(), meta.gid()));
            if meta.is_dir() {
                walk(&path, root, into);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    files
}

#[test]
fn playbook_list_shows_every_rule_of_both_benchmarks_and_nothing_else() {
    let env = TestEnv::http();
    let out = env.run(&["playbook", "list"]);
    out.assert_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 145, "{}", out.stdout);
    let listed: BTreeSet<String> = lines
        .iter()
        .map(|line| {
            line.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(listed, benchmark_ids());
    for line in &lines {
        assert!(
            ["enforce", "check", "manual", "not-assessed"]
                .iter()
                .any(|mode| line.split_whitespace().any(|word| word == *mode)),
            "a row without a mode: {line}"
        );
    }
    assert!(env.sim.requests().is_empty(), "listing contacts nothing");
}

#[test]
fn a_plan_of_a_whole_cluster_reports_all_145_rules_and_writes_nothing() {
    let env = whole_cluster();
    let root = env.path("node1");
    let node_before = tree(&root);
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    let plan = json(&out.stdout);
    assert_valid_plan(&plan);
    let rules = plan["rules"].as_array().expect("rules");

    let mut seen = BTreeMap::new();
    for rule in rules {
        let id = rule["stig_id"].as_str().expect("stig_id").to_string();
        *seen.entry(id).or_insert(0) += 1;
        let status = rule["status"].as_str().expect("status");
        assert!(STATUSES.contains(&status), "{rule}");
        if status == "not_assessed" {
            assert_eq!(
                rule["not_assessed"], "the playbook does not assess this rule (see the note)",
                "every target is configured, so no rule waits for one: {rule}"
            );
        } else {
            assert!(rule["target"].is_string(), "assessed on a target: {rule}");
        }
    }
    assert_eq!(
        seen.keys().cloned().collect::<BTreeSet<_>>(),
        benchmark_ids()
    );
    let twice: Vec<_> = seen.iter().filter(|(_, count)| **count != 1).collect();
    assert!(twice.is_empty(), "reported more than once: {twice:?}");
    assert_eq!(rules.len(), 145);

    // Manual rules: status manual, with the note that says what to look at.
    let manual: Vec<&serde_json::Value> = rules
        .iter()
        .filter(|rule| rule["mode"] == "manual")
        .collect();
    assert!(manual.len() >= 40, "{}", manual.len());
    for rule in &manual {
        assert_eq!(rule["status"], "manual", "{rule}");
        let note = rule["note"].as_str().unwrap_or_default();
        assert!(note.len() >= 80, "a manual rule without its note: {rule}");
    }
    let syslog = rules
        .iter()
        .find(|rule| rule["stig_id"] == "DKER-EE-001090")
        .expect("DKER-EE-001090");
    assert!(
        syslog["note"]
            .as_str()
            .unwrap()
            .starts_with("The host's audit daemon is outside what stigfix reads."),
        "{syslog}"
    );
    assert_eq!(syslog["kind"], "host");

    // Prevention: the privileged-attribute grants are assessed (MKE's default grants nothing).
    let grants = rules
        .iter()
        .find(|rule| rule["stig_id"] == "CNTR-MK-001020")
        .expect("CNTR-MK-001020");
    assert_eq!(grants["status"], "pass", "{grants}");
    assert_eq!(grants["checks"].as_array().map(Vec::len), Some(4));
    let kernel = rules
        .iter()
        .find(|rule| rule["stig_id"] == "CNTR-MK-000990")
        .expect("CNTR-MK-000990");
    assert_eq!(kernel["status"], "fix", "{kernel}");

    // Read-only: no write request to UCP or DTR, the node's files as they were.
    assert_eq!(env.sim.write_count(), 0, "{:?}", env.sim.requests());
    env.assert_unchanged();
    assert!(
        tree(&root) == node_before,
        "the plan changed the node's files"
    );

    // The text summary accounts for the same 145.
    let out = env.run(&["plan", "--color", "never"]);
    out.assert_code(0);
    assert!(
        out.stdout.contains("Manual review (a person must look)"),
        "{}",
        out.stdout
    );
    let manual_section = out
        .stdout
        .split("Manual review (a person must look)")
        .nth(1)
        .unwrap_or_default();
    for id in ["DKER-EE-999999", "CNTR-MK-001630", "DKER-EE-003330"] {
        assert!(manual_section.contains(id), "{id} in:\n{}", out.stdout);
    }
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn apply_fixes_the_prevention_settings_and_a_second_plan_is_clean_of_them() {
    let env = TestEnv::start(EnvOptions {
        config: "[cluster_config]\npriv_attributes_allowed_for_user_accounts = [\"hostIPC\", \"privileged\"]\npriv_attributes_user_accounts = [\"alice\"]\n",
        ..EnvOptions::default()
    });
    let out = env.run(&[
        "plan",
        "--rule",
        "CNTR-MK-001020",
        "--rule",
        "CNTR-MK-000990",
    ]);
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("cluster_config.priv_attributes_allowed_for_user_accounts"),
        "{}",
        out.stdout
    );
    env.run(&[
        "apply",
        "--yes",
        "--rule",
        "CNTR-MK-001020",
        "--rule",
        "CNTR-MK-000990",
    ])
    .assert_code(0);
    let config: toml::Table = env.config().parse().unwrap();
    let cluster = config["cluster_config"].as_table().unwrap();
    assert_eq!(
        cluster["priv_attributes_allowed_for_user_accounts"],
        toml::Value::Array(vec![])
    );
    assert_eq!(
        cluster["priv_attributes_user_accounts"],
        toml::Value::Array(vec![])
    );
    assert_eq!(
        cluster["kube_protect_kernel_defaults"],
        toml::Value::Boolean(true)
    );
    let out = env.run(&[
        "plan",
        "--format",
        "json",
        "--rule",
        "CNTR-MK-001020",
        "--rule",
        "CNTR-MK-000990",
    ]);
    let plan = json(&out.stdout);
    for rule in plan["rules"].as_array().unwrap() {
        assert_eq!(rule["status"], "pass", "{rule}");
    }
}

#[test]
fn the_sites_grants_are_kept_and_written() {
    let env = TestEnv::start(EnvOptions {
        config: "[cluster_config]\npriv_attributes_allowed_for_service_accounts = [\"hostIPC\", \"hostPID\", \"privileged\"]\npriv_attributes_service_accounts = [\"gpu-operator:nvidia-driver\"]\n",
        ..EnvOptions::default()
    });
    std::fs::write(
        env.path("stigfix.toml"),
        "[variables]\nsession_per_user_limit = 3\nrequire_signature_from = [\"org/signers\"]\npriv_attributes_allowed_for_service_accounts = [\"hostIPC\", \"hostPID\"]\npriv_attributes_service_accounts = [\"gpu-operator:nvidia-driver\"]\n",
    )
    .unwrap();
    env.run(&["apply", "--yes", "--rule", "CNTR-MK-001020"])
        .assert_code(0);
    let config: toml::Table = env.config().parse().unwrap();
    let cluster = config["cluster_config"].as_table().unwrap();
    assert_eq!(
        cluster["priv_attributes_allowed_for_service_accounts"],
        toml::Value::Array(vec!["hostIPC".into(), "hostPID".into()])
    );
    assert_eq!(
        cluster["priv_attributes_service_accounts"],
        toml::Value::Array(vec!["gpu-operator:nvidia-driver".into()])
    );
}
