//! Benchmark: `stigfix plan` against the simulator with injected latency, compared with the
//! critical path of round trips: login, then `GET /version` and `GET /api/ucp/config-toml` at
//! once — two round trips.
//!
//! Run with `cargo bench --bench plan_latency` (release build). Not a test: it prints figures.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::process::Command;
use std::time::{Duration, Instant};

use stigfix::sim::{SimOptions, SimUser, Simulator};

const LATENCY: Duration = Duration::from_millis(20);
const ROUND_TRIPS: u32 = 2;
const RUNS: usize = 15;

fn main() {
    let simulator = Simulator::start(SimOptions {
        tls: true,
        users: vec![SimUser {
            name: "admin".into(),
            password: "bench".into(),
            admin: true,
        }],
        ucp_config: Some(stigfix::demo::NONCOMPLIANT_CONFIG.into()),
        ucp_release: Default::default(),
        token_ttl: Duration::from_secs(3600),
        dtr: Default::default(),
        engine: Default::default(),
        kube: Default::default(),
    })
    .expect("simulator starts");
    simulator.set_latency(LATENCY);
    let work = std::env::temp_dir().join(format!("stigfix-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let ca = work.join("ca.pem");
    std::fs::write(&ca, simulator.ca_pem().expect("tls")).expect("write CA");
    let site = work.join("stigfix.toml");
    std::fs::write(&site, stigfix::demo::DEMO_SITE).expect("write site file");

    let binary = env!("CARGO_BIN_EXE_stigfix");
    let mut times = Vec::new();
    for run in 0..=RUNS {
        simulator.clear_requests();
        let start = Instant::now();
        let output = Command::new(binary)
            .args(["plan", "--quiet", "--format", "json", "--no-workload"])
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
        let mut paths: Vec<String> = simulator
            .requests()
            .iter()
            .map(|request| format!("{} {}", request.method, request.path))
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                "GET /api/ucp/config-toml",
                "GET /version",
                "POST /auth/login"
            ],
            "plan must make exactly login, then the version and the configuration"
        );
        if run > 0 {
            times.push(elapsed); // run 0 warms the page cache
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let floor = LATENCY * ROUND_TRIPS;
    println!(
        "plan against UCP with {} ms latency: median {:.1} ms, min {:.1} ms, max {:.1} ms over {RUNS} runs",
        LATENCY.as_millis(),
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "floor (login, then both GETs at once = {ROUND_TRIPS} round trips): {:.1} ms; ratio {:.2}x (target <= 1.30x)",
        floor.as_secs_f64() * 1e3,
        median.as_secs_f64() / floor.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&work);
}
