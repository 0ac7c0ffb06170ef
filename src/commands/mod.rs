//! One file per subcommand: sequencing only. Rendering is `crate::render`'s, the work the
//! engine's; a command reads the settings, asks the engine, shows the result and asks the user.

mod apply;
mod check;
mod login;
mod nodes;
mod plan;
mod playbook;
mod rollback;
mod schedule;
mod snapshots;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub use apply::run_apply;

use crate::cli::{Command, Format, GlobalArgs};
use crate::error::{ExitStatus, IoContext, Result};
use crate::output::Output;
use crate::plan::Plan;
use crate::render;
use crate::settings::Settings;

pub async fn dispatch(global: &GlobalArgs, command: Command, output: Output) -> Result<ExitStatus> {
    crate::lock::set_wait(Duration::from_secs(global.fleet.lock_wait));
    match command {
        #[cfg(feature = "sim")]
        Command::Demo(args) => crate::demo::run(&args, &output).await,
        Command::Playbook(command) => playbook::run(&Settings::resolve(global, output)?, command),
        Command::Plan(args) => plan::dispatch(global, args, output).await,
        Command::Check(args) => check::dispatch(global, args, output).await,
        Command::Apply(args) => apply::dispatch(global, args, output).await,
        Command::Rollback(args) => rollback::dispatch(global, &args, output).await,
        Command::Snapshots(args) => snapshots::dispatch(global, &args, output),
        Command::Login => login::login(global, output),
        Command::Logout => login::logout(global, output),
        Command::Schedule(command) => schedule::run(global, command, output),
        Command::Nodes(command) => nodes::dispatch(global, command, output).await,
    }
}

/// Write a file atomically (temporary file beside it, fsync, rename).
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = directory.join(format!(
        ".{}.tmp",
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut file = std::fs::File::create(&temporary).with_path("write", &temporary)?;
    file.write_all(text.as_bytes())
        .with_path("write", &temporary)?;
    file.sync_all().with_path("write", &temporary)?;
    std::fs::rename(&temporary, path).with_path("write", path)
}

/// Show a plan on stdout in the chosen format.
pub fn print_plan(plan: &Plan, format: Format, output: &Output) {
    print_cluster_plan(plan, format, None, output);
}

/// Show a plan of a cluster of an inventory run: text lines carry the output's `[cluster]`
/// prefix, the JSON document a `"cluster"` field, the Markdown document a heading.
pub fn print_cluster_plan(plan: &Plan, format: Format, cluster: Option<&str>, output: &Output) {
    match (format, cluster) {
        (Format::Text, _) => output.data(&render::text(plan, output)),
        (Format::Json, None) => output.data(&render::json::plan(plan)),
        (Format::Json, Some(_)) => output.raw_data(&plan::render_json(plan, cluster)),
        (Format::Markdown, None) => output.data(&render::markdown(plan)),
        (Format::Markdown, Some(name)) => output.raw_data(&format!(
            "<!-- cluster: {name} -->\n# Cluster `{name}`\n\n{}",
            render::markdown(plan)
        )),
    }
}
