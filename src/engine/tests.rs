//! The transaction's failure paths, with fake targets: a write in flight when a sibling fails,
//! a restore that fails, a setting another writer changed meanwhile, Ctrl-C and SIGTERM.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::Engine;
use crate::error::{ExitStatus, Result};
use crate::keypath::KeyPath;
use crate::lock::Locks;
use crate::output::Output;
use crate::plan::{Plan, TargetPlan};
use crate::snapshot::Snapshot;
use crate::targets::{
    Document, Edit, LiveState, Saved, Stop, Target, TargetKind, TargetSpec, Written,
};
use crate::values::fingerprint;

const FAKE: TargetKind = TargetKind::new("fake");

/// One transaction at a time in this test process: a signal sent to the process reaches every
/// transaction that is catching signals.
pub(super) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

type Values = BTreeMap<String, toml::Value>;

#[derive(Clone, Debug)]
struct FakeLive {
    values: Values,
    fingerprint: String,
}

impl FakeLive {
    fn new(values: Values) -> FakeLive {
        FakeLive {
            fingerprint: fingerprint(format!("{values:?}").as_bytes()),
            values,
        }
    }
}

impl Document for FakeLive {
    fn lookup(&self, path: &KeyPath) -> Option<toml::Value> {
        self.values.get(&path.to_string()).cloned()
    }
}

impl LiveState for FakeLive {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn saved(&self, _edits: &[Edit]) -> Result<Saved> {
        Ok(Saved {
            file: "fake.json".into(),
            bytes: serde_json::to_vec(&self.values).expect("values serialise"),
        })
    }
}

/// How a fake target misbehaves.
#[derive(Default)]
struct Faults {
    /// The apply writes this many edits, then fails (the rest never land).
    fail_after: Option<usize>,
    /// The restore fails.
    restore_fails: bool,
    /// Right after its writes, "another writer" sets this path to this value.
    meddle: Option<(String, toml::Value)>,
    /// The apply sends this signal to the process after its writes (as Ctrl-C or a systemd
    /// stop would), then waits until the transaction has seen it.
    signal: Option<&'static str>,
}

struct FakeTarget {
    spec: TargetSpec,
    values: Mutex<Values>,
    faults: Faults,
}

impl FakeTarget {
    fn new(name: &str, values: &[(&str, toml::Value)], faults: Faults) -> FakeTarget {
        FakeTarget {
            spec: TargetSpec::new(FAKE, format!("/fake/{name}")),
            values: Mutex::new(
                values
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.clone()))
                    .collect(),
            ),
            faults,
        }
    }

    fn values(&self) -> Values {
        self.values.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Target for FakeTarget {
    fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    async fn read(&self) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(FakeLive::new(self.values())))
    }

    async fn apply(
        &self,
        _live: &dyn LiveState,
        edits: &[Edit],
        stop: &Stop,
    ) -> Result<Box<dyn LiveState>> {
        for (index, edit) in edits.iter().enumerate() {
            if self.faults.fail_after == Some(index) {
                return Err(crate::error::Error::new(format!(
                    "{}: the write of {} failed (500)",
                    self.spec.label(),
                    edit.path
                )));
            }
            self.values
                .lock()
                .unwrap()
                .insert(edit.path.to_string(), edit.after.clone());
        }
        if let Some((path, value)) = &self.faults.meddle {
            self.values
                .lock()
                .unwrap()
                .insert(path.clone(), value.clone());
        }
        if let Some(signal) = self.faults.signal {
            std::process::Command::new("kill")
                .args([format!("-{signal}"), std::process::id().to_string()])
                .status()
                .expect("kill runs");
            for _ in 0..500 {
                if stop.is_set() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        self.read().await
    }

    async fn restore(
        &self,
        _now: &dyn LiveState,
        saved: &Saved,
        scope: &[Written],
    ) -> Result<Box<dyn LiveState>> {
        if self.faults.restore_fails {
            return Err(crate::error::Error::new(format!(
                "{}: the restore write failed (500)",
                self.spec.label()
            )));
        }
        let saved: Values = serde_json::from_slice(&saved.bytes).expect("fake saved state");
        {
            let mut values = self.values.lock().unwrap();
            for written in scope {
                let key = written.path.to_string();
                match saved.get(&key) {
                    Some(value) => values.insert(key, value.clone()),
                    None => values.remove(&key),
                };
            }
        }
        self.read().await
    }
}

fn edit(path: &str, before: Option<toml::Value>, after: toml::Value) -> Edit {
    Edit {
        path: KeyPath::parse(path).unwrap(),
        before,
        after,
        rules: vec!["DKER-EE-000000".into()],
    }
}

struct Run {
    engine: Engine,
    _dir: tempfile::TempDir,
    _serial: tokio::sync::MutexGuard<'static, ()>,
}

async fn engine(targets: Vec<FakeTarget>) -> Run {
    let serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    Run {
        _serial: serial,
        engine: Engine {
            targets: targets
                .into_iter()
                .map(|target| Box::new(target) as Box<dyn Target>)
                .collect(),
            rules: Default::default(),
            insecure: false,
            snapshot_dir: dir.path().join("snapshots"),
            output: Output::plain(),
            now: time::macros::datetime!(2026-11-22 10:00:00 UTC),
        },
        _dir: dir,
    }
}

/// A plan of `edits` per target, made against the targets as they are now.
async fn plan(engine: &Engine, edits: Vec<Vec<Edit>>) -> Plan {
    let mut targets = Vec::new();
    for (target, edits) in engine.targets.iter().zip(edits) {
        targets.push(TargetPlan {
            spec: target.spec().clone(),
            product: None,
            refusal: None,
            fingerprint: target.read().await.unwrap().fingerprint().to_string(),
            edits,
            diff: String::new(),
            actions: Vec::new(),
            notes: Vec::new(),
        });
    }
    Plan {
        created_at: "2026-11-22T10:00:00Z".into(),
        insecure: false,
        playbooks: Vec::new(),
        benchmarks: Vec::new(),
        rules_digest: "sha256:0".into(),
        targets,
        rules: Vec::new(),
    }
}

async fn fake(engine: &Engine, index: usize) -> Values {
    let target = &engine.targets[index];
    let live = target.read().await.unwrap();
    let live: &FakeLive = crate::targets::own_state(live.as_ref(), target.spec()).unwrap();
    live.values.clone()
}

/// The one snapshot's id and the state of each of its targets (read as JSON: the fake kind is
/// not a registered one, so `Snapshot::load` would refuse it).
fn snapshot(engine: &Engine) -> (String, Vec<String>) {
    let dir = std::fs::read_dir(&engine.snapshot_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.join("manifest.json").is_file())
        .expect("a snapshot");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let states = manifest["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|target| target["state"].as_str().unwrap().to_string())
        .collect();
    (manifest["id"].as_str().unwrap().to_string(), states)
}

fn values(pairs: &[(&str, toml::Value)]) -> Values {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect()
}

#[tokio::test]
async fn a_write_that_landed_when_a_sibling_failed_is_restored_with_it() {
    let run = engine(vec![
        FakeTarget::new("a", &[("x", false.into())], Faults::default()),
        FakeTarget::new(
            "b",
            &[("p", 1.into()), ("q", 1.into()), ("r", 1.into())],
            Faults {
                fail_after: Some(2),
                ..Faults::default()
            },
        ),
    ])
    .await;
    let engine = &run.engine;
    let plan = plan(
        engine,
        vec![
            vec![edit("x", Some(false.into()), true.into())],
            vec![
                edit("p", Some(1.into()), 2.into()),
                edit("q", Some(1.into()), 2.into()),
                edit("r", Some(1.into()), 2.into()),
            ],
        ],
    )
    .await;
    let error = engine
        .apply(&plan, &Locks::default(), None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), ExitStatus::Failure, "{}", error.message());
    assert!(error.message().contains("apply failed on fake /fake/b"));
    assert!(
        error.message().ends_with("Nothing is changed."),
        "{}",
        error.message()
    );
    // p and q landed before r failed: both are back, and so is the first target.
    assert_eq!(
        fake(engine, 1).await,
        values(&[("p", 1.into()), ("q", 1.into()), ("r", 1.into())])
    );
    assert_eq!(fake(engine, 0).await, values(&[("x", false.into())]));
    assert_eq!(snapshot(engine).1, ["rolled-back", "rolled-back"]);
}

#[tokio::test]
async fn a_restore_that_fails_exits_3_and_names_the_snapshot() {
    let run = engine(vec![FakeTarget::new(
        "a",
        &[("p", 1.into()), ("q", 1.into())],
        Faults {
            fail_after: Some(1),
            restore_fails: true,
            ..Faults::default()
        },
    )])
    .await;
    let engine = &run.engine;
    let plan = plan(
        engine,
        vec![vec![
            edit("p", Some(1.into()), 2.into()),
            edit("q", Some(1.into()), 2.into()),
        ]],
    )
    .await;
    let error = engine
        .apply(&plan, &Locks::default(), None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), ExitStatus::NeedsOperator);
    assert!(
        error.message().contains("could NOT be restored"),
        "{}",
        error.message()
    );
    let (id, states) = snapshot(engine);
    assert!(
        error
            .hint()
            .unwrap()
            .contains(&format!("stigfix rollback {id} --force --yes"))
    );
    assert_eq!(states, ["restore-failed"]);
}

#[tokio::test]
async fn a_setting_another_writer_changed_meanwhile_is_reported_not_overwritten() {
    let run = engine(vec![
        FakeTarget::new(
            "a",
            &[("p", 1.into()), ("q", 1.into())],
            Faults {
                meddle: Some(("q".into(), 7.into())),
                ..Faults::default()
            },
        ),
        FakeTarget::new(
            "b",
            &[("x", 1.into())],
            Faults {
                fail_after: Some(0),
                ..Faults::default()
            },
        ),
    ])
    .await;
    let engine = &run.engine;
    let plan = plan(
        engine,
        vec![
            vec![
                edit("p", Some(1.into()), 2.into()),
                edit("q", Some(1.into()), 2.into()),
            ],
            vec![edit("x", Some(1.into()), 2.into())],
        ],
    )
    .await;
    let error = engine
        .apply(&plan, &Locks::default(), None)
        .await
        .unwrap_err();
    assert_eq!(error.status(), ExitStatus::Failure);
    assert!(
        error
            .message()
            .contains("`q` was changed by another writer since (it is 7, this run wrote 2)"),
        "{}",
        error.message()
    );
    assert!(
        error.message().contains("left as they are"),
        "{}",
        error.message()
    );
    // p is ours and back; q keeps the other writer's value.
    assert_eq!(
        fake(engine, 0).await,
        values(&[("p", 1.into()), ("q", 7.into())])
    );
}

#[tokio::test]
async fn a_target_whose_write_never_landed_is_left_alone() {
    let run = engine(vec![FakeTarget::new(
        "a",
        &[("p", 1.into())],
        Faults {
            fail_after: Some(0),
            restore_fails: true,
            ..Faults::default()
        },
    )])
    .await;
    let engine = &run.engine;
    let plan = plan(engine, vec![vec![edit("p", Some(1.into()), 2.into())]]).await;
    let error = engine
        .apply(&plan, &Locks::default(), None)
        .await
        .unwrap_err();
    // Nothing of the write is live, so no restore is attempted (and its failure cannot matter).
    assert_eq!(error.status(), ExitStatus::Failure, "{}", error.message());
    assert!(
        error.message().contains("is unchanged (verified)"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn a_stale_plan_writes_nothing() {
    let run = engine(vec![FakeTarget::new(
        "a",
        &[("p", 1.into())],
        Faults::default(),
    )])
    .await;
    let engine = &run.engine;
    let plan = plan(engine, vec![vec![edit("p", Some(1.into()), 2.into())]]).await;
    engine.targets[0].read().await.unwrap();
    // Somebody changes the target after the plan.
    let target: &dyn Target = engine.targets[0].as_ref();
    let live = target.read().await.unwrap();
    target
        .apply(live.as_ref(), &[edit("p", None, 5.into())], &Stop::new())
        .await
        .unwrap();
    let error = engine
        .apply(&plan, &Locks::default(), None)
        .await
        .unwrap_err();
    assert!(
        error.message().starts_with("plan is stale"),
        "{}",
        error.message()
    );
    assert_eq!(fake(engine, 0).await, values(&[("p", 5.into())]));
    assert!(Snapshot::list(&engine.snapshot_dir).unwrap().is_empty());
}

/// Ctrl-C (SIGINT) and a systemd stop (SIGTERM) after a write: the process is not killed, the
/// write is restored, exit 1.
#[tokio::test]
async fn ctrl_c_and_sigterm_after_a_write_restore_it() {
    for signal in ["INT", "TERM"] {
        let run = engine(vec![FakeTarget::new(
            "a",
            &[("p", 1.into())],
            Faults {
                signal: Some(signal),
                ..Faults::default()
            },
        )])
        .await;
        let engine = &run.engine;
        let plan = plan(engine, vec![vec![edit("p", Some(1.into()), 2.into())]]).await;
        let error = engine
            .apply(&plan, &Locks::default(), None)
            .await
            .unwrap_err();
        assert!(
            error.message().contains("interrupted by Ctrl-C or SIGTERM"),
            "{signal}: {}",
            error.message()
        );
        assert_eq!(error.status(), ExitStatus::Failure);
        assert_eq!(
            fake(engine, 0).await,
            values(&[("p", 1.into())]),
            "{signal}"
        );
    }
}
