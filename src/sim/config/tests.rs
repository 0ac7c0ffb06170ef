//! Tests of the config-toml schema, parser and rendering.

use super::UcpConfig;
use super::UcpRelease;
use super::render::quote;
use super::schema::TABLES;

fn parse_toml(text: &str) -> toml::Table {
    text.parse().expect("valid TOML")
}

#[test]
fn defaults_render_like_sample_b() {
    let text = UcpConfig::default().render();
    assert!(
        text.starts_with("[auth]\n  backend = \"managed\"\n"),
        "{text}"
    );
    assert!(text.contains("\n  [auth.sessions]\n    lifetime_minutes = 60\n"));
    assert!(text.contains(
        "\n    [auth.samlProxy.credentials]\n      [auth.samlProxy.credentials.basic]\n        password = \"\"\n        user = \"\"\n"
    ));
    assert!(text.contains("\n\n[cluster_config]\n  cipher_suites_for_kube_api_server = \"\"\n"));
    assert!(text.contains("  dns = []\n"));
    assert!(text.ends_with("\n") && !text.ends_with("\n\n"));
    // Every known table is present, in schema order.
    let mut pos = 0;
    for t in TABLES {
        let header = format!("[{}]\n", t.path);
        let found = text[pos..].find(&header).expect(t.path);
        pos += found + header.len();
    }
}

#[test]
fn rendering_round_trips() {
    let banner = "You are accessing a U.S. Government (USG) Information System (IS).\n\n\
                  By using this IS, you consent to \"monitoring\" \\ C:\\path\ttab\u{1}";
    let input = format!(
        "[cluster_config]\npre_logon_message = {}\ndns = [\"8.8.8.8\", \"1.1.1.1\"]\n\
         [[registries]]\nhost_address = \"dtr.example.com:444\"\nca_bundle = \"-----BEGIN\\n\"\n",
        quote(banner)
    );
    let config = UcpConfig::parse(&input, UcpRelease::default()).expect("valid");
    let text = config.render();
    assert!(text.contains("\\n\\nBy using"), "{text}");
    let reparsed = parse_toml(&text);
    assert_eq!(
        reparsed["cluster_config"]["pre_logon_message"].as_str(),
        Some(banner)
    );
    assert_eq!(
        reparsed["registries"][0]["host_address"].as_str(),
        Some("dtr.example.com:444")
    );
    assert_eq!(reparsed["registries"][0]["service_id"].as_str(), Some(""));
    assert!(text.contains("\n[[registries]]\n  ca_bundle = \"-----BEGIN\\n\"\n"));
    assert_eq!(
        UcpConfig::parse(&text, UcpRelease::default()).expect("re-parse"),
        config
    );
    assert_eq!(
        UcpConfig::parse(&text, UcpRelease::default())
            .expect("re-parse")
            .render(),
        text
    );
    // The default rendering round-trips too.
    let defaults = UcpConfig::default();
    assert_eq!(
        UcpConfig::parse(&defaults.render(), UcpRelease::default()).expect("defaults"),
        defaults
    );
}

#[test]
fn omitted_keys_default_and_unknown_keys_drop() {
    let config = UcpConfig::parse(
        "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 0\n\
         [auth.ldap]\nreader_password = \"x\"\n[cluster_config]\nmin_TLS_version = \"TLSv1.2\"\n\
         [made_up]\nfoo = 1\n",
        UcpRelease::default(),
    )
    .expect("valid");
    let text = config.render();
    let doc = parse_toml(&text);
    assert_eq!(
        doc["auth"]["sessions"]["lifetime_minutes"].as_integer(),
        Some(10)
    );
    assert_eq!(
        doc["auth"]["sessions"]["per_user_limit"].as_integer(),
        Some(10)
    );
    assert_eq!(doc["auth"]["backend"].as_str(), Some("managed"));
    assert!(doc["auth"].get("ldap").is_none());
    assert!(doc["cluster_config"].get("min_TLS_version").is_none());
    // MKE 3.x has no `min_tls_version` either (the UCP 3.0/3.1 reference alone documents it).
    assert!(doc["cluster_config"].get("min_tls_version").is_none());
    assert!(doc.get("made_up").is_none());
}

#[test]
fn type_errors_name_the_key() {
    let err = UcpConfig::parse(
        "[auth.sessions]\nlifetime_minutes = \"10\"\n",
        UcpRelease::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "auth.sessions.lifetime_minutes: expected integer, found string"
    );
    let err = UcpConfig::parse("auth = 3\n", UcpRelease::default()).unwrap_err();
    assert_eq!(err, "auth: expected table, found integer");
    let err = UcpConfig::parse(
        "[trust_configuration]\nallow_repos = [\"a\", 2]\n",
        UcpRelease::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "trust_configuration.allow_repos[1]: expected string, found integer"
    );
    let err = UcpConfig::parse(
        "[trust_configuration]\nallow_repos = \"a\"\n",
        UcpRelease::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "trust_configuration.allow_repos: expected array of strings, found string"
    );
    let err = UcpConfig::parse(
        "[registries]\nhost_address = \"x\"\n",
        UcpRelease::default(),
    )
    .unwrap_err();
    assert_eq!(err, "registries: expected array of tables, found table");
    let err =
        UcpConfig::parse("[[registries]]\nservice_id = 5\n", UcpRelease::default()).unwrap_err();
    assert_eq!(
        err,
        "registries[0].service_id: expected string, found integer"
    );
    let err = UcpConfig::parse("[auth\n", UcpRelease::default()).unwrap_err();
    assert!(err.starts_with("invalid TOML: "), "{err}");
}

#[test]
fn validation_rules() {
    let bad = [
        "[auth.sessions]\nlifetime_minutes = 9\n",
        "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 6\n",
        "[auth.sessions]\nrenewal_threshold_minutes = -1\n",
        "[audit_log_configuration]\nlevel = \"Request\"\n",
        "[auth]\nbackend = \"saml\"\n",
    ];
    for text in bad {
        assert!(
            UcpConfig::parse(text, UcpRelease::default()).is_err(),
            "{text}"
        );
    }
    let good = [
        "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 0\n",
        "[auth.sessions]\nlifetime_minutes = 10\nrenewal_threshold_minutes = 5\n",
        "[audit_log_configuration]\nlevel = \"request\"\n",
        "[auth]\nbackend = \"ldap\"\n",
        "",
    ];
    for text in good {
        assert!(
            UcpConfig::parse(text, UcpRelease::default()).is_ok(),
            "{text}"
        );
    }
}

#[test]
fn each_release_has_its_own_schema_and_defaults() {
    let keys = |release: UcpRelease| parse_toml(&UcpConfig::new(release).render());
    let ucp31 = keys(UcpRelease::Ucp31);
    assert_eq!(
        ucp31["cluster_config"]["min_tls_version"].as_str(),
        Some("")
    );
    assert_eq!(
        ucp31["auth"]["sessions"]["lifetime_minutes"].as_integer(),
        Some(4320)
    );
    assert!(ucp31["cluster_config"].get("pre_logon_message").is_none());
    assert!(ucp31.get("backup_schedule_config").is_none());
    let ucp33 = keys(UcpRelease::Ucp33);
    assert!(ucp33["cluster_config"].get("min_tls_version").is_none());
    assert_eq!(
        ucp33["auth"]["sessions"]["lifetime_minutes"].as_integer(),
        Some(60)
    );
    let mke = keys(UcpRelease::Mke37);
    assert!(mke["cluster_config"].get("min_tls_version").is_none());
    assert!(mke["cluster_config"].get("pre_logon_message").is_some());
    assert!(mke.get("backup_schedule_config").is_some());
    // A key the release does not have is dropped by a PUT, silently.
    let put = UcpConfig::parse(
        "[cluster_config]\nmin_tls_version = \"tlsv1.2\"\n",
        UcpRelease::Ucp33,
    )
    .unwrap();
    assert!(
        parse_toml(&put.render())["cluster_config"]
            .get("min_tls_version")
            .is_none()
    );
}
