use std::sync::Arc;

use super::*;
use crate::assess::{Check, Expected, NotAssessedReason, Observed, Outcome};
use crate::benchmark::find_embedded;
use crate::keypath::KeyPath;
use crate::plan::TargetPlan;
use crate::playbook::Mode;
use crate::site::Waiver;
use crate::targets::{Product, TargetKind, TargetSpec};
use crate::values::Shown;

const DOCKER: &str = "Docker_Enterprise_2-x_Linux-UNIX_STIG";

fn kind(name: &str) -> TargetKind {
    TargetKind::parse(name).unwrap()
}

fn ucp() -> TargetSpec {
    TargetSpec::new(kind("ucp"), "https://ucp.example.mil")
}

fn node() -> TargetSpec {
    TargetSpec::new(kind("host"), "/mnt/node1")
}

fn result(
    stig_id: &str,
    target: Option<TargetSpec>,
    kind_name: &str,
    status: Status,
) -> RuleResult {
    let benchmark = find_embedded(DOCKER).unwrap();
    let meta = benchmark.rule(stig_id).unwrap();
    RuleResult {
        target,
        kind: kind(kind_name),
        stig_id: meta.stig_id.clone(),
        vuln_id: meta.vuln_id.clone(),
        rule_id: meta.rule_id.clone(),
        severity: meta.severity,
        title: meta.title.clone(),
        playbook: format!("{} {}", benchmark.id, benchmark.release),
        mode: Mode::Enforce,
        status,
        checks: Vec::new(),
        unfixable: Vec::new(),
        not_assessed: None,
        note: None,
        waiver: None,
        waiver_expired: None,
    }
}

fn target(spec: TargetSpec, product: Option<Product>) -> TargetPlan {
    TargetPlan {
        spec,
        product,
        refusal: None,
        fingerprint: "sha256:0".into(),
        edits: Vec::new(),
        diff: String::new(),
        actions: Vec::new(),
        notes: Vec::new(),
    }
}

/// A UCP cluster and a node; content trust fails on the UCP (with a secret-looking check), a
/// waiver on SAML, a node rule passes, and the DTR rules are not assessed (no DTR).
fn plan() -> Plan {
    let path = KeyPath::parse("trust_configuration.require_content_trust").unwrap();
    let mut trust = result("DKER-EE-004370", Some(ucp()), "ucp", Status::Fix);
    trust.checks.push(Check {
        path: path.clone(),
        source: Some("GET https://ucp.example.mil/api/ucp/config-toml".into()),
        expected: Expected {
            value: Some(Shown::at(&path, Some(&toml::Value::Boolean(true)))),
            ..Expected::default()
        },
        observed: Observed::Value {
            value: Shown::at(&path, Some(&toml::Value::Boolean(false))),
            why_not_set: None,
        },
        outcome: Outcome::Fail,
    });
    let secret = KeyPath::parse("backup_schedule_config.passphrase").unwrap();
    trust.checks.push(Check {
        path: secret.clone(),
        source: None,
        expected: Expected::default(),
        observed: Observed::Value {
            value: Shown::at(&secret, Some(&toml::Value::String("hunter2-secret".into()))),
            why_not_set: None,
        },
        outcome: Outcome::Pass,
    });
    let mut saml = result("DKER-EE-002180", Some(ucp()), "ucp", Status::Waived);
    saml.waiver = Some(Waiver {
        rule: "DKER-EE-002180".into(),
        justification: "LDAP is used;\nSAML is not.".into(),
        approver: Some("ISSM".into()),
        ticket: Some("CHG-1".into()),
        expires: None,
        location: crate::error::Location {
            file: "stigfix.toml".into(),
            line: 1,
            column: 1,
        },
    });
    let owner = result("DKER-EE-005170", Some(node()), "host", Status::Pass);
    let mut scanning = result("DKER-EE-003840", None, "dtr", Status::NotAssessed);
    scanning.not_assessed = Some(NotAssessedReason::TargetNotConfigured {
        kind: kind("dtr"),
        configured_by: "--dtr-url",
    });
    let manual = result("DKER-EE-001100", Some(ucp()), "ucp", Status::Manual);
    Plan {
        created_at: "2026-11-22T10:00:00Z".into(),
        insecure: false,
        playbooks: Vec::new(),
        benchmarks: vec![find_embedded(DOCKER).unwrap()],
        rules_digest: "sha256:0".into(),
        targets: vec![
            target(ucp(), Some(Product::new("MKE", Some("3.7.3")))),
            target(node(), None),
        ],
        rules: vec![trust, saml, owner, scanning, manual],
    }
}

fn rule<'a>(checklist: &'a Checklist, stig_id: &str) -> &'a ChecklistRule {
    checklist
        .rules
        .iter()
        .find(|rule| rule.meta.stig_id == stig_id)
        .unwrap()
}

#[test]
fn statuses_map_as_the_design_says() {
    use CklStatus::*;
    for (status, expected) in [
        (Status::Pass, NotAFinding),
        (Status::Fix, Open),
        (Status::Open, Open),
        (Status::Manual, NotReviewed),
        (Status::Waived, Open),
        (Status::NotApplicable, NotApplicable),
        (Status::NotAssessed, NotReviewed),
        (Status::Unknown, NotReviewed),
    ] {
        assert_eq!(CklStatus::of(status), expected, "{status:?}");
    }
    assert_eq!(CklStatus::parse("not_a_finding"), Some(NotAFinding));
    assert_eq!(CklStatus::parse("Not_Applicable"), Some(NotApplicable));
    assert_eq!(CklStatus::parse("Profile_Error"), None);
}

#[test]
fn uuids_are_deterministic_version_8() {
    let a = uuid(&["ucp:x", "B", "V2R2"]);
    assert_eq!(a, uuid(&["ucp:x", "B", "V2R2"]));
    assert_ne!(a, uuid(&["ucp:x", "BV", "2R2"]));
    assert_eq!(a.len(), 36);
    assert_eq!(&a[14..15], "8");
    assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
}

#[test]
fn one_checklist_per_asset_with_every_rule_of_the_stig() {
    let plan = plan();
    let checklists = build(&plan, &Context::default());
    assert_eq!(checklists.len(), 2, "the UCP cluster and the node");
    let benchmark = find_embedded(DOCKER).unwrap();
    for checklist in &checklists {
        assert_eq!(checklist.rules.len(), benchmark.rules.len());
        assert!(Arc::ptr_eq(&checklist.benchmark, &plan.benchmarks[0]));
    }
    let cluster = &checklists[0];
    assert_eq!(cluster.asset.key, "ucp:ucp.example.mil");
    assert_eq!(cluster.asset.data.host_fqdn, "ucp.example.mil");
    assert_eq!(
        cluster.file_stem(),
        "ucp-ucp.example.mil_Docker_Enterprise_2-x_Linux-UNIX_STIG_V2R2"
    );
    let trust = rule(cluster, "DKER-EE-004370");
    assert_eq!(trust.status, CklStatus::Open);
    assert!(trust.finding_details.starts_with("[stigfix] stigfix "));
    for expected in [
        "check of 2026-11-22T10:00:00Z",
        "ucp https://ucp.example.mil (MKE 3.7.3)",
        "Result: fix (not compliant; `stigfix apply` fixes it) -> Open",
        "trust_configuration.require_content_trust is false, requires = true",
        "read from GET https://ucp.example.mil/api/ucp/config-toml",
        "(redacted)",
    ] {
        assert!(
            trust.finding_details.contains(expected),
            "{expected}:\n{}",
            trust.finding_details
        );
    }
    assert!(!trust.finding_details.contains("hunter2-secret"));
    let saml = rule(cluster, "DKER-EE-002180");
    assert_eq!(saml.status, CklStatus::Open);
    assert_eq!(
        saml.comments,
        "[stigfix] Waiver (stigfix site file): LDAP is used; SAML is not.\n[stigfix] Approved by: ISSM\n[stigfix] Ticket: CHG-1\n[stigfix] Expires: never"
    );
    // A node rule in the cluster's checklist does not apply; a DTR rule without a DTR neither.
    let node_rule = rule(cluster, "DKER-EE-005170");
    assert_eq!(node_rule.status, CklStatus::NotApplicable);
    assert!(node_rule.reason.as_ref().unwrap().contains("`host` target"));
    assert_eq!(
        rule(cluster, "DKER-EE-003840").status,
        CklStatus::NotApplicable
    );
    assert_eq!(
        rule(cluster, "DKER-EE-001100").status,
        CklStatus::NotReviewed
    );
    // A rule no playbook assesses is not reviewed, saying so.
    let unautomated = rule(cluster, "DKER-EE-001000");
    assert_eq!(unautomated.stigfix, Status::NotAssessed);
    assert!(
        unautomated
            .finding_details
            .contains("no stigfix playbook assesses")
    );

    let node = &checklists[1];
    assert_eq!(node.asset.data.host_name, "node1");
    assert_eq!(node.asset.data.role, "Member Server");
    assert_eq!(rule(node, "DKER-EE-005170").status, CklStatus::NotAFinding);
    assert_eq!(
        rule(node, "DKER-EE-004370").status,
        CklStatus::NotApplicable
    );
    let summary = node.summary();
    let total: usize = summary.iter().flat_map(|(_, counts)| counts.iter()).sum();
    assert_eq!(total, node.rules.len());
}

#[test]
fn a_missing_target_of_the_assets_kind_is_not_reviewed() {
    let mut plan = plan();
    plan.targets
        .retain(|target| target.spec.kind == kind("host"));
    plan.rules.retain(|result| result.kind == kind("host"));
    let mut absent = result("DKER-EE-004370", None, "ucp", Status::NotAssessed);
    absent.not_assessed = Some(NotAssessedReason::TargetNotConfigured {
        kind: kind("ucp"),
        configured_by: "--ucp-url",
    });
    plan.rules.push(absent);
    let checklists = build(&plan, &Context::default());
    assert_eq!(checklists.len(), 1);
    assert_eq!(
        rule(&checklists[0], "DKER-EE-004370").status,
        CklStatus::NotApplicable
    );
}

#[test]
fn ckl_and_cklb_read_back_what_they_wrote() {
    let checklists = build(&plan(), &Context::default());
    let cluster = &checklists[0];
    for (text, read) in [
        (ckl::write(cluster), ckl::read as fn(&str, &str) -> _),
        (cklb::write(cluster), cklb::read),
    ] {
        let existing = read(&text, "x").unwrap();
        assert!(existing.asset.same_asset(&cluster.asset.data));
        let stig = &existing.stigs[0];
        assert_eq!(stig.stig_id, DOCKER);
        assert_eq!(stig.rules.len(), cluster.rules.len());
        assert_eq!(stig.uuid.as_deref(), Some(cluster.stig_uuid.as_str()));
        for (old, new) in stig.rules.iter().zip(&cluster.rules) {
            assert_eq!(old.rule_id, new.meta.rule_id);
            assert_eq!(old.status, new.status);
            assert_eq!(old.finding_details, new.finding_details);
            assert_eq!(old.comments, new.comments);
        }
    }
}

#[test]
fn xml_escapes_and_drops_what_xml_cannot_hold() {
    assert_eq!(
        ckl::escape("a<b>&\"c'\u{1}\n"),
        "a&lt;b&gt;&amp;&quot;c&apos;\n"
    );
}

/// A person's checklist: a manual rule set to NotAFinding with a comment, a severity override
/// with its justification, their own lines above stigfix's in an automated rule.
fn persons_checklist(cluster: &Checklist) -> String {
    let mut text = ckl::write(cluster);
    let manual = rule(cluster, "DKER-EE-001100");
    let trust = rule(cluster, "DKER-EE-004370");
    let edit = |text: &mut String, vuln: &str, from: &str, to: &str| {
        let start = text
            .find(&format!("<ATTRIBUTE_DATA>{vuln}</ATTRIBUTE_DATA>"))
            .unwrap();
        let end = start + text[start..].find("</VULN>").unwrap();
        let part = text[start..end].replacen(from, to, 1);
        text.replace_range(start..end, &part);
    };
    edit(
        &mut text,
        &manual.meta.vuln_id,
        "<STATUS>Not_Reviewed</STATUS>",
        "<STATUS>NotAFinding</STATUS>",
    );
    edit(
        &mut text,
        &manual.meta.vuln_id,
        "<COMMENTS></COMMENTS>",
        "<COMMENTS>LDAP verified in the UI by J. Doe.</COMMENTS>",
    );
    edit(
        &mut text,
        &trust.meta.vuln_id,
        "<SEVERITY_OVERRIDE></SEVERITY_OVERRIDE>\n\t\t\t\t<SEVERITY_JUSTIFICATION></SEVERITY_JUSTIFICATION>",
        "<SEVERITY_OVERRIDE>low</SEVERITY_OVERRIDE>\n\t\t\t\t<SEVERITY_JUSTIFICATION>Only signed images reach this enclave.</SEVERITY_JUSTIFICATION>",
    );
    edit(
        &mut text,
        &trust.meta.vuln_id,
        "<FINDING_DETAILS>[stigfix]",
        "<FINDING_DETAILS>Seen open on 2026-11-01.\n\n[stigfix]",
    );
    text
}

#[test]
fn merging_keeps_what_a_person_wrote_and_updates_what_stigfix_determines() {
    let plan = plan();
    let before = build(&plan, &Context::default());
    let existing = ckl::read(&persons_checklist(&before[0]), "assessor.ckl").unwrap();
    // Since then content trust was fixed.
    let mut plan = plan;
    plan.rules[0].status = Status::Pass;
    plan.rules[0].checks.clear();
    let mut checklists = build(&plan, &Context::default());
    let warnings = merge::merge_all(&mut checklists, &[existing], true).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let cluster = &checklists[0];
    assert_eq!(cluster.merged_from.as_deref(), Some("assessor.ckl"));
    let manual = rule(cluster, "DKER-EE-001100");
    assert_eq!(manual.status, CklStatus::NotAFinding);
    assert!(
        manual
            .comments
            .starts_with("LDAP verified in the UI by J. Doe.")
    );
    assert!(
        manual
            .finding_details
            .contains("Status NotAFinding kept from assessor.ckl")
    );
    let trust = rule(cluster, "DKER-EE-004370");
    assert_eq!(trust.status, CklStatus::NotAFinding);
    assert_eq!(trust.severity_override, Some(Severity::Low));
    assert_eq!(
        trust.severity_justification,
        "Only signed images reach this enclave."
    );
    assert!(
        trust
            .finding_details
            .starts_with("Seen open on 2026-11-01.\n\n[stigfix] ")
    );
    assert!(
        trust
            .finding_details
            .contains("Changed since assessor.ckl: Open -> NotAFinding")
    );
    assert_eq!(trust.finding_details.matches("[stigfix]").count(), 1);
    // The severity in force counts in the summary: one more CAT III.
    assert_eq!(trust.severity(), Severity::Low);
    // Merging again keeps the person's lines once.
    let again = ckl::read(&ckl::write(cluster), "second.ckl").unwrap();
    let mut checklists = build(&plan, &Context::default());
    merge::merge_all(&mut checklists, &[again], true).unwrap();
    let trust = rule(&checklists[0], "DKER-EE-004370");
    assert_eq!(trust.finding_details.matches("Seen open on").count(), 1);
    assert!(
        trust
            .finding_details
            .contains("Unchanged since second.ckl: NotAFinding")
    );
    let manual = rule(&checklists[0], "DKER-EE-001100");
    assert_eq!(manual.comments, "LDAP verified in the UI by J. Doe.");
}

#[test]
fn another_release_is_refused_naming_both() {
    let plan = plan();
    let checklists = build(&plan, &Context::default());
    let old = ckl::write(&checklists[0]).replace(
        "<SID_DATA>Release: 2 Benchmark Date: 24 Jul 2024</SID_DATA>",
        "<SID_DATA>Release: 1 Benchmark Date: 23 Apr 2021</SID_DATA>",
    );
    let existing = ckl::read(&old, "old.ckl").unwrap();
    let mut checklists = build(&plan, &Context::default());
    let error = merge::merge_all(&mut checklists, &[existing], true).unwrap_err();
    let message = error.message();
    for expected in [
        "old.ckl",
        "V2R1",
        "Release: 1 Benchmark Date: 23 Apr 2021",
        "V2R2",
        "Release: 2 Benchmark Date: 24 Jul 2024",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
}

#[test]
fn the_terminal_shows_open_and_undetermined_rules() {
    let mut plan = plan();
    let path = KeyPath::parse("auth.backend").unwrap();
    let mut unknown = result("DKER-EE-002180", Some(ucp()), "ucp", Status::Unknown);
    unknown.checks.push(Check {
        path: path.clone(),
        source: None,
        expected: Expected::default(),
        observed: Observed::Value {
            value: Shown::NotSet,
            why_not_set: None,
        },
        outcome: Outcome::Unknown("the config cannot be read".into()),
    });
    plan.rules[1] = unknown;
    let checklists = build(&plan, &Context::default());
    let shown = text::text(&checklists, false, &crate::output::Output::plain());
    assert!(
        shown.contains("! DKER-EE-004370 (CAT II, V-235847) trust_configuration.require_content_trust is false, requires = true"),
        "{shown}"
    );
    assert!(
        shown.contains("? DKER-EE-002180 (CAT II, V-235821) could not be determined: auth.backend cannot be determined: the config cannot be read"),
        "{shown}"
    );
    assert!(
        shown.ends_with(
            "2 checklist(s): Open 1, NotAFinding 1, Not_Applicable 6, Not_Reviewed 194\n"
        ),
        "{shown}"
    );
    let hdf: serde_json::Value = serde_json::from_str(&hdf::write(&checklists[0])).unwrap();
    let control = hdf["profiles"][0]["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|control| control["tags"]["stig_id"] == "DKER-EE-002180")
        .unwrap();
    assert_eq!(control["results"][0]["status"], "error");
}

#[test]
fn a_cklb_as_stig_viewer_3_saves_it_is_read() {
    let checklists = build(&plan(), &Context::default());
    let mut saved: serde_json::Value = serde_json::from_str(&cklb::write(&checklists[0])).unwrap();
    // Keys STIG Viewer 3 adds beyond its schema, and a person's override.
    saved["active"] = serde_json::json!(false);
    saved["mode"] = serde_json::json!(2);
    saved["target_data"]["classification"] = serde_json::Value::Null;
    saved["stigs"][0]["version"] = serde_json::json!("1");
    let rules = saved["stigs"][0]["rules"].as_array_mut().unwrap();
    rules[0]["overrides"] =
        serde_json::json!({"severity": {"severity": "high", "reason": "Exposed."}});
    rules[0]["status"] = serde_json::json!("not_applicable");
    let existing = cklb::read(&saved.to_string(), "sv3.cklb").unwrap();
    let stig = &existing.stigs[0];
    assert_eq!(stig.version.as_deref(), Some("1"));
    assert_eq!(stig.rules[0].severity_override, Some(Severity::High));
    assert_eq!(stig.rules[0].severity_justification, "Exposed.");
    assert_eq!(stig.rules[0].status, CklStatus::NotApplicable);
    // Version 1 of the STIG is another release, even with the same release info.
    let mut checklists = build(&plan(), &Context::default());
    let error = merge::merge_all(&mut checklists, &[existing], true).unwrap_err();
    assert!(error.message().contains("sv3.cklb"), "{}", error.message());
    assert!(error.message().contains("V1R2"), "{}", error.message());
}
