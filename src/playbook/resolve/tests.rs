use super::*;
use crate::playbook::parse_playbook;

fn playbook(body: &str, name: &str) -> Playbook {
    parse_playbook(
        &format!(
            "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n{body}"
        ),
        name,
        None,
    )
    .unwrap()
}

#[test]
fn conflicting_rules_are_a_load_error_naming_both() {
    let a = playbook(
        "[[rules]]\nid = \"DKER-EE-002490\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.lifetime_minutes\", value = 10 }]\n[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.lifetime_minutes\", value = 15 }]\n",
        "a.toml",
    );
    let error = resolve(
        vec![],
        vec![a],
        &SiteFile::default(),
        &RuleFilter::default(),
    )
    .unwrap_err();
    assert!(
        error.message().contains("rule DKER-EE-002490"),
        "{}",
        error.message()
    );
    assert!(
        error.message().contains("rule DKER-EE-001000"),
        "{}",
        error.message()
    );
    assert!(
        error.message().starts_with("a.toml:7:"),
        "{}",
        error.message()
    );
}

#[test]
fn variables_come_from_the_site_file_or_the_default() {
    let body = "[variables.limit]\ntype = \"integer\"\ndefault = 5\nmin = 1\n[variables.signers]\ntype = \"string-array\"\n[[rules]]\nid = \"DKER-EE-001000\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.per_user_limit\", value = \"${limit}\" }]\n[[rules]]\nid = \"DKER-EE-004370\"\ntarget = \"ucp\"\nsettings = [{ path = \"trust_configuration.require_signature_from\", value = \"${signers}\" }]\n";
    let set = resolve(
        vec![],
        vec![playbook(body, "p.toml")],
        &SiteFile::default(),
        &RuleFilter::default(),
    )
    .unwrap();
    assert_eq!(
        set.rules[0].settings[0].value,
        SettingValue::Value(toml::Value::Integer(5))
    );
    assert_eq!(
        set.rules[1].settings[0].value,
        SettingValue::Unset {
            variable: "signers".into()
        }
    );

    let site = SiteFile::parse(
        "[variables]\nlimit = 0\n",
        std::path::Path::new("site.toml"),
    )
    .unwrap();
    let error = resolve(
        vec![],
        vec![playbook(body, "p.toml")],
        &site,
        &RuleFilter::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.message(),
        "site.toml:2:1: variable `limit` must be at least 1, not 0"
    );
}

#[test]
fn filters_narrow_the_rules() {
    let set = resolve(
        crate::playbook::shipped().unwrap(),
        vec![],
        &SiteFile::default(),
        &RuleFilter {
            rules: vec!["V-235847".into()],
            min_severity: None,
        },
    )
    .unwrap();
    assert_eq!(set.rules.len(), 1);
    assert_eq!(set.rules[0].stig_id(), "DKER-EE-004370");
    let error = resolve(
        crate::playbook::shipped().unwrap(),
        vec![],
        &SiteFile::default(),
        &RuleFilter {
            rules: vec!["DKER-EE-999998".into()],
            min_severity: None,
        },
    )
    .unwrap_err();
    assert!(error.message().contains("DKER-EE-999998"));
    assert_eq!(error.status(), crate::error::ExitStatus::Usage);
    let error = resolve(
        crate::playbook::shipped().unwrap(),
        vec![],
        &SiteFile::default(),
        &RuleFilter {
            rules: vec!["dker-ee-00437".into()],
            min_severity: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        error.message(),
        "--rule dker-ee-00437: no playbook has that rule; did you mean DKER-EE-004370?"
    );
    assert_eq!(error.status(), crate::error::ExitStatus::Usage);
}

fn shipped_with(site: &str) -> Result<RuleSet> {
    let site = SiteFile::parse(site, std::path::Path::new("site.toml")).unwrap();
    resolve(
        crate::playbook::shipped().unwrap(),
        vec![],
        &site,
        &RuleFilter::default(),
    )
}

#[test]
fn site_values_that_defeat_their_rule_are_refused() {
    let error = shipped_with("[variables]\ndod_banner = \"\"\n").unwrap_err();
    assert_eq!(
        error.message(),
        "site.toml:2:1: variable `dod_banner` must not be empty (`non_empty = true`)"
    );
    let error = shipped_with("[variables]\ndod_banner = \"Authorized use only.\"\n").unwrap_err();
    assert!(
        error.message().starts_with(
            "site.toml:2:1: variable `dod_banner` must start with \"You are accessing a U.S. Government (USG) Information System (IS)"
        ),
        "{}",
        error.message()
    );
    let error = shipped_with("[variables]\nrequire_signature_from = []\n").unwrap_err();
    assert_eq!(
        error.message(),
        "site.toml:2:1: variable `require_signature_from` must list at least one item (`non_empty = true`)"
    );
    // The STIG's banner, wrapped differently, is accepted.
    let banner = crate::playbook::shipped()
        .unwrap()
        .iter()
        .flat_map(|playbook| playbook.variables.clone())
        .find(|variable| variable.name == "dod_banner")
        .and_then(|variable| variable.default)
        .unwrap();
    let rewrapped = banner
        .as_str()
        .unwrap()
        .replace("\n\n", "\n")
        .replace(". ", ".\n");
    let set = shipped_with(&format!(
        "[variables]\nrequire_signature_from = [\"org/signers\"]\ndod_banner = {}\n",
        toml::Value::String(rewrapped.clone())
    ))
    .unwrap();
    let rule = set
        .rules
        .iter()
        .find(|rule| rule.stig_id() == "CNTR-MK-000170")
        .unwrap();
    assert_eq!(
        rule.settings[0].value,
        SettingValue::Value(toml::Value::String(rewrapped))
    );
}

#[test]
fn a_variable_only_a_replaced_playbook_declared_names_both_playbooks() {
    let shipped = crate::playbook::shipped().unwrap();
    let mke = parse_playbook(
        "[playbook]\nbenchmark = \"Mirantis_Kubernetes_Engine_STIG\"\nrelease = \"V2R1\"\n[[rules]]\nid = \"CNTR-MK-000940\"\ntarget = \"ucp\"\nsettings = [{ path = \"auth.sessions.lifetime_minutes\", value = 10 }]\n",
        "my-mke.toml",
        None,
    )
    .unwrap();
    let site = SiteFile::parse(
        "[variables]\nsession_per_user_limit = 3\ndod_banner = \"You are accessing\"\n",
        std::path::Path::new("site.toml"),
    )
    .unwrap();
    let error = resolve(shipped, vec![mke], &site, &RuleFilter::default()).unwrap_err();
    assert_eq!(
        error.message(),
        "site.toml:3:1: no playbook declares variable `dod_banner`: my-mke.toml replaced (shipped) playbooks/mke-v2r1.toml (Mirantis_Kubernetes_Engine_STIG V2R1), which declared it; declare it in my-mke.toml or remove it from the site file"
    );
    // A name nobody declared still lists the declared ones.
    let site = SiteFile::parse(
        "[variables]\nbanner = 1\n",
        std::path::Path::new("site.toml"),
    )
    .unwrap();
    let error = resolve(
        crate::playbook::shipped().unwrap(),
        vec![],
        &site,
        &RuleFilter::default(),
    )
    .unwrap_err();
    assert!(
        error.message().starts_with(
            "site.toml:2:1: no playbook declares variable `banner` (declared: allowed_capabilities, "
        ),
        "{}",
        error.message()
    );
}
