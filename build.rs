//! Parses the embedded DISA XCCDF benchmarks (stig/*.xml) once, at build time, into static
//! rule metadata, so no run pays for parsing 580 KB of XML (see README, "Speed").

#[path = "src/benchmark/xccdf.rs"]
#[allow(dead_code)]
mod xccdf;

use std::fmt::Write;

const FILES: &[&str] = &[
    "stig/U_Docker_Enterprise_2-x_Linux-Unix_STIG_V2R2_Manual-xccdf.xml",
    "stig/U_Mirantis_Kubernetes_Engine_STIG_V2R1_Manual-xccdf.xml",
];

fn main() {
    let mut code = String::from("static EMBEDDED: &[StaticBenchmark] = &[\n");
    for file in FILES {
        println!("cargo::rerun-if-changed={file}");
        let xml = std::fs::read_to_string(file).expect("embedded XCCDF is readable");
        let benchmark = xccdf::parse(&xml, file).expect("embedded XCCDF is valid");
        writeln!(
            code,
            "StaticBenchmark {{ id: {:?}, title: {:?}, version: {:?}, release: {:?}, release_info: {:?}, description: {:?}, notice: {:?}, reference_source: {:?}, source: {:?}, rules: &[",
            benchmark.id, benchmark.title, benchmark.version, benchmark.release, benchmark.release_info,
            benchmark.description, benchmark.notice, benchmark.reference_source,
            format!("(embedded) {file}")
        )
        .unwrap();
        for rule in &benchmark.rules {
            writeln!(
                code,
                "StaticRule {{ stig_id: {:?}, vuln_id: {:?}, rule_id: {:?}, severity: {:?}, title: {:?}, discussion: {:?}, check_text: {:?}, fix_text: {:?}, ccis: &{:?}, srg: {:?}, weight: {:?}, legacy_ids: &{:?}, check_id: {:?}, fix_id: {:?}, check_ref_name: {:?}, check_ref_href: {:?}, target_key: {:?}, group_description: {:?}, description_fields: &{:?} }},",
                rule.stig_id, rule.vuln_id, rule.rule_id, rule.severity, rule.title,
                rule.discussion, rule.check_text, rule.fix_text, rule.ccis, rule.srg,
                rule.weight, rule.legacy_ids, rule.check_id, rule.fix_id, rule.check_ref_name,
                rule.check_ref_href, rule.target_key, rule.group_description, rule.description_fields
            )
            .unwrap();
        }
        code.push_str("] },\n");
    }
    code.push_str("];\n");
    let out =
        std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded_benchmarks.rs");
    std::fs::write(out, code).unwrap();
}
