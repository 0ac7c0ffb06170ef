//! Snapshots: privacy, journal states, hand edits, `--last`, ids, prune decisions.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn entry() -> Entry {
    Entry {
        spec: TargetSpec::new(crate::targets::ucp::KIND, "https://ucp"),
        product: Some(Product::new("MKE", Some("3.7.3"))),
        saved: Saved {
            file: "ucp-config.toml".into(),
            bytes: b"[a]\n".to_vec(),
        },
        written: vec![],
        fingerprint_before: "sha256:1".into(),
        streamed: false,
    }
}

fn create(root: &Path, id: &str) -> Snapshot {
    Snapshot::create(
        root,
        Header {
            id: id.into(),
            created_at: "2026-11-22T10:00:00Z".into(),
            command: "apply".into(),
            plan_digest: "sha256:0".into(),
            rollback_of: None,
            insecure: false,
        },
        &[entry()],
    )
    .unwrap()
}

#[test]
fn snapshots_are_private_and_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path().join("snapshots");
    let mut snapshot = create(&root, "20261122T100000Z-000001");
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&snapshot.dir), 0o700);
    assert_eq!(mode(&snapshot.dir.join("ucp-config.toml")), 0o600);
    assert_eq!(mode(&snapshot.dir.join("manifest.json")), 0o600);

    assert!(Snapshot::last_apply(&root).is_err());
    snapshot
        .set_state(0, TargetState::Applied, Some("sha256:2".into()))
        .unwrap();
    let latest = Snapshot::last_apply(&root).unwrap();
    assert_eq!(
        latest.manifest.targets[0].fingerprint_after.as_deref(),
        Some("sha256:2")
    );
    let saved = latest.saved(&latest.manifest.targets[0]).unwrap();
    assert_eq!(saved.bytes, b"[a]\n");
    assert_eq!(
        latest.written(&latest.manifest.targets[0]).unwrap(),
        Some(vec![])
    );
}

#[test]
fn a_hand_edited_snapshot_file_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let snapshot = create(root.path(), "20261122T100000Z-000002");
    fs::write(snapshot.dir.join("ucp-config.toml"), "[a]\nb = 1\n").unwrap();
    let error = snapshot.saved(&snapshot.manifest.targets[0]).unwrap_err();
    assert!(
        error
            .message()
            .contains("was changed after stigfix wrote it"),
        "{}",
        error.message()
    );
}

#[test]
fn a_rolled_back_last_apply_says_what_a_second_rollback_would_do() {
    let root = tempfile::tempdir().unwrap();
    let mut snapshot = create(root.path(), "20261122T100000Z-000003");
    snapshot.manifest.targets[0].state = TargetState::RolledBack;
    snapshot.manifest.targets[0].rolled_back_by = Some("R".into());
    snapshot.save_manifest().unwrap();
    let error = Snapshot::last_apply(root.path()).unwrap_err();
    assert!(
        error
            .message()
            .contains("already been rolled back (by snapshot R)")
    );
    assert!(
        error
            .hint()
            .unwrap()
            .contains("`stigfix rollback R` would undo")
    );
}

/// A snapshot in memory: `command`, its creation day (November 2026) and target states.
fn listed(id: &str, command: &str, day: u8, targets: &[(&str, TargetState)]) -> Snapshot {
    Snapshot {
        dir: PathBuf::from(id),
        manifest: Manifest {
            format_version: FORMAT_VERSION,
            id: id.into(),
            created_at: format!("2026-11-{day:02}T10:00:00Z"),
            stigfix_version: "0".into(),
            command: command.into(),
            plan_digest: "sha256:0".into(),
            rollback_of: None,
            insecure: false,
            targets: targets
                .iter()
                .map(|(endpoint, state)| ManifestTarget {
                    kind: crate::targets::ucp::KIND,
                    endpoint: (*endpoint).into(),
                    product: None,
                    file: "f".into(),
                    file_sha256: None,
                    written_file: None,
                    written_sha256: None,
                    journal: None,
                    journal_sha256: None,
                    fingerprint_before: "sha256:1".into(),
                    fingerprint_after: None,
                    state: *state,
                    changes: vec![],
                    rolled_back_by: None,
                })
                .collect(),
        },
    }
}

fn removed(snapshots: &[Snapshot], keep: Option<usize>, days: Option<u64>) -> Vec<String> {
    let rule = PruneRule {
        keep,
        older_than_days: days,
        now: time::macros::datetime!(2026-11-30 10:00 UTC),
    };
    prune_decisions(snapshots, &rule)
        .into_iter()
        .filter(|decision| decision.remove)
        .map(|decision| decision.id)
        .collect()
}

#[test]
fn prune_keeps_the_way_back_and_what_an_operator_needs() {
    use TargetState::*;
    let snapshots = [
        listed("1", "apply", 1, &[("https://a", Applied)]),
        listed("2", "apply", 2, &[("https://a", RestoreFailed)]),
        listed("3", "apply", 3, &[("https://a", Applying)]),
        listed("4", "apply", 4, &[("https://b", Applied)]),
        listed("5", "apply", 5, &[("https://a", Applied)]),
        listed("6", "apply", 6, &[("https://a", RolledBack)]),
        listed("7", "rollback", 7, &[("https://a", Applied)]),
        listed("8", "apply", 8, &[("https://a", Saved)]),
    ];
    // 2 and 3 need an operator; 4 is the way back on b, 5 on a (6 was rolled back).
    assert_eq!(removed(&snapshots, Some(0), None), ["1", "6", "7", "8"]);
    assert_eq!(removed(&snapshots, Some(2), None), ["1", "6"]);
    let decisions = prune_decisions(
        &snapshots,
        &PruneRule {
            keep: Some(0),
            older_than_days: None,
            now: time::OffsetDateTime::UNIX_EPOCH,
        },
    );
    assert_eq!(
        decisions[1].reason,
        "ucp https://a is `restore-failed`: an operator may need this snapshot (`stigfix rollback 2 --force`)"
    );
    assert_eq!(
        decisions[4].reason,
        "the newest change in force on ucp https://a: rolling it back needs this snapshot"
    );
    assert_eq!(decisions[0].reason, "older than the 0 newest");
}

#[test]
fn prune_by_age_and_by_count() {
    use TargetState::*;
    let snapshots = [
        listed("1", "apply", 1, &[("https://a", RolledBack)]),
        listed("2", "rollback", 10, &[("https://a", Applied)]),
        listed("3", "apply", 20, &[("https://a", RolledBack)]),
        listed("4", "apply", 29, &[("https://a", Saved)]),
    ];
    // On the 30th: 1 and 2 are more than 15 days old, 3 is 10 days old.
    assert_eq!(removed(&snapshots, None, Some(15)), ["1", "2"]);
    assert_eq!(removed(&snapshots, None, Some(0)), ["1", "2", "3", "4"]);
    assert!(removed(&snapshots, None, Some(u64::MAX)).is_empty());
    // Both: older than 15 days and beyond the 3 newest.
    assert_eq!(removed(&snapshots, Some(3), Some(15)), ["1"]);
}

#[test]
fn ids_sort_by_time() {
    let a = new_id();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let b = new_id();
    assert!(a < b, "{a} {b}");
    assert_eq!(a.len(), "20261122T100000.123456Z-1a2b3c".len());
}

fn streamed(root: &Path) -> Snapshot {
    let entry = Entry {
        spec: TargetSpec::new(crate::targets::dtr::KIND, "https://dtr"),
        product: None,
        saved: Saved {
            file: "dtr-state.json".into(),
            bytes: br#"{"settings": {}, "repositories": {}}"#.to_vec(),
        },
        written: vec![],
        fingerprint_before: "sha256:head".into(),
        streamed: true,
    };
    let header = Header {
        id: "20261122T100000Z-000009".into(),
        created_at: "2026-11-22T10:00:00Z".into(),
        command: "apply".into(),
        plan_digest: "pending".into(),
        rollback_of: None,
        insecure: false,
    };
    Snapshot::create(root, header, &[entry]).unwrap()
}

/// One batch: `repository` had `scanOnPush` false, the batch sets it true.
fn batch(snapshot: &Snapshot, repository: &str) {
    let saved = Saved {
        file: "dtr-state.json".into(),
        bytes: serde_json::to_vec(&serde_json::json!({
            "repositories": {repository: {"scanOnPush": false}}
        }))
        .unwrap(),
    };
    let written = Written {
        path: crate::keypath::KeyPath::from_segments(vec![
            "repositories".into(),
            repository.into(),
            "scanOnPush".into(),
        ]),
        before: Some(toml::Value::Boolean(false)),
        after: Some(toml::Value::Boolean(true)),
    };
    snapshot
        .journal_file(0)
        .expect("a streamed target has a journal")
        .append(&saved, &[written])
        .unwrap();
}

fn repositories(snapshot: &Snapshot) -> (Vec<String>, serde_json::Value) {
    let target = &snapshot.manifest.targets[0];
    let written = snapshot.written(target).unwrap().unwrap();
    let saved = snapshot.saved(target).unwrap();
    (
        written.iter().map(|item| item.path.to_string()).collect(),
        serde_json::from_slice(&saved.bytes).unwrap(),
    )
}

#[test]
fn a_streamed_target_reads_back_every_batch_appended() {
    let root = tempfile::tempdir().unwrap();
    let mut snapshot = streamed(root.path());
    let journal = snapshot.dir.join("dtr-state.json.journal");
    let mode = fs::metadata(&journal).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(repositories(&snapshot).0, Vec::<String>::new());
    batch(&snapshot, "a/one");
    batch(&snapshot, "b/two");
    // Loaded afresh (as `rollback --last` after a SIGKILL would), both batches are there, and
    // the manifest as loaded lists them.
    let loaded = Snapshot::load(root.path(), snapshot.id()).unwrap();
    assert_eq!(loaded.manifest.targets[0].changes.len(), 2);
    let (written, saved) = repositories(&loaded);
    assert_eq!(
        written,
        [
            "repositories.\"a/one\".scanOnPush",
            "repositories.\"b/two\".scanOnPush"
        ]
    );
    assert_eq!(
        saved,
        serde_json::json!({
            "settings": {},
            "repositories": {"a/one": {"scanOnPush": false}, "b/two": {"scanOnPush": false}}
        })
    );
    // Sealed: the manifest lists every path and the journal's SHA-256.
    let all = snapshot
        .written(&snapshot.manifest.targets[0])
        .unwrap()
        .unwrap();
    snapshot
        .seal_journal(0, Some("sha256:whole".into()), &all)
        .unwrap();
    let loaded = Snapshot::load(root.path(), snapshot.id()).unwrap();
    let target = &loaded.manifest.targets[0];
    assert_eq!(target.changes.len(), 2);
    assert_eq!(target.fingerprint_before, "sha256:whole");
    assert!(target.journal_sha256.is_some());
    assert_eq!(repositories(&loaded).0.len(), 2);
}

#[test]
fn an_incomplete_last_line_is_a_batch_never_written() {
    let root = tempfile::tempdir().unwrap();
    let snapshot = streamed(root.path());
    batch(&snapshot, "a/one");
    // The process died while appending the second batch: its PATCHes were never sent.
    let journal = snapshot.dir.join("dtr-state.json.journal");
    let mut file = OpenOptions::new().append(true).open(&journal).unwrap();
    file.write_all(b"sha256:0123 {\"saved\": {\"repositories\"")
        .unwrap();
    assert_eq!(
        repositories(&snapshot).0,
        ["repositories.\"a/one\".scanOnPush"]
    );
}

#[test]
fn an_edited_or_shortened_journal_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let mut snapshot = streamed(root.path());
    batch(&snapshot, "a/one");
    batch(&snapshot, "b/two");
    let journal = snapshot.dir.join("dtr-state.json.journal");
    let original = fs::read_to_string(&journal).unwrap();
    let refused = |snapshot: &Snapshot| {
        let error = snapshot.written(&snapshot.manifest.targets[0]).unwrap_err();
        assert!(
            error
                .message()
                .contains("was changed after stigfix wrote it"),
            "{}",
            error.message()
        );
    };
    // A value changed in a line: its checksum no longer matches.
    fs::write(&journal, original.replacen("false", "true", 1)).unwrap();
    refused(&snapshot);
    // A whole line removed once the journal is sealed: the journal's SHA-256 no longer matches.
    fs::write(&journal, &original).unwrap();
    let all = snapshot
        .written(&snapshot.manifest.targets[0])
        .unwrap()
        .unwrap();
    snapshot.seal_journal(0, None, &all).unwrap();
    let first = original.lines().next().unwrap();
    fs::write(&journal, format!("{first}\n")).unwrap();
    refused(&snapshot);
}
