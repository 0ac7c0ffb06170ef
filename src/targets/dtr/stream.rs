//! The DTR streamed: an unattended apply that starts the repository PATCHes while later pages
//! of the repository list are still read.
//!
//! Three stages run at once: the pages are asked for one after the other (each cursor comes
//! with the page before), each page read is parsed and handed with the settings to the
//! engine's sink — which plans it and journals its edits in the snapshot before returning
//! them — and the PATCHes run concurrently under `--concurrency` as their batches come. The
//! settings POST (and a database upload) go out with the first batch, before its PATCHes.
//! After a failure, or once Ctrl-C or SIGTERM is caught, no page is asked for and no PATCH
//! starts; the PATCHes sent are finished (a write that was sent may have happened), and the
//! stream fails.

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Map, Value};

use super::live::{DtrLive, sort_edits};
use super::{DtrTarget, PAGES_AHEAD};
use crate::error::{Error, Result};
use crate::targets::{LiveState, Sink, Stop, Streamed, Streaming, own_state};

type Repositories = BTreeMap<String, Map<String, Value>>;

/// The first failure of any stage, and whether the stream must stop starting work.
struct Halt<'a> {
    stop: &'a Stop,
    failed: Stop,
    first: Mutex<Option<Error>>,
}

impl Halt<'_> {
    fn fail(&self, error: Error) {
        lock(&self.first).get_or_insert(error);
        self.failed.set();
    }

    fn is_set(&self) -> bool {
        self.stop.is_set() || self.failed.is_set()
    }
}

#[async_trait::async_trait]
impl Streaming for DtrTarget {
    async fn read_head(&self) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(self.client.read_head().await?))
    }

    async fn stream(
        &self,
        head: &dyn LiveState,
        sink: &mut dyn Sink,
        stop: &Stop,
    ) -> Result<Streamed> {
        let head: &DtrLive = own_state(head, &self.spec)?;
        let halt = Halt {
            stop,
            failed: Stop::new(),
            first: Mutex::new(None),
        };
        let (page_sender, mut pages) = tokio::sync::mpsc::channel(PAGES_AHEAD);
        let (patch_sender, patches) = tokio::sync::mpsc::unbounded_channel();
        let bar = self.client.output.bar(
            0,
            &format!("reading and updating repositories of DTR {}", self.base()),
        );
        let fetch = async {
            if let Err(error) = self.client.fetch_pages(page_sender, || halt.is_set()).await {
                halt.fail(error);
            }
        };
        let plan = async {
            // Moved in: dropping it when planning ends lets the PATCHes run out.
            let patch_sender = patch_sender;
            let mut repositories = Repositories::new();
            let mut wrote = false;
            while let Some(page) = pages.recv().await {
                if halt.is_set() {
                    break;
                }
                // Pages that arrived while the last batch was journaled are planned together.
                let mut read = vec![page];
                while let Ok(page) = pages.try_recv() {
                    read.push(page);
                }
                let mut items = Repositories::new();
                for page in &read {
                    items.extend(self.client.parse_page(page)?);
                }
                let part = head.with_repositories(items);
                let edits = sink.plan(&part).await?;
                repositories.extend(part.repositories);
                if edits.is_empty() || halt.is_set() {
                    continue;
                }
                wrote = true;
                let sorted = sort_edits(&edits)?;
                self.write_head(&sorted, stop).await?;
                let mut batch = Repositories::new();
                for (repository, field, value) in sorted.repositories {
                    batch
                        .entry(repository.to_string())
                        .or_default()
                        .insert(field.to_string(), value);
                }
                bar.inc_length(batch.len() as u64);
                for patch in batch {
                    // The receiver lives until every PATCH queued is done or skipped.
                    let _ = patch_sender.send(patch);
                }
            }
            Ok((repositories, wrote))
        };
        let plan = async {
            let planned: Result<(Repositories, bool)> = plan.await;
            planned.map_err(|error| halt.fail(error)).ok()
        };
        let mut answered = Vec::new();
        let write = async {
            let mut patches = patches;
            let mut running = FuturesUnordered::new();
            let limit = self.client.options.concurrency.max(1);
            let mut open = true;
            loop {
                tokio::select! {
                    patch = patches.recv(), if open && running.len() < limit => match patch {
                        Some((repository, body)) if !halt.is_set() => {
                            running.push(self.patch(repository, body));
                        }
                        Some(_) => {}
                        None => open = false,
                    },
                    Some((repository, outcome)) = running.next(), if !running.is_empty() => {
                        match outcome {
                            Ok(fields) => {
                                answered.push((repository, fields));
                                bar.inc(1);
                            }
                            Err(error) => halt.fail(error),
                        }
                    }
                    else => break,
                }
            }
        };
        let ((), planned, ()) = tokio::join!(fetch, plan, write);
        bar.finish_and_clear();
        if let Some(error) = lock(&halt.first).take() {
            return Err(error);
        }
        let (repositories, wrote) = planned.ok_or_else(Error::interrupted)?;
        stop.check()?;
        let before = head.with_repositories(repositories);
        let after: Option<Box<dyn LiveState>> = if wrote {
            let repositories = before.repositories.clone();
            Some(Box::new(
                self.state_after(&before, repositories, answered).await?,
            ))
        } else {
            None
        };
        Ok(Streamed {
            before: Box::new(before),
            after,
        })
    }
}

impl DtrTarget {
    /// One PATCH and its outcome, named.
    async fn patch(
        &self,
        repository: String,
        body: Map<String, Value>,
    ) -> (String, Result<Map<String, Value>>) {
        let outcome = self.client.patch_one(&repository, &body).await;
        (repository, outcome)
    }
}

/// A mutex's guard, poisoned or not.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
