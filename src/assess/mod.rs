//! Pure assessment: rules × a target's live document → rule results (as data, see [`result`])
//! and the edits that fix them.

pub mod result;

use std::collections::BTreeMap;

pub use result::{
    Check, Expected, ItemValue, NotAssessedReason, Observed, Outcome, RuleResult, Status, Unfixable,
};

use crate::keypath::KeyPath;
use crate::playbook::{Match, Mode, ResolvedRule, ResolvedSetting, SettingValue, ValueSpec};
use crate::targets::{Document, Edit, TargetKind, TargetSpec};
use crate::values::{Shown, format_mode, parse_mode};

/// Assess rules against a target's live document.
pub fn assess<'a>(
    rules: impl IntoIterator<Item = &'a ResolvedRule>,
    doc: &dyn Document,
    today: time::Date,
    target: Option<&TargetSpec>,
) -> (Vec<RuleResult>, Vec<Edit>) {
    let mut results = Vec::new();
    let mut edits: BTreeMap<KeyPath, Edit> = BTreeMap::new();
    for rule in rules {
        let mut result = result_for(rule, Status::Pass, target);
        if let Some(waiver) = rule.active_waiver(today) {
            result.status = Status::Waived;
            result.waiver = Some(waiver.clone());
            results.push(result);
            continue;
        }
        result.waiver_expired = rule.waiver.as_ref().and_then(|waiver| waiver.expires);
        match rule.rule.mode {
            Mode::Manual => {
                // A person decides; the settings stigfix can read are the evidence they see.
                result.checks = rule
                    .settings
                    .iter()
                    .map(|setting| check_setting(setting, doc).0)
                    .collect();
                result.status = Status::Manual;
                results.push(result);
                continue;
            }
            Mode::NotAssessed => {
                result.status = Status::NotAssessed;
                result.not_assessed = Some(NotAssessedReason::ByPlaybook);
                results.push(result);
                continue;
            }
            Mode::Enforce | Mode::Check => {}
        }
        // (setting, concrete path, live value) of every value that does not comply.
        let mut failing = Vec::new();
        for setting in &rule.settings {
            let (check, bad) = check_setting(setting, doc);
            failing.extend(bad.into_iter().map(|(path, live)| (setting, path, live)));
            result.checks.push(check);
        }
        result.status = status_of(rule.rule.matching, &result.checks);
        if matches!(result.status, Status::Open) && rule.rule.mode == Mode::Enforce {
            let mut fixable = 0;
            for (setting, path, live) in failing {
                if let Err(reason) = doc.writable(&path) {
                    result.unfixable.push(Unfixable { path, reason });
                    continue;
                }
                let Some(after) = setting.setting.fix_value(live.as_ref(), setting.desired())
                else {
                    continue;
                };
                if let Err(reason) = doc.accepts(&path, &after) {
                    result.unfixable.push(Unfixable { path, reason });
                    continue;
                }
                fixable += 1;
                let edit = edits.entry(path.clone()).or_insert_with(|| Edit {
                    path,
                    before: live,
                    after: after.clone(),
                    rules: Vec::new(),
                });
                if edit.after != after {
                    // Two rules want a stricter mode of one file: both masks apply.
                    if let (Some(a), Some(b)) = (
                        edit.after.as_str().and_then(parse_mode),
                        after.as_str().and_then(parse_mode),
                    ) {
                        edit.after = toml::Value::String(format_mode(a & b));
                    }
                }
                edit.rules.push(rule.stig_id().to_string());
            }
            if fixable > 0 {
                result.status = Status::Fix;
            }
        }
        results.push(result);
    }
    (results, edits.into_values().collect())
}

/// The status of a rule from its checks: any failing check makes it not compliant (`open`;
/// the caller makes it `fix` when `apply` can write a fix); a check that cannot be determined
/// makes it `unknown` unless the result is clear without it. A rule none of whose checks could
/// be assessed — every one waits for an organisation-defined value (a site allow-list, say) — is
/// left to a person (`manual`, with the items listed for review), never `pass`.
fn status_of(matching: Match, checks: &[Check]) -> Status {
    let vacuous = |check: &&Check| {
        check.outcome == Outcome::Pass && matches!(check.observed, Observed::Nothing { .. })
    };
    let unset = |check: &&Check| check.outcome == Outcome::VariableUnset;
    if checks.iter().any(|check| unset(&check))
        && checks.iter().all(|check| unset(&check) || vacuous(&check))
    {
        return Status::Manual;
    }
    let assessed: Vec<&Check> = checks
        .iter()
        .filter(|check| check.outcome != Outcome::VariableUnset)
        .collect();
    if assessed.is_empty() {
        return Status::Manual;
    }
    let any = |wanted: fn(&Outcome) -> bool| assessed.iter().any(|check| wanted(&check.outcome));
    let failed = any(|outcome| *outcome == Outcome::Fail);
    let unknown = any(|outcome| matches!(outcome, Outcome::Unknown(_)));
    let passed = any(|outcome| *outcome == Outcome::Pass);
    match matching {
        Match::All if failed => Status::Open,
        Match::All if unknown => Status::Unknown,
        Match::All => Status::Pass,
        Match::Any if passed => Status::Pass,
        Match::Any if unknown => Status::Unknown,
        Match::Any => Status::Open,
    }
}

/// Read one setting: the check, and the concrete paths (with their values) that do not comply.
fn check_setting(
    setting: &ResolvedSetting,
    doc: &dyn Document,
) -> (Check, Vec<(KeyPath, Option<toml::Value>)>) {
    let pattern = setting.path();
    let paths = doc.expand(pattern);
    let first = || paths.first().and_then(|path| doc.source(path));
    let mut check = Check {
        path: pattern.clone(),
        // For every item of a collection, where the items were read (one item's source would
        // name that item only).
        source: if pattern.is_pattern() {
            doc.source(pattern).or_else(first)
        } else {
            first().or_else(|| doc.source(pattern))
        },
        expected: expected_of(setting),
        observed: Observed::Nothing {
            reason: String::new(),
        },
        outcome: Outcome::Pass,
    };
    let observe = |path: &KeyPath, live: Option<&toml::Value>| ItemValue {
        path: path.clone(),
        value: Shown::at(path, live),
        why_not_set: live.is_none().then(|| doc.explain(path)).flatten(),
    };
    // A collection with no item has nothing to judge, whatever the variable would say.
    let nothing = pattern.is_pattern() && paths.is_empty();
    if let (SettingValue::Unset { .. }, false) = (&setting.value, nothing) {
        // An item that cannot be read is unknown, list or no list.
        check.outcome = match paths.iter().find_map(|path| doc.unknown(path)) {
            Some(reason) => Outcome::Unknown(reason),
            None => Outcome::VariableUnset,
        };
        check.observed = match paths.as_slice() {
            [path] if !pattern.is_pattern() || path == pattern => {
                let item = observe(path, doc.lookup(path).as_ref());
                Observed::Value {
                    value: item.value,
                    why_not_set: item.why_not_set,
                }
            }
            // Without the site's list no item is judged: each is listed for a person to review
            // (none is approved by a list stigfix does not have).
            _ => Observed::Items {
                total: paths.len(),
                failing: paths
                    .iter()
                    .map(|path| observe(path, doc.lookup(path).as_ref()))
                    .collect(),
            },
        };
        return (check, Vec::new());
    }
    if paths.is_empty() {
        check.observed = Observed::Nothing {
            reason: doc
                .explain(pattern)
                .unwrap_or_else(|| "not present".to_string()),
        };
        return (check, Vec::new());
    }
    let mut bad = Vec::new();
    let mut unknown = None;
    for path in &paths {
        if let Some(reason) = doc.unknown(path) {
            unknown.get_or_insert(reason);
            continue;
        }
        let live = doc.lookup(path);
        if !setting
            .setting
            .is_satisfied(live.as_ref(), setting.desired())
        {
            bad.push((path.clone(), live));
        }
    }
    check.outcome = match (&unknown, bad.is_empty()) {
        (_, false) => Outcome::Fail,
        (Some(reason), true) => Outcome::Unknown(reason.clone()),
        (None, true) => Outcome::Pass,
    };
    // A pattern that stands for itself (a collection that could not be listed at all, whose
    // one path is `unknown`) is one value, not one item.
    let listed = pattern.is_pattern() && paths.as_slice() != std::slice::from_ref(pattern);
    check.observed = if listed || paths.len() > 1 {
        Observed::Items {
            total: paths.len(),
            failing: bad
                .iter()
                .map(|(path, live)| observe(path, live.as_ref()))
                .collect(),
        }
    } else {
        let live = doc.lookup(&paths[0]);
        let item = observe(&paths[0], live.as_ref());
        Observed::Value {
            value: item.value,
            why_not_set: item.why_not_set,
        }
    };
    (check, bad)
}

fn expected_of(setting: &ResolvedSetting) -> Expected {
    let path = setting.path();
    let spec = &setting.setting;
    Expected {
        value: setting.desired().map(|value| Shown::at(path, Some(value))),
        one_of: spec
            .one_of
            .as_deref()
            .map(|values| Shown::list_at(path, values))
            .unwrap_or_default(),
        not_in: spec
            .not_in
            .as_deref()
            .map(|values| Shown::list_at(path, values))
            .unwrap_or_default(),
        min: spec.min,
        max: spec.max,
        mode_within: spec.mode_within.map(format_mode),
        variable: match (&setting.value, &spec.value) {
            (SettingValue::Unset { variable }, _) => Some(variable.clone()),
            (_, Some(ValueSpec::Variable(name))) => Some(name.clone()),
            _ => None,
        },
    }
}

/// Results for rules of a kind no target of which is in this run.
pub fn not_assessed<'a>(
    rules: impl IntoIterator<Item = &'a ResolvedRule>,
    kind: TargetKind,
) -> Vec<RuleResult> {
    rules
        .into_iter()
        .map(|rule| {
            let mut result = result_for(rule, Status::NotAssessed, None);
            result.not_assessed = Some(NotAssessedReason::TargetNotConfigured {
                kind,
                configured_by: kind.registration().configured_by,
            });
            result
        })
        .collect()
}

fn result_for(rule: &ResolvedRule, status: Status, target: Option<&TargetSpec>) -> RuleResult {
    let meta = &rule.rule.meta;
    RuleResult {
        target: target.cloned(),
        kind: rule.rule.target,
        stig_id: meta.stig_id.clone(),
        vuln_id: meta.vuln_id.clone(),
        rule_id: meta.rule_id.clone(),
        severity: meta.severity,
        title: meta.title.clone(),
        playbook: rule.playbook.clone(),
        mode: rule.rule.mode,
        status,
        checks: Vec::new(),
        unfixable: Vec::new(),
        not_assessed: None,
        note: rule.rule.note.clone(),
        waiver: None,
        waiver_expired: None,
    }
}

#[cfg(test)]
mod tests {
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
}
