//! Unit tests of the DTR document, snapshots and diffs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::client::url_encode;
use super::live::{DtrLive, SavedState, ScanStatus, sort_edits};
use crate::keypath::KeyPath;
use crate::targets::{Document, Edit, LiveState};
fn live() -> DtrLive {
    let settings: Map<String, Value> = serde_json::from_str(
        r#"{"scanningEnabled": false, "createRepositoryOnPush": true, "reportAnalytics": true}"#,
    )
    .unwrap();
    let mut repositories = BTreeMap::new();
    for (name, scan) in [("a/one", false), ("a/two", true), ("b/three", false)] {
        let mut fields = Map::new();
        fields.insert("scanOnPush".into(), Value::Bool(scan));
        repositories.insert(name.to_string(), fields);
    }
    DtrLive::new(
        "https://dtr".into(),
        settings,
        ScanStatus::Off,
        repositories,
        None,
    )
}

fn path(text: &str) -> KeyPath {
    KeyPath::parse(text).unwrap()
}

#[test]
fn wildcard_repositories_expand_to_every_repository() {
    let live = live();
    let paths = live.expand(&path("repositories.*.scanOnPush"));
    assert_eq!(paths.len(), 3);
    assert_eq!(
        live.lookup(&paths[0]),
        Some(toml::Value::Boolean(false)),
        "{}",
        paths[0]
    );
    assert_eq!(
        live.lookup(&path("settings.createRepositoryOnPush")),
        Some(toml::Value::Boolean(true))
    );
    assert_eq!(live.lookup(&path("imagescan.lastDBUpdateFailed")), None);
    assert!(
        live.explain(&path("imagescan.lastDBUpdateFailed"))
            .unwrap()
            .contains("400")
    );
    assert!(
        live.writable(&path("imagescan.lastDBUpdateFailed"))
            .is_err()
    );
}

#[test]
fn snapshots_hold_previous_values_of_changed_fields_only() {
    let live = live();
    let edits = vec![
        Edit {
            path: path("settings.scanningEnabled"),
            before: Some(toml::Value::Boolean(false)),
            after: toml::Value::Boolean(true),
            rules: vec!["DKER-EE-003840".into()],
        },
        Edit {
            path: path(r#"repositories."a/one".scanOnPush"#),
            before: Some(toml::Value::Boolean(false)),
            after: toml::Value::Boolean(true),
            rules: vec!["DKER-EE-003840".into()],
        },
    ];
    let saved = live.saved(&edits).unwrap();
    let state: SavedState = serde_json::from_slice(&saved.bytes).unwrap();
    assert_eq!(state.settings.len(), 1);
    assert_eq!(state.settings["scanningEnabled"], Value::Bool(false));
    assert_eq!(state.repositories.len(), 1);
    assert_eq!(
        state.repositories["a/one"]["scanOnPush"],
        Value::Bool(false)
    );
    let diff = live.diff(&edits).unwrap();
    assert!(
        diff.contains(r#"POST /api/v0/meta/settings {"scanningEnabled":true}"#),
        "{diff}"
    );
    assert!(diff.contains("for 1 repository: a/one"), "{diff}");
    // Nothing to undo while the live state still equals the snapshot.
    assert!(live.edits_to_saved(&saved).is_empty());
}

#[test]
fn secret_settings_are_redacted_in_the_diff() {
    let edits = vec![Edit {
        path: path("settings.webTLSKey"),
        before: None,
        after: toml::Value::String("-----BEGIN PRIVATE KEY-----".into()),
        rules: vec![],
    }];
    let diff = live().diff(&edits).unwrap();
    assert!(!diff.contains("PRIVATE KEY"), "{diff}");
    assert!(diff.contains("(redacted)"), "{diff}");
}

#[test]
fn unknown_paths_are_refused() {
    let edits = vec![Edit {
        path: path("nonsense.key"),
        before: None,
        after: toml::Value::Boolean(true),
        rules: vec![],
    }];
    assert!(sort_edits(&edits).is_err());
}

#[test]
fn cursors_are_percent_encoded() {
    assert_eq!(url_encode("a b/c=="), "a%20b%2Fc%3D%3D");
}
