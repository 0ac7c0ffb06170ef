//! Where playbooks come from: the ones shipped in the binary, and files or folders given with
//! `--playbook` or `stigfix playbook validate PATH`.

use std::path::PathBuf;

use super::parse::{ModeBounds, parse_bounded};
use super::{Playbook, parse_playbook};
use crate::error::{Error, IoContext, Result};

/// Playbooks shipped in the binary: (file name, text).
const SHIPPED: &[(&str, &str)] = &[
    (
        "docker-enterprise-2x-v2r2.toml",
        include_str!("../../playbooks/docker-enterprise-2x-v2r2.toml"),
    ),
    (
        "mke-v2r1.toml",
        include_str!("../../playbooks/mke-v2r1.toml"),
    ),
];

/// The shipped playbooks, parsed and validated.
pub fn shipped() -> Result<Vec<Playbook>> {
    let mut playbooks = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in SHIPPED {
        match parse_playbook(text, &format!("(shipped) playbooks/{name}"), None) {
            Ok(playbook) => playbooks.push(playbook),
            Err(error) => problems.push(error.message().to_string()),
        }
    }
    if problems.is_empty() {
        Ok(playbooks)
    } else {
        Err(Error::new(problems.join("\n")))
    }
}

/// Load playbooks from files or folders (`*.toml` inside, in name order).
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<Playbook>> {
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).with_path("read playbook", path)?;
        if metadata.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_path("read playbook folder", path)?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|entry| {
                    entry
                        .extension()
                        .is_some_and(|extension| extension == "toml")
                })
                .collect();
            entries.sort();
            if entries.is_empty() {
                return Err(Error::new(format!(
                    "playbook folder {} holds no .toml files",
                    path.display()
                )));
            }
            files.extend(entries);
        } else {
            files.push(path.clone());
        }
    }
    // A user's playbook may narrow the file modes of the shipped ones, never widen them.
    let bounds = ModeBounds::of(&shipped()?);
    let mut playbooks = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).with_path("read playbook", &file)?;
        match parse_bounded(&text, &file.display().to_string(), Some(&file), &bounds) {
            Ok(playbook) => playbooks.push(playbook),
            Err(error) => problems.push(error.message().to_string()),
        }
    }
    if problems.is_empty() {
        Ok(playbooks)
    } else {
        Err(Error::new(problems.join("\n")).with_hint(
            "the playbook format is documented in playbooks/README.md; `stigfix playbook validate PATH` checks a file",
        ))
    }
}
