//! One run per target at a time: an advisory file lock per endpoint or host root.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::plan::fingerprint;

/// Held for the lifetime of a run; the kernel releases it when the process ends.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

/// Take the lock of `target` (a label such as `ucp https://…`), failing at once if held.
pub fn acquire(dir: &Path, target: &str) -> Result<Lock> {
    // 0700 like the snapshot folder the locks live in (the first run creates both).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .with_path("create lock folder", dir)?;
    let name = fingerprint(target.as_bytes()).replace("sha256:", "");
    let path = dir.join(format!("{}.lock", &name[..16]));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_path("open lock file", &path)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).with_path("write lock file", &path)?;
            file.rewind().with_path("write lock file", &path)?;
            writeln!(file, "pid {} {target}", std::process::id())
                .with_path("write lock file", &path)?;
            Ok(Lock { _file: file, path })
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(Error::new(format!(
                "another stigfix run is working on {target} ({}); nothing was changed",
                holder
                    .trim()
                    .split(' ')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
            .with_hint(format!(
                "wait for it to finish (lock file {})",
                path.display()
            )))
        }
        Err(std::fs::TryLockError::Error(error)) => Err(Error::io("lock", &path, &error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_target_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "ucp https://a").unwrap();
        let error = acquire(dir.path(), "ucp https://a").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("another stigfix run is working on ucp https://a (pid "),
            "{}",
            error.message()
        );
        let _other = acquire(dir.path(), "ucp https://b").unwrap();
        drop(first);
        acquire(dir.path(), "ucp https://a").unwrap();
    }
}
