//! Pure assessment: rules × live values → rule results and the changes that fix them.

use std::collections::BTreeMap;

use crate::keypath::KeyPath;
use crate::playbook::{
    Match, Mode, ResolvedRule, SettingValue, TargetKind, display_value, format_mode, parse_mode,
};

/// The outcome for one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Compliant now.
    Pass,
    /// Not compliant; `apply` will fix it.
    Fix,
    /// Not compliant and not fixed automatically (a check-only rule): an open finding.
    Open,
    /// A waiver in force.
    Waived,
    /// A person must review it (manual rule).
    Manual,
    /// Its target is not part of this run.
    NotAssessed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fix => "fix",
            Status::Open => "open",
            Status::Waived => "waived",
            Status::Manual => "manual",
            Status::NotAssessed => "not assessed",
        }
    }

    /// Counts towards exit 2 of `--detailed-exitcode`.
    pub fn is_finding(self) -> bool {
        matches!(self, Status::Fix | Status::Open)
    }
}

/// What a rule found, for reports.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RuleResult {
    pub stig_id: String,
    pub vuln_id: String,
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub target: TargetKind,
    pub mode: String,
    pub status: Status,
    /// One line per setting: what is live, what is required.
    pub details: Vec<String>,
    /// Failing settings `apply` cannot write, each with the reason and what to do instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfixable: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
    pub playbook: String,
}

pub use crate::targets::document::{Document, Edit};

/// At most this many items of a wildcard setting are named in a rule's details.
const NAMED_ITEMS: usize = 5;

/// Assess rules against a target's live document.
pub fn assess<'a>(
    rules: impl IntoIterator<Item = &'a ResolvedRule>,
    doc: &dyn Document,
    today: time::Date,
) -> (Vec<RuleResult>, Vec<Edit>) {
    let mut results = Vec::new();
    let mut edits: BTreeMap<KeyPath, Edit> = BTreeMap::new();
    for rule in rules {
        let mut result = result_for(rule, Status::Pass);
        if let Some(waiver) = rule.active_waiver(today) {
            result.status = Status::Waived;
            result.waiver = Some(describe_waiver(waiver));
            results.push(result);
            continue;
        }
        if let Some(waiver) = &rule.waiver {
            result.details.push(format!(
                "waiver expired on {}",
                waiver.expires.map(|d| d.to_string()).unwrap_or_default()
            ));
        }
        if rule.rule.mode == Mode::Manual {
            result.status = Status::Manual;
            results.push(result);
            continue;
        }
        if rule.rule.mode == Mode::NotAssessed {
            result.status = Status::NotAssessed;
            results.push(result);
            continue;
        }
        let mut assessed = 0;
        let mut passed = 0;
        // (setting, concrete path, live value) of every value that does not comply.
        let mut failing = Vec::new();
        for setting in &rule.settings {
            let pattern = setting.path();
            let paths = doc.expand(pattern);
            if let SettingValue::Unset { variable } = &setting.value {
                let shown = match paths.as_slice() {
                    [path] => show_live(doc, path),
                    _ => format!("{} item(s)", paths.len()),
                };
                result.details.push(format!(
                    "{pattern} is {shown}; not assessed: set variable `{variable}` in the site file"
                ));
                continue;
            }
            assessed += 1;
            let requirement = setting.setting.describe_requirement(setting.desired());
            let wanted = requirement.trim_start_matches(&format!("{pattern} "));
            if paths.is_empty() {
                passed += 1;
                result.details.push(format!(
                    "{pattern}: nothing to check ({})",
                    doc.explain(pattern)
                        .unwrap_or_else(|| "not present".to_string())
                ));
                continue;
            }
            let mut bad = Vec::new();
            for path in &paths {
                let live = doc.lookup(path);
                if !setting
                    .setting
                    .is_satisfied(live.as_ref(), setting.desired())
                {
                    bad.push((path.clone(), live));
                }
            }
            if bad.is_empty() {
                passed += 1;
            }
            if pattern.is_pattern() || paths.len() > 1 {
                if bad.is_empty() {
                    result.details.push(format!(
                        "{pattern}: all {} comply (requires {wanted})",
                        paths.len()
                    ));
                } else {
                    let mut named: Vec<String> = bad
                        .iter()
                        .take(NAMED_ITEMS)
                        .map(|(path, live)| format!("{path} is {}", show_value(doc, path, live)))
                        .collect();
                    if bad.len() > NAMED_ITEMS {
                        named.push(format!("and {} more", bad.len() - NAMED_ITEMS));
                    }
                    result.details.push(format!(
                        "{pattern}: {} of {} do not comply, requires {wanted}: {}",
                        bad.len(),
                        paths.len(),
                        named.join("; ")
                    ));
                }
            } else {
                let path = &paths[0];
                let shown = show_live(doc, path);
                result.details.push(if bad.is_empty() {
                    format!("{path} is {shown} (requires {wanted})")
                } else {
                    format!("{path} is {shown}, requires {wanted}")
                });
            }
            failing.extend(bad.into_iter().map(|(path, live)| (setting, path, live)));
        }
        let compliant = match rule.rule.matching {
            Match::All => failing.is_empty(),
            Match::Any => assessed == 0 || passed > 0,
        };
        if !compliant {
            if rule.rule.mode == Mode::Enforce {
                let mut fixable = 0;
                for (setting, path, live) in failing {
                    if let Err(reason) = doc.writable(&path) {
                        result
                            .unfixable
                            .push(format!("{path} cannot be fixed automatically: {reason}"));
                        continue;
                    }
                    let Some(after) = setting.setting.fix_value(live.as_ref(), setting.desired())
                    else {
                        continue;
                    };
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
                result.status = if fixable > 0 {
                    Status::Fix
                } else {
                    Status::Open
                };
            } else {
                result.status = Status::Open;
            }
        }
        results.push(result);
    }
    (results, edits.into_values().collect())
}

fn show_live(doc: &dyn Document, path: &KeyPath) -> String {
    show_value(doc, path, &doc.lookup(path))
}

fn show_value(doc: &dyn Document, path: &KeyPath, live: &Option<toml::Value>) -> String {
    match live {
        Some(value) => display_value(value),
        None => match doc.explain(path) {
            Some(reason) => format!("(not set: {reason})"),
            None => "(not set)".to_string(),
        },
    }
}

/// Results for rules whose target is not in this run.
pub fn not_assessed<'a>(
    rules: impl IntoIterator<Item = &'a ResolvedRule>,
    reason: &str,
) -> Vec<RuleResult> {
    rules
        .into_iter()
        .map(|rule| {
            let mut result = result_for(rule, Status::NotAssessed);
            result.details.push(reason.to_string());
            result
        })
        .collect()
}

fn result_for(rule: &ResolvedRule, status: Status) -> RuleResult {
    let meta = &rule.rule.meta;
    RuleResult {
        stig_id: meta.stig_id.clone(),
        vuln_id: meta.vuln_id.clone(),
        rule_id: meta.rule_id.clone(),
        severity: meta.severity.as_str().to_string(),
        title: meta.title.clone(),
        target: rule.rule.target,
        mode: rule.rule.mode.as_str().to_string(),
        status,
        details: Vec::new(),
        unfixable: Vec::new(),
        note: rule.rule.note.clone(),
        waiver: None,
        playbook: rule.playbook.clone(),
    }
}

fn describe_waiver(waiver: &crate::site::Waiver) -> String {
    let mut text = format!("waived: {}", waiver.justification);
    if let Some(approver) = &waiver.approver {
        text.push_str(&format!("; approved by {approver}"));
    }
    if let Some(ticket) = &waiver.ticket {
        text.push_str(&format!("; ticket {ticket}"));
    }
    if let Some(expires) = waiver.expires {
        text.push_str(&format!("; until {expires}"));
    }
    text
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
            .into_iter()
            .filter(|rule| rule.rule.target == TargetKind::Ucp)
            .collect()
    }

    fn assess_text(text: &str, site: &SiteFile) -> (Vec<RuleResult>, Vec<Edit>) {
        let table: toml::Table = toml::from_str(text).unwrap();
        let rules = rules(site);
        assess(rules.iter(), &table, time::macros::date!(2026 - 11 - 22))
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
        assert!(
            trust
                .details
                .iter()
                .any(|line| line.contains("set variable `require_signature_from`"))
        );
    }

    #[test]
    fn a_compliant_document_needs_no_edit() {
        let compliant = "[auth]\nbackend = \"ldap\"\nsamlEnabled = true\n[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 0\nper_user_limit = 3\n[audit_log_configuration]\nlevel = \"request\"\n[log_configuration]\nlevel = \"INFO\"\n[scheduling_configuration]\nenable_admin_ucp_scheduling = false\n[tracking_configuration]\ndisable_usageinfo = true\ndisable_tracking = true\n[trust_configuration]\nrequire_content_trust = true\n[cluster_config]\nmin_tls_version = \"tlsv1.2\"\nsecure_overlay = true\npre_logon_message = \"x\"\n";
        let (results, edits) = assess_text(compliant, &SiteFile::default());
        // Only the banner differs from the default banner text.
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
        let (results, edits) = assess(&rules, &Items(items), time::macros::date!(2026 - 11 - 22));
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
        assert!(
            dtr.details
                .iter()
                .any(|d| d.contains("3 of 7 do not comply")),
            "{:?}",
            dtr.details
        );
        assert!(
            dtr.unfixable
                .iter()
                .any(|d| d.contains("cannot be fixed automatically: it is locked"))
        );
        let absent = &results[2];
        assert_eq!(absent.status, Status::Pass);
        assert!(absent.details[0].contains("nothing to check"));
    }
}
