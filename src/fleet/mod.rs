//! Many clusters at once (issue 12): which clusters a run is for, running a command on each
//! in parallel with its own settings, engine, snapshots and locks, and what the run as a whole
//! reports (a summary table, the run log, metrics and the aggregate exit code).
//!
//! The engine knows nothing of clusters: each cluster gets its own [`Settings`]
//! ([`Settings::for_cluster`]) and the command builds its engine from them as for one cluster.
//! Without an inventory a run is one cluster described by the flags, as before: no prefix, no
//! table.

mod summary;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;

pub use summary::summary_table;

use crate::cli::{GlobalArgs, RecordArgs};
use crate::error::{Error, ExitStatus, Result};
use crate::metrics;
use crate::output::Output;
use crate::runlog::{self, Outcome, Report};
use crate::settings::{self, Settings};
use crate::site::SiteFile;
use crate::site::clusters::{Cluster, is_glob};

/// What a run is for.
pub enum Scope {
    /// One cluster, described by the flags, the environment and the top of the site file.
    One(Box<Settings>),
    /// Clusters of the inventory.
    Many(Box<Fleet>),
}

/// The clusters of an inventory run and the settings they start from.
pub struct Fleet {
    pub base: Settings,
    /// The clusters picked (`--cluster`), in inventory order.
    pub clusters: Vec<Cluster>,
    /// Where the inventory is, for messages.
    pub source: String,
}

impl Scope {
    /// The run's scope. With an inventory (`[[clusters]]` in the site file, or
    /// `--inventory FILE`), the endpoint flags are refused, and so is `--password-stdin`
    /// unless `stdin_allowed` (login). Without one, `--cluster` is refused.
    pub fn resolve(global: &GlobalArgs, output: Output, stdin_allowed: bool) -> Result<Scope> {
        let base = Settings::resolve(global, output)?;
        let (clusters, source) = match &global.fleet.inventory {
            Some(path) => (SiteFile::load_inventory(path)?, path.display().to_string()),
            None => (
                base.site.clusters.clone(),
                base.site
                    .path
                    .as_ref()
                    .map(|path| path.display().to_string())
                    .unwrap_or_default(),
            ),
        };
        if clusters.is_empty() {
            if !global.fleet.clusters.is_empty() {
                return Err(Error::usage(
                    "--cluster picks clusters of an inventory, and there is none",
                )
                .with_hint("list clusters as [[clusters]] in the site file or in --inventory FILE (README, \"Fleets\")"));
            }
            return Ok(Scope::One(Box::new(base)));
        }
        let one_cluster = [
            (base.ucp_url.is_some(), "--ucp-url / STIGFIX_UCP_URL"),
            (base.dtr_url.is_some(), "--dtr-url / STIGFIX_DTR_URL"),
            (
                !base.host_roots.is_empty(),
                "--host-root / STIGFIX_HOST_ROOT",
            ),
            (
                base.client_bundle.is_some(),
                "--client-bundle / STIGFIX_CLIENT_BUNDLE",
            ),
        ];
        if let Some((_, option)) = one_cluster.iter().find(|(set, _)| *set) {
            return Err(Error::usage(format!(
                "{option} names one cluster, and the inventory in {source} lists {}: use one or the other",
                clusters.len()
            ))
            .with_hint("pick clusters of the inventory with --cluster NAME|GLOB|tag:TAG, or run with --config pointing at a site file without [[clusters]]"));
        }
        if global.password_stdin && !stdin_allowed {
            return Err(Error::usage(
                "--password-stdin gives one password, and each cluster of an inventory names its own",
            )
            .with_hint("give each cluster password_env or password_file, or store it with `stigfix login --cluster NAME`"));
        }
        let clusters = select(&clusters, &global.fleet.clusters, &source)?;
        Ok(Scope::Many(Box::new(Fleet {
            base,
            clusters,
            source,
        })))
    }
}

/// The clusters `selectors` pick (all when there is none), in inventory order. A selector
/// that picks nothing is a usage error naming what there is.
pub fn select(clusters: &[Cluster], selectors: &[String], source: &str) -> Result<Vec<Cluster>> {
    if selectors.is_empty() {
        return Ok(clusters.to_vec());
    }
    for selector in selectors {
        if !clusters.iter().any(|cluster| cluster.matches(selector)) {
            let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
            let mut tags: Vec<&str> = clusters
                .iter()
                .flat_map(|c| c.tags.iter().map(String::as_str))
                .collect();
            tags.sort_unstable();
            tags.dedup();
            let what = if selector.starts_with("tag:") {
                "no cluster has that tag"
            } else if is_glob(selector) {
                "the pattern matches no cluster"
            } else {
                "no cluster has that name"
            };
            return Err(Error::usage(format!(
                "--cluster {selector}: {what} in the inventory {source}"
            ))
            .with_hint(format!(
                "clusters: {}; tags: {}",
                names.join(", "),
                if tags.is_empty() {
                    "(none)".to_string()
                } else {
                    tags.join(", ")
                }
            )));
        }
    }
    Ok(clusters
        .iter()
        .filter(|cluster| selectors.iter().any(|selector| cluster.matches(selector)))
        .cloned()
        .collect())
}

impl Fleet {
    /// The one cluster a command that works on one cluster at a time is for.
    pub fn only(&self, command: &str) -> Result<&Cluster> {
        match self.clusters.as_slice() {
            [one] => Ok(one),
            clusters => Err(Error::usage(format!(
                "{command} works on one cluster at a time, and {} are picked",
                clusters.len()
            ))
            .with_hint(format!(
                "pass --cluster NAME (one of: {})",
                clusters
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The settings of one cluster.
    pub fn settings(&self, global: &GlobalArgs, cluster: &Cluster) -> Result<Settings> {
        self.base.for_cluster(global, cluster)
    }
}

/// A command's work on one cluster: it fills the report as it goes.
pub type Work =
    Arc<dyn Fn(Settings) -> BoxFuture<'static, (Result<ExitStatus>, Report)> + Send + Sync>;

/// Run `work` on every cluster, `--parallel` at a time, each with its own settings. A cluster
/// that fails (its settings, its connection, its run) is reported with its prefix and never
/// stops the others. Outcomes are in inventory order.
pub async fn run_all(
    fleet: &Fleet,
    global: &GlobalArgs,
    clusters: &[Cluster],
    command: &'static str,
    work: Work,
) -> Vec<Outcome> {
    let permits = Arc::new(Semaphore::new(usize::from(global.fleet.parallel.max(1))));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ids = std::collections::HashMap::new();
    for (index, cluster) in clusters.iter().enumerate() {
        // The targets, for the run log even when the cluster's credential cannot be read.
        let specs = fleet
            .base
            .for_cluster_without_credentials(global, cluster)
            .and_then(|settings| settings.specs())
            .unwrap_or_default();
        let settings = fleet.settings(global, cluster);
        let output = fleet.base.output.for_cluster(&cluster.name);
        let name = cluster.name.clone();
        let work = Arc::clone(&work);
        let permits = Arc::clone(&permits);
        let handle = tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("the semaphore is never closed");
            let started = settings::now();
            let clock = Instant::now();
            let failed = Report {
                specs: specs.clone(),
                ..Report::default()
            };
            let (result, report) = match settings {
                Err(error) => (Err(error), failed),
                Ok(_) if stopping() => (
                    Err(Error::new(
                        "interrupted by Ctrl-C or SIGTERM before this cluster's run started; nothing was changed",
                    )),
                    failed,
                ),
                Ok(settings) => {
                    let (result, mut report) = work(settings).await;
                    if report.specs.is_empty() {
                        report.specs = specs;
                    }
                    (result, report)
                }
            };
            let outcome = outcome(Some(name), command, &result, report, started, clock);
            if let Some(message) = &outcome.error {
                output.error(message, outcome.hint.as_deref());
            }
            (index, outcome)
        });
        ids.insert(handle.id(), (index, cluster.name.clone()));
    }
    let mut outcomes: Vec<Option<Outcome>> = clusters.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, (index, outcome))) => outcomes[index] = Some(outcome),
            Err(error) => {
                let (index, name) = ids[&error.id()].clone();
                let message =
                    format!("internal error: the run of cluster {name} ended early ({error})");
                fleet.base.output.for_cluster(&name).error(&message, None);
                outcomes[index] = Some(Outcome {
                    cluster: Some(name),
                    command,
                    report: Report::default(),
                    status: ExitStatus::Failure,
                    error: Some(message),
                    hint: None,
                    started: settings::now(),
                    duration: std::time::Duration::ZERO,
                });
            }
        }
    }
    outcomes.into_iter().flatten().collect()
}

/// The outcome of a run that ended with `result`.
pub fn outcome(
    cluster: Option<String>,
    command: &'static str,
    result: &Result<ExitStatus>,
    report: Report,
    started: time::OffsetDateTime,
    clock: Instant,
) -> Outcome {
    let (status, error, hint) = match result {
        Ok(status) => (*status, None, None),
        Err(error) => (
            error.status(),
            Some(error.message()),
            error.hint().map(str::to_string),
        ),
    };
    Outcome {
        cluster,
        command,
        report,
        status,
        error,
        hint,
        started,
        duration: clock.elapsed(),
    }
}

/// A command's work on one cluster's settings, with the command's arguments.
pub type Each<A> = fn(Settings, Arc<A>) -> BoxFuture<'static, (Result<ExitStatus>, Report)>;

/// A command that reads (plan, check) on the one cluster of the flags, or on every cluster the
/// inventory picks: [`run_one`] or [`run_all`] and [`finish`], with `each` doing the work.
pub async fn each_cluster<A: Send + Sync + 'static>(
    global: &GlobalArgs,
    output: Output,
    command: &'static str,
    (args, record): (A, RecordArgs),
    table_on_stdout: bool,
    each: Each<A>,
) -> Result<ExitStatus> {
    let args = Arc::new(args);
    match Scope::resolve(global, output, false)? {
        Scope::One(settings) => {
            let work = each((*settings).clone(), args);
            run_one(&settings, command, &record, work).await
        }
        Scope::Many(fleet) => {
            check_record_paths(&record)?;
            // Invalid playbooks fail before any cluster is read; the clusters share the rules.
            fleet.base.rule_set()?;
            let work: Work = Arc::new(move |settings| each(settings, Arc::clone(&args)));
            let outcomes = run_all(&fleet, global, &fleet.clusters, command, work).await;
            finish(&fleet, &outcomes, &record, table_on_stdout)
        }
    }
}

/// One cluster without an inventory: the command's result as it always was, with its line in
/// the run log and its metrics when asked for.
pub async fn run_one<F>(
    settings: &Settings,
    command: &'static str,
    record: &RecordArgs,
    work: F,
) -> Result<ExitStatus>
where
    F: Future<Output = (Result<ExitStatus>, Report)>,
{
    check_record_paths(record)?;
    let started = settings::now();
    let clock = Instant::now();
    let (result, mut report) = work.await;
    if record.log.is_none() && record.metrics.is_none() {
        return result;
    }
    if report.specs.is_empty() {
        report.specs = settings.specs().unwrap_or_default();
    }
    let outcome = outcome(None, command, &result, report, started, clock);
    match (write_records(record, &[&outcome]), result) {
        (Ok(()), result) => result,
        (Err(problem), Ok(_)) => Err(problem),
        (Err(problem), Err(error)) => {
            settings.output.error(&problem.message(), problem.hint());
            Err(error)
        }
    }
}

/// Refuse, before anything is read, a `--log` or `--metrics` file whose folder is missing.
pub fn check_record_paths(record: &RecordArgs) -> Result<()> {
    for (flag, path) in [("--log", &record.log), ("--metrics", &record.metrics)] {
        let Some(path) = path else { continue };
        let dir = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() || path.is_dir() {
            return Err(Error::usage(format!(
                "{flag} {}: {} is not a folder; nothing was read",
                path.display(),
                dir.display()
            ))
            .with_hint(format!("{flag} names a file in a folder that exists")));
        }
    }
    Ok(())
}

/// Append the run log lines and merge the metrics.
pub fn write_records(record: &RecordArgs, outcomes: &[&Outcome]) -> Result<()> {
    if let Some(path) = &record.log {
        runlog::append(path, outcomes)?;
    }
    if let Some(path) = &record.metrics {
        metrics::write(path, outcomes)?;
    }
    Ok(())
}

/// The exit code of a run over many clusters: 3 if any could not be restored, else 1 if any
/// failed, else 2 if any has changes or open findings, else 0.
pub fn aggregate(statuses: impl IntoIterator<Item = ExitStatus>) -> ExitStatus {
    let statuses: Vec<ExitStatus> = statuses.into_iter().collect();
    if statuses.contains(&ExitStatus::NeedsOperator) {
        ExitStatus::NeedsOperator
    } else if statuses
        .iter()
        .any(|status| matches!(status, ExitStatus::Failure | ExitStatus::Usage))
    {
        ExitStatus::Failure
    } else if statuses.contains(&ExitStatus::Pending) {
        ExitStatus::Pending
    } else {
        ExitStatus::Success
    }
}

/// The end of an inventory run: the summary table (stdout with text output, else stderr), the
/// run log and metrics, and the aggregate exit code.
pub fn finish(
    fleet: &Fleet,
    outcomes: &[Outcome],
    record: &RecordArgs,
    table_on_stdout: bool,
) -> Result<ExitStatus> {
    let output = &fleet.base.output;
    let table = summary_table(outcomes, output);
    if table_on_stdout {
        output.raw_data(&table);
    } else if !output.quiet() {
        for line in table.lines() {
            output.stderr_line(line);
        }
    }
    let status = aggregate(outcomes.iter().map(|outcome| outcome.status));
    let all: Vec<&Outcome> = outcomes.iter().collect();
    write_records(record, &all)?;
    Ok(status)
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Whether Ctrl-C or SIGTERM arrived during an inventory run that changes clusters: clusters
/// that have not started their change do not start it.
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Catch Ctrl-C and SIGTERM for an inventory run that changes clusters (a cluster's own
/// transaction also catches them and restores what it changed). Stops catching when dropped.
pub struct StopOnSignal(tokio::task::JoinHandle<()>);

impl StopOnSignal {
    pub fn install() -> Result<StopOnSignal> {
        use tokio::signal::unix::{SignalKind, signal};
        let cannot = |error: std::io::Error| Error::new(format!("cannot catch signals: {error}"));
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(cannot)?;
        Ok(StopOnSignal(tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = interrupt.recv() => if received.is_none() { break },
                    received = terminate.recv() => if received.is_none() { break },
                }
                STOP.store(true, Ordering::SeqCst);
            }
        })))
    }
}

impl Drop for StopOnSignal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregate_exit_code_is_the_designs() {
        use ExitStatus::*;
        assert_eq!(aggregate([]), Success);
        assert_eq!(aggregate([Success, Success]), Success);
        assert_eq!(aggregate([Success, Pending]), Pending);
        assert_eq!(aggregate([Pending, Failure, Success]), Failure);
        assert_eq!(aggregate([Usage, Pending]), Failure);
        assert_eq!(aggregate([Failure, NeedsOperator, Pending]), NeedsOperator);
    }

    #[test]
    fn selection_keeps_inventory_order_and_names_what_there_is() {
        let site = SiteFile::parse(
            "[[clusters]]\nname = \"east\"\nucp_url = \"https://e\"\ntags = [\"prod\"]\n[[clusters]]\nname = \"west\"\nucp_url = \"https://w\"\n[[clusters]]\nname = \"lab\"\nucp_url = \"https://l\"\ntags = [\"test\"]\n",
            Path::new("site.toml"),
        )
        .unwrap();
        let names = |selectors: &[&str]| -> Vec<String> {
            let selectors: Vec<String> = selectors.iter().map(|s| s.to_string()).collect();
            select(&site.clusters, &selectors, "site.toml")
                .unwrap()
                .into_iter()
                .map(|c| c.name)
                .collect()
        };
        assert_eq!(names(&[]), ["east", "west", "lab"]);
        assert_eq!(names(&["lab", "east"]), ["east", "lab"]);
        assert_eq!(names(&["tag:prod", "*st"]), ["east", "west"]);
        let error = select(&site.clusters, &["tag:dev".into()], "site.toml").unwrap_err();
        assert_eq!(error.status(), ExitStatus::Usage);
        assert_eq!(
            error.message(),
            "--cluster tag:dev: no cluster has that tag in the inventory site.toml"
        );
        assert_eq!(
            error.hint(),
            Some("clusters: east, west, lab; tags: prod, test")
        );
    }
}
