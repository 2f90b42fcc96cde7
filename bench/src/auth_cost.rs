//! What authorization adds to a call: the built-in JWT claim mapper and default authorizer,
//! warm, measured two ways.
//!
//! 1. Plugin calls alone, in process: `get-claims` on a fresh token (what a cache miss costs)
//!    and `authorize` (what every call costs; claims come from the cache after the first).
//! 2. End to end: sequential DescribeNamespace calls over loopback gRPC against an in-process
//!    Sundial without authorization and one with the JWT mapper and the default authorizer,
//!    alternating call by call, the same bearer token sent to both; the difference is the
//!    added cost per call.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use prost::Message;
use sundial_plugin_host::{AuthInfo, CallTarget, DirectoryGrant, Grants, Limits, Runtime, Spec};
use sundial_server::config::{Config, DirectoryGrantConfig, PluginConfig, PluginGrants};
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
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs();
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

pub async fn run(calls: usize, variant: &str) -> anyhow::Result<()> {
    println!("## plugin calls, warm ({calls} sequential calls each)\n");
    let runtime = Runtime::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let limits = Limits {
        deadline: Duration::from_secs(5),
        memory_bytes: 32 << 20,
        fuel: None,
    };
    let mapper = runtime
        .load_claim_mapper(
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
                    writable: false,
                }],
            })
            .config(jwt_config()),
        )
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let authorizer = runtime
        .load_authorizer(
            &Spec::new(
                "roles",
                sundial_builtin_plugins::builtin("default-authorizer").expect("builtin"),
            )
            .limits(limits),
        )
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
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
    let claims = mapper
        .get_claims(&info(&tokens[0]))
        .await
        .map_err(|f| anyhow::anyhow!("{f}"))?;
    let mut mapping = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let i = info(t);
        let started = Instant::now();
        mapper
            .get_claims(&i)
            .await
            .map_err(|f| anyhow::anyhow!("{f}"))?;
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
        authorizer
            .authorize(Some(&claims), &target)
            .await
            .map_err(|f| anyhow::anyhow!("{f}"))?;
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

    println!(
        "\n## end to end: DescribeNamespace over loopback, {calls} calls per server, \
         alternating between the two servers\n"
    );
    let tok = token("bench", &["default:write"])?;
    let (plain, authorized) = end_to_end(calls, &tok, variant).await?;
    let diff: Vec<f64> = plain
        .iter()
        .zip(&authorized)
        .map(|(p, a)| a.as_secs_f64() * 1e6 - p.as_secs_f64() * 1e6)
        .collect();
    let (p50, p90, p99) = percentiles(plain);
    let (a50, a90, a99) = percentiles(authorized);
    println!("| server | p50 µs | p90 µs | p99 µs |\n|---|---|---|---|");
    println!("| no authorization | {p50:.1} | {p90:.1} | {p99:.1} |");
    println!("| with authorization ({variant}) | {a50:.1} | {a90:.1} | {a99:.1} |");
    let mut diff = diff;
    diff.sort_by(f64::total_cmp);
    println!(
        "\nadded per call: difference of medians {:.1} µs; median of paired differences {:.1} µs",
        a50 - p50,
        diff[diff.len() / 2]
    );
    Ok(())
}

async fn server(token: bool, variant: &str) -> anyhow::Result<sundial_server::Running> {
    let mut config = Config::default();
    config.server.port = 0;
    config.log.level = "warn".into();
    // The calls come as fast as the loop goes: Temporal's default rate limits would refuse them.
    config.apply_dynamic_value("frontend.rps=1000000")?;
    config.apply_dynamic_value("frontend.namespaceRPS=1000000")?;
    if token && variant != "none" {
        config.plugins.push(PluginConfig {
            grants: PluginGrants {
                http: vec![],
                directories: vec![DirectoryGrantConfig {
                    host: keys_dir(),
                    guest: "/keys".into(),
                    writable: false,
                }],
            },
            config: jwt_config().into_iter().collect(),
            ..PluginConfig::builtin("jwt", "claim-mapper", "jwt-claim-mapper")
        });
        config.plugins.push(PluginConfig::builtin(
            "roles",
            "authorizer",
            "default-authorizer",
        ));
        match variant {
            "mapper-only" => config.authorization.claim_mapper = Some("jwt".into()),
            "loaded-unused" => {}
            "nop-authorizer-only" => {
                config.plugins[1].builtin = Some("nop-authorizer".into());
                config.authorization.authorizer = Some("roles".into());
            }
            _ => {
                config.authorization.claim_mapper = Some("jwt".into());
                config.authorization.authorizer = Some("roles".into());
            }
        }
    }
    sundial_server::start(&config, None).await
}

async fn describe(
    channel: &tonic::transport::Channel,
    token: Option<&str>,
) -> anyhow::Result<Duration> {
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
    Ok(started.elapsed())
}

/// Latencies of sequential calls to a server without and one with authorization, the two
/// alternating call by call so that machine noise hits both alike.
async fn end_to_end(
    calls: usize,
    token: &str,
    variant: &str,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let plain = server(false, variant).await?;
    let authorized = server(true, variant).await?;
    let connect = |addr: std::net::SocketAddr| async move {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(anyhow::Error::from)
    };
    let (a, b) = (connect(plain.addr).await?, connect(authorized.addr).await?);
    let (mut p, mut q) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    // The first 500 pairs warm up connections, caches and plugin instances.
    for i in 0..calls + 500 {
        // Both get the same header: the difference is the server's authorization work.
        let x = describe(&a, Some(token)).await?;
        let y = describe(&b, Some(token)).await?;
        if i >= 500 {
            p.push(x);
            q.push(y);
        }
    }
    plain.stop().await?;
    authorized.stop().await?;
    Ok((p, q))
}
