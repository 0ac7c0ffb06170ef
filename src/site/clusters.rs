//! The inventory: `[[clusters]]` in the site file, or in the file `--inventory` names.
//!
//! ```toml
//! [[clusters]]
//! name = "east"                          # output prefix, snapshot folder, file names
//! ucp_url = "https://ucp-east.example.mil"
//! dtr_url = "https://dtr-east.example.mil"
//! username = "admin"
//! password_file = "$CREDENTIALS_DIRECTORY/east"   # or password_env = "EAST_PASSWORD"; else the keyring
//! ca_cert = "/etc/pki/dod-bundle.pem"
//! tags = ["prod"]
//! ```
//!
//! Credentials are named, never written here: a password in the file is a load error.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::Location;

/// The keys of a `[[clusters]]` entry.
const CLUSTER_KEYS: &[&str] = &[
    "name",
    "ucp_url",
    "dtr_url",
    "username",
    "password_env",
    "password_file",
    "ca_cert",
    "client_bundle",
    "tags",
];

/// Where a cluster's password is. Never the password itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordRef {
    /// An environment variable of the run (`password_env`).
    Env(String),
    /// A file holding it (`password_file`), e.g. a systemd credential
    /// (`$CREDENTIALS_DIRECTORY/east`); `$CREDENTIALS_DIRECTORY` is expanded when it is read.
    File(PathBuf),
    /// The keyring entry `stigfix login --cluster NAME` wrote for its URL and account.
    Keyring,
}

/// One cluster of the inventory.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub ucp_url: Option<String>,
    pub dtr_url: Option<String>,
    pub username: Option<String>,
    pub password: PasswordRef,
    pub ca_cert: Option<PathBuf>,
    /// The MKE client bundle its workload target reads pods with (`client_bundle`).
    pub client_bundle: Option<PathBuf>,
    pub tags: Vec<String>,
    /// Where the entry starts.
    pub location: Location,
    /// Where each key's value is (`file:line:col`), for messages about it.
    pub value_locations: BTreeMap<String, Location>,
}

/// The variable a `password_file` may start with: systemd's folder of the unit's credentials.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

impl Cluster {
    /// The credential id a `password_file` of `$CREDENTIALS_DIRECTORY/ID` names, if it does.
    pub fn credential_id(&self) -> Option<&str> {
        let PasswordRef::File(path) = &self.password else {
            return None;
        };
        let text = path.to_str()?;
        let rest = text
            .strip_prefix("${CREDENTIALS_DIRECTORY}/")
            .or_else(|| text.strip_prefix("$CREDENTIALS_DIRECTORY/"))?;
        (!rest.is_empty() && !rest.contains('/')).then_some(rest)
    }

    /// Whether `selector` (a name, a glob of names, or `tag:TAG`) picks this cluster.
    pub fn matches(&self, selector: &str) -> bool {
        match selector.strip_prefix("tag:") {
            Some(tag) => self.tags.iter().any(|own| own == tag),
            None => glob_match(selector, &self.name),
        }
    }
}

/// `*` (any run of characters), `?` (one character) and `[abc]` / `[a-z]` (one of), as a shell
/// matches file names; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    glob_at(&pattern, &text)
}

fn glob_at(pattern: &[char], text: &[char]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some('*') => (0..=text.len()).any(|skip| glob_at(&pattern[1..], &text[skip..])),
        Some('?') => !text.is_empty() && glob_at(&pattern[1..], &text[1..]),
        Some('[') => {
            let Some(close) = pattern.iter().skip(1).position(|&c| c == ']') else {
                return text.first() == Some(&'[') && glob_at(&pattern[1..], &text[1..]);
            };
            let class = &pattern[1..=close];
            let Some(&first) = text.first() else {
                return false;
            };
            let mut hit = false;
            let mut index = 0;
            while index < class.len() {
                if index + 2 < class.len() && class[index + 1] == '-' {
                    hit |= class[index] <= first && first <= class[index + 2];
                    index += 3;
                } else {
                    hit |= class[index] == first;
                    index += 1;
                }
            }
            hit && glob_at(&pattern[close + 2..], &text[1..])
        }
        Some(&literal) => text.first() == Some(&literal) && glob_at(&pattern[1..], &text[1..]),
    }
}

/// Whether a selector is a glob (it has `*`, `?` or `[`).
pub fn is_glob(selector: &str) -> bool {
    selector.contains(['*', '?', '['])
}

/// Parse `[[clusters]]` (the item under the `clusters` key). Problems go to `problems`, one line
/// each with `file:line:col`.
pub fn parse(
    item: &toml_edit::Item,
    base: &Path,
    location: &dyn Fn(Option<Range<usize>>) -> Location,
    problems: &mut Vec<String>,
) -> Vec<Cluster> {
    let Some(tables) = item.as_array_of_tables() else {
        problems.push(format!(
            "{}: `clusters` must be an array of tables ([[clusters]])",
            location(item.span())
        ));
        return Vec::new();
    };
    let mut clusters: Vec<Cluster> = Vec::new();
    for table in tables.iter() {
        let Some(cluster) = cluster(table, base, location, problems) else {
            continue;
        };
        match clusters.iter().find(|other| other.name == cluster.name) {
            Some(first) => problems.push(format!(
                "{}: a second cluster named `{}` (the first is at {}): names must be unique",
                cluster.location, cluster.name, first.location
            )),
            None => clusters.push(cluster),
        }
    }
    clusters
}

fn cluster(
    table: &toml_edit::Table,
    base: &Path,
    location: &dyn Fn(Option<Range<usize>>) -> Location,
    problems: &mut Vec<String>,
) -> Option<Cluster> {
    let here = location(table.span());
    let before = problems.len();
    let mut values = BTreeMap::new();
    for (key, item) in table.iter() {
        let key_location = location(table.key(key).and_then(toml_edit::Key::span));
        if CLUSTER_KEYS.contains(&key) {
            values.insert(key.to_string(), location(item.span()));
        } else if crate::secrets::is_secret_key(key) {
            // The value is never echoed: it is a secret in a file that should not hold one.
            problems.push(format!(
                "{key_location}: `{key}`: a password is never written in the inventory; name where it is: password_env = \"VARIABLE\", password_file = \"/path\" (e.g. \"$CREDENTIALS_DIRECTORY/NAME\" with systemd's LoadCredential=), or neither for the keyring entry of `stigfix login --cluster NAME`"
            ));
        } else {
            problems.push(format!(
                "{key_location}: unknown key `{key}` in a [[clusters]] entry (expected one of: {})",
                CLUSTER_KEYS.join(", ")
            ));
        }
    }
    let text = |key: &str, problems: &mut Vec<String>| -> Option<String> {
        let item = table.get(key)?;
        match item.as_str() {
            Some(text) => Some(text.to_string()),
            None => {
                problems.push(format!(
                    "{}: `{key}` of a cluster must be a string",
                    location(item.span())
                ));
                None
            }
        }
    };
    let name = text("name", problems);
    let name = match name {
        None if !table.contains_key("name") => {
            problems.push(format!("{here}: a [[clusters]] entry needs a `name`"));
            None
        }
        None => None,
        Some(name) if !valid_name(&name) => {
            problems.push(format!(
                "{}: cluster name `{name}` may hold only letters, digits, `.`, `_` and `-`, start with a letter or digit, and be at most 64 characters (it names folders and files)",
                values["name"]
            ));
            None
        }
        Some(name) => Some(name),
    };
    let ucp_url = text("ucp_url", problems);
    let dtr_url = text("dtr_url", problems);
    let username = text("username", problems);
    let ca_cert = text("ca_cert", problems).map(|path| base.join(path));
    let client_bundle = text("client_bundle", problems).map(|path| base.join(path));
    let password_env = text("password_env", problems);
    let password_file = text("password_file", problems);
    let password = match (password_env, password_file) {
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{}: a cluster takes its password from `password_env` or `password_file`, not both",
                values["password_file"]
            ));
            PasswordRef::Keyring
        }
        (Some(variable), None) if !valid_variable(&variable) => {
            problems.push(format!(
                "{}: `password_env` names an environment variable (letters, digits, `_`), not `{variable}`",
                values["password_env"]
            ));
            PasswordRef::Keyring
        }
        (Some(variable), None) => PasswordRef::Env(variable),
        (None, Some(path)) if path.starts_with('$') => PasswordRef::File(PathBuf::from(path)),
        (None, Some(path)) => PasswordRef::File(base.join(path)),
        (None, None) => PasswordRef::Keyring,
    };
    if let PasswordRef::File(path) = &password {
        let text = path.to_string_lossy();
        if text.starts_with('$')
            && !text.starts_with("$CREDENTIALS_DIRECTORY/")
            && !text.starts_with("${CREDENTIALS_DIRECTORY}/")
        {
            problems.push(format!(
                "{}: `password_file` may start with $CREDENTIALS_DIRECTORY/ and no other variable",
                values["password_file"]
            ));
        }
    }
    let tags = match table.get("tags") {
        None => Vec::new(),
        Some(item) => match item.as_array() {
            Some(array)
                if array
                    .iter()
                    .all(|tag| tag.as_str().is_some_and(|tag| !tag.is_empty())) =>
            {
                array
                    .iter()
                    .filter_map(|tag| tag.as_str().map(str::to_string))
                    .collect()
            }
            _ => {
                problems.push(format!(
                    "{}: `tags` of a cluster must be an array of non-empty strings",
                    location(item.span())
                ));
                Vec::new()
            }
        },
    };
    if ucp_url.is_none() && dtr_url.is_none() && problems.len() == before {
        problems.push(format!(
            "{here}: cluster `{}` names no endpoint: give `ucp_url` and/or `dtr_url`",
            name.as_deref().unwrap_or_default()
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(Cluster {
        name: name?,
        ucp_url,
        dtr_url,
        username,
        password,
        ca_cert,
        client_bundle,
        tags,
        location: here,
        value_locations: values,
    })
}

fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_variable(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::SiteFile;

    const INVENTORY: &str = r#"username = "admin"

[[clusters]]
name = "east"
ucp_url = "https://ucp-east.example.mil"
dtr_url = "https://dtr-east.example.mil"
password_file = "$CREDENTIALS_DIRECTORY/east"
ca_cert = "pki/dod.pem"
client_bundle = "bundles/east.zip"
tags = ["prod", "us"]

[[clusters]]
name = "west-2"
ucp_url = "https://ucp-west.example.mil"
username = "ops"
password_env = "WEST_PASSWORD"
tags = ["prod"]

[[clusters]]
name = "lab"
dtr_url = "https://dtr-lab.example.mil"
"#;

    fn load(text: &str) -> Result<SiteFile, String> {
        SiteFile::parse(text, Path::new("/etc/stigfix/site.toml"))
            .map_err(|error| error.message().to_string())
    }

    #[test]
    fn an_inventory_parses_with_its_references() {
        let site = load(INVENTORY).unwrap();
        let names: Vec<&str> = site.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["east", "west-2", "lab"]);
        let east = &site.clusters[0];
        assert_eq!(
            east.password,
            PasswordRef::File("$CREDENTIALS_DIRECTORY/east".into())
        );
        assert_eq!(east.credential_id(), Some("east"));
        assert_eq!(
            east.ca_cert,
            Some(PathBuf::from("/etc/stigfix/pki/dod.pem"))
        );
        assert_eq!(
            east.client_bundle,
            Some(PathBuf::from("/etc/stigfix/bundles/east.zip"))
        );
        assert_eq!(site.clusters[1].client_bundle, None);
        assert_eq!(east.location.to_string(), "/etc/stigfix/site.toml:3:1");
        assert_eq!(
            site.clusters[1].password,
            PasswordRef::Env("WEST_PASSWORD".into())
        );
        assert_eq!(site.clusters[1].username.as_deref(), Some("ops"));
        assert_eq!(site.clusters[2].password, PasswordRef::Keyring);
        assert_eq!(site.clusters[2].credential_id(), None);
    }

    #[test]
    fn an_inline_password_is_a_load_error_that_never_echoes_it() {
        let text = "[[clusters]]\nname = \"east\"\nucp_url = \"https://u\"\npassword = \"Hunter2-secret\"\n";
        let message = load(text).unwrap_err();
        assert!(
            message.starts_with("/etc/stigfix/site.toml:4:1: `password`: a password is never written in the inventory"),
            "{message}"
        );
        assert!(!message.contains("Hunter2-secret"), "{message}");
        let message =
            load("[[clusters]]\nname = \"e\"\nucp_url = \"https://u\"\nucp_password = \"x\"\n")
                .unwrap_err();
        assert!(message.contains(":4:1: `ucp_password`"), "{message}");
    }

    #[test]
    fn a_client_bundle_at_the_top_of_an_inventory_is_refused() {
        // One bundle names one cluster's Kubernetes API: it cannot be every cluster's.
        let message = load(&format!("client_bundle = \"bundle.zip\"\n{INVENTORY}")).unwrap_err();
        assert!(
            message
                .contains("site.toml:1:17: `client_bundle` at the top of a file with [[clusters]]"),
            "{message}"
        );
    }

    #[test]
    fn bad_entries_name_file_line_and_column() {
        for (text, expected) in [
            (
                "[[clusters]]\nucp_url = \"https://u\"\n",
                "site.toml:1:1: a [[clusters]] entry needs a `name`",
            ),
            (
                "[[clusters]]\nname = \"a/b\"\nucp_url = \"https://u\"\n",
                "site.toml:2:8: cluster name `a/b` may hold only",
            ),
            (
                "[[clusters]]\nname = \"a\"\n",
                "site.toml:1:1: cluster `a` names no endpoint",
            ),
            (
                "[[clusters]]\nname = \"a\"\nucp_url = \"https://u\"\nurl = \"x\"\n",
                "site.toml:4:1: unknown key `url` in a [[clusters]] entry",
            ),
            (
                "[[clusters]]\nname = \"a\"\nucp_url = \"https://u\"\npassword_env = \"X\"\npassword_file = \"/f\"\n",
                "site.toml:5:17: a cluster takes its password from `password_env` or `password_file`, not both",
            ),
            (
                "[[clusters]]\nname = \"a\"\nucp_url = \"https://u\"\npassword_env = \"A-B\"\n",
                "site.toml:4:16: `password_env` names an environment variable",
            ),
            (
                "[[clusters]]\nname = \"a\"\nucp_url = \"https://u\"\npassword_file = \"$HOME/pw\"\n",
                "site.toml:4:17: `password_file` may start with $CREDENTIALS_DIRECTORY/",
            ),
            (
                "[[clusters]]\nname = \"a\"\nucp_url = \"https://u\"\ntags = \"prod\"\n",
                "site.toml:4:8: `tags` of a cluster must be an array",
            ),
            (
                "[[clusters]]\nname = \"a\"\nucp_url = \"https://u\"\n[[clusters]]\nname = \"a\"\nucp_url = \"https://v\"\n",
                "site.toml:4:1: a second cluster named `a` (the first is at site.toml:1:1)",
            ),
            (
                "clusters = 3\n",
                "site.toml:1:12: `clusters` must be an array of tables",
            ),
        ] {
            let message = SiteFile::parse(text, Path::new("site.toml"))
                .unwrap_err()
                .message()
                .to_string();
            assert!(message.starts_with(expected), "{text}\n{message}");
        }
    }

    #[test]
    fn the_example_inventory_loads() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/inventory.toml"
        ));
        let site = SiteFile::load(path).unwrap();
        let names: Vec<&str> = site.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["prod-east", "prod-west", "lab"]);
        assert_eq!(site.clusters[0].credential_id(), Some("prod-east"));
        assert_eq!(
            site.clusters[2].password,
            PasswordRef::Env("LAB_PASSWORD".into())
        );
    }

    #[test]
    fn selectors_match_names_globs_and_tags() {
        let site = load(INVENTORY).unwrap();
        let picked = |selector: &str| -> Vec<&str> {
            site.clusters
                .iter()
                .filter(|cluster| cluster.matches(selector))
                .map(|cluster| cluster.name.as_str())
                .collect()
        };
        assert_eq!(picked("east"), ["east"]);
        assert_eq!(picked("*"), ["east", "west-2", "lab"]);
        assert_eq!(picked("we*"), ["west-2"]);
        assert_eq!(picked("?ast"), ["east"]);
        assert_eq!(picked("[el]*"), ["east", "lab"]);
        assert_eq!(picked("west-[0-9]"), ["west-2"]);
        assert_eq!(picked("tag:prod"), ["east", "west-2"]);
        assert_eq!(picked("tag:us"), ["east"]);
        assert!(picked("tag:nope").is_empty());
        assert!(picked("eas").is_empty());
        assert!(is_glob("we*") && !is_glob("west-2"));
    }
}
