//! Snapshots and `stigfix rollback`, including the failures that end in exit 1 and exit 3.

use std::os::unix::fs::PermissionsExt;

use crate::support::{CONFIG_PATH, PASSPHRASE, TestEnv, json};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Statuses of the config PUTs so far, in order.
fn put_statuses(env: &TestEnv) -> Vec<u16> {
    env.sim
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == CONFIG_PATH)
        .map(|r| r.status)
        .collect()
}

#[test]
fn rollback_last_restores_the_original_exactly() {
    let env = TestEnv::https();
    env.run(&["apply", "--yes"]).assert_code(0);
    let applied = env.config();
    assert_ne!(applied, env.original);

    // The snapshot: private, and its manifest holds no secret.
    let dirs = env.snapshot_dirs();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let snapshot = &dirs[0];
    let id = snapshot.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(mode(snapshot), 0o700, "snapshot folder");
    let files = env.snapshot_files();
    assert!(files.len() >= 2, "{files:?}");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    let manifest_text = std::fs::read_to_string(snapshot.join("manifest.json")).unwrap();
    assert!(!manifest_text.contains(PASSPHRASE), "{manifest_text}");
    let manifest = json(&manifest_text);
    assert_eq!(manifest["id"], id);
    assert_eq!(manifest["command"], "apply");
    assert_eq!(manifest["targets"][0]["endpoint"], env.url());
    assert_eq!(manifest["targets"][0]["state"], "applied");
    // The saved state is the exact original bytes.
    let saved = snapshot.join(manifest["targets"][0]["file"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(saved).unwrap(), env.original);

    let out = env.run(&["snapshots"]);
    out.assert_code(0);
    assert!(out.stdout.contains(&id), "{}", out.stdout);
    assert!(out.stdout.contains("apply"), "{}", out.stdout);
    assert!(out.stdout.contains(&env.url()), "{}", out.stdout);

    let writes = env.sim.write_count();
    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(0);
    assert_eq!(env.sim.write_count(), writes + 1);
    assert_eq!(
        env.config(),
        env.original,
        "rollback did not restore the original"
    );
    let manifest = json(&std::fs::read_to_string(snapshot.join("manifest.json")).unwrap());
    assert_eq!(manifest["targets"][0]["state"], "rolled-back");

    // The rollback made its own snapshot, which `snapshots` lists too.
    assert_eq!(env.snapshot_dirs().len(), 2);
    let out = env.run(&["snapshots", "--format", "json"]);
    out.assert_code(0);
    let list = json(&out.stdout);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(!out.stdout.contains(PASSPHRASE));
    env.run(&["plan", "--detailed-exitcode"]).assert_code(2);
}

/// docs/design.md: snapshots are kept in a 0700 directory. `Snapshot::create` asks for 0700 on the
/// snapshot root, but `engine.lock_all` creates `<root>/.locks` (and so the root) first with
/// `create_dir_all`, i.e. 0755 under the usual umask; the later `DirBuilder::mode(0o700)` does
/// not change an existing folder. (Each snapshot's own folder is 0700, so no content leaks;
/// snapshot ids, times and the lock files naming the endpoints are world-readable.)
#[test]
fn snapshot_root_folder_is_private() {
    let env = TestEnv::http();
    env.run(&["apply", "--yes"]).assert_code(0);
    assert_eq!(mode(&env.snapshot_dir()), 0o700, "snapshot root");
}

#[test]
fn rollback_without_yes_and_no_tty_refuses() {
    let env = TestEnv::http();
    env.run(&["apply", "--yes"]).assert_code(0);
    let applied = env.config();
    let writes = env.sim.write_count();
    let out = env.run(&["rollback", "--last"]);
    out.assert_code(1);
    assert!(
        out.error_line().contains("refusing to roll back"),
        "{}",
        out.stderr
    );
    assert_eq!(env.sim.write_count(), writes);
    assert_eq!(env.config(), applied);
}

#[test]
fn rollback_refuses_when_a_setting_it_wrote_changed_since() {
    let env = TestEnv::http();
    env.run(&["apply", "--yes"]).assert_code(0);
    // Somebody sets the audit level the apply wrote to something else.
    let later = env
        .config()
        .replace("level = \"request\"", "level = \"metadata\"");
    assert_ne!(later, env.config());
    env.sim.ucp().set_config_toml(&later).unwrap();
    let expected = env.config();
    let writes = env.sim.write_count();
    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.contains("changed since snapshot"), "{error}");
    assert!(error.contains(&env.url()), "{error}");
    assert!(
        error.contains("`audit_log_configuration.level` is now \"metadata\" (the snapshot's change wrote \"request\")"),
        "{error}"
    );
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(env.sim.write_count(), writes);
    assert_eq!(env.config(), expected);

    env.run(&["rollback", "--last", "--yes", "--force"])
        .assert_code(0);
    assert_eq!(env.config(), env.original);
}

/// A setting the apply did not write changed since (the backup path): the rollback puts back
/// what the apply wrote and keeps that later change.
#[test]
fn rollback_keeps_a_later_change_to_a_setting_it_did_not_write() {
    let env = TestEnv::http();
    env.run(&["apply", "--yes"]).assert_code(0);
    let later = env.config().replace("/var/backups/mke", "/srv/backups/mke");
    env.sim.ucp().set_config_toml(&later).unwrap();
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_eq!(
        env.sim.ucp().get("backup_schedule_config.path"),
        Some(toml::Value::String("/srv/backups/mke".into()))
    );
    let original = env.original.replace("/var/backups/mke", "/srv/backups/mke");
    assert_eq!(
        env.config(),
        original,
        "everything else is as before the apply"
    );
}

#[test]
fn rollback_whose_write_fails_changes_nothing_and_exits_1() {
    let env = TestEnv::https();
    env.run(&["apply", "--yes"]).assert_code(0);
    let applied = env.config();
    env.sim.ucp().fail_next_write(500);
    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(error.contains("rollback failed"), "{error}");
    assert!(error.contains(&env.url()), "{error}");
    assert!(out.stderr.contains("500"), "{}", out.stderr);
    assert_eq!(
        env.config(),
        applied,
        "a failed rollback changed the cluster"
    );
    // The snapshot is still usable: the next rollback works.
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_eq!(env.config(), env.original);
}

/// Apply: the PUT lands, the read-back is malformed (verification fails), and the restore PUT
/// answers 500: the cluster is left changed and the operator is told which snapshot to use.
#[test]
fn apply_whose_restore_fails_exits_3_and_names_the_snapshot() {
    let env = TestEnv::http();
    let ucp = env.sim.ucp();
    // The apply reads (1st GET), writes (1st PUT), reads back (2nd GET: malformed), then the
    // restore reads again and writes (2nd PUT: 500).
    ucp.malformed_reads(2, 1);
    ucp.fail_writes(2, 1, 500);
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(3);
    assert_eq!(
        put_statuses(&env),
        [200, 500],
        "expected the apply's PUT to land and the restore's to fail"
    );
    let applied = env.config();
    assert_ne!(applied, env.original);
    let dirs = env.snapshot_dirs();
    assert_eq!(dirs.len(), 1);
    let id = dirs[0].file_name().unwrap().to_str().unwrap().to_string();
    let error = out.error_line();
    assert!(error.contains("apply failed on ucp"), "{error}");
    assert!(error.contains(&env.url()), "{error}");
    assert!(
        out.stderr.contains("could NOT be restored"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("stigfix rollback {id} --force --yes")),
        "{}",
        out.stderr
    );
    let manifest = json(&std::fs::read_to_string(dirs[0].join("manifest.json")).unwrap());
    assert_eq!(manifest["targets"][0]["state"], "restore-failed");
    assert_eq!(env.count("PUT", CONFIG_PATH), 2);

    // What the hint says works.
    env.run(&["rollback", &id, "--force", "--yes"])
        .assert_code(0);
    assert_eq!(env.config(), env.original);
}

/// Rollback: the restore PUT lands, its read-back is malformed, and putting the pre-rollback
/// state back answers 500: exit 3.
#[test]
fn rollback_whose_undo_fails_exits_3() {
    let env = TestEnv::http();
    env.run(&["apply", "--yes"]).assert_code(0);
    let applied = env.config();
    let puts = put_statuses(&env).len();
    let ucp = env.sim.ucp();
    // The rollback reads (1st GET from now), writes (1st PUT), reads back (2nd GET: malformed),
    // then reads again and puts the pre-rollback state back (2nd PUT: 500).
    ucp.malformed_reads(2, 1);
    ucp.fail_writes(2, 1, 500);
    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(3);
    assert_eq!(
        put_statuses(&env)[puts..],
        [200, 500],
        "expected the rollback's PUT to land and putting the state back to fail"
    );
    let error = out.error_line();
    assert!(error.contains("rollback failed on ucp"), "{error}");
    assert!(
        out.stderr.contains("could NOT be put back"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("an operator must look"),
        "{}",
        out.stderr
    );
    // The rollback's own write did land: the cluster is at the original, not at `applied`.
    assert_eq!(env.config(), env.original);
    assert_ne!(applied, env.original);
}

/// `--last` picks the newest applied snapshot even when several are made within one second
/// (scripts and drift correction do apply/rollback cycles back to back).
#[test]
fn rollback_last_picks_the_newest_snapshot_in_back_to_back_cycles() {
    let mut env = TestEnv::http();
    // This test needs the real clock: a snapshot id takes its seconds from `now` (pinned by
    // STIGFIX_TEST_NOW) but its microseconds from the real clock, so under a pinned clock ids
    // made on either side of a real second boundary sort out of creation order and `--last`
    // picks the wrong snapshot (`snapshot::new_id`; reported, not fixed by these tests).
    env.remove_env("STIGFIX_TEST_NOW");
    for cycle in 0..3 {
        env.run(&["apply", "--yes"]).assert_code(0);
        assert_ne!(env.config(), env.original, "cycle {cycle}");
        let out = env.run(&["rollback", "--last", "--yes"]);
        out.assert_code(0);
        assert_eq!(env.config(), env.original, "cycle {cycle}");
    }
    // apply + rollback per cycle, each with its own snapshot.
    assert_eq!(env.snapshot_dirs().len(), 6);
    // Ids sort in creation order: apply, rollback, apply, rollback, …
    let commands: Vec<String> = env
        .snapshot_dirs()
        .iter()
        .map(|dir| {
            let manifest = json(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
            manifest["command"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        commands,
        [
            "apply", "rollback", "apply", "rollback", "apply", "rollback"
        ]
    );
}
