//! `stigfix login` / `logout`: the password for `--username` at each configured UCP and DTR, in
//! the OS keyring.

use crate::cli::GlobalArgs;
use crate::error::{Error, ExitStatus, Result};
use crate::fleet::Scope;
use crate::output::Output;
use crate::secrets;
use crate::settings::{self, Settings};
use crate::targets::registry;

/// `login`: with an inventory, for the one cluster `--cluster` picks (its URLs and account).
pub fn login(global: &GlobalArgs, output: Output) -> Result<ExitStatus> {
    match Scope::resolve(global, output, true)? {
        Scope::One(settings) => login_with(&settings),
        Scope::Many(fleet) => {
            let cluster = fleet.only("login")?;
            let mut settings = fleet
                .base
                .for_cluster_without_credentials(global, cluster)?;
            settings.passwords.stdin = fleet.base.passwords.stdin.clone();
            login_with(&settings)
        }
    }
}

/// `logout`: with an inventory, for every cluster picked.
pub fn logout(global: &GlobalArgs, output: Output) -> Result<ExitStatus> {
    match Scope::resolve(global, output, false)? {
        Scope::One(settings) => logout_with(&settings),
        Scope::Many(fleet) => {
            for cluster in &fleet.clusters {
                logout_with(
                    &fleet
                        .base
                        .for_cluster_without_credentials(global, cluster)?,
                )?;
            }
            Ok(ExitStatus::Success)
        }
    }
}

/// The URLs `login`/`logout` act on: UCP and DTR, whichever are configured.
fn credential_urls(settings: &Settings, command: &str) -> Result<Vec<(&'static str, String)>> {
    let mut urls: Vec<(&'static str, String)> = Vec::new();
    for registration in registry::ALL {
        if let Some(service) = registration.service {
            for spec in (registration.specs)(settings)? {
                urls.push((service.label(), spec.endpoint));
            }
        }
    }
    if urls.is_empty() {
        return Err(Error::usage(format!(
            "{command} needs --ucp-url and/or --dtr-url (or STIGFIX_UCP_URL / STIGFIX_DTR_URL)"
        )));
    }
    Ok(urls)
}

fn login_with(settings: &Settings) -> Result<ExitStatus> {
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

fn logout_with(settings: &Settings) -> Result<ExitStatus> {
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
