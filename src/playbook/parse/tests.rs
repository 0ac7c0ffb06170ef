use super::*;
use crate::playbook::{Mode, shipped};

const HEADER: &str =
    "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n";

fn parse(body: &str) -> Result<Playbook> {
    parse_playbook(&format!("{HEADER}{body}"), "test.toml", None)
}

#[test]
fn shipped_playbooks_are_valid() {
    let playbooks = shipped().unwrap();
    assert_eq!(playbooks.len(), 2);
    assert!(playbooks.iter().all(|playbook| !playbook.rules.is_empty()));
}

#[test]
fn a_rule_takes_its_metadata_from_the_benchmark() {
    let playbook = parse(
        "[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = [{ path = \"trust_configuration.require_content_trust\", value = true }]\n",
    )
    .unwrap();
    let rule = &playbook.rules[0];
    assert_eq!(rule.meta.vuln_id, "V-235847");
    assert_eq!(rule.mode, Mode::Enforce);
    assert_eq!(rule.settings[0].location.line, 7);
}

#[test]
fn unknown_rule_id_names_file_line_column_and_the_nearest_id() {
    let error =
        parse("[[rules]]\nid = \"DKER-EE-00437\"\ntarget = \"ucp\"\nsettings = []\n").unwrap_err();
    assert_eq!(
        error.message(),
        "test.toml:5:6: unknown STIG ID `DKER-EE-00437`: not in Docker_Enterprise_2-x_Linux-UNIX_STIG V2R2; did you mean DKER-EE-004370?"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let error = parse(
        "typo = 1\n[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"moon\"\n[[rules]]\nid = \"DKER-EE-001080\"\ntarget = \"ucp\"\nmode = \"sometimes\"\nsettings = []\n",
    )
    .unwrap_err();
    let message = error.message();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 3, "{}", error.message());
    assert!(lines[0].starts_with("test.toml:4:1: unknown key `typo`"));
    assert!(lines[1].contains("unknown target `moon`"));
    assert!(lines[2].contains("unknown mode `sometimes`"));
}

#[test]
fn invalid_toml_is_located() {
    let error = parse("[[rules]\n").unwrap_err();
    assert!(
        error.message().starts_with("test.toml:4:"),
        "{}",
        error.message()
    );
    assert!(error.message().contains("invalid TOML"));
}

#[test]
fn enforced_settings_need_a_value_and_variables_must_exist() {
    let error = parse(
        "[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.per_user_limit\", min = 1 }]\n",
    )
    .unwrap_err();
    assert!(
        error.message().contains("needs a `value`"),
        "{}",
        error.message()
    );
    let error = parse(
        "[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.per_user_limit\", value = \"${limit}\" }]\n",
    )
    .unwrap_err();
    assert!(
        error.message().contains("`${limit}` names no variable"),
        "{}",
        error.message()
    );
}

#[test]
fn variable_defaults_are_type_checked() {
    let error = parse(
        "[variables.limit]\ntype = \"integer\"\ndefault = \"three\"\n[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.per_user_limit\", value = \"${limit}\" }]\n",
    )
    .unwrap_err();
    assert!(
        error.message().contains("must be of type integer"),
        "{}",
        error.message()
    );
}

#[test]
fn wrong_release_is_refused() {
    let error = parse_playbook(
        "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V1R1\"\n[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = []\n",
        "old.toml",
        None,
    )
    .unwrap_err();
    assert!(
        error
            .message()
            .starts_with("old.toml:3:11: the playbook is for release V1R1")
    );
}

#[test]
fn variable_constraints_are_parsed_and_checked_against_the_default() {
    let rule = "[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = [{ path = \"trust_configuration.require_signature_from\", value = \"${signers}\" }]\n";
    let playbook = parse(&format!(
        "[variables.signers]\ntype = \"string-array\"\nnon_empty = true\n{rule}"
    ))
    .unwrap();
    assert!(playbook.variables[0].non_empty);

    let error = parse(&format!(
        "[variables.signers]\ntype = \"string-array\"\nnon_empty = true\ndefault = []\n{rule}"
    ))
    .unwrap_err();
    assert_eq!(
        error.message(),
        "test.toml:7:11: default: variable `signers` must list at least one item (`non_empty = true`)"
    );

    let error = parse(&format!(
        "[variables.signers]\ntype = \"string-array\"\nstarts_with = \"x\"\nnon_empty = \"yes\"\n{rule}"
    ))
    .unwrap_err();
    let message = error.message();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 2, "{}", error.message());
    assert_eq!(
        lines[0],
        "test.toml:7:13: `non_empty` in variable `signers` must be true or false"
    );
    assert_eq!(
        lines[1],
        "test.toml:6:15: variable `signers`: `starts_with` applies to string variables, not string-array"
    );
}

#[test]
fn the_shipped_banner_default_meets_its_own_constraints() {
    let playbooks = shipped().unwrap();
    let banner = playbooks
        .iter()
        .flat_map(|playbook| &playbook.variables)
        .find(|variable| variable.name == "dod_banner")
        .unwrap();
    assert!(banner.non_empty);
    assert!(banner.starts_with.is_some());
    assert!(banner.contains.len() >= 5, "{:?}", banner.contains);
    assert!(banner.check(banner.default.as_ref().unwrap()).is_ok());
    assert!(banner.check(&toml::Value::String(String::new())).is_err());
    let signers: Vec<_> = playbooks
        .iter()
        .flat_map(|playbook| &playbook.variables)
        .filter(|variable| variable.name == "require_signature_from")
        .collect();
    assert_eq!(signers.len(), 2);
    assert!(signers.iter().all(|variable| variable.non_empty));
}

fn host_rule(id: &str, setting: &str) -> String {
    format!("[[rules]]\nid = \"{id}\"\ntarget = \"host\"\nsettings = [{setting}]\n")
}

#[test]
fn a_file_mode_is_never_written_as_a_value() {
    let error = parse(&host_rule(
        "DKER-EE-005300",
        "{ path = \"files.tls_key.mode\", value = \"0777\" }",
    ))
    .unwrap_err();
    assert_eq!(
        error.message(),
        "test.toml:7:52: rule DKER-EE-005300: `files.tls_key.mode` is a file mode: give `mode_within` (its fix only ever clears bits), not `value`, which could loosen it"
    );
    let error = parse(&host_rule(
        "DKER-EE-005240",
        "{ path = \"files.registry_certs.*.mode\", mode_within = \"0444\", one_of = [\"0444\", \"0666\"] }",
    ))
    .unwrap_err();
    assert!(
        error.message().starts_with("test.toml:7:")
            && error
                .message()
                .contains("not `one_of`, which could loosen it"),
        "{}",
        error.message()
    );
    let error = parse(
        "[[rules]]\nid = \"DKER-EE-005300\"\ntarget = \"host\"\nmode = \"check\"\nsettings = [{ path = \"files.tls_key.mode\", not_in = [\"0777\"] }]\n",
    )
    .unwrap_err();
    assert_eq!(
        error.message(),
        "test.toml:8:13: rule DKER-EE-005300: `files.tls_key.mode` is a file mode and needs `mode_within` (e.g. \"0644\")"
    );
    // `mode` of another target is no file mode.
    parse(
        "[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = [{ path = \"x.mode\", value = \"0777\" }]\n",
    )
    .unwrap();
}

#[test]
fn a_user_playbook_may_narrow_the_shipped_file_modes_but_not_widen_them() {
    let bounds = ModeBounds::of(&shipped().unwrap());
    let user = |setting: &str| {
        parse_bounded(
            &format!("{HEADER}{}", host_rule("DKER-EE-005300", setting)),
            "user.toml",
            None,
            &bounds,
        )
    };
    let error = user("{ path = \"files.tls_key.mode\", mode_within = \"0640\" }").unwrap_err();
    let message = error.message();
    assert!(
        message.starts_with(
            "user.toml:7:58: rule DKER-EE-005300: `mode_within = \"0640\"` on `files.tls_key.mode` allows bits 0240 that the shipped playbook does not (0400 or stricter, (shipped) playbooks/docker-enterprise-2x-v2r2.toml:"
        ),
        "{message}"
    );
    assert!(message.ends_with("a playbook may only make a mode stricter"));
    user("{ path = \"files.tls_key.mode\", mode_within = \"0400\" }").unwrap();
    user("{ path = \"files.tls_key.mode\", mode_within = \"0000\" }").unwrap();
    // Another path under the same rule is held to the rule's strictest mode.
    let error = user("{ path = \"files.tls_ca.mode\", mode_within = \"0444\" }").unwrap_err();
    assert!(
        error.message().contains("allows bits 0044"),
        "{}",
        error.message()
    );
    // Without the shipped bounds (a playbook's own validation) any narrowing mask is fine.
    parse(&host_rule(
        "DKER-EE-005300",
        "{ path = \"files.tls_key.mode\", mode_within = \"0640\" }",
    ))
    .unwrap();
}

#[test]
fn prevents_names_other_rules_of_the_benchmark_and_needs_settings() {
    let playbook = parse(
        "[[rules]]\nid = \"DKER-EE-001800\"\ntarget = \"host\"\nsettings = [{ path = \"dockerd.insecure_registries\", value = [] }]\nprevents = [\"DKER-EE-002000\"]\nnote = \"Prevents DKER-EE-002000.\"\n",
    )
    .unwrap();
    assert_eq!(playbook.rules[0].prevents, ["DKER-EE-002000"]);
    assert!(playbook.rules[0].is_prevention());

    let error = parse(
        "[[rules]]\nid = \"DKER-EE-001800\"\ntarget = \"host\"\nsettings = [{ path = \"dockerd.insecure_registries\", value = [] }]\nprevents = [\"DKER-EE-00200\", \"DKER-EE-001800\"]\n",
    )
    .unwrap_err();
    let message = error.message();
    assert!(
        message.contains(
            "test.toml:8:12: rule DKER-EE-001800: `prevents` names `DKER-EE-00200`, not in Docker_Enterprise_2-x_Linux-UNIX_STIG V2R2; did you mean DKER-EE-002000?"
        ),
        "{message}"
    );
    assert!(
        message.contains("rule DKER-EE-001800: `prevents` names the rule itself"),
        "{message}"
    );

    let error = parse(
        "[[rules]]\nid = \"DKER-EE-001170\"\ntarget = \"ucp\"\nmode = \"manual\"\nnote = \"Review the grants.\"\nprevents = [\"DKER-EE-002000\"]\n",
    )
    .unwrap_err();
    assert!(
        error
            .message()
            .contains("`prevents` needs settings that prevent something (mode enforce or check), not mode manual"),
        "{}",
        error.message()
    );
    let error = parse(
        "[[rules]]\nid = \"DKER-EE-001800\"\ntarget = \"host\"\nsettings = [{ path = \"dockerd.insecure_registries\", value = [] }]\nprevents = \"DKER-EE-002000\"\n",
    )
    .unwrap_err();
    assert!(
        error
            .message()
            .contains("`prevents` must be an array of STIG IDs"),
        "{}",
        error.message()
    );
}

#[test]
fn one_of_and_not_in_take_a_string_array_variable() {
    let playbook = parse(
        "[variables.allowed]\ntype = \"string-array\"\ndescription = \"x\"\n[[rules]]\nid = \"DKER-EE-001950\"\ntarget = \"dtr\"\nmode = \"check\"\nsettings = [{ path = \"containers.*.cap_add.*\", one_of = \"${allowed}\" }]\n",
    )
    .unwrap();
    let setting = &playbook.rules[0].settings[0];
    assert_eq!(setting.one_of_variable.as_deref(), Some("allowed"));
    assert!(setting.one_of.is_none() && setting.has_constraint());
    assert_eq!(
        setting.describe_requirement(None),
        "containers.*.cap_add.* one of ${allowed}"
    );

    let error = parse(
        "[variables.limit]\ntype = \"integer\"\ndescription = \"x\"\n[[rules]]\nid = \"DKER-EE-001950\"\ntarget = \"dtr\"\nmode = \"check\"\nsettings = [{ path = \"a.*\", one_of = \"${limit}\" }, { path = \"b.*\", not_in = \"${nobody}\" }, { path = \"c\", one_of = \"x\" }]\n",
    )
    .unwrap_err();
    let message = error.message();
    assert!(
        message
            .contains("`one_of = \"${limit}\"` needs a string-array variable; `limit` is integer"),
        "{message}"
    );
    assert!(
        message.contains("`${nobody}` names no variable of this playbook"),
        "{message}"
    );
    assert!(
        message.contains("`one_of` must be an array or \"${variable}\""),
        "{message}"
    );
}
