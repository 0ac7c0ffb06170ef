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
            "StaticBenchmark {{ id: {:?}, title: {:?}, release: {:?}, release_info: {:?}, source: {:?}, rules: &[",
            benchmark.id, benchmark.title, benchmark.release, benchmark.release_info,
            format!("(embedded) {file}")
        )
        .unwrap();
        for rule in &benchmark.rules {
            writeln!(
                code,
                "StaticRule {{ stig_id: {:?}, vuln_id: {:?}, rule_id: {:?}, severity: {:?}, title: {:?}, discussion: {:?}, check_text: {:?}, fix_text: {:?}, ccis: &{:?}, srg: {:?} }},",
                rule.stig_id, rule.vuln_id, rule.rule_id, rule.severity, rule.title,
                rule.discussion, rule.check_text, rule.fix_text, rule.ccis, rule.srg
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
