//! Mutual TLS on the frontend listener, through a real server on a loopback port, with a CA
//! and certificates made here (rcgen) and a tonic client dialling over rustls. Covers: a good
//! client certificate; refusals (none, another CA, expired, wrong server name); certificate
//! rotation on disk under load; a certificate's CN mapped to a namespace role by the builtin
//! cert-claim-mapper and enforced by the default authorizer.

mod common;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use prost::Message;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sundial_server::config::{Config, PluginConfig};
use temporalio_protos::temporal::api::workflowservice::v1::*;
use tonic::Code;
use tonic::transport::{Channel, Endpoint, Uri};

/// A certificate authority made for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `cn` (DNS SANs `sans`), valid from a day ago for `days` days from now
    /// (negative: already expired).
    fn leaf(&self, cn: &str, sans: &[&str], days: i64) -> Leaf {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Sundial tests");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(30);
        params.not_after = now + time::Duration::days(days);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// What a test server is made of.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
            ca: Ca::new("Sundial test CA"),
        };
        let server = pki.ca.leaf("sundial", &["localhost"], 30);
        pki.write("server.pem", &server.cert);
        pki.write("server.key", &server.key);
        pki.write("ca.pem", &pki.ca.pem());
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Replaces a file the way certificate tools do: write aside, then rename over it.
    fn write(&self, name: &str, text: &str) {
        let aside = self.path(&format!(".{name}.new"));
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, self.path(name)).unwrap();
    }

    /// A config with mutual TLS on the frontend; files relative to the config file.
    fn config(&self) -> Config {
        let yaml = "server: {port: 0}\n\
            tls:\n  refreshInterval: 100ms\n  frontend:\n    server:\n      certFile: server.pem\n      keyFile: server.key\n      clientCaFiles: [ca.pem]\n      requireClientAuth: true\n";
        let file = self.path("sundial.yaml");
        std::fs::write(&file, yaml).unwrap();
        Config::from_yaml(&file).unwrap()
    }
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A rustls client trusting `roots`, presenting `leaf` if given.
fn client_config(roots: &str, leaf: Option<&Leaf>) -> Arc<rustls::ClientConfig> {
    client_config_with(roots, leaf, rustls::DEFAULT_VERSIONS)
}

fn client_config_with(
    roots: &str,
    leaf: Option<&Leaf>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for c in certs(roots) {
        store.add(c).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(store);
    let mut config = match leaf {
        Some(l) => builder
            .with_client_auth_cert(
                certs(&l.cert),
                PrivateKeyDer::from_pem_slice(l.key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// Dials over rustls with a fixed server name; records each server's leaf certificate.
#[derive(Clone)]
struct Connector {
    config: Arc<rustls::ClientConfig>,
    server_name: String,
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<CertificateDer<'static>>>>,
}

type Io = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl tower::Service<Uri> for Connector {
    type Response = Io;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Io>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect(this.addr).await?;
            let name = ServerName::try_from(this.server_name.clone()).unwrap();
            let tls = tokio_rustls::TlsConnector::from(this.config)
                .connect(name, tcp)
                .await?;
            if let Some(leaf) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                this.seen.lock().unwrap().push(leaf.clone().into_owned());
            }
            Ok(hyper_util::rt::TokioIo::new(tls))
        })
    }
}

impl Connector {
    fn new(addr: std::net::SocketAddr, config: Arc<rustls::ClientConfig>) -> Connector {
        Connector {
            config,
            server_name: "localhost".into(),
            addr,
            seen: Arc::default(),
        }
    }

    async fn channel(&self) -> Result<Channel, String> {
        Endpoint::from_static("http://localhost")
            .connect_with_connector(self.clone())
            .await
            .map_err(|e| chain(&e))
    }
}

/// An error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

async fn system_info(channel: &Channel) -> Result<GetSystemInfoResponse, tonic::Status> {
    common::raw_call(
        channel,
        "GetSystemInfo",
        GetSystemInfoRequest::default().encode_to_vec(),
        false,
    )
    .await
}

/// Connects and makes one call; the error text (with its causes) if either fails.
async fn try_call(connector: &Connector) -> Result<(), String> {
    let channel = connector.channel().await?;
    system_info(&channel).await.map(|_| ()).map_err(|s| {
        let mut text = format!("{}: {}", s.code(), s.message());
        if let Some(src) = std::error::Error::source(&s) {
            text.push_str(": ");
            text.push_str(&chain(src));
        }
        text
    })
}

#[tokio::test]
async fn client_certificates_are_required_and_verified() {
    let pki = Pki::new();
    let running = sundial_server::start(&pki.config(), None).await.unwrap();
    let addr = running.addr;
    let good = pki.ca.leaf("worker", &[], 30);
    let ok = Connector::new(addr, client_config(&pki.ca.pem(), Some(&good)));
    try_call(&ok)
        .await
        .expect("a client with a good certificate");
    let tls12 = Connector::new(
        addr,
        client_config_with(&pki.ca.pem(), Some(&good), &[&rustls::version::TLS12]),
    );
    try_call(&tls12).await.expect("TLS 1.2 is accepted");

    // A plaintext client gets nowhere.
    let plain = common_plain_call(addr).await;
    assert!(plain.is_err(), "plaintext must be refused: {plain:?}");

    let cases: [(&str, Arc<rustls::ClientConfig>, &[&str]); 3] = [
        (
            "no certificate",
            client_config(&pki.ca.pem(), None),
            &["CertificateRequired"],
        ),
        (
            "another CA",
            client_config(
                &pki.ca.pem(),
                Some(&Ca::new("Other CA").leaf("worker", &[], 30)),
            ),
            &["UnknownCA", "BadCertificate"],
        ),
        (
            "expired",
            client_config(&pki.ca.pem(), Some(&pki.ca.leaf("worker", &[], -1))),
            &["CertificateExpired"],
        ),
    ];
    for (what, config, words) in cases {
        // With TLS 1.3 the client ends its handshake before the server has checked the
        // certificate: the server's alert races the first request, which may only see the
        // connection close. Every attempt must fail; the alert must show within a few.
        let mut errors = Vec::new();
        for _ in 0..5 {
            let err = try_call(&Connector::new(addr, config.clone()))
                .await
                .expect_err(what);
            let said_why = words.iter().any(|w| err.contains(w));
            errors.push(err);
            if said_why {
                break;
            }
        }
        let last = errors.last().unwrap();
        assert!(
            words.iter().any(|w| last.contains(w)),
            "{what}: the error should say why: {errors:?}"
        );
    }

    // The client checks the server's name.
    let mut wrong = Connector::new(addr, client_config(&pki.ca.pem(), Some(&good)));
    wrong.server_name = "sundial.example".into();
    let err = try_call(&wrong).await.expect_err("wrong server name");
    assert!(err.contains("not valid for name"), "{err}");

    // A client that connects and says nothing does not hold up the others.
    let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), try_call(&ok))
        .await
        .expect("not stalled by an idle connection")
        .expect("refusals did not stop the listener");
    running.stop().await.unwrap();
}

/// One call over plaintext HTTP/2.
async fn common_plain_call(addr: std::net::SocketAddr) -> Result<(), String> {
    let channel = tokio::time::timeout(
        Duration::from_secs(5),
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect(),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| chain(&e))?;
    tokio::time::timeout(Duration::from_secs(5), system_info(&channel))
        .await
        .map_err(|_| "timed out".to_string())?
        .map(|_| ())
        .map_err(|s| s.to_string())
}

#[tokio::test]
async fn certificates_are_reloaded_under_load_without_failed_calls() {
    let pki = Pki::new();
    let mut config = pki.config();
    // GetSystemInfo as fast as four clients can call it: over the operator's share of the
    // default rate (480 a second).
    config.apply_dynamic_value("frontend.rps=1000000").unwrap();
    let running = sundial_server::start(&config, None).await.unwrap();
    let good = pki.ca.leaf("worker", &[], 30);
    let connector = Connector::new(running.addr, client_config(&pki.ca.pem(), Some(&good)));
    let old_cert = certs(&std::fs::read_to_string(pki.path("server.pem")).unwrap()).remove(0);

    // One connection kept open throughout.
    let long_lived = connector.channel().await.unwrap();
    system_info(&long_lived).await.unwrap();

    let stop_at = Instant::now() + Duration::from_secs(4);
    let mut load = Vec::new();
    for _ in 0..4 {
        let connector = connector.clone();
        load.push(tokio::spawn(async move {
            let mut calls = 0;
            while Instant::now() < stop_at {
                try_call(&connector).await.expect("a call during rotation");
                calls += 1;
            }
            calls
        }));
    }
    let steady = {
        let channel = long_lived.clone();
        tokio::spawn(async move {
            let mut calls = 0;
            while Instant::now() < stop_at {
                system_info(&channel)
                    .await
                    .expect("the long-lived connection");
                calls += 1;
            }
            calls
        })
    };

    tokio::time::sleep(Duration::from_secs(1)).await;
    let rotated = pki.ca.leaf("sundial-rotated", &["localhost"], 60);
    // Key first: until the certificate follows, the pair does not match and the old
    // material stays (the mismatch is logged).
    pki.write("server.key", &rotated.key);
    pki.write("server.pem", &rotated.cert);
    let new_cert = certs(&rotated.cert).remove(0);

    let mut total = 0;
    for task in load {
        total += task.await.unwrap();
    }
    let steady_calls = steady.await.unwrap();
    assert!(total > 20, "only {total} calls over fresh connections");
    assert!(
        steady_calls > 20,
        "only {steady_calls} calls on the long-lived connection"
    );

    let seen = connector.seen.lock().unwrap().clone();
    assert_eq!(
        seen.first(),
        Some(&old_cert),
        "first connections: the old certificate"
    );
    assert_eq!(
        seen.last(),
        Some(&new_cert),
        "last connections: the new certificate"
    );
    assert!(
        seen.iter().all(|c| *c == old_cert || *c == new_cert),
        "only the two certificates were served"
    );
    // The connection made before the rotation still works.
    system_info(&long_lived).await.unwrap();
    // And a new one sees the new certificate.
    let probe = Connector::new(running.addr, client_config(&pki.ca.pem(), Some(&good)));
    try_call(&probe).await.unwrap();
    assert_eq!(probe.seen.lock().unwrap().last(), Some(&new_cert));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn broken_replacement_keeps_the_current_certificate() {
    let pki = Pki::new();
    let mut config = pki.config();
    // GetSystemInfo as fast as four clients can call it: over the operator's share of the
    // default rate (480 a second).
    config.apply_dynamic_value("frontend.rps=1000000").unwrap();
    let running = sundial_server::start(&config, None).await.unwrap();
    let good = pki.ca.leaf("worker", &[], 30);
    let connector = Connector::new(running.addr, client_config(&pki.ca.pem(), Some(&good)));
    let old_cert = certs(&std::fs::read_to_string(pki.path("server.pem")).unwrap()).remove(0);
    pki.write("server.pem", "not a certificate");
    tokio::time::sleep(Duration::from_millis(400)).await;
    try_call(&connector)
        .await
        .expect("still served with the old certificate");
    assert_eq!(connector.seen.lock().unwrap().last(), Some(&old_cert));

    // A good pair afterwards is picked up: the refresh kept running.
    let rotated = pki.ca.leaf("sundial-rotated", &["localhost"], 60);
    pki.write("server.key", &rotated.key);
    pki.write("server.pem", &rotated.cert);
    let new_cert = certs(&rotated.cert).remove(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        try_call(&connector).await.expect("served throughout");
        if connector.seen.lock().unwrap().last() == Some(&new_cert) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn bad_material_stops_the_start_naming_the_key() {
    let pki = Pki::new();
    pki.write("ca.pem", "junk");
    let err = sundial_server::start(&pki.config(), None)
        .await
        .err()
        .expect("junk CA refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("tls.frontend.server.clientCaFiles[0]"),
        "{text}"
    );

    let pki = Pki::new();
    std::fs::remove_file(pki.path("server.key")).unwrap();
    let err = sundial_server::start(&pki.config(), None)
        .await
        .err()
        .expect("missing key refused");
    let text = format!("{err:#}");
    assert!(text.contains("tls.frontend.server.keyFile"), "{text}");

    // The internode group's material is checked at start too (on SQLite, where there is no
    // other node to dial, as well).
    let pki = Pki::new();
    let mut config = pki.config();
    config.tls.internode.server = config.tls.frontend.server.clone();
    config.tls.internode.client.root_ca_files = vec!["missing-ca.pem".into()];
    let err = sundial_server::start(&config, None)
        .await
        .err()
        .expect("missing internode root CA refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("tls.internode.client.rootCaFiles[0]"),
        "{text}"
    );
}

/// The client side a service would dial its peers with (`tls::client_config`): it presents
/// the group's server certificate when the group requires client certificates, and checks the
/// peer's name against `serverName`.
#[tokio::test]
async fn group_client_settings_dial_with_the_server_certificate_and_check_the_name() {
    let pki = Pki::new();
    let mut config = pki.config();
    let group = config.tls.frontend.server.clone();
    config.tls.internode.server = group;
    config.tls.internode.client.server_name = "localhost".into();
    config.tls.internode.client.root_ca_files = vec!["ca.pem".into()];
    let running = sundial_server::start(&config, None).await.unwrap();

    let dial = |config: &Config, name: &str| {
        let client = sundial_server::tls::client_config(config, "internode", &config.tls.internode)
            .unwrap()
            .expect("client TLS is on");
        let mut c = Connector::new(running.addr, Arc::new(client));
        c.server_name = name.into();
        c
    };
    let name = config.tls.internode.client.server_name.clone();
    try_call(&dial(&config, &name))
        .await
        .expect("dials with the server certificate");
    let err = try_call(&dial(&config, "sundial.example"))
        .await
        .expect_err("another name");
    assert!(err.contains("not valid for name"), "{err}");

    // Without requireClientAuth on the group, no certificate is presented: refused here.
    config.tls.internode.server.require_client_auth = false;
    let err = try_call(&dial(&config, &name))
        .await
        .expect_err("no certificate");
    assert!(
        err.contains("CertificateRequired") || err.contains("connection closed"),
        "{err}"
    );

    // Neither root CAs nor forceTLS: client TLS is off.
    config.tls.internode.client.root_ca_files.clear();
    assert!(
        sundial_server::tls::client_config(&config, "internode", &config.tls.internode)
            .unwrap()
            .is_none()
    );
    running.stop().await.unwrap();
}

fn start_request(workflow_id: &str) -> StartWorkflowExecutionRequest {
    common::start_request("default", workflow_id, "q")
}

#[tokio::test]
async fn certificate_common_name_maps_to_a_namespace_role() {
    let pki = Pki::new();
    let mut config = pki.config();
    config.plugins.push(PluginConfig {
        config: [
            ("cn:writer".to_string(), "default:write".to_string()),
            ("cn:reader".to_string(), "default:read".to_string()),
        ]
        .into(),
        ..PluginConfig::builtin("certs", "claim-mapper", "cert-claim-mapper")
    });
    config.plugins.push(PluginConfig::builtin(
        "roles",
        "authorizer",
        "default-authorizer",
    ));
    config.authorization.claim_mapper = Some("certs".into());
    config.authorization.authorizer = Some("roles".into());
    let running = sundial_server::start(&config, None).await.unwrap();

    let channel_for = |cn: &str| {
        let leaf = pki.ca.leaf(cn, &[], 30);
        Connector::new(running.addr, client_config(&pki.ca.pem(), Some(&leaf)))
    };
    let writer = channel_for("writer").channel().await.unwrap();
    let reader = channel_for("reader").channel().await.unwrap();
    let stranger = channel_for("stranger").channel().await.unwrap();

    let start = |channel: Channel, id: &'static str| async move {
        common::raw_call::<StartWorkflowExecutionResponse>(
            &channel,
            "StartWorkflowExecution",
            start_request(id).encode_to_vec(),
            false,
        )
        .await
    };
    let list = |channel: Channel| async move {
        common::raw_call::<ListWorkflowExecutionsResponse>(
            &channel,
            "ListWorkflowExecutions",
            ListWorkflowExecutionsRequest {
                namespace: "default".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            false,
        )
        .await
    };

    let started = start(writer.clone(), "by-writer")
        .await
        .expect("writer starts");
    assert!(!started.run_id.is_empty());
    let denied = start(reader.clone(), "by-reader")
        .await
        .expect_err("a reader cannot start workflows");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    list(reader.clone()).await.expect("a reader can list");
    let denied = list(stranger.clone())
        .await
        .expect_err("an unmapped certificate has no role");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    // Claims are cached per certificate subject: the writer's do not leak to the others.
    start(writer.clone(), "by-writer-2")
        .await
        .expect("writer again");
    let denied = start(reader, "by-reader-2")
        .await
        .expect_err("reader again");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    running.stop().await.unwrap();
}

#[test]
fn subject_is_read_in_rfc4514_order() {
    let ca = Ca::new("CA");
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    // Encoded most significant first, as CAs do: O, then OU, then CN.
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Acme, Inc");
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, "ops");
    params.distinguished_name.push(DnType::CommonName, "worker");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let s = sundial_server::tls::subject(cert.der()).unwrap();
    assert_eq!(s.distinguished_name, "CN=worker,OU=ops,O=Acme\\, Inc");
    assert_eq!(s.common_name.as_deref(), Some("worker"));
    assert_eq!(s.organization, vec!["Acme, Inc".to_string()]);
    assert_eq!(s.organizational_unit, vec!["ops".to_string()]);
}

/// config/mtls.yaml with the certificates config/mtls-certs.sh makes (needs `openssl`).
#[tokio::test]
async fn shipped_mtls_example_serves_with_its_script_certificates() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo.join("config/mtls.yaml"), dir.path().join("mtls.yaml")).unwrap();
    common::mtls_certs(&dir.path().join("mtls-certs"));
    let mut config = Config::from_yaml(&dir.path().join("mtls.yaml")).unwrap();
    config.server.port = 0;
    config.persistence.url = "sqlite::memory:".into();
    let running = sundial_server::start(&config, None).await.unwrap();

    let certs_dir = dir.path().join("mtls-certs");
    let read = |name: &str| std::fs::read_to_string(certs_dir.join(name)).unwrap();
    let client = |cn: &str| {
        let leaf = Leaf {
            cert: read(&format!("{cn}.pem")),
            key: read(&format!("{cn}.key")),
        };
        Connector::new(running.addr, client_config(&read("ca.pem"), Some(&leaf)))
    };
    let start = |channel: Channel, id: &'static str| async move {
        common::raw_call::<StartWorkflowExecutionResponse>(
            &channel,
            "StartWorkflowExecution",
            start_request(id).encode_to_vec(),
            false,
        )
        .await
    };
    let writer = client("writer").channel().await.unwrap();
    start(writer, "example-writer")
        .await
        .expect("writer starts");
    let reader = client("reader").channel().await.unwrap();
    let denied = start(reader, "example-reader").await.expect_err("reader");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    running.stop().await.unwrap();
}

/// What the claim mapper is handed: the certificate's subject and the SNI name, seen through
/// a fixture mapper that writes its input into the claims, and the recorded decisions.
#[tokio::test]
async fn claim_mapper_receives_the_certificate_subject_and_server_name() {
    let pki = Pki::new();
    let mut config = pki.config();
    let decisions = pki.path("decisions.jsonl");
    config.plugins.push(PluginConfig {
        name: "echo".into(),
        kind: "claim-mapper".into(),
        schemes: Vec::new(),
        file: Some(PathBuf::from(sundial_builtin_plugins::BUILT_DIR).join("echo_claims.wasm")),
        builtin: None,
        limits: Default::default(),
        grants: Default::default(),
        config: Default::default(),
        watch: false,
    });
    config
        .plugins
        .push(PluginConfig::builtin("all", "authorizer", "nop-authorizer"));
    config.authorization.claim_mapper = Some("echo".into());
    config.authorization.authorizer = Some("all".into());
    config.authorization.record_decisions = Some(decisions.clone());
    let running = sundial_server::start(&config, None).await.unwrap();
    for cn in ["alice", "bob"] {
        let leaf = pki.ca.leaf(cn, &[], 30);
        let c = Connector::new(running.addr, client_config(&pki.ca.pem(), Some(&leaf)));
        try_call(&c).await.unwrap();
    }
    running.stop().await.unwrap();

    let subjects: Vec<String> = std::fs::read_to_string(&decisions)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["claims"]["subject"].as_str().unwrap().to_string()
        })
        .collect();
    for cn in ["alice", "bob"] {
        let want = format!(
            "token=\"\" sni=Some(\"localhost\") dn=\"O=Sundial tests,CN={cn}\" cn=Some(\"{cn}\") o=[\"Sundial tests\"] ou=[]"
        );
        assert!(subjects.contains(&want), "{want} not in {subjects:#?}");
    }
}
