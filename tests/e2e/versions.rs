//! Server versions (issue 9): the apply cycle against each simulated UCP/MKE release, a setting
//! the release does not have reported and never written again, MKE 4k and MSR 4 recognised.

use stigfix::sim::{DtrOptions, UcpRelease};

use crate::support::*;

fn env(release: UcpRelease) -> TestEnv {
    TestEnv::start(EnvOptions {
        tls: false,
        ucp_release: release,
        ..EnvOptions::default()
    })
}

/// The status and the first unfixable reason of a rule on the UCP target, from a JSON plan.
fn rule(plan: &serde_json::Value, stig_id: &str) -> (String, String) {
    let rule = plan["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["stig_id"] == stig_id && rule["kind"] == "ucp")
        .unwrap_or_else(|| panic!("no {stig_id} in the plan"));
    (
        rule["status"].as_str().unwrap().to_string(),
        rule["unfixable"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn plan(env: &TestEnv) -> serde_json::Value {
    let out = env.run(&["plan", "--format", "json"]);
    out.assert_code(0);
    json(&out.stdout)
}

/// Every release converges: apply exits 0, the next plan has no change, a second apply makes
/// no write. What the release lacks stays an open finding with the reason — known from its
/// version (`min_tls_version` after UCP 3.1) or learned when it dropped the setting.
#[test]
fn the_apply_cycle_converges_on_every_release() {
    for release in UcpRelease::WITH_CONFIG_TOML {
        let env = env(release);
        let before = plan(&env);
        let product = &before["targets"][0]["product"];
        assert_eq!(product["version"], release.version(), "{release:?}");
        let name = if release.has_mke_name() { "MKE" } else { "UCP" };
        assert_eq!(product["name"], name, "{release:?}");

        let out = env.run(&["apply", "--yes"]);
        out.assert_code(0);
        env.assert_no_changes();
        let writes = env.sim.write_count();
        env.run(&["apply", "--yes"]).assert_code(0);
        assert_eq!(
            env.sim.write_count(),
            writes,
            "{release:?}: a second apply wrote"
        );

        let after = plan(&env);
        let (status, reason) = rule(&after, "DKER-EE-006280");
        match release {
            UcpRelease::Ucp31 => assert_eq!(status, "pass", "{release:?}"),
            _ => {
                assert_eq!(status, "open", "{release:?}");
                assert!(
                    reason.contains(&format!(
                        "{name} {} has no `cluster_config.min_tls_version`",
                        release.version()
                    )),
                    "{release:?}: {reason}"
                );
                // Known from the version: never attempted.
                assert!(
                    !out.stderr.contains("min_tls_version"),
                    "{release:?}: {}",
                    out.stderr
                );
            }
        }
        let (status, reason) = rule(&after, "CNTR-MK-000170");
        if release.has_mke_name() {
            assert_eq!(status, "pass", "{release:?}");
        } else {
            // UCP has no `pre_logon_message`: the first apply learned it when the server
            // dropped it, and said so; the other settings applied and verified.
            assert_eq!(status, "open", "{release:?}");
            assert!(
                reason.contains("it dropped the setting from a verified write"),
                "{release:?}: {reason}"
            );
            assert!(
                out.stderr
                    .contains("has no `cluster_config.pre_logon_message`"),
                "{release:?}: {}",
                out.stderr
            );
            assert!(env.snapshot_dir().join("learned.json").is_file());
        }
        // The content trust settings, which every release has, took.
        assert_eq!(rule(&after, "DKER-EE-004370").0, "pass", "{release:?}");
    }
}

/// A write the server ignores entirely is still a failure, restored and exit 1 — not learned.
#[test]
fn a_write_the_server_ignores_entirely_is_not_a_missing_setting() {
    let env = env(UcpRelease::Ucp33);
    env.sim.ucp().ignore_next_write();
    let out = env.run(&["apply", "--yes"]);
    out.assert_code(1);
    assert!(out.stderr.contains("did not keep it"), "{}", out.stderr);
    assert!(!env.snapshot_dir().join("learned.json").exists());
    env.assert_unchanged();
}

#[test]
fn mke_4k_is_recognised_and_refused_plainly() {
    let env = env(UcpRelease::Mke4);
    let out = env.run(&["plan"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(
        error.contains("is MKE 4 (Kubernetes v1.32.3+k0s)"),
        "{error}"
    );
    assert!(out.stderr.contains("Supported versions"), "{}", out.stderr);
}

#[test]
fn msr_4_is_recognised_and_refused_plainly() {
    let env = TestEnv::start(EnvOptions {
        tls: false,
        ucp: false,
        dtr: Some(DtrOptions {
            harbor: Some("v2.11.0-abc123".into()),
            ..DtrOptions::default()
        }),
        ..EnvOptions::default()
    });
    let out = env.run(&["plan"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(
        error.contains("is MSR 4 (Harbor v2.11.0-abc123)"),
        "{error}"
    );
}

#[test]
fn the_dtr_version_is_in_the_plan() {
    let env = TestEnv::start(EnvOptions {
        tls: false,
        ucp: false,
        dtr: Some(DtrOptions::default()),
        ..EnvOptions::default()
    });
    let plan = plan(&env);
    assert_eq!(plan["targets"][0]["product"]["name"], "MSR");
    assert_eq!(
        plan["targets"][0]["product"]["version"],
        stigfix::sim::DEFAULT_DTR_VERSION
    );
}
