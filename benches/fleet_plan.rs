//! Benchmark: `stigfix plan` over an inventory of 20 simulated clusters with `--parallel 20`,
//! against the same plan of one of them, every simulator answering after 20 ms.
//!
//! Clusters are independent, so the floor of the fleet's plan is one cluster's plan: the
//! target is a wall time under 2× one cluster's. Each cluster has its own simulator (UCP/MKE
//! over HTTPS with its own CA), its own password and its own snapshot folder.
//!
//! Run with `cargo bench --bench fleet_plan` (release build). Not a test: it prints figures.
//! `STIGFIX_BENCH_CLUSTERS`, `STIGFIX_BENCH_LATENCY_MS` and `STIGFIX_BENCH_FORMAT` (json) change
//! the size, the latency and the output format.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use stigfix::sim::{SimOptions, SimUser, Simulator};

const RUNS: usize = 7;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let clusters = setting("STIGFIX_BENCH_CLUSTERS", 20) as usize;
    let latency = Duration::from_millis(setting("STIGFIX_BENCH_LATENCY_MS", 20));
    let work = std::env::temp_dir().join(format!("stigfix-bench-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let mut site = String::from(stigfix::demo::DEMO_SITE);
    let mut simulators = Vec::new();
    for index in 0..clusters {
        let password = format!("bench-{index:02}");
        let simulator = Simulator::start(SimOptions {
            tls: true,
            users: vec![SimUser {
                name: "admin".into(),
                password: password.clone(),
                admin: true,
            }],
            ucp_config: Some(stigfix::demo::NONCOMPLIANT_CONFIG.into()),
            ..SimOptions::default()
        })
        .expect("simulator starts");
        simulator.set_latency(latency);
        let ca = work.join(format!("ca-{index:02}.pem"));
        std::fs::write(&ca, simulator.ca_pem().expect("tls")).expect("write CA");
        let secret = work.join(format!("password-{index:02}"));
        std::fs::write(&secret, &password).expect("write password");
        let _ = write!(
            site,
            "\n[[clusters]]\nname = \"c{index:02}\"\nucp_url = \"{}\"\nusername = \"admin\"\npassword_file = \"{}\"\nca_cert = \"{}\"\n",
            simulator.url(),
            secret.display(),
            ca.display()
        );
        simulators.push(simulator);
    }
    let site_path = work.join("stigfix.toml");
    std::fs::write(&site_path, site).expect("write site file");

    let one = measure(&work, &site_path, &["--cluster", "c00"], &simulators[..1]);
    let parallel = clusters.to_string();
    let all = measure(&work, &site_path, &["--parallel", &parallel], &simulators);
    let default = measure(&work, &site_path, &[], &simulators);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "plan, {} ms latency, median of {RUNS} runs (min-max):",
        latency.as_millis()
    );
    println!(
        "  1 cluster:                    {:.1} ms ({:.1}-{:.1}), CPU {:.0} ms",
        ms(one.0),
        ms(one.1),
        ms(one.2),
        ms(one.3)
    );
    println!(
        "  {clusters} clusters, --parallel {clusters}: {:.1} ms ({:.1}-{:.1}), CPU {:.0} ms; {:.2}x one cluster (target < 2x)",
        ms(all.0),
        ms(all.1),
        ms(all.2),
        ms(all.3),
        all.0.as_secs_f64() / one.0.as_secs_f64()
    );
    println!(
        "  {clusters} clusters, --parallel 4 (default): {:.1} ms, CPU {:.0} ms; {:.2}x one cluster",
        ms(default.0),
        ms(default.3),
        default.0.as_secs_f64() / one.0.as_secs_f64()
    );
    drop(simulators);
    let _ = std::fs::remove_dir_all(&work);
}

/// CPU time (user + system) of the children that ended, from `/proc/self/stat` (clock ticks
/// of 10 ms).
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 3, cutime 16 and cstime 17 (proc(5)).
    let ticks: u64 = [13, 14]
        .iter()
        .filter_map(|index| fields.get(*index)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Median, min and max wall time of `plan` with `args` (run 0 warms the page cache), and the
/// mean CPU time of a run. Every simulator must have answered login, version and config.
fn measure(
    work: &Path,
    site: &Path,
    args: &[&str],
    simulators: &[Simulator],
) -> (Duration, Duration, Duration, Duration) {
    let binary = env!("CARGO_BIN_EXE_stigfix");
    let mut times = Vec::new();
    let mut cpu = Duration::ZERO;
    for run in 0..=RUNS {
        let cpu_before = children_cpu();
        for simulator in simulators {
            simulator.clear_requests();
        }
        let start = Instant::now();
        let output = Command::new(binary)
            .arg("plan")
            // The UCP configuration only: what is measured is the clusters run side by side,
            // not the workload target (benches/workload_plan.rs measures that).
            .arg("--no-workload")
            .args(["--quiet", "--format"])
            .arg(std::env::var("STIGFIX_BENCH_FORMAT").unwrap_or_else(|_| "json".into()))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", work)
            .env("STIGFIX_CONFIG", site)
            .env("STIGFIX_SNAPSHOT_DIR", work.join("snapshots"))
            .env("STIGFIX_LOCK_DIR", work.join("locks"))
            .output()
            .expect("stigfix runs");
        let elapsed = start.elapsed();
        assert!(
            output.status.success(),
            "plan failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for simulator in simulators {
            let paths: Vec<String> = simulator
                .requests()
                .iter()
                .map(|request| format!("{} {}", request.method, request.path))
                .collect();
            assert_eq!(
                paths.len(),
                3,
                "each cluster's plan is login, GET /version and GET config-toml: {paths:?}"
            );
        }
        if run > 0 {
            times.push(elapsed);
            cpu += children_cpu() - cpu_before;
        }
    }
    times.sort();
    (
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        cpu / RUNS as u32,
    )
}
