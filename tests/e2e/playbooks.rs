//! Playbook and site-file validation as the CLI reports it (#13): organisation values that would
//! defeat their rule, playbooks that would loosen a file mode, duplicate waivers, unknown
//! `--rule`s, and a variable only a replaced playbook declared. Every refusal happens before
//! anything is contacted or written.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use stigfix::sim::host::ubuntu_node;

use crate::support::{EnvOptions, Output, TestEnv};

const DOCKER_HEADER: &str =
    "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n";

/// Replace the test's site file; returns its path as messages name it.
fn site(env: &TestEnv, text: &str) -> String {
    let path = env.path("stigfix.toml");
    fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Write a playbook into the test folder; runs work there, so `name` is how messages name it.
fn playbook(env: &TestEnv, name: &str, text: &str) {
    fs::write(env.path(name), text).unwrap();
}

/// Asserts a refusal (exit `code`) whose first error line is exactly `error: {message}`, and
/// that nothing was contacted.
#[track_caller]
fn assert_refused(env: &TestEnv, out: &Output, code: i32, message: &str) {
    out.assert_code(code);
    assert_eq!(
        out.error_line(),
        format!("error: {message}"),
        "{}",
        out.stderr
    );
    assert!(
        env.sim.requests().is_empty(),
        "contacted: {:?}",
        env.sim.requests()
    );
}

#[test]
fn an_empty_banner_or_signer_list_is_refused_with_its_constraint() {
    let env = TestEnv::http();
    let file = site(
        &env,
        "[variables]\nrequire_signature_from = [\"org/signers\"]\ndod_banner = \"\"\n",
    );
    let expected =
        format!("{file}:3:1: variable `dod_banner` must not be empty (`non_empty = true`)");
    for args in [
        &["plan"][..],
        &["apply", "--yes"],
        &["playbook", "validate"],
    ] {
        let out = env.run(args);
        assert_refused(&env, &out, 1, &expected);
    }
    env.assert_unchanged();

    let file = site(
        &env,
        "[variables]\nrequire_signature_from = [\"org/signers\"]\ndod_banner = \"Authorized use only.\"\n",
    );
    let out = env.run(&["plan"]);
    out.assert_code(1);
    assert!(
        out.error_line().starts_with(&format!(
            "error: {file}:3:1: variable `dod_banner` must start with \"You are accessing a U.S. Government (USG) Information System (IS)"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.error_line().ends_with("(`starts_with`)"),
        "{}",
        out.stderr
    );

    let file = site(&env, "[variables]\nrequire_signature_from = []\n");
    for args in [&["plan"][..], &["playbook", "validate"]] {
        let out = env.run(args);
        assert_refused(
            &env,
            &out,
            1,
            &format!(
                "{file}:2:1: variable `require_signature_from` must list at least one item (`non_empty = true`)"
            ),
        );
    }

    // The STIG's banner, wrapped differently, is accepted and written.
    let banner = "You are accessing a U.S. Government (USG) Information System (IS) that is provided for USG-authorized use only.\nBy using this IS (which includes any device attached to this IS), you consent to the following conditions:\n* The USG routinely intercepts and monitors communications on this IS for purposes including, but not limited to, penetration testing, COMSEC monitoring, network operations and defense, personnel misconduct (PM), law enforcement (LE), and counterintelligence (CI) investigations.\n* At any time, the USG may inspect and seize data stored on this IS.\n* Communications using, or data stored on, this IS are not private, are subject to routine monitoring, interception, and search, and may be disclosed or used for any USG-authorized purpose.\n* This IS includes security measures (e.g., authentication and access controls) to protect USG interests -- not for your personal benefit or privacy.\n* Notwithstanding the above, using this IS does not constitute consent to PM, LE or CI investigative searching or monitoring of the content of privileged communications, or work product, related to personal representation or services by attorneys, psychotherapists, or clergy, and their assistants.\n  Such communications and work product are private and confidential.\n  See User Agreement for details.";
    site(
        &env,
        &format!(
            "[variables]\nrequire_signature_from = [\"org/signers\"]\ndod_banner = {}\n",
            toml::Value::String(banner.into())
        ),
    );
    env.run(&["playbook", "validate"]).assert_code(0);
    env.run(&["apply", "--yes", "--rule", "CNTR-MK-000170"])
        .assert_code(0);
    let config: toml::Table = env.config().parse().unwrap();
    assert_eq!(
        config["cluster_config"]["pre_logon_message"].as_str(),
        Some(banner)
    );
}

#[test]
fn a_playbook_that_would_loosen_a_file_mode_is_refused_and_nothing_changes() {
    let mut env = TestEnv::start(EnvOptions {
        ucp: false,
        ..EnvOptions::default()
    });
    let root = env.path("node1");
    ubuntu_node(&root).unwrap();
    env.set_env("STIGFIX_HOST_ROOT", &root);
    site(&env, "");
    let key: PathBuf = root.join("etc/docker/tls/server-key.pem");
    let mode = || fs::metadata(&key).unwrap().mode() & 0o7777;
    assert_eq!(mode(), 0o644);

    playbook(
        &env,
        "loose.toml",
        &format!(
            "{DOCKER_HEADER}\n[[rules]]\nid = \"DKER-EE-005300\"\ntarget = \"host\"\nsettings = [{{ path = \"files.tls_key.mode\", value = \"0777\" }}]\n"
        ),
    );
    let expected = "loose.toml:8:52: rule DKER-EE-005300: `files.tls_key.mode` is a file mode: give `mode_within` (its fix only ever clears bits), not `value`, which could loosen it";
    let out = env.run(&["playbook", "validate", "loose.toml"]);
    assert_refused(&env, &out, 1, expected);
    let out = env.run(&["apply", "--yes", "--playbook", "loose.toml"]);
    assert_refused(&env, &out, 1, expected);
    assert_eq!(mode(), 0o644, "the key's mode is untouched");
    assert!(env.snapshot_dirs().is_empty());

    // `mode_within` wider than the shipped playbook's for the same rule.
    playbook(
        &env,
        "wide.toml",
        &format!(
            "{DOCKER_HEADER}\n[[rules]]\nid = \"DKER-EE-005300\"\ntarget = \"host\"\nsettings = [{{ path = \"files.tls_key.mode\", mode_within = \"0640\" }}]\n"
        ),
    );
    for args in [
        &["playbook", "validate", "wide.toml"][..],
        &["plan", "--playbook", "wide.toml"],
    ] {
        let out = env.run(args);
        out.assert_code(1);
        let error = out.error_line();
        assert!(
            error.starts_with(
                "error: wide.toml:8:58: rule DKER-EE-005300: `mode_within = \"0640\"` on `files.tls_key.mode` allows bits 0240 that the shipped playbook does not (0400 or stricter, (shipped) playbooks/docker-enterprise-2x-v2r2.toml:"
            ),
            "{args:?}: {}",
            out.stderr
        );
    }

    // Narrower than the shipped playbook (0444 for the CA) is fine, and only ever clears bits.
    playbook(
        &env,
        "strict.toml",
        &format!(
            "{DOCKER_HEADER}\n[[rules]]\nid = \"DKER-EE-005260\"\ntarget = \"host\"\nsettings = [{{ path = \"files.tls_ca.mode\", mode_within = \"0440\" }}]\n"
        ),
    );
    env.run(&["playbook", "validate", "strict.toml"])
        .assert_code(0);
    let ca = root.join("etc/docker/tls/ca.pem");
    assert_eq!(fs::metadata(&ca).unwrap().mode() & 0o7777, 0o644);
    env.run(&[
        "apply",
        "--yes",
        "--playbook",
        "strict.toml",
        "--rule",
        "DKER-EE-005260",
    ])
    .assert_code(0);
    assert_eq!(fs::metadata(&ca).unwrap().mode() & 0o7777, 0o440);
    assert_eq!(mode(), 0o644, "the key is no rule of this run");
}

#[test]
fn two_waivers_for_one_rule_name_both() {
    let env = TestEnv::http();
    let waiver = "[[waivers]]\nrule = \"DKER-EE-002180\"\njustification = \"LDAP is used.\"\nticket = \"CHG-1\"\n";
    let file = site(
        &env,
        &format!(
            "[variables]\nrequire_signature_from = [\"org/signers\"]\n\n{waiver}\n{}",
            waiver.replace("CHG-1", "CHG-2")
        ),
    );
    let expected = format!(
        "{file}:9:1: a second waiver for DKER-EE-002180 (the first is at {file}:4:1): keep one"
    );
    for args in [&["plan"][..], &["playbook", "validate"]] {
        let out = env.run(args);
        assert_refused(&env, &out, 1, &expected);
    }
}

#[test]
fn an_unknown_rule_is_a_usage_error_with_the_nearest_id() {
    let env = TestEnv::http();
    for args in [
        &["plan", "--rule", "DKER-EE-00437"][..],
        &["apply", "--yes", "--rule", "dker-ee-00437"],
    ] {
        let out = env.run(args);
        out.assert_code(64);
        assert!(
            out.error_line()
                .ends_with("-00437: no playbook has that rule; did you mean DKER-EE-004370?"),
            "{}",
            out.stderr
        );
        assert!(env.sim.requests().is_empty(), "{:?}", env.sim.requests());
    }
    let out = env.run(&["plan", "--rule", "NOTHING-LIKE-IT"]);
    out.assert_code(64);
    assert_eq!(
        out.error_line(),
        "error: --rule NOTHING-LIKE-IT: no playbook has that rule"
    );
    env.assert_unchanged();
}

#[test]
fn a_variable_only_the_replaced_playbook_declared_names_both_playbooks() {
    let env = TestEnv::http();
    // The default site file sets `session_per_user_limit`, which only the shipped Docker
    // playbook declares.
    playbook(
        &env,
        "mine.toml",
        &format!(
            "{DOCKER_HEADER}\n[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = [{{ path = \"trust_configuration.require_content_trust\", value = true }}]\n"
        ),
    );
    let file = env.path("stigfix.toml").display().to_string();
    let expected = format!(
        "{file}:2:1: no playbook declares variable `session_per_user_limit`: mine.toml replaced (shipped) playbooks/docker-enterprise-2x-v2r2.toml (Docker_Enterprise_2-x_Linux-UNIX_STIG V2R2), which declared it; declare it in mine.toml or remove it from the site file"
    );
    for args in [
        &["plan", "--playbook", "mine.toml"][..],
        &["playbook", "validate", "mine.toml"],
        &["playbook", "validate", "--playbook", "mine.toml"],
    ] {
        let out = env.run(args);
        out.assert_code(1);
        assert_eq!(
            out.error_line(),
            format!("error: {expected}"),
            "{args:?}\n{}",
            out.stderr
        );
    }
    assert!(env.sim.requests().is_empty());
}
