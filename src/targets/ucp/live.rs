//! The config-toml document as read: exact bytes (what a snapshot saves and a rollback puts
//! back) and parsed values (what rules are assessed against).

use std::collections::BTreeMap;

use super::{toml_doc, version};
use crate::error::Result;
use crate::keypath::KeyPath;
use crate::targets::{Document, Edit, LiveState, Product, Saved, Written};
use crate::values::{fingerprint, values_equal};

/// The file a UCP snapshot saves: the document's exact bytes.
const SAVED_FILE: &str = "ucp-config.toml";

#[derive(Clone, Debug)]
pub struct UcpLive {
    pub text: String,
    pub values: toml::Table,
    pub fingerprint: String,
    /// `GET https://…/api/ucp/config-toml`: where every value was read.
    pub source: String,
    pub product: Option<Product>,
    /// Settings this server does not have, with why stigfix knows: they are never written.
    pub missing: BTreeMap<KeyPath, String>,
    /// What the write that produced this state taught (settings the server dropped).
    pub learned: Vec<String>,
}

impl UcpLive {
    pub fn parse(text: String, source: String) -> Result<UcpLive> {
        let values = toml_doc::parse_values(&text, &format!("the config from {source}"))?;
        Ok(UcpLive {
            fingerprint: fingerprint(text.as_bytes()),
            text,
            values,
            source,
            product: None,
            missing: BTreeMap::new(),
            learned: Vec::new(),
        })
    }

    /// Why this server has no `path`: known from its version's configuration reference, or
    /// learned when it dropped the setting on a write.
    pub fn missing_reason(&self, path: &KeyPath) -> Option<String> {
        if let Some(reason) = self.missing.get(path) {
            return Some(reason.clone());
        }
        version::documented_missing(self.product.as_ref()?, path)
    }
}

impl UcpLive {
    /// The document that restoring `paths` from the saved `original` writes: the exact
    /// original when nothing else changed since, else this document with those keys set back.
    pub fn restored_document(&self, original: &str, paths: &[KeyPath]) -> Result<String> {
        let expected = toml_doc::parse_values(original, "the snapshot's config")?;
        if toml_doc::with_saved_paths(&self.values, &expected, paths) == expected {
            Ok(original.to_string())
        } else {
            toml_doc::restore_paths(&self.text, &expected, paths)
        }
    }
}

impl UcpLive {
    /// The paths of `scope` that do not hold the `expected` (saved) value after a restore. A
    /// path the saved document did not have is not checked: the server fills in its default
    /// (a table the original lacked comes back with default values, which is the original).
    pub fn not_restored(&self, expected: &toml::Table, scope: &[KeyPath]) -> Vec<String> {
        scope
            .iter()
            .filter_map(|path| {
                let want = path.lookup(expected)?;
                let have = self.lookup(path);
                (!have.as_ref().is_some_and(|have| values_equal(have, want)))
                    .then(|| path.to_string())
            })
            .collect()
    }
}

impl Document for UcpLive {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        path.lookup(&self.values).cloned()
    }

    fn writable(&self, path: &KeyPath) -> std::result::Result<(), String> {
        match self.missing_reason(path) {
            Some(reason) => Err(format!(
                "{reason}; check the rule by hand as its check text says (`stigfix playbook show` prints it)"
            )),
            None => Ok(()),
        }
    }

    fn explain(&self, path: &KeyPath) -> Option<String> {
        self.missing_reason(path)
            .map(|_| "the server has no such setting".to_string())
    }

    fn source(&self, _path: &KeyPath) -> Option<String> {
        Some(self.source.clone())
    }
}

impl LiveState for UcpLive {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn product(&self) -> Option<Product> {
        self.product.clone()
    }

    fn learned(&self) -> Vec<String> {
        self.learned.clone()
    }

    fn saved(&self, _edits: &[Edit]) -> Result<Saved> {
        Ok(Saved {
            file: SAVED_FILE.into(),
            bytes: self.text.clone().into_bytes(),
        })
    }

    fn diff(&self, edits: &[Edit]) -> Result<String> {
        let planned = toml_doc::apply_edits(&self.text, edits)?;
        Ok(toml_doc::redacted_diff(&self.text, &planned))
    }

    fn diff_to_saved(&self, saved: &Saved, scope: &[Written]) -> String {
        let paths: Vec<KeyPath> = scope.iter().map(|written| written.path.clone()).collect();
        match self.restored_document(&String::from_utf8_lossy(&saved.bytes), &paths) {
            Ok(document) => toml_doc::redacted_diff(&self.text, &document),
            Err(error) => format!("{}\n", error.message()),
        }
    }

    fn edits_to_saved(&self, saved: &Saved) -> Vec<Edit> {
        let Ok(target) = toml_doc::parse_values(&String::from_utf8_lossy(&saved.bytes), "snapshot")
        else {
            return Vec::new();
        };
        let mut edits = Vec::new();
        collect_differences(&self.values, &target, &mut Vec::new(), &mut edits);
        edits
    }
}

fn collect_differences(
    live: &toml::Table,
    target: &toml::Table,
    prefix: &mut Vec<String>,
    edits: &mut Vec<Edit>,
) {
    for (key, wanted) in target {
        prefix.push(key.clone());
        match (live.get(key), wanted) {
            (Some(toml::Value::Table(now)), toml::Value::Table(wanted)) => {
                collect_differences(now, wanted, prefix, edits);
            }
            (now, wanted) if now != Some(wanted) => edits.push(Edit {
                path: KeyPath::from_segments(prefix.clone()),
                before: now.cloned(),
                after: wanted.clone(),
                rules: Vec::new(),
            }),
            _ => {}
        }
        prefix.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_the_original_lacked_may_come_back_with_the_servers_defaults() {
        let original: toml::Table = toml::from_str("[auth]\nbackend = \"managed\"\n").unwrap();
        // After the restore the server renders [trust_configuration] with its defaults.
        let after = UcpLive::parse(
            "[auth]\nbackend = \"managed\"\n[trust_configuration]\nrequire_content_trust = false\n"
                .into(),
            "GET https://ucp/api/ucp/config-toml".into(),
        )
        .unwrap();
        let scope = [
            KeyPath::parse("trust_configuration.require_content_trust").unwrap(),
            KeyPath::parse("auth.backend").unwrap(),
        ];
        assert!(after.not_restored(&original, &scope).is_empty());
        let wrong = UcpLive::parse("[auth]\nbackend = \"ldap\"\n".into(), "GET".into()).unwrap();
        assert_eq!(wrong.not_restored(&original, &scope), ["auth.backend"]);
    }
}
