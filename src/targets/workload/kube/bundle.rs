//! An MKE client bundle (`POST /api/clientbundle`, or the web UI's "My Profile > Client
//! Bundles"; reference/api-facts.md §2.5–2.6): a zip — or the folder it was unpacked into — of
//! `ca.pem` (the cluster CA), `cert.pem` and `key.pem` (the user's certificate and private key),
//! `kube.yml` (a kubeconfig naming the Kubernetes API server), `env.sh` and more. stigfix takes
//! the API server's URL from `kube.yml`'s `server:` and authenticates with the certificate.
//!
//! The private key is a secret: it is held in a [`Secret`], never shown (not in `Debug`, not
//! in an error), and never written anywhere.
//!
//! `kube.yml` is read for its one `server:` field without a YAML crate: a kubeconfig in JSON is
//! parsed (`clusters[].cluster.server`); in YAML — MKE writes flat block YAML — each line's
//! `server:` key is read as a plain or quoted scalar. A wrong guess is refused rather than used:
//! no `server:`, two different ones, or one that is not `https://` is an error naming the file.
//!
//! stigfix does not fetch a bundle itself (`POST /api/clientbundle` through the UCP session):
//! each call makes a key pair and registers its public key on the account in MKE, a lasting
//! change to the cluster on every run of a target that only reads.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::zip::Archive;
use crate::error::{Error, Result, describe_io};
use crate::secrets::Secret;

/// The files stigfix needs from a bundle.
const NEEDED: [&str; 4] = ["ca.pem", "cert.pem", "key.pem", "kube.yml"];

const HINT: &str = "give the zip MKE makes (web UI: My Profile > Client Bundles > New Client Bundle; API: POST /api/clientbundle) or the folder it was unpacked into; it holds ca.pem, cert.pem, key.pem and kube.yml";

/// A loaded client bundle.
#[derive(Clone)]
pub struct ClientBundle {
    /// The file or folder it was read from.
    pub origin: PathBuf,
    /// The Kubernetes API server (`kube.yml` `server:`), without a trailing `/`.
    pub server: String,
    /// `ca.pem`: the CA the API server's certificate is verified against.
    pub ca_pem: Vec<u8>,
    /// `cert.pem`: the user's certificate (chain).
    pub cert_pem: Vec<u8>,
    /// `key.pem`.
    key_pem: Secret,
}

impl fmt::Debug for ClientBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBundle")
            .field("origin", &self.origin)
            .field("server", &self.server)
            .field("key", &self.key_pem)
            .finish_non_exhaustive()
    }
}

impl ClientBundle {
    /// Read a bundle: a zip file, or a folder holding its files.
    pub fn load(path: &Path) -> Result<ClientBundle> {
        let fail = |why: String| {
            Error::new(format!("client bundle {}: {why}", path.display())).with_hint(HINT)
        };
        let metadata = std::fs::metadata(path)
            .map_err(|error| fail(format!("cannot read it: {}", describe_io(&error))))?;
        let files = if metadata.is_dir() {
            read_folder(path)
        } else {
            let bytes = std::fs::read(path)
                .map_err(|error| fail(format!("cannot read it: {}", describe_io(&error))))?;
            read_zip(&bytes)
        }
        .map_err(fail)?;
        ClientBundle::from_files(path, files).map_err(fail)
    }

    /// From the four files' contents, in the order of [`NEEDED`].
    fn from_files(origin: &Path, files: [Vec<u8>; 4]) -> std::result::Result<ClientBundle, String> {
        let [ca_pem, cert_pem, key_pem, kube] = files;
        if certificates(&ca_pem).is_empty() {
            return Err("ca.pem holds no PEM certificate".into());
        }
        if certificates(&cert_pem).is_empty() {
            return Err("cert.pem holds no PEM certificate".into());
        }
        // Checked here so that a damaged key is a load error; the text is never shown.
        if !matches!(
            rustls_pemfile::private_key(&mut key_pem.as_slice()),
            Ok(Some(_))
        ) {
            return Err("key.pem holds no PEM private key".into());
        }
        let key_pem = String::from_utf8(key_pem).map_err(|_| "key.pem is not text".to_string())?;
        let kube = String::from_utf8_lossy(&kube);
        let server = server_of(&kube).map_err(|why| format!("kube.yml {why}"))?;
        Ok(ClientBundle {
            origin: origin.to_path_buf(),
            server,
            ca_pem,
            cert_pem,
            key_pem: Secret::new(key_pem),
        })
    }

    /// The user's certificate chain and key, for the TLS client.
    pub fn identity(
        &self,
    ) -> std::result::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let key = rustls_pemfile::private_key(&mut self.key_pem.expose().as_bytes())
            .ok()
            .flatten()
            .ok_or("key.pem holds no PEM private key")?;
        Ok((certificates(&self.cert_pem), key))
    }

    /// The CA certificates of `ca.pem`.
    pub fn ca_certificates(&self) -> Vec<CertificateDer<'static>> {
        certificates(&self.ca_pem)
    }
}

fn certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut &pem[..])
        .filter_map(std::result::Result::ok)
        .collect()
}

fn missing(name: &str) -> String {
    format!("no {name} in it (not an MKE client bundle?)")
}

fn read_folder(folder: &Path) -> std::result::Result<[Vec<u8>; 4], String> {
    let read = |name: &str| -> std::result::Result<Vec<u8>, String> {
        std::fs::read(folder.join(name)).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => missing(name),
            _ => format!("cannot read {name}: {}", describe_io(&error)),
        })
    };
    Ok([
        read(NEEDED[0])?,
        read(NEEDED[1])?,
        read(NEEDED[2])?,
        read(NEEDED[3])?,
    ])
}

/// The four files of a zipped bundle: at its top, or in its one top folder (a bundle folder
/// zipped again).
fn read_zip(bytes: &[u8]) -> std::result::Result<[Vec<u8>; 4], String> {
    let archive = Archive::parse(bytes)?;
    let find = |name: &str| -> std::result::Result<Vec<u8>, String> {
        let mut paths: Vec<&str> = archive
            .names()
            .filter(|path| {
                *path == name
                    || path.strip_suffix(name).is_some_and(|folder| {
                        folder.ends_with('/') && folder.matches('/').count() == 1
                    })
            })
            .collect();
        paths.sort_by_key(|path| path.len());
        let path = paths.first().ok_or_else(|| missing(name))?;
        archive.read(path).unwrap_or_else(|| Err(missing(name)))
    };
    Ok([
        find(NEEDED[0])?,
        find(NEEDED[1])?,
        find(NEEDED[2])?,
        find(NEEDED[3])?,
    ])
}

/// The one `server:` of a kubeconfig (YAML or JSON), checked to be an `https://` URL.
pub fn server_of(kubeconfig: &str) -> std::result::Result<String, String> {
    let mut servers: Vec<String> = Vec::new();
    let mut add = |value: String| {
        if !value.is_empty() && !servers.contains(&value) {
            servers.push(value);
        }
    };
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(kubeconfig) {
        // A JSON kubeconfig: `clusters[].cluster.server`.
        for cluster in json
            .get("clusters")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(server) = cluster
                .pointer("/cluster/server")
                .and_then(serde_json::Value::as_str)
            {
                add(server.trim().to_string());
            }
        }
    } else {
        for line in kubeconfig.lines() {
            let line = line.trim_start();
            let line = line.strip_prefix("- ").unwrap_or(line).trim_start();
            if let Some(rest) = ["server:", "\"server\":", "'server':"]
                .iter()
                .find_map(|key| line.strip_prefix(key))
            {
                add(scalar(rest));
            }
        }
    }
    let server = match servers.as_slice() {
        [] => return Err("names no `server:` (the Kubernetes API server's URL)".into()),
        [one] => one.trim_end_matches('/').to_string(),
        many => {
            return Err(format!(
                "names {} servers ({}); stigfix reads one cluster's bundle",
                many.len(),
                many.join(", ")
            ));
        }
    };
    match reqwest::Url::parse(&server) {
        Ok(url) if url.scheme() == "https" && url.host().is_some() => Ok(server),
        _ => Err(format!(
            "`server: {server}` is not an https:// URL (MKE's Kubernetes API, port 6443 by default)"
        )),
    }
}

/// A YAML/JSON scalar on the rest of a line: quoted (`"…"`, `'…'`) or plain up to a comment,
/// without a JSON trailing comma.
fn scalar(rest: &str) -> String {
    let rest = rest.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = rest.strip_prefix(quote) {
            return inner
                .split(quote)
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
        }
    }
    let plain = match rest.find(" #") {
        Some(at) => &rest[..at],
        None => rest,
    };
    plain.trim().trim_end_matches(',').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = include_bytes!("testdata/admin-bundle.zip");

    #[test]
    fn the_server_of_a_kubeconfig() {
        let yaml = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: ca.pem\n    server: https://mke.example.mil:6443\n  name: ucp_mke\n";
        assert_eq!(server_of(yaml).unwrap(), "https://mke.example.mil:6443");
        // Quoted, commented, a trailing slash, and `- server:` as the first key of an item.
        assert_eq!(
            server_of("clusters:\n- server: \"https://10.0.0.5:6443/\"  # the LB\n").unwrap(),
            "https://10.0.0.5:6443"
        );
        assert_eq!(
            server_of("    server: 'https://k.example.mil:6443'\n").unwrap(),
            "https://k.example.mil:6443"
        );
        assert_eq!(
            server_of("    server: https://k.example.mil:6443 # comment\n").unwrap(),
            "https://k.example.mil:6443"
        );
        // JSON kubeconfig.
        assert_eq!(
            server_of(r#"{"clusters": [{"cluster": {"server": "https://k:6443", "certificate-authority": "ca.pem"}}]}"#).unwrap(),
            "https://k:6443"
        );
        // The same server twice is one.
        assert!(server_of("server: https://a:6443\nserver: https://a:6443\n").is_ok());
        // Another key ending in `server` is not it.
        assert!(server_of("tls-server-name: a\n").is_err());
        let two = server_of("server: https://a:6443\nserver: https://b:6443\n").unwrap_err();
        assert!(two.contains("2 servers"), "{two}");
        let plain = server_of("server: http://a:8080\n").unwrap_err();
        assert!(plain.contains("not an https:// URL"), "{plain}");
        assert!(
            server_of("kind: Config\n")
                .unwrap_err()
                .contains("no `server:`")
        );
    }

    #[test]
    fn a_bundle_zipped_by_the_zip_tool_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ucp-bundle-admin.zip");
        std::fs::write(&path, FIXTURE).unwrap();
        let bundle = ClientBundle::load(&path).unwrap();
        assert_eq!(bundle.server, "https://mke.example.mil:6443");
        assert_eq!(bundle.ca_certificates().len(), 1);
        let (chain, _key) = bundle.identity().unwrap();
        assert_eq!(chain.len(), 1);
        // The key is never shown.
        let shown = format!("{bundle:?}");
        assert!(
            shown.contains("(redacted)") && !shown.contains("PRIVATE KEY"),
            "{shown}"
        );
    }

    #[test]
    fn a_bundle_folder_and_a_folder_zipped_again_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::parse(FIXTURE).unwrap();
        let folder = dir.path().join("bundle");
        std::fs::create_dir(&folder).unwrap();
        let mut nested = Vec::new();
        let names: Vec<String> = archive.names().map(str::to_string).collect();
        let contents: Vec<Vec<u8>> = names
            .iter()
            .map(|name| archive.read(name).unwrap().unwrap())
            .collect();
        for (name, bytes) in names.iter().zip(&contents) {
            std::fs::write(folder.join(name), bytes).unwrap();
        }
        let paths: Vec<String> = names
            .iter()
            .map(|name| format!("ucp-bundle-admin/{name}"))
            .collect();
        for (path, bytes) in paths.iter().zip(&contents) {
            nested.push((path.as_str(), bytes.as_slice()));
        }
        assert_eq!(
            ClientBundle::load(&folder).unwrap().server,
            "https://mke.example.mil:6443"
        );
        let zipped = dir.path().join("again.zip");
        std::fs::write(&zipped, super::super::zip::write(&nested, "")).unwrap();
        assert_eq!(
            ClientBundle::load(&zipped).unwrap().server,
            "https://mke.example.mil:6443"
        );
    }

    #[test]
    fn a_bad_bundle_is_one_line_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let check = |path: &Path, wanted: &str| {
            let error = ClientBundle::load(path).unwrap_err();
            let message = error.message();
            assert!(
                message.starts_with(&format!("client bundle {}: ", path.display())),
                "{message}"
            );
            assert!(message.contains(wanted), "{message}");
            assert!(!message.contains('\n'), "{message}");
            assert!(error.hint().unwrap().contains("POST /api/clientbundle"));
        };
        check(&dir.path().join("nope.zip"), "no such file or directory");
        let text = dir.path().join("bundle.zip");
        std::fs::write(&text, "not a zip").unwrap();
        check(&text, "not a zip archive");
        let archive = Archive::parse(FIXTURE).unwrap();
        let file = |name: &str| archive.read(name).unwrap().unwrap();
        let (ca, cert, kube) = (file("ca.pem"), file("cert.pem"), file("kube.yml"));
        let without_key = dir.path().join("nokey.zip");
        std::fs::write(
            &without_key,
            super::super::zip::write(
                &[("ca.pem", &ca), ("cert.pem", &cert), ("kube.yml", &kube)],
                "",
            ),
        )
        .unwrap();
        check(&without_key, "no key.pem in it");
        let bad_key = dir.path().join("badkey");
        std::fs::create_dir(&bad_key).unwrap();
        for (name, bytes) in [("ca.pem", &ca), ("cert.pem", &cert), ("kube.yml", &kube)] {
            std::fs::write(bad_key.join(name), bytes).unwrap();
        }
        std::fs::write(bad_key.join("key.pem"), "-----BEGIN NOTHING-----\n").unwrap();
        check(&bad_key, "key.pem holds no PEM private key");
        std::fs::write(bad_key.join("key.pem"), file("key.pem")).unwrap();
        std::fs::write(bad_key.join("kube.yml"), "kind: Config\n").unwrap();
        check(&bad_key, "kube.yml names no `server:`");
    }
}
