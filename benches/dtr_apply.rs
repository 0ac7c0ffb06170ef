//! Benchmark: `stigfix plan` and `stigfix apply --yes` against a simulated DTR with 10,000
//! repositories (a third not scanning on push) and 5 ms injected latency per response, compared
//! with the floor of round trips, and the peak memory (VmHWM) of the process.
//!
//! Floors: repository pages are sequential (the cursor of one page is in the answer to the
//! previous one): `plan = pages × RTT`. `apply --yes` streams — PATCHes start while later pages
//! are read — so its floor is whichever is longer, the pages or the PATCHes at 16 in flight:
//! `apply = max(pages, ceil(patches / 16)) × RTT` (the settings POST and the read-back after
//! the PATCHes add two round trips that the floor leaves out).
//!
//! Also measured: the simulator serving the same pages to a trivial client (this process:
//! sequential GETs over one TLS connection, bodies read and not parsed), to tell the
//! simulator's own cost from stigfix's; and `apply` at `--concurrency` 8, 16 and 32.
//!
//! Run with `cargo bench --bench dtr_apply` (release build). Not a test: it prints figures.
//! `STIGFIX_BENCH_LATENCY_MS` (default 5), `STIGFIX_BENCH_RUNS` (default 5),
//! `STIGFIX_BENCH_CONCURRENCY` (default `8,16,32`).

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stigfix::sim::{DtrOptions, SimOptions, SimUser, Simulator, generate_repositories};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

const REPOSITORIES: usize = 10_000;
const PAGE_CAP: usize = 100;
/// The concurrency the floor assumes (and stigfix's default).
const FLOOR_CONCURRENCY: usize = 16;

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() {
    let latency = Duration::from_millis(env_or("STIGFIX_BENCH_LATENCY_MS", 5));
    let runs: usize = env_or("STIGFIX_BENCH_RUNS", 5).max(1);
    let concurrencies: Vec<usize> = std::env::var("STIGFIX_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "8,16,32".into())
        .split(',')
        .filter_map(|text| text.trim().parse().ok())
        .collect();
    let load_before = load();
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
    simulator.set_latency(latency);
    let work = std::env::temp_dir().join(format!("stigfix-bench-dtr-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let ca = work.join("ca.pem");
    std::fs::write(&ca, simulator.ca_pem().expect("tls")).expect("write CA");
    let site = work.join("stigfix.toml");
    std::fs::write(&site, stigfix::demo::DEMO_SITE).expect("write site file");

    // Wall time, peak memory, and CPU time of stigfix and of this process (the simulator).
    let run = |args: &[&str]| -> (Duration, u64, Cpu) {
        let start = Instant::now();
        let own_before = cpu_ticks("/proc/self/stat");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stigfix"))
            .args(args)
            .arg("--quiet")
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
        let mut child_ticks = 0;
        let stat_file = format!("/proc/{}/stat", child.id());
        let status = loop {
            child_ticks = cpu_ticks(&stat_file).unwrap_or(child_ticks);
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
        let own = cpu_ticks("/proc/self/stat").unwrap_or(0) - own_before.unwrap_or(0);
        let mut stderr = String::new();
        use std::io::Read;
        let _ = child
            .stderr
            .take()
            .map(|mut s| s.read_to_string(&mut stderr));
        assert!(status.success(), "stigfix {args:?} failed: {stderr}");
        (
            elapsed,
            peak_kb,
            Cpu {
                stigfix: child_ticks,
                simulator: own,
            },
        )
    };
    let reset = || {
        simulator.dtr().set_repositories(repositories.clone());
        simulator.dtr().set_settings(initial.clone());
    };

    let pages = REPOSITORIES.div_ceil(PAGE_CAP) as u32;
    let rounds = |concurrency: usize| patches.div_ceil(concurrency) as u32;
    let plan_floor = latency * pages;
    let apply_floor = latency * pages.max(rounds(FLOOR_CONCURRENCY));
    let mut peak = 0;

    // The simulator alone: the same pages and PATCHes, to a client that does nothing else.
    let missing: Vec<String> = repositories
        .iter()
        .filter(|r| !r.scan_on_push)
        .map(|r| format!("{}/{}", r.namespace, r.name))
        .collect();
    let trivial: Vec<Trivial> = (0..runs)
        .map(|_| {
            reset();
            trivial_client(&simulator, &ca, &missing)
        })
        .collect();
    let trivial_pages = median(trivial.iter().map(|t| t.pages).collect());
    let trivial_patches = median(trivial.iter().map(|t| t.patches).collect());
    let tick_median = |ticks: Vec<u64>| {
        let mut ticks = ticks;
        ticks.sort();
        ticks[ticks.len() / 2] * 10
    };
    let trivial_pages_cpu = tick_median(trivial.iter().map(|t| t.pages_cpu).collect());
    let trivial_patches_cpu = tick_median(trivial.iter().map(|t| t.patches_cpu).collect());

    let mut plan_times = Vec::new();
    let mut plan_cpu = Vec::new();
    for _ in 0..runs {
        reset();
        let (elapsed, kb, cpu) = run(&["plan", "--format", "json"]);
        plan_times.push(elapsed);
        plan_cpu.push(cpu);
        peak = peak.max(kb);
    }
    let plan = median(plan_times);

    // The default concurrency first: it is the headline figure.
    let mut applies = Vec::new();
    for concurrency in std::iter::once(None).chain(concurrencies.iter().copied().map(Some)) {
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..runs {
            reset();
            let before = simulator.dtr().patch_count();
            let flag = concurrency.map(|n| n.to_string());
            let mut args = vec!["apply", "--yes"];
            if let Some(flag) = &flag {
                args.extend(["--concurrency", flag]);
            }
            let (elapsed, kb, used) = run(&args);
            times.push(elapsed);
            cpu.push(used);
            peak = peak.max(kb);
            assert_eq!(
                simulator.dtr().patch_count() - before,
                patches,
                "one PATCH per repository"
            );
        }
        applies.push((concurrency, median(times), Cpu::median(cpu)));
    }
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "DTR with {REPOSITORIES} repositories ({patches} without scan-on-push), page cap {PAGE_CAP} ({pages} pages), {} ms latency, median of {runs}; load average before {load_before}, after {}:",
        latency.as_millis(),
        load()
    );
    println!(
        "  simulator alone, to a trivial client: {pages} sequential pages {:.0} ms ({:.2} ms per page, {:.2}x the floor; client CPU {trivial_pages_cpu} ms); {patches} PATCHes 16 at a time {:.0} ms ({:.2}x their floor of {:.0} ms; client CPU {trivial_patches_cpu} ms)",
        ms(trivial_pages),
        ms(trivial_pages) / f64::from(pages),
        trivial_pages.as_secs_f64() / plan_floor.as_secs_f64(),
        ms(trivial_patches),
        trivial_patches.as_secs_f64() / (latency * rounds(FLOOR_CONCURRENCY)).as_secs_f64(),
        ms(latency * rounds(FLOOR_CONCURRENCY)),
    );
    println!(
        "  plan:  {:.0} ms; floor {pages} pages = {:.0} ms; ratio {:.2}x (target <= 1.3x); CPU {}",
        ms(plan),
        ms(plan_floor),
        plan.as_secs_f64() / plan_floor.as_secs_f64(),
        Cpu::median(plan_cpu)
    );
    for (concurrency, time, cpu) in &applies {
        let label = match concurrency {
            None => "apply --yes (default concurrency)".to_string(),
            Some(n) => format!("apply --yes --concurrency {n}"),
        };
        let own_floor = concurrency.map(|n| latency * pages.max(rounds(n)));
        println!(
            "  {label}: {:.0} ms; floor max({pages} pages, {} PATCH rounds at {FLOOR_CONCURRENCY}) = {:.0} ms; ratio {:.2}x (target <= 1.3x){}",
            ms(*time),
            rounds(FLOOR_CONCURRENCY),
            ms(apply_floor),
            time.as_secs_f64() / apply_floor.as_secs_f64(),
            own_floor
                .map(|floor| format!(
                    "; its own floor at {} = {:.0} ms ({:.2}x)",
                    concurrency.unwrap_or_default(),
                    ms(floor),
                    time.as_secs_f64() / floor.as_secs_f64()
                ))
                .unwrap_or_default()
        );
        println!("      CPU {cpu}");
    }
    println!(
        "  peak resident memory: {:.1} MB (target < 64 MB)",
        peak as f64 / 1024.0
    );
}

/// CPU time (user + system) of one run, in clock ticks (10 ms).
#[derive(Clone, Copy)]
struct Cpu {
    stigfix: u64,
    simulator: u64,
}

impl Cpu {
    fn median(mut all: Vec<Cpu>) -> Cpu {
        let middle = all.len() / 2;
        all.sort_by_key(|cpu| cpu.stigfix);
        let stigfix = all[middle].stigfix;
        all.sort_by_key(|cpu| cpu.simulator);
        Cpu {
            stigfix,
            simulator: all[middle].simulator,
        }
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stigfix {} ms, simulator {} ms",
            self.stigfix * 10,
            self.simulator * 10
        )
    }
}

/// utime + stime of `/proc/PID/stat`, in clock ticks.
fn cpu_ticks(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// What the trivial client took: wall time and its own CPU time (ticks), for the pages and
/// for the PATCHes.
struct Trivial {
    pages: Duration,
    pages_cpu: u64,
    patches: Duration,
    patches_cpu: u64,
}

/// Read every page as a client that does nothing else would (one TLS connection, each GET
/// sent as soon as the previous answer names the next page, bodies read and dropped), then
/// PATCH `patches` repositories 16 at a time (answers read and dropped). Runs on this thread,
/// so its CPU time is this thread's.
fn trivial_client(simulator: &Simulator, ca: &std::path::Path, patches: &[String]) -> Trivial {
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
    let cpu = || cpu_ticks("/proc/thread-self/stat").unwrap_or(0);
    runtime.block_on(async {
        let send = |request: reqwest::RequestBuilder| async move {
            let response = request
                .basic_auth("admin", Some("bench"))
                .send()
                .await
                .expect("request");
            let next = response
                .headers()
                .get("x-next-page-start")
                .and_then(|value| value.to_str().ok())
                .map(str::to_string);
            let body = response.bytes().await.expect("body");
            (next, body.len())
        };
        // The connection is made before the clock starts, as stigfix's is by its first reads.
        send(client.get(format!("{base}/api/v0/admin/version"))).await;
        let path = format!("{base}/api/v0/repositories?pageSize=1000&count=false");
        let (start, cpu_start) = (Instant::now(), cpu());
        let mut next = send(client.get(&path)).await.0;
        while let Some(cursor) = next {
            next = send(client.get(format!("{path}&pageStart={cursor}")))
                .await
                .0;
        }
        let (pages, pages_cpu) = (start.elapsed(), cpu() - cpu_start);
        let (start, cpu_start) = (Instant::now(), cpu());
        futures_util::stream::iter(patches)
            .for_each_concurrent(FLOOR_CONCURRENCY, |name| {
                let request = client
                    .patch(format!("{base}/api/v0/repositories/{name}"))
                    .header("content-type", "application/json")
                    .body(r#"{"scanOnPush":true}"#);
                async move {
                    send(request).await;
                }
            })
            .await;
        Trivial {
            pages,
            pages_cpu,
            patches: start.elapsed(),
            patches_cpu: cpu() - cpu_start,
        }
    })
}
