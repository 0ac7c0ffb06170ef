//! End-to-end tests: the real `stigfix` binary against the in-process UCP/MKE simulator over
//! HTTPS (a CA made by the simulator) and plain HTTP on 127.0.0.1. Nothing else is contacted.

mod dockerd;
mod support;
mod units;

mod apply;
mod check;
mod cli;
mod coverage;
mod dtr;
mod engine;
mod failures;
mod fleet;
mod golden;
mod hardening;
mod host;
mod nodes;
mod nodes_swarm;
mod plan;
mod playbooks;
mod rollback;
mod saf;
mod schedule;
mod secrets;
mod urls;
mod versions;
mod workload;
mod workload_engine;
mod workload_kube;
