//! End-to-end tests of the simulator over HTTP and HTTPS. They only contact 127.0.0.1.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value as Json;

use super::{RequestRecord, SimOptions, SimUser, Simulator};

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "simulator-password";
const CONFIG: &str = "/api/ucp/config-toml";

/// A reqwest client that trusts only the simulator's CA (when TLS) and never uses a proxy.
pub(super) fn client(sim: &Simulator) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = sim.ca_pem() {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.expect("CA PEM")).expect("add CA");
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn login(client: &reqwest::Client, sim: &Simulator, user: &str, password: &str) -> String {
    let response = client
        .post(format!("{}/auth/login", sim.url()))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .expect("login request");
    assert_eq!(response.status(), 200);
    let body: Json = response.json().await.expect("login JSON");
    let token = body["auth_token"].as_str().expect("auth_token").to_owned();
    assert_eq!(token.len(), 36, "{token}");
    assert!(body["token_id"].is_string());
    token
}

async fn get_config(client: &reqwest::Client, sim: &Simulator, token: &str) -> (u16, String) {
    let response = client
        .get(format!("{}{CONFIG}", sim.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET config");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn put_config(
    client: &reqwest::Client,
    sim: &Simulator,
    token: &str,
    body: &str,
) -> reqwest::Result<(u16, Json)> {
    let response = client
        .put(format!("{}{CONFIG}", sim.url()))
        .bearer_auth(token)
        .header("content-type", "application/toml")
        .body(body.to_owned())
        .send()
        .await?;
    let status = response.status().as_u16();
    let json = response.json().await.unwrap_or(Json::Null);
    Ok((status, json))
}

pub(super) fn error_message(body: &Json) -> (&str, &str) {
    let error = &body["errors"][0];
    (
        error["code"].as_str().expect("code"),
        error["message"].as_str().expect("message"),
    )
}

const CHANGED: &str = r#"
[auth]
backend = "managed"

[auth.sessions]
lifetime_minutes = 10
renewal_threshold_minutes = 0

[audit_log_configuration]
level = "request"

[cluster_config]
pre_logon_message = "You are accessing a U.S. Government (USG) Information System (IS).\n\nBy using this IS..."
min_TLS_version = "TLSv1.2"
secure_overlay = true

[not_a_section]
x = 1
"#;

async fn round_trip(tls: bool) {
    let sim = Simulator::start(SimOptions {
        tls,
        ucp_config: Some("[tracking_configuration]\ndisable_usageinfo = true\n".to_owned()),
        ..SimOptions::default()
    })
    .expect("start");
    let scheme = if tls {
        "https://127.0.0.1:"
    } else {
        "http://127.0.0.1:"
    };
    assert!(sim.url().starts_with(scheme), "{}", sim.url());
    assert!(!sim.url().ends_with('/'));
    assert_eq!(sim.ca_pem().is_some(), tls);
    let client = client(&sim);
    let ucp = sim.ucp();

    let ping = client
        .get(format!("{}/_ping", sim.url()))
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.text().await.expect("ping body"), "OK");

    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    let response = client
        .get(format!("{}{CONFIG}", sim.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("application/toml")
    );
    let before = response.text().await.expect("body");
    assert_eq!(before, ucp.config_toml());
    assert_eq!(
        ucp.get("tracking_configuration.disable_usageinfo"),
        Some(toml::Value::Boolean(true))
    );

    let (status, body) = put_config(&client, &sim, &token, CHANGED)
        .await
        .expect("PUT");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Configuration updated successfully");

    let (status, after) = get_config(&client, &sim, &token).await;
    assert_eq!(status, 200);
    let doc: toml::Table = after.parse().expect("rendering is valid TOML");
    assert_eq!(
        doc["auth"]["sessions"]["lifetime_minutes"].as_integer(),
        Some(10)
    );
    assert_eq!(
        doc["audit_log_configuration"]["level"].as_str(),
        Some("request")
    );
    assert_eq!(
        doc["cluster_config"]["secure_overlay"].as_bool(),
        Some(true)
    );
    assert!(
        doc["cluster_config"]["pre_logon_message"]
            .as_str()
            .is_some_and(|s| s.contains("(IS).\n\nBy using"))
    );
    assert!(after.contains(r#"(IS).\n\nBy using"#));
    // Omitted keys fall back to defaults, unknown keys are dropped.
    assert_eq!(
        doc["tracking_configuration"]["disable_usageinfo"].as_bool(),
        Some(false)
    );
    assert_eq!(
        doc["auth"]["sessions"]["per_user_limit"].as_integer(),
        Some(10)
    );
    assert!(doc.get("not_a_section").is_none());
    assert!(doc["cluster_config"].get("min_TLS_version").is_none());
    assert_eq!(
        ucp.get("auth.sessions.renewal_threshold_minutes"),
        Some(toml::Value::Integer(0))
    );
    assert_eq!(ucp.get("auth.nope"), None);

    assert_eq!(
        sim.requests(),
        vec![
            record("GET", "/_ping", 200),
            record("POST", "/auth/login", 200),
            record("GET", CONFIG, 200),
            record("PUT", CONFIG, 200),
            record("GET", CONFIG, 200),
        ]
    );
    assert_eq!(sim.write_count(), 1);
    sim.shutdown();
}

fn record(method: &str, path: &str, status: u16) -> RequestRecord {
    RequestRecord {
        method: method.to_owned(),
        path: path.to_owned(),
        status,
    }
}

#[tokio::test]
async fn http_round_trip() {
    round_trip(false).await;
}

#[tokio::test]
async fn https_round_trip() {
    round_trip(true).await;
}

#[tokio::test]
async fn bad_documents_are_rejected_and_change_nothing() {
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let client = client(&sim);
    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    let before = sim.ucp().config_toml();

    let cases = [
        (
            "[auth.sessions]\nlifetime_minutes = \"15\"\n",
            "auth.sessions.lifetime_minutes: expected integer, found string",
        ),
        ("[auth.sessions\n", "invalid TOML"),
        (
            "[auth.sessions]\nlifetime_minutes = 5\n",
            "auth.sessions.lifetime_minutes",
        ),
        (
            "[auth.sessions]\nlifetime_minutes = 30\nrenewal_threshold_minutes = 26\n",
            "auth.sessions.renewal_threshold_minutes",
        ),
        (
            "[audit_log_configuration]\nlevel = \"all\"\n",
            "audit_log_configuration.level",
        ),
        ("[auth]\nbackend = \"saml\"\n", "auth.backend"),
    ];
    for (document, expected) in cases {
        let (status, body) = put_config(&client, &sim, &token, document)
            .await
            .expect("PUT");
        assert_eq!(status, 400, "{document}");
        let (_, message) = error_message(&body);
        assert!(message.starts_with(expected), "{message}");
    }
    assert_eq!(sim.ucp().config_toml(), before);
    assert_eq!(sim.write_count(), cases.len());
}

#[tokio::test]
async fn authentication_and_routing_errors() {
    let sim = Simulator::start(SimOptions {
        users: vec![
            SimUser {
                name: ADMIN.to_owned(),
                password: ADMIN_PASSWORD.to_owned(),
                admin: true,
            },
            SimUser {
                name: "alice".to_owned(),
                password: "pw".to_owned(),
                admin: false,
            },
        ],
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    let url = sim.url();

    let bad = client
        .post(format!("{url}/auth/login"))
        .json(&serde_json::json!({ "username": ADMIN, "password": "wrong" }))
        .send()
        .await
        .expect("login");
    assert_eq!(bad.status(), 401);
    let body: Json = bad.json().await.expect("json");
    assert_eq!(
        error_message(&body),
        ("UNAUTHORIZED", "invalid username or password")
    );

    let malformed = client
        .post(format!("{url}/auth/login"))
        .body("username=admin")
        .send()
        .await
        .expect("login");
    assert_eq!(malformed.status(), 400);

    // curl -d sends a form content type with a JSON body: accepted.
    let form = client
        .post(format!("{url}/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            r#"{{"username":"{ADMIN}","password":"{ADMIN_PASSWORD}"}}"#
        ))
        .send()
        .await
        .expect("login");
    assert_eq!(form.status(), 200);

    let missing = client
        .get(format!("{url}{CONFIG}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 401);
    let (status, body) = get_config(&client, &sim, "not-a-token").await;
    assert_eq!(status, 401);
    let body: Json = serde_json::from_str(&body).expect("json");
    assert_eq!(error_message(&body).0, "UNAUTHORIZED");

    let alice = login(&client, &sim, "alice", "pw").await;
    let (status, body) = get_config(&client, &sim, &alice).await;
    assert_eq!(status, 403);
    let body: Json = serde_json::from_str(&body).expect("json");
    assert_eq!(error_message(&body).0, "FORBIDDEN");
    let (status, _) = put_config(&client, &sim, &alice, "").await.expect("PUT");
    assert_eq!(status, 403);

    let unknown = client
        .get(format!("{url}/api/v1/meta/settings?x=1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(unknown.status(), 404);
    let body: Json = unknown.json().await.expect("json");
    assert_eq!(error_message(&body).0, "NOT_FOUND");
    assert_eq!(
        sim.requests().last(),
        Some(&record("GET", "/api/v1/meta/settings", 404))
    );
    // One 403 PUT; the four logins do not count.
    assert_eq!(sim.write_count(), 1);
}

#[tokio::test]
async fn fail_ignore_and_malformed_faults() {
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let client = client(&sim);
    let ucp = sim.ucp();
    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    let before = ucp.config_toml();

    ucp.fail_next_write(503);
    let (status, body) = put_config(&client, &sim, &token, CHANGED)
        .await
        .expect("PUT");
    assert_eq!(status, 503);
    assert_eq!(error_message(&body).0, "SERVICE_UNAVAILABLE");
    assert_eq!(ucp.config_toml(), before);

    ucp.ignore_next_write();
    let (status, body) = put_config(&client, &sim, &token, CHANGED)
        .await
        .expect("PUT");
    assert_eq!(status, 200);
    assert_eq!(body["message"], "Configuration updated successfully");
    assert_eq!(ucp.config_toml(), before);

    ucp.malformed_next_read();
    let (status, text) = get_config(&client, &sim, &token).await;
    assert_eq!(status, 200);
    assert!(text.parse::<toml::Table>().is_err(), "{text}");
    let (status, text) = get_config(&client, &sim, &token).await;
    assert_eq!(status, 200);
    assert_eq!(text, before);

    // The faults are used up: the next PUT applies.
    let (status, _) = put_config(&client, &sim, &token, CHANGED)
        .await
        .expect("PUT");
    assert_eq!(status, 200);
    assert_eq!(
        ucp.get("auth.sessions.lifetime_minutes"),
        Some(toml::Value::Integer(10))
    );
}

#[tokio::test]
async fn numbered_write_and_read_faults() {
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let client = client(&sim);
    let ucp = sim.ucp();
    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    let before = ucp.config_toml();
    let mut puts = Vec::new();

    // A numbered failure comes first; a pending fail_next_write waits for the next PUT.
    ucp.fail_writes(1, 1, 503);
    ucp.fail_next_write(502);
    ucp.fail_writes(2, 0, 500); // arms nothing
    for _ in 0..3 {
        puts.push(
            put_config(&client, &sim, &token, CHANGED)
                .await
                .expect("PUT")
                .0,
        );
    }
    assert_eq!(puts, [503, 502, 200]);
    let changed = ucp.config_toml();
    assert_ne!(changed, before);

    // The 2nd and 3rd PUT from now fail and change nothing; an unauthorized PUT is not counted.
    ucp.fail_writes(2, 2, 504);
    let (status, _) = put_config(&client, &sim, "not-a-token", "")
        .await
        .expect("PUT");
    assert_eq!(status, 401);
    puts.clear();
    for _ in 0..4 {
        puts.push(put_config(&client, &sim, &token, "").await.expect("PUT").0);
        assert_eq!(ucp.config_toml(), before);
        puts.push(
            put_config(&client, &sim, &token, CHANGED)
                .await
                .expect("PUT")
                .0,
        );
    }
    // PUT #1 "" 200, #2 CHANGED 504, #3 "" 504, #4 CHANGED 200, then all 200.
    assert_eq!(puts, [200, 504, 504, 200, 200, 200, 200, 200]);
    assert_eq!(ucp.config_toml(), changed);

    // Every PUT from the 2nd on fails.
    ucp.fail_writes(2, usize::MAX, 500);
    puts.clear();
    for body in ["", CHANGED, "", CHANGED] {
        puts.push(
            put_config(&client, &sim, &token, body)
                .await
                .expect("PUT")
                .0,
        );
    }
    assert_eq!(puts, [200, 500, 500, 500]);
    assert_eq!(ucp.config_toml(), before);
    assert_eq!(sim.write_count(), 3 + 1 + 8 + 4);

    // Reads: the 1st and 4th GET from now are malformed; a pending malformed_next_read waits
    // for the 2nd.
    ucp.malformed_reads(1, 1);
    ucp.malformed_reads(4, 1);
    ucp.malformed_next_read();
    let mut valid = Vec::new();
    for _ in 0..5 {
        let (status, text) = get_config(&client, &sim, &token).await;
        assert_eq!(status, 200);
        valid.push(text.parse::<toml::Table>().is_ok());
    }
    assert_eq!(valid, [false, false, true, false, true]);
}

#[tokio::test]
async fn drop_next_write_closes_without_response() {
    let sim = Simulator::start(SimOptions {
        tls: true,
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    let ucp = sim.ucp();
    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    let before = ucp.config_toml();

    ucp.drop_next_write();
    let result = put_config(&client, &sim, &token, CHANGED).await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(ucp.config_toml(), before);
    assert_eq!(sim.requests().last(), Some(&record("PUT", CONFIG, 0)));
    assert_eq!(sim.write_count(), 1);

    let (status, _) = put_config(&client, &sim, &token, CHANGED)
        .await
        .expect("PUT");
    assert_eq!(status, 200);
    assert_ne!(ucp.config_toml(), before);
    assert_eq!(sim.write_count(), 2);
}

#[tokio::test]
async fn tokens_expire() {
    let sim = Simulator::start(SimOptions {
        token_ttl: Duration::from_millis(500),
        ..SimOptions::default()
    })
    .expect("start");
    let client = client(&sim);
    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(get_config(&client, &sim, &token).await.0, 200);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, body) = get_config(&client, &sim, &token).await;
    assert_eq!(status, 401);
    let body: Json = serde_json::from_str(&body).expect("json");
    assert_eq!(
        error_message(&body),
        ("UNAUTHORIZED", "session expired or invalid")
    );

    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(get_config(&client, &sim, &token).await.0, 200);
    sim.ucp().expire_tokens();
    assert_eq!(get_config(&client, &sim, &token).await.0, 401);
    let (status, _) = put_config(&client, &sim, &token, "").await.expect("PUT");
    assert_eq!(status, 401);
}

#[tokio::test]
async fn journal_latency_and_backdoor_changes() {
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let client = client(&sim);
    let ucp = sim.ucp();
    let token = login(&client, &sim, ADMIN, ADMIN_PASSWORD).await;
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    assert_eq!(sim.write_count(), 0);

    ucp.set_config_toml("[auth.sessions]\nlifetime_minutes = 15\nrenewal_threshold_minutes = 10\n")
        .expect("set");
    assert!(
        ucp.set_config_toml("[auth.sessions]\nlifetime_minutes = 1\n")
            .is_err()
    );
    let (_, text) = get_config(&client, &sim, &token).await;
    assert!(text.contains("    lifetime_minutes = 15\n"), "{text}");
    assert_eq!(
        ucp.get("auth.sessions.lifetime_minutes"),
        Some(toml::Value::Integer(15))
    );

    sim.set_latency(Duration::from_millis(200));
    let started = Instant::now();
    let ping = client
        .get(format!("{}/_ping", sim.url()))
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    sim.set_latency(Duration::ZERO);

    let response = client
        .delete(format!("{}{CONFIG}?force=1", sim.url()))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(response.status(), 404);
    assert_eq!(
        sim.requests(),
        vec![
            record("GET", CONFIG, 200),
            record("GET", "/_ping", 200),
            record("DELETE", CONFIG, 404),
        ]
    );
    assert_eq!(sim.write_count(), 1);
}

#[test]
fn invalid_initial_config_fails_and_shutdown_frees_the_port() {
    let err = Simulator::start(SimOptions {
        ucp_config: Some("[auth.sessions]\nlifetime_minutes = \"x\"\n".to_owned()),
        ..SimOptions::default()
    })
    .expect_err("invalid config");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

    let sim = Simulator::start(SimOptions::default()).expect("start");
    let addr = sim.url().trim_start_matches("http://").to_owned();
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    sim.shutdown();
    assert!(std::net::TcpStream::connect(&addr).is_err());
    // Drop also stops the server.
    let sim = Simulator::start(SimOptions::default()).expect("start");
    let addr = sim.url().trim_start_matches("http://").to_owned();
    drop(sim);
    assert!(std::net::TcpStream::connect(&addr).is_err());
}
