//! dockerd command-line flags: parse the arguments of `ExecStart=` the way dockerd's flag
//! parser (spf13/pflag) does, and render them back.
//!
//! Long flags take a value either as `--flag=value` or as the next word, except boolean
//! flags, which only take `--flag=value`. Short flags can be clustered (`-DH tcp://…`) and take
//! their value attached (`-Htcp://…`, `-H=tcp://…`) or as the next word.

/// What a flag is about, for the settings stigfix reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flag {
    Host(String),
    InsecureRegistry(String),
    TlsCaCert(String),
    TlsCert(String),
    TlsKey(String),
    ConfigFile(String),
    Other,
}

/// One flag (or stray word) with the words it occupies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub words: Vec<String>,
    pub flag: Flag,
}

/// dockerd's boolean long flags: they never take the next word as a value.
const BOOL_LONG: &[&str] = &[
    "allow-direct-routing",
    "debug",
    "disable-legacy-registry",
    "experimental",
    "help",
    "icc",
    "init",
    "ip-forward",
    "ip-forward-no-drop",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "live-restore",
    "no-new-privileges",
    "raw-logs",
    "rootless",
    "selinux-enabled",
    "tls",
    "tlsverify",
    "userland-proxy",
    "validate",
    "version",
];

/// dockerd's short flags that take a value (`-H`, `-G`, `-b`, `-l`, `-p`, `-s`, and the old
/// `-g`/`-e`); every other short flag is boolean (`-D`, `-v`, `-h`).
const VALUE_SHORT: &[char] = &['H', 'G', 'b', 'l', 'p', 's', 'g', 'e'];

fn classify(name: &str, value: String) -> Flag {
    match name {
        "H" | "host" => Flag::Host(value),
        "insecure-registry" => Flag::InsecureRegistry(value),
        "tlscacert" => Flag::TlsCaCert(value),
        "tlscert" => Flag::TlsCert(value),
        "tlskey" => Flag::TlsKey(value),
        "config-file" => Flag::ConfigFile(value),
        _ => Flag::Other,
    }
}

/// Parse dockerd's arguments (without the program name).
pub fn parse(args: &[String]) -> Vec<Arg> {
    let mut parsed = Vec::new();
    let mut index = 0;
    let mut only_positional = false;
    while index < args.len() {
        let word = &args[index];
        index += 1;
        if only_positional || word == "-" || !word.starts_with('-') {
            parsed.push(Arg {
                words: vec![word.clone()],
                flag: Flag::Other,
            });
            continue;
        }
        if word == "--" {
            only_positional = true;
            parsed.push(Arg {
                words: vec![word.clone()],
                flag: Flag::Other,
            });
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                parsed.push(Arg {
                    words: vec![word.clone()],
                    flag: classify(name, value.to_string()),
                });
            } else if BOOL_LONG.contains(&long) || index >= args.len() {
                parsed.push(Arg {
                    words: vec![word.clone()],
                    flag: Flag::Other,
                });
            } else {
                let value = args[index].clone();
                index += 1;
                parsed.push(Arg {
                    words: vec![word.clone(), value.clone()],
                    flag: classify(long, value),
                });
            }
            continue;
        }
        // A cluster of short flags: booleans until one that takes a value.
        let cluster: Vec<char> = word[1..].chars().collect();
        let mut position = 0;
        while position < cluster.len() {
            let short = cluster[position];
            position += 1;
            if !VALUE_SHORT.contains(&short) {
                parsed.push(Arg {
                    words: vec![format!("-{short}")],
                    flag: Flag::Other,
                });
                continue;
            }
            let rest: String = cluster[position..].iter().collect();
            let name = short.to_string();
            if !rest.is_empty() {
                let value = rest.strip_prefix('=').unwrap_or(&rest).to_string();
                let words = if position == 1 {
                    vec![word.clone()]
                } else {
                    vec![format!("-{short}{rest}")]
                };
                parsed.push(Arg {
                    words,
                    flag: classify(&name, value),
                });
            } else if index < args.len() {
                let value = args[index].clone();
                index += 1;
                parsed.push(Arg {
                    words: vec![format!("-{short}"), value.clone()],
                    flag: classify(&name, value),
                });
            } else {
                parsed.push(Arg {
                    words: vec![format!("-{short}")],
                    flag: Flag::Other,
                });
            }
            break;
        }
    }
    parsed
}

/// The words of parsed arguments, in order.
pub fn render(args: &[Arg]) -> Vec<String> {
    args.iter().flat_map(|arg| arg.words.clone()).collect()
}

/// Whether a listener address is a TCP one, as dockerd reads it: `tcp://` in any case, or an
/// address without a scheme (dockerd defaults those to tcp).
pub fn is_tcp(address: &str) -> bool {
    let address = address.trim();
    match address.split_once("://") {
        Some((scheme, _)) => scheme.eq_ignore_ascii_case("tcp"),
        None => !address.is_empty(),
    }
}

/// `-H` values in order.
pub fn hosts(args: &[Arg]) -> Vec<String> {
    args.iter()
        .filter_map(|arg| match &arg.flag {
            Flag::Host(value) => Some(value.clone()),
            _ => None,
        })
        .collect()
}

pub fn insecure_registries(args: &[Arg]) -> Vec<String> {
    args.iter()
        .filter_map(|arg| match &arg.flag {
            Flag::InsecureRegistry(value) => Some(value.clone()),
            _ => None,
        })
        .collect()
}

/// The value of the last flag `pick` matches.
pub fn last_value(args: &[Arg], pick: impl Fn(&Flag) -> Option<&String>) -> Option<String> {
    args.iter().rev().find_map(|arg| pick(&arg.flag).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn every_host_spelling() {
        let args = parse(&words(
            "-H tcp://a:1 -H=tcp://b:2 -Htcp://c:3 --host tcp://d:4 --host=TCP://e:5 -DH tcp://f:6 -H fd:// --host=unix:///var/run/docker.sock",
        ));
        let hosts = hosts(&args);
        assert_eq!(
            hosts,
            [
                "tcp://a:1",
                "tcp://b:2",
                "tcp://c:3",
                "tcp://d:4",
                "TCP://e:5",
                "tcp://f:6",
                "fd://",
                "unix:///var/run/docker.sock"
            ]
        );
        let tcp: Vec<bool> = hosts.iter().map(|host| is_tcp(host)).collect();
        assert_eq!(tcp, [true, true, true, true, true, true, false, false]);
        assert!(is_tcp("0.0.0.0:2375"));
        assert!(!is_tcp("npipe://"));
    }

    #[test]
    fn values_are_not_taken_as_flags_and_render_keeps_order() {
        let args = parse(&words(
            "--debug --containerd /run/c.sock --tlsverify --tlscacert /ca.pem --insecure-registry=r:5000 --log-level info -H fd://",
        ));
        assert_eq!(insecure_registries(&args), ["r:5000"]);
        assert_eq!(
            last_value(&args, |flag| match flag {
                Flag::TlsCaCert(value) => Some(value),
                _ => None,
            }),
            Some("/ca.pem".to_string())
        );
        assert_eq!(hosts(&args), ["fd://"]);
        assert_eq!(
            render(&args).join(" "),
            "--debug --containerd /run/c.sock --tlsverify --tlscacert /ca.pem --insecure-registry=r:5000 --log-level info -H fd://"
        );
    }
}
