//! `stigfix check`: read every target and assess every rule, changing nothing; show or write one
//! checklist per asset and STIG (`crate::checklist`), merged with an assessor's earlier one on
//! request. Exits like `plan --detailed-exitcode`: 2 when a rule is fix, open or unknown.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures_util::FutureExt;

use super::plan::for_cluster;
use super::write_file;
use crate::checklist::{self, Checklist, Context, FileFormat, merge};
use crate::cli::{CheckArgs, CheckFormat, GlobalArgs};
use crate::engine;
use crate::error::{Error, ExitStatus, IoContext, Result};
use crate::fleet;
use crate::output::Output;
use crate::plan::Plan;
use crate::runlog::Report;
use crate::settings::Settings;

pub async fn dispatch(global: &GlobalArgs, args: CheckArgs, output: Output) -> Result<ExitStatus> {
    let record = args.record.clone();
    // The checklists (or the text) are the data; the summary table goes to stderr.
    fleet::each_cluster(
        global,
        output,
        "check",
        (args, record),
        false,
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

/// Check one cluster. With an inventory, each cluster's checklists go to a folder of its name
/// under `--out` (or the current folder), and `--out FILE` becomes `FILE.CLUSTER.EXT`.
pub async fn run(settings: &Settings, args: &CheckArgs, report: &mut Report) -> Result<ExitStatus> {
    let engine = settings.engine()?;
    report.specs = engine.specs();
    // The checklists to merge are read before any target, so a bad one fails fast.
    let existing = read_merge(args)?;
    let (plan, _) = engine.plan().await?;
    report.plan = Some(plan);
    let plan = report.plan.as_ref().expect("just set");
    let mut checklists = build(settings, plan)?;
    for checklist in &mut checklists {
        checklist.asset.read_host_name();
    }
    deliver(settings, args, plan, checklists, existing.as_deref())
}

/// The checklists of `--merge`, when given.
pub(super) fn read_merge(args: &CheckArgs) -> Result<Option<Vec<merge::Existing>>> {
    let Some(path) = &args.merge else {
        return Ok(None);
    };
    let existing = merge::read_all(path)?;
    if existing.is_empty() {
        return Err(Error::new(format!(
            "{}: the folder holds no .ckl or .cklb checklist to merge",
            path.display()
        )));
    }
    Ok(Some(existing))
}

/// Every checklist of a plan; an error when there is none.
pub(super) fn build(settings: &Settings, plan: &Plan) -> Result<Vec<Checklist>> {
    let context = Context {
        narrowed: !settings.filter.rules.is_empty() || settings.filter.min_severity.is_some(),
    };
    let checklists = checklist::build(plan, &context);
    if checklists.is_empty() {
        return Err(Error::new(
            "no checklist to write: no rule of the loaded STIGs concerns the targets of this run",
        )
        .with_hint("check the --rule/--severity filters and the targets configured"));
    }
    Ok(checklists)
}

/// Merge, show or write the checklists; the exit status of the plan they come from. With an
/// inventory's cluster, its checklists go into a folder of its name and `--out FILE` becomes
/// `FILE.CLUSTER.EXT`.
pub(super) fn deliver(
    settings: &Settings,
    args: &CheckArgs,
    plan: &Plan,
    mut checklists: Vec<Checklist>,
    existing: Option<&[merge::Existing]>,
) -> Result<ExitStatus> {
    unique_file_names(&mut checklists);
    if let (Some(existing), Some(path)) = (existing, &args.merge) {
        for warning in merge::merge_all(&mut checklists, existing, !path.is_dir())? {
            settings.output.warn(&warning);
        }
    }
    let output = &settings.output;
    let cluster = settings.cluster.as_deref();
    let out = args.out.as_deref().map(|path| for_cluster(path, cluster));
    let format = match args.format {
        CheckFormat::Text => {
            let text = checklist::text::text(&checklists, plan.insecure, output);
            emit(settings, out.as_deref(), &text)?;
            None
        }
        CheckFormat::Json => {
            emit(
                settings,
                out.as_deref(),
                &checklist::json::report(&checklists, plan.insecure),
            )?;
            None
        }
        CheckFormat::Ckl => Some(FileFormat::Ckl),
        CheckFormat::Cklb => Some(FileFormat::Cklb),
        CheckFormat::Hdf => Some(FileFormat::Hdf),
    };
    if let Some(format) = format {
        let dir = match (cluster, &args.out) {
            (Some(cluster), None) => Some(PathBuf::from(cluster)),
            (Some(cluster), Some(out)) if !names_a_file(out) => Some(out.join(cluster)),
            _ => out,
        };
        let written = write_checklists(format, &checklists, dir.as_deref())?;
        output.status(&format!(
            "Wrote {} checklist(s): {}",
            written.len(),
            written
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(engine::plan_status(plan, true))
}

/// Text and JSON go to stdout, or to `--out FILE`.
fn emit(settings: &Settings, out: Option<&Path>, text: &str) -> Result<()> {
    match out {
        Some(path) => {
            write_file(path, text)?;
            settings.output.status(&format!("Wrote {}", path.display()));
        }
        None => settings.output.data(text),
    }
    Ok(())
}

/// Two assets whose names would give the same file (two nodes called `node1`) get `-2`, `-3`.
fn unique_file_names(checklists: &mut [Checklist]) {
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    for checklist in checklists.iter_mut() {
        let key = checklist.asset.key.clone();
        if let Some(name) = renamed.get(&key) {
            checklist.asset.file_name.clone_from(name);
            continue;
        }
        let base = checklist.asset.file_name.clone();
        let mut name = base.clone();
        let mut counter = 1;
        while owners.get(&name).is_some_and(|owner| *owner != key) {
            counter += 1;
            name = format!("{base}-{counter}");
        }
        owners.insert(name.clone(), key.clone());
        renamed.insert(key, name.clone());
        checklist.asset.file_name = name;
    }
}

/// Whether `--out` names a file (`x.ckl`) rather than a folder (`out/`, an existing folder, a
/// name without an extension).
fn names_a_file(path: &Path) -> bool {
    !path.is_dir() && !path.to_string_lossy().ends_with('/') && path.extension().is_some()
}

/// Write every checklist: into `--out DIR` (or the current folder) by its predictable name, or
/// to `--out FILE` when there is exactly one.
fn write_checklists(
    format: FileFormat,
    checklists: &[Checklist],
    out: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    let names: Vec<String> = checklists
        .iter()
        .map(|checklist| format!("{}.{}", checklist.file_stem(), format.extension()))
        .collect();
    let as_file = out.filter(|path| names_a_file(path));
    if let Some(path) = as_file {
        if let [checklist] = checklists {
            write_file(path, &format.render(checklist))?;
            return Ok(vec![path.to_path_buf()]);
        }
        return Err(Error::new(format!(
            "--out {}: this run makes {} checklists ({}), so --out must name a folder",
            path.display(),
            checklists.len(),
            names.join(", ")
        ))
        .with_hint(
            "pass --out DIR (it is made if missing), or narrow the run to one asset and STIG",
        ));
    }
    let dir = out.unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_path("make the checklist folder", dir)?;
    let mut written = Vec::new();
    for (checklist, name) in checklists.iter().zip(names) {
        let path = dir.join(name);
        write_file(&path, &format.render(checklist))?;
        written.push(path);
    }
    Ok(written)
}
