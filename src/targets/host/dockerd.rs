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
    /// The indices of the words it was parsed from.
    pub span: std::ops::Range<usize>,
    /// For a flag of a cluster of short flags (`-DH tcp://…`): its part of the cluster word
    /// (`D`, `H`, `Htcp://…`).
    pub cluster: Option<String>,
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
        let at = index - 1;
        let single = |flag: Flag| Arg {
            words: vec![word.clone()],
            flag,
            span: at..at + 1,
            cluster: None,
        };
        if only_positional || word == "-" || !word.starts_with('-') {
            parsed.push(single(Flag::Other));
            continue;
        }
        if word == "--" {
            only_positional = true;
            parsed.push(single(Flag::Other));
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            if let Some((name, value)) = long.split_once('=') {
                parsed.push(single(classify(name, value.to_string())));
            } else if BOOL_LONG.contains(&long) || index >= args.len() {
                parsed.push(single(Flag::Other));
            } else {
                let value = args[index].clone();
                index += 1;
                parsed.push(Arg {
                    words: vec![word.clone(), value.clone()],
                    flag: classify(long, value),
                    span: at..at + 2,
                    cluster: None,
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
            let clustered = cluster.len() > 1;
            if !VALUE_SHORT.contains(&short) {
                parsed.push(Arg {
                    words: vec![format!("-{short}")],
                    flag: Flag::Other,
                    span: at..at + 1,
                    cluster: clustered.then(|| short.to_string()),
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
                    span: at..at + 1,
                    cluster: clustered.then(|| format!("{short}{rest}")),
                });
            } else if index < args.len() {
                let value = args[index].clone();
                index += 1;
                parsed.push(Arg {
                    words: vec![format!("-{short}"), value.clone()],
                    flag: classify(&name, value),
                    span: at..at + 2,
                    cluster: clustered.then(|| short.to_string()),
                });
            } else {
                parsed.push(Arg {
                    words: vec![format!("-{short}")],
                    flag: Flag::Other,
                    span: at..at + 1,
                    cluster: clustered.then(|| short.to_string()),
                });
            }
            break;
        }
    }
    parsed
}

/// What becomes of each of `count` words when the arguments `remove` picks are taken out:
/// `None` to drop the word, else its new text (a cluster of short flags loses only its removed
/// flags: `-DH tcp://…` becomes `-D`).
pub fn rewrite_words(
    args: &[Arg],
    count: usize,
    remove: impl Fn(&Arg) -> bool,
) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = vec![None; count];
    let mut clusters: Vec<Option<String>> = vec![None; count];
    for arg in args {
        let removed = remove(arg);
        for (offset, index) in arg.span.clone().enumerate() {
            if index >= count {
                continue;
            }
            match (&arg.cluster, offset) {
                (Some(part), 0) => {
                    let kept = clusters[index].get_or_insert_with(|| "-".to_string());
                    if !removed {
                        kept.push_str(part);
                    }
                }
                _ if !removed => out[index] = Some(arg.words[offset].clone()),
                _ => {}
            }
        }
    }
    for (index, cluster) in clusters.into_iter().enumerate() {
        if let Some(text) = cluster {
            out[index] = (text != "-").then_some(text);
        }
    }
    out
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

    fn render(args: &[Arg]) -> Vec<String> {
        args.iter().flat_map(|arg| arg.words.clone()).collect()
    }

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
    fn removing_flags_keeps_the_rest_of_a_cluster() {
        let words = words("-DH tcp://a:1 --dns 8.8.8.8 -H fd:// --host=tcp://b:2 -Htcp://c:3");
        let args = parse(&words);
        let out = rewrite_words(
            &args,
            words.len(),
            |arg| matches!(&arg.flag, Flag::Host(host) if is_tcp(host)),
        );
        assert_eq!(
            out,
            [
                Some("-D".to_string()),
                None,
                Some("--dns".to_string()),
                Some("8.8.8.8".to_string()),
                Some("-H".to_string()),
                Some("fd://".to_string()),
                None,
                None
            ]
        );
        let all = rewrite_words(&args, words.len(), |_| false);
        let kept: Vec<String> = all.into_iter().flatten().collect();
        assert_eq!(kept, words);
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
