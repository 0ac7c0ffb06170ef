//! One run per target at a time: an advisory file lock per target, whatever snapshot folder a
//! run uses and however the target is spelled.
//!
//! Locks live in one folder per user on this machine ([`lock_dir`]). A URL is locked by every
//! address its host resolves to (with its port), so `https://localhost:443` and
//! `https://127.0.0.1` are the same cluster; a host root by its canonical path. The kernel
//! releases a lock when its process ends, however it ends.
//!
//! A run refuses at once when a target's lock is held, unless it was told to wait
//! ([`set_wait`], `--lock-wait SECONDS`): an unattended run then waits, a bounded time, for an
//! interactive one to finish.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::targets::TargetSpec;
use crate::values::fingerprint;

/// Held for the lifetime of a run.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

/// The locks of every target of a change.
#[derive(Debug, Default)]
pub struct Locks(Vec<Lock>);

/// `STIGFIX_LOCK_DIR`, else `/run/stigfix/locks` for root, else
/// `$XDG_RUNTIME_DIR/stigfix/locks`, else `<temp>/stigfix-<uid>/locks`.
pub fn lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STIGFIX_LOCK_DIR") {
        return PathBuf::from(dir);
    }
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap_or_else(
        |_| std::fs::metadata(std::env::temp_dir()).expect("the temp folder exists"),
    ));
    if uid == 0 && Path::new("/run").is_dir() {
        return PathBuf::from("/run/stigfix/locks");
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        return PathBuf::from(runtime).join("stigfix/locks");
    }
    std::env::temp_dir().join(format!("stigfix-{uid}/locks"))
}

/// What a target is locked by: each resolved `address:port` (+ path) of a URL, or the path of a
/// host root.
pub fn keys(spec: &TargetSpec) -> Vec<String> {
    let Ok(url) = reqwest::Url::parse(&spec.endpoint) else {
        return vec![format!("{} {}", spec.kind, spec.endpoint)];
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return vec![format!("{} {}", spec.kind, spec.endpoint)];
    };
    let path = url.path().trim_end_matches('/').to_string();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let mut keys: Vec<String> = match (host.as_str(), port).to_socket_addrs() {
        Ok(addresses) => addresses
            .map(|address| format!("{} {address}{path}", spec.kind))
            .collect(),
        Err(_) => Vec::new(),
    };
    if keys.is_empty() {
        keys.push(format!("{} {host}:{port}{path}", spec.kind));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// How long [`acquire_all`] waits for a held lock, in milliseconds (`--lock-wait`).
static WAIT_MILLIS: AtomicU64 = AtomicU64::new(0);

/// Make every later [`acquire_all`] of this process wait up to `wait` for a held lock.
pub fn set_wait(wait: Duration) {
    WAIT_MILLIS.store(
        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        Ordering::SeqCst,
    );
}

fn wait() -> Duration {
    Duration::from_millis(WAIT_MILLIS.load(Ordering::SeqCst))
}

/// Take the locks of every target, failing (changing nothing) if one is held: at once, or
/// after the wait of [`set_wait`].
pub fn acquire_all<'a>(specs: impl IntoIterator<Item = &'a TargetSpec>) -> Result<Locks> {
    let dir = lock_dir();
    let mut keys: Vec<(String, String)> = specs
        .into_iter()
        .flat_map(|spec| keys(spec).into_iter().map(|key| (key, spec.label())))
        .collect();
    keys.sort();
    keys.dedup_by(|a, b| a.0 == b.0);
    let mut locks = Locks::default();
    for (key, label) in keys {
        locks.0.push(acquire_within(&dir, &key, &label, wait())?);
    }
    Ok(locks)
}

/// Take the lock of `key` (naming `label` in messages), failing at once if held.
pub fn acquire(dir: &Path, key: &str, label: &str) -> Result<Lock> {
    acquire_within(dir, key, label, Duration::ZERO)
}

/// Take the lock of `key`, waiting up to `wait` while another process holds it.
pub fn acquire_within(dir: &Path, key: &str, label: &str, wait: Duration) -> Result<Lock> {
    let deadline = Instant::now() + wait;
    loop {
        match try_acquire(dir, key, label)? {
            Attempt::Taken(lock) => return Ok(lock),
            Attempt::Held { holder, path } => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(held(label, &holder, &path, wait));
                }
                pause((deadline - now).min(Duration::from_millis(200)));
            }
        }
    }
}

/// Sleep without holding up the other tasks of a multi-threaded runtime.
fn pause(duration: Duration) {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(|| std::thread::sleep(duration));
    } else {
        std::thread::sleep(duration);
    }
}

/// The refusal when the lock stayed held.
fn held(label: &str, holder: &str, path: &Path, wait: Duration) -> Error {
    let holder = holder
        .trim()
        .split(' ')
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    if wait.is_zero() {
        Error::new(format!(
            "another stigfix run is working on {label} ({holder}); nothing was changed"
        ))
        .with_hint(format!(
            "wait for it to finish (lock file {})",
            path.display()
        ))
    } else {
        Error::new(format!(
            "another stigfix run is still working on {label} ({holder}) after waiting {} s for it; nothing was changed",
            wait.as_secs()
        ))
        .with_hint(format!(
            "run again later, or wait longer with --lock-wait SECONDS (lock file {})",
            path.display()
        ))
    }
}

enum Attempt {
    Taken(Lock),
    Held { holder: String, path: PathBuf },
}

fn try_acquire(dir: &Path, key: &str, label: &str) -> Result<Attempt> {
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .with_path("create lock folder", dir)?;
    let name = fingerprint(key.as_bytes()).replace("sha256:", "");
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
            writeln!(file, "pid {} {label}", std::process::id())
                .with_path("write lock file", &path)?;
            Ok(Attempt::Taken(Lock { _file: file, path }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Ok(Attempt::Held { holder, path })
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
        let first = acquire(dir.path(), "ucp 127.0.0.1:1", "ucp https://a").unwrap();
        let error = acquire(dir.path(), "ucp 127.0.0.1:1", "ucp https://a").unwrap_err();
        assert!(
            error
                .message()
                .starts_with("another stigfix run is working on ucp https://a (pid "),
            "{}",
            error.message()
        );
        let _other = acquire(dir.path(), "ucp 127.0.0.1:2", "ucp https://b").unwrap();
        drop(first);
        acquire(dir.path(), "ucp 127.0.0.1:1", "ucp https://a").unwrap();
    }

    #[test]
    fn a_bounded_wait_takes_a_lock_released_meanwhile_and_gives_up_on_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "ucp 127.0.0.1:3", "ucp https://c").unwrap();
        let error = acquire_within(
            dir.path(),
            "ucp 127.0.0.1:3",
            "ucp https://c",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(
            error
                .message()
                .starts_with("another stigfix run is still working on ucp https://c (pid "),
            "{}",
            error.message()
        );
        assert!(
            error
                .message()
                .ends_with("after waiting 0 s for it; nothing was changed"),
            "{}",
            error.message()
        );
        assert!(error.hint().unwrap().contains("--lock-wait"));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            release.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        released.recv().unwrap();
        // The holder lets go while this waits (the wait is far longer than the hold).
        acquire_within(
            dir.path(),
            "ucp 127.0.0.1:3",
            "ucp https://c",
            Duration::from_secs(30),
        )
        .unwrap();
        holder.join().unwrap();
    }

    #[test]
    fn two_spellings_of_one_endpoint_share_a_key() {
        let kind = crate::targets::ucp::KIND;
        let by_name = keys(&TargetSpec::new(kind, "https://localhost:8443"));
        let by_address = keys(&TargetSpec::new(kind, "https://127.0.0.1:8443/"));
        assert!(
            by_name.iter().any(|key| by_address.contains(key)),
            "{by_name:?} {by_address:?}"
        );
        let default_port = keys(&TargetSpec::new(kind, "https://127.0.0.1"));
        assert_eq!(
            default_port,
            keys(&TargetSpec::new(kind, "https://127.0.0.1:443"))
        );
    }
}
