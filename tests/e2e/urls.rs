//! Base URLs: where a bad one came from, passwords never over plain HTTP beyond loopback, no
//! query or fragment, and a client and server that disagree on TLS.

use crate::support::{PASSWORD, TestEnv, assert_absent, json};

/// A password typed into a URL: never echoed.
const IN_URL: &str = "Url-Pa55-e2e-77aa";

#[test]
fn credentials_in_a_url_are_refused_naming_where_it_came_from() {
    let mut env = TestEnv::http();
    let url = format!("https://admin:{IN_URL}@127.0.0.1:1");

    let out = env.run(&["plan", "--ucp-url", &url]);
    out.assert_code(64);
    assert!(
        out.error_line().starts_with("error: --ucp-url: "),
        "{}",
        out.stderr
    );
    assert!(out.error_line().contains("credentials"), "{}", out.stderr);
    assert_absent(&out.all(), IN_URL, "the flag's error");

    env.set_env("STIGFIX_DTR_URL", &url);
    let out = env.run(&["plan"]);
    out.assert_code(64);
    assert!(
        out.error_line().starts_with("error: STIGFIX_DTR_URL: "),
        "{}",
        out.stderr
    );
    assert_absent(&out.all(), IN_URL, "the environment's error");
    env.remove_env("STIGFIX_DTR_URL");

    env.remove_env("STIGFIX_UCP_URL");
    std::fs::write(
        env.path("stigfix.toml"),
        format!("username = \"admin\"\n\nucp_url = \"{url}\"\n"),
    )
    .unwrap();
    let out = env.run(&["plan"]);
    out.assert_code(64);
    assert!(
        out.error_line()
            .contains("stigfix.toml:3:11: `ucp_url`: `https://(redacted)@127.0.0.1:1`"),
        "{}",
        out.stderr
    );
    assert_absent(&out.all(), IN_URL, "the site file's error");
    assert!(env.sim.requests().is_empty());
}

#[test]
fn plain_http_beyond_loopback_is_refused_before_anything_is_sent() {
    let mut env = TestEnv::http();
    let out = env.run(&["plan", "--ucp-url", "http://ucp.example.mil"]);
    out.assert_code(64);
    let error = out.error_line();
    assert!(
        error.starts_with("error: --ucp-url: `http://ucp.example.mil` is plain http://"),
        "{error}"
    );
    assert!(error.contains("cleartext"), "{error}");
    assert!(
        out.stderr.contains("hint: use https://ucp.example.mil "),
        "{}",
        out.stderr
    );

    env.set_env("STIGFIX_DTR_URL", "http://10.1.2.3:8080/");
    let out = env.run(&["plan"]);
    out.assert_code(64);
    assert!(
        out.error_line()
            .starts_with("error: STIGFIX_DTR_URL: `http://10.1.2.3:8080` is plain http://"),
        "{}",
        out.stderr
    );
    assert!(env.sim.requests().is_empty());
}

/// A saved plan names its endpoints, and `apply PLAN.json` connects to them: one edited to a
/// plain-HTTP address elsewhere gets no password either.
#[test]
fn a_saved_plan_edited_to_plain_http_gets_no_password() {
    let env = TestEnv::https();
    env.run(&["plan", "--out", "plan.json"]).assert_code(0);
    let mut plan = json(&std::fs::read_to_string(env.path("plan.json")).unwrap());
    plan["targets"][0]["endpoint"] = "http://ucp.example.mil".into();
    std::fs::write(env.path("plan.json"), plan.to_string()).unwrap();
    env.sim.clear_requests();

    let out = env.run(&["apply", "plan.json", "--yes"]);
    out.assert_code(64);
    assert!(
        out.error_line().starts_with(
            "error: refusing to send the UCP password for admin to http://ucp.example.mil"
        ),
        "{}",
        out.stderr
    );
    assert!(env.sim.requests().is_empty());
    env.assert_unchanged();
}

#[test]
fn plain_http_to_loopback_works_and_says_so() {
    let env = TestEnv::http();
    let port = env.url().rsplit(':').next().unwrap().to_string();
    for url in [env.url(), format!("http://localhost:{port}")] {
        let out = env.run(&["plan", "--ucp-url", &url]);
        out.assert_code(0);
        assert!(
            out.stderr.contains(&format!(
                "warning: the UCP password for admin goes to {url} in cleartext"
            )),
            "{}",
            out.stderr
        );
        assert_absent(&out.all(), PASSWORD, "a plain-HTTP plan");
    }
}

#[test]
fn a_query_or_fragment_in_a_base_url_is_refused() {
    let env = TestEnv::http();
    for suffix in ["/?tenant=Secr3t-e2e", "#Secr3t-e2e"] {
        let url = format!("{}{suffix}", env.url());
        let out = env.run(&["plan", "--ucp-url", &url]);
        out.assert_code(64);
        assert!(
            out.error_line().contains("query (`?…`) or fragment (`#…`)"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(&format!("hint: give the address alone: {}", env.url())),
            "{}",
            out.stderr
        );
        assert_absent(&out.all(), "Secr3t-e2e", "the error");
    }
    assert!(env.sim.requests().is_empty());
}

#[test]
fn an_https_url_to_a_plain_http_server_says_so() {
    let mut env = TestEnv::http();
    let url = env.url().replace("http://", "https://");
    env.set_env("STIGFIX_UCP_URL", &url);
    let out = env.run(&["plan"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(
        error.contains("answered plain HTTP to a TLS handshake: the URL should start with http://"),
        "{error}"
    );
    assert!(error.contains(&url), "{error}");
    assert_absent(&out.all(), PASSWORD, "the error");
}

#[test]
fn an_http_url_to_a_tls_server_says_so() {
    let mut env = TestEnv::https();
    let url = env.url().replace("https://", "http://");
    env.set_env("STIGFIX_UCP_URL", &url);
    let out = env.run(&["plan"]);
    out.assert_code(1);
    let error = out.error_line();
    assert!(
        error
            .contains("answered a plain HTTP request with TLS: the URL should start with https://"),
        "{error}"
    );
    assert!(error.contains(&url), "{error}");
}

/// A server that answers the login with a 308 to another address (a misconfigured proxy, say):
/// reqwest would send the login's body, the password, there again. stigfix refuses to follow.
#[test]
fn a_redirect_to_another_address_gets_no_password() {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    let elsewhere = TcpListener::bind("127.0.0.1:0").unwrap();
    let redirector = TcpListener::bind("127.0.0.1:0").unwrap();
    let location = format!("http://{}/auth/login", elsewhere.local_addr().unwrap());
    let url = format!("http://{}", redirector.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut connection, _) = redirector.accept().unwrap();
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        while !request.windows(4).any(|window| window == b"\r\n\r\n") {
            let read = connection.read(&mut buffer).unwrap();
            assert!(read > 0, "the request ended early");
            request.extend_from_slice(&buffer[..read]);
        }
        write!(
            connection,
            "HTTP/1.1 308 Permanent Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        String::from_utf8_lossy(&request).into_owned()
    });

    let env = TestEnv::http();
    let out = env.run(&["plan", "--ucp-url", &url]);
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /auth/login "), "{request}");
    out.assert_code(1);
    assert!(
        out.error_line().contains(&format!(
            "the server redirected to another address, http://{}/auth/login; stigfix sends credentials only to the URL it was given",
            elsewhere.local_addr().unwrap()
        )),
        "{}",
        out.stderr
    );
    // Nobody connected to the other address (a connection would wait in the backlog).
    elsewhere.set_nonblocking(true).unwrap();
    assert_eq!(
        elsewhere.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}
