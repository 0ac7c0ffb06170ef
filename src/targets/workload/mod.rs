//! The workloads of a UCP/MKE cluster: its containers (Swarm tasks, plain containers and the
//! Docker containers MKE runs Kubernetes pods in) and Swarm services, read through the Docker
//! Engine API that UCP/MKE proxies for the whole cluster, with the `ucp` target's login
//! (reference/next-phase.md §1). Read-only: stigfix never stops, removes or changes a workload;
//! where a fix text says `docker rm`, the rule's note says what a person does instead, and the
//! settings that prevent a violation (MKE `priv_attributes_*`, daemon.json
//! `no-new-privileges`) are rules of the `ucp` and `host` targets.
//!
//! It runs whenever the `ucp` target does (its endpoint is the UCP URL); `--no-workload` or
//! `workload = false` in the site file leaves it out, and then its rules are not assessed.
//!
//! How a node is addressed: UCP's Docker API is classic Swarm, which names each container
//! `/<node>/<name>` and adds `Node` to an inspect, but answers `GET /info` for the whole cluster
//! and has no way to send one to a node. So a node's daemon-wide defaults (`no-new-privileges`
//! in `SecurityOptions`, which the container record does not show) are known only when `/info`
//! is one Engine's; otherwise a container without its own `no-new-privileges` is `unknown`,
//! never a finding on a guess (the `host` target reads each node's `daemon.json`).
//! Kubernetes' own API (`GET /api/v1/pods` with a client bundle) is not read: MKE 3 runs pods
//! as Docker containers (`k8s_…`), which are checked as containers.

mod client;
mod cluster;
mod container;
mod live;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use live::WorkloadLive;

use super::registry::{Connector, Registration, TargetKind};
use super::{LiveState, Target, TargetSpec};
use crate::error::Result;
use crate::http::session::UcpSession;

pub const KIND: TargetKind = TargetKind::new("workload");

pub static REGISTRATION: Registration = Registration {
    kind: KIND,
    configured_by: "--ucp-url, without --no-workload",
    part_of: Some(super::ucp::KIND),
    // The UCP login, shared with the `ucp` target.
    service: None,
    specs: |settings| {
        Ok(settings
            .ucp_url
            .iter()
            .filter(|_| settings.workload)
            .map(|url| TargetSpec::new(KIND, url.as_str()))
            .collect())
    },
    connect: |spec, connector: &Connector| {
        Ok(Box::new(WorkloadTarget::new(
            spec.clone(),
            connector.ucp_session(&spec.endpoint)?,
            connector.settings.dtr.concurrency,
        )))
    },
};

/// One cluster's workloads.
pub struct WorkloadTarget {
    spec: TargetSpec,
    session: Arc<UcpSession>,
    concurrency: usize,
}

impl WorkloadTarget {
    /// `concurrency`: inspects in flight at once (`--concurrency`).
    pub fn new(spec: TargetSpec, session: Arc<UcpSession>, concurrency: usize) -> WorkloadTarget {
        WorkloadTarget {
            spec,
            session,
            concurrency,
        }
    }

    pub async fn read_workloads(&self) -> Result<WorkloadLive> {
        let reads = client::read(&self.session, self.concurrency).await?;
        Ok(WorkloadLive::build(self.session.api().base(), reads))
    }
}

#[async_trait::async_trait]
impl Target for WorkloadTarget {
    fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    fn request_count(&self) -> usize {
        self.session.api().request_count()
    }

    async fn read(&self) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(self.read_workloads().await?))
    }
}
