//! `tls:`, spelled as Temporal's `global.tls`.

use std::time::Duration;

use serde::Deserialize;

use super::units::duration_text;
use super::{Config, Error};

/// `tls:` — the keys are spelled as in Temporal's `global.tls` (camelCase), so a Temporal
/// config section can be copied. Empty strings and lists mean "not set", as there.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct TlsConfig {
    /// The public gRPC listener (SDKs, CLI).
    pub frontend: GroupTls,
    /// Traffic between the nodes of a cluster (their internal listeners): the server side
    /// guards each node's internal listener, the client side is how nodes dial each other.
    pub internode: GroupTls,
    /// How often certificate files are read again (a changed certificate or CA pool is used by
    /// the next handshakes); unset or `0s`: loaded once at start.
    #[serde(with = "duration_text")]
    pub refresh_interval: Option<Duration>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GroupTls {
    pub server: ServerTls,
    pub client: ClientTls,
}

/// The listening side. TLS is on iff `keyFile` or `keyData` is set.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct ServerTls {
    /// PEM certificate chain (leaf first), a file (relative to the config file)…
    pub cert_file: String,
    /// …or the base64 of the PEM text.
    pub cert_data: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1), a file…
    pub key_file: String,
    /// …or the base64 of the PEM text.
    pub key_data: String,
    /// CA certificates (PEM files) that client certificates must chain to…
    pub client_ca_files: Vec<String>,
    /// …or base64 PEM blobs (each may hold several certificates).
    pub client_ca_data: Vec<String>,
    /// Ask every client for a certificate and verify it against the client CAs; when false no
    /// client certificate is requested at all (there is no "verify if presented" mode).
    pub require_client_auth: bool,
}

/// The dialling side. TLS is on iff a root CA is given or `forceTLS` is true.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct ClientTls {
    /// Name the server's certificate must carry (DNS SAN); also sent as SNI.
    pub server_name: String,
    /// Turns off all verification of the server's certificate (chain and name).
    pub disable_host_verification: bool,
    /// CA certificates (PEM files) the server's chain must lead to…
    pub root_ca_files: Vec<String>,
    /// …or base64 PEM blobs.
    pub root_ca_data: Vec<String>,
    /// Use TLS with the system's trust roots when no root CA is given.
    #[serde(rename = "forceTLS")]
    pub force_tls: bool,
}

impl ServerTls {
    /// Temporal's rule: a key turns TLS on; a certificate alone does not.
    pub fn enabled(&self) -> bool {
        !self.key_file.is_empty() || !self.key_data.is_empty()
    }
}

impl ClientTls {
    pub fn enabled(&self) -> bool {
        !self.root_ca_files.is_empty() || !self.root_ca_data.is_empty() || self.force_tls
    }
}

impl Config {
    /// Shape checks only (no file is read here; certificates are loaded when the listener
    /// starts, and their errors are reported then).
    pub(super) fn validate_tls(&self) -> Result<(), Error> {
        use base64::Engine as _;
        let invalid = |key: String, message: String| Err(Error::Invalid { key, message });
        let base64_ok = |text: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .is_ok()
        };
        for (group, g) in [
            ("frontend", &self.tls.frontend),
            ("internode", &self.tls.internode),
        ] {
            let s = &g.server;
            let key = format!("tls.{group}.server");
            if !s.cert_file.is_empty() && !s.cert_data.is_empty() {
                return invalid(key, "certFile and certData cannot both be set".into());
            }
            if !s.key_file.is_empty() && !s.key_data.is_empty() {
                return invalid(key, "keyFile and keyData cannot both be set".into());
            }
            if !s.client_ca_files.is_empty() && !s.client_ca_data.is_empty() {
                return invalid(
                    key,
                    "clientCaFiles and clientCaData cannot both be set".into(),
                );
            }
            // Temporal silently serves plaintext in these cases; here they are errors.
            let has_cert = !s.cert_file.is_empty() || !s.cert_data.is_empty();
            if s.enabled() && !has_cert {
                return invalid(
                    key,
                    "a key is set but no certificate (certFile or certData)".into(),
                );
            }
            if !s.enabled() && has_cert {
                return invalid(
                    key,
                    "a certificate is set but no key (keyFile or keyData): TLS would stay off"
                        .into(),
                );
            }
            if s.require_client_auth && !s.enabled() {
                return invalid(
                    format!("{key}.requireClientAuth"),
                    "needs server TLS (certFile/keyFile or certData/keyData)".into(),
                );
            }
            let no_client_cas = s.client_ca_files.is_empty() && s.client_ca_data.is_empty();
            if s.require_client_auth && no_client_cas {
                return invalid(
                    format!("{key}.requireClientAuth"),
                    "needs clientCaFiles or clientCaData to verify client certificates against"
                        .into(),
                );
            }
            let c = &g.client;
            let ckey = format!("tls.{group}.client");
            if !c.root_ca_files.is_empty() && !c.root_ca_data.is_empty() {
                return invalid(ckey, "rootCaFiles and rootCaData cannot both be set".into());
            }
            for (field, list) in [
                ("server.clientCaFiles", &s.client_ca_files),
                ("server.clientCaData", &s.client_ca_data),
                ("client.rootCaFiles", &c.root_ca_files),
                ("client.rootCaData", &c.root_ca_data),
            ] {
                for (i, entry) in list.iter().enumerate() {
                    if entry.trim().is_empty() {
                        return invalid(
                            format!("tls.{group}.{field}[{i}]"),
                            "CA cannot be an empty string".into(),
                        );
                    }
                }
            }
            for (field, value) in [
                ("server.certData", &s.cert_data),
                ("server.keyData", &s.key_data),
            ] {
                if !value.is_empty() && !base64_ok(value) {
                    return invalid(
                        format!("tls.{group}.{field}"),
                        "not base64 (give the base64 of the PEM text)".into(),
                    );
                }
            }
            for (field, list) in [
                ("server.clientCaData", &s.client_ca_data),
                ("client.rootCaData", &c.root_ca_data),
            ] {
                for (i, entry) in list.iter().enumerate() {
                    if !base64_ok(entry) {
                        return invalid(
                            format!("tls.{group}.{field}[{i}]"),
                            "not base64 (give the base64 of the PEM text)".into(),
                        );
                    }
                }
            }
        }
        Ok(())
    }
}
