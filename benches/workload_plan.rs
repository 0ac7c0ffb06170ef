//! Benchmark: `stigfix plan` of a cluster with 2,000 user containers (the workload target:
//! one list, then one inspect per container, `--concurrency` in flight) against the simulator
//! with injected latency, compared with the round trips it cannot avoid:
//! `(1 + containers / concurrency) × RTT` for the workloads, plus the login before them.
//!
//! Run with `cargo bench --bench workload_plan` (release build). Not a test: it prints figures.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::process::Command;
use std::time::{Duration, Instant};

use stigfix::sim::{SimCluster, SimEngine, SimOptions, SimUser, Simulator};

/// Injected per response; `STIGFIX_BENCH_LATENCY_MS` overrides it (0 shows the pure overhead).
fn latency() -> Duration {
    Duration::from_millis(
        std::env::var("STIGFIX_BENCH_LATENCY_MS")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(5),
    )
}
const CONTAINERS: usize = 2_000;
const CONCURRENCY: usize = 8;
const RUNS: usize = 7;

fn main() {
    let simulator = Simulator::start(SimOptions {
        tls: true,
        users: vec![SimUser {
            name: "admin".into(),
            password: "bench".into(),
            admin: true,
        }],
        ucp_config: Some(stigfix::demo::NONCOMPLIANT_CONFIG.into()),
        engine: SimEngine::Cluster(SimCluster::generated(CONTAINERS)),
        ..SimOptions::default()
    })
    .expect("simulator starts");
    let latency = latency();
    simulator.set_latency(latency);
    let work = std::env::temp_dir().join(format!("stigfix-bench-workload-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let ca = work.join("ca.pem");
    std::fs::write(&ca, simulator.ca_pem().expect("tls")).expect("write CA");
    let site = work.join("stigfix.toml");
    std::fs::write(&site, stigfix::demo::DEMO_SITE).expect("write site file");

    let binary = env!("CARGO_BIN_EXE_stigfix");
    let mut times = Vec::new();
    let mut inspects = 0;
    for run in 0..=RUNS {
        simulator.clear_requests();
        let start = Instant::now();
        let output = Command::new(binary)
            .args(["plan", "--quiet", "--format", "json"])
            .args(["--concurrency", &CONCURRENCY.to_string()])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &work)
            .env("STIGFIX_UCP_URL", simulator.url())
            .env("STIGFIX_CA_CERT", &ca)
            .env("STIGFIX_USERNAME", "admin")
            .env("STIGFIX_PASSWORD", "bench")
            .env("STIGFIX_CONFIG", &site)
            .env("STIGFIX_SNAPSHOT_DIR", work.join("snapshots"))
            .output()
            .expect("stigfix runs");
        let elapsed = start.elapsed();
        assert!(
            output.status.success(),
            "plan failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let requests = simulator.requests();
        inspects = requests
            .iter()
            .filter(|r| r.path.starts_with("/containers/") && r.path != "/containers/json")
            .count();
        assert_eq!(inspects, CONTAINERS, "one inspect per user container");
        assert!(
            requests
                .iter()
                .all(|r| r.method == "GET" || r.path == "/auth/login")
        );
        if run > 0 {
            times.push(elapsed); // run 0 warms the page cache
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let rounds = 1 + CONTAINERS.div_ceil(CONCURRENCY);
    let floor = latency * rounds as u32;
    println!(
        "plan of {CONTAINERS} containers ({inspects} inspects, --concurrency {CONCURRENCY}) with {} ms latency: median {:.0} ms, min {:.0} ms, max {:.0} ms over {RUNS} runs",
        latency.as_millis(),
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    if latency.is_zero() {
        let _ = std::fs::remove_dir_all(&work);
        return; // no floor to compare with: the median is the overhead
    }
    println!(
        "floor (1 + {CONTAINERS}/{CONCURRENCY}) x RTT = {rounds} round trips = {:.0} ms (the login before them is one more: {:.0} ms); ratio {:.2}x (target <= 1.30x)",
        floor.as_secs_f64() * 1e3,
        (floor + latency).as_secs_f64() * 1e3,
        median.as_secs_f64() / floor.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&work);
}
