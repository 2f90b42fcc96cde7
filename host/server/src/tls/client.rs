//! The client side: the rustls config a node dials its peers with, and the checks of the
//! groups no listener here loads.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use super::{
    Error, Source, VERSIONS, ca_pool, ca_sources, certificates, one_source, private_key, provider,
};
use crate::config::{ClientTls, Config, GroupTls};

/// Checks `frontend.client` by building what it describes (nothing dials the frontend from
/// here, but a bad file or blob should stop the start), and logs settings that have no effect.
/// The `internode` group is loaded by `cluster::internode`.
pub fn check_other_groups(config: &Config) -> Result<(), Error> {
    client_config(config, "frontend", &config.tls.frontend)?;
    for (group, g) in [
        ("internode", &config.tls.internode),
        ("frontend", &config.tls.frontend),
    ] {
        let s = &g.server;
        let has_cas = !s.client_ca_files.is_empty() || !s.client_ca_data.is_empty();
        if has_cas && !s.require_client_auth {
            tracing::warn!(
                "tls.{group}.server: client CAs are set but requireClientAuth is false: no \
                 client certificate is asked for"
            );
        }
    }
    if config.is_sqlite()
        && (config.tls.internode.server.enabled() || config.tls.internode.client.enabled())
    {
        tracing::info!(
            "tls.internode is set, but a SQLite database serves one node: there is no \
             internode connection for it to guard"
        );
    }
    Ok(())
}

/// The rustls client config a service would dial its peers with under `group`'s `client`
/// settings: none when client TLS is off. With the server side's `requireClientAuth`, the
/// server's own key pair is presented (Temporal's internode rule).
pub fn client_config(
    config: &Config,
    group: &str,
    settings: &GroupTls,
) -> Result<Option<rustls::ClientConfig>, Error> {
    let c: &ClientTls = &settings.client;
    if !c.enabled() {
        return Ok(None);
    }
    let prefix = format!("tls.{group}.client.");
    let sources = ca_sources(
        config,
        &format!("{prefix}rootCa"),
        &c.root_ca_files,
        &c.root_ca_data,
    );
    let roots = if sources.is_empty() {
        // forceTLS without roots: Mozilla's root set stands in for the system's.
        rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }
    } else {
        let pems = sources
            .iter()
            .map(Source::read)
            .collect::<Result<Vec<_>, _>>()?;
        ca_pool(&sources, &pems)?
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots);
    let s = &settings.server;
    let mut client = if s.require_client_auth && s.enabled() {
        let server_key = format!("tls.{group}.server.");
        let cert = one_source(
            config,
            format!("{server_key}cert"),
            &s.cert_file,
            &s.cert_data,
        )
        .expect("validated");
        let key = one_source(config, format!("{server_key}key"), &s.key_file, &s.key_data)
            .expect("validated");
        let chain = certificates(cert.key(), &cert.read()?)?;
        let key_der = private_key(key.key(), &key.read()?)?;
        builder
            .with_client_auth_cert(chain, key_der)
            .map_err(|e| Error::Rustls {
                key: format!("tls.{group}.server"),
                source: e,
            })?
    } else {
        builder.with_no_client_auth()
    };
    client.alpn_protocols = vec![b"h2".to_vec()];
    if c.disable_host_verification {
        client
            .dangerous()
            .set_certificate_verifier(Arc::new(NoVerification(provider())));
    }
    if !c.server_name.is_empty()
        && rustls::pki_types::ServerName::try_from(c.server_name.as_str()).is_err()
    {
        return Err(Error::Material {
            key: format!("{prefix}serverName"),
            message: format!("{:?} is not a DNS name or IP address", c.server_name),
        });
    }
    Ok(Some(client))
}

/// `disableHostVerification`: accepts any server certificate (signatures are still checked).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
