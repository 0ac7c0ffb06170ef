//! Ctrl-C (SIGINT) and SIGTERM during a change: caught from the snapshot on, so the process is
//! never cut off half-way. The signal sets a [`Stop`]: targets start no new write, finish the
//! ones sent, and the transaction restores everything that may have changed.

use tokio::signal::unix::{SignalKind, signal};

use crate::error::{Error, Result};
use crate::targets::Stop;

/// Caught signals for as long as it lives.
pub struct Signals {
    stop: Stop,
    watcher: tokio::task::JoinHandle<()>,
}

impl Signals {
    /// Install the handlers now (not when first awaited), so no signal is lost.
    pub fn catch() -> Result<Signals> {
        let cannot = |error: std::io::Error| Error::new(format!("cannot catch signals: {error}"));
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(cannot)?;
        let stop = Stop::new();
        let seen = stop.clone();
        let watcher = tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = interrupt.recv() => if received.is_none() { break },
                    received = terminate.recv() => if received.is_none() { break },
                }
                seen.set();
            }
        });
        Ok(Signals { stop, watcher })
    }

    pub fn stop(&self) -> &Stop {
        &self.stop
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}
