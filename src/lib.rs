//! stigfix: plan, apply and roll back DISA STIG settings on Docker Enterprise / Mirantis clusters.
//!
//! `main` calls [`run`]; everything else is a library so the integration tests and `stigfix demo`
//! use the same code paths as the commands. Pure planning (`playbook`, `assess`, `plan`,
//! `render`, `targets::toml_doc`) is separate from I/O (`targets`, `engine`, `snapshot`).

pub mod assess;
pub mod benchmark;
pub mod checklist;
pub mod cli;
pub mod commands;
#[cfg(feature = "sim")]
pub mod demo;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod http;
pub mod keypath;
pub mod learned;
pub mod lock;
pub mod metrics;
pub mod nodes;
pub mod output;
pub mod plan;
pub mod playbook;
pub mod render;
pub mod runlog;
pub mod secrets;
pub mod settings;
#[cfg(feature = "sim")]
pub mod sim;
pub mod site;
pub mod snapshot;
pub mod targets;
pub mod values;

use crate::error::ExitStatus;

/// Parse arguments, run the command, print any error, and return the exit code.
pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    let cli = match cli::parse(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                _ => ExitStatus::Usage.code(),
            };
        }
    };
    let output = output::Output::new(cli.global.color, cli.global.quiet, cli.global.no_progress);
    // One worker thread (plus the blocking pool for file and journal writes): stigfix waits on
    // the network far more than it computes, and a second worker only moved every response
    // between threads. Measured on two cores (README, "Speed"): a workload plan of 2,000
    // containers 0.93-0.98 s with one worker against 1.24-1.57 s with two; a DTR apply and 20
    // clusters in parallel within the noise of their figures with either.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output.error(&format!("cannot start the async runtime: {error}"), None);
            return ExitStatus::Failure.code();
        }
    };
    let result = runtime.block_on(commands::dispatch(&cli.global, cli.command, output.clone()));
    match result {
        Ok(status) => status.code(),
        Err(error) => {
            output.error(&error.message(), error.hint());
            error.status().code()
        }
    }
}
