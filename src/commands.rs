//! One function per subcommand: sequencing only.

use std::io::Write;
use std::path::Path;

use crate::cli::{
    ApplyArgs, Command, Format, GlobalArgs, PlanArgs, PlaybookCommand, RollbackArgs, SnapshotsArgs,
};
use crate::engine::{self, Engine};
use crate::error::{Error, ExitStatus, IoContext, Result};
use crate::output::Output;
use crate::plan::Plan;
use crate::playbook::{self, Mode, SettingValue};
use crate::render;
use crate::secrets;
use crate::settings::{self, Settings};
use crate::snapshot::Snapshot;

pub async fn dispatch(global: &GlobalArgs, command: Command, output: Output) -> Result<ExitStatus> {
    match command {
        #[cfg(feature = "sim")]
        Command::Demo(args) => crate::demo::run(&args, &output).await,
        Command::Playbook(command) => {
            let settings = Settings::resolve(global, output)?;
            playbook_command(&settings, command)
        }
        Command::Plan(args) => plan(&Settings::resolve(global, output)?, &args).await,
        Command::Apply(args) => apply(&Settings::resolve(global, output)?, &args).await,
        Command::Rollback(args) => rollback(&Settings::resolve(global, output)?, &args).await,
        Command::Snapshots(args) => snapshots(&Settings::resolve(global, output)?, &args),
        Command::Login => login(&Settings::resolve(global, output)?),
        Command::Logout => logout(&Settings::resolve(global, output)?),
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
        Format::Json => output.data(&plan.to_json()),
        Format::Markdown => output.data(&render::markdown(plan)),
    }
}

pub async fn plan(settings: &Settings, args: &PlanArgs) -> Result<ExitStatus> {
    let engine = settings.engine()?;
    let (plan, _) = engine.plan().await?;
    print_plan(&plan, args.format, &settings.output);
    if let Some(path) = &args.out {
        write_file(path, &plan.to_json())?;
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

pub async fn apply(settings: &Settings, args: &ApplyArgs) -> Result<ExitStatus> {
    let engine = settings.engine()?;
    let output = &settings.output;
    let (plan, fresh) = match &args.plan {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_path("read plan", path)?;
            let plan = Plan::from_json(&text, &path.display().to_string())?;
            if plan.insecure && !engine.insecure {
                output.warn("the saved plan was made with --insecure; this apply verifies TLS");
            }
            (plan, None)
        }
        None => {
            let (plan, lives) = engine.plan().await?;
            (plan, Some(lives))
        }
    };
    run_apply(&engine, &plan, fresh, args.yes, true, output).await
}

/// Show, confirm, apply. Shared by `apply` and the demo.
pub async fn run_apply(
    engine: &Engine,
    plan: &Plan,
    fresh: Option<Vec<crate::targets::Live>>,
    yes: bool,
    show_plan: bool,
    output: &Output,
) -> Result<ExitStatus> {
    if show_plan {
        output.data(&render::text(plan, output));
    }
    if plan.summary.changes == 0 {
        output.status("Nothing to change: every enforced rule is already compliant.");
        return Ok(ExitStatus::Success);
    }
    if !yes {
        if !settings::interactive() {
            return Err(Error::new("refusing to apply without confirmation: standard input is not a terminal; nothing was changed")
                .with_hint("review the plan, then run again with --yes"));
        }
        let targets = plan
            .targets
            .iter()
            .filter(|target| !target.changes.is_empty())
            .count();
        if !output.confirm(&format!(
            "Apply {} change(s) to {targets} target(s)?",
            plan.summary.changes
        )) {
            return Err(Error::new("apply cancelled; nothing was changed"));
        }
    }
    // A prompt is a pause: the drift guard re-reads every target before the first write.
    let fresh = if yes { fresh } else { None };
    let applied = engine.apply(plan, fresh).await?;
    if let Some(snapshot) = &applied.snapshot {
        output.status(&format!(
            "Applied {} change(s). Undo with `stigfix rollback {}` (or `--last`).",
            applied.changes, snapshot.manifest.id
        ));
    }
    Ok(ExitStatus::Success)
}

pub async fn rollback(settings: &Settings, args: &RollbackArgs) -> Result<ExitStatus> {
    let mut source = match &args.snapshot {
        Some(reference) => Snapshot::load(&settings.snapshot_dir, reference)?,
        None => Snapshot::latest(&settings.snapshot_dir)?,
    };
    let mut settings_for_snapshot = settings.clone();
    // The snapshot says which targets it changed; use its endpoints unless flags name them.
    for target in &source.manifest.targets {
        let endpoint = target.endpoint.clone();
        match target.kind {
            crate::playbook::TargetKind::Ucp => {
                settings_for_snapshot.ucp_url.get_or_insert(endpoint);
            }
            crate::playbook::TargetKind::Dtr => {
                settings_for_snapshot.dtr_url.get_or_insert(endpoint);
            }
            crate::playbook::TargetKind::Host => {
                settings_for_snapshot
                    .host_root
                    .get_or_insert_with(|| endpoint.into());
            }
        }
    }
    let engine = settings_for_snapshot.engine()?;
    let output = &settings.output;
    output.status(&format!(
        "Rolling back to snapshot {} ({} of {})",
        source.manifest.id, source.manifest.command, source.manifest.created_at
    ));
    let yes = args.yes;
    let confirm = |question: &str| -> bool {
        if yes {
            return true;
        }
        settings::interactive() && output.confirm(question)
    };
    if !yes && !settings::interactive() {
        // Show what would happen, then refuse.
        let result = engine.rollback(&mut source, args.force, &|_| false).await;
        return match result {
            Err(error) if error.message().starts_with("rollback cancelled") => Err(Error::new(
                "refusing to roll back without confirmation: standard input is not a terminal; nothing was changed",
            )
            .with_hint("run again with --yes")),
            other => other.map(|_| ExitStatus::Success),
        };
    }
    let undo = engine.rollback(&mut source, args.force, &confirm).await?;
    if let Some(undo) = undo {
        output.status(&format!(
            "Rolled back. The state before the rollback is saved as snapshot {}.",
            undo.manifest.id
        ));
    }
    Ok(ExitStatus::Success)
}

pub fn snapshots(settings: &Settings, args: &SnapshotsArgs) -> Result<ExitStatus> {
    let snapshots = Snapshot::list(&settings.snapshot_dir)?;
    if args.format == Format::Json {
        let manifests: Vec<_> = snapshots
            .iter()
            .map(|snapshot| &snapshot.manifest)
            .collect();
        settings
            .output
            .data(&(serde_json::to_string_pretty(&manifests).expect("manifests serialise") + "\n"));
        return Ok(ExitStatus::Success);
    }
    if snapshots.is_empty() {
        settings.output.status(&format!(
            "No snapshots in {}",
            settings.snapshot_dir.display()
        ));
        return Ok(ExitStatus::Success);
    }
    let mut text = String::new();
    for snapshot in snapshots {
        let manifest = &snapshot.manifest;
        for target in &manifest.targets {
            text.push_str(&format!(
                "{}  {:<8}  {} {}  {:<13}  {} change(s)\n",
                manifest.id,
                manifest.command,
                target.kind.as_str(),
                target.endpoint,
                serde_json::to_value(target.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                target.changes.len()
            ));
        }
    }
    settings.output.data(&text);
    Ok(ExitStatus::Success)
}

/// The URLs `login`/`logout` act on: UCP and DTR, whichever are configured.
fn credential_urls(settings: &Settings, command: &str) -> Result<Vec<(&'static str, String)>> {
    let urls: Vec<(&'static str, String)> = [
        ("UCP", settings.ucp_url.clone()),
        ("DTR", settings.dtr_url.clone()),
    ]
    .into_iter()
    .filter_map(|(label, url)| url.map(|url| (label, url)))
    .collect();
    if urls.is_empty() {
        return Err(Error::usage(format!(
            "{command} needs --ucp-url and/or --dtr-url (or STIGFIX_UCP_URL / STIGFIX_DTR_URL)"
        )));
    }
    Ok(urls)
}

fn login(settings: &Settings) -> Result<ExitStatus> {
    let urls = credential_urls(settings, "login")?;
    let username = settings.username()?;
    let password = match &settings.passwords.stdin {
        Some(password) => password.clone(),
        None if settings::interactive() => {
            let names: Vec<String> = urls.iter().map(|(_, url)| url.clone()).collect();
            secrets::Secret::new(
                rpassword::prompt_password(format!(
                    "Password for {username} at {}: ",
                    names.join(" and ")
                ))
                .map_err(|error| Error::new(format!("cannot read the password: {error}")))?,
            )
        }
        None => {
            return Err(
                Error::new("no password to store: standard input is not a terminal").with_hint(
                    "pipe it: `printf '%s\\n' \"$PASSWORD\" | stigfix login --password-stdin …`",
                ),
            );
        }
    };
    for (label, url) in &urls {
        let store = secrets::keyring_set(url, username, &password)?;
        settings.output.status(&format!(
            "Stored the password for {username} at {url} ({label}) in the {store}."
        ));
    }
    Ok(ExitStatus::Success)
}

fn logout(settings: &Settings) -> Result<ExitStatus> {
    let username = settings.username()?;
    for (label, url) in credential_urls(settings, "logout")? {
        if secrets::keyring_delete(&url, username)? {
            settings.output.status(&format!(
                "Removed the stored password for {username} at {url} ({label})."
            ));
        } else {
            settings.output.status(&format!(
                "No stored password for {username} at {url} ({label})."
            ));
        }
    }
    Ok(ExitStatus::Success)
}

fn playbook_command(settings: &Settings, command: PlaybookCommand) -> Result<ExitStatus> {
    let output = &settings.output;
    match command {
        PlaybookCommand::Validate { paths } => {
            let playbooks = if paths.is_empty() {
                let mut all = playbook::shipped()?;
                if !settings.playbooks.is_empty() {
                    all.extend(playbook::load_paths(&settings.playbooks)?);
                }
                all
            } else {
                playbook::load_paths(&paths)?
            };
            // Variables, waivers and conflicts too.
            let shipped = if paths.is_empty() {
                Vec::new()
            } else {
                playbook::shipped()?
            };
            let count: usize = playbooks.iter().map(|playbook| playbook.rules.len()).sum();
            let names: Vec<String> = playbooks
                .iter()
                .map(|playbook| format!("{} ({})", playbook.name(), playbook.source))
                .collect();
            playbook::resolve(shipped, playbooks, &settings.site, &Default::default())?;
            output.data(&format!(
                "valid: {} rule(s) in {}\n",
                count,
                names.join(", ")
            ));
            Ok(ExitStatus::Success)
        }
        PlaybookCommand::List => {
            let set = settings.rule_set()?;
            let mut text = String::new();
            for rule in &set.rules {
                let meta = &rule.rule.meta;
                text.push_str(&format!(
                    "{:<15} {:<9} {:<8} {:<5} {:<8} {}\n",
                    meta.stig_id,
                    meta.vuln_id,
                    meta.severity.category(),
                    rule.rule.target.as_str(),
                    rule.rule.mode.as_str(),
                    meta.title
                ));
            }
            output.data(&text);
            Ok(ExitStatus::Success)
        }
        PlaybookCommand::Show { id } => {
            let set = settings.rule_set()?;
            let rule = set
                .rules
                .iter()
                .find(|rule| {
                    rule.stig_id().eq_ignore_ascii_case(&id)
                        || rule.rule.meta.vuln_id.eq_ignore_ascii_case(&id)
                })
                .ok_or_else(|| {
                    Error::new(format!("no rule {id} in the playbooks in use"))
                        .with_hint("`stigfix playbook list` shows every rule")
                })?;
            let meta = &rule.rule.meta;
            let mut text = format!(
                "{}  {}  {}  {}\n{}\n\nPlaybook: {} ({})\nTarget: {}  Mode: {}\nCCIs: {}\nSRG: {}\n\nDesired state:\n",
                meta.stig_id,
                meta.vuln_id,
                meta.rule_id,
                meta.severity.category(),
                meta.title,
                rule.playbook,
                rule.rule.location,
                rule.rule.target.as_str(),
                rule.rule.mode.as_str(),
                meta.ccis.join(", "),
                meta.srg,
            );
            for setting in &rule.settings {
                let line = match &setting.value {
                    SettingValue::Unset { variable } => {
                        format!("{} = (variable `{variable}`, not set)", setting.path())
                    }
                    _ => setting.setting.describe_requirement(setting.desired()),
                };
                text.push_str(&format!("  {line}\n"));
            }
            if rule.rule.mode == Mode::Manual && rule.settings.is_empty() {
                text.push_str("  (manual review)\n");
            }
            if rule.rule.mode == Mode::NotAssessed {
                text.push_str("  (not assessed by this version)\n");
            }
            if let Some(note) = &rule.rule.note {
                text.push_str(&format!("\nNote: {note}\n"));
            }
            if let Some(waiver) = &rule.waiver {
                text.push_str(&format!(
                    "\nWaiver: {} ({})\n",
                    waiver.justification, waiver.location
                ));
            }
            text.push_str(&format!(
                "\nDiscussion:\n{}\n\nCheck text:\n{}\n\nFix text:\n{}\n",
                meta.discussion, meta.check_text, meta.fix_text
            ));
            output.data(&text);
            Ok(ExitStatus::Success)
        }
    }
}
