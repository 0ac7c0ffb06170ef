//! One file per subcommand: sequencing only. Rendering is `crate::render`'s, the work the
//! engine's; a command reads the settings, asks the engine, shows the result and asks the user.

mod apply;
mod check;
mod login;
mod plan;
mod playbook;
mod rollback;
mod snapshots;

use std::io::Write;
use std::path::Path;

pub use apply::run_apply;

use crate::cli::{Command, Format, GlobalArgs};
use crate::error::{ExitStatus, IoContext, Result};
use crate::output::Output;
use crate::plan::Plan;
use crate::render;
use crate::settings::Settings;

pub async fn dispatch(global: &GlobalArgs, command: Command, output: Output) -> Result<ExitStatus> {
    match command {
        #[cfg(feature = "sim")]
        Command::Demo(args) => crate::demo::run(&args, &output).await,
        Command::Playbook(command) => playbook::run(&Settings::resolve(global, output)?, command),
        Command::Plan(args) => plan::run(&Settings::resolve(global, output)?, &args).await,
        Command::Check(args) => check::run(&Settings::resolve(global, output)?, &args).await,
        Command::Apply(args) => apply::run(&Settings::resolve(global, output)?, &args).await,
        Command::Rollback(args) => rollback::run(&Settings::resolve(global, output)?, &args).await,
        Command::Snapshots(args) => snapshots::run(&Settings::resolve(global, output)?, &args),
        Command::Login => login::login(&Settings::resolve(global, output)?),
        Command::Logout => login::logout(&Settings::resolve(global, output)?),
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
    match format {
        Format::Text => output.data(&render::text(plan, output)),
        Format::Json => output.data(&render::json::plan(plan)),
        Format::Markdown => output.data(&render::markdown(plan)),
    }
}
