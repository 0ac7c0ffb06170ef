//! The DTR/MSR target: settings with partial POSTs, every repository across pages, the
//! vulnerability database (403 while updating, the air-gapped case, the offline upload), and
//! rollback of settings and repositories — all against the simulator over HTTPS.

use std::time::Duration;

use stigfix::sim::{DtrOptions, SimRepo, generate_repositories};

use crate::support::{
    EnvOptions, PASSWORD, TestEnv, assert_absent, ctrl_c, finish, json, wait_for,
};

const SETTINGS: &str = "/api/v0/meta/settings";
const STATUS: &str = "/api/v0/imagescan/status";

/// A registry as many are found: scanning off, create-on-push and analytics on; 260 repositories
/// behind a page cap of 100, every third not scanning on push.
fn registry() -> DtrOptions {
    DtrOptions {
        repositories: generate_repositories(260, 3),
        max_page_size: 100,
        settings: Some(serde_json::json!({
            "createRepositoryOnPush": true,
            "reportAnalytics": true,
            "scanningEnabled": false,
        })),
        sync_duration: Duration::from_millis(300),
        ..DtrOptions::default()
    }
}

fn dtr_env(options: DtrOptions) -> TestEnv {
    TestEnv::start(EnvOptions {
        ucp: false,
        dtr: Some(options),
        ..EnvOptions::default()
    })
}

fn not_scanning(env: &TestEnv) -> usize {
    env.sim
        .dtr()
        .repositories()
        .iter()
        .filter(|repo| !repo.scan_on_push)
        .count()
}

type State = (serde_json::Value, Vec<SimRepo>);

fn state(env: &TestEnv) -> State {
    (env.sim.dtr().settings(), env.sim.dtr().repositories())
}

/// A minimal ustar archive (one empty file), as the offline database upload expects.
fn tar_file(env: &TestEnv) -> std::path::PathBuf {
    let mut header = [0u8; 512];
    header[..10].copy_from_slice(b"cve-db.txt");
    header[100..107].copy_from_slice(b"0000644");
    header[124..135].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&[0u8; 1024]);
    let path = env.path("cve-db.tar");
    std::fs::write(&path, bytes).expect("write tar");
    path
}

#[test]
fn plan_reports_every_repository_and_writes_nothing() {
    let env = dtr_env(registry());
    let missing = not_scanning(&env);
    assert!(missing > 80);
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains(&format!(
            "~ repositories.*.scanOnPush: false -> true  ({missing} items:"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ settings.scanningEnabled: false -> true")
    );
    assert!(
        out.stdout
            .contains("~ settings.createRepositoryOnPush: true -> false")
    );
    assert!(out.stdout.contains("scanning is off"));
    assert_eq!(env.sim.write_count(), 0);
    // Three pages of repositories, never one assumed to be everything.
    assert_eq!(env.count("GET", "/api/v0/repositories"), 3);

    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    let plan = json(&out.stdout);
    let changes = plan["targets"][0]["changes"].as_array().unwrap();
    let repositories: Vec<&str> = changes
        .iter()
        .filter_map(|change| change["path"].as_str())
        .filter(|path| path.starts_with("repositories."))
        .collect();
    assert_eq!(
        repositories.len(),
        missing,
        "every name is in the JSON plan"
    );
    assert!(repositories.contains(&"repositories.\"team-0/app-0002\".scanOnPush"));
    assert_eq!(plan["targets"][0]["kind"], "dtr");
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn apply_converges_is_idempotent_and_rolls_back_exactly() {
    let env = dtr_env(registry());
    let before = state(&env);
    let missing = not_scanning(&env);
    let out = env.run(&["apply", "--yes", "--concurrency", "4"]);
    out.assert_code(0);
    let settings = env.sim.dtr().settings();
    assert_eq!(settings["scanningEnabled"], true);
    assert_eq!(settings["createRepositoryOnPush"], false);
    assert_eq!(settings["reportAnalytics"], false);
    assert_eq!(not_scanning(&env), 0, "every repository scans on push");
    // One partial POST with only the changed fields, one PATCH per repository.
    assert_eq!(env.count("POST", SETTINGS), 1);
    let patches = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with("/api/v0/repositories/"))
        .count();
    assert_eq!(patches, missing);
    let status = env.sim.dtr().scan_status();
    assert!(status.scanning_enabled && !status.last_db_update_failed);

    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(0);
    let writes = env.sim.write_count();
    env.run(&["apply", "--yes"]).assert_code(0);
    assert_eq!(
        env.sim.write_count(),
        writes,
        "a second apply writes nothing"
    );

    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(0);
    assert!(
        out.stdout.contains("scanOnPush: true -> false"),
        "{}",
        out.stdout
    );
    let after = state(&env);
    assert_eq!(after.1, before.1, "every repository is back");
    for field in [
        "scanningEnabled",
        "createRepositoryOnPush",
        "reportAnalytics",
    ] {
        assert_eq!(after.0[field], before.0[field], "{field}");
    }
    assert_eq!(after.0, before.0);
}

#[test]
fn a_failing_repository_patch_restores_settings_and_every_repository() {
    let env = dtr_env(registry());
    let before = state(&env);
    env.sim.dtr().fail_nth_patch(40);
    let out = env.run(&["apply", "--yes", "--concurrency", "4"]);
    out.assert_code(1);
    assert!(
        out.error_line().contains("apply failed on dtr"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("500"), "{}", out.stderr);
    assert!(
        out.stderr.contains("restored from snapshot"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    assert_eq!(state(&env), before, "settings and repositories are back");
    // Some repositories had been changed and were patched back.
    assert!(env.sim.dtr().patch_count() > 40);
}

#[test]
fn a_failing_settings_write_changes_nothing() {
    let env = dtr_env(registry());
    let before = state(&env);
    env.sim.dtr().fail_next_settings_write();
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(1);
    assert!(out.error_line().contains(SETTINGS), "{}", out.stderr);
    assert_eq!(state(&env), before);
    assert_eq!(env.sim.dtr().patch_count(), 0, "no repository was touched");
}

#[test]
fn an_ignored_settings_write_is_caught_and_restored() {
    let env = dtr_env(registry());
    let before = state(&env);
    env.sim.dtr().ignore_next_settings_write();
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("still differs after the write"),
        "{}",
        out.stderr
    );
    assert_eq!(state(&env), before);
}

#[test]
fn a_status_that_answers_403_is_polled_until_200() {
    let env = dtr_env(DtrOptions {
        sync_duration: Duration::from_millis(1200),
        ..registry()
    });
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    let answers: Vec<u16> = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.path == STATUS)
        .map(|r| r.status)
        .collect();
    assert_eq!(answers.first(), Some(&400), "scanning was off: {answers:?}");
    assert!(
        answers.contains(&403),
        "the update was waited for: {answers:?}"
    );
    assert_eq!(answers.last(), Some(&200), "{answers:?}");
    env.run(&["plan", "--detailed-exitcode"]).assert_code(0);
}

#[test]
fn a_status_stuck_updating_is_reported_after_the_wait() {
    let env = dtr_env(DtrOptions {
        settings: Some(serde_json::json!({"scanningEnabled": true})),
        ..registry()
    });
    env.sim.dtr().status_always_updating(true);
    let out = env.run(&["plan", "--scan-wait", "1", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("still updating after 1 s"),
        "{}",
        out.stdout
    );
}

#[test]
fn air_gapped_sync_stays_open_until_an_offline_database_is_uploaded() {
    let env = dtr_env(DtrOptions {
        online_sync_reachable: false,
        ..registry()
    });
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(out.stdout.contains("Open findings"), "{}", out.stdout);
    assert!(out.stdout.contains("DKER-EE-003840"), "{}", out.stdout);
    assert!(out.stdout.contains("--cve-db"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("last vulnerability database update failed")
    );

    let tar = tar_file(&env);
    let tar = tar.to_str().unwrap();
    let out = env.run(&["plan", "--cve-db", tar]);
    assert!(
        out.stdout
            .contains("~ imagescan.lastDBUpdateFailed: true -> false"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("PUT /api/v0/imagescan/scan/update?online=false")
    );
    let out = env.run(&["apply", "--yes", "--cve-db", tar]);
    out.assert_code(0);
    assert_eq!(env.sim.dtr().uploads(), 1);
    env.run(&["plan", "--detailed-exitcode"]).assert_code(0);
}

#[test]
fn a_database_that_is_not_a_tar_is_refused_and_nothing_stays_changed() {
    let env = dtr_env(DtrOptions {
        online_sync_reachable: false,
        settings: Some(serde_json::json!({"scanningEnabled": true})),
        ..registry()
    });
    // Let the failed online sync settle, then try to upload garbage.
    std::thread::sleep(Duration::from_millis(400));
    let before = state(&env);
    let bogus = env.path("not-a-db.tar");
    std::fs::write(&bogus, b"definitely not a tar archive").unwrap();
    let out = env.run(&["apply", "--yes", "--cve-db", bogus.to_str().unwrap()]);
    out.assert_code(1);
    assert!(
        out.stderr.contains("INVALID_CVE_DATABASE"),
        "{}",
        out.stderr
    );
    assert_eq!(state(&env), before);
}

#[test]
fn bad_credentials_are_one_clear_line_without_the_password() {
    let mut env = dtr_env(registry());
    env.set_env("STIGFIX_DTR_PASSWORD", "wrong-Pa55-7781");
    let out = env.run(&["plan"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(
        error.contains("rejected the credentials of user `admin`"),
        "{error}"
    );
    assert!(error.contains("DTR"), "{error}");
    assert_absent(&out.all(), "wrong-Pa55-7781", "output");
    assert_absent(&out.all(), PASSWORD, "output");
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let env = TestEnv::start(EnvOptions {
        ucp: false,
        dtr: Some(registry()),
        trust_ca: false,
        ..EnvOptions::default()
    });
    let out = env.run(&["plan"]);
    out.assert_code(1);
    assert!(out.error_line().contains("not trusted"), "{}", out.stderr);
    assert_eq!(env.sim.requests().len(), 0, "no request got through");
}

#[test]
fn a_malformed_repository_list_is_an_error_naming_it() {
    let env = dtr_env(registry());
    env.sim.dtr().malformed_next_read();
    let out = env.run(&["plan", "--rule", "DKER-EE-001900"]);
    out.assert_code(1);
    assert!(out.error_line().contains("malformed"), "{}", out.stderr);
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn ucp_and_dtr_are_applied_in_one_snapshot_and_rolled_back_together() {
    let env = TestEnv::start(EnvOptions {
        dtr: Some(registry()),
        ..EnvOptions::default()
    });
    let before = state(&env);
    env.run(&["apply", "--yes"]).assert_code(0);
    let dirs = env.snapshot_dirs();
    assert_eq!(dirs.len(), 1);
    let manifest = json(&std::fs::read_to_string(dirs[0].join("manifest.json")).unwrap());
    let kinds: Vec<&str> = manifest["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ucp", "dtr"]);
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    env.assert_unchanged();
    assert_eq!(state(&env), before);
}

/// A PATCH fails part-way, and so does a PATCH of the restore: exit 3, the snapshot named, and
/// what the hint says restores every repository.
#[test]
fn a_restore_that_fails_too_exits_3_and_the_hint_restores_everything() {
    let env = dtr_env(DtrOptions {
        settings: Some(serde_json::json!({
            "createRepositoryOnPush": false,
            "reportAnalytics": false,
            "scanningEnabled": true,
        })),
        sync_duration: Duration::ZERO,
        ..registry()
    });
    std::thread::sleep(Duration::from_millis(50));
    let before = state(&env);
    // The 10th PATCH fails, and so does every later one: the restore's too.
    env.sim.dtr().fail_patches(10, usize::MAX);
    let out = env.run(&["apply", "--yes", "--concurrency", "1"]);
    out.assert_code(3);
    let patches: Vec<u16> = env
        .sim
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.status)
        .collect();
    assert_eq!(patches.get(9), Some(&500), "the 10th PATCH never failed");
    assert!(
        patches.len() > 10,
        "the restore never patched back: {patches:?}"
    );
    assert!(
        out.error_line().contains("apply failed on dtr"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("could NOT be restored"),
        "{}",
        out.stderr
    );
    assert_ne!(state(&env), before, "nine repositories are still changed");
    let dirs = env.snapshot_dirs();
    let id = dirs[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        out.stderr
            .contains(&format!("stigfix rollback {id} --force --yes")),
        "{}",
        out.stderr
    );
    // The registry takes writes again.
    env.sim.dtr().clear_patch_faults();
    env.run(&["rollback", &id, "--force", "--yes"])
        .assert_code(0);
    assert_eq!(state(&env), before);
}

/// Ctrl-C part-way through the repository updates: every repository already changed and the
/// settings are put back, exit 1.
#[test]
fn ctrl_c_part_way_restores_everything() {
    let env = dtr_env(registry());
    let before = state(&env);
    env.sim.set_latency(Duration::from_millis(40));
    let mut child = env.spawn(&["apply", "--yes", "--concurrency", "2"]);
    let sim = &env.sim;
    let started = wait_for(&mut child, || sim.dtr().patch_count() >= 6);
    assert!(started, "the repository updates never started");
    ctrl_c(&child);
    let out = finish(child);
    env.sim.set_latency(Duration::ZERO);
    out.assert_code(1);
    assert!(
        out.error_line().contains("interrupted by Ctrl-C"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    assert_eq!(state(&env), before, "settings and repositories are back");
}

/// Ctrl-C part-way through a rollback: what the rollback changed is put back, exit 1, and the
/// snapshot can still be rolled back later.
#[test]
fn ctrl_c_during_a_rollback_puts_back_what_it_changed() {
    let env = dtr_env(registry());
    let before = state(&env);
    env.run(&["apply", "--yes"]).assert_code(0);
    let applied = state(&env);
    let patches = env.sim.dtr().patch_count();
    env.sim.set_latency(Duration::from_millis(40));
    let mut child = env.spawn(&["rollback", "--last", "--yes", "--concurrency", "2"]);
    let sim = &env.sim;
    let started = wait_for(&mut child, || sim.dtr().patch_count() >= patches + 6);
    assert!(started, "the rollback's repository updates never started");
    ctrl_c(&child);
    let out = finish(child);
    env.sim.set_latency(Duration::ZERO);
    out.assert_code(1);
    assert!(
        out.error_line().contains("interrupted by Ctrl-C"),
        "{}",
        out.stderr
    );
    assert_eq!(state(&env), applied, "the rollback's changes were put back");
    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_eq!(state(&env), before);
}

/// The registry read in 26 pages of 10, so that the repository updates of the first pages run
/// while later pages are read.
fn many_pages() -> DtrOptions {
    DtrOptions {
        max_page_size: 10,
        sync_duration: Duration::ZERO,
        ..registry()
    }
}

/// Send the child SIGTERM, as `systemctl stop` or a CI runner's timeout would.
fn sigterm(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM failed");
}

fn manifest(env: &TestEnv) -> serde_json::Value {
    let dirs = env.snapshot_dirs();
    let last = dirs.last().expect("a snapshot");
    json(&std::fs::read_to_string(last.join("manifest.json")).expect("manifest"))
}

/// `apply --yes` streams: PATCHes start while later pages are read, each batch journaled
/// first; the plan printed afterwards is the whole plan; a second apply writes nothing; and
/// `rollback --last` restores every repository from the journal.
#[test]
fn a_streamed_apply_writes_while_pages_are_read_and_converges() {
    let env = dtr_env(many_pages());
    let before = state(&env);
    let missing = not_scanning(&env);
    env.sim.set_latency(Duration::from_millis(10));
    let out = env.run(&["apply", "--yes", "--concurrency", "4"]);
    env.sim.set_latency(Duration::ZERO);
    out.assert_code(0);
    let requests = env.sim.requests();
    let first_patch = requests.iter().position(|r| r.method == "PATCH");
    let last_page = requests
        .iter()
        .rposition(|r| r.method == "GET" && r.path == "/api/v0/repositories");
    assert_eq!(env.count("GET", "/api/v0/repositories"), 26);
    assert!(
        first_patch < last_page,
        "the PATCHes waited for the last page ({first_patch:?}, {last_page:?})"
    );
    assert_eq!(not_scanning(&env), 0, "every repository scans on push");
    assert_eq!(env.sim.dtr().patch_count(), missing);
    // The whole plan, printed once the writes are over.
    assert!(
        out.stdout.contains(&format!(
            "~ repositories.*.scanOnPush: false -> true  ({missing} items:"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ settings.scanningEnabled: false -> true")
    );
    assert!(
        out.stderr.contains("applied and verified"),
        "{}",
        out.stderr
    );
    let target = &manifest(&env)["targets"][0];
    assert_eq!(target["state"], "applied");
    assert_eq!(
        target["changes"].as_array().unwrap().len(),
        missing + 3,
        "every repository and the three settings: {target}"
    );
    let journal = env.snapshot_dirs()[0].join(target["journal"].as_str().unwrap());
    let batches = std::fs::read_to_string(journal).unwrap().lines().count();
    assert!(batches > 1, "one batch only: {batches}");

    let writes = env.sim.write_count();
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(0);
    assert!(out.stderr.contains("Nothing to change"), "{}", out.stderr);
    assert_eq!(
        env.sim.write_count(),
        writes,
        "a second apply writes nothing"
    );
    assert_eq!(env.snapshot_dirs().len(), 1, "and leaves no snapshot");

    env.run(&["rollback", "--last", "--yes"]).assert_code(0);
    assert_eq!(state(&env), before, "every repository is back");
}

/// A PATCH fails while another one, already applied by the server, is still unanswered: the
/// stream stops reading and starting PATCHes, waits for the one in flight, and everything
/// changed — that one included — is put back. Exit 1.
#[test]
fn a_failure_part_way_through_a_streamed_apply_restores_everything() {
    let env = dtr_env(many_pages());
    let before = state(&env);
    env.sim.dtr().hold_patch(8, Duration::from_millis(400));
    env.sim.dtr().fail_patches(12, 1);
    env.sim.set_latency(Duration::from_millis(5));
    let out = env.run(&["apply", "--yes", "--concurrency", "4"]);
    env.sim.set_latency(Duration::ZERO);
    out.assert_code(1);
    assert!(
        out.error_line().contains("apply failed on dtr"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("500"), "{}", out.stderr);
    assert!(
        out.stderr.contains("restored from snapshot"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    assert!(
        out.stdout.is_empty(),
        "no plan after a failure: {}",
        out.stdout
    );
    assert_eq!(state(&env), before, "settings and repositories are back");
    assert_eq!(manifest(&env)["targets"][0]["state"], "rolled-back");
    // The restore reads the 26 pages twice (what holds this run's value; the check after):
    // the stream itself stopped asking for pages at the failure.
    let pages = env.count("GET", "/api/v0/repositories");
    assert!(
        pages < 3 * 26,
        "the stream read on after the failure: {pages} pages"
    );
}

/// SIGTERM part-way through a streamed apply: no new page, no new PATCH, the PATCHes sent
/// are finished, and everything is put back. Exit 1.
#[test]
fn sigterm_part_way_through_a_streamed_apply_restores_everything() {
    let env = dtr_env(many_pages());
    let before = state(&env);
    env.sim.set_latency(Duration::from_millis(30));
    let mut child = env.spawn(&["apply", "--yes", "--concurrency", "2"]);
    let sim = &env.sim;
    let started = wait_for(&mut child, || sim.dtr().patch_count() >= 6);
    assert!(started, "the repository updates never started");
    sigterm(&child);
    let out = finish(child);
    env.sim.set_latency(Duration::ZERO);
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("interrupted by Ctrl-C or SIGTERM"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Nothing is changed."), "{}", out.stderr);
    assert_eq!(state(&env), before, "settings and repositories are back");
}

/// Killed outright part-way (SIGKILL): the journal says what may have changed, and
/// `rollback --last` puts back every repository that was patched.
#[test]
fn a_streamed_apply_killed_outright_is_rolled_back_from_its_journal() {
    let env = dtr_env(many_pages());
    let before = state(&env);
    env.sim.set_latency(Duration::from_millis(30));
    let mut child = env.spawn(&["apply", "--yes", "--concurrency", "2"]);
    let sim = &env.sim;
    let started = wait_for(&mut child, || sim.dtr().patch_count() >= 6);
    assert!(started, "the repository updates never started");
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    env.sim.set_latency(Duration::ZERO);
    assert_ne!(state(&env), before, "some repositories were changed");
    assert_eq!(manifest(&env)["targets"][0]["state"], "applying");
    // The listing counts what the journal holds, not the nothing known at the start.
    let out = env.run(&["snapshots"]);
    out.assert_code(0);
    let listed: usize = out
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|words| words[1] == "change(s)")
        .and_then(|words| words[0].parse().ok())
        .expect("a change count");
    assert!(listed >= 6, "{}", out.stdout);
    assert!(out.stdout.contains("applying"), "{}", out.stdout);
    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(0);
    assert_eq!(state(&env), before, "every repository patched is back");
}
