//! `stigfix plan`: read every target, assess every rule, show what would change. With an
//! inventory, every cluster (or those `--cluster` picks) is planned at once.

use std::path::{Path, PathBuf};

use futures_util::FutureExt;

use super::{print_cluster_plan, write_file};
use crate::cli::{Format, GlobalArgs, PlanArgs};
use crate::engine;
use crate::error::{ExitStatus, Result};
use crate::fleet;
use crate::output::Output;
use crate::render;
use crate::runlog::Report;
use crate::settings::Settings;

pub async fn dispatch(global: &GlobalArgs, args: PlanArgs, output: Output) -> Result<ExitStatus> {
    let table_on_stdout = args.format == Format::Text;
    let record = args.record.clone();
    fleet::each_cluster(
        global,
        output,
        "plan",
        (args, record),
        table_on_stdout,
        |settings, args| {
            async move {
                let mut report = Report::default();
                let result = run(&settings, &args, &mut report).await;
                (result, report)
            }
            .boxed()
        },
    )
    .await
}

/// Plan one cluster.
pub async fn run(settings: &Settings, args: &PlanArgs, report: &mut Report) -> Result<ExitStatus> {
    let engine = settings.engine()?;
    report.specs = engine.specs();
    let (plan, _) = engine.plan().await?;
    let cluster = settings.cluster.as_deref();
    print_cluster_plan(&plan, args.format, cluster, &settings.output);
    let status = engine::plan_status(&plan, args.detailed_exitcode);
    report.plan = Some(plan);
    let plan = report.plan.as_ref().expect("just set");
    if let Some(path) = &args.out {
        let path = for_cluster(path, cluster);
        write_file(&path, &render_json(plan, cluster))?;
        settings.output.status(&format!(
            "Plan saved to {}; apply it with `stigfix apply {}`",
            path.display(),
            path.display()
        ));
    }
    if let Some(path) = &args.report {
        let path = for_cluster(path, cluster);
        write_file(&path, &render::markdown(plan))?;
        settings
            .output
            .status(&format!("Report written to {}", path.display()));
    }
    Ok(status)
}

/// The JSON plan, naming its cluster when there is one.
pub fn render_json(plan: &crate::plan::Plan, cluster: Option<&str>) -> String {
    let mut json = render::json::plan_json(plan);
    json.cluster = cluster.map(str::to_string);
    let mut text = serde_json::to_string_pretty(&json).expect("plans serialise");
    text.push('\n');
    text
}

/// `plan.json` → `plan.east.json` for cluster `east`: each cluster of an inventory run writes
/// its own file.
pub fn for_cluster(path: &Path, cluster: Option<&str>) -> PathBuf {
    let Some(cluster) = cluster else {
        return path.to_path_buf();
    };
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let renamed = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => format!("{stem}.{cluster}.{extension}"),
        _ => format!("{name}.{cluster}"),
    };
    path.with_file_name(renamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cluster_writes_its_own_file() {
        let path = Path::new("out/plan.json");
        assert_eq!(for_cluster(path, None), path);
        assert_eq!(
            for_cluster(path, Some("east")),
            Path::new("out/plan.east.json")
        );
        assert_eq!(
            for_cluster(Path::new("plan"), Some("w")),
            Path::new("plan.w")
        );
        assert_eq!(
            for_cluster(Path::new(".plan"), Some("w")),
            Path::new(".plan.w")
        );
    }
}
