//! The simulated cluster's PKI for its Kubernetes API: a cluster CA, the API server's
//! certificate for `127.0.0.1`/`localhost`, an `admin` client certificate, and the client
//! bundle zip MKE would hand out for it (reference/api-facts.md §2.5). The server asks every
//! client for a certificate and verifies it against the cluster CA.

use std::sync::Arc;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::targets::workload::kube::zip;

fn err(context: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("simulator Kubernetes TLS setup: {context}: {e}"))
}

/// The server side, and the bundle for the client side.
pub(super) struct KubeTls {
    pub(super) server_config: Arc<rustls::ServerConfig>,
    /// The client bundle zip.
    pub(super) bundle: Vec<u8>,
    /// `ca.pem` of the bundle.
    pub(super) ca_pem: String,
}

fn leaf(
    names: Vec<String>,
    common_name: &str,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> std::io::Result<(rcgen::Certificate, KeyPair)> {
    let mut params = CertificateParams::new(names).map_err(|e| err(common_name, e))?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().map_err(|e| err("key", e))?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|e| err(common_name, e))?;
    Ok((cert, key))
}

/// A CA, its server and client certificates, and the bundle for `server_url`.
pub(super) fn generate(server_url: &str) -> std::io::Result<KubeTls> {
    let crate::sim::tls::Ca {
        pem: ca_pem,
        der: ca_der,
        issuer,
    } = crate::sim::tls::ca("MKE Cluster Root CA (simulator)").map_err(|e| err("CA", e))?;
    let (server, server_key) = leaf(
        vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        "kube-apiserver",
        ExtendedKeyUsagePurpose::ServerAuth,
        &issuer,
    )?;
    let (client, client_key) = leaf(
        Vec::new(),
        "admin",
        ExtendedKeyUsagePurpose::ClientAuth,
        &issuer,
    )?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der).map_err(|e| err("client roots", e))?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| err("client verifier", e))?;
    let chain: Vec<CertificateDer<'static>> = vec![server.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("protocol versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| err("server config", e))?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let host = server_url.trim_start_matches("https://");
    let context = format!("ucp_{host}_admin");
    let kube = format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority: ca.pem\n    server: {server_url}\n  name: {context}\ncontexts:\n- context:\n    cluster: {context}\n    user: {context}\n  name: {context}\ncurrent-context: {context}\nkind: Config\npreferences: {{}}\nusers:\n- name: {context}\n  user:\n    client-certificate: cert.pem\n    client-key: key.pem\n"
    );
    let env = "export COMPOSE_TLS_VERSION=TLSv1_2\nexport DOCKER_CERT_PATH=\"$(pwd)\"\nexport DOCKER_TLS_VERIFY=1\nif kubectl >/dev/null 2>&1; then\n    unset KUBECONFIG\n    export KUBECONFIG=\"$(pwd)/kube.yml\"\nfi\n";
    let meta = serde_json::json!({
        "Name": "", "Description": "stigfix simulator",
        "Endpoints": {"kubernetes": {"Host": server_url, "SkipTLSVerify": false}}
    })
    .to_string();
    let cert_pem = client.pem();
    let key_pem = client_key.serialize_pem();
    let public = client_key.public_key_pem();
    let bundle = zip::write(
        &[
            ("ca.pem", ca_pem.as_bytes()),
            ("cert.pem", cert_pem.as_bytes()),
            ("key.pem", key_pem.as_bytes()),
            ("cert.pub", public.as_bytes()),
            ("kube.yml", kube.as_bytes()),
            ("env.sh", env.as_bytes()),
            ("meta.json", meta.as_bytes()),
        ],
        "ucp-bundle-admin (simulator)",
    );
    Ok(KubeTls {
        server_config: Arc::new(server_config),
        bundle,
        ca_pem,
    })
}
