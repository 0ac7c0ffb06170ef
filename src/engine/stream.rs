//! The streamed step of a transaction ([`Work::Stream`]): a [`Streaming`] target reads its
//! items page by page and hands each part to the engine's sink, which plans it and appends its
//! edits to the snapshot's journal (fsynced, the target marked `applying` first) before handing
//! them back to be written. Once the stream is over, the edits made page by page must be those
//! of the whole state read, which is also what the plan shows.
//!
//! [`Streaming`]: crate::targets::Streaming

use std::collections::HashSet;

use crate::assess;
use crate::error::{Error, Result};
use crate::keypath::KeyPath;
use crate::snapshot;
use crate::targets::{Edit, LiveState, Sink, Stop, Target, Written};

use super::Engine;
use super::transaction::{Pending, Step, Work};

/// The engine's side of a streamed step: plans each part the target read, and journals the
/// edits (fsynced) before handing them back to be written.
struct StepSink<'t> {
    engine: &'t Engine,
    pending: &'t mut Pending,
    index: usize,
    target: &'t dyn Target,
    started: bool,
    planned: HashSet<KeyPath>,
    edits: Vec<Edit>,
    /// The step's saved state with every batch journaled merged in.
    saved: serde_json::Value,
    written: Vec<Written>,
}

#[async_trait::async_trait]
impl Sink for StepSink<'_> {
    async fn plan(&mut self, part: &dyn LiveState) -> Result<Vec<Edit>> {
        let spec = self.target.spec();
        let (_, edits) = assess::assess(
            self.engine.rules.for_target(spec.kind),
            part,
            self.engine.today(),
            Some(spec),
        );
        let new: Vec<Edit> = edits
            .into_iter()
            .filter(|edit| !self.planned.contains(&edit.path))
            .collect();
        if new.is_empty() {
            return Ok(new);
        }
        let saved = part.saved(&new)?;
        let written = Written::of(&new);
        let snapshot = if self.started {
            self.pending
                .snapshot
                .as_mut()
                .expect("made at the first batch")
        } else {
            self.pending.begin(self.engine, self.index)?
        };
        self.started = true;
        let journal = snapshot.journal_file(self.index).ok_or_else(|| {
            Error::new("a streamed target has no journal in the snapshot (a bug in stigfix)")
        })?;
        // Appending waits for the disk: off the threads that carry the writes in flight.
        let (batch, items) = (saved.clone(), written.clone());
        tokio::task::spawn_blocking(move || journal.append(&batch, &items))
            .await
            .map_err(|error| {
                Error::new(format!("the snapshot journal's writer failed: {error}"))
            })??;
        snapshot::merge_saved(&mut self.saved, snapshot::saved_json(&saved)?);
        self.written.extend(written);
        self.planned
            .extend(new.iter().map(|edit| edit.path.clone()));
        self.edits.extend(new.iter().cloned());
        Ok(new)
    }
}

impl Engine {
    /// Run a streamed step: the target reads, the sink plans and journals, the target writes.
    /// Afterwards the step's `saved` and `written` are everything journaled (what a restore
    /// must look at), and its `before` the whole state read. `None` when nothing needed a write.
    pub(super) async fn run_stream(
        &self,
        pending: &mut Pending,
        step: &mut Step<'_>,
        index: usize,
        stop: &Stop,
    ) -> Result<Option<Box<dyn LiveState>>> {
        let target = step.target;
        let streaming = target.streaming().ok_or_else(|| {
            Error::new(format!(
                "{} cannot stream (a bug in stigfix)",
                target.spec().label()
            ))
        })?;
        let mut sink = StepSink {
            engine: self,
            pending,
            index,
            target,
            started: false,
            planned: HashSet::new(),
            edits: Vec::new(),
            saved: snapshot::saved_json(&step.saved)?,
            written: Vec::new(),
        };
        let streamed = streaming
            .stream(step.before.as_ref(), &mut sink, stop)
            .await;
        let StepSink {
            pending,
            started,
            edits,
            saved,
            written,
            ..
        } = sink;
        if started {
            step.saved.bytes = serde_json::to_vec_pretty(&saved).expect("JSON serialises");
        }
        step.written = written;
        let streamed = match streamed {
            Ok(streamed) => streamed,
            Err(error) => {
                if started && let Some(snapshot) = pending.snapshot.as_mut() {
                    // Best effort: the journal is complete either way; this only lists it.
                    let _ = snapshot.seal_journal(index, None, &step.written);
                }
                return Err(error);
            }
        };
        step.before = streamed.before;
        stop.check()?;
        let spec = target.spec();
        let before = step.before.as_ref();
        let after = streamed.after.as_deref();
        let snapshot = pending.snapshot.as_mut().filter(|_| started);
        // Three independent pieces of work, at once: the journal recorded as complete, the
        // whole state read assessed (the plan), the writes verified.
        let (sealed, (results, whole), verified) = std::thread::scope(|scope| {
            let written = &step.written;
            let sealed = scope.spawn(move || match snapshot {
                Some(snapshot) => {
                    snapshot.seal_journal(index, Some(before.fingerprint().to_string()), written)
                }
                None => Ok(()),
            });
            let assessed = scope.spawn(|| {
                assess::assess(
                    self.rules.for_target(spec.kind),
                    before,
                    self.today(),
                    Some(spec),
                )
            });
            let verified = match after {
                Some(after) if !edits.is_empty() => self.verify(target, &edits, after),
                _ => Ok(()),
            };
            (
                sealed
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                assessed
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                verified,
            )
        });
        sealed?;
        // What was written page by page must be exactly what the whole state gives.
        let difference = first_difference(&whole, &edits);
        step.work = Work::Stream {
            assessed: Some((results, whole)),
        };
        if let Some(path) = difference {
            return Err(Error::new(format!(
                "{} was planned page by page, and `{path}` differs from the plan of the whole state (a rule that is not decided item by item)",
                spec.label()
            ))
            .with_hint("run `stigfix apply` without --yes, or with a saved plan: those plan the whole state first"));
        }
        let after = match streamed.after {
            Some(after) if !edits.is_empty() => after,
            _ if edits.is_empty() => return Ok(None),
            _ => {
                return Err(Error::new(format!(
                    "{} wrote changes but returned no state after them (a bug in stigfix)",
                    spec.label()
                )));
            }
        };
        verified?;
        self.after_verified(target, &edits, after.as_ref()).await?;
        Ok(Some(after))
    }
}

/// The first path where two sets of edits differ (a path missing from one, or another value).
fn first_difference(whole: &[Edit], streamed: &[Edit]) -> Option<KeyPath> {
    let by_path: std::collections::HashMap<&KeyPath, &Edit> =
        streamed.iter().map(|edit| (&edit.path, edit)).collect();
    whole
        .iter()
        .find(|edit| {
            by_path
                .get(&edit.path)
                .is_none_or(|other| other.after != edit.after || other.before != edit.before)
        })
        .map(|edit| edit.path.clone())
        .or_else(|| {
            (whole.len() != streamed.len()).then(|| {
                let planned: HashSet<&KeyPath> = whole.iter().map(|edit| &edit.path).collect();
                streamed
                    .iter()
                    .find(|edit| !planned.contains(&edit.path))
                    .map(|edit| edit.path.clone())
            })?
        })
}
