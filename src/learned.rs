//! What stigfix learned about a server that its documentation did not say: settings a server
//! version does not have (it dropped them on a verified write). Kept beside the snapshots in
//! `learned.json` (owner-only, like them), keyed by target and product version, so the next plan
//! does not propose the same doomed write — and forgets it when the server is upgraded.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::keypath::KeyPath;
use crate::targets::{Product, TargetSpec};

const FILE: &str = "learned.json";

/// A setting a server version does not have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    pub path: KeyPath,
    /// When and how it was learned: `dropped on the write of snapshot …`.
    pub how: String,
    pub learned_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Facts {
    /// `<target id> <product>` → settings it does not have.
    #[serde(default)]
    missing: BTreeMap<String, Vec<Missing>>,
}

/// The learned facts of one snapshot folder.
#[derive(Debug)]
pub struct Learned {
    path: PathBuf,
    facts: Mutex<Facts>,
}

fn key(spec: &TargetSpec, product: &Product) -> String {
    format!("{} {product}", spec.id())
}

impl Learned {
    /// Read `learned.json` in `dir` (none yet is no fact yet). A file that cannot be read is an
    /// error naming it: silently forgetting would propose the doomed writes again.
    pub fn load(dir: &Path) -> Result<Learned> {
        let path = dir.join(FILE);
        let facts = match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|error| {
                Error::new(format!("{} is malformed: {error}", path.display())).with_hint(
                    "remove it to forget what stigfix learned about servers; the next apply learns it again",
                )
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Facts::default(),
            Err(error) => return Err(Error::io("read", &path, &error)),
        };
        Ok(Learned {
            path,
            facts: Mutex::new(facts),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings `product` at `spec` is known not to have.
    pub fn missing(&self, spec: &TargetSpec, product: &Product) -> Vec<Missing> {
        self.lock()
            .missing
            .get(&key(spec, product))
            .cloned()
            .unwrap_or_default()
    }

    /// Record that `product` at `spec` has no `path`, and save (atomically, 0600).
    pub fn record(
        &self,
        spec: &TargetSpec,
        product: &Product,
        path: &KeyPath,
        how: &str,
        now: &str,
    ) -> Result<()> {
        let mut facts = self.lock();
        let list = facts.missing.entry(key(spec, product)).or_default();
        if list.iter().any(|missing| &missing.path == path) {
            return Ok(());
        }
        list.push(Missing {
            path: path.clone(),
            how: how.to_string(),
            learned_at: now.to_string(),
        });
        let text = serde_json::to_string_pretty(&*facts).expect("facts serialise") + "\n";
        drop(facts);
        self.save(&text)
    }

    fn save(&self, text: &str) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_path("create folder", dir)?;
        }
        let temporary = self.path.with_extension("json.tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .with_path("write", &temporary)?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_path("write", &temporary)?;
        fs::rename(&temporary, &self.path).with_path("write", &self.path)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_kept_per_target_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let spec = TargetSpec::new(crate::targets::ucp::KIND, "https://ucp");
        let old = Product::new("UCP", Some("3.3.5"));
        let new = Product::new("MKE", Some("3.7.3"));
        let learned = Learned::load(dir.path()).unwrap();
        let path = KeyPath::parse("cluster_config.min_tls_version").unwrap();
        learned
            .record(
                &spec,
                &old,
                &path,
                "dropped on a write",
                "2026-11-22T10:00:00Z",
            )
            .unwrap();
        let again = Learned::load(dir.path()).unwrap();
        assert_eq!(again.missing(&spec, &old)[0].path, path);
        assert!(again.missing(&spec, &new).is_empty(), "an upgrade forgets");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
