//! Pure assessment: rules × live values → rule results and the changes that fix them.

use std::collections::BTreeMap;

use crate::keypath::KeyPath;
use crate::playbook::{Match, Mode, ResolvedRule, SettingValue, TargetKind, display_value};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
    pub playbook: String,
}

/// One setting to change.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    pub path: KeyPath,
    pub before: Option<toml::Value>,
    pub after: toml::Value,
    pub rules: Vec<String>,
}

/// Assess rules against live values. `lookup` reads one live value.
pub fn assess<'a>(
    rules: impl IntoIterator<Item = &'a ResolvedRule>,
    lookup: &dyn Fn(&KeyPath) -> Option<toml::Value>,
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
        let mut assessed = 0;
        let mut passed = 0;
        let mut failing = Vec::new();
        for setting in &rule.settings {
            let live = lookup(setting.path());
            let shown = live
                .as_ref()
                .map_or_else(|| "(not set)".to_string(), display_value);
            if let SettingValue::Unset { variable } = &setting.value {
                result.details.push(format!(
                    "{} is {shown}; not assessed: set variable `{variable}` in the site file",
                    setting.path()
                ));
                continue;
            }
            assessed += 1;
            let ok = setting
                .setting
                .is_satisfied(live.as_ref(), setting.desired());
            let requirement = setting.setting.describe_requirement(setting.desired());
            if ok {
                passed += 1;
                result.details.push(format!(
                    "{} is {shown} (requires {requirement})",
                    setting.path()
                ));
            } else {
                result.details.push(format!(
                    "{} is {shown}, requires {}",
                    setting.path(),
                    requirement.trim_start_matches(&format!("{} ", setting.path()))
                ));
                failing.push((setting, live));
            }
        }
        let compliant = match rule.rule.matching {
            Match::All => failing.is_empty(),
            Match::Any => assessed == 0 || passed > 0,
        };
        if !compliant {
            if rule.rule.mode == Mode::Enforce {
                result.status = Status::Fix;
                for (setting, live) in failing {
                    let after = setting
                        .desired()
                        .cloned()
                        .expect("enforced settings have a value");
                    let edit = edits.entry(setting.path().clone()).or_insert_with(|| Edit {
                        path: setting.path().clone(),
                        before: live,
                        after,
                        rules: Vec::new(),
                    });
                    edit.rules.push(rule.stig_id().to_string());
                }
            } else {
                result.status = Status::Open;
            }
        }
        results.push(result);
    }
    (results, edits.into_values().collect())
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
    }

    fn assess_text(text: &str, site: &SiteFile) -> (Vec<RuleResult>, Vec<Edit>) {
        let table: toml::Table = toml::from_str(text).unwrap();
        let rules = rules(site);
        assess(
            rules.iter(),
            &|path| path.lookup(&table).cloned(),
            time::macros::date!(2026 - 11 - 22),
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
}
