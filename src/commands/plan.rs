//! `stigfix plan`: read every target, assess every rule, show what would change.

use super::{print_plan, write_file};
use crate::cli::PlanArgs;
use crate::engine;
use crate::error::{ExitStatus, Result};
use crate::render;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: &PlanArgs) -> Result<ExitStatus> {
    let engine = settings.engine()?;
    let (plan, _) = engine.plan().await?;
    print_plan(&plan, args.format, &settings.output);
    if let Some(path) = &args.out {
        write_file(path, &render::json::plan(&plan))?;
        settings.output.status(&format!(
            "Plan saved to {}; apply it with `stigfix apply {}`",
            path.display(),
            path.display()
        ));
    }
    if let Some(path) = &args.report {
        write_file(path, &render::markdown(&plan))?;
        settings
            .output
            .status(&format!("Report written to {}", path.display()));
    }
    Ok(engine::plan_status(&plan, args.detailed_exitcode))
}
