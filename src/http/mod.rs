//! HTTP for every target: one client (TLS verified by default with rustls and ring, an optional
//! CA bundle, timeouts), [`api::Api`] for one service at a base URL (request counting, reads
//! retried, error envelopes turned into errors), and [`session::UcpSession`], the UCP login that
//! targets on one cluster share. Errors name the URL and say what to do.

pub mod api;
pub mod session;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, IoContext, Result, describe_io};

/// How TLS is verified.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Trust only the certificates in this PEM bundle (instead of the system's trust store).
    pub ca_cert: Option<PathBuf>,
    /// Skip verification entirely (loudly warned about and recorded in plans and reports).
    pub insecure: bool,
}

/// Build the shared client.
pub fn client(tls: &TlsOptions, timeout: Duration) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::new(format!("cannot set up TLS: {error}")))?;
    let config = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(tls.ca_cert.as_deref())?)
            .with_no_client_auth()
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("stigfix/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
        .map_err(|error| Error::new(format!("cannot set up the HTTP client: {error}")))
}

fn root_store(ca_cert: Option<&Path>) -> Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    match ca_cert {
        Some(path) => {
            let pem = std::fs::read(path).with_path("read CA bundle", path)?;
            let certificates: Vec<CertificateDer<'static>> =
                rustls_pemfile::certs(&mut pem.as_slice())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|error| {
                        Error::new(format!(
                            "CA bundle {} is not valid PEM: {}",
                            path.display(),
                            describe_io(&error)
                        ))
                    })?;
            if certificates.is_empty() {
                return Err(Error::new(format!(
                    "CA bundle {} holds no certificates (expected PEM `BEGIN CERTIFICATE` blocks)",
                    path.display()
                )));
            }
            for certificate in certificates {
                store.add(certificate).map_err(|error| {
                    Error::new(format!(
                        "CA bundle {}: unusable certificate: {error}",
                        path.display()
                    ))
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for certificate in native.certs {
                // A certificate the system store holds but rustls cannot parse is skipped, as
                // browsers do; the handshake then fails with a clear "unknown issuer" if it mattered.
                let _ = store.add(certificate);
            }
        }
    }
    Ok(store)
}

/// Accepts every certificate. Used only with `--insecure`.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether a transport error is worth another try (reads only).
pub fn is_transient(error: &reqwest::Error) -> bool {
    (error.is_connect() || error.is_timeout() || error.is_request() || error.is_body())
        && tls_problem(error).is_none()
}

/// Describe a transport error in one line naming the URL, with a hint.
pub fn transport_error(what: &str, method: &str, url: &str, error: &reqwest::Error) -> Error {
    if let Some(problem) = tls_problem(error) {
        return Error::new(format!("{what}: TLS verification of {url} failed: {problem}")).with_hint(
            "pass --ca-cert FILE (or STIGFIX_CA_CERT) with the CA that signed the server's certificate",
        );
    }
    if error.is_timeout() {
        return Error::new(format!("{what}: {method} {url} timed out"))
            .with_hint("check that the server is up, or raise --timeout");
    }
    let cause = root_cause(error);
    if error.is_connect() {
        return Error::new(format!("{what}: cannot connect to {url}: {cause}"))
            .with_hint("check the URL and that the server is reachable from this machine");
    }
    Error::new(format!("{what}: {method} {url} failed: {cause}"))
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current: &(dyn std::error::Error + 'static) = error;
    while let Some(source) = current.source() {
        current = source;
    }
    if let Some(io) = current.downcast_ref::<std::io::Error>() {
        return describe_io(io);
    }
    current.to_string()
}

fn tls_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(match tls {
                rustls::Error::InvalidCertificate(reason) => {
                    format!("the server's certificate is not trusted ({reason:?})")
                }
                other => other.to_string(),
            });
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(match tls {
                rustls::Error::InvalidCertificate(reason) => {
                    format!("the server's certificate is not trusted ({reason:?})")
                }
                other => other.to_string(),
            });
        }
        // The TLS error can arrive wrapped in a type of another crate's rustls build; fall back
        // to its text.
        let text = error.to_string();
        if text.contains("invalid peer certificate") || text.contains("certificate verify") {
            return Some(format!("the server's certificate is not trusted ({text})"));
        }
        current = error.source();
    }
    None
}

/// Why a request to a target got no answer to act on.
pub enum SendError {
    /// Already a complete error (e.g. refused credentials).
    Fatal(Error),
    /// No response: the transport failed for this URL.
    Transport(reqwest::Error, String),
}

impl SendError {
    /// The one-line error, naming `what` was being done with which `method`.
    pub fn into_error(self, what: &str, method: &str) -> Error {
        match self {
            SendError::Fatal(error) => error,
            SendError::Transport(error, url) => transport_error(what, method, &url, &error),
        }
    }
}

/// The message of an `{"errors":[{"code","message"}]}` envelope (api-facts §2.7, §3.7), or of a
/// single `{"code","message"}` / `{"message"}` object, or a short excerpt of the body.
pub fn error_summary(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let describe = |item: &serde_json::Value| -> Option<String> {
            let message = item.get("message")?.as_str()?;
            Some(match item.get("code").and_then(|code| code.as_str()) {
                Some(code) => format!("{code}: {message}"),
                None => message.to_string(),
            })
        };
        if let Some(errors) = value.get("errors").and_then(|errors| errors.as_array()) {
            let messages: Vec<String> = errors.iter().filter_map(describe).collect();
            if !messages.is_empty() {
                return messages.join("; ");
            }
        }
        if let Some(message) = describe(&value) {
            return message;
        }
    }
    let trimmed: String = body.trim().chars().take(200).collect();
    if trimmed.is_empty() {
        "(empty body)".into()
    } else {
        trimmed.replace('\n', " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelopes_are_summarised() {
        assert_eq!(
            error_summary(r#"{"errors":[{"code":"UNAUTHORIZED","message":"session expired"}]}"#),
            "UNAUTHORIZED: session expired"
        );
        assert_eq!(error_summary(r#"{"message":"boom"}"#), "boom");
        assert_eq!(error_summary("plain\ntext"), "plain text");
        assert_eq!(error_summary(""), "(empty body)");
    }
}
