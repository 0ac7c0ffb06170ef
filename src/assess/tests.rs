use super::*;
use crate::playbook::{RuleFilter, resolve, shipped};
use crate::site::SiteFile;

fn rules(site: &SiteFile) -> Vec<ResolvedRule> {
    resolve(shipped().unwrap(), vec![], site, &RuleFilter::default())
        .unwrap()
        .rules
        .iter()
        .filter(|rule| rule.rule.target == crate::targets::ucp::KIND)
        .cloned()
        .collect()
}

fn assess_text(text: &str, site: &SiteFile) -> (Vec<RuleResult>, Vec<Edit>) {
    let table: toml::Table = toml::from_str(text).unwrap();
    let rules = rules(site);
    assess(
        rules.iter(),
        &table,
        time::macros::date!(2026 - 11 - 22),
        None,
    )
}

#[test]
fn one_setting_shared_by_rules_is_one_edit_tagged_with_all_of_them() {
    let (results, edits) = assess_text(
        "[trust_configuration]\nrequire_content_trust = false\n",
        &SiteFile::default(),
    );
    let trust: Vec<&Edit> = edits
        .iter()
        .filter(|edit| edit.path.to_string() == "trust_configuration.require_content_trust")
        .collect();
    assert_eq!(trust.len(), 1);
    assert_eq!(
        trust[0].rules,
        ["DKER-EE-003590", "DKER-EE-004370", "CNTR-MK-001380"]
    );
    assert_eq!(trust[0].before, Some(toml::Value::Boolean(false)));
    let ldap = results
        .iter()
        .find(|result| result.stig_id == "DKER-EE-001100")
        .unwrap();
    assert_eq!(ldap.status, Status::Open);
}

#[test]
fn waivers_and_unset_variables_are_reported() {
    let site = SiteFile::parse(
        "[[waivers]]\nrule = \"DKER-EE-002180\"\njustification = \"LDAP used\"\nticket = \"CHG-1\"\n",
        std::path::Path::new("site.toml"),
    )
    .unwrap();
    let (results, _) = assess_text("[auth]\nsamlEnabled = false\n", &site);
    let saml = results
        .iter()
        .find(|result| result.stig_id == "DKER-EE-002180")
        .unwrap();
    assert_eq!(saml.status, Status::Waived);
    let trust = results
        .iter()
        .find(|result| result.stig_id == "DKER-EE-004370")
        .unwrap();
    assert!(trust.checks.iter().any(|check| {
        check.outcome == Outcome::VariableUnset
            && check.expected.variable.as_deref() == Some("require_signature_from")
    }));
}

#[test]
fn a_compliant_document_needs_no_edit() {
    let compliant = "[auth]\nbackend = \"ldap\"\nsamlEnabled = true\n[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 0\nper_user_limit = 3\n[audit_log_configuration]\nlevel = \"request\"\n[log_configuration]\nlevel = \"INFO\"\n[scheduling_configuration]\nenable_admin_ucp_scheduling = false\n[tracking_configuration]\ndisable_usageinfo = true\ndisable_tracking = true\n[trust_configuration]\nrequire_content_trust = true\n[cluster_config]\nmin_tls_version = \"tlsv1.2\"\nsecure_overlay = true\nkube_protect_kernel_defaults = true\npre_logon_message = \"x\"\n";
    let (results, edits) = assess_text(compliant, &SiteFile::default());
    // Only the banner differs from the default banner text; the privileged-attribute grants
    // the document leaves out are empty lists, as the playbook wants.
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(
        edits[0].path.to_string(),
        "cluster_config.pre_logon_message"
    );
    assert!(
        results
            .iter()
            .filter(|r| r.stig_id != "CNTR-MK-000170")
            .all(|r| !r.status.is_finding())
    );
    let grants = results
        .iter()
        .find(|result| result.stig_id == "CNTR-MK-001020")
        .unwrap();
    assert_eq!(grants.status, Status::Pass);
    assert_eq!(grants.checks.len(), 4);
}

#[test]
fn a_list_left_out_is_empty_but_a_granted_list_is_a_fix() {
    let (results, edits) = assess_text(
        "[cluster_config]\npriv_attributes_allowed_for_user_accounts = [\"hostIPC\"]\npriv_attributes_user_accounts = [\"alice\"]\n",
        &SiteFile::default(),
    );
    let grants = results
        .iter()
        .find(|result| result.stig_id == "CNTR-MK-001020")
        .unwrap();
    assert_eq!(grants.status, Status::Fix);
    let written: Vec<String> = edits
        .iter()
        .filter(|edit| edit.rules == ["CNTR-MK-001020"])
        .map(|edit| edit.path.to_string())
        .collect();
    assert_eq!(
        written,
        [
            "cluster_config.priv_attributes_allowed_for_user_accounts",
            "cluster_config.priv_attributes_user_accounts"
        ]
    );
}

#[test]
fn a_rule_waiting_only_for_site_values_is_manual_and_manual_rules_keep_evidence() {
    let rules = custom_rules(
        r#"
[variables]
allowed = { type = "string-array", description = "x" }

[[rules]]
id = "DKER-EE-001050"
target = "host"
settings = [{ path = "dockerd.tcp_hosts", value = "${allowed}" }]

[[rules]]
id = "DKER-EE-001070"
target = "host"
mode = "manual"
note = "look at it"
settings = [{ path = "dockerd.tcp_hosts", value = [] }]
"#,
    );
    let mut items = BTreeMap::new();
    items.insert(
        "dockerd.tcp_hosts".to_string(),
        toml::Value::Array(vec!["tcp://0.0.0.0:2375".into()]),
    );
    let (results, edits) = assess(
        &rules,
        &Items(items),
        time::macros::date!(2026 - 11 - 22),
        None,
    );
    assert!(edits.is_empty());
    assert_eq!(results[0].status, Status::Manual);
    assert_eq!(results[0].checks[0].outcome, Outcome::VariableUnset);
    assert_eq!(results[1].status, Status::Manual);
    assert_eq!(
        results[1].checks[0].outcome,
        Outcome::Fail,
        "evidence is kept"
    );
}

#[test]
fn a_value_that_cannot_be_determined_is_unknown_never_pass() {
    let rules = custom_rules(
        r#"
[[rules]]
id = "DKER-EE-001050"
target = "host"
settings = [{ path = "dockerd.tcp_hosts", value = [] }]
"#,
    );
    struct Unreadable;
    impl Document for Unreadable {
        fn lookup(&self, _: &KeyPath) -> Option<toml::Value> {
            Some(toml::Value::Array(vec![]))
        }
        fn unknown(&self, _: &KeyPath) -> Option<String> {
            Some("$DOCKER_OPTS is set in a file stigfix cannot read".into())
        }
    }
    let (results, edits) = assess(
        &rules,
        &Unreadable,
        time::macros::date!(2026 - 11 - 22),
        None,
    );
    assert!(edits.is_empty());
    assert_eq!(results[0].status, Status::Unknown);
    assert_eq!(
        results[0].checks[0].outcome,
        Outcome::Unknown("$DOCKER_OPTS is set in a file stigfix cannot read".into())
    );
    assert!(results[0].status.is_finding());
}

/// A document with items, a mode and a path that cannot be written.
struct Items(BTreeMap<String, toml::Value>);

impl Document for Items {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        self.0.get(&path.to_string()).cloned()
    }

    fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        if !pattern.is_pattern() {
            return vec![pattern.clone()];
        }
        self.0
            .keys()
            .map(|key| KeyPath::parse(key).unwrap())
            .filter(|path| pattern.matches(path))
            .collect()
    }

    fn writable(&self, path: &KeyPath) -> Result<(), String> {
        if path.segments()[0] == "locked" {
            Err("it is locked".into())
        } else {
            Ok(())
        }
    }
}

fn custom_rules(body: &str) -> Vec<ResolvedRule> {
    let playbook = crate::playbook::parse_playbook(
        &format!(
            "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n{body}"
        ),
        "test.toml",
        None,
    )
    .unwrap();
    resolve(
        vec![playbook],
        vec![],
        &SiteFile::default(),
        &RuleFilter::default(),
    )
    .unwrap()
    .rules
    .to_vec()
}

#[test]
fn wildcards_modes_and_unwritable_paths() {
    let rules = custom_rules(
        r#"
[[rules]]
id = "DKER-EE-003840"
target = "dtr"
settings = [{ path = "repos.*.scan", value = true }, { path = "locked.flag", value = false }]

[[rules]]
id = "DKER-EE-005320"
target = "host"
settings = [{ path = "files.sock.mode", mode_within = "0660" }]

[[rules]]
id = "DKER-EE-005340"
target = "host"
settings = [{ path = "files.absent.*.mode", mode_within = "644" }]
"#,
    );
    let mut items = BTreeMap::new();
    for index in 0..7 {
        items.insert(
            format!("repos.r{index}.scan"),
            toml::Value::Boolean(index % 2 == 0),
        );
    }
    items.insert("locked.flag".into(), toml::Value::Boolean(true));
    items.insert("files.sock.mode".into(), toml::Value::String("4777".into()));
    let (results, edits) = assess(
        &rules,
        &Items(items),
        time::macros::date!(2026 - 11 - 22),
        None,
    );
    let scan = edits
        .iter()
        .filter(|edit| edit.path.segments()[0] == "repos")
        .count();
    assert_eq!(scan, 3, "{edits:?}");
    assert!(!edits.iter().any(|edit| edit.path.segments()[0] == "locked"));
    let mode = edits
        .iter()
        .find(|edit| edit.path.leaf() == "mode")
        .unwrap();
    // Only stricter: setuid and the bits outside 0660 are cleared, nothing is added.
    assert_eq!(mode.after, toml::Value::String("0660".into()));
    let dtr = &results[0];
    assert_eq!(dtr.status, Status::Fix);
    match &dtr.checks[0].observed {
        Observed::Items { total, failing } => {
            assert_eq!((*total, failing.len()), (7, 3), "{failing:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        dtr.unfixable,
        [Unfixable {
            path: KeyPath::parse("locked.flag").unwrap(),
            reason: "it is locked".into()
        }]
    );
    let absent = &results[2];
    assert_eq!(absent.status, Status::Pass);
    assert!(matches!(
        absent.checks[0].observed,
        Observed::Nothing { .. }
    ));
}

fn rules_with_site(body: &str, site: &str) -> Vec<ResolvedRule> {
    let playbook = crate::playbook::parse_playbook(
        &format!(
            "[playbook]\nbenchmark = \"Docker_Enterprise_2-x_Linux-UNIX_STIG\"\nrelease = \"V2R2\"\n{body}"
        ),
        "test.toml",
        None,
    )
    .unwrap();
    let site = SiteFile::parse(site, std::path::Path::new("site.toml")).unwrap();
    resolve(vec![playbook], vec![], &site, &RuleFilter::default())
        .unwrap()
        .rules
        .to_vec()
}

const ALLOW_LIST: &str = r#"
[variables.allowed_capabilities]
type = "string-array"
description = "x"

[variables.sensitive]
type = "string-array"
description = "y"
default = ["/etc"]

[[rules]]
id = "DKER-EE-001950"
target = "dtr"
mode = "check"
settings = [{ path = "containers.*.cap_add.*", one_of = "${allowed_capabilities}" }]

[[rules]]
id = "DKER-EE-001190"
target = "dtr"
mode = "check"
settings = [{ path = "containers.*.rw.*", not_in = "${sensitive}" }]
"#;

fn containers(entries: &[(&str, &str)]) -> Items {
    Items(
        entries
            .iter()
            .map(|(path, value)| (path.to_string(), toml::Value::String(value.to_string())))
            .collect(),
    )
}

#[test]
fn an_allow_list_not_set_lists_every_item_for_review_and_the_rule_is_manual() {
    let rules = rules_with_site(ALLOW_LIST, "");
    let doc = containers(&[
        ("containers.a.cap_add.NET_ADMIN", "NET_ADMIN"),
        ("containers.b.cap_add.SYS_TIME", "SYS_TIME"),
        ("containers.b.rw.x", "/srv"),
    ]);
    let (results, edits) = assess(&rules, &doc, time::macros::date!(2026 - 11 - 22), None);
    assert!(edits.is_empty());
    let caps = &results[0];
    assert_eq!(caps.status, Status::Manual);
    assert_eq!(caps.checks[0].outcome, Outcome::VariableUnset);
    assert_eq!(
        caps.checks[0].expected.variable.as_deref(),
        Some("allowed_capabilities")
    );
    match &caps.checks[0].observed {
        Observed::Items { total, failing } => {
            assert_eq!((*total, failing.len()), (2, 2), "{failing:?}");
        }
        other => panic!("{other:?}"),
    }
    // The deny-list has a default: judged.
    assert_eq!(results[1].status, Status::Pass);

    // Nothing to review: no container adds a capability, whatever the list would say.
    let (results, _) = assess(
        &rules,
        &containers(&[("containers.b.rw.x", "/etc")]),
        time::macros::date!(2026 - 11 - 22),
        None,
    );
    assert_eq!(results[0].status, Status::Pass);
    assert!(matches!(
        results[0].checks[0].observed,
        Observed::Nothing { .. }
    ));
    assert_eq!(results[1].status, Status::Open);
}

#[test]
fn an_allow_list_set_in_the_site_file_judges_each_item() {
    let rules = rules_with_site(
        ALLOW_LIST,
        "[variables]\nallowed_capabilities = [\"NET_ADMIN\"]\nsensitive = [\"/srv\"]\n",
    );
    let doc = containers(&[
        ("containers.a.cap_add.NET_ADMIN", "NET_ADMIN"),
        ("containers.b.cap_add.SYS_TIME", "SYS_TIME"),
        ("containers.b.rw.x", "/srv"),
    ]);
    let (results, _) = assess(&rules, &doc, time::macros::date!(2026 - 11 - 22), None);
    assert_eq!(results[0].status, Status::Open);
    match &results[0].checks[0].observed {
        Observed::Items { total, failing } => {
            assert_eq!(*total, 2);
            assert_eq!(failing.len(), 1);
            assert_eq!(failing[0].path.to_string(), "containers.b.cap_add.SYS_TIME");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(results[1].status, Status::Open);
}
