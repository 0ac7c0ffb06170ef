//! What every target's live state offers the pure assessment (`crate::assess`): values at key
//! paths, the expansion of wildcard paths, and whether a path can be written.

use crate::keypath::KeyPath;

/// One setting to change on a target.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    /// A concrete path (never a wildcard).
    pub path: KeyPath,
    pub before: Option<toml::Value>,
    pub after: toml::Value,
    /// STIG IDs of the rules that want this change.
    pub rules: Vec<String>,
}

/// Saved state of a target, enough to restore it exactly.
#[derive(Clone, Debug)]
pub struct Saved {
    /// File name inside the snapshot folder.
    pub file: String,
    pub bytes: Vec<u8>,
}

/// A target's live state seen as a document of values at key paths.
pub trait Document {
    /// The live value at a concrete path, `None` when it is not set.
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value>;

    /// The concrete paths a playbook path stands for. A path with a `*` segment stands for
    /// every matching item (every repository, every registry certificate); a path of an object
    /// that does not exist and need not exist (a file the STIG only checks when present) stands
    /// for none. The default: the path itself.
    fn expand(&self, pattern: &KeyPath) -> Vec<KeyPath> {
        vec![pattern.clone()]
    }

    /// Whether `apply` can write this path; `Err` says why not and what to do instead.
    fn writable(&self, _path: &KeyPath) -> Result<(), String> {
        Ok(())
    }

    /// Why a path has no value, when there is more to say than "not set".
    fn explain(&self, _path: &KeyPath) -> Option<String> {
        None
    }
}

impl Document for toml::Table {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        path.lookup(self).cloned()
    }
}
