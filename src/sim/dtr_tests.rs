//! Tests of the DTR/MSR part of the simulator, over HTTP and HTTPS with a real client. They
//! only contact 127.0.0.1.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::dtr::{base64_decode, is_tar, multipart_boundary, parse_multipart, percent_decode};
use super::tests::{client, error_message};
use super::{
    DtrHandle, DtrOptions, SimOptions, SimRepo, SimTag, SimUser, SimVisibility, Simulator,
    generate_repositories,
};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "simulator-password";
const SETTINGS: &str = "/api/v0/meta/settings";
const STATUS: &str = "/api/v0/imagescan/status";
const UPLOAD: &str = "/api/v0/imagescan/scan/update";

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Json {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn code(&self) -> String {
        error_message(&self.json()).0.to_owned()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_owned())
    }
}

async fn send(
    client: &reqwest::Client,
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    auth: Auth<'_>,
    body: Option<(&str, Vec<u8>)>,
) -> reqwest::Result<Reply> {
    let mut request = client.request(method, format!("{}{path}", sim.url()));
    request = match auth {
        Auth::None => request,
        Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
        Auth::Bearer(token) => request.bearer_auth(token),
    };
    if let Some((content_type, bytes)) = body {
        request = request.header("content-type", content_type).body(bytes);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await?;
    Ok(Reply {
        status,
        headers,
        text,
    })
}

const AS_ADMIN: Auth<'static> = Auth::Basic(ADMIN, ADMIN_PASSWORD);

async fn get(client: &reqwest::Client, sim: &Simulator, path: &str, auth: Auth<'_>) -> Reply {
    send(client, sim, reqwest::Method::GET, path, auth, None)
        .await
        .expect("GET")
}

async fn post_json(client: &reqwest::Client, sim: &Simulator, path: &str, body: &str) -> Reply {
    let body = Some(("application/json", body.as_bytes().to_vec()));
    send(client, sim, reqwest::Method::POST, path, AS_ADMIN, body)
        .await
        .expect("POST")
}

async fn patch(
    client: &reqwest::Client,
    sim: &Simulator,
    path: &str,
    body: &Json,
) -> reqwest::Result<Reply> {
    let body = Some(("application/json", body.to_string().into_bytes()));
    send(client, sim, reqwest::Method::PATCH, path, AS_ADMIN, body).await
}

/// Polls the scan status with a short backoff until it is not 403; returns the number of
/// 403 answers seen and the final reply.
async fn wait_for_status(client: &reqwest::Client, sim: &Simulator) -> (usize, Reply) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut updating = 0;
    loop {
        let reply = get(client, sim, STATUS, AS_ADMIN).await;
        if reply.status != 403 {
            return (updating, reply);
        }
        assert_eq!(reply.code(), "DB_UPDATE_IN_PROGRESS");
        updating += 1;
        assert!(Instant::now() < deadline, "still updating");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn two_users() -> Vec<SimUser> {
    vec![
        SimUser {
            name: ADMIN.to_owned(),
            password: ADMIN_PASSWORD.to_owned(),
            admin: true,
        },
        SimUser {
            name: "alice".to_owned(),
            password: "alice-pw".to_owned(),
            admin: false,
        },
    ]
}

/// A minimal POSIX tar archive holding one file.
fn tar_archive(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    header[136..148].copy_from_slice(b"14500000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut archive = header.to_vec();
    archive.extend_from_slice(content);
    archive.resize(archive.len().div_ceil(512) * 512 + 1024, 0);
    archive
}

/// A multipart/form-data body as `curl -F name=@file` sends it.
fn form(boundary: &str, name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
         filename=\"cve.tar\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

async fn upload(
    client: &reqwest::Client,
    sim: &Simulator,
    query: &str,
    name: &str,
    data: &[u8],
) -> Reply {
    let boundary = "------------------------c0ffee1234567890";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let token = bearer(client, sim, ADMIN, ADMIN_PASSWORD).await;
    send(
        client,
        sim,
        reqwest::Method::PUT,
        &format!("{UPLOAD}{query}"),
        Auth::Bearer(&token),
        Some((&content_type, form(boundary, name, data))),
    )
    .await
    .expect("PUT")
}

async fn bearer(client: &reqwest::Client, sim: &Simulator, user: &str, password: &str) -> String {
    let reply = get(client, sim, "/auth/token", Auth::Basic(user, password)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn basic_and_bearer_auth_roles_and_routing() {
    let sim = Simulator::start(SimOptions {
        users: two_users(),
        dtr: DtrOptions {
            repositories: generate_repositories(3, 0),
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);

    // Basic auth.
    let reply = get(&client, &sim, SETTINGS, AS_ADMIN).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["reportAnalytics"], true);

    // Bearer token from /auth/token (a GET: not a write).
    let reply = get(
        &client,
        &sim,
        "/auth/token?service=dtr&scope=registry:catalog:*",
        AS_ADMIN,
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    let token = body["token"].as_str().expect("token");
    assert_eq!(body["access_token"], token);
    assert_eq!(token.split('.').count(), 3, "JWT-shaped: {token}");
    assert_eq!(body["expires_in"], 3600);
    let issued = body["issued_at"].as_str().expect("issued_at");
    time::OffsetDateTime::parse(issued, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    let reply = get(&client, &sim, SETTINGS, Auth::Bearer(token)).await;
    assert_eq!(reply.status, 200);
    let info = get(&client, &sim, "/basic_info", Auth::Bearer(token))
        .await
        .json();
    assert_eq!(info["CurrentVersion"], "2.9.16");
    assert_eq!(info["User"]["name"], ADMIN);
    assert_eq!(info["IsAdmin"], true);
    assert_eq!(info["AuthnMethod"], "Token");

    // Bad credentials.
    for auth in [
        Auth::Basic(ADMIN, "wrong"),
        Auth::Basic("nobody", ADMIN_PASSWORD),
        Auth::Bearer("not-a-token"),
        Auth::None,
    ] {
        let reply = get(&client, &sim, SETTINGS, auth).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.code(), "NOT_AUTHENTICATED");
    }
    let reply = get(&client, &sim, "/auth/token", Auth::Basic(ADMIN, "wrong")).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code(), "NOT_AUTHENTICATED");
    // The token service wants a password, not a token.
    let reply = get(&client, &sim, "/auth/token", Auth::Bearer(token)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        get(&client, &sim, "/basic_info", Auth::None).await.status,
        401
    );
    // A UCP login token is no DTR credential.
    assert_eq!(
        get(&client, &sim, "/api/v0/admin/version", Auth::Bearer("x"))
            .await
            .status,
        401
    );

    // A non-admin may list repositories but not touch settings or scanning.
    let alice = Auth::Basic("alice", "alice-pw");
    let reply = get(&client, &sim, "/api/v0/repositories", alice).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json()["repositories"].as_array().map(Vec::len),
        Some(3)
    );
    for path in [SETTINGS, STATUS] {
        let reply = get(&client, &sim, path, alice).await;
        assert_eq!(reply.status, 403, "{path}");
        assert_eq!(reply.code(), "NOT_AUTHORIZED");
    }
    let alice_token = bearer(&client, &sim, "alice", "alice-pw").await;
    let reply = send(
        &client,
        &sim,
        reqwest::Method::PATCH,
        "/api/v0/repositories/team-0/app-0000",
        Auth::Bearer(&alice_token),
        Some(("application/json", br#"{"scanOnPush":false}"#.to_vec())),
    )
    .await
    .expect("PATCH");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.code(), "NOT_AUTHORIZED");
    let reply = send(
        &client,
        &sim,
        reqwest::Method::POST,
        SETTINGS,
        alice,
        Some(("application/json", br#"{"reportAnalytics":false}"#.to_vec())),
    )
    .await
    .expect("POST");
    assert_eq!(reply.status, 403);
    assert_eq!(sim.dtr().settings()["reportAnalytics"], true);
    assert!(
        sim.dtr()
            .repository("team-0", "app-0000")
            .expect("repo")
            .scan_on_push
    );
    let info = get(&client, &sim, "/basic_info", alice).await.json();
    assert_eq!(info["IsAdmin"], false);
    assert_eq!(info["AuthnMethod"], "BasicAuth");

    // Version, features, routing.
    let reply = get(&client, &sim, "/api/v0/admin/version", alice).await;
    assert_eq!(reply.json(), json!({ "version": "2.9.16" }));
    let features = get(&client, &sim, "/api/v0/meta/features", AS_ADMIN)
        .await
        .json();
    assert_eq!(features["scanningEnabled"], false);
    assert_eq!(features["scanningLicensed"], true);
    let reply = get(&client, &sim, "/api/v0/nothing/here?x=1", AS_ADMIN).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "NOT_FOUND");
    let reply = send(
        &client,
        &sim,
        reqwest::Method::DELETE,
        SETTINGS,
        AS_ADMIN,
        None,
    )
    .await
    .expect("DELETE");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.code(), "METHOD_NOT_ALLOWED");
    // UCP routes are still there on the same URL.
    assert_eq!(get(&client, &sim, "/_ping", Auth::None).await.text, "OK");
    // PATCH, POST and DELETE count as writes; the token GETs do not.
    assert_eq!(sim.write_count(), 3);
    assert_eq!(sim.dtr().patch_count(), 1);
    assert_eq!(sim.dtr().settings_writes(), 1);
}

#[tokio::test]
async fn bearer_tokens_expire() {
    let sim = Simulator::start(SimOptions {
        token_ttl: Duration::from_millis(400),
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    let token = bearer(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        get(&client, &sim, SETTINGS, Auth::Bearer(&token))
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let reply = get(&client, &sim, SETTINGS, Auth::Bearer(&token)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.code(), "NOT_AUTHENTICATED");
    let token = bearer(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    sim.dtr().expire_tokens();
    assert_eq!(
        get(&client, &sim, SETTINGS, Auth::Bearer(&token))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn settings_defaults_partial_post_and_validation_over_tls() {
    let sim = Simulator::start(SimOptions {
        tls: true,
        ..SimOptions::default()
    })
    .expect("start");
    assert!(sim.url().starts_with("https://"));
    let client = client(&sim);
    let dtr = sim.dtr();
    let host = sim.url().trim_start_matches("https://").to_owned();

    let before = get(&client, &sim, SETTINGS, AS_ADMIN).await;
    assert_eq!(before.status, 200);
    assert_eq!(
        before.header("content-type").as_deref(),
        Some("application/json")
    );
    let before = before.json();
    assert_eq!(
        before,
        json!({
            "dtrHost": host,
            "sso": false,
            "createRepositoryOnPush": false,
            "replicaSettings": {
                "5e1f0a2b3c4d": { "HTTPPort": 80, "HTTPSPort": 443, "node": "sim-node-1" }
            },
            "httpProxy": "",
            "httpsProxy": "",
            "noProxy": "",
            "disableUpgrades": false,
            "reportAnalytics": true,
            "anonymizeAnalytics": false,
            "disableBackupWarning": false,
            "logProtocol": "internal",
            "logHost": "",
            "logLevel": "info",
            "webTLSCert": "",
            "webTLSCA": "",
            "replicaID": "5e1f0a2b3c4d",
            "scanningEnabled": false,
            "scanningSyncOnline": true,
            "scanningEnableAutoRecheck": false,
            "jobHistoryToKeep": 10,
            "storageVolume": "",
            "nfsHost": "",
            "nfsPath": "",
        })
    );
    assert_eq!(dtr.settings(), before);

    // A partial update changes only the given fields and answers 202 with every field.
    let reply = post_json(
        &client,
        &sim,
        SETTINGS,
        r#"{"reportAnalytics": false, "logLevel": "debug", "webTLSKey": "-----BEGIN KEY-----"}"#,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let mut expected = before.clone();
    expected["reportAnalytics"] = json!(false);
    expected["logLevel"] = json!("debug");
    assert_eq!(reply.json(), expected);
    assert!(!reply.text.contains("webTLSKey"));
    let after = get(&client, &sim, SETTINGS, AS_ADMIN).await;
    assert_eq!(after.json(), expected);
    assert!(!after.text.contains("webTLSKey"));
    assert_eq!(dtr.web_tls_key().as_deref(), Some("-----BEGIN KEY-----"));

    // Rejected bodies change nothing.
    let cases = [
        (
            r#"{"createRepositoryOnPush": "false"}"#,
            "INVALID_SETTINGS",
            "createRepositoryOnPush: expected boolean, found string",
        ),
        (
            r#"{"jobHistoryToKeep": -1}"#,
            "INVALID_SETTINGS",
            "jobHistoryToKeep: expected non-negative integer, found negative integer",
        ),
        (
            r#"{"reportAnalytics": false, "reportAnalitycs": false}"#,
            "INVALID_SETTINGS",
            "unknown setting: reportAnalitycs",
        ),
        (
            r#"{"replicaID": "x"}"#,
            "INVALID_SETTINGS",
            "replicaID is read-only",
        ),
        (r#"{"reportAnalytics": fal"#, "INVALID_JSON", "invalid JSON"),
        ("[]", "INVALID_JSON", "expected a JSON object, found array"),
    ];
    for (body, code, message) in cases {
        let reply = post_json(&client, &sim, SETTINGS, body).await;
        assert_eq!(reply.status, 400, "{body}");
        let json = reply.json();
        let (got_code, got_message) = error_message(&json);
        assert_eq!(got_code, code, "{body}");
        assert!(got_message.starts_with(message), "{got_message}");
    }
    assert_eq!(dtr.settings(), expected);

    // Faults.
    dtr.fail_next_settings_write();
    let reply = post_json(&client, &sim, SETTINGS, r#"{"sso": true}"#).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.code(), "INTERNAL_ERROR");
    dtr.ignore_next_settings_write();
    let reply = post_json(&client, &sim, SETTINGS, r#"{"sso": true}"#).await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.json()["sso"], true);
    assert_eq!(dtr.settings(), expected);
    dtr.malformed_next_read();
    let reply = get(&client, &sim, SETTINGS, AS_ADMIN).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_str::<Json>(&reply.text).is_err());
    assert_eq!(
        get(&client, &sim, SETTINGS, AS_ADMIN).await.json(),
        expected
    );

    // The backdoor changes settings without side effects.
    dtr.set_settings(json!({ "scanningEnabled": true, "createRepositoryOnPush": true }));
    assert_eq!(
        get(&client, &sim, SETTINGS, AS_ADMIN).await.json()["createRepositoryOnPush"],
        true
    );
    assert!(!dtr.scan_status().updating);

    assert_eq!(dtr.settings_writes(), 1 + cases.len() + 2);
    assert_eq!(sim.write_count(), 1 + cases.len() + 2);
}

#[tokio::test]
async fn enabling_scanning_syncs_online() {
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let client = client(&sim);
    let dtr = sim.dtr();

    let reply = get(&client, &sim, STATUS, AS_ADMIN).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "SCANNING_NOT_ENABLED");

    let reply = post_json(&client, &sim, SETTINGS, r#"{"scanningEnabled": true}"#).await;
    assert_eq!(reply.status, 202);
    assert!(dtr.scan_status().updating);
    let (updating, reply) = wait_for_status(&client, &sim).await;
    assert!(updating >= 1, "a 403 first");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["lastDBUpdateFailed"], false);
    assert_eq!(body["lastVulnOverridesDBUpdateFailed"], false);
    assert_eq!(body["dbVersion"], 1);
    assert_eq!(body["scanningSyncOnline"], true);
    assert_eq!(body["state"], "idle");
    assert!(body["dbUpdatedAt"].is_string());
    let status = dtr.scan_status();
    assert!(status.scanning_enabled && !status.updating && !status.last_db_update_failed);

    // Re-posting the same values starts nothing; switching to offline and back does.
    post_json(&client, &sim, SETTINGS, r#"{"scanningEnabled": true}"#).await;
    assert_eq!(get(&client, &sim, STATUS, AS_ADMIN).await.status, 200);
    post_json(&client, &sim, SETTINGS, r#"{"scanningSyncOnline": false}"#).await;
    assert_eq!(get(&client, &sim, STATUS, AS_ADMIN).await.status, 200);
    dtr.set_online_sync_reachable(false);
    post_json(&client, &sim, SETTINGS, r#"{"scanningSyncOnline": true}"#).await;
    let (updating, reply) = wait_for_status(&client, &sim).await;
    assert!(updating >= 1);
    assert_eq!(reply.json()["lastDBUpdateFailed"], true);
    assert_eq!(reply.json()["dbVersion"], 1);

    // A client timeout can be provoked.
    dtr.status_always_updating(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&client, &sim, STATUS, AS_ADMIN).await.status, 403);
    dtr.status_always_updating(false);
    assert_eq!(get(&client, &sim, STATUS, AS_ADMIN).await.status, 200);
}

#[tokio::test]
async fn air_gapped_sync_fails() {
    let sim = Simulator::start(SimOptions {
        dtr: DtrOptions {
            online_sync_reachable: false,
            sync_duration: Duration::from_millis(300),
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    let reply = post_json(&client, &sim, SETTINGS, r#"{"scanningEnabled": true}"#).await;
    assert_eq!(reply.status, 202);
    let (updating, reply) = wait_for_status(&client, &sim).await;
    assert!(updating >= 1);
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["lastDBUpdateFailed"], true);
    assert_eq!(body["lastVulnOverridesDBUpdateFailed"], true);
    assert_eq!(body["dbVersion"], 0);
    assert_eq!(body["dbUpdatedAt"], Json::Null);
    assert!(sim.dtr().scan_status().last_db_update_failed);
}

#[tokio::test]
async fn offline_upload_of_a_tar() {
    let sim = Simulator::start(SimOptions {
        dtr: DtrOptions {
            settings: Some(json!({ "scanningSyncOnline": false })),
            settings_post_status: 200,
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    let dtr = sim.dtr();
    let tar = tar_archive("cve.db", b"not really a database\n");

    let reply = upload(&client, &sim, "?online=false", "upload", &tar).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "SCANNING_NOT_ENABLED");

    // Offline mode: enabling scanning starts no sync; no database has ever been loaded.
    let reply = post_json(&client, &sim, SETTINGS, r#"{"scanningEnabled": true}"#).await;
    assert_eq!(reply.status, 200);
    let reply = get(&client, &sim, STATUS, AS_ADMIN).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["lastDBUpdateFailed"], true);
    assert_eq!(reply.json()["scanningSyncOnline"], false);

    let rejected = [
        (
            "?online=false",
            "upload",
            b"plain text, no tar".repeat(40),
            "INVALID_CVE_DATABASE",
        ),
        ("?online=false", "file", tar.clone(), "INVALID_FORM"),
        ("?online=true", "upload", tar.clone(), "INVALID_PARAMETER"),
        ("", "upload", tar.clone(), "INVALID_PARAMETER"),
    ];
    for (query, name, data, code) in &rejected {
        let reply = upload(&client, &sim, query, name, data).await;
        assert_eq!(reply.status, 400, "{query} {name}");
        assert_eq!(&reply.code(), code);
    }
    // Not multipart at all.
    let reply = send(
        &client,
        &sim,
        reqwest::Method::PUT,
        &format!("{UPLOAD}?online=false"),
        AS_ADMIN,
        Some(("application/x-tar", tar.clone())),
    )
    .await
    .expect("PUT");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "INVALID_FORM");
    assert_eq!(dtr.uploads(), 0);

    let reply = upload(&client, &sim, "?online=false", "upload", &tar).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(reply.json(), json!({}));
    assert_eq!(dtr.uploads(), 1);
    let (updating, reply) = wait_for_status(&client, &sim).await;
    assert!(updating >= 1);
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["lastDBUpdateFailed"], false);
    assert_eq!(body["lastVulnOverridesDBUpdateFailed"], false);
    assert_eq!(body["dbVersion"], 1);
    let features = get(&client, &sim, "/api/v0/meta/features", AS_ADMIN)
        .await
        .json();
    assert_eq!(features["db_version"], 1);
    assert_eq!(features["scanningEnabled"], true);
}

#[tokio::test]
async fn paging_returns_every_repository_once() {
    let total = 257;
    let sim = Simulator::start(SimOptions {
        dtr: DtrOptions {
            repositories: generate_repositories(total, 7),
            max_page_size: 100,
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v0/repositories?pageSize=500&count=true".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&pageStart={c}"));
        }
        let reply = get(&client, &sim, &path, AS_ADMIN).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-resource-count"), Some(total.to_string()));
        let repos = reply.json()["repositories"]
            .as_array()
            .expect("array")
            .clone();
        sizes.push(repos.len());
        for repo in &repos {
            let ns = repo["namespace"].as_str().expect("namespace");
            let name = repo["name"].as_str().expect("name");
            seen.push(format!("{ns}/{name}"));
            assert_eq!(repo["namespaceType"], "organization");
            assert!(repo["id"].as_str().is_some_and(|id| id.len() == 36));
            assert!(repo.get("longDescription").is_none());
        }
        match reply.header("x-next-page-start") {
            Some(next) => {
                assert!(!next.is_empty());
                assert!(
                    next.parse::<u64>().is_err(),
                    "cursor is not an offset: {next}"
                );
                assert!(!next.contains("app-"), "cursor is opaque: {next}");
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(sizes, [100, 100, 57]);
    let expected: Vec<String> = sim
        .dtr()
        .repositories()
        .iter()
        .map(|r| format!("{}/{}", r.namespace, r.name))
        .collect();
    assert_eq!(seen, expected);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), total);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| {
        let split = |s: &String| {
            let (ns, name) = s.split_once('/').expect("slash");
            (ns.to_owned(), name.to_owned())
        };
        split(a).cmp(&split(b))
    });
    assert_eq!(seen, sorted);
    assert_eq!(
        sim.dtr()
            .repositories()
            .iter()
            .filter(|r| !r.scan_on_push)
            .count(),
        total / 7
    );

    // Defaults: 10 per page, no count header without count=true.
    let reply = get(&client, &sim, "/api/v0/repositories", AS_ADMIN).await;
    assert_eq!(
        reply.json()["repositories"].as_array().map(Vec::len),
        Some(10)
    );
    assert!(reply.header("x-resource-count").is_none());
    assert!(reply.header("x-next-page-start").is_some());

    for bad in ["12", "zz", "6e6f7065"] {
        let reply = get(
            &client,
            &sim,
            &format!("/api/v0/repositories?pageStart={bad}"),
            AS_ADMIN,
        )
        .await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(reply.code(), "INVALID_PAGE_START");
    }
    let reply = get(&client, &sim, "/api/v0/repositories?pageSize=0", AS_ADMIN).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), "INVALID_PAGE_SIZE");

    // Namespace-scoped list.
    let mut names = Vec::new();
    let mut path = "/api/v0/repositories/team-1?pageSize=40&count=true".to_owned();
    loop {
        let reply = get(&client, &sim, &path, AS_ADMIN).await;
        assert_eq!(reply.header("x-resource-count").as_deref(), Some("100"));
        for repo in reply.json()["repositories"].as_array().expect("array") {
            assert_eq!(repo["namespace"], "team-1");
            names.push(repo["name"].as_str().expect("name").to_owned());
        }
        match reply.header("x-next-page-start") {
            Some(next) => {
                path =
                    format!("/api/v0/repositories/team-1?pageSize=40&count=true&pageStart={next}")
            }
            None => break,
        }
    }
    assert_eq!(names.len(), 100);
    assert_eq!(names.first().map(String::as_str), Some("app-0100"));

    // Single repository and tags.
    let reply = get(
        &client,
        &sim,
        "/api/v0/repositories/team-0/app-0002",
        AS_ADMIN,
    )
    .await;
    let repo = reply.json();
    assert_eq!(repo["longDescription"], "");
    assert_eq!(repo["scanOnPush"], true);
    assert_eq!(repo["pushes"], 3);
    let reply = get(&client, &sim, "/api/v0/repositories/team-0/nope", AS_ADMIN).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "NO_SUCH_REPOSITORY");

    let reply = get(
        &client,
        &sim,
        "/api/v0/repositories/team-0/app-0002/tags?pageSize=2",
        AS_ADMIN,
    )
    .await;
    let tags = reply.json();
    let tags = tags.as_array().expect("bare array");
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0]["name"], "1.0");
    assert_eq!(tags[1]["name"], "1.1");
    for tag in tags {
        assert!(tag["digest"].as_str().is_some_and(|d| d.len() == 71));
        assert!(tag["inNotary"].is_boolean());
        assert_eq!(tag["hashMismatch"], false);
    }
    let next = reply.header("x-next-page-start").expect("more tags");
    let reply = get(
        &client,
        &sim,
        &format!("/api/v0/repositories/team-0/app-0002/tags?pageSize=2&pageStart={next}"),
        AS_ADMIN,
    )
    .await;
    assert_eq!(reply.json()[0]["name"], "latest");
    assert_eq!(reply.json().as_array().map(Vec::len), Some(1));
    assert!(reply.header("x-next-page-start").is_none());

    sim.dtr().malformed_next_read();
    let reply = get(&client, &sim, "/api/v0/repositories?pageSize=5", AS_ADMIN).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_str::<Json>(&reply.text).is_err());
}

#[tokio::test]
async fn patch_repositories_and_faults() {
    let mut repo = SimRepo::new("eng", "web");
    repo.short_description = "the web app".to_owned();
    repo.tags.push(SimTag {
        name: "v1".to_owned(),
        in_notary: true,
    });
    let sim = Simulator::start(SimOptions {
        dtr: DtrOptions {
            repositories: vec![repo.clone(), SimRepo::new("eng", "api")],
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    let dtr = sim.dtr();
    let path = "/api/v0/repositories/eng/web";

    let reply = patch(&client, &sim, path, &json!({ "scanOnPush": true }))
        .await
        .expect("PATCH");
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["scanOnPush"], true);
    assert_eq!(body["shortDescription"], "the web app");
    assert_eq!(body["visibility"], "private");
    let mut expected = repo.clone();
    expected.scan_on_push = true;
    assert_eq!(dtr.repository("eng", "web"), Some(expected.clone()));

    let reply = patch(
        &client,
        &sim,
        path,
        &json!({ "immutableTags": true, "visibility": "public", "tagLimit": 5,
                 "longDescription": "long" }),
    )
    .await
    .expect("PATCH");
    assert_eq!(reply.status, 200);
    expected.immutable_tags = true;
    expected.visibility = SimVisibility::Public;
    expected.tag_limit = 5;
    expected.long_description = "long".to_owned();
    assert_eq!(dtr.repository("eng", "web"), Some(expected.clone()));

    for (body, message) in [
        (
            json!({ "scanOnPush": "true" }),
            "scanOnPush: expected boolean, found string",
        ),
        (
            json!({ "scanOnPush": false, "visibility": "internal" }),
            "visibility: expected \"public\" or \"private\"",
        ),
        (
            json!({ "tagLimit": -1 }),
            "tagLimit: expected non-negative integer",
        ),
        (
            json!({ "name": "other" }),
            "unknown or read-only field: name",
        ),
    ] {
        let reply = patch(&client, &sim, path, &body).await.expect("PATCH");
        assert_eq!(reply.status, 400, "{body}");
        let json = reply.json();
        let (code, got) = error_message(&json);
        assert_eq!(code, "INVALID_REPOSITORY_UPDATE");
        assert!(got.starts_with(message), "{got}");
    }
    assert_eq!(dtr.repository("eng", "web"), Some(expected.clone()));
    let reply = patch(&client, &sim, "/api/v0/repositories/eng/nope", &json!({}))
        .await
        .expect("PATCH");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.code(), "NO_SUCH_REPOSITORY");

    // The second PATCH from now fails; the first and third apply.
    dtr.fail_nth_patch(2);
    let api = "/api/v0/repositories/eng/api";
    let statuses = [
        patch(&client, &sim, api, &json!({ "shortDescription": "one" })).await,
        patch(&client, &sim, api, &json!({ "scanOnPush": true })).await,
        patch(&client, &sim, api, &json!({ "immutableTags": true })).await,
    ]
    .map(|r| r.expect("PATCH").status);
    assert_eq!(statuses, [200, 500, 200]);
    let api_repo = dtr.repository("eng", "api").expect("repo");
    assert_eq!(api_repo.short_description, "one");
    assert!(!api_repo.scan_on_push);
    assert!(api_repo.immutable_tags);

    dtr.drop_next_patch();
    let result = patch(&client, &sim, api, &json!({ "scanOnPush": true })).await;
    assert!(result.is_err(), "connection closed without a response");
    assert!(!dtr.repository("eng", "api").expect("repo").scan_on_push);
    assert_eq!(sim.requests().last().map(|r| r.status), Some(0));
    let reply = patch(&client, &sim, api, &json!({ "scanOnPush": true }))
        .await
        .expect("PATCH");
    assert_eq!(reply.status, 200);

    assert_eq!(dtr.patch_count(), 2 + 4 + 1 + 3 + 2);
    assert_eq!(sim.write_count(), dtr.patch_count());
}

#[tokio::test]
async fn concurrent_patches_count_exactly() {
    let total = 300;
    let sim = Simulator::start(SimOptions {
        dtr: DtrOptions {
            repositories: generate_repositories(total, 1),
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("start");
    sim.set_latency(Duration::from_millis(5));
    let client = client(&sim);
    let dtr = sim.dtr();
    assert!(dtr.repositories().iter().all(|r| !r.scan_on_push));
    dtr.fail_nth_patch(total / 2);

    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for repo in dtr.repositories() {
        let client = client.clone();
        let url = format!(
            "{}/api/v0/repositories/{}/{}",
            sim.url(),
            repo.namespace,
            repo.name
        );
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore");
            let response = client
                .patch(url)
                .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
                .json(&json!({ "scanOnPush": true }))
                .send()
                .await
                .expect("PATCH");
            response.status().as_u16()
        });
    }
    // Speed is measured by the dtr_apply benchmark, not here: this checks the counts.
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.expect("task"));
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), total - 1);
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 1);
    assert_eq!(dtr.patch_count(), total);
    assert_eq!(sim.write_count(), total);
    assert_eq!(
        dtr.repositories().iter().filter(|r| r.scan_on_push).count(),
        total - 1
    );
}

/// A registry of `count` repositories (generated, none scanning on push) and a client.
fn registry_of(count: usize) -> (Simulator, reqwest::Client) {
    let sim = Simulator::start(SimOptions {
        dtr: DtrOptions {
            repositories: generate_repositories(count, 1),
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    (sim, client)
}

fn repo_url(sim: &Simulator, repo: &SimRepo) -> String {
    format!(
        "{}/api/v0/repositories/{}/{}",
        sim.url(),
        repo.namespace,
        repo.name
    )
}

/// Sends `scanOnPush: true` for `repo` from a task of its own; yields the status and body.
fn spawn_scan_on_push(
    client: &reqwest::Client,
    sim: &Simulator,
    repo: &SimRepo,
) -> tokio::task::JoinHandle<reqwest::Result<(u16, Json)>> {
    let request = client
        .patch(repo_url(sim, repo))
        .basic_auth(ADMIN, Some(ADMIN_PASSWORD))
        .json(&json!({ "scanOnPush": true }));
    tokio::spawn(async move {
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    })
}

/// Sends `scanOnPush: true`, in turn, to the repositories at `positions` (0-based, in
/// `repositories()` order); their statuses, 0 for a connection closed without an answer.
async fn scan_on_push_at(
    client: &reqwest::Client,
    sim: &Simulator,
    positions: &[usize],
) -> Vec<u16> {
    let repos = sim.dtr().repositories();
    let mut statuses = Vec::new();
    for &i in positions {
        let answer = spawn_scan_on_push(client, sim, &repos[i])
            .await
            .expect("task");
        statuses.push(answer.map_or(0, |(status, _)| status));
    }
    statuses
}

/// Positions (0-based, in `repositories()` order) of the repositories not scanning on push.
fn not_scanning(dtr: &DtrHandle) -> Vec<usize> {
    let repos = dtr.repositories();
    (0..repos.len())
        .filter(|i| !repos[*i].scan_on_push)
        .collect()
}

fn patch_statuses(sim: &Simulator) -> Vec<u16> {
    sim.requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.status)
        .collect()
}

/// Polls `condition` until it holds. The 30 s deadline only stops a broken test from hanging;
/// it is not a speed check.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn fail_patches_fails_exactly_the_numbered_patches() {
    let (sim, client) = registry_of(12);
    let dtr = sim.dtr();
    assert_eq!(scan_on_push_at(&client, &sim, &[0, 1]).await, [200; 2]);

    // Counted from the next PATCH: the 3rd and 4th, and (fail_nth_patch) the 6th from now.
    dtr.fail_patches(3, 2);
    dtr.fail_nth_patch(6);
    dtr.fail_patches(1, 0); // arms nothing
    let statuses = scan_on_push_at(&client, &sim, &[2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).await;
    assert_eq!(statuses, [200, 200, 500, 500, 200, 500, 200, 200, 200, 200]);
    assert_eq!(
        not_scanning(&dtr),
        [4, 5, 7],
        "a failing PATCH changes nothing"
    );
    assert_eq!(dtr.patch_count(), 12);

    // A failing PATCH does not use up a drop: the first one that does not fail is dropped.
    dtr.fail_patches(1, 2);
    dtr.drop_next_patch();
    let statuses = scan_on_push_at(&client, &sim, &[4, 5, 4, 5]).await;
    assert_eq!(statuses, [500, 500, 0, 200]);
    assert_eq!(not_scanning(&dtr), [4, 7]);

    // Every PATCH from the 2nd on fails, until the faults are cleared.
    dtr.fail_patches(2, usize::MAX);
    let statuses = scan_on_push_at(&client, &sim, &[4, 7, 7, 7]).await;
    assert_eq!(statuses, [200, 500, 500, 500]);
    assert_eq!(not_scanning(&dtr), [7]);
    dtr.drop_next_patch();
    dtr.clear_patch_faults();
    assert_eq!(
        scan_on_push_at(&client, &sim, &[7]).await,
        [200],
        "the drop is cleared too"
    );
    assert!(not_scanning(&dtr).is_empty());

    assert_eq!(dtr.patch_count(), 12 + 4 + 4 + 1);
    assert_eq!(sim.write_count(), dtr.patch_count());
    let statuses = patch_statuses(&sim);
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 3 + 2 + 3);
    assert_eq!(statuses.iter().filter(|s| **s == 0).count(), 1);
}

#[tokio::test]
async fn a_held_patch_is_applied_at_once_and_answered_while_others_are_served() {
    let (sim, client) = registry_of(3);
    let dtr = sim.dtr();
    let repos = dtr.repositories();
    // Held for an hour: the answer never comes within the test, so nothing depends on timing.
    dtr.hold_patch(2, Duration::from_secs(3600));
    assert_eq!(
        scan_on_push_at(&client, &sim, &[0]).await,
        [200],
        "not held"
    );
    let held = spawn_scan_on_push(&client, &sim, &repos[1]);
    until("the held PATCH is applied", || not_scanning(&dtr) == [2]).await;
    assert_eq!(dtr.patch_count(), 2);

    // Other requests are served meanwhile, on other connections.
    let path = format!(
        "/api/v0/repositories/{}/{}",
        repos[1].namespace, repos[1].name
    );
    let reply = get(&client, &sim, &path, AS_ADMIN).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["scanOnPush"], true);
    assert_eq!(scan_on_push_at(&client, &sim, &[2]).await, [200]);
    assert!(not_scanning(&dtr).is_empty());
    assert!(!held.is_finished(), "the held answer came early");
    assert_eq!(
        patch_statuses(&sim),
        [200, 200],
        "the held PATCH is not answered yet"
    );
    assert_eq!(dtr.patch_count(), 3);
    held.abort();
    // Stopping the simulator does not wait for the held answer.
    sim.shutdown();
}

#[tokio::test]
async fn a_held_failure_changes_nothing_and_answers_after_the_delay() {
    let (sim, client) = registry_of(2);
    let dtr = sim.dtr();
    let repos = dtr.repositories();
    let delay = Duration::from_millis(200);
    dtr.fail_patches(1, 1);
    dtr.hold_patch(1, delay);
    let started = Instant::now();
    let (status, body) = spawn_scan_on_push(&client, &sim, &repos[0])
        .await
        .expect("task")
        .expect("PATCH");
    // A lower bound only: the answer waited at least the delay.
    assert!(started.elapsed() >= delay);
    assert_eq!(status, 500);
    assert_eq!(error_message(&body).0, "INTERNAL_ERROR");
    assert_eq!(not_scanning(&dtr), [0, 1]);
    assert_eq!(scan_on_push_at(&client, &sim, &[0]).await, [200]);
    assert_eq!(patch_statuses(&sim), [500, 200]);
}

/// The scenario of a client that gives up on a slow write: with 120 repositories patched in
/// turn, the 20th PATCH is held for 300 ms and the 21st to 23rd fail. The 20th's change is in
/// the state before its answer arrives, and stays; the failures change nothing.
#[tokio::test]
async fn a_late_answer_still_changed_the_state() {
    let (sim, client) = registry_of(120);
    let dtr = sim.dtr();
    let repos = dtr.repositories();
    let delay = Duration::from_millis(300);
    dtr.fail_patches(21, 3);
    dtr.hold_patch(20, delay);

    let first: Vec<usize> = (0..19).collect();
    assert_eq!(scan_on_push_at(&client, &sim, &first).await, [200; 19]);
    let started = Instant::now();
    let held = spawn_scan_on_push(&client, &sim, &repos[19]);
    until("the 20th PATCH is applied", || {
        dtr.repositories()[19].scan_on_push
    })
    .await;
    assert_eq!(dtr.patch_count(), 20);
    // The next PATCHes are numbered 21, 22, ... whatever the held answer does.
    let rest: Vec<usize> = (20..120).collect();
    let statuses = scan_on_push_at(&client, &sim, &rest).await;
    assert_eq!(statuses[..3], [500; 3]);
    assert!(statuses[3..].iter().all(|s| *s == 200), "{statuses:?}");

    let (status, body) = held.await.expect("task").expect("PATCH");
    assert!(started.elapsed() >= delay, "the 20th answer was held");
    assert_eq!(status, 200);
    assert_eq!(body["scanOnPush"], true);
    assert_eq!(not_scanning(&dtr), [20, 21, 22]);
    assert!(
        dtr.repositories()[19].scan_on_push,
        "the late write stays applied"
    );
    assert_eq!(dtr.patch_count(), 120);
    let statuses = patch_statuses(&sim);
    assert_eq!(statuses.len(), 120);
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 3);
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 117);
}

#[test]
fn generated_repositories_are_deterministic() {
    let repos = generate_repositories(10_000, 3);
    assert_eq!(repos, generate_repositories(10_000, 3));
    assert_eq!(repos[0].namespace, "team-0");
    assert_eq!(repos[0].name, "app-0000");
    assert_eq!(repos[9_999].namespace, "team-99");
    assert_eq!(repos[9_999].name, "app-9999");
    assert!(repos[0].scan_on_push && repos[1].scan_on_push && !repos[2].scan_on_push);
    assert_eq!(repos.iter().filter(|r| !r.scan_on_push).count(), 3_333);
    assert!(generate_repositories(50, 0).iter().all(|r| r.scan_on_push));
    assert!(generate_repositories(50, 1).iter().all(|r| !r.scan_on_push));

    let err = Simulator::start(SimOptions {
        dtr: DtrOptions {
            settings_post_status: 404,
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect_err("bad status");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Simulator::start(SimOptions {
        dtr: DtrOptions {
            settings: Some(json!([1])),
            ..DtrOptions::default()
        },
        ..SimOptions::default()
    })
    .expect_err("bad settings");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn multipart_parser() {
    let boundary = multipart_boundary("multipart/form-data; boundary=\"a:b=c\"").expect("quoted");
    assert_eq!(boundary, "a:b=c");
    assert_eq!(
        multipart_boundary("Multipart/Form-Data;boundary=xyz; charset=utf-8").as_deref(),
        Some("xyz")
    );
    assert_eq!(multipart_boundary("application/json; boundary=xyz"), None);
    assert_eq!(multipart_boundary("multipart/form-data"), None);
    assert_eq!(multipart_boundary("multipart/form-data; boundary="), None);

    // Preamble, a field without filename, data that contains a partial delimiter and CRLFs,
    // transport padding after a delimiter, an epilogue.
    let body =
        b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
--XyZ  \r\ncontent-disposition: form-data; name=\"upload\"; filename=\"a \\\"b\\\".tar\"\r\n\
Content-Type: application/x-tar\r\n\r\nline1\r\n--XyQ\r\n--Xy\r\n\r\n--XyZ--\r\nepilogue";
    let parts = parse_multipart(body, "XyZ").expect("parse");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].name.as_deref(), Some("note"));
    assert_eq!(parts[0].filename, None);
    assert_eq!(parts[0].data, b"hello");
    assert_eq!(parts[1].name.as_deref(), Some("upload"));
    assert_eq!(parts[1].filename.as_deref(), Some("a \"b\".tar"));
    assert_eq!(parts[1].data, b"line1\r\n--XyQ\r\n--Xy\r\n");

    // Empty data and a part without headers.
    let parts = parse_multipart(
        b"--b\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name=x\r\n\r\n\r\n--b--",
        "b",
    )
    .expect("parse");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].name, None);
    assert!(parts[0].data.is_empty());
    assert_eq!(parts[1].name.as_deref(), Some("x"));
    assert!(parts[1].data.is_empty());

    for bad in [
        &b"no delimiter here"[..],
        b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\ndata without end",
        b"--b\r\nContent-Disposition: form-data; name=x\r\nno blank line",
        b"--bX\r\n\r\nx\r\n--b--",
        b"--b\r\nnot a header\r\n\r\nx\r\n--b--",
        b"--b\r\nContent-Disposition: attachment; name=x\r\n\r\nx\r\n--b--",
    ] {
        assert!(
            parse_multipart(bad, "b").is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }

    let tar = tar_archive("x", b"y");
    assert!(is_tar(&tar));
    assert!(!is_tar(&tar[..300]));
    assert!(!is_tar(&[0u8; 1024]));
}

#[test]
fn base64_and_percent_decoding() {
    assert_eq!(
        base64_decode("YWRtaW46cHc=").as_deref(),
        Some(&b"admin:pw"[..])
    );
    assert_eq!(
        base64_decode("YWRtaW46cHc").as_deref(),
        Some(&b"admin:pw"[..])
    );
    assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
    assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
    assert_eq!(base64_decode("Y"), None);
    assert_eq!(base64_decode("YW!x"), None);
    assert_eq!(percent_decode("a%2Fb+c%zz%4", true), "a/b c%zz%4");
    assert_eq!(percent_decode("a+b", false), "a+b");
}
