//! The archiver world with a real component (plugins/hostile-archiver): whatever it does, a
//! call ends within its limits and answers an archival error of the right kind, so archival
//! retries what may succeed later and the server goes on.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sundial_archival::{
    ArchiveHistoryRequest, Archiver, Error, HistoryPage, HistorySource, Result, Uri,
};
use sundial_plugin_host::{Limits, Runtime, Spec};

fn component(name: &str) -> Vec<u8> {
    let dir = Path::new(sundial_builtin_plugins::BUILT_DIR);
    std::fs::read(dir.join(format!("{name}.wasm"))).expect("built component")
}

struct NoHistory;

#[async_trait::async_trait]
impl HistorySource for NoHistory {
    async fn read_history(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: u32,
        _: &[u8],
    ) -> Result<HistoryPage> {
        Err(Error::NotFound("no history here".into()))
    }
}

/// What archiving one run answers with the hostile archiver in `mode`.
async fn archive(mode: &str, limits: Limits) -> Result<()> {
    let rt = Runtime::new().unwrap();
    let spec = Spec::new("hostile", component("hostile_archiver"))
        .limits(limits)
        .config([("mode", mode)]);
    let plugin = rt.load_archiver(&spec).unwrap();
    let uri = Uri::parse("vault://bucket/prefix").unwrap();
    plugin.validate_history_uri(&uri).await.unwrap();
    let request = ArchiveHistoryRequest {
        namespace_id: "ns".into(),
        namespace: "ns".into(),
        workflow_id: "wf".into(),
        run_id: "run".into(),
        next_event_id: 3,
        ..Default::default()
    };
    plugin
        .archive_history(&uri, &request, Arc::new(NoHistory))
        .await
}

fn roomy() -> Limits {
    Limits {
        deadline: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn retryable(result: Result<()>, words: &str) {
    match result {
        Err(Error::Retryable(m)) => assert!(m.contains(words), "{m}"),
        other => panic!("expected a retryable error naming {words:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn faults_are_retryable_and_refusals_keep_their_kind() {
    retryable(archive("trap", roomy()).await, "trap");
    retryable(archive("memory", roomy()).await, "memory");
    let started = Instant::now();
    let short = Limits {
        deadline: Duration::from_millis(200),
        ..Limits::default()
    };
    retryable(archive("loop", short).await, "deadline");
    assert!(started.elapsed() < Duration::from_secs(5));
    match archive("refuse", roomy()).await {
        Err(Error::NonRetryable(m)) => assert!(
            m.contains("archiver hostile: hostile archiver refuses"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    retryable(archive("", roomy()).await, "archives nothing");
}

#[tokio::test]
async fn a_component_of_another_world_is_not_an_archiver() {
    let rt = Runtime::new().unwrap();
    let err = rt
        .load_archiver(&Spec::new("authz", component("nop_authorizer")))
        .err()
        .expect("an authorizer is no archiver");
    assert!(format!("{err:#}").contains("history-archival"), "{err:#}");
}
