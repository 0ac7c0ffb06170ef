//! `stigfix check`: read-only, exits like `plan --detailed-exitcode`, one checklist per asset
//! and STIG in every format, each valid against its schema (`.ckl` with `xmllint --schema`,
//! `.cklb`, HDF and the check JSON with `jsonschema`), statuses that agree between the formats,
//! the plan and the Markdown report, merging that never loses an assessor's work, and no secret
//! anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use stigfix::sim::host::{tree, ubuntu_node};
use stigfix::sim::{DtrOptions, generate_repositories};

use crate::support::{EnvOptions, PASSPHRASE, PASSWORD, TestEnv, assert_absent, json};

const DOCKER: &str = "Docker_Enterprise_2-x_Linux-UNIX_STIG";
const MKE: &str = "Mirantis_Kubernetes_Engine_STIG";

/// UCP, DTR (same simulator) and an Ubuntu node whose `etc/hostname` names it.
pub fn cluster() -> (TestEnv, PathBuf) {
    let mut env = TestEnv::start(EnvOptions {
        dtr: Some(DtrOptions {
            repositories: generate_repositories(6, 3),
            settings: Some(serde_json::json!({
                "scanningEnabled": false,
                "createRepositoryOnPush": true,
                "dtrHost": "dtr.example.mil",
            })),
            ..DtrOptions::default()
        }),
        ..EnvOptions::default()
    });
    let root = env.path("node1");
    ubuntu_node(&root).expect("build the fake node");
    std::fs::write(root.join("etc/hostname"), "node1.example.mil\n").expect("write etc/hostname");
    env.set_env("STIGFIX_HOST_ROOT", &root);
    (env, root)
}

/// The simulator's `127.0.0.1-<port>` as file names carry it.
fn server(env: &TestEnv) -> String {
    env.url().trim_start_matches("https://").replace(':', "-")
}

/// Validate a `.ckl` with `xmllint --schema docs/checklist/ckl.xsd`; fails (never skips) when
/// xmllint is missing.
#[track_caller]
pub fn assert_valid_ckl(path: &Path) {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/checklist/ckl.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(path)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "xmllint is needed to validate checklists ({error}): install Debian's libxml2-utils (`apt-get install libxml2-utils`; .ci/run does)"
            )
        });
    assert!(
        out.status.success(),
        "{} does not validate against docs/checklist/ckl.xsd:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validate JSON against a schema file of the repository.
#[track_caller]
pub fn assert_valid_json(value: &serde_json::Value, schema: &str, what: &str) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(schema))
        .unwrap_or_else(|error| panic!("read {schema}: {error}"));
    let schema_value: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema_value)
        .expect("a valid JSON Schema");
    let problems: Vec<String> = validator
        .iter_errors(value)
        .take(10)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{what} does not validate against {schema}:\n{}",
        problems.join("\n")
    );
}

/// `(STIG ID → (severity, override, STATUS))` of a `.ckl`, read with a real XML parser.
pub fn ckl_statuses(text: &str) -> BTreeMap<String, (String, String, String)> {
    let document = roxmltree::Document::parse(text).expect("a .ckl is XML");
    let mut statuses = BTreeMap::new();
    for vuln in document
        .descendants()
        .filter(|node| node.has_tag_name("VULN"))
    {
        let attribute = |name: &str| -> String {
            vuln.children()
                .filter(|node| node.has_tag_name("STIG_DATA"))
                .find(|node| {
                    node.children().any(|child| {
                        child.has_tag_name("VULN_ATTRIBUTE") && child.text() == Some(name)
                    })
                })
                .and_then(|node| {
                    node.children()
                        .find(|child| child.has_tag_name("ATTRIBUTE_DATA"))
                })
                .and_then(|node| node.text())
                .unwrap_or_default()
                .to_string()
        };
        let child = |name: &str| -> String {
            vuln.children()
                .find(|node| node.has_tag_name(name))
                .and_then(|node| node.text())
                .unwrap_or_default()
                .to_string()
        };
        statuses.insert(
            attribute("Rule_Ver"),
            (
                attribute("Severity"),
                child("SEVERITY_OVERRIDE"),
                child("STATUS"),
            ),
        );
    }
    statuses
}

/// The text of an element of one rule (by STIG ID) in a `.ckl`.
pub fn ckl_field(text: &str, stig_id: &str, element: &str) -> String {
    let document = roxmltree::Document::parse(text).expect("a .ckl is XML");
    let vuln = document
        .descendants()
        .filter(|node| node.has_tag_name("VULN"))
        .find(|vuln| {
            vuln.descendants()
                .any(|node| node.has_tag_name("ATTRIBUTE_DATA") && node.text() == Some(stig_id))
        })
        .unwrap_or_else(|| panic!("no VULN for {stig_id}"));
    vuln.children()
        .find(|node| node.has_tag_name(element))
        .and_then(|node| node.text())
        .unwrap_or_default()
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The design's mapping, from the plan JSON's word.
fn ckl_of(status: &str) -> &'static str {
    match status {
        "pass" => "NotAFinding",
        "fix" | "open" | "waived" => "Open",
        "not_applicable" => "Not_Applicable",
        "manual" | "not_assessed" | "unknown" => "Not_Reviewed",
        other => panic!("unknown status {other}"),
    }
}

#[test]
fn check_changes_nothing_and_exits_like_detailed_exitcode() {
    let (env, root) = cluster();
    let before = tree(&root).expect("walk the node");
    for format in ["text", "json", "ckl", "cklb", "hdf"] {
        let out = env.run(&[
            "check",
            "--format",
            format,
            "--out",
            &format!("out-{format}"),
        ]);
        out.assert_code(2);
    }
    env.run(&["check"]).assert_code(2);
    assert_eq!(env.sim.write_count(), 0, "check wrote to the simulator");
    assert_eq!(
        tree(&root).expect("walk the node"),
        before,
        "check changed the node"
    );
    env.assert_unchanged();
    // Clean for the rules it is narrowed to: exit 0.
    env.run(&["apply", "--yes", "--rule", "DKER-EE-004370"])
        .assert_code(0);
    let writes = env.sim.write_count();
    env.run(&[
        "check",
        "--rule",
        "DKER-EE-004370",
        "--rule",
        "DKER-EE-003590",
    ])
    .assert_code(0);
    assert_eq!(env.sim.write_count(), writes);
    // An error is 1.
    let mut broken = env;
    broken.set_env("STIGFIX_PASSWORD", "Wr0ng-Pa55-e2e-c4e1");
    broken.run(&["check"]).assert_code(1);
}

#[test]
fn one_valid_checklist_per_asset_and_stig_with_every_rule() {
    let (env, _root) = cluster();
    let out = env.run(&["check", "--format", "ckl", "--out", "ckl"]);
    out.assert_code(2);
    let server = server(&env);
    let expected: Vec<String> = vec![
        format!("dtr-{server}_{DOCKER}_V2R2.ckl"),
        format!("dtr-{server}_{MKE}_V2R1.ckl"),
        format!("host-node1.example.mil_{DOCKER}_V2R2.ckl"),
        format!("host-node1.example.mil_{MKE}_V2R1.ckl"),
        format!("ucp-{server}_{DOCKER}_V2R2.ckl"),
        format!("ucp-{server}_{MKE}_V2R1.ckl"),
    ];
    assert_eq!(files(&env.path("ckl")), expected, "{}", out.stderr);
    assert!(
        out.stderr.contains("Wrote 6 checklist(s)"),
        "{}",
        out.stderr
    );

    let plan = json(&env.run(&["plan", "--format", "json"]).stdout);
    let report = json(&env.run(&["check", "--format", "json"]).stdout);
    assert_valid_json(&report, "docs/check.schema.json", "the check JSON");
    assert_eq!(report["format_version"], 1);
    let checklists = report["checklists"].as_array().unwrap();
    assert_eq!(checklists.len(), 6);
    for checklist in checklists {
        let file = env.path("ckl").join(checklist["file"].as_str().unwrap());
        assert_valid_ckl(&file);
        let text = read(&file);
        let statuses = ckl_statuses(&text);
        let stig = checklist["stig"]["id"].as_str().unwrap();
        assert_eq!(
            statuses.len(),
            if stig == DOCKER { 101 } else { 44 },
            "{}",
            file.display()
        );
        let rules = checklist["rules"].as_array().unwrap();
        assert_eq!(rules.len(), statuses.len());
        let targets: Vec<&str> = checklist["asset"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|target| target["id"].as_str().unwrap())
            .collect();
        for rule in rules {
            let stig_id = rule["stig_id"].as_str().unwrap();
            let status = rule["status"].as_str().unwrap();
            assert_eq!(
                statuses[stig_id].2,
                status,
                "{stig_id} in {}",
                file.display()
            );
            // The status is the plan's, mapped, where the rule concerns this asset.
            let planned = plan["rules"].as_array().unwrap().iter().find(|result| {
                result["stig_id"] == stig_id
                    && result["playbook"].as_str().unwrap().starts_with(stig)
                    && result["target"]
                        .as_str()
                        .is_some_and(|target| targets.contains(&target))
            });
            match planned {
                Some(result) => {
                    assert_eq!(
                        status,
                        ckl_of(result["status"].as_str().unwrap()),
                        "{stig_id}"
                    );
                    assert_eq!(rule["stigfix_status"], result["status"]);
                }
                None => assert!(
                    matches!(status, "Not_Applicable" | "Not_Reviewed"),
                    "{stig_id}: {status}"
                ),
            }
        }
    }
    // A UCP rule: Open on the cluster with its evidence, not applicable on the node.
    let ucp = read(&env.path("ckl").join(&expected[4]));
    assert_eq!(ckl_statuses(&ucp)["DKER-EE-004370"].2, "Open");
    let details = ckl_field(&ucp, "DKER-EE-004370", "FINDING_DETAILS");
    for needle in [
        "[stigfix] stigfix 0.1.0 check of 2026-11-22T10:00:00Z",
        "(MKE 3.7.3)",
        "trust_configuration.require_content_trust is false, requires = true",
        &format!("read from GET {}/api/ucp/config-toml", env.url()),
        "-> Open",
    ] {
        assert!(details.contains(needle), "{needle}:\n{details}");
    }
    let node = read(&env.path("ckl").join(&expected[2]));
    assert_eq!(ckl_statuses(&node)["DKER-EE-004370"].2, "Not_Applicable");
    assert!(
        ckl_field(&node, "DKER-EE-004370", "FINDING_DETAILS").contains("`ucp` target"),
        "the reason is given"
    );
    assert!(node.contains("<HOST_NAME>node1.example.mil</HOST_NAME>"));
    assert!(node.contains("<HOST_FQDN>node1.example.mil</HOST_FQDN>"));
    assert!(node.contains("<WEB_OR_DATABASE>false</WEB_OR_DATABASE>"));
    // The cluster and its registry share a host and a site, told apart by the instance.
    assert!(ucp.contains("<WEB_OR_DATABASE>true</WEB_OR_DATABASE>"));
    assert!(ucp.contains("<WEB_DB_INSTANCE>ucp</WEB_DB_INSTANCE>"));
    let dtr = read(&env.path("ckl").join(&expected[0]));
    assert!(dtr.contains("<WEB_DB_INSTANCE>dtr</WEB_DB_INSTANCE>"));
    assert_eq!(ckl_statuses(&dtr)["DKER-EE-003840"].2, "Open");
    // Deterministic: a second run writes the same files.
    env.run(&["check", "--format", "ckl", "--out", "again"])
        .assert_code(2);
    for name in &expected {
        assert_eq!(
            read(&env.path("again").join(name)),
            read(&env.path("ckl").join(name))
        );
    }
}

#[test]
fn cklb_and_hdf_follow_their_schemas_and_carry_the_same_statuses() {
    let (env, _root) = cluster();
    env.run(&["check", "--format", "ckl", "--out", "ckl"])
        .assert_code(2);
    env.run(&["check", "--format", "cklb", "--out", "cklb"])
        .assert_code(2);
    env.run(&["check", "--format", "hdf", "--out", "hdf"])
        .assert_code(2);
    let names = files(&env.path("ckl"));
    assert_eq!(files(&env.path("cklb")).len(), names.len());
    for name in &names {
        let stem = name.trim_end_matches(".ckl");
        let statuses = ckl_statuses(&read(&env.path("ckl").join(name)));

        let cklb: serde_json::Value =
            serde_json::from_str(&read(&env.path("cklb").join(format!("{stem}.cklb")))).unwrap();
        assert_valid_json(&cklb, "docs/checklist/cklb.schema.json", name);
        let rules = cklb["stigs"][0]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), statuses.len());
        assert_eq!(cklb["stigs"][0]["size"], statuses.len());
        for rule in rules {
            let word = match rule["status"].as_str().unwrap() {
                "not_a_finding" => "NotAFinding",
                "open" => "Open",
                "not_applicable" => "Not_Applicable",
                "not_reviewed" => "Not_Reviewed",
                other => panic!("{other}"),
            };
            assert_eq!(statuses[rule["rule_version"].as_str().unwrap()].2, word);
        }

        let hdf: serde_json::Value =
            serde_json::from_str(&read(&env.path("hdf").join(format!("{stem}.json")))).unwrap();
        assert_valid_json(&hdf, "docs/checklist/hdf.schema.json", name);
        let controls = hdf["profiles"][0]["controls"].as_array().unwrap();
        assert_eq!(controls.len(), statuses.len());
        for control in controls {
            let status = control["results"][0]["status"].as_str().unwrap();
            // As `saf convert hdf2ckl` maps it.
            let word = if control["impact"].as_f64() == Some(0.0) {
                "Not_Applicable"
            } else {
                match status {
                    "failed" => "Open",
                    "passed" => "NotAFinding",
                    _ => "Not_Reviewed",
                }
            };
            let stig_id = control["tags"]["stig_id"].as_str().unwrap();
            assert_eq!(statuses[stig_id].2, word, "{stig_id} in {name}");
            assert!(
                !control["tags"]["nist"].as_array().unwrap().is_empty(),
                "{stig_id}"
            );
        }
    }
}

#[test]
fn the_markdown_report_counts_what_the_checklists_hold() {
    let (env, _root) = cluster();
    env.run(&["plan", "--report", "plan.md"]).assert_code(0);
    let report = json(&env.run(&["check", "--format", "json"]).stdout);
    let markdown = read(&env.path("plan.md"));
    let section = markdown
        .split("## Checklist summary")
        .nth(1)
        .expect("a checklist summary")
        .split("\n## ")
        .next()
        .unwrap();
    let rows: Vec<Vec<String>> = section
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| Asset"))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect();
    let mut expected = Vec::new();
    for checklist in report["checklists"].as_array().unwrap() {
        let stig = format!(
            "{} {}",
            checklist["stig"]["id"].as_str().unwrap(),
            checklist["stig"]["release"].as_str().unwrap()
        );
        for cat in checklist["summary"].as_array().unwrap() {
            let counts = &cat["counts"];
            expected.push(vec![
                stig.clone(),
                cat["cat"].as_str().unwrap().to_string(),
                counts["open"].to_string(),
                counts["not_a_finding"].to_string(),
                counts["not_applicable"].to_string(),
                counts["not_reviewed"].to_string(),
            ]);
        }
    }
    let got: Vec<Vec<String>> = rows.iter().map(|row| row[1..].to_vec()).collect();
    assert_eq!(got, expected, "{section}");
}

#[test]
fn out_names_a_file_only_when_there_is_one_checklist() {
    let env = TestEnv::https();
    let out = env.run(&[
        "check",
        "--format",
        "ckl",
        "--rule",
        "DKER-EE-004370",
        "--out",
        "one.ckl",
    ]);
    out.assert_code(2);
    assert_valid_ckl(&env.path("one.ckl"));
    let out = env.run(&["check", "--format", "ckl", "--out", "many.ckl"]);
    out.assert_code(1);
    assert!(
        out.error_line()
            .contains("--out many.ckl: this run makes 2 checklists"),
        "{}",
        out.stderr
    );
    assert!(!env.path("many.ckl").exists());
}

/// A rule that reads the backup passphrase, so a check's live value is a secret.
const SECRET_PLAYBOOK: &str = r#"[playbook]
benchmark = "Docker_Enterprise_2-x_Linux-UNIX_STIG"
release = "V2R2"

[[rules]]
id = "DKER-EE-001000"
target = "ucp"
mode = "check"
settings = [{ path = "backup_schedule_config.passphrase", value = "not-the-passphrase" }]
"#;

#[test]
fn no_secret_in_any_checklist_report_or_output() {
    let (env, _root) = cluster();
    std::fs::write(env.path("secret.toml"), SECRET_PLAYBOOK).unwrap();
    // The demo site file sets variables and waivers of the shipped playbook this one replaces.
    std::fs::write(env.path("stigfix.toml"), "").unwrap();
    let mut written = Vec::new();
    for format in ["text", "json", "ckl", "cklb", "hdf"] {
        let dir = format!("secret-{format}");
        let out = env.run(&[
            "check",
            "--playbook",
            "secret.toml",
            "--format",
            format,
            "--out",
            &dir,
        ]);
        out.assert_code(2);
        assert_absent(&out.all(), PASSPHRASE, format);
        assert_absent(&out.all(), PASSWORD, format);
        let path = env.path(&dir);
        if path.is_dir() {
            written.extend(files(&path).into_iter().map(|name| path.join(name)));
        } else {
            written.push(path);
        }
    }
    let out = env.run(&["plan", "--playbook", "secret.toml", "--report", "plan.md"]);
    assert_absent(&out.all(), PASSPHRASE, "plan");
    written.push(env.path("plan.md"));
    let mut redacted = false;
    for path in &written {
        let text = read(path);
        assert_absent(&text, PASSPHRASE, &path.display().to_string());
        assert_absent(&text, PASSWORD, &path.display().to_string());
        redacted |= text.contains("backup_schedule_config.passphrase is (redacted)");
    }
    assert!(redacted, "the secret's check is shown, redacted");
}

/// The Docker checklist of the UCP, edited as STIG Viewer would save it: a rule stigfix cannot
/// decide set to NotAFinding with a comment, a severity override with its justification, and
/// a line of the assessor's own above stigfix's evidence.
fn hand_edit(text: &str, manual: &str) -> String {
    let mut text = text.to_string();
    let mut edit = |stig_id: &str, from: &str, to: &str| {
        let marker = format!("<ATTRIBUTE_DATA>{stig_id}</ATTRIBUTE_DATA>");
        let start = text.find(&marker).unwrap_or_else(|| panic!("no {stig_id}"));
        let end = start + text[start..].find("</VULN>").unwrap();
        let part = text[start..end].to_string();
        assert!(part.contains(from), "{stig_id} has no {from}");
        text.replace_range(start..end, &part.replacen(from, to, 1));
    };
    edit(
        manual,
        "<STATUS>Not_Reviewed</STATUS>",
        "<STATUS>NotAFinding</STATUS>",
    );
    edit(
        manual,
        "<COMMENTS></COMMENTS>",
        "<COMMENTS>Reviewed with the site admin on 2026-11-20: compliant.</COMMENTS>",
    );
    edit(
        "DKER-EE-004370",
        "<SEVERITY_OVERRIDE></SEVERITY_OVERRIDE>",
        "<SEVERITY_OVERRIDE>low</SEVERITY_OVERRIDE>",
    );
    edit(
        "DKER-EE-004370",
        "<SEVERITY_JUSTIFICATION></SEVERITY_JUSTIFICATION>",
        "<SEVERITY_JUSTIFICATION>Only the DTR&apos;s signed images can be pulled here.</SEVERITY_JUSTIFICATION>",
    );
    edit(
        "DKER-EE-004370",
        "<FINDING_DETAILS>[stigfix]",
        "<FINDING_DETAILS>Assessor: seen open in the UI too.\n\n[stigfix]",
    );
    text
}

#[test]
fn merge_keeps_the_assessors_work_and_records_what_changed() {
    let env = TestEnv::https();
    env.run(&["check", "--format", "ckl", "--out", "first"])
        .assert_code(2);
    let name = format!("ucp-{}_{DOCKER}_V2R2.ckl", server(&env));
    let first = read(&env.path("first").join(&name));
    let statuses = ckl_statuses(&first);
    let reviewed_by_a_person = |result: &str| {
        statuses
            .iter()
            .filter(|(_, (_, _, status))| status == "Not_Reviewed")
            .map(|(stig_id, _)| stig_id.clone())
            .find(|stig_id| ckl_field(&first, stig_id, "FINDING_DETAILS").contains(result))
    };
    let manual = reviewed_by_a_person("Result: manual")
        .or_else(|| reviewed_by_a_person("Result: not_assessed"))
        .expect("a rule a person must review");
    std::fs::create_dir_all(env.path("assessor")).unwrap();
    let edited = env.path("assessor").join(&name);
    std::fs::write(&edited, hand_edit(&first, &manual)).unwrap();
    assert_valid_ckl(&edited);

    // Content trust is fixed since.
    env.run(&["apply", "--yes", "--rule", "DKER-EE-004370"])
        .assert_code(0);
    let out = env.run(&[
        "check",
        "--format",
        "ckl",
        "--merge",
        edited.to_str().unwrap(),
        "--out",
        "merged",
    ]);
    out.assert_code(2);
    let merged_path = env.path("merged").join(&name);
    assert_valid_ckl(&merged_path);
    let merged = read(&merged_path);
    let statuses = ckl_statuses(&merged);
    assert_eq!(
        statuses[&manual].2, "NotAFinding",
        "the assessor's status stays"
    );
    assert_eq!(
        ckl_field(&merged, &manual, "COMMENTS"),
        "Reviewed with the site admin on 2026-11-20: compliant."
    );
    assert!(
        ckl_field(&merged, &manual, "FINDING_DETAILS").contains(&format!(
            "Status NotAFinding kept from {}",
            edited.display()
        ))
    );
    let trust = &statuses["DKER-EE-004370"];
    assert_eq!(trust.1, "low", "the severity override stays");
    assert_eq!(trust.2, "NotAFinding", "stigfix's new result");
    assert_eq!(
        ckl_field(&merged, "DKER-EE-004370", "SEVERITY_JUSTIFICATION"),
        "Only the DTR's signed images can be pulled here."
    );
    let details = ckl_field(&merged, "DKER-EE-004370", "FINDING_DETAILS");
    assert!(
        details.starts_with("Assessor: seen open in the UI too.\n\n[stigfix] "),
        "{details}"
    );
    assert!(
        details.contains(&format!(
            "Changed since {}: Open -> NotAFinding",
            edited.display()
        )),
        "{details}"
    );
    // The other STIG's checklist had nothing to merge: a folder merge warns, a file does not.
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    // The merged checklist merges again, as .cklb too, and a folder of checklists works.
    let out = env.run(&[
        "check",
        "--format",
        "cklb",
        "--merge",
        "merged",
        "--out",
        "merged-cklb",
    ]);
    out.assert_code(2);
    let cklb: serde_json::Value = serde_json::from_str(&read(
        &env.path("merged-cklb").join(name.replace(".ckl", ".cklb")),
    ))
    .unwrap();
    assert_valid_json(&cklb, "docs/checklist/cklb.schema.json", "the merged .cklb");
    let rule = cklb["stigs"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["rule_version"] == "DKER-EE-004370")
        .unwrap();
    assert_eq!(rule["overrides"]["severity"]["severity"], "low");
    assert_eq!(
        rule["finding_details"]
            .as_str()
            .unwrap()
            .matches("Assessor: seen open")
            .count(),
        1
    );
}

#[test]
fn a_checklist_of_another_release_is_refused() {
    let env = TestEnv::https();
    env.run(&["check", "--format", "ckl", "--out", "first"])
        .assert_code(2);
    let name = format!("ucp-{}_{DOCKER}_V2R2.ckl", server(&env));
    let old = read(&env.path("first").join(&name)).replace(
        "<SID_DATA>Release: 2 Benchmark Date: 24 Jul 2024</SID_DATA>",
        "<SID_DATA>Release: 1 Benchmark Date: 23 Apr 2021</SID_DATA>",
    );
    std::fs::write(env.path("v2r1.ckl"), old).unwrap();
    let out = env.run(&[
        "check", "--format", "ckl", "--merge", "v2r1.ckl", "--out", "merged",
    ]);
    out.assert_code(1);
    let error = out.error_line();
    for needle in [
        "v2r1.ckl",
        "V2R1 (Release: 1 Benchmark Date: 23 Apr 2021)",
        "V2R2 (Release: 2 Benchmark Date: 24 Jul 2024)",
    ] {
        assert!(error.contains(needle), "{needle}: {error}");
    }
    assert!(!env.path("merged").exists(), "nothing was written");
    let out = env.run(&["check", "--merge", "missing.ckl"]);
    out.assert_code(1);
    assert!(out.error_line().contains("missing.ckl"), "{}", out.stderr);
    assert_eq!(env.sim.write_count(), 0);
}
