//! Command-line arguments (clap derive). Input only: no logic here. Doc comments are the help.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{
    ArgGroup, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};

use crate::output::ColorChoice;

/// Plan, apply and roll back DISA STIG settings on Docker Enterprise / Mirantis clusters.
///
/// Exit codes: 0 success; 1 error (nothing changed, or everything rolled back and verified);
/// 2 changes pending / open findings (plan --detailed-exitcode); 3 apply or rollback failed and a
/// target could not be restored (an operator must look); 64 usage error.
#[derive(Debug, Parser)]
#[command(name = "stigfix", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Parse the command line, noting where each URL came from (the flag or its environment
/// variable) so that a message about it names what the user set.
pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, clap::Error> {
    let matches = Cli::command().try_get_matches_from(args)?;
    let mut cli =
        Cli::from_arg_matches(&matches).map_err(|error| error.format(&mut Cli::command()))?;
    cli.global.origins = Origins {
        ucp_url: origin(&matches, "ucp_url"),
        dtr_url: origin(&matches, "dtr_url"),
    };
    Ok(cli)
}

/// Where a global argument's value came from. Global arguments given after the subcommand are
/// propagated to the top-level matches with their source.
fn origin(matches: &ArgMatches, id: &str) -> Origin {
    match matches.value_source(id) {
        Some(ValueSource::CommandLine) => Origin::Flag,
        Some(ValueSource::EnvVariable) => Origin::Env,
        _ => match matches.subcommand() {
            Some((_, sub)) => origin(sub, id),
            None => Origin::Unset,
        },
    }
}

/// Where a value came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    #[default]
    Unset,
    /// The command line.
    Flag,
    /// The environment variable of the flag.
    Env,
}

/// Where the URLs came from (the site file is the settings' business).
#[derive(Clone, Copy, Debug, Default)]
pub struct Origins {
    pub ucp_url: Origin,
    pub dtr_url: Origin,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Filled by [`parse`].
    #[arg(skip)]
    pub origins: Origins,
    /// Site file: endpoints, variables, waivers [default: ./stigfix.toml, else $XDG_CONFIG_HOME/stigfix/stigfix.toml]
    #[arg(
        long,
        global = true,
        env = "STIGFIX_CONFIG",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub config: Option<PathBuf>,
    /// UCP/MKE base URL, e.g. https://ucp.example.mil
    #[arg(
        long,
        global = true,
        env = "STIGFIX_UCP_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub ucp_url: Option<String>,
    /// DTR/MSR base URL, e.g. https://dtr.example.mil
    #[arg(
        long,
        global = true,
        env = "STIGFIX_DTR_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub dtr_url: Option<String>,
    /// Docker Engine node whose filesystem is rooted at DIR (`/` for this node; repeatable)
    #[arg(
        long = "host-root",
        global = true,
        env = "STIGFIX_HOST_ROOT",
        value_name = "DIR",
        hide_env_values = true
    )]
    pub host_roots: Vec<PathBuf>,
    /// Account for UCP and DTR
    #[arg(
        long,
        global = true,
        env = "STIGFIX_USERNAME",
        value_name = "NAME",
        hide_env_values = true
    )]
    pub username: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long, global = true)]
    pub password_stdin: bool,
    /// PEM bundle that TLS is verified against (instead of the system trust store)
    #[arg(
        long,
        global = true,
        env = "STIGFIX_CA_CERT",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS verification (loudly warned about and recorded in the plan)
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Playbook file or folder to use in addition to / instead of the shipped ones (repeatable)
    #[arg(
        long = "playbook",
        global = true,
        env = "STIGFIX_PLAYBOOK",
        value_name = "PATH",
        hide_env_values = true
    )]
    pub playbooks: Vec<PathBuf>,
    /// Where snapshots are kept [default: $XDG_STATE_HOME/stigfix/snapshots]
    #[arg(
        long,
        global = true,
        env = "STIGFIX_SNAPSHOT_DIR",
        value_name = "DIR",
        hide_env_values = true
    )]
    pub snapshot_dir: Option<PathBuf>,
    /// Only this rule (STIG ID or Vuln ID; repeatable)
    #[arg(long = "rule", global = true, value_name = "ID")]
    pub rules: Vec<String>,
    /// Only rules of at least this severity
    #[arg(long, global = true, value_enum)]
    pub severity: Option<SeverityArg>,
    /// DTR/MSR offline vulnerability database (.tar) to upload when the online sync cannot work
    #[arg(long, global = true, value_name = "FILE")]
    pub cve_db: Option<PathBuf>,
    /// Whether apply restarts docker.service after host changes that need it
    #[arg(long, global = true, value_enum, default_value_t = RestartArg::Never)]
    pub restart: RestartArg,
    /// Leave the cluster's containers out (the workload target; also `workload = false` in the site file)
    #[arg(long, global = true)]
    pub no_workload: bool,
    /// MKE client bundle (the zip, or the folder it was unpacked into) whose certificate reads the cluster's pods through its Kubernetes API (workload target)
    #[arg(
        long,
        global = true,
        env = "STIGFIX_CLIENT_BUNDLE",
        value_name = "FILE.zip|DIR",
        hide_env_values = true
    )]
    pub client_bundle: Option<PathBuf>,
    /// Requests in flight at once per target (repository updates, container inspects)
    #[arg(long, global = true, default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Seconds to wait while the DTR vulnerability database updates (imagescan/status answers 403)
    #[arg(long, global = true, default_value_t = 120, value_name = "SECONDS")]
    pub scan_wait: u64,
    /// Seconds before a request is abandoned
    #[arg(long, global = true, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    /// Only errors and data
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// No progress spinners
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Colour on stderr/stdout
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Many clusters (issue 12): the inventory, which clusters, how many at once, and how long a
/// run waits for another's lock.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Inventory of clusters ([[clusters]] entries) [default: those of the site file]
    #[arg(
        long,
        global = true,
        env = "STIGFIX_INVENTORY",
        value_name = "FILE",
        hide_env_values = true
    )]
    pub inventory: Option<PathBuf>,
    /// Only these clusters of the inventory: a name, a glob (`prod-*`) or `tag:TAG` (repeatable)
    #[arg(long = "cluster", global = true, value_name = "NAME|GLOB|tag:TAG")]
    pub clusters: Vec<String>,
    /// Clusters worked on at once
    #[arg(long, global = true, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: u16,
    /// Wait up to SECONDS for another stigfix run's lock on a target, then give up (exit 1)
    #[arg(long, global = true, default_value_t = 0, value_name = "SECONDS")]
    pub lock_wait: u64,
}

/// What a run records for monitoring (plan, check, apply).
#[derive(Clone, Debug, Default, Args)]
pub struct RecordArgs {
    /// Append one JSON line per run and cluster to FILE (time, targets, changes, findings, exit code)
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write node_exporter textfile metrics (stigfix_*) to FILE (a .prom file), atomically
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RestartArg {
    /// Never restart: the plan and the result say what must be restarted, and how
    Never,
    /// `systemctl daemon-reload` and `systemctl restart docker` when a change needs it (--host-root /)
    IfNeeded,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SeverityArg {
    /// CAT I only
    High,
    /// CAT I and II
    Medium,
    /// all
    Low,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// The formats of lists (`snapshots`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would change: a diff of the live cluster against the playbooks
    Plan(PlanArgs),
    /// Assess without changing anything; write STIG Viewer checklists or HDF for assessors
    Check(CheckArgs),
    /// Make the changes (live, or from a saved plan), with a rollback snapshot, and verify them
    Apply(ApplyArgs),
    /// Restore targets to a snapshot
    Rollback(RollbackArgs),
    /// List rollback snapshots, or prune old ones
    Snapshots(SnapshotsArgs),
    /// Store the password for --username at --ucp-url and --dtr-url in the OS keyring
    Login,
    /// Remove the stored password for --username at --ucp-url and --dtr-url
    Logout,
    /// List, show or validate playbooks
    #[command(subcommand)]
    Playbook(PlaybookCommand),
    /// Every node's host checks, run by the Swarm cluster itself; its image; rollouts
    #[command(subcommand)]
    Nodes(NodesCommand),
    /// The whole cycle against a built-in simulated cluster, with no setup
    #[cfg(feature = "sim")]
    Demo(DemoArgs),
    /// Drift correction as a service: a systemd timer and service that run check or apply
    #[command(subcommand)]
    Schedule(ScheduleCommand),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also save the plan as JSON, for `stigfix apply PLAN.json`
    #[arg(long, value_name = "PLAN.json")]
    pub out: Option<PathBuf>,
    /// Also write the plan as Markdown (for a change ticket)
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Exit 2 when there are changes pending or open findings, 0 when clean
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub record: RecordArgs,
}

/// The formats of `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Counts per asset, STIG and CAT, and the open findings (stdout)
    Text,
    /// Every checklist as data (stdout; schema docs/check.schema.json)
    Json,
    /// STIG Viewer 2 checklists, one file per asset and STIG
    Ckl,
    /// STIG Viewer 3 checklists, one file per asset and STIG
    Cklb,
    /// MITRE Heimdall Data Format (*.json), one file per asset and STIG
    Hdf,
}

/// Exit codes: 0 no open findings, 2 open findings (fix, open or unknown), 1 error.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Folder for the checklists (made if missing) [default: the current folder]; a file name when there is one checklist, or for text and json
    #[arg(long, value_name = "FILE|DIR")]
    pub out: Option<PathBuf>,
    /// Start from this checklist (.ckl/.cklb, or a folder of them) and keep what a person wrote in it
    #[arg(long, value_name = "CHECKLIST|DIR")]
    pub merge: Option<PathBuf>,
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out`: apply exactly it, refusing if the cluster changed since
    #[arg(value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short)]
    pub yes: bool,
    /// Refuse, changing nothing, when the plan has more than N changes (for unattended runs)
    #[arg(long, value_name = "N")]
    pub max_changes: Option<usize>,
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Snapshot id (from `stigfix snapshots`) or folder
    #[arg(
        value_name = "SNAPSHOT",
        required_unless_present = "last",
        conflicts_with = "last"
    )]
    pub snapshot: Option<String>,
    /// The newest snapshot of an applied change
    #[arg(long)]
    pub last: bool,
    /// Do not ask for confirmation
    #[arg(long, short)]
    pub yes: bool,
    /// Roll back even if the target changed after the snapshot's apply
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Output format on stdout
    #[arg(long, global = true, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    #[command(subcommand)]
    pub command: Option<SnapshotsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotsCommand {
    /// Remove old snapshots, never one a rollback or an operator may still need
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct PruneArgs {
    /// Keep the N newest snapshots (and any older one still needed); remove the others
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Remove snapshots made more than DAYS days ago (except those still needed)
    #[arg(long, value_name = "DAYS")]
    pub older_than: Option<u64>,
    /// Remove without asking (required when stdin is not a terminal)
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum PlaybookCommand {
    /// Every rule of the playbooks in use, with its IDs, target and mode
    List,
    /// One rule in full: DISA metadata, check and fix text, desired state
    Show {
        /// STIG ID or Vuln ID
        id: String,
    },
    /// Check playbooks (files or folders; default: those in use) without contacting anything
    Validate {
        /// Playbook files or folders to check [default: the playbooks in use]
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Print the systemd service and timer on stdout
    Print(UnitArgs),
    /// Write the systemd service and timer into --dir
    Install(InstallArgs),
}

/// What the scheduled run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleMode {
    /// Detect drift and change nothing (`plan --detailed-exitcode`; exit 2 is not a failure)
    Check,
    /// Correct drift (`apply --yes`), waiting for an interactive run's lock
    Apply,
}

#[derive(Clone, Debug, Args)]
pub struct UnitArgs {
    /// What the timer runs
    #[arg(long, value_enum, default_value_t = ScheduleMode::Check)]
    pub mode: ScheduleMode,
    /// When it runs (systemd.time(7) calendar event)
    #[arg(long, value_name = "SPEC", default_value = "*-*-* 02:00:00")]
    pub on_calendar: String,
    /// A random delay added to each run, so that many hosts do not run at once (systemd.time(7))
    #[arg(long, value_name = "SPAN", default_value = "45min")]
    pub randomized_delay: String,
    /// The stigfix binary the unit runs [default: this one]
    #[arg(long, value_name = "PATH")]
    pub exec: Option<PathBuf>,
    /// Folder holding the clusters' password files, loaded with LoadCredential= (or named by
    /// $CREDENTIALS_DIRECTORY on systemd older than 247)
    #[arg(long, value_name = "DIR", default_value = "/etc/stigfix/credentials")]
    pub credentials_dir: PathBuf,
    /// The systemd version the unit is for [default: that of `systemctl --version`]
    #[arg(long, value_name = "N")]
    pub systemd_version: Option<u32>,
    /// The apply unit refuses a plan with more than N changes
    #[arg(long, value_name = "N")]
    pub max_changes: Option<usize>,
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Clone, Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub unit: UnitArgs,
    /// Where the unit files go
    #[arg(long, value_name = "DIR", default_value = "/etc/systemd/system")]
    pub dir: PathBuf,
}

// `stigfix nodes` (issue 12).

#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// Every node's host plan as one report (a global-job service through the UCP API; read-only)
    Plan(NodesPlanArgs),
    /// Every node's host checks as checklists, one per node (read-only)
    Check(NodesCheckArgs),
    /// Build a loadable image of this stigfix (offline), for the scanner
    Image(NodesImageArgs),
    /// Apply host changes node by node: drain, run a command for the node, back to active
    Rollout(NodesRolloutArgs),
}

/// How the scanner runs on the nodes.
#[derive(Debug, Args)]
pub struct ScannerArgs {
    /// The stigfix image every node runs [default: stigfix:VERSION, as `stigfix nodes image` tags it]
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// Seconds every node has to report
    #[arg(long, default_value_t = 300, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct NodesPlanArgs {
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 2 when a node has changes pending or open findings, 0 when clean
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub scanner: ScannerArgs,
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Debug, Args)]
pub struct NodesCheckArgs {
    #[command(flatten)]
    pub check: CheckArgs,
    #[command(flatten)]
    pub scanner: ScannerArgs,
}

#[derive(Debug, Args)]
pub struct NodesImageArgs {
    /// The image's reference (a tag is added when it has none: the version)
    #[arg(long, value_name = "REF", default_value = "stigfix")]
    pub tag: String,
    /// The archive to write (what `docker load -i` reads) [default: stigfix-VERSION.tar]
    #[arg(long, value_name = "FILE.tar")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NodesRolloutArgs {
    /// The command that applies and restarts a node, run here with `sh -c`; {node}, {address} and {id} are replaced (e.g. 'ssh {address} sudo stigfix apply --host-root / --yes --restart if-needed')
    #[arg(long = "run", value_name = "COMMAND")]
    pub command: String,
    /// Only this node (host name or ID; repeatable) [default: the nodes whose host plan has changes]
    #[arg(long = "node", value_name = "NAME", conflicts_with = "all")]
    pub nodes: Vec<String>,
    /// Every node
    #[arg(long)]
    pub all: bool,
    /// Nodes taken down at once (of them one manager at most)
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub max_unavailable: u16,
    /// Take a manager down even when the other managers make no quorum without it (1 or 2 managers)
    #[arg(long)]
    pub allow_quorum_loss: bool,
    /// Seconds each wait of a node may take (tasks moved off, the command, back ready)
    #[arg(long, default_value_t = 600, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub node_timeout: u64,
    /// Output format of the report on stdout
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    #[command(flatten)]
    pub scanner: ScannerArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Start the simulated cluster and keep it running (prints how to reach it) instead of the demo
    #[arg(long)]
    pub serve: bool,
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
