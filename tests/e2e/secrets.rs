//! The backup passphrase in the cluster's config never leaves it: not on stdout/stderr of any
//! command, not in a saved plan, a report or a snapshot manifest.

use crate::support::{PASSPHRASE, PASSWORD, TestEnv, assert_absent, json};

#[test]
fn the_passphrase_never_appears_in_any_output_or_file() {
    let env = TestEnv::https();
    assert!(
        env.original.contains(PASSPHRASE),
        "the fixture lost its secret"
    );
    let plan_file = env.path("plan.json");
    let report = env.path("plan.md");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("plan text", vec!["plan"]),
        ("plan json", vec!["plan", "--format", "json"]),
        ("plan markdown", vec!["plan", "--format", "markdown"]),
        (
            "plan --out --report",
            vec![
                "plan",
                "--out",
                plan_file.to_str().unwrap(),
                "--report",
                report.to_str().unwrap(),
            ],
        ),
        ("apply refused", vec!["apply"]),
        (
            "apply saved plan",
            vec!["apply", plan_file.to_str().unwrap(), "--yes"],
        ),
        ("plan after apply", vec!["plan", "--format", "json"]),
        ("snapshots", vec!["snapshots"]),
        ("snapshots json", vec!["snapshots", "--format", "json"]),
        ("rollback refused", vec!["rollback", "--last"]),
        ("rollback", vec!["rollback", "--last", "--yes"]),
        ("apply", vec!["apply", "--yes"]),
    ];
    for (what, args) in &runs {
        let out = env.run(args);
        assert!(
            out.code == 0 || out.code == 1,
            "{what}: exit {}\n{}",
            out.code,
            out.stderr
        );
        assert_absent(&out.all(), PASSPHRASE, what);
        assert_absent(&out.all(), PASSWORD, what);
    }
    let plan_text = std::fs::read_to_string(&plan_file).unwrap();
    assert_absent(&plan_text, PASSPHRASE, "the saved plan");
    let report_text = std::fs::read_to_string(&report).unwrap();
    assert_absent(&report_text, PASSPHRASE, "the report");
    let plan = json(&plan_text);
    assert_eq!(plan["format_version"], 2);
    // The apply/rollback/apply round trips kept the secret in the cluster.
    assert_eq!(
        env.sim.ucp().get("backup_schedule_config.passphrase"),
        Some(toml::Value::String(PASSPHRASE.into()))
    );
    for dir in env.snapshot_dirs() {
        let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        assert_absent(&manifest, PASSPHRASE, "a snapshot manifest");
    }
}

#[test]
fn failure_messages_do_not_show_the_passphrase() {
    let env = TestEnv::http();
    env.sim.ucp().ignore_next_write();
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(1);
    assert_absent(&out.all(), PASSPHRASE, "a failed apply");
    env.sim.ucp().malformed_next_read();
    let out = env.run(&["plan"]);
    out.assert_code(1);
    assert_absent(&out.all(), PASSPHRASE, "a malformed read");
}

/// The passphrase changes after the apply (someone rotates it in the web UI). The rollback puts
/// back only what the apply wrote, so the rotated passphrase stays, and neither value is shown.
#[test]
fn a_rollback_keeps_a_rotated_passphrase_and_shows_neither_value() {
    let env = TestEnv::http();
    env.run(&["apply", "--yes"]).assert_code(0);
    let rotated_secret = "rotated-Passphrase-e2e-41b7";
    let rotated = env.config().replace(PASSPHRASE, rotated_secret);
    assert_ne!(rotated, env.config());
    env.sim.ucp().set_config_toml(&rotated).unwrap();

    let out = env.run(&["rollback", "--last", "--yes"]);
    out.assert_code(0);
    assert!(
        !out.stdout.contains("backup_schedule_config.passphrase"),
        "the rollback must not touch the passphrase:\n{}",
        out.stdout
    );
    assert_absent(&out.all(), PASSPHRASE, "the rollback's output");
    assert_absent(&out.all(), rotated_secret, "the rollback's output");
    assert_eq!(
        env.config(),
        env.original.replace(PASSPHRASE, rotated_secret)
    );
    for dir in env.snapshot_dirs() {
        let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        assert_absent(&manifest, PASSPHRASE, "a snapshot manifest");
        assert_absent(&manifest, rotated_secret, "a snapshot manifest");
    }
}

/// A site playbook that checks the backup passphrase: the rule's evidence names the setting and
/// shows `(redacted)`, never the value, in text, JSON and Markdown (it used to print it: only the
/// diff and change lines were redacted).
#[test]
fn a_rule_that_reads_a_secret_shows_it_redacted_everywhere() {
    let env = TestEnv::http();
    // The playbook below replaces the shipped one: no site values for the replaced one.
    std::fs::write(env.path("stigfix.toml"), "").unwrap();
    let playbook = env.path("secret-check.toml");
    std::fs::write(
        &playbook,
        "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n\
         description = \"a site that checks the backup passphrase is set\"\n\n\
         [[rules]]\nid = \"DKER-EE-001080\"\ntarget = \"ucp\"\nmode = \"check\"\n\
         settings = [{ path = \"backup_schedule_config.passphrase\", one_of = [\"a\", \"b\"] }]\n",
    )
    .unwrap();
    let playbook = playbook.to_str().unwrap();
    for format in ["text", "json", "markdown"] {
        let out = env.run(&["plan", "--playbook", playbook, "--format", format]);
        out.assert_code(0);
        assert!(
            out.stdout.contains("backup_schedule_config.passphrase"),
            "{format}: the rule's evidence is missing:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("(redacted)"),
            "{format}:\n{}",
            out.stdout
        );
        assert_absent(&out.all(), PASSPHRASE, format);
    }
}
