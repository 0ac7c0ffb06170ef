//! `stigfix playbook list | show | validate`: the rules in use, one rule in full, and offline
//! validation of playbooks.

use crate::cli::PlaybookCommand;
use crate::error::{Error, ExitStatus, Result};
use crate::playbook::{self, Mode, SettingValue};
use crate::settings::Settings;

pub fn run(settings: &Settings, command: PlaybookCommand) -> Result<ExitStatus> {
    let output = &settings.output;
    match command {
        PlaybookCommand::Validate { paths } => {
            let shipped = playbook::shipped()?;
            // Without PATHs: the playbooks in use, the shipped ones and any `--playbook`.
            let user = if !paths.is_empty() {
                playbook::load_paths(&paths)?
            } else if !settings.playbooks.is_empty() {
                playbook::load_paths(&settings.playbooks)?
            } else {
                Vec::new()
            };
            let checked: Vec<&playbook::Playbook> = if paths.is_empty() {
                shipped.iter().chain(&user).collect()
            } else {
                user.iter().collect()
            };
            let count: usize = checked.iter().map(|playbook| playbook.rules.len()).sum();
            let names: Vec<String> = checked
                .iter()
                .map(|playbook| format!("{} ({})", playbook.name(), playbook.source))
                .collect();
            // Variables, waivers and conflicts too; a playbook for a shipped benchmark replaces
            // the shipped one, as in a run.
            playbook::resolve(shipped, user, &settings.site, &Default::default())?;
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
            for rule in set.rules.iter() {
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
                    // A list from a variable: `one of ${name}`.
                    SettingValue::Unset { variable } if setting.setting.value.is_none() => {
                        format!(
                            "{} (variable `{variable}`, not set)",
                            setting.setting.describe_requirement(None)
                        )
                    }
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
            if rule.rule.is_prevention() {
                text.push_str(&format!("  prevents {}\n", rule.rule.prevents.join(", ")));
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
