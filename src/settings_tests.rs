use super::*;

fn refused(url: &str) -> Error {
    let error = normalize_url(url, "STIGFIX_UCP_URL").unwrap_err();
    assert_eq!(error.status(), crate::error::ExitStatus::Usage, "{url}");
    assert!(
        error.message().starts_with("STIGFIX_UCP_URL: "),
        "{}",
        error.message()
    );
    error
}

#[test]
fn good_urls_lose_their_trailing_slash() {
    for (given, expected) in [
        ("https://ucp.example.mil/", "https://ucp.example.mil"),
        (
            " https://ucp.example.mil:8443 ",
            "https://ucp.example.mil:8443",
        ),
        (
            "https://ucp.example.mil/prefix/",
            "https://ucp.example.mil/prefix",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.3.4.5", "http://127.3.4.5"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ] {
        assert_eq!(normalize_url(given, "--ucp-url").unwrap(), expected);
    }
}

#[test]
fn credentials_are_refused_and_never_echoed() {
    for url in [
        "https://admin:Pw0rd-x@ucp.example.mil",
        "https://admin@ucp.example.mil",
        "http://admin:Pw0rd-x@127.0.0.1:1",
    ] {
        let error = refused(url);
        assert!(
            error.message().contains("credentials"),
            "{}",
            error.message()
        );
        assert!(!error.message().contains("Pw0rd-x"), "{}", error.message());
        assert!(!error.hint().unwrap_or_default().contains("Pw0rd-x"));
    }
    // Unparsable, but still not echoed.
    let error = refused("https://admin:Pw0rd-x@ucp example.mil");
    assert!(!error.message().contains("Pw0rd-x"), "{}", error.message());
}

#[test]
fn plain_http_is_refused_beyond_loopback() {
    for url in [
        "http://ucp.example.mil",
        "http://10.0.0.5:8080",
        "http://128.0.0.1",
        "http://[::2]",
        "http://localhost.example.mil",
    ] {
        let error = refused(url);
        assert!(error.message().contains("cleartext"), "{}", error.message());
        assert!(
            error.hint().unwrap().contains("use https://"),
            "{:?}",
            error.hint()
        );
    }
    let error = refused("ftp://ucp.example.mil");
    assert!(
        error.message().contains("not an https:// URL"),
        "{}",
        error.message()
    );
}

#[test]
fn a_query_or_fragment_is_refused() {
    for url in [
        "https://ucp.example.mil/?token=Secr3t-q",
        "https://ucp.example.mil#Secr3t-q",
        "https://ucp.example.mil?",
    ] {
        let error = refused(url);
        assert!(error.message().contains("query"), "{}", error.message());
        assert!(!error.message().contains("Secr3t-q"), "{}", error.message());
        assert_eq!(
            error.hint(),
            Some("give the address alone: https://ucp.example.mil")
        );
    }
}

#[test]
fn a_url_from_the_site_file_names_its_line_and_key() {
    let site = SiteFile::parse(
        "username = \"admin\"\n\nucp_url = \"http://ucp.example.mil\"\n",
        Path::new("stigfix.toml"),
    )
    .unwrap();
    let error = resolve_url(None, Origin::Unset, &site, UrlOption::UCP).unwrap_err();
    assert!(
        error
            .message()
            .starts_with("stigfix.toml:3:11: `ucp_url`: `http://ucp.example.mil` is plain http://"),
        "{}",
        error.message()
    );
    let error = resolve_url(Some("ftp://x"), Origin::Env, &site, UrlOption::DTR).unwrap_err();
    assert!(
        error.message().starts_with("STIGFIX_DTR_URL: "),
        "{}",
        error.message()
    );
    let error = resolve_url(Some("ftp://x"), Origin::Flag, &site, UrlOption::DTR).unwrap_err();
    assert!(
        error.message().starts_with("--dtr-url: "),
        "{}",
        error.message()
    );
}
