//! Every node's plan (the JSON `stigfix plan --host-root /host --format json` printed in its
//! task) merged into one domain [`Plan`] of the cluster: one `host` target per node, named by
//! the node's host name (`worker-1:/`, the root of node worker-1), with the rule results of that
//! node, so the plan renderers and the checklist writers work on it as on any plan.
//!
//! The nodes run the image's shipped playbooks without the site file. Before anything runs,
//! [`node_rules`] checks that this run's host rules are those (a `--playbook` or a site-file
//! variable that changes a host rule is refused, naming the rules); each node's plan must then
//! carry the rules digest of exactly those rules (else the node ran another stigfix: its image
//! is out of date). The site file's waivers are applied here, as `plan` applies them; the
//! paths under `/host` in what a node printed (evidence, reasons, notes, the diff) are shown as
//! the node's own paths.

use std::collections::BTreeMap;

use super::job::HOST;
use super::swarm::Node;
use crate::assess::{
    self, Check, Expected, ItemValue, NotAssessedReason, Observed, Outcome, RuleResult, Status,
    Unfixable,
};
use crate::keypath::KeyPath;
use crate::plan::{Plan, TargetPlan};
use crate::playbook::{self, ResolvedRule, RuleSet};
use crate::render::json::{CheckJson, ObservedJson, OutcomeJson, PlanJson, RuleJson, TargetJson};
use crate::site::SiteFile;
use crate::targets::{Edit, Product, TargetKind, TargetSpec, registry};

/// The host target's kind.
fn host() -> TargetKind {
    crate::targets::host::KIND
}

/// A node's target: the root `/` of the node, by its host name.
pub fn node_spec(node: &Node) -> TargetSpec {
    TargetSpec::new(host(), format!("{}:/", node.hostname))
}

/// What a rule checks, for comparing two rule sets (its waiver aside).
fn signature(rule: &ResolvedRule) -> String {
    let settings: Vec<String> = rule
        .settings
        .iter()
        .map(|setting| {
            let spec = &setting.setting;
            format!(
                "{} {:?} {:?} {:?} {:?} {:?} {:?}",
                spec.path,
                setting.value,
                spec.one_of,
                spec.not_in,
                spec.min,
                spec.max,
                spec.mode_within
            )
        })
        .collect();
    format!(
        "{} {} {:?} {}",
        rule.rule.mode.as_str(),
        rule.playbook,
        rule.rule.matching,
        settings.join("; ")
    )
}

/// The rules the nodes run (the shipped playbooks, no site file, this run's filters) and
/// their digest; `Err` when this run's host rules differ from them.
pub fn node_rules(run: &RuleSet, filter: &playbook::RuleFilter) -> crate::error::Result<String> {
    let shipped = playbook::resolve(
        playbook::shipped()?,
        Vec::new(),
        &SiteFile::default(),
        filter,
    )?;
    let signatures = |rules: &RuleSet| -> BTreeMap<String, String> {
        rules
            .for_target(host())
            .map(|rule| (rule.stig_id().to_string(), signature(rule)))
            .collect()
    };
    let (ours, theirs) = (signatures(run), signatures(&shipped));
    let mut differ: Vec<&str> = ours
        .iter()
        .filter(|(id, signature)| theirs.get(*id) != Some(signature))
        .map(|(id, _)| id.as_str())
        .collect();
    differ.extend(
        theirs
            .keys()
            .filter(|id| !ours.contains_key(*id))
            .map(String::as_str),
    );
    if !differ.is_empty() {
        return Err(crate::error::Error::new(format!(
            "the host rules of this run differ from the shipped playbooks the nodes run ({}): a --playbook or a site-file variable changes them",
            differ.join(", ")
        ))
        .with_hint("stigfix nodes runs the image's own playbooks on every node; run without --playbook (waivers of the site file are applied), or run `stigfix plan --host-root /` on each node"));
    }
    Ok(shipped.digest())
}

/// A node's plan, from what its task printed.
pub fn parse(stdout: &[u8], node: &Node) -> Result<PlanJson, String> {
    let text = String::from_utf8_lossy(stdout);
    if text.trim().is_empty() {
        return Err("its task printed no plan".to_string());
    }
    crate::render::json::read_plan(&text, &format!("the plan node {} printed", node.hostname))
        .map_err(|error| error.message())
}

fn key_path(text: &str) -> Result<KeyPath, String> {
    KeyPath::parse(text).map_err(|why| format!("a path it printed, `{text}`: {why}"))
}

fn check(json: &CheckJson) -> Result<Check, String> {
    let expected = &json.expected;
    Ok(Check {
        path: key_path(&json.path)?,
        source: json.source.as_deref().map(on_node_in),
        expected: Expected {
            value: expected.value.clone(),
            one_of: expected.one_of.clone(),
            not_in: expected.not_in.clone(),
            min: expected.min,
            max: expected.max,
            mode_within: expected.mode_within.clone(),
            variable: expected.variable.clone(),
        },
        observed: match &json.observed {
            ObservedJson::Value { value, why_not_set } => Observed::Value {
                value: value.clone(),
                why_not_set: why_not_set.as_deref().map(on_node_in),
            },
            ObservedJson::Items { total, failing } => Observed::Items {
                total: *total,
                failing: failing
                    .iter()
                    .map(|item| {
                        Ok(ItemValue {
                            path: key_path(&item.path)?,
                            value: item.value.clone(),
                            why_not_set: item.why_not_set.as_deref().map(on_node_in),
                        })
                    })
                    .collect::<Result<_, String>>()?,
            },
            ObservedJson::Nothing { reason } => Observed::Nothing {
                reason: on_node_in(reason),
            },
        },
        outcome: match json.outcome {
            OutcomeJson::Pass => Outcome::Pass,
            OutcomeJson::Fail => Outcome::Fail,
            OutcomeJson::Unknown => {
                Outcome::Unknown(on_node_in(json.reason.as_deref().unwrap_or_default()))
            }
            OutcomeJson::VariableUnset => Outcome::VariableUnset,
        },
    })
}

/// A rule result of the node's plan, on the node's target, with this run's waiver.
fn rule(
    json: &RuleJson,
    spec: &TargetSpec,
    ours: Option<&ResolvedRule>,
    today: time::Date,
) -> Result<RuleResult, String> {
    let mut result = RuleResult {
        target: Some(spec.clone()),
        kind: json.kind,
        stig_id: json.stig_id.clone(),
        vuln_id: json.vuln_id.clone(),
        rule_id: json.rule_id.clone(),
        severity: json.severity,
        title: json.title.clone(),
        playbook: json.playbook.clone(),
        mode: json.mode,
        status: json.status,
        checks: json.checks.iter().map(check).collect::<Result<_, _>>()?,
        unfixable: json
            .unfixable
            .iter()
            .map(|unfixable| {
                Ok(Unfixable {
                    path: key_path(&unfixable.path)?,
                    reason: on_node_in(&unfixable.reason),
                })
            })
            .collect::<Result<_, String>>()?,
        not_assessed: json
            .not_assessed
            .as_ref()
            .map(|_| NotAssessedReason::ByPlaybook),
        note: json.note.clone(),
        waiver: None,
        waiver_expired: None,
    };
    if let Some(ours) = ours {
        if let Some(waiver) = ours.active_waiver(today) {
            // As `plan` does: a waived rule is reported with its waiver, not its checks.
            result.status = Status::Waived;
            result.waiver = Some(waiver.clone());
            result.checks.clear();
            result.unfixable.clear();
        } else {
            result.waiver_expired = ours.waiver.as_ref().and_then(|waiver| waiver.expires);
        }
    }
    Ok(result)
}

/// A node's part of the cluster plan: its target and its host rules' results.
pub fn node_part(
    node: &Node,
    plan: &PlanJson,
    expected_digest: &str,
    rules: &RuleSet,
    today: time::Date,
) -> Result<(TargetPlan, Vec<RuleResult>), String> {
    if plan.rules_digest != expected_digest {
        return Err(format!(
            "it ran other rules than this stigfix {} (rules digest {}, expected {}): its image is another version; build and load this one (`stigfix nodes image`)",
            env!("CARGO_PKG_VERSION"),
            plan.rules_digest,
            expected_digest
        ));
    }
    let target: &TargetJson = match plan.targets.as_slice() {
        [target] if target.kind == host() => target,
        targets => {
            return Err(format!(
                "its plan has {} target(s), not the one host target it was asked for",
                targets.len()
            ));
        }
    };
    let spec = node_spec(node);
    let edits = target
        .changes
        .iter()
        .map(|change| {
            Ok(Edit {
                path: key_path(&change.path)?,
                before: change.before.to_toml(),
                // A secret's value is never printed; what stands in for it is never shown
                // either (`Shown::at` redacts it again).
                after: change
                    .after
                    .to_toml()
                    .unwrap_or_else(|| toml::Value::String(change.after.display())),
                rules: change.rules.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let ours: BTreeMap<(&str, &str), &ResolvedRule> = rules
        .for_target(host())
        .map(|rule| ((rule.playbook.as_str(), rule.stig_id()), rule))
        .collect();
    let results = plan
        .rules
        .iter()
        .filter(|json| json.kind == host() && json.target.is_some())
        .map(|json| {
            rule(
                json,
                &spec,
                ours.get(&(json.playbook.as_str(), json.stig_id.as_str()))
                    .copied(),
                today,
            )
        })
        .collect::<Result<Vec<_>, String>>()?;
    let target_plan = TargetPlan {
        spec,
        product: node
            .engine
            .as_deref()
            .map(|version| Product::new("Docker Engine", Some(version)))
            .or_else(|| target.product.clone()),
        fingerprint: target.fingerprint.clone(),
        edits,
        diff: on_node_in(&target.diff),
        actions: target
            .actions
            .iter()
            .map(|action| on_node_in(action))
            .collect(),
        notes: target.notes.iter().map(|note| on_node_in(note)).collect(),
        refusal: None,
    };
    Ok((target_plan, results))
}

/// `/host/…` paths inside a text (a sentence, a list of files, a diff): every `/host` that
/// starts a path (at the start, or after a space, `(`, `,`, `'` or `"`) and ends at a `/` or a
/// path's end.
fn on_node_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut previous: Option<char> = None;
    while let Some(at) = rest.find(HOST) {
        let before = rest[..at].chars().next_back().or(previous);
        let after = rest[at + HOST.len()..].chars().next();
        let starts = before.is_none_or(|c| matches!(c, ' ' | '(' | ',' | '\'' | '"' | '\n' | '\t'));
        let ends =
            after.is_none_or(|c| c == '/' || c.is_whitespace() || matches!(c, ',' | ')' | ':'));
        out.push_str(&rest[..at]);
        if starts && ends {
            if after != Some('/') {
                out.push('/');
            }
        } else {
            out.push_str(HOST);
        }
        previous = Some('t');
        rest = &rest[at + HOST.len()..];
    }
    out.push_str(rest);
    out
}

/// The cluster's plan from the nodes' parts (in the order given); the rules of other targets
/// are not assessed, as in a run with only `--host-root`.
pub fn cluster_plan(
    parts: Vec<(TargetPlan, Vec<RuleResult>)>,
    rules: &RuleSet,
    created_at: String,
    insecure: bool,
) -> Plan {
    let mut targets = Vec::new();
    let mut results = Vec::new();
    for (target, rule_results) in parts {
        targets.push(target);
        results.extend(rule_results);
    }
    for registration in registry::ALL {
        let kind = registration.kind;
        if kind != host() {
            results.extend(assess::not_assessed(rules.for_target(kind), kind));
        }
    }
    Plan {
        created_at,
        insecure,
        playbooks: rules.playbooks.clone(),
        benchmarks: rules.benchmarks.clone(),
        rules_digest: rules.digest(),
        targets,
        rules: results,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_the_nodes_own() {
        assert_eq!(
            on_node_in("/host/etc/docker/daemon.json:3"),
            "/etc/docker/daemon.json:3"
        );
        assert_eq!(on_node_in("/host"), "/");
        assert_eq!(
            on_node_in("/hostname, /srv/host/x"),
            "/hostname, /srv/host/x"
        );
        assert_eq!(
            on_node_in("/lib/a.service, /host/etc/b.conf, /host/etc/docker/daemon.json"),
            "/lib/a.service, /etc/b.conf, /etc/docker/daemon.json"
        );
        assert_eq!(
            on_node_in("kernel FIPS mode is off (/host/proc/sys/crypto/fips_enabled = 0)"),
            "kernel FIPS mode is off (/proc/sys/crypto/fips_enabled = 0)"
        );
        assert_eq!(
            on_node_in("--- /host/etc/x\n+++ /host/etc/x"),
            "--- /etc/x\n+++ /etc/x"
        );
    }
}
