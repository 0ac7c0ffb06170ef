//! `stigfix plan`: read-only, in every format.

use crate::support::{CONFIG_PATH, TestEnv, json};

fn plan_lists_stig_changes_without_writing(env: &TestEnv) {
    let out = env.run(&["plan", "--detailed-exitcode"]);
    out.assert_code(2);
    assert!(
        out.stdout.contains("DKER-EE-004370"),
        "no STIG ID in the plan:\n{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("~ trust_configuration.require_content_trust: false -> true"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(&env.url()), "{}", out.stdout);
    assert_eq!(env.sim.write_count(), 0, "{:?}", env.sim.requests());
    assert_eq!(env.count("GET", CONFIG_PATH), 1);
    assert_eq!(env.count("POST", "/auth/login"), 1);
    env.assert_unchanged();
}

#[test]
fn plan_over_https_exits_2_and_writes_nothing() {
    let env = TestEnv::https();
    assert!(env.url().starts_with("https://127.0.0.1:"));
    plan_lists_stig_changes_without_writing(&env);
}

#[test]
fn plan_over_http_exits_2_and_writes_nothing() {
    let env = TestEnv::http();
    assert!(env.url().starts_with("http://127.0.0.1:"));
    plan_lists_stig_changes_without_writing(&env);
}

#[test]
fn plan_without_detailed_exitcode_exits_0() {
    let env = TestEnv::http();
    env.run(&["plan"]).assert_code(0);
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn plan_json_follows_format_version_2() {
    let env = TestEnv::https();
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    let plan = json(&out.stdout);
    assert_eq!(plan["format_version"], 2);
    assert_eq!(plan["stigfix_version"], env!("CARGO_PKG_VERSION"));
    let created = plan["created_at"].as_str().expect("created_at");
    time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("created_at {created:?} is not RFC 3339: {e}"));
    assert_eq!(plan["insecure"], false);
    let targets = plan["targets"].as_array().expect("targets");
    // The cluster's config, then its workloads (read with the same login).
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[1]["kind"], "workload");
    let target = &targets[0];
    assert_eq!(target["kind"], "ucp");
    assert_eq!(target["endpoint"], env.url());
    let fingerprint = target["fingerprint"].as_str().expect("fingerprint");
    assert!(fingerprint.starts_with("sha256:"), "{fingerprint}");
    assert_eq!(fingerprint.len(), "sha256:".len() + 64, "{fingerprint}");
    assert!(
        target["diff"]
            .as_str()
            .expect("diff")
            .starts_with("--- live"),
        "{}",
        target["diff"]
    );
    let changes = target["changes"].as_array().expect("changes");
    assert!(!changes.is_empty());
    for change in changes {
        for key in ["rules", "path", "action", "before", "after"] {
            assert!(
                change.get(key).is_some(),
                "change without `{key}`: {change}"
            );
        }
        assert!(!change["rules"].as_array().expect("rules").is_empty());
    }
    let trust = changes
        .iter()
        .find(|c| c["path"] == "trust_configuration.require_content_trust")
        .expect("a change of require_content_trust");
    assert_eq!(trust["action"], "update");
    assert_eq!(trust["before"], false);
    assert_eq!(trust["after"], true);
    let rules: Vec<&str> = trust["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for id in ["DKER-EE-004370", "DKER-EE-003590", "CNTR-MK-001380"] {
        assert!(rules.contains(&id), "{id} missing from {rules:?}");
    }
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn plan_markdown_on_stdout_and_report_file() {
    let env = TestEnv::http();
    let out = env.run(&["plan", "--format", "markdown"]);
    out.assert_code(0);
    assert!(out.stdout.starts_with("# stigfix plan"), "{}", out.stdout);
    assert!(out.stdout.contains("| STIG ID |"), "{}", out.stdout);
    assert!(out.stdout.contains("DKER-EE-004370"));
    assert!(out.stdout.contains("```diff\n--- live"));

    let report = env.path("plan.md");
    let out = env.run(&[
        "plan",
        "--report",
        report.to_str().unwrap(),
        "--detailed-exitcode",
    ]);
    out.assert_code(2);
    let text = std::fs::read_to_string(&report).expect("report written");
    assert!(text.starts_with("# stigfix plan"), "{text}");
    assert!(text.contains(&format!("## ucp `{}`", env.url())), "{text}");
    assert!(text.contains("DKER-EE-004370"));
    // The text plan still went to stdout.
    assert!(out.stdout.contains("DKER-EE-004370"));
    assert_eq!(env.sim.write_count(), 0);
}

#[test]
fn plan_out_saves_the_json_plan() {
    let env = TestEnv::http();
    let file = env.path("plan.json");
    let out = env.run(&["plan", "--out", file.to_str().unwrap()]);
    out.assert_code(0);
    let saved = json(&std::fs::read_to_string(&file).expect("plan file"));
    assert_eq!(saved["format_version"], 2);
    assert_eq!(saved["targets"][0]["endpoint"], env.url());
    assert!(!out.stdout.contains("\"format_version\""), "{}", out.stdout);
    assert_eq!(env.sim.write_count(), 0);
}

/// An expired waiver makes its rule a finding again and says so in the text plan (it was only in
/// the JSON before).
#[test]
fn an_expired_waiver_is_named_in_the_text_plan() {
    let env = TestEnv::http();
    let site = std::fs::read_to_string(env.path("stigfix.toml"))
        .unwrap()
        .replace("expires = 2099-12-31", "expires = 2026-01-31");
    std::fs::write(env.path("stigfix.toml"), site).unwrap();
    let out = env.run(&["plan", "--color", "never"]);
    out.assert_code(0);
    assert!(
        out.stdout.contains("Waiver expired (assessed again):"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("DKER-EE-002180 (CAT II, V-235821) on ucp:")
            && out
                .stdout
                .contains("the waiver expired on 2026-01-31; status open"),
        "{}",
        out.stdout
    );
}
