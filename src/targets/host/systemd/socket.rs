//! docker.socket (systemd.socket(5)): its `ListenStream=` addresses after the fragment and its
//! drop-ins are applied (an empty assignment resets the list), and which of them a network
//! can reach.
//!
//! An address that starts with `/` is a file system socket and one that starts with `@` an
//! abstract one: both local. Anything else is a network listener: a port (`2375`, on every
//! address), `ADDR:PORT`, `[IPV6]:PORT`, `vsock:CID:PORT`. With `-H fd://` dockerd serves its
//! API on every socket systemd passes it, so each of those is a remote API listener.

use std::path::PathBuf;

use super::super::fsroot::View;
use super::search::LoadedUnit;
use super::specifiers::Context;
use super::syntax::{parse_unit, split_words};
use super::{Problem, Scope};

/// One `ListenStream=` in effect.
#[derive(Clone, Debug, PartialEq)]
pub struct Listen {
    /// The address with specifiers resolved.
    pub address: String,
    pub file: PathBuf,
    pub line: usize,
}

impl Listen {
    /// Whether the address is reachable over a network (not a file system or abstract socket).
    pub fn is_network(&self) -> bool {
        !(self.address.starts_with('/') || self.address.starts_with('@'))
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SocketSettings {
    pub listen: Vec<Listen>,
    pub problems: Vec<Problem>,
}

/// The `ListenStream=` addresses of a loaded socket unit.
pub fn effective(view: &View<'_>, unit: &LoadedUnit) -> SocketSettings {
    let mut settings = SocketSettings::default();
    let fragment = unit.fragment.rel.display().to_string();
    let context = Context {
        unit: &unit.fragment.name,
        fragment: &fragment,
    };
    for file in unit.files() {
        let shown = view.show(&file.rel);
        if let Some(why) = &file.unreadable {
            settings.problems.push(Problem::new(
                Scope::Socket,
                format!("{shown} cannot be read: {why}"),
            ));
            continue;
        }
        let parsed = parse_unit(&file.bytes);
        for bad in &parsed.bad {
            settings.problems.push(Problem::new(
                Scope::Socket,
                format!(
                    "{shown}:{}: {} (systemd skips it; stigfix cannot tell what it was meant to set)",
                    bad.line, bad.what
                ),
            ));
        }
        for assignment in parsed
            .assignments
            .iter()
            .filter(|a| a.section == "Socket" && a.key == "ListenStream")
        {
            if assignment.value.is_empty() {
                settings.listen.clear();
                continue;
            }
            let at = format!("{shown}:{}", assignment.line);
            // systemd resolves specifiers in the whole value, then takes it as one address.
            let address = match context.expand(&assignment.value) {
                Ok(address) => address,
                Err(what) => {
                    settings.problems.push(Problem::new(
                        Scope::Socket,
                        format!(
                            "{at}: ListenStream={} uses {what}, which stigfix cannot resolve",
                            assignment.value
                        ),
                    ));
                    continue;
                }
            };
            match split_words(&address) {
                Ok(words) if words.len() == 1 => settings.listen.push(Listen {
                    address: words[0].clone(),
                    file: file.rel.clone(),
                    line: assignment.line,
                }),
                _ => settings.problems.push(Problem::new(
                    Scope::Socket,
                    format!("{at}: ListenStream={address} is not one address"),
                )),
            }
        }
    }
    settings
}

/// The listener shown for a network `ListenStream=`: as written, a bare port as `[::]:PORT`
/// (systemd listens on every IPv6 and IPv4 address for it).
pub fn shown_address(address: &str) -> String {
    if !address.is_empty() && address.chars().all(|c| c.is_ascii_digit()) {
        format!("[::]:{address}")
    } else {
        address.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(address: &str) -> Listen {
        Listen {
            address: address.to_string(),
            file: PathBuf::from("/x"),
            line: 1,
        }
    }

    #[test]
    fn only_file_system_and_abstract_sockets_are_local() {
        for local in ["/run/docker.sock", "@docker"] {
            assert!(!listen(local).is_network(), "{local}");
        }
        for remote in [
            "2375",
            "0.0.0.0:2375",
            "127.0.0.1:2375",
            "[::]:2375",
            "vsock:2:2375",
            "vsock::2375",
        ] {
            assert!(listen(remote).is_network(), "{remote}");
        }
        assert_eq!(shown_address("2375"), "[::]:2375");
        assert_eq!(shown_address("0.0.0.0:2375"), "0.0.0.0:2375");
    }
}
