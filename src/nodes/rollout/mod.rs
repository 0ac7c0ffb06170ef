//! `stigfix nodes rollout`: host changes that need dockerd restarted, carried out node by node
//! so the cluster never breaks — a pure state machine ([`machine`]) that decides, a thin driver
//! ([`driver`]) that talks to the cluster and runs the operator's command, and the report.

pub mod driver;
pub mod machine;

use serde::Serialize;

pub use machine::{Limits, Phase, Rollout};

use crate::error::{Error, ExitStatus};

/// How a node ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Drained, the command run, back ready and active.
    Done,
    /// Not restarted; active as before: see the reason.
    Skipped,
    /// Stopped the rollout; left for an operator.
    Failed,
    /// Not touched: the rollout stopped before its turn.
    Untouched,
}

#[derive(Debug, Serialize)]
struct NodeJson {
    hostname: String,
    id: String,
    role: String,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// As last seen.
    availability: String,
    state: String,
}

#[derive(Debug, Serialize)]
struct ReportJson {
    format_version: u32,
    /// Why the rollout stopped before every node was done.
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<String>,
    nodes: Vec<NodeJson>,
}

fn outcome(phase: &Phase) -> (Outcome, Option<String>) {
    match phase {
        Phase::Done => (Outcome::Done, None),
        Phase::Skipped(why) => (Outcome::Skipped, Some(why.clone())),
        Phase::Failed(why) => (Outcome::Failed, Some(why.clone())),
        // The driver returns only a finished rollout: nothing is in flight.
        _ => (Outcome::Untouched, None),
    }
}

/// The report as JSON (`--format json`).
pub fn json(rollout: &Rollout) -> String {
    let report = ReportJson {
        format_version: 1,
        stopped: rollout.stopped.clone(),
        nodes: rollout
            .steps
            .iter()
            .map(|step| {
                let (outcome, reason) = outcome(&step.phase);
                NodeJson {
                    hostname: step.node.hostname.clone(),
                    id: step.node.id.clone(),
                    role: step.node.role.clone(),
                    outcome,
                    reason,
                    availability: step.seen.availability.clone(),
                    state: step.seen.state.clone(),
                }
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&report).expect("reports serialise");
    text.push('\n');
    text
}

/// The report as text: one line per node, in the order they were taken.
pub fn text(rollout: &Rollout) -> String {
    let mut lines = vec![format!("Rollout of {} node(s):", rollout.steps.len())];
    for step in &rollout.steps {
        let (outcome, reason) = outcome(&step.phase);
        let word = match outcome {
            Outcome::Done => "done",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "FAILED",
            Outcome::Untouched => "untouched",
        };
        let mut line = format!("  {word:<9} {} ({})", step.node.hostname, step.node.role);
        if let Some(reason) = reason {
            line.push_str(&format!(": {reason}"));
        }
        if outcome == Outcome::Failed {
            line.push_str(&format!(
                " [now {}, {}]",
                step.seen.availability, step.seen.state
            ));
        }
        lines.push(line);
    }
    if let Some(why) = &rollout.stopped {
        lines.push(format!("Stopped: {why}."));
    }
    lines.push(String::new());
    lines.join("\n")
}

/// How the run ends: every node done, or the error that says what is left.
pub fn verdict(rollout: &Rollout) -> Result<ExitStatus, Error> {
    let failed: Vec<String> = rollout
        .steps
        .iter()
        .filter(|step| matches!(step.phase, Phase::Failed(_)))
        .map(|step| {
            format!(
                "{} (now {}, {})",
                step.node.hostname, step.seen.availability, step.seen.state
            )
        })
        .collect();
    if !failed.is_empty() {
        return Err(Error::needs_operator(format!(
            "the rollout stopped at {}: an operator must look; {} other node(s) were not touched",
            failed.join(", "),
            rollout.untouched().len()
        ))
        .with_hint("when its dockerd runs again: `docker node update --availability active NODE`, then run the rollout again for the rest"));
    }
    let not_done: Vec<String> = rollout
        .steps
        .iter()
        .filter(|step| step.phase != Phase::Done)
        .map(|step| step.node.hostname.clone())
        .collect();
    if not_done.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        Err(Error::new(format!(
            "{} node(s) were not restarted: {}{}",
            not_done.len(),
            not_done.join(", "),
            rollout
                .stopped
                .as_deref()
                .map(|why| format!(" (stopped: {why})"))
                .unwrap_or_default()
        )))
    }
}
