//! The running Docker Engine's product and version, for the root `/`: `GET /version` on its
//! local unix socket (the Engine API's "Show the Docker version information" endpoint: `Version`,
//! `ApiVersion`, and since API 1.35 `Platform.Name`, e.g. "Docker Engine - Community" or
//! "Mirantis Container Runtime"; moby `api/swagger.yaml`, `SystemVersion`).
//!
//! One HTTP/1.0 request on a std `UnixStream`: the Engine's Go server answers HTTP/1.0 without
//! chunking and closes the connection, so no HTTP client (and no dependency) is needed for it.
//! A root other than `/` (a node's root mounted elsewhere, a copy) has no running Engine to ask.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::targets::Product;

/// Where the Engine listens by default (`/var/run` links to `/run` on current systems).
pub const SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];

/// The running Engine's product, asked on the first socket that answers; `Err` says why none
/// did (for the plan's notes).
pub fn running_engine(sockets: &[&Path], timeout: Duration) -> Result<Product, String> {
    let mut failures = Vec::new();
    for socket in sockets {
        match ask(socket, timeout) {
            Ok(product) => return Ok(product),
            Err(why) => failures.push(format!("{}: {why}", socket.display())),
        }
    }
    Err(format!(
        "the running Docker Engine's version is not known ({})",
        failures.join("; ")
    ))
}

fn ask(socket: &Path, timeout: Duration) -> Result<Product, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")
        .map_err(|e| format!("sending GET /version: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(1 << 20)
        .read_to_end(&mut answer)
        .map_err(|e| format!("reading the answer to GET /version: {e}"))?;
    parse(&answer)
}

/// The product in an HTTP answer to `GET /version`.
pub fn parse(answer: &[u8]) -> Result<Product, String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("GET /version: the answer is not HTTP")?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("GET /version answered `{status}`"));
    }
    let json: Value = serde_json::from_str(body.trim())
        .map_err(|e| format!("GET /version: the answer is not JSON ({e})"))?;
    let version = json["Version"]
        .as_str()
        .filter(|version| !version.is_empty())
        .ok_or("GET /version: the answer has no `Version`")?;
    let name = json["Platform"]["Name"]
        .as_str()
        .filter(|name| !name.is_empty())
        .unwrap_or("Docker Engine");
    Ok(Product::new(name, Some(version)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// An answer of Debian's docker.io 20.10 (trimmed), as the Engine sends it to HTTP/1.0.
    const DOCKER_IO: &str = "HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nServer: Docker/20.10.24+dfsg1 (linux)\r\n\r\n{\"Platform\":{\"Name\":\"\"},\"Components\":[{\"Name\":\"Engine\",\"Version\":\"20.10.24+dfsg1\"}],\"Version\":\"20.10.24+dfsg1\",\"ApiVersion\":\"1.41\",\"Os\":\"linux\"}\n";

    #[test]
    fn the_version_and_platform_are_read() {
        let product = parse(DOCKER_IO.as_bytes()).unwrap();
        assert_eq!(product.name, "Docker Engine");
        assert_eq!(product.version.as_deref(), Some("20.10.24+dfsg1"));
        let mcr = "HTTP/1.1 200 OK\r\n\r\n{\"Platform\":{\"Name\":\"Mirantis Container Runtime\"},\"Version\":\"23.0.15\"}";
        let product = parse(mcr.as_bytes()).unwrap();
        assert_eq!(product.name, "Mirantis Container Runtime");
        assert_eq!(product.version.as_deref(), Some("23.0.15"));
    }

    #[test]
    fn an_answer_that_is_not_a_version_is_an_error() {
        for (answer, expected) in [
            ("garbage", "not HTTP"),
            (
                "HTTP/1.0 404 Not Found\r\n\r\n{}",
                "answered `HTTP/1.0 404 Not Found`",
            ),
            ("HTTP/1.0 200 OK\r\n\r\n<html>", "not JSON"),
            ("HTTP/1.0 200 OK\r\n\r\n{\"Os\":\"linux\"}", "no `Version`"),
        ] {
            let why = parse(answer.as_bytes()).unwrap_err();
            assert!(why.contains(expected), "{answer}: {why}");
        }
    }

    #[test]
    fn the_first_socket_that_answers_is_asked_and_each_failure_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.sock");
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 256];
            let read = stream.read(&mut request).unwrap();
            stream.write_all(DOCKER_IO.as_bytes()).unwrap();
            String::from_utf8_lossy(&request[..read]).into_owned()
        });
        let product =
            running_engine(&[&missing, &socket], Duration::from_secs(5)).expect("answered");
        assert_eq!(product.version.as_deref(), Some("20.10.24+dfsg1"));
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /version HTTP/1.0\r\n")
        );
        let why = running_engine(&[&missing], Duration::from_secs(1)).unwrap_err();
        assert!(
            why.starts_with("the running Docker Engine's version is not known (")
                && why.contains("missing.sock: "),
            "{why}"
        );
    }

    #[test]
    fn a_silent_socket_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let _listener = UnixListener::bind(&socket).unwrap();
        let why = running_engine(&[&socket], Duration::from_millis(200)).unwrap_err();
        assert!(why.contains("reading the answer to GET /version"), "{why}");
    }
}
