//! What authorization adds to a call: the built-in JWT claim mapper and default authorizer,
//! warm, measured two ways.
//!
//! 1. Plugin calls alone, in process: `get-claims` on a fresh token (what a cache miss costs)
//!    and `authorize` (what every call costs; claims come from the cache after the first).
//! 2. End to end: sequential DescribeNamespace calls over loopback gRPC against an in-process
//!    Sundial without authorization and one with the JWT mapper and the default authorizer;
//!    the difference of the medians is the added cost per call.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use prost::Message;
use sundial_plugin_host::{AuthInfo, CallTarget, DirectoryGrant, Grants, Limits, Runtime, Spec};
use sundial_server::config::{Config, PluginConfig, PluginGrants, DirectoryGrantConfig};
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, DescribeNamespaceResponse, StartWorkflowExecutionRequest,
};
use tonic_prost::ProstCodec;

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/jwt-claim-mapper/tests/keys")
}

/// A token signed with the test key `rsa1`, valid for an hour.
fn token(sub: &str, permissions: &[&str]) -> anyhow::Result<String> {
    let pem = std::fs::read(keys_dir().join("rsa1.pem"))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem)?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa1".into());
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
    let claims = serde_json::json!({
        "sub": sub, "iat": now, "exp": now + 3600, "permissions": permissions,
    });
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}

fn jwt_config() -> [(String, String); 1] {
    [(
        "key-source-uris".to_string(),
        "file:///keys/jwks.json".to_string(),
    )]
}

/// Median, p90 and p99 of `samples`, in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.9), at(0.99))
}

pub async fn run(calls: usize) -> anyhow::Result<()> {
    println!("## plugin calls, warm ({calls} sequential calls each)\n");
    let runtime = Runtime::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let limits = Limits {
        deadline: Duration::from_secs(5),
        memory_bytes: 32 << 20,
        fuel: None,
    };
    let mapper = runtime.load_claim_mapper(
        &Spec::new(
            "jwt",
            sundial_builtin_plugins::builtin("jwt-claim-mapper").expect("builtin"),
        )
        .limits(limits.clone())
        .grants(Grants {
            http: vec![],
            directories: vec![DirectoryGrant {
                host: keys_dir(),
                guest: "/keys".into(),
            }],
        })
        .config(jwt_config()),
    ).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let authorizer = runtime.load_authorizer(
        &Spec::new(
            "roles",
            sundial_builtin_plugins::builtin("default-authorizer").expect("builtin"),
        )
        .limits(limits),
    ).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    // Distinct tokens, so each get-claims really verifies a signature.
    let tokens: Vec<String> = (0..calls.min(2000))
        .map(|i| token(&format!("user-{i}"), &["default:write"]))
        .collect::<anyhow::Result<_>>()?;
    let info = |t: &str| AuthInfo {
        auth_token: format!("Bearer {t}"),
        extra_data: String::new(),
        tls_subject: None,
        tls_server_name: None,
        audience: String::new(),
    };
    let claims = mapper.get_claims(&info(&tokens[0])).await.map_err(|f| anyhow::anyhow!("{f}"))?;
    let mut mapping = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let i = info(t);
        let started = Instant::now();
        mapper.get_claims(&i).await.map_err(|f| anyhow::anyhow!("{f}"))?;
        mapping.push(started.elapsed());
    }
    let request = StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: "order-12345".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let target = CallTarget {
        api_name: "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution".into(),
        namespace: "default".into(),
        request_type: "temporal.api.workflowservice.v1.StartWorkflowExecutionRequest".into(),
        request: request.encode_to_vec(),
    };
    for _ in 0..200 {
        authorizer.authorize(Some(&claims), &target).await.map_err(|f| anyhow::anyhow!("{f}"))?;
    }
    let mut deciding = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let d = authorizer
            .authorize(Some(&claims), &target)
            .await
            .map_err(|f| anyhow::anyhow!("{f}"))?;
        deciding.push(started.elapsed());
        assert_eq!(d.decision, sundial_plugin_host::Decision::Allow);
    }
    let (m50, m90, m99) = percentiles(mapping);
    let (a50, a90, a99) = percentiles(deciding);
    println!("| call | p50 µs | p90 µs | p99 µs |\n|---|---|---|---|");
    println!("| jwt get-claims, new token (RS256 verify) | {m50:.1} | {m90:.1} | {m99:.1} |");
    println!("| default authorize (StartWorkflowExecution) | {a50:.1} | {a90:.1} | {a99:.1} |");

    println!("\n## end to end: sequential DescribeNamespace over loopback ({calls} calls each)\n");
    let plain = end_to_end(calls, None).await?;
    let tok = token("bench", &["default:write"])?;
    let authorized = end_to_end(calls, Some(&tok)).await?;
    println!("| server | p50 µs | p90 µs | p99 µs |\n|---|---|---|---|");
    println!("| no authorization | {:.1} | {:.1} | {:.1} |", plain.0, plain.1, plain.2);
    println!(
        "| JWT mapper + default authorizer | {:.1} | {:.1} | {:.1} |",
        authorized.0, authorized.1, authorized.2
    );
    println!(
        "\nadded per call: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
        authorized.0 - plain.0,
        authorized.1 - plain.1,
        authorized.2 - plain.2
    );
    Ok(())
}

async fn end_to_end(calls: usize, token: Option<&str>) -> anyhow::Result<(f64, f64, f64)> {
    let mut config = Config::default();
    config.server.port = 0;
    config.log.level = "warn".into();
    if token.is_some() {
        config.plugins.push(PluginConfig {
            name: "jwt".into(),
            kind: "claim-mapper".into(),
            file: None,
            builtin: Some("jwt-claim-mapper".into()),
            limits: Default::default(),
            grants: PluginGrants {
                http: vec![],
                directories: vec![DirectoryGrantConfig {
                    host: keys_dir(),
                    guest: "/keys".into(),
                }],
            },
            config: jwt_config().into_iter().collect(),
            watch: false,
        });
        config.plugins.push(PluginConfig {
            name: "roles".into(),
            kind: "authorizer".into(),
            file: None,
            builtin: Some("default-authorizer".into()),
            limits: Default::default(),
            grants: Default::default(),
            config: Default::default(),
            watch: false,
        });
        config.authorization.claim_mapper = Some("jwt".into());
        config.authorization.authorizer = Some("roles".into());
    }
    let server = sundial_server::start(&config, None).await?;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls + 500 {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await?;
        let mut request = tonic::Request::new(DescribeNamespaceRequest {
            namespace: "default".into(),
            ..Default::default()
        });
        if let Some(t) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse()?);
        }
        let started = Instant::now();
        grpc.unary(
            request,
            "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace".parse()?,
            ProstCodec::<DescribeNamespaceRequest, DescribeNamespaceResponse>::default(),
        )
        .await?;
        // The first 500 warm up connections, caches and plugin instances.
        if i >= 500 {
            samples.push(started.elapsed());
        }
    }
    server.stop().await?;
    Ok(percentiles(samples))
}
