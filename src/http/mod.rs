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
        .redirect(same_origin_redirects())
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("stigfix/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .build()
        .map_err(|error| Error::new(format!("cannot set up the HTTP client: {error}")))
}

/// Redirects are followed only within the origin (scheme, host, port) of the request: reqwest
/// would repeat a login's body — the password — to wherever a 307/308 points, plain `http://`
/// or another host included.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else if same_origin {
            attempt.follow()
        } else {
            let message = format!(
                "the server redirected to another address, {}; stigfix sends credentials only to the URL it was given",
                crate::secrets::redact_url_credentials(attempt.url().as_str())
            );
            attempt.error(message)
        }
    })
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
        && mismatch(error).is_none()
}

/// Which side spoke TLS when the other did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mismatch {
    /// An `https://` URL whose server answered the TLS handshake in plain HTTP.
    ServerSpeaksPlain,
    /// An `http://` URL whose server answered the plain request with TLS.
    ServerSpeaksTls,
}

/// Recognise a client and server that disagree on TLS: rustls reading an HTTP answer as a TLS
/// record ("received corrupt message of type InvalidContentType"), or hyper reading a TLS
/// alert as an HTTP answer ("invalid HTTP version parsed").
fn mismatch(error: &reqwest::Error) -> Option<Mismatch> {
    let https = error.url().is_some_and(|url| url.scheme() == "https");
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        let plain_answer = error
            .downcast_ref::<rustls::Error>()
            .or_else(|| {
                error
                    .downcast_ref::<std::io::Error>()
                    .and_then(|io| io.get_ref())
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            })
            .is_some_and(|tls| {
                matches!(
                    tls,
                    rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
                )
            })
            // The connector's error can hide the rustls type behind its own boxes.
            || error
                .to_string()
                .contains("corrupt message of type InvalidContentType");
        if https && plain_answer {
            return Some(Mismatch::ServerSpeaksPlain);
        }
        if !https && error.to_string().contains("invalid HTTP version parsed") {
            return Some(Mismatch::ServerSpeaksTls);
        }
        current = error.source();
    }
    None
}

/// The one-line error of a [`Mismatch`].
fn mismatch_error(what: &str, url: &str, mismatch: Mismatch) -> Error {
    match mismatch {
        Mismatch::ServerSpeaksTls => Error::new(format!(
            "{what}: {url} answered a plain HTTP request with TLS: the URL should start with https://"
        ))
        .with_hint("use the https:// URL (with --ca-cert FILE if the server's CA is not in the system store)"),
        Mismatch::ServerSpeaksPlain => {
            let loopback = reqwest::Url::parse(url).is_ok_and(|parsed| {
                let mut plain = parsed;
                plain.set_scheme("http").is_ok()
                    && crate::secrets::transport(&plain) == crate::secrets::Transport::PlainLoopback
            });
            if loopback {
                Error::new(format!(
                    "{what}: {url} answered plain HTTP to a TLS handshake: the URL should start with http://"
                ))
                .with_hint("plain http:// is accepted for this machine's loopback only")
            } else {
                Error::new(format!(
                    "{what}: {url} answered plain HTTP to a TLS handshake: it serves no HTTPS on that port"
                ))
                .with_hint("check the port: UCP/MKE and DTR/MSR serve HTTPS (443 unless configured otherwise); stigfix sends passwords over plain http:// only to this machine")
            }
        }
    }
}

/// Describe a transport error in one line naming the URL, with a hint.
pub fn transport_error(what: &str, method: &str, url: &str, error: &reqwest::Error) -> Error {
    if let Some(mismatch) = mismatch(error) {
        return mismatch_error(what, url, mismatch);
    }
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
    if error.is_redirect() {
        return Error::new(format!("{what}: {method} {url}: {cause}")).with_hint(
            "if that address is the right one, give it as the URL (--ucp-url / --dtr-url)",
        );
    }
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

/// The message of an `{"errors":[{"code","message"}]}` envelope (docs/reference/api-facts.md §2.7, §3.7), or of a
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
