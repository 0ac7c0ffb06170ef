//! Benchmark: `stigfix plan` of the workload target against the simulator with injected latency,
//! compared with the round trips it cannot avoid (the login before them is one more):
//!
//! 1. 2,000 user containers (one list, then one inspect per container, `--concurrency` in
//!    flight, 16 as by default): `(1 + containers / concurrency) × RTT`; then the same with
//!    5,000 pods read at the same time (`ceil(5000 / 500)` pages, one after another), which the
//!    floor hides.
//! 2. 10,000 pods and no user container: `ceil(pods / 500) × RTT`, the pages of the pod list
//!    one after another (each needs the token of the one before), concurrent with the Engine's
//!    one round of lists.
//!
//! Run with `cargo bench --bench workload_plan` (release build). Not a test: it prints figures.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use stigfix::sim::{SimCluster, SimEngine, SimKube, SimOptions, SimUser, Simulator};

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
const CONCURRENCY: usize = 16;
const PODS_WITH_CONTAINERS: usize = 5_000;
const PODS: usize = 10_000;
const PAGE: usize = 500;
const RUNS: usize = 7;

struct Figures {
    median: Duration,
    min: Duration,
    max: Duration,
    inspects: usize,
    pages: usize,
    /// The simulator answering the same list and inspects to a trivial client: median.
    trivial: Option<Duration>,
}

fn measure(containers: usize, pods: usize, work: &Path) -> Figures {
    let engine = if containers == 0 {
        SimCluster::system_only()
    } else {
        SimCluster::generated(containers)
    };
    let simulator = Simulator::start(SimOptions {
        tls: true,
        users: vec![SimUser {
            name: "admin".into(),
            password: "bench".into(),
            admin: true,
        }],
        ucp_config: Some(stigfix::demo::NONCOMPLIANT_CONFIG.into()),
        engine: SimEngine::Cluster(engine),
        kube: SimKube::generated(pods),
        ..SimOptions::default()
    })
    .expect("simulator starts");
    simulator.set_latency(latency());
    let ca = work.join("ca.pem");
    std::fs::write(&ca, simulator.ca_pem().expect("tls")).expect("write CA");
    let bundle = work.join("bundle.zip");
    let kube = simulator.kube().expect("kube API");
    std::fs::write(&bundle, kube.client_bundle()).expect("write the bundle");
    let site = work.join("stigfix.toml");
    std::fs::write(&site, stigfix::demo::DEMO_SITE).expect("write site file");

    let binary = env!("CARGO_BIN_EXE_stigfix");
    let mut times = Vec::new();
    let (mut inspects, mut pages) = (0, 0);
    for run in 0..=RUNS {
        simulator.clear_requests();
        let start = Instant::now();
        let output = Command::new(binary)
            .args(["plan", "--quiet", "--format", "json"])
            .args(["--concurrency", &CONCURRENCY.to_string()])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", work)
            .env("STIGFIX_UCP_URL", simulator.url())
            .env("STIGFIX_CA_CERT", &ca)
            .env("STIGFIX_CLIENT_BUNDLE", &bundle)
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
        pages = requests
            .iter()
            .filter(|r| r.path == "/api/v1/pods" && r.status == 200)
            .count();
        assert_eq!(inspects, containers, "one inspect per user container");
        assert_eq!(pages, (pods + 2).div_ceil(PAGE), "one request per page");
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
    // The simulator shares the machine's cores with the client: what it costs is measured by
    // asking it the same with no work beside the requests (containers only).
    let trivial = (pods == 0 && containers > 0).then(|| {
        let mut runs: Vec<Duration> = (0..RUNS).map(|_| trivial_client(&simulator, &ca)).collect();
        runs.sort();
        runs[runs.len() / 2]
    });
    Figures {
        median: times[times.len() / 2],
        min: times[0],
        max: times[times.len() - 1],
        inspects,
        pages,
        trivial,
    }
}

/// Login (before the clock), then the container list and one inspect per user container,
/// `CONCURRENCY` at a time, reading each body and parsing nothing: the simulator's own floor.
fn trivial_client(simulator: &Simulator, ca: &Path) -> Duration {
    use futures_util::StreamExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = stigfix::http::client(
        &stigfix::http::TlsOptions {
            ca_cert: Some(ca.to_path_buf()),
            insecure: false,
        },
        Duration::from_secs(30),
    )
    .expect("client");
    let base = simulator.url();
    runtime.block_on(async {
        let login: serde_json::Value = client
            .post(format!("{base}/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": "bench"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("token");
        let token = login["auth_token"]
            .as_str()
            .expect("auth_token")
            .to_string();
        let get = |path: String| {
            let request = client.get(format!("{base}{path}")).bearer_auth(&token);
            async move {
                request
                    .send()
                    .await
                    .expect("GET")
                    .bytes()
                    .await
                    .expect("body")
            }
        };
        let start = Instant::now();
        let list: Vec<serde_json::Value> =
            serde_json::from_slice(&get("/containers/json?all=1".into()).await).expect("list");
        let ids: Vec<String> = list
            .iter()
            .filter(|c| c["Labels"]["com.docker.ucp.version"].is_null())
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect();
        futures_util::stream::iter(ids)
            .for_each_concurrent(CONCURRENCY, |id| {
                let fetch = get(format!("/containers/{id}/json"));
                async move {
                    fetch.await;
                }
            })
            .await;
        start.elapsed()
    })
}

fn report(what: &str, figures: &Figures, rounds: usize, floor_text: &str) {
    let latency = latency();
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    println!(
        "{what} with {} ms latency ({} inspects, {} pages of pods): median {:.0} ms, min {:.0} ms, max {:.0} ms over {RUNS} runs",
        latency.as_millis(),
        figures.inspects,
        figures.pages,
        ms(figures.median),
        ms(figures.min),
        ms(figures.max)
    );
    if latency.is_zero() {
        return; // no floor to compare with: the median is the overhead
    }
    let floor = latency * rounds as u32;
    if let Some(trivial) = figures.trivial {
        println!(
            "  the simulator alone, to a trivial client (list, then the inspects {CONCURRENCY} at a time): median {:.0} ms ({:.2}x the floor); stigfix {:.2}x that",
            ms(trivial),
            trivial.as_secs_f64() / floor.as_secs_f64(),
            figures.median.as_secs_f64() / trivial.as_secs_f64()
        );
    }
    println!(
        "  floor {floor_text} = {rounds} round trips = {:.0} ms (the login before them is one more: {:.0} ms); ratio {:.2}x (target <= 1.30x)",
        ms(floor),
        ms(floor + latency),
        figures.median.as_secs_f64() / floor.as_secs_f64()
    );
}

fn main() {
    let work = std::env::temp_dir().join(format!("stigfix-bench-workload-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");

    let figures = measure(CONTAINERS, 0, &work);
    report(
        &format!("plan of {CONTAINERS} containers (--concurrency {CONCURRENCY}), no user pod"),
        &figures,
        1 + CONTAINERS.div_ceil(CONCURRENCY),
        &format!("(1 + {CONTAINERS}/{CONCURRENCY}) x RTT"),
    );

    let figures = measure(CONTAINERS, PODS_WITH_CONTAINERS, &work);
    let engine_rounds = 1 + CONTAINERS.div_ceil(CONCURRENCY);
    let pod_rounds = (PODS_WITH_CONTAINERS + 2).div_ceil(PAGE);
    report(
        &format!(
            "plan of {CONTAINERS} containers (--concurrency {CONCURRENCY}) and {PODS_WITH_CONTAINERS} pods"
        ),
        &figures,
        engine_rounds.max(pod_rounds),
        &format!(
            "max((1 + {CONTAINERS}/{CONCURRENCY}), ceil({PODS_WITH_CONTAINERS}/{PAGE})) x RTT"
        ),
    );

    let figures = measure(0, PODS, &work);
    let pod_rounds = (PODS + 2).div_ceil(PAGE);
    report(
        &format!("plan of {PODS} pods (no user container)"),
        &figures,
        pod_rounds.max(1),
        &format!("ceil({PODS}/{PAGE}) x RTT, the Engine's one round of lists beside it"),
    );
    let _ = std::fs::remove_dir_all(&work);
}
