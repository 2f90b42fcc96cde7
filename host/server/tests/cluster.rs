//! Cluster identity and membership on real databases: the metadata fixed at creation, the
//! membership row of a running node, and what a node refuses at start.
//!
//! URLs: `SUNDIAL_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! `SUNDIAL_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`).

mod common;

use prost::Message;
use sundial_server::config::Config;
use sundial_store::{ClusterStore, SqlStore};
use temporalio_protos::temporal::api::common::v1::WorkflowExecution;
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse, GetClusterInfoRequest,
    GetClusterInfoResponse,
};

fn uid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh schema (PostgreSQL) or database (MariaDB); it derefs to its URL, and
/// [`Scratch::drop_now`] removes it at the end of a test.
struct Scratch {
    url: String,
    base: String,
    drop: String,
}

impl std::ops::Deref for Scratch {
    type Target = String;
    fn deref(&self) -> &String {
        &self.url
    }
}

impl Scratch {
    async fn drop_now(self) {
        let pool = sqlx::AnyPool::connect(&self.base).await.unwrap();
        sqlx::query(&self.drop).execute(&pool).await.unwrap();
    }
}

async fn fresh(kind: &str) -> Scratch {
    sqlx::any::install_default_drivers();
    let (base, create) = match kind {
        "postgres" => (
            std::env::var("SUNDIAL_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
            "SCHEMA",
        ),
        _ => (
            std::env::var("SUNDIAL_TEST_MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into()),
            "DATABASE",
        ),
    };
    let name = format!("sundial_c_{}", uid());
    let pool = sqlx::AnyPool::connect(&base)
        .await
        .expect("the database must be running (see README)");
    sqlx::query(&format!("CREATE {create} {name}"))
        .execute(&pool)
        .await
        .unwrap();
    let url = match kind {
        "postgres" => {
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{name}")
        }
        _ => format!("{}/{name}", base.rsplit_once('/').unwrap().0),
    };
    let drop = match kind {
        "postgres" => format!("DROP SCHEMA {name} CASCADE"),
        _ => format!("DROP DATABASE {name}"),
    };
    Scratch { url, base, drop }
}

fn config(url: &str, node: &str) -> Config {
    let mut c = Config::default();
    c.server.port = 0;
    c.persistence.url = url.into();
    c.persistence.num_history_shards = 8;
    c.cluster.node_name = Some(node.into());
    c
}

/// The text a node's Prometheus endpoint serves.
async fn scrape(addr: std::net::SocketAddr) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    })
    .await
    .unwrap()
}

/// Waits (at most 15 s) until every shard is owned by exactly one of `nodes`, as the
/// placement over them says.
async fn settle(nodes: &[&sundial_server::Running]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let mut owned: Vec<i32> = nodes.iter().flat_map(|n| n.engine.owned_shards()).collect();
        owned.sort();
        let names: Vec<String> = nodes
            .iter()
            .map(|n| n.membership.me.node_name.clone())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let placed = nodes.iter().all(|n| {
            n.engine.owned_shards()
                == sundial_server::cluster::placement::shards_of(
                    &n.membership.me.node_name,
                    8,
                    &names,
                )
        });
        if owned == (0..8).collect::<Vec<_>>() && placed {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "shards did not settle over {names:?}: {owned:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn refusal(c: &Config) -> String {
    match sundial_server::start(c, None).await {
        Ok(_) => panic!("the node started"),
        Err(e) => format!("{e:#}"),
    }
}

async fn identity_and_membership(url: &str) {
    let url = url.to_string();
    let mut first = config(&url, "n1");
    first.global.metrics.prometheus.listen_address = Some("127.0.0.1:0".into());
    let n1 = sundial_server::start(&first, None).await.unwrap();
    let store = SqlStore::connect(&url, 2).await.unwrap();
    let cluster_id = n1.membership.metadata.cluster_id.clone();

    // The running node is listed with its address, services and every shard.
    let table = sundial_server::cluster::members_table(&store)
        .await
        .unwrap();
    let line = table.lines().find(|l| l.starts_with("n1 ")).expect(&table);
    assert!(line.contains(&n1.addr.to_string()), "{table}");
    assert!(line.contains("frontend,history,matching,worker"), "{table}");
    assert!(line.contains(" 8 "), "all 8 shards: {table}");
    assert_eq!(n1.engine.owned_shards(), (0..8).collect::<Vec<_>>());

    // GetClusterInfo reports the stored cluster id.
    let channel = common::connect(n1.addr).await;
    let info: GetClusterInfoResponse = common::raw_call(
        &channel,
        "GetClusterInfo",
        GetClusterInfoRequest::default().encode_to_vec(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(info.cluster_id, cluster_id);

    // Two more nodes join: the shards spread over the three, each owned by exactly one.
    let n2 = sundial_server::start(&config(&url, "n2"), None)
        .await
        .unwrap();
    let n3 = sundial_server::start(&config(&url, "n3"), None)
        .await
        .unwrap();
    settle(&[&n1, &n2, &n3]).await;

    // A call about a workflow whose shard another node owns goes there, and counts as the
    // frontend's call to history (a client call), its error included.
    let namespace_id = n1
        .engine
        .namespaces()
        .by_name("default")
        .await
        .unwrap()
        .id
        .clone();
    let workflow_id = (0..)
        .map(|i| format!("w{i}"))
        .find(|w| !n1.engine.owns_shard(n1.engine.shard_for(&namespace_id, w)))
        .unwrap();
    let missing = DescribeWorkflowExecutionRequest {
        namespace: "default".into(),
        execution: Some(WorkflowExecution {
            workflow_id,
            run_id: String::new(),
        }),
    };
    let err = common::raw_call::<DescribeWorkflowExecutionResponse>(
        &channel,
        "DescribeWorkflowExecution",
        missing.encode_to_vec(),
        false,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    let metrics = scrape(n1.metrics_addr.unwrap()).await;
    let series = |name: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .filter(|l| l.contains("operation=\"HistoryClientDescribeWorkflowExecution\""))
            .filter(|l| l.contains("namespace=\"default\""))
            .filter(|l| l.contains("service_name=\"frontend\",service_role=\"history\""))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(series("client_requests").len(), 1, "{metrics}");
    let errors = series("client_errors");
    assert!(
        errors
            .iter()
            .any(|l| l.contains("error_type=\"serviceerror_NotFound\"")),
        "{errors:?}"
    );

    let table = sundial_server::cluster::members_table(&store)
        .await
        .unwrap();
    assert_eq!(
        table.lines().filter(|l| l.contains(" active ")).count(),
        3,
        "{table}"
    );
    // One leaves: the other two take its shards.
    n2.stop().await.unwrap();
    settle(&[&n1, &n3]).await;
    n3.stop().await.unwrap();
    settle(&[&n1]).await;

    // A changed shard count and a foreign cluster id are refused, naming both values.
    let mut other_shards = config(&url, "n1b");
    other_shards.persistence.num_history_shards = 16;
    let err = refusal(&other_shards).await;
    assert!(err.contains("16") && err.contains("8 shards"), "{err}");
    let mut foreign = config(&url, "n1c");
    foreign.cluster.id = Some("someone-else".into());
    let err = refusal(&foreign).await;
    assert!(
        err.contains("someone-else") && err.contains(&cluster_id),
        "{err}"
    );

    // A clean stop removes the row; the node restarts at once under its name, with the
    // same cluster id, and takes its shards under new range ids (fencing the old ones).
    let before = store.shard_owners().await.unwrap();
    n1.stop().await.unwrap();
    assert!(store.members().await.unwrap().1.is_empty());
    let n1 = sundial_server::start(&config(&url, "n1"), None)
        .await
        .unwrap();
    assert_eq!(n1.membership.metadata.cluster_id, cluster_id);
    let after = store.shard_owners().await.unwrap();
    for (a, b) in before.iter().zip(&after) {
        assert!(b.range_id > a.range_id, "{a:?} {b:?}");
        assert_eq!(b.owner_node.as_deref(), Some("n1"));
    }
    n1.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let scratch = fresh("postgres").await;
    identity_and_membership(&scratch).await;
    scratch.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb() {
    let scratch = fresh("mysql").await;
    identity_and_membership(&scratch).await;
    scratch.drop_now().await;
}

/// SQLite serves one process: a second node on the same file is refused by the file lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_serves_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/s.db?mode=rwc", dir.path().display());
    let n1 = sundial_server::start(&config(&url, "n1"), None)
        .await
        .unwrap();
    let err = refusal(&config(&url, "n2")).await;
    assert!(err.contains("in use by another Sundial process"), "{err}");
    // Dropped without a clean stop: once its server task has let go of the file (a killed
    // process's lock goes with it), the next start takes the node's row over at once.
    drop(n1);
    let started = std::time::Instant::now();
    let n1 = loop {
        match sundial_server::start(&config(&url, "n1"), None).await {
            Ok(n) => break n,
            Err(e) if started.elapsed() < std::time::Duration::from_secs(5) => {
                assert!(format!("{e:#}").contains("in use"), "{e:#}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e:#}"),
        }
    };
    assert_eq!(n1.engine.owned_shards().len(), 8);
    n1.stop().await.unwrap();
}

/// Development certificates from config/mtls-certs.sh (a new CA each time) in `dir/name`.
fn make_certs(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let out = dir.join(name);
    common::mtls_certs(&out);
    out
}

/// `tls.internode` with the node certificate of `certs`, requiring client certificates.
fn with_internode(mut c: Config, certs: &std::path::Path) -> Config {
    let file = |n: &str| certs.join(n).to_string_lossy().into_owned();
    let server = &mut c.tls.internode.server;
    server.cert_file = file("server.pem");
    server.key_file = file("server.key");
    server.client_ca_files = vec![file("ca.pem")];
    server.require_client_auth = true;
    let client = &mut c.tls.internode.client;
    client.server_name = "localhost".into();
    client.root_ca_files = vec![file("ca.pem")];
    c
}

/// Nodes with internode TLS call each other over it; a node whose certificate the others do
/// not accept, or that has no internode TLS at all, cannot join; the internal listener does
/// not talk to a caller without TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internode_tls_guards_the_internal_listener() {
    use temporalio_protos::temporal::api::common::v1::WorkflowExecution;
    use temporalio_protos::temporal::api::workflowservice::v1::{
        DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse,
        StartWorkflowExecutionResponse,
    };
    let url = fresh("postgres").await;
    let dir = tempfile::tempdir().unwrap();
    let good = make_certs(dir.path(), "good");
    let rogue = make_certs(dir.path(), "rogue");
    let n1 = sundial_server::start(&with_internode(config(&url, "n1"), &good), None)
        .await
        .unwrap();
    let n2 = sundial_server::start(&with_internode(config(&url, "n2"), &good), None)
        .await
        .unwrap();
    settle(&[&n1, &n2]).await;

    // Started through n1, described through n2: with 8 shards on two nodes, some of these
    // calls are served by the other node, over TLS.
    let c1 = common::connect(n1.addr).await;
    let c2 = common::connect(n2.addr).await;
    for i in 0..12 {
        let id = format!("tls-{i}");
        let started: StartWorkflowExecutionResponse = common::raw_call(
            &c1,
            "StartWorkflowExecution",
            common::start_request("default", &id, "q").encode_to_vec(),
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("start {id}: {e}"));
        let described: DescribeWorkflowExecutionResponse = common::raw_call(
            &c2,
            "DescribeWorkflowExecution",
            DescribeWorkflowExecutionRequest {
                namespace: "default".into(),
                execution: Some(WorkflowExecution {
                    workflow_id: id.clone(),
                    run_id: String::new(),
                }),
            }
            .encode_to_vec(),
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("describe {id}: {e}"));
        let info = described.workflow_execution_info.unwrap();
        assert_eq!(info.execution.unwrap().run_id, started.run_id);
    }

    // A certificate from a CA the cluster does not trust: refused before it takes a shard.
    let err = refusal(&with_internode(config(&url, "n3"), &rogue)).await;
    assert!(
        err.contains("cannot join the cluster") && err.contains("internode"),
        "{err}"
    );
    // No internode TLS at all.
    let err = refusal(&config(&url, "n4")).await;
    assert!(err.contains("expects TLS"), "{err}");
    // Neither row stayed behind.
    let store = SqlStore::connect(&url, 2).await.unwrap();
    let names: Vec<String> = store
        .members()
        .await
        .unwrap()
        .1
        .into_iter()
        .map(|m| m.member.node_name)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A plaintext caller gets nowhere on the internal listener.
    let internal = n1.membership.me.internal_address.clone();
    let plain = tonic::transport::Channel::from_shared(format!("http://{internal}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        let r = common::raw_call::<GetClusterInfoResponse>(
            &channel,
            "GetClusterInfo",
            GetClusterInfoRequest::default().encode_to_vec(),
            false,
        )
        .await;
        assert!(r.is_err(), "a plaintext call went through");
    }
    // One side only is a configuration error naming the missing key.
    let mut half = with_internode(config(&url, "n5"), &good);
    half.tls.internode.client = Default::default();
    let err = refusal(&half).await;
    assert!(err.contains("tls.internode.client"), "{err}");

    n2.stop().await.unwrap();
    n1.stop().await.unwrap();
    url.drop_now().await;
}

/// A namespace changed through one node reaches the other's cache (refreshed every 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_changes_reach_every_node() {
    let url = fresh("postgres").await;
    let n1 = sundial_server::start(&config(&url, "n1"), None)
        .await
        .unwrap();
    let n2 = sundial_server::start(&config(&url, "n2"), None)
        .await
        .unwrap();
    let cached = n2.engine.namespaces().by_name("default").await.unwrap();
    assert_eq!(cached.attribute_type("CustomerTier"), None);
    // Keyword (2 in Temporal's IndexedValueType).
    let added = std::collections::HashMap::from([("CustomerTier".to_string(), 2)]);
    n1.engine
        .namespaces()
        .add_search_attributes("default", &added)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let ns = n2.engine.namespaces().by_name("default").await.unwrap();
        if ns.attribute_type("CustomerTier").is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "n2 still has the old namespace"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    n2.stop().await.unwrap();
    n1.stop().await.unwrap();
    url.drop_now().await;
}
