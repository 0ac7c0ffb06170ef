//! `stigfix demo`: the whole cycle against the built-in simulator, with no setup — plan, apply,
//! plan again (clean), roll back — over real HTTPS on 127.0.0.1 with a CA made for the occasion.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::DemoArgs;
use crate::commands;
use crate::engine::Engine;
use crate::error::{Error, ExitStatus, IoContext, Result};
use crate::http::api::Api;
use crate::http::session::UcpSession;
use crate::http::{self, TlsOptions};
use crate::output::Output;
use crate::playbook::{self, RuleFilter};
use crate::render;
use crate::secrets::Secret;
use crate::sim::{
    DtrOptions, SimCluster, SimEngine, SimOptions, SimUser, Simulator, generate_repositories,
};
use crate::site::SiteFile;
use crate::snapshot::Snapshot;
use crate::targets::dtr::{self, DtrClient, DtrTarget};
use crate::targets::host::{HostTarget, RestartPolicy};
use crate::targets::ucp::{self, UcpTarget};
use crate::targets::workload::{self, WorkloadTarget};
use crate::targets::{Target, TargetSpec};

const DEMO_USER: &str = "admin";
const DEMO_PASSWORD: &str = "demo-password-not-a-secret";
/// Repositories of the simulated registry; every third does not scan on push.
const DEMO_REPOSITORIES: usize = 300;

/// A cluster as many are found: defaults, usage reporting on, no audit log, long sessions,
/// content trust off, and a backup passphrase in the config (which stigfix never shows).
pub const NONCOMPLIANT_CONFIG: &str = r#"[auth]
  backend = "ldap"
  [auth.sessions]
    lifetime_minutes = 60
    renewal_threshold_minutes = 20
    per_user_limit = 0

[audit_log_configuration]
  level = ""

[backup_schedule_config]
  enabled = true
  passphrase = "correct-horse-battery-staple"
  path = "/var/backups/mke"

[cluster_config]
  secure_overlay = true

[log_configuration]
  level = "ERROR"

[scheduling_configuration]
  enable_admin_ucp_scheduling = true

[tracking_configuration]
  disable_tracking = false
  disable_usageinfo = false

[trust_configuration]
  require_content_trust = false
"#;

/// The demo's site file: organisation-defined values and one waiver.
pub const DEMO_SITE: &str = r#"[variables]
session_per_user_limit = 3
require_signature_from = ["docker-datacenter/security"]

[[waivers]]
rule = "DKER-EE-002180"
justification = "LDAP is the enterprise identity provider; SAML is not used."
approver = "ISSM (demo)"
ticket = "CHG-0001"
expires = 2099-12-31
"#;

pub async fn run(args: &DemoArgs, output: &Output) -> Result<ExitStatus> {
    let simulator = Simulator::start(SimOptions {
        tls: true,
        users: vec![SimUser {
            name: DEMO_USER.into(),
            password: DEMO_PASSWORD.into(),
            admin: true,
        }],
        ucp_config: Some(NONCOMPLIANT_CONFIG.into()),
        ucp_release: Default::default(),
        token_ttl: Duration::from_secs(3600),
        dtr: DtrOptions {
            repositories: generate_repositories(DEMO_REPOSITORIES, 3),
            // A registry as many are found: create-on-push on, analytics on, scanning off.
            settings: Some(serde_json::json!({
                "createRepositoryOnPush": true,
                "reportAnalytics": true,
                "scanningEnabled": false,
            })),
            ..DtrOptions::default()
        },
        // Containers as many are found: a privileged agent with the Docker socket, a database as
        // root without limits, a stopped container with host namespaces and port 80.
        engine: SimEngine::Cluster(SimCluster::demo()),
    })
    .map_err(|error| Error::new(format!("cannot start the simulator on 127.0.0.1: {error}")))?;
    let folder = WorkDir::create()?;
    let work = folder.path();
    // A Docker Engine node as many are found (Ubuntu layout): a TCP listener in a drop-in,
    // insecure registries, FIPS off, loose modes.
    let node = work.join("node1");
    crate::sim::host::ubuntu_node(&node)
        .map_err(|error| Error::io("build the demo node under", &node, &error))?;
    let ca_path = work.join("simulator-ca.pem");
    std::fs::write(&ca_path, simulator.ca_pem().unwrap_or_default())
        .with_path("write", &ca_path)?;

    if args.serve {
        // Caught from before the banner, which tells the user to press Ctrl-C.
        let stop = Stop::catch()?;
        let site_path = work.join("stigfix.toml");
        std::fs::write(&site_path, DEMO_SITE).with_path("write", &site_path)?;
        output.data(&format!(
            "Simulated UCP/MKE cluster and DTR/MSR registry listening on {url}; a Docker Engine node under {node}\n\n\
             export STIGFIX_UCP_URL={url}\n\
             export STIGFIX_DTR_URL={url}\n\
             export STIGFIX_HOST_ROOT={node}\n\
             export STIGFIX_CA_CERT={ca}\n\
             export STIGFIX_USERNAME={DEMO_USER}\n\
             export STIGFIX_PASSWORD={DEMO_PASSWORD}\n\
             export STIGFIX_CONFIG={site}\n\
             export STIGFIX_SNAPSHOT_DIR={snapshots}\n\n\
             Then: stigfix plan / stigfix apply / stigfix rollback --last. Ctrl-C stops the simulator and removes {work}.\n",
            url = simulator.url(),
            ca = ca_path.display(),
            site = site_path.display(),
            snapshots = work.join("snapshots").display(),
            node = node.display(),
            work = work.display(),
        ));
        stop.wait().await;
        return Ok(ExitStatus::Success);
    }

    let step = |title: &str| output.status(&format!("\n{}", output.bold(&format!("==> {title}"))));
    step(&format!(
        "Started a simulated UCP/MKE cluster and DTR/MSR registry ({DEMO_REPOSITORIES} repositories) at {} (HTTPS, verified against a CA made for this demo), and built a Docker Engine node's files under {}",
        simulator.url(),
        node.display()
    ));
    let site = SiteFile::parse(DEMO_SITE, &work.join("stigfix.toml"))?;
    output.status("Site file: session limit 3, signers [docker-datacenter/security], SAML waived (LDAP is in use).");
    let rules = playbook::resolve(
        playbook::shipped()?,
        Vec::new(),
        &site,
        &RuleFilter::default(),
    )?;
    let client = http::client(
        &TlsOptions {
            ca_cert: Some(ca_path.clone()),
            insecure: false,
        },
        Duration::from_secs(30),
    )?;
    let url = simulator.url();
    let session = Arc::new(UcpSession::new(
        Api::new(client.clone(), &url, "UCP"),
        DEMO_USER,
        Secret::new(DEMO_PASSWORD),
    ));
    let targets: Vec<Box<dyn Target>> = vec![
        Box::new(UcpTarget::new(
            TargetSpec::new(ucp::KIND, url.as_str()),
            Arc::clone(&session),
            Arc::new(crate::learned::Learned::load(&work.join("snapshots"))?),
        )),
        Box::new(DtrTarget::new(
            TargetSpec::new(dtr::KIND, url.as_str()),
            DtrClient::new(
                Api::new(client, &url, "DTR"),
                DEMO_USER,
                Secret::new(DEMO_PASSWORD),
                dtr::DtrOptions::default(),
                output.clone(),
            ),
        )),
        Box::new(HostTarget::new(&node, RestartPolicy::Never, None)?),
        Box::new(WorkloadTarget::new(
            TargetSpec::new(workload::KIND, url.as_str()),
            session,
            8,
        )),
    ];
    let engine = Engine {
        targets,
        rules,
        insecure: false,
        snapshot_dir: work.join("snapshots"),
        output: output.clone(),
        now: crate::settings::now(),
    };
    let original = simulator.ucp().config_toml();
    let original_registry = (simulator.dtr().settings(), simulator.dtr().repositories());
    let original_node = crate::sim::host::tree(&node)
        .map_err(|error| Error::io("read the demo node under", &node, &error))?;

    step(
        "stigfix plan   (reads the live config, diffs it against the shipped STIG playbooks; writes nothing)",
    );
    let locks = engine.lock()?;
    let (plan, lives) = engine.plan().await?;
    commands::print_plan(&plan, crate::cli::Format::Text, output);
    output.status(&format!("Writes so far: {}", simulator.write_count()));

    step(
        "stigfix apply --yes   (snapshot first; one PUT of the UCP document, one partial POST of the DTR settings, a PATCH per repository, atomic file writes on the node; then verify every value)",
    );
    commands::run_apply(&engine, &plan, &locks, Some(lives), true, false, output).await?;

    step(
        "stigfix plan --detailed-exitcode   (again: nothing left to change; what remains is for a person or a setting this release does not have)",
    );
    let (after, _) = engine.plan().await?;
    output.data(&format!("{}\n", render::summary_line(&after)));
    let converged = after.change_count() == 0;
    for rule in after
        .rules
        .iter()
        .filter(|rule| rule.status == crate::assess::Status::Open && rule.kind != workload::KIND)
    {
        output.status(&format!(
            "still open: {} {}",
            rule.stig_id,
            rule.unfixable
                .first()
                .map(render::unfixable_line)
                .unwrap_or_default()
        ));
    }
    let status = crate::engine::plan_status(&after, true);
    // What is left: the containers' findings (stigfix reports workloads, never changes them) and
    // what apply cannot write (a setting this release lacks).
    let left = after
        .rules
        .iter()
        .filter(|rule| rule.status.is_finding())
        .count();
    let workloads = after
        .rules
        .iter()
        .filter(|rule| rule.status.is_finding() && rule.kind == workload::KIND)
        .count();
    output.status(&format!(
        "exit code would be {}: {left} finding(s) left, {workloads} of them workload violations (containers and services, which stigfix reports and never changes), the others settings apply cannot write (see above)",
        status.code()
    ));

    step("stigfix apply --yes   (a second apply makes no write)");
    let writes = simulator.write_count();
    let (again, lives) = engine.plan().await?;
    commands::run_apply(&engine, &again, &locks, Some(lives), true, false, output).await?;
    drop(locks);
    output.status(&format!(
        "Writes by the second apply: {}",
        simulator.write_count() - writes
    ));

    step(
        "stigfix rollback --last --yes   (restores the exact original config, settings and repositories)",
    );
    let snapshot = Snapshot::last_apply(&engine.snapshot_dir)?;
    let prepared = engine.prepare_rollback(snapshot, false).await?;
    engine.rollback(prepared).await?;
    let same = |yes: bool| {
        if yes {
            "identical to"
        } else {
            "NOT identical to"
        }
    };
    let config_restored = simulator.ucp().config_toml() == original;
    let registry_restored =
        (simulator.dtr().settings(), simulator.dtr().repositories()) == original_registry;
    output.status(&format!(
        "UCP config after rollback is {} the original; DTR settings and repositories are {} the originals.",
        same(config_restored),
        same(registry_restored)
    ));
    let node_restored = crate::sim::host::tree(&node).ok() == Some(original_node);
    output.status(&format!(
        "The node's files (bytes, owners, modes) are {} the originals; the drop-in stigfix created is gone.",
        same(node_restored)
    ));
    let restored = config_restored && registry_restored && node_restored;
    if !restored || !converged {
        return Err(Error::new("the demo did not end as expected (see above)"));
    }
    step(
        "Done. Try it on your cluster: stigfix plan --ucp-url https://ucp.example.mil --dtr-url https://dtr.example.mil --username admin, and on each node: stigfix plan --host-root /",
    );
    Ok(ExitStatus::Success)
}

/// The demo's folder (the node's files, the CA, the site file, snapshots), removed when the
/// demo ends, however it ends: done, an error, or Ctrl-C / SIGTERM under `--serve`.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<WorkDir> {
        let dir = std::env::temp_dir().join(format!("stigfix-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_path("create", &dir)?;
        Ok(WorkDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Ctrl-C and SIGTERM, caught from its creation on.
struct Stop {
    interrupt: Signal,
    terminate: Signal,
}

impl Stop {
    fn catch() -> Result<Stop> {
        let catch = |kind: SignalKind| {
            signal(kind)
                .map_err(|error| Error::new(format!("cannot catch Ctrl-C and SIGTERM: {error}")))
        };
        Ok(Stop {
            interrupt: catch(SignalKind::interrupt())?,
            terminate: catch(SignalKind::terminate())?,
        })
    }

    /// Until either arrives.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
