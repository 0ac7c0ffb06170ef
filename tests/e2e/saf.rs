//! The MITRE SAF CLI (`@mitre/saf` on the npm registry: the converters Heimdall, STIG Manager
//! and eMASS users run) reads what `stigfix check` writes: `saf convert ckl2hdf` of every
//! `.ckl` and `saf convert hdf2ckl` of every HDF file give back every rule with stigfix's
//! status, and the NIST tags stigfix derives from the CCIs are MITRE's.
//!
//! Ignored by default (they need Node and the SAF CLI); `.ci/run` installs the CLI and runs them
//! with `cargo test --test e2e -- --ignored saf_`. Without the CLI they fail, saying how to
//! install it: they never pass silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::check::{ckl_statuses, cluster};

const INSTALL: &str = "the MITRE SAF CLI is needed: `npm install --prefix /var/cache/stigfix/saf @mitre/saf@1.5.3` and set STIGFIX_SAF=/var/cache/stigfix/saf/node_modules/.bin/saf (.ci/run does both), or put `saf` on PATH";

/// The `saf` executable: `$STIGFIX_SAF`, else `saf` on PATH.
fn saf() -> PathBuf {
    if let Some(path) = std::env::var_os("STIGFIX_SAF") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "STIGFIX_SAF={} does not exist; {INSTALL}",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("saf"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{INSTALL}"))
}

/// Run `saf convert <command> -i input -o output`.
fn convert(command: &str, input: &Path, output: &Path) {
    // The CLI writes `saf-cli.log` into its working folder: the test's.
    let out = Command::new(saf())
        .current_dir(output.parent().expect("a folder"))
        .args(["convert", command, "-i"])
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap_or_else(|error| panic!("run saf: {error}; {INSTALL}"));
    assert!(
        out.status.success() && output.is_file(),
        "saf convert {command} {} failed:\n{}\n{}",
        input.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    files
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// STIG Viewer status of an HDF control, as MITRE's converters decide it.
fn hdf_status(control: &serde_json::Value) -> &'static str {
    if control["impact"].as_f64() == Some(0.0) {
        return "Not_Applicable";
    }
    let statuses: Vec<&str> = control["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|result| result["status"].as_str())
        .collect();
    if statuses.contains(&"failed") {
        "Open"
    } else if statuses.contains(&"passed") {
        "NotAFinding"
    } else {
        "Not_Reviewed"
    }
}

#[test]
#[ignore = "needs the MITRE SAF CLI (run by .ci/run with --ignored saf_)"]
fn saf_ckl2hdf_reads_every_rule_and_status() {
    saf();
    let (env, _root) = cluster();
    env.run(&["check", "--format", "ckl", "--out", "ckl"])
        .assert_code(2);
    env.run(&["check", "--format", "hdf", "--out", "hdf"])
        .assert_code(2);
    let ckls = files(&env.path("ckl"), "ckl");
    assert_eq!(ckls.len(), 6);
    for ckl in &ckls {
        let ours = ckl_statuses(&std::fs::read_to_string(ckl).unwrap());
        let converted = ckl.with_extension("saf.json");
        convert("ckl2hdf", ckl, &converted);
        let hdf = read_json(&converted);
        let controls = hdf["profiles"][0]["controls"].as_array().unwrap();
        assert_eq!(controls.len(), ours.len(), "rules of {}", ckl.display());
        let mut theirs = BTreeMap::new();
        for control in controls {
            let stig_id = control["tags"]["stig_id"].as_str().unwrap().to_string();
            theirs.insert(
                stig_id.clone(),
                (hdf_status(control), control["tags"]["nist"].clone()),
            );
            assert_eq!(
                hdf_status(control),
                ours[&stig_id].2,
                "{stig_id} of {}",
                ckl.display()
            );
        }
        // stigfix's own HDF of the same checklist: the NIST tags MITRE derives from the CCIs.
        let name = ckl
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".ckl", ".json");
        let own = read_json(&env.path("hdf").join(name));
        for control in own["profiles"][0]["controls"].as_array().unwrap() {
            let stig_id = control["tags"]["stig_id"].as_str().unwrap();
            assert_eq!(
                control["tags"]["nist"], theirs[stig_id].1,
                "NIST tags of {stig_id}"
            );
        }
    }
}

#[test]
#[ignore = "needs the MITRE SAF CLI (run by .ci/run with --ignored saf_)"]
fn saf_hdf2ckl_gives_back_every_rule_and_status() {
    saf();
    let (env, _root) = cluster();
    env.run(&["check", "--format", "ckl", "--out", "ckl"])
        .assert_code(2);
    env.run(&["check", "--format", "hdf", "--out", "hdf"])
        .assert_code(2);
    let hdfs = files(&env.path("hdf"), "json");
    assert_eq!(hdfs.len(), 6);
    for hdf in &hdfs {
        let name = hdf
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".json", ".ckl");
        let ours = ckl_statuses(&std::fs::read_to_string(env.path("ckl").join(&name)).unwrap());
        let converted = env.path("hdf").join(format!("saf-{name}"));
        convert("hdf2ckl", hdf, &converted);
        let theirs = ckl_statuses(&std::fs::read_to_string(&converted).unwrap());
        assert_eq!(theirs.len(), ours.len(), "rules of {}", hdf.display());
        for (stig_id, (severity, _, status)) in &ours {
            let (their_severity, _, their_status) = &theirs[stig_id];
            assert_eq!(their_status, status, "{stig_id} of {}", hdf.display());
            assert_eq!(their_severity, severity, "{stig_id} of {}", hdf.display());
        }
    }
}
