//! Benchmark: `stigfix plan` and `stigfix apply --yes` against a simulated DTR with 10,000
//! repositories (a third not scanning on push) and 5 ms injected latency per response, compared
//! with the floor of round trips, and the peak memory (VmHWM) of the process.
//!
//! Floor: repository pages are sequential (the cursor of one page is in the answer to the
//! previous one), the settings and scan status reads run beside them; apply adds one settings
//! POST, the PATCHes at the chosen concurrency (each answer is the repository, checked), and
//! one round to read the settings and scan status back:
//! `plan = pages`, `apply = pages + 1 + ceil(patches / concurrency) + 1`.
//!
//! Run with `cargo bench --bench dtr_apply` (release build). Not a test: it prints figures.

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stigfix::sim::{DtrOptions, SimOptions, SimUser, Simulator, generate_repositories};

/// Injected per response; `STIGFIX_BENCH_LATENCY_MS` overrides it (0 shows the pure overhead).
fn latency() -> Duration {
    Duration::from_millis(
        std::env::var("STIGFIX_BENCH_LATENCY_MS")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(5),
    )
}
const REPOSITORIES: usize = 10_000;
const PAGE_CAP: usize = 100;
const CONCURRENCY: usize = 8;
const RUNS: usize = 3;

fn main() {
    let repositories = generate_repositories(REPOSITORIES, 3);
    let patches = repositories.iter().filter(|r| !r.scan_on_push).count();
    let initial = serde_json::json!({
        "createRepositoryOnPush": true,
        "reportAnalytics": true,
        "scanningEnabled": false,
    });
    let simulator = Simulator::start(SimOptions {
        tls: true,
        users: vec![SimUser {
            name: "admin".into(),
            password: "bench".into(),
            admin: true,
        }],
        dtr: DtrOptions {
            repositories: repositories.clone(),
            max_page_size: PAGE_CAP,
            settings: Some(initial.clone()),
            sync_duration: Duration::ZERO,
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("simulator starts");
    simulator.set_latency(latency());
    let work = std::env::temp_dir().join(format!("stigfix-bench-dtr-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let ca = work.join("ca.pem");
    std::fs::write(&ca, simulator.ca_pem().expect("tls")).expect("write CA");
    let site = work.join("stigfix.toml");
    std::fs::write(&site, stigfix::demo::DEMO_SITE).expect("write site file");

    let run = |args: &[&str]| -> (Duration, u64) {
        let start = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_stigfix"))
            .args(args)
            .args(["--quiet", "--concurrency", &CONCURRENCY.to_string()])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &work)
            .env("STIGFIX_DTR_URL", simulator.url())
            .env("STIGFIX_CA_CERT", &ca)
            .env("STIGFIX_USERNAME", "admin")
            .env("STIGFIX_PASSWORD", "bench")
            .env("STIGFIX_CONFIG", &site)
            .env("STIGFIX_SNAPSHOT_DIR", work.join("snapshots"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stigfix runs");
        // The peak resident set (VmHWM), sampled until the process exits.
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_kb = 0;
        let status = loop {
            if let Some(kb) = std::fs::read_to_string(&status_file).ok().and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("VmHWM:"))
                    .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            }) {
                peak_kb = peak_kb.max(kb);
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let elapsed = start.elapsed();
        let mut stderr = String::new();
        use std::io::Read;
        let _ = child
            .stderr
            .take()
            .map(|mut s| s.read_to_string(&mut stderr));
        assert!(status.success(), "stigfix {args:?} failed: {stderr}");
        (elapsed, peak_kb)
    };

    let pages = REPOSITORIES.div_ceil(PAGE_CAP) as u32;
    let plan_floor = latency() * pages;
    let apply_floor = latency() * (pages + 2 + patches.div_ceil(CONCURRENCY) as u32);
    let mut plan_times = Vec::new();
    let mut apply_times = Vec::new();
    let mut peak = 0;
    for _ in 0..RUNS {
        simulator.dtr().set_repositories(repositories.clone());
        simulator.dtr().set_settings(initial.clone());
        let (elapsed, kb) = run(&["plan", "--format", "json"]);
        plan_times.push(elapsed);
        peak = peak.max(kb);
        simulator.clear_requests();
        let (elapsed, kb) = run(&["apply", "--yes"]);
        apply_times.push(elapsed);
        peak = peak.max(kb);
        assert_eq!(
            simulator.dtr().patch_count() % patches,
            0,
            "one PATCH per repository"
        );
    }
    plan_times.sort();
    apply_times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let plan = plan_times[RUNS / 2];
    let apply = apply_times[RUNS / 2];
    println!(
        "DTR with {REPOSITORIES} repositories ({patches} without scan-on-push), page cap {PAGE_CAP}, {} ms latency, concurrency {CONCURRENCY}, median of {RUNS}:",
        latency().as_millis()
    );
    println!(
        "  plan:  {:.0} ms; floor {pages} sequential pages = {:.0} ms; ratio {:.2}x",
        ms(plan),
        ms(plan_floor),
        plan.as_secs_f64() / plan_floor.as_secs_f64()
    );
    println!(
        "  apply: {:.0} ms; floor {pages} pages + 1 POST + {} PATCH rounds + 1 read-back = {:.0} ms; ratio {:.2}x (target <= 1.5x)",
        ms(apply),
        patches.div_ceil(CONCURRENCY),
        ms(apply_floor),
        apply.as_secs_f64() / apply_floor.as_secs_f64()
    );
    println!(
        "  peak resident memory: {:.1} MB (target < 100 MB)",
        peak as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&work);
}
