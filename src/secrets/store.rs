//! Where `stigfix login` keeps passwords: the Secret Service where a D-Bus session offers one,
//! else the user's persistent kernel keyring.
//!
//! The kernel keyring works where there is no desktop session and no session keyring at all —
//! cron, systemd units, `su`, SSH without `pam_keyinit` — which is where a tool like this runs.
//! The key goes into the user's *persistent* keyring (persistent-keyring(7)), linked into the
//! user keyring (`@u`), so that every later process of the user finds it whatever session it
//! is in. The persistent keyring outlives logins and is dropped by the kernel after
//! `/proc/sys/kernel/keys/persistent_keyring_expiry` seconds (3 days by default) without use;
//! every `stigfix` run that reads the password restarts that clock. Nothing survives a reboot.
//!
//! The key is readable by its owner's processes only (possessor: all; user: view, read, write,
//! search; group and others: nothing): a process of the user that is in another session (a
//! `keyctl session`, a container) does not *possess* it, and reads it through the user bits.

use linux_keyutils::{
    Key, KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission,
};

use super::Secret;
use crate::error::{Error, Result};

const SERVICE: &str = "stigfix";

/// The name of a password: `stigfix:admin@https://ucp.example.mil`.
fn description(url: &str, username: &str) -> String {
    format!("{SERVICE}:{}", account(url, username))
}

fn account(url: &str, username: &str) -> String {
    format!("{username}@{}", url.trim_end_matches('/'))
}

/// The Secret Service entry, where a D-Bus session bus is configured.
fn secret_service(url: &str, username: &str) -> Option<keyring::Entry> {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS")?;
    let credential = keyring::secret_service::SsCredential::new_with_target(
        None,
        SERVICE,
        &account(url, username),
    )
    .ok()?;
    Some(keyring::Entry::new_with_credential(Box::new(credential)))
}

/// The stored password of `username` at `url`, if any store has one. A store that cannot be
/// reached counts as having none: the caller then asks elsewhere and says where to set one.
pub fn keyring_get(url: &str, username: &str) -> Option<Secret> {
    if let Some(entry) = secret_service(url, username)
        && let Ok(password) = entry.get_password()
    {
        return Some(Secret::new(password));
    }
    let key = kernel_find(&description(url, username))?;
    let bytes = key.read_to_vec().ok()?;
    String::from_utf8(bytes).ok().map(Secret::new)
}

/// Store a password; returns where, in words.
pub fn keyring_set(url: &str, username: &str, password: &Secret) -> Result<String> {
    if password.expose().is_empty() {
        return Err(Error::usage("refusing to store an empty password"));
    }
    let mut problems = Vec::new();
    if let Some(entry) = secret_service(url, username) {
        match entry.set_password(password.expose()) {
            Ok(()) => return Ok("Secret Service".into()),
            Err(error) => problems.push(format!("Secret Service: {error}")),
        }
    }
    match kernel_set(&description(url, username), password.expose().as_bytes()) {
        Ok(()) => Ok(format!(
            "kernel keyring (the user's persistent keyring: it lasts until a reboot, or {} without a stigfix run that reads it)",
            expiry()
        )),
        Err(error) => {
            problems.push(format!("kernel keyring: {}", describe(error)));
            Err(Error::new(format!(
                "cannot store the password for {username} at {url} in the OS keyring ({})",
                problems.join("; ")
            ))
            .with_hint(
                "give the password with STIGFIX_PASSWORD (or STIGFIX_UCP_PASSWORD / STIGFIX_DTR_PASSWORD) or --password-stdin instead",
            ))
        }
    }
}

/// Remove a stored password from every store; returns whether one was removed.
pub fn keyring_delete(url: &str, username: &str) -> Result<bool> {
    let mut removed = false;
    if let Some(entry) = secret_service(url, username) {
        match entry.delete_credential() {
            Ok(()) => removed = true,
            Err(keyring::Error::NoEntry) => {}
            Err(error) => {
                return Err(Error::new(format!(
                    "cannot remove the password for {username} at {url} from the Secret Service: {error}"
                )));
            }
        }
    }
    // Invalidating a key unlinks it from every keyring at once.
    if let Some(key) = kernel_find(&description(url, username)) {
        key.invalidate().map_err(|error| {
            Error::new(format!(
                "cannot remove the password for {username} at {url} from the kernel keyring: {}",
                describe(error)
            ))
        })?;
        removed = true;
    }
    Ok(removed)
}

/// The user's persistent keyring, linked into the user keyring (so that every process of the
/// user reaches it) and with its expiry clock restarted.
fn persistent() -> std::result::Result<KeyRing, KeyError> {
    KeyRing::get_persistent(KeyRingIdentifier::User)
}

fn kernel_set(description: &str, secret: &[u8]) -> std::result::Result<(), KeyError> {
    let ring = persistent()?;
    let key = match ring.add_key(description, secret) {
        // This process's session keyring does not lead to the user keyring (a session made by
        // `keyctl session`), so it does not possess the persistent keyring: link that into the
        // session too, which makes it possessed, and add again.
        Err(KeyError::AccessDenied) => {
            KeyRing::get_persistent(KeyRingIdentifier::Session)?;
            ring.add_key(description, secret)?
        }
        other => other?,
    };
    let permissions = KeyPermissionsBuilder::builder()
        .posessor(Permission::ALL)
        .user(Permission::VIEW | Permission::READ | Permission::WRITE | Permission::SEARCH)
        .build();
    if let Err(error) = key.set_perms(permissions) {
        // Never leave a key behind that the next run could not read.
        let _ = key.invalidate();
        return Err(error);
    }
    Ok(())
}

/// The key of that name the process reaches from its session keyring: that leads to the user
/// keyring (a login session's does; without one, the user-session keyring stands in), where
/// the persistent keyring is linked. A session keyring that does not (one made by `keyctl
/// session`) gets the persistent keyring linked into it, and is searched again.
fn kernel_find(description: &str) -> Option<Key> {
    // Links the persistent keyring into the user keyring if it is not, and restarts its clock.
    let _ = persistent();
    let search = || {
        KeyRing::from_special_id(KeyRingIdentifier::Session, false)
            .ok()?
            .search(description)
            .ok()
    };
    search().or_else(|| {
        KeyRing::get_persistent(KeyRingIdentifier::Session).ok()?;
        search()
    })
}

/// The persistent keyring's expiry, in words.
fn expiry() -> String {
    let seconds = std::fs::read_to_string("/proc/sys/kernel/keys/persistent_keyring_expiry")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .unwrap_or(259_200);
    match seconds {
        seconds if seconds % 86_400 == 0 => format!("{} day(s)", seconds / 86_400),
        seconds if seconds % 3_600 == 0 => format!("{} hour(s)", seconds / 3_600),
        seconds => format!("{seconds} seconds"),
    }
}

fn describe(error: KeyError) -> String {
    match error {
        // EPERM, or ENOSYS (38) from a seccomp filter.
        KeyError::PermissionDenied | KeyError::Unknown(38) => {
            "this process may not use the kernel keyring (container runtimes block keyctl(2) by default)".into()
        }
        KeyError::AccessDenied => "permission denied".into(),
        KeyError::OperationNotSupported => {
            "this kernel has no persistent keyrings (CONFIG_PERSISTENT_KEYRINGS)".into()
        }
        KeyError::QuotaExceeded => {
            "the user's key quota is used up (/proc/sys/kernel/keys/maxkeys, maxbytes)".into()
        }
        other => format!("{other:?}"),
    }
}
