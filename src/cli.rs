//! Command-line arguments (clap derive). Input only: no logic here. Doc comments are the help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Site file: endpoints, variables, waivers [default: ./stigfix.toml, else $XDG_CONFIG_HOME/stigfix/stigfix.toml]
    #[arg(long, global = true, env = "STIGFIX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// UCP/MKE base URL, e.g. https://ucp.example.mil
    #[arg(long, global = true, env = "STIGFIX_UCP_URL", value_name = "URL")]
    pub ucp_url: Option<String>,
    /// DTR/MSR base URL, e.g. https://dtr.example.mil
    #[arg(long, global = true, env = "STIGFIX_DTR_URL", value_name = "URL")]
    pub dtr_url: Option<String>,
    /// Docker Engine node whose filesystem is rooted at DIR (`/` for this node; repeatable)
    #[arg(
        long = "host-root",
        global = true,
        env = "STIGFIX_HOST_ROOT",
        value_name = "DIR"
    )]
    pub host_roots: Vec<PathBuf>,
    /// Account for UCP and DTR
    #[arg(long, global = true, env = "STIGFIX_USERNAME", value_name = "NAME")]
    pub username: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long, global = true)]
    pub password_stdin: bool,
    /// PEM bundle that TLS is verified against (instead of the system trust store)
    #[arg(long, global = true, env = "STIGFIX_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Skip TLS verification (loudly warned about and recorded in the plan)
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Playbook file or folder to use in addition to / instead of the shipped ones (repeatable)
    #[arg(
        long = "playbook",
        global = true,
        env = "STIGFIX_PLAYBOOK",
        value_name = "PATH"
    )]
    pub playbooks: Vec<PathBuf>,
    /// Where snapshots are kept [default: $XDG_STATE_HOME/stigfix/snapshots]
    #[arg(long, global = true, env = "STIGFIX_SNAPSHOT_DIR", value_name = "DIR")]
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
    /// Requests in flight at once per target (repository updates)
    #[arg(long, global = true, default_value_t = 8, value_name = "N",
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what would change: a diff of the live cluster against the playbooks
    Plan(PlanArgs),
    /// Make the changes (live, or from a saved plan), with a rollback snapshot, and verify them
    Apply(ApplyArgs),
    /// Restore targets to a snapshot
    Rollback(RollbackArgs),
    /// List rollback snapshots
    Snapshots(SnapshotsArgs),
    /// Store the password for --username at --ucp-url and --dtr-url in the OS keyring
    Login,
    /// Remove the stored password for --username at --ucp-url and --dtr-url
    Logout,
    /// List, show or validate playbooks
    #[command(subcommand)]
    Playbook(PlaybookCommand),
    /// The whole cycle against a built-in simulated cluster, with no setup
    #[cfg(feature = "sim")]
    Demo(DemoArgs),
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
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out`: apply exactly it, refusing if the cluster changed since
    #[arg(value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long, short)]
    pub yes: bool,
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
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
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
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Start the simulated cluster and keep it running (prints how to reach it) instead of the demo
    #[arg(long)]
    pub serve: bool,
}
