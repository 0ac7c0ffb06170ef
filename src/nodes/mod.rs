//! `stigfix nodes`: the host checks on every node of a Swarm cluster, run by the cluster itself,
//! and host changes rolled out node by node.
//!
//! - [`job`]: the scanner — one `global-job` service created through the UCP API (the run's UCP
//!   session), each task running `stigfix plan --host-root /host --format json` in the stigfix
//!   image with its node's `/` mounted read-only at `/host`; results come back through the
//!   service's logs ([`stream`]: Docker's multiplexed stream, each line naming its task); the
//!   service is removed afterwards, also on failure and Ctrl-C. Nothing changes on a node.
//! - [`merge`]: every node's plan merged into one plan of the cluster, one `host` target per node
//!   named by its host name, so the plan renderers and the checklist writers (one checklist per
//!   node) work on it unchanged.
//! - [`image`]: a loadable image of this stigfix, built offline.
//! - [`rollout`]: restarts that never break the cluster.
//! - [`swarm`]: the Swarm API calls, through UCP.

pub mod image;
pub mod job;
pub mod merge;
pub mod rollout;
pub mod stream;
pub mod swarm;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::http::session::UcpSession;
use crate::plan::Plan;
use crate::playbook::RuleFilter;
use crate::settings::Settings;
use crate::targets::Connector;
use job::{JobSpec, Reply};
use swarm::Node;

/// What stigfix runs in each node's task.
pub fn task_args(filter: &RuleFilter) -> Vec<String> {
    let mut args: Vec<String> = [
        "plan",
        "--host-root",
        job::HOST,
        "--format",
        "json",
        "--no-progress",
        "--color",
        "never",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    for rule in &filter.rules {
        args.extend(["--rule".to_string(), rule.clone()]);
    }
    if let Some(severity) = filter.min_severity {
        args.extend(["--severity".to_string(), severity.as_str().to_string()]);
    }
    args
}

/// The UCP session of the run's cluster.
pub fn session(settings: &Settings) -> Result<std::sync::Arc<UcpSession>> {
    let url = settings.ucp_url.as_deref().ok_or_else(|| {
        Error::usage("stigfix nodes needs the cluster's UCP/MKE URL: pass --ucp-url (or set STIGFIX_UCP_URL, or `ucp_url` in the site file)")
    })?;
    Connector::new(settings)?.ucp_session(url)
}

/// Every node's host checks, as one plan.
pub struct Scan {
    /// One host target per node that reported.
    pub plan: Plan,
    /// The nodes that reported, in the plan's target order.
    pub reported: Vec<Node>,
    /// Nodes that should have reported and did not: why.
    pub failed: Vec<(Node, String)>,
    /// Nodes the job does not run on (drained, paused, not Linux): why.
    pub skipped: Vec<(Node, String)>,
}

/// Run the scanner on every node of the cluster and merge what the nodes report.
pub async fn scan(
    settings: &Settings,
    session: &UcpSession,
    image: &str,
    wait: Duration,
) -> Result<Scan> {
    let rules = settings.rule_set()?;
    let expected = merge::node_rules(&rules, &settings.filter)?;
    let mut nodes = swarm::nodes(session).await?;
    nodes.sort_by(|a, b| (!a.manager, &a.hostname).cmp(&(!b.manager, &b.hostname)));
    let spec = JobSpec {
        image: image.to_string(),
        args: task_args(&settings.filter),
        wait,
        poll: poll(Duration::from_millis(500)),
    };
    let replies = job::run(session, &nodes, &spec, &settings.output).await?;
    let today = crate::settings::now().date();
    let (mut reported, mut failed, mut skipped, mut parts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for reply in replies {
        let node = reply.node;
        match reply.reply {
            Reply::Output { stdout, .. } => {
                match merge::parse(&stdout, &node)
                    .and_then(|plan| merge::node_part(&node, &plan, &expected, &rules, today))
                {
                    Ok(part) => {
                        parts.push(part);
                        reported.push(node);
                    }
                    Err(why) => failed.push((node, why)),
                }
            }
            Reply::Failed(why) => failed.push((node, why)),
            Reply::Skipped(why) => skipped.push((node, why)),
        }
    }
    Ok(Scan {
        plan: merge::cluster_plan(
            parts,
            &rules,
            crate::settings::now_rfc3339(),
            settings.tls.insecure,
        ),
        reported,
        failed,
        skipped,
    })
}

/// The pause between two looks at the cluster: `default`, or `STIGFIX_POLL_MS` milliseconds
/// (a test hook: the end-to-end tests against the simulator need not wait a second per look).
pub fn poll(default: Duration) -> Duration {
    std::env::var("STIGFIX_POLL_MS")
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .map_or(default, Duration::from_millis)
}

/// The default image: the one `stigfix nodes image` tags.
pub fn default_image() -> String {
    format!("stigfix:{}", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_example_runs_what_the_swarm_job_runs() {
        let manifest = include_str!("../../examples/kubernetes-node-scan.yaml");
        let args = manifest
            .lines()
            .find_map(|line| line.trim().strip_prefix("args:"))
            .expect("an args: line");
        let args: Vec<String> = serde_json::from_str(args.trim()).expect("a JSON list");
        assert_eq!(args, task_args(&RuleFilter::default()));
        assert!(manifest.contains(&format!("image: {}", default_image())));
        assert!(manifest.contains(&format!("{}: \"1\"", job::LABEL)));
        assert!(manifest.contains("mountPath: /host\n              readOnly: true"));
    }

    #[test]
    fn filters_go_to_the_task() {
        let filter = RuleFilter {
            rules: vec!["DKER-EE-001050".into()],
            min_severity: Some(crate::benchmark::Severity::High),
        };
        let args = task_args(&filter).join(" ");
        assert!(
            args.ends_with("--rule DKER-EE-001050 --severity high"),
            "{args}"
        );
    }
}
