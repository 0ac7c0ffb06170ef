//! `stigfix apply`: converge, touch nothing else, be idempotent, refuse without confirmation,
//! apply exactly a saved plan and refuse a stale one.

use std::collections::BTreeMap;

use stigfix::demo::NONCOMPLIANT_CONFIG;

use crate::support::{CONFIG_PATH, TestEnv, json, leaves, toml_table};

/// The planned changes: path → `after` (as JSON).
fn planned(env: &TestEnv) -> BTreeMap<String, serde_json::Value> {
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    let plan = json(&out.stdout);
    plan["targets"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["path"].as_str().expect("path").to_string(),
                c["after"].clone(),
            )
        })
        .collect()
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).expect("TOML value as JSON")
}

/// Leaves that differ between two config renderings.
fn changed_paths(
    before: &str,
    after: &str,
) -> BTreeMap<String, (Option<toml::Value>, toml::Value)> {
    let before: BTreeMap<_, _> = leaves(&toml_table(before)).into_iter().collect();
    let after = leaves(&toml_table(after));
    after
        .into_iter()
        .filter(|(path, value)| before.get(path) != Some(value))
        .map(|(path, value)| (path.clone(), (before.get(&path).cloned(), value)))
        .collect()
}

#[track_caller]
fn assert_only_planned_changed(
    before: &str,
    after: &str,
    plan: &BTreeMap<String, serde_json::Value>,
) {
    let changed = changed_paths(before, after);
    for (path, (old, new)) in &changed {
        assert!(
            plan.contains_key(path),
            "{path} changed ({old:?} -> {new:?}) but was not in the plan"
        );
    }
    // No setting disappeared either.
    let after_paths: Vec<String> = leaves(&toml_table(after))
        .into_iter()
        .map(|l| l.0)
        .collect();
    for (path, _) in leaves(&toml_table(before)) {
        assert!(after_paths.contains(&path), "{path} disappeared");
    }
    for (path, want) in plan {
        let (_, new) = changed
            .get(path)
            .unwrap_or_else(|| panic!("planned change of {path} did not happen"));
        assert_eq!(&toml_to_json(new), want, "{path}");
    }
}

#[test]
fn apply_yes_converges_and_leaves_other_settings_alone() {
    let env = TestEnv::https();
    let plan = planned(&env);
    assert!(plan.contains_key("trust_configuration.require_content_trust"));

    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    assert!(
        out.stderr.contains("applied and verified"),
        "{}",
        out.stderr
    );
    assert_eq!(env.sim.write_count(), 1, "{:?}", env.sim.requests());
    assert_only_planned_changed(&env.original, &env.config(), &plan);
    assert_eq!(
        env.sim
            .ucp()
            .get("trust_configuration.require_content_trust"),
        Some(toml::Value::Boolean(true))
    );
    // The backup passphrase survived the whole-document PUT.
    assert_eq!(
        env.sim.ucp().get("backup_schedule_config.passphrase"),
        Some(toml::Value::String("correct-horse-battery-staple".into()))
    );

    env.assert_no_changes();

    let writes = env.sim.write_count();
    let after_first = env.config();
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    assert!(out.stderr.contains("Nothing to change"), "{}", out.stderr);
    assert_eq!(env.sim.write_count(), writes, "the second apply wrote");
    assert_eq!(env.config(), after_first);
    assert_eq!(
        env.snapshot_dirs().len(),
        1,
        "the no-op apply made a snapshot"
    );
}

#[test]
fn apply_over_http_converges() {
    let env = TestEnv::http();
    env.run(&["apply", "--yes"]).assert_code(0);
    env.assert_no_changes();
    assert_eq!(env.sim.write_count(), 1);
}

#[test]
fn apply_without_yes_and_no_tty_refuses() {
    let env = TestEnv::http();
    let out = env.run(&["apply"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.contains("refusing to apply"), "{error}");
    assert!(error.contains("not a terminal"), "{error}");
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(env.sim.write_count(), 0);
    env.assert_unchanged();
    assert!(env.snapshot_dirs().is_empty());
}

#[test]
fn apply_saved_plan_applies_exactly_that_plan() {
    let env = TestEnv::https();
    let file = env.path("plan.json");
    env.run(&["plan", "--out", file.to_str().unwrap()])
        .assert_code(0);
    let saved = json(&std::fs::read_to_string(&file).unwrap());
    let plan: BTreeMap<String, serde_json::Value> = saved["targets"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_string(), c["after"].clone()))
        .collect();
    env.sim.clear_requests();

    let out = env.run(&["apply", file.to_str().unwrap(), "--yes"]);
    out.assert_code(0);
    assert_eq!(env.sim.write_count(), 1, "{:?}", env.sim.requests());
    assert_eq!(env.count("PUT", CONFIG_PATH), 1);
    assert_only_planned_changed(&env.original, &env.config(), &plan);
    env.assert_no_changes();
}

#[test]
fn apply_saved_plan_refuses_when_the_cluster_changed() {
    let env = TestEnv::http();
    let file = env.path("plan.json");
    env.run(&["plan", "--out", file.to_str().unwrap()])
        .assert_code(0);
    // Someone changes an unrelated setting in the web UI meanwhile.
    let changed = NONCOMPLIANT_CONFIG.replace("/var/backups/mke", "/srv/backups/mke");
    assert_ne!(changed, NONCOMPLIANT_CONFIG);
    env.sim.ucp().set_config_toml(&changed).unwrap();
    let expected = env.config();

    let out = env.run(&["apply", file.to_str().unwrap(), "--yes"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.contains("plan is stale"), "{error}");
    assert!(error.contains(&env.url()), "{error}");
    assert!(out.stderr.contains("stigfix plan"), "{}", out.stderr);
    assert_eq!(env.sim.write_count(), 0);
    assert_eq!(env.config(), expected);
    assert!(env.snapshot_dirs().is_empty());
}

/// A second run on the same target while one holds its lock refuses and changes nothing.
#[test]
fn apply_refuses_while_another_run_holds_the_target_lock() {
    let env = TestEnv::http();
    // A first apply creates the lock file; then the cluster drifts back.
    env.run(&["apply", "--yes"]).assert_code(0);
    env.sim.ucp().set_config_toml(NONCOMPLIANT_CONFIG).unwrap();
    let drifted = env.config();
    let locks: Vec<_> = std::fs::read_dir(env.path("locks"))
        .expect("lock folder")
        .map(|e| e.unwrap().path())
        .collect();
    // One for the cluster's config (ucp), one for its workloads (same URL).
    assert_eq!(locks.len(), 2, "{locks:?}");
    // Another run holds it now.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&locks[0])
        .unwrap();
    held.try_lock().expect("take the lock");
    let writes = env.sim.write_count();

    let out = env.run(&["apply", "--yes"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.contains("another stigfix run"), "{error}");
    assert!(error.contains(&env.url()), "{error}");
    assert_eq!(env.sim.write_count(), writes);
    assert_eq!(env.config(), drifted);

    held.unlock().unwrap();
    env.run(&["apply", "--yes"]).assert_code(0);
    env.assert_no_changes();
}
