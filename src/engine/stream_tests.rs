//! The streamed apply against the simulated DTR: the journal is on disk, with the target
//! `applying`, before any PATCH of a batch reaches the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Engine;
use super::tests::SERIAL;
use crate::http::api::Api;
use crate::http::{self, TlsOptions};
use crate::keypath::KeyPath;
use crate::lock::Locks;
use crate::output::Output;
use crate::playbook::{self, RuleFilter};
use crate::secrets::Secret;
use crate::sim::{DtrOptions, SimOptions, SimUser, Simulator, generate_repositories};
use crate::site::SiteFile;
use crate::snapshot::{Snapshot, TargetState};
use crate::targets::dtr::{self, DtrClient, DtrTarget};
use crate::targets::{Target, TargetSpec};

const PASSWORD: &str = "stream-Pa55-41c9";

/// A repository whose PATCH arrived, and whether the snapshot had journaled it by then.
type Verdict = (String, Result<(), String>);

/// 260 repositories, every third not scanning on push, behind a page cap of 20 (13 pages).
fn simulator() -> Simulator {
    Simulator::start(SimOptions {
        tls: false,
        users: vec![SimUser {
            name: "admin".into(),
            password: PASSWORD.into(),
            admin: true,
        }],
        dtr: DtrOptions {
            repositories: generate_repositories(260, 3),
            max_page_size: 20,
            settings: Some(serde_json::json!({"scanningEnabled": false})),
            sync_duration: Duration::ZERO,
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("the simulator starts")
}

fn engine(sim: &Simulator, snapshots: &std::path::Path) -> Engine {
    let site = SiteFile::parse("", &snapshots.join("stigfix.toml")).expect("an empty site file");
    let rules = playbook::resolve(
        playbook::shipped().expect("the shipped playbooks"),
        Vec::new(),
        &site,
        &RuleFilter::default(),
    )
    .expect("the rules resolve");
    let client = http::client(&TlsOptions::default(), Duration::from_secs(30)).expect("client");
    let url = sim.url();
    let target: Box<dyn Target> = Box::new(DtrTarget::new(
        TargetSpec::new(dtr::KIND, url.as_str()),
        DtrClient::new(
            Api::new(client, &url, "DTR"),
            "admin",
            Secret::new(PASSWORD),
            dtr::DtrOptions {
                concurrency: 4,
                ..dtr::DtrOptions::default()
            },
            Output::plain(),
        ),
    ));
    Engine {
        targets: vec![target],
        rules,
        insecure: false,
        snapshot_dir: snapshots.to_path_buf(),
        output: Output::plain(),
        now: time::macros::datetime!(2026-11-22 10:00:00 UTC),
    }
}

/// What the snapshot on disk says when a PATCH of `repository` arrives: whether the journal
/// lists it (saved and written) and the target is `applying`.
fn journaled(snapshots: &std::path::Path, repository: &str) -> Result<(), String> {
    let list = Snapshot::list(snapshots).map_err(|error| error.message())?;
    let snapshot = list.last().ok_or("no snapshot yet")?;
    let target = &snapshot.manifest.targets[0];
    if target.state != TargetState::Applying {
        return Err(format!("the target is {}", target.state.as_str()));
    }
    let path = KeyPath::from_segments(vec![
        "repositories".into(),
        repository.into(),
        "scanOnPush".into(),
    ]);
    let written = snapshot
        .written(target)
        .map_err(|error| error.message())?
        .unwrap_or_default();
    if !written.iter().any(|item| item.path == path) {
        return Err("not in the written file".into());
    }
    let saved = snapshot.saved(target).map_err(|error| error.message())?;
    let saved: serde_json::Value = serde_json::from_slice(&saved.bytes).expect("saved JSON");
    if saved["repositories"][repository]["scanOnPush"] != serde_json::json!(false) {
        return Err(format!("its previous value is not saved: {saved}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_batch_is_journaled_before_its_patches_reach_the_server() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("snapshots");
    let sim = simulator();
    // Slow enough that PATCHes of the first pages run while later pages are read.
    sim.set_latency(Duration::from_millis(3));
    let seen: Arc<Mutex<Vec<Verdict>>> = Arc::default();
    let (record, root) = (Arc::clone(&seen), snapshots.clone());
    sim.dtr().on_patch(move |repository| {
        let verdict = journaled(&root, repository);
        record
            .lock()
            .unwrap()
            .push((repository.to_string(), verdict));
    });
    let engine = engine(&sim, &snapshots);
    let missing: Vec<String> = sim
        .dtr()
        .repositories()
        .iter()
        .filter(|repo| !repo.scan_on_push)
        .map(|repo| format!("{}/{}", repo.namespace, repo.name))
        .collect();

    let (plan, snapshot) = engine
        .apply_streaming(&Locks::default())
        .await
        .expect("the streamed apply succeeds");

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), missing.len(), "one PATCH per repository");
    for (repository, verdict) in &seen {
        assert!(
            verdict.is_ok(),
            "PATCH of {repository} arrived before its batch was journaled: {verdict:?}"
        );
    }
    let snapshot = snapshot.expect("a snapshot");
    let target = &snapshot.manifest.targets[0];
    assert_eq!(target.state, TargetState::Applied);
    let journal = std::fs::read_to_string(snapshot.dir.join(target.journal.as_ref().unwrap()))
        .expect("the journal");
    assert!(
        journal.lines().count() > 1,
        "the repositories were written in several batches:\n{journal}"
    );
    // The plan shown afterwards is the whole plan: the settings and every repository.
    let repositories = plan.targets[0]
        .edits
        .iter()
        .filter(|edit| edit.path.segments()[0] == "repositories")
        .count();
    assert_eq!(repositories, missing.len());
    assert!(plan.change_count() > repositories, "and the settings");
    assert_eq!(target.changes.len(), plan.change_count());
    assert_eq!(
        target.fingerprint_before, plan.targets[0].fingerprint,
        "the snapshot records the state the plan was made from"
    );
    assert_eq!(snapshot.manifest.plan_digest, plan.digest());
    let reloaded = Snapshot::load(&snapshots, snapshot.id()).unwrap();
    assert_eq!(reloaded.manifest.plan_digest, plan.digest());
    assert!(
        sim.dtr()
            .repositories()
            .iter()
            .all(|repo| repo.scan_on_push),
        "every repository scans on push"
    );
}
