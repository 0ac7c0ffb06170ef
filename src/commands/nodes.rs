//! `stigfix nodes plan|check|image|rollout`: sequencing only; the work is `crate::nodes`'.
//! `plan` and `check` show what every node reported and then fail (exit 1) naming each node
//! that did not report, so one node never hides the others' results.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{check, print_plan};
use crate::checklist::{self, Checklist};
use crate::cli::{
    GlobalArgs, ListFormat, NodesCheckArgs, NodesCommand, NodesImageArgs, NodesPlanArgs,
    NodesRolloutArgs, ScannerArgs,
};
use crate::engine;
use crate::error::{Error, ExitStatus, Result};
use crate::fleet::{self, Scope};
use crate::http::session::UcpSession;
use crate::nodes::rollout::{self, Limits, driver};
use crate::nodes::swarm::{self, Node};
use crate::nodes::{self, Scan, image, merge};
use crate::output::Output;
use crate::runlog::Report;
use crate::settings::Settings;

/// With an inventory, one cluster at a time (`--cluster NAME`); `image` needs no cluster.
pub async fn dispatch(
    global: &GlobalArgs,
    command: NodesCommand,
    output: Output,
) -> Result<ExitStatus> {
    if let NodesCommand::Image(args) = &command {
        return build_image(&Settings::resolve(global, output)?, args);
    }
    match Scope::resolve(global, output, false)? {
        Scope::One(settings) => run(&settings, command).await,
        Scope::Many(fleet) => {
            let cluster = fleet.only("stigfix nodes")?;
            run(&fleet.settings(global, cluster)?, command).await
        }
    }
}

pub async fn run(settings: &Settings, command: NodesCommand) -> Result<ExitStatus> {
    match command {
        NodesCommand::Plan(args) => {
            let work = async {
                let mut report = Report::default();
                let result = plan(settings, &args, &mut report).await;
                (result, report)
            };
            fleet::run_one(settings, "nodes plan", &args.record, work).await
        }
        NodesCommand::Check(args) => {
            // `--log` and `--metrics` record the run like `stigfix check`'s.
            let work = async {
                let mut report = Report::default();
                let result = check(settings, &args, &mut report).await;
                (result, report)
            };
            fleet::run_one(settings, "nodes check", &args.check.record, work).await
        }
        NodesCommand::Image(args) => build_image(settings, &args),
        NodesCommand::Rollout(args) => rollout(settings, &args).await,
    }
}

async fn scan(settings: &Settings, session: &UcpSession, scanner: &ScannerArgs) -> Result<Scan> {
    let image = scanner.image.clone().unwrap_or_else(nodes::default_image);
    let scan = nodes::scan(settings, session, &image, Duration::from_secs(scanner.wait)).await?;
    for (node, why) in &scan.skipped {
        settings
            .output
            .warn(&format!("node {}: {why}", node.hostname));
    }
    Ok(scan)
}

/// The error naming every node that did not report; `Ok` when all did.
fn failures(scan: &Scan) -> Result<()> {
    if scan.failed.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = scan
        .failed
        .iter()
        .map(|(node, why)| format!("{} ({why})", node.hostname))
        .collect();
    Err(Error::new(format!(
        "{} of {} node(s) did not report: {}",
        scan.failed.len(),
        scan.failed.len() + scan.reported.len(),
        named.join("; ")
    ))
    .with_hint("the report covers the nodes that did; on a node that did not, `stigfix plan --host-root /` shows what it finds there"))
}

async fn plan(
    settings: &Settings,
    args: &NodesPlanArgs,
    report: &mut Report,
) -> Result<ExitStatus> {
    let session = nodes::session(settings)?;
    let scan = scan(settings, &session, &args.scanner).await?;
    record_scan(&scan, report);
    print_plan(&scan.plan, args.format, &settings.output);
    failures(&scan)?;
    Ok(engine::plan_status(&scan.plan, args.detailed_exitcode))
}

/// What `--log` and `--metrics` record of a scan: a host target per node that reported.
fn record_scan(scan: &Scan, report: &mut Report) {
    report.specs = scan
        .plan
        .targets
        .iter()
        .map(|target| target.spec.clone())
        .collect();
    report.plan = Some(scan.plan.clone());
}

/// A node's checklist data: its host name (and FQDN), its address, a member server.
fn describe_node(checklist: &mut Checklist, node: &Node) {
    let data = &mut checklist.asset.data;
    let name = node.hostname.clone();
    data.host_fqdn = if name.contains('.') {
        name.clone()
    } else {
        String::new()
    };
    data.host_name = name.split('.').next().unwrap_or(&name).to_string();
    data.host_ip = if node.address.parse::<IpAddr>().is_ok() {
        node.address.clone()
    } else {
        String::new()
    };
    data.role = "Member Server".into();
    data.web_or_database = false;
    data.web_db_site.clear();
    data.web_db_instance.clear();
    checklist.asset.file_name = format!("host-{}", checklist::sanitize(&name));
}

async fn check(
    settings: &Settings,
    args: &NodesCheckArgs,
    report: &mut Report,
) -> Result<ExitStatus> {
    let existing = check::read_merge(&args.check)?;
    let session = nodes::session(settings)?;
    let scan = scan(settings, &session, &args.scanner).await?;
    record_scan(&scan, report);
    if scan.reported.is_empty() {
        failures(&scan)?;
        return Err(Error::new(
            "no node reported: there is no checklist to write",
        ));
    }
    let mut checklists = check::build(settings, &scan.plan)?;
    for checklist in &mut checklists {
        let spec = checklist
            .asset
            .targets
            .first()
            .map(|(spec, _)| spec.clone());
        if let Some(node) = scan
            .reported
            .iter()
            .find(|node| Some(merge::node_spec(node)) == spec)
        {
            describe_node(checklist, node);
        }
    }
    let status = check::deliver(
        settings,
        &args.check,
        &scan.plan,
        checklists,
        existing.as_deref(),
    )?;
    failures(&scan)?;
    Ok(status)
}

fn build_image(settings: &Settings, args: &NodesImageArgs) -> Result<ExitStatus> {
    let reference = image::reference(Some(&args.tag))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("stigfix-{}.tar", env!("CARGO_PKG_VERSION"))));
    let files = image::files()?;
    let output = &settings.output;
    let spinner = output.spinner(&format!("writing {}", out.display()));
    let built = image::write(&out, &reference, &files, &crate::settings::now_rfc3339());
    spinner.finish_and_clear();
    let built = built?;
    output.status(&format!(
        "Wrote {} ({:.1} MB): image {} ({}), the stigfix binary and {} file(s) it loads",
        out.display(),
        built.bytes as f64 / 1_000_000.0,
        built.reference,
        built.id,
        built.files - 1
    ));
    output.status(&format!(
        "Load it on every node with `docker load -i {}`, or load it once and push it to the registry (`docker tag {} REGISTRY/ORG/stigfix:{}`, `docker push …`) and pass `--image REGISTRY/ORG/stigfix:{}` to `stigfix nodes`",
        out.display(),
        built.reference,
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_VERSION")
    ));
    output.data(&format!("{}\n", built.reference));
    Ok(ExitStatus::Success)
}

/// The node IDs `--node` names (host names or IDs).
fn named(all: &[Node], names: &[String]) -> Result<Vec<String>> {
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|node| &node.hostname == name || &node.id == name)
                .map(|node| node.id.clone())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--node {name}: no such node (nodes: {})",
                        all.iter()
                            .map(|node| node.hostname.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })
        })
        .collect()
}

async fn rollout(settings: &Settings, args: &NodesRolloutArgs) -> Result<ExitStatus> {
    let session = nodes::session(settings)?;
    let output = &settings.output;
    let all = swarm::nodes(&session).await?;
    let selected = if args.all {
        all.iter().map(|node| node.id.clone()).collect()
    } else if !args.nodes.is_empty() {
        named(&all, &args.nodes)?
    } else {
        let scan = scan(settings, &session, &args.scanner).await?;
        failures(&scan).map_err(|error| {
            error
                .context("the rollout needs every node's plan, so nothing was changed")
                .with_hint("fix the scan, or name the nodes with --node")
        })?;
        scan.reported
            .iter()
            .filter(|node| {
                scan.plan
                    .targets
                    .iter()
                    .any(|target| target.spec == merge::node_spec(node) && !target.edits.is_empty())
            })
            .map(|node| node.id.clone())
            .collect::<Vec<_>>()
    };
    if selected.is_empty() {
        output.status("Nothing to roll out: no node has host changes pending");
        return Ok(ExitStatus::Success);
    }
    let names: Vec<&str> = all
        .iter()
        .filter(|node| selected.contains(&node.id))
        .map(|node| node.hostname.as_str())
        .collect();
    output.status(&format!(
        "Rolling out to {} node(s): {} ({} at a time at most, one manager at most)",
        names.len(),
        names.join(", "),
        args.max_unavailable
    ));
    let options = driver::Options {
        command: args.command.clone(),
        limits: Limits {
            max_unavailable: usize::from(args.max_unavailable),
            allow_quorum_loss: args.allow_quorum_loss,
            node_timeout: Duration::from_secs(args.node_timeout),
        },
        poll: nodes::poll(Duration::from_secs(1)),
    };
    let done = driver::run(&session, &selected, &options, output).await?;
    match args.format {
        ListFormat::Text => output.data(&rollout::text(&done)),
        ListFormat::Json => output.data(&rollout::json(&done)),
    }
    rollout::verdict(&done)
}
