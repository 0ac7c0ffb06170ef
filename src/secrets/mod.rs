//! Credentials and redaction.
//!
//! Passwords come from, in order: the environment (`STIGFIX_UCP_PASSWORD`/`STIGFIX_DTR_PASSWORD`,
//! then `STIGFIX_PASSWORD`), `--password-stdin`, the OS keyring entry written by `stigfix login`
//! ([`store`]), or a prompt on a terminal. Never from the command line, and never to a plain
//! `http://` URL beyond this machine's loopback. A [`Secret`] never prints its value.

mod store;

use std::fmt;
use std::io::{BufRead, IsTerminal};

use std::net::IpAddr;

use reqwest::Url;

pub use store::{keyring_delete, keyring_set};

use crate::error::{Error, Result};
use crate::output::Output;

/// A secret value; `Debug` and `Display` print `(redacted)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that builds a request.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

pub const REDACTED: &str = "(redacted)";

/// Whether a configuration key holds a secret (passwords, passphrases, client secrets, tokens,
/// private keys). Matched on the key name, case-insensitively (docs/reference/api-facts.md §1.3, §3.3).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passphrase",
        "secret",
        "token",
        "privatekey",
        "private_key",
        "tlskey",
    ]
    .iter()
    .any(|marker| key.contains(marker))
}

/// Replace the values of secret keys in a TOML document (recursively) with `(redacted)`.
pub fn redact_toml(table: &mut dyn toml_edit::TableLike) {
    for (key, item) in table.iter_mut() {
        let secret = is_secret_key(key.get());
        match item {
            toml_edit::Item::Value(value) => redact_value(value, secret),
            toml_edit::Item::Table(inner) => redact_toml(inner),
            toml_edit::Item::ArrayOfTables(array) => {
                for inner in array.iter_mut() {
                    redact_toml(inner);
                }
            }
            toml_edit::Item::None => {}
        }
    }
}

fn redact_value(value: &mut toml_edit::Value, secret: bool) {
    match value {
        toml_edit::Value::InlineTable(inner) => redact_toml(inner),
        toml_edit::Value::String(text) if secret && !text.value().is_empty() => {
            let decor = text.decor().clone();
            let mut replacement = toml_edit::Value::from(REDACTED);
            *replacement.decor_mut() = decor;
            *value = replacement;
        }
        _ => {}
    }
}

/// Which service a credential is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Ucp,
    Dtr,
}

impl Service {
    pub fn env_var(self) -> &'static str {
        match self {
            Service::Ucp => "STIGFIX_UCP_PASSWORD",
            Service::Dtr => "STIGFIX_DTR_PASSWORD",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Service::Ucp => "UCP",
            Service::Dtr => "DTR",
        }
    }
}

/// How a URL would carry a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `https://`.
    Tls,
    /// `http://` to this machine: 127.0.0.0/8, ::1 or `localhost` (the simulator, tests).
    PlainLoopback,
    /// Anything else: the password would cross the network in cleartext.
    PlainRemote,
}

/// How `url` would carry a password.
pub fn transport(url: &Url) -> Transport {
    match url.scheme() {
        "https" => Transport::Tls,
        "http" => {
            let host = url.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || match host.parse::<IpAddr>() {
                    Ok(IpAddr::V4(address)) => address.is_loopback(),
                    Ok(IpAddr::V6(address)) => {
                        address.is_loopback()
                            || address
                                .to_ipv4_mapped()
                                .is_some_and(|address| address.is_loopback())
                    }
                    Err(_) => false,
                };
            if loopback {
                Transport::PlainLoopback
            } else {
                Transport::PlainRemote
            }
        }
        _ => Transport::PlainRemote,
    }
}

/// `text` (a URL, maybe unparsable) with whatever precedes its last `@` after the scheme
/// replaced by `(redacted)`: a user and password typed into a URL are never echoed.
pub fn redact_url_credentials(text: &str) -> String {
    let start = text.find("://").map_or(0, |index| index + 3);
    match text[start..].rfind('@') {
        Some(at) => format!("{}{REDACTED}{}", &text[..start], &text[start + at..]),
        None => text.to_string(),
    }
}

/// Where a password may come from, resolved once per run.
#[derive(Clone, Debug, Default)]
pub struct PasswordSources {
    /// Read once from standard input (`--password-stdin`).
    pub stdin: Option<Secret>,
    pub allow_prompt: bool,
    pub use_keyring: bool,
    /// Where the warning about a password sent over plain HTTP to loopback goes.
    pub output: Option<Output>,
    /// Set for a cluster of an inventory: its own credential replaces all of the above but the
    /// keyring.
    pub cluster: Option<ClusterPassword>,
}

/// An inventory cluster's credential: the password its `password_env` or `password_file`
/// names (read when its run starts), else its keyring entry. The shared `STIGFIX_*PASSWORD`
/// variables, `--password-stdin` and the prompt are not used for it.
#[derive(Clone, Debug)]
pub struct ClusterPassword {
    pub name: String,
    pub password: Option<Secret>,
}

impl PasswordSources {
    pub fn read_stdin() -> Result<Secret> {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|error| {
                Error::new(format!(
                    "cannot read the password from standard input: {error}"
                ))
            })?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            return Err(Error::usage(
                "--password-stdin: standard input held no password",
            ));
        }
        Ok(Secret(password))
    }

    /// Find the password of `username` at `url`. Refused, before anything is sent, when `url`
    /// would carry it in cleartext beyond this machine (a URL from a snapshot or a saved plan
    /// is checked here too); over plain HTTP to loopback, a warning says so.
    pub fn password(&self, service: Service, url: &str, username: &str) -> Result<Secret> {
        let shown = redact_url_credentials(url);
        match Url::parse(url).as_ref().map(transport) {
            Ok(Transport::Tls) => {}
            Ok(Transport::PlainLoopback) => {
                if let Some(output) = &self.output {
                    output.warn(&format!(
                        "the {} password for {username} goes to {shown} in cleartext (plain http://, accepted only on this machine's loopback)",
                        service.label()
                    ));
                }
            }
            _ => {
                return Err(Error::usage(format!(
                    "refusing to send the {} password for {username} to {shown}: only https:// (or http:// to this machine) carries it; nothing was sent",
                    service.label()
                ))
                .with_hint("use the https:// URL of the service"));
            }
        }
        if let Some(cluster) = &self.cluster {
            if let Some(secret) = &cluster.password {
                return Ok(secret.clone());
            }
            if self.use_keyring
                && let Some(secret) = store::keyring_get(url, username)
            {
                return Ok(secret);
            }
            return Err(Error::new(format!(
                "no password for {username} at {url} (cluster {})",
                cluster.name
            ))
            .with_hint(format!(
                "give the cluster `password_env` or `password_file` in the inventory, or run `stigfix login --cluster {}`",
                cluster.name
            )));
        }
        for variable in [service.env_var(), "STIGFIX_PASSWORD"] {
            if let Ok(value) = std::env::var(variable)
                && !value.is_empty()
            {
                return Ok(Secret(value));
            }
        }
        if let Some(secret) = &self.stdin {
            return Ok(secret.clone());
        }
        if self.use_keyring
            && let Some(secret) = store::keyring_get(url, username)
        {
            return Ok(secret);
        }
        if self.allow_prompt && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            let prompt = format!("{} password for {username} at {url}: ", service.label());
            let password = rpassword::prompt_password(prompt)
                .map_err(|error| Error::new(format!("cannot read the password: {error}")))?;
            return Ok(Secret(password));
        }
        Err(
            Error::new(format!("no password for {username} at {url}")).with_hint(format!(
                "set {} (or STIGFIX_PASSWORD), pipe it to --password-stdin, or run `stigfix login`",
                service.env_var()
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_told_from_the_network() {
        for (url, expected) in [
            ("https://ucp.example.mil", Transport::Tls),
            ("https://127.0.0.1", Transport::Tls),
            ("http://127.0.0.1:1", Transport::PlainLoopback),
            ("http://127.255.0.9", Transport::PlainLoopback),
            ("http://LOCALHOST", Transport::PlainLoopback),
            ("http://[::1]:80", Transport::PlainLoopback),
            ("http://[::ffff:127.0.0.1]", Transport::PlainLoopback),
            ("http://ucp.example.mil", Transport::PlainRemote),
            ("http://192.168.1.1", Transport::PlainRemote),
            ("http://[::2]", Transport::PlainRemote),
            ("http://localhost.example.mil", Transport::PlainRemote),
            ("ftp://127.0.0.1", Transport::PlainRemote),
        ] {
            assert_eq!(transport(&Url::parse(url).unwrap()), expected, "{url}");
        }
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        for (text, expected) in [
            ("https://admin:pw@host/x", "https://(redacted)@host/x"),
            ("https://admin:p/w@host", "https://(redacted)@host"),
            ("https://ad@min:p@w@host:1", "https://(redacted)@host:1"),
            ("admin:pw@host", "(redacted)@host"),
            ("https://host/x", "https://host/x"),
        ] {
            assert_eq!(redact_url_credentials(text), expected);
        }
    }

    #[test]
    fn no_password_goes_to_a_plain_http_url_beyond_loopback() {
        let sources = PasswordSources {
            stdin: Some(Secret::new("pw")),
            ..PasswordSources::default()
        };
        let error = sources
            .password(Service::Dtr, "http://dtr.example.mil", "admin")
            .unwrap_err();
        assert_eq!(error.status(), crate::error::ExitStatus::Usage);
        assert!(
            error.message().starts_with(
                "refusing to send the DTR password for admin to http://dtr.example.mil"
            ),
            "{}",
            error.message()
        );
        assert!(
            sources
                .password(Service::Dtr, "http://127.0.0.1:1", "admin")
                .is_ok()
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "(redacted) (redacted)");
    }

    #[test]
    fn secret_keys_are_recognised() {
        for key in [
            "passphrase",
            "password",
            "reader_password",
            "clientSecret",
            "webTLSKey",
            "auth_token",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "per_user_limit",
            "require_content_trust",
            "level",
            "ca_bundle",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn toml_documents_are_redacted_in_place() {
        let mut document: toml_edit::DocumentMut =
            "[backup_schedule_config]\n  passphrase = \"verysecret\" # keep\n  path = \"/tmp\"\n[a]\nb = { password = \"x\" }\n"
                .parse()
                .unwrap();
        redact_toml(document.as_table_mut());
        let text = document.to_string();
        assert!(!text.contains("verysecret"));
        assert!(!text.contains("\"x\""));
        assert!(
            text.contains("passphrase = \"(redacted)\" # keep"),
            "{text}"
        );
        assert!(text.contains("path = \"/tmp\""));
    }
}
