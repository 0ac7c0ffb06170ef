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
//!
//! Kubernetes pods are read from MKE's Kubernetes API (`GET /api/v1/pods`, paged) with the
//! certificate of an MKE client bundle (`--client-bundle`, see `kube`), at the same time as the
//! Engine reads; they are checked as pods (`pods.…`) besides their Docker containers (`k8s_…`,
//! which MKE 3 runs them in). Without a bundle the pod settings are `unknown`, never `pass`.

mod client;
mod cluster;
mod container;
pub mod kube;
mod live;
mod pods;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use live::WorkloadLive;

use super::registry::{Connector, Registration, TargetKind};
use super::{LiveState, Target, TargetSpec};
use crate::error::Result;
use crate::http::session::UcpSession;
use kube::bundle::ClientBundle;
use kube::{KubeClient, PodReads};

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
        let settings = connector.settings;
        let target = WorkloadTarget::new(
            spec.clone(),
            connector.ucp_session(&spec.endpoint)?,
            settings.dtr.concurrency,
        );
        Ok(Box::new(match &settings.client_bundle {
            Some(path) => {
                let bundle = ClientBundle::load(path)?;
                target.with_kube(KubeClient::new(&bundle, &settings.tls, settings.timeout)?)
            }
            None => target,
        }))
    },
};

/// One cluster's workloads.
pub struct WorkloadTarget {
    spec: TargetSpec,
    session: Arc<UcpSession>,
    concurrency: usize,
    /// MKE's Kubernetes API, when a client bundle was given.
    kube: Option<KubeClient>,
}

impl WorkloadTarget {
    /// `concurrency`: inspects in flight at once (`--concurrency`).
    pub fn new(spec: TargetSpec, session: Arc<UcpSession>, concurrency: usize) -> WorkloadTarget {
        WorkloadTarget {
            spec,
            session,
            concurrency,
            kube: None,
        }
    }

    /// Read the pods too, through MKE's Kubernetes API.
    pub fn with_kube(mut self, kube: KubeClient) -> WorkloadTarget {
        self.kube = Some(kube);
        self
    }

    /// The Engine reads and the pod list at once.
    pub async fn read_workloads(&self) -> Result<WorkloadLive> {
        let pods = async {
            match &self.kube {
                Some(kube) => kube.read().await,
                None => PodReads::NotConfigured,
            }
        };
        let (reads, pods) = tokio::join!(client::read(&self.session, self.concurrency), pods);
        let mut reads = reads?;
        reads.pods = pods;
        Ok(WorkloadLive::build(self.session.api().base(), reads))
    }
}

#[async_trait::async_trait]
impl Target for WorkloadTarget {
    fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    fn request_count(&self) -> usize {
        self.session.api().request_count() + self.kube.as_ref().map_or(0, KubeClient::request_count)
    }

    async fn read(&self) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(self.read_workloads().await?))
    }
}
