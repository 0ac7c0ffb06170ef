//! TLS material for the simulator: a CA generated at start and a server certificate for
//! `127.0.0.1` and `localhost` signed by it. Uses the `ring` provider explicitly, never a
//! process-default provider.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A generated CA (PEM, for clients to trust) and a server configuration using a leaf
/// certificate it signed.
pub(crate) struct TlsMaterial {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

fn err(context: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("simulator TLS setup: {context}: {e}"))
}

/// A self-signed CA named `common_name`: its PEM and DER, and the issuer that signs with it.
pub(crate) struct Ca {
    pub(crate) pem: String,
    pub(crate) der: CertificateDer<'static>,
    pub(crate) issuer: Issuer<'static, KeyPair>,
}

pub(crate) fn ca(common_name: &str) -> Result<Ca, String> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| format!("CA: {e}"))?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("CA certificate: {e}"))?;
    Ok(Ca {
        pem: cert.pem(),
        der: cert.der().clone(),
        issuer: Issuer::new(params, key),
    })
}

pub(crate) fn generate() -> std::io::Result<TlsMaterial> {
    let Ca {
        pem: ca_pem,
        issuer,
        ..
    } = ca("stigfix simulator CA").map_err(|e| err("CA", e))?;

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(|e| err("server", e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(|e| err("server key", e))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| err("server certificate", e))?;

    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
    let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| err("protocol versions", e))?
    .with_no_client_auth()
    .with_single_cert(chain, private_key)
    .map_err(|e| err("server config", e))?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_pem,
        server_config: Arc::new(server_config),
    })
}
