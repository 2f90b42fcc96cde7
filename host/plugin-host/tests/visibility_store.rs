//! The shipped file-visibility-store component, loaded by the host: writes go to the log in
//! its writable directory, queries answer with Temporal's semantics, a new load (a reload)
//! reads the same log, and without write access it refuses writes instead of losing them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sundial_plugin_host::visibility_storage::{
    AttributeValue, Change, ExecutionRecord, ListRequest, Query, SearchAttribute,
};
use sundial_plugin_host::{DirectoryGrant, Grants, Limits, Runtime, Spec, VisibilityStorePlugin};

fn component(name: &str) -> Vec<u8> {
    let dir = Path::new(sundial_builtin_plugins::BUILT_DIR);
    std::fs::read(dir.join(format!("{name}.wasm"))).expect("built component")
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sundial-vis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn load(rt: &Runtime, dir: &Path, writable: bool) -> VisibilityStorePlugin {
    let spec = Spec::new("visibility", component("file_visibility_store"))
        .limits(Limits {
            deadline: Duration::from_secs(10),
            ..Limits::default()
        })
        .grants(Grants {
            http: vec![],
            directories: vec![DirectoryGrant {
                host: dir.to_path_buf(),
                guest: "/data".into(),
                writable,
            }],
        });
    rt.load_visibility_store(&spec).expect("loads")
}

fn record(run: &str, status: i32, close: Option<i64>, tags: &[&str]) -> ExecutionRecord {
    ExecutionRecord {
        namespace_id: "ns-1".into(),
        run_id: run.into(),
        workflow_id: format!("wf-{run}"),
        workflow_type: "Order".into(),
        task_queue: "q".into(),
        status,
        start_time: 1_000,
        execution_time: 1_000,
        close_time: close,
        history_length: close.map(|_| 11),
        history_size_bytes: close.map(|_| 900),
        execution_duration: close.map(|c| c - 1_000),
        state_transition_count: close.map(|_| 4),
        parent_workflow_id: None,
        parent_run_id: None,
        root_workflow_id: format!("wf-{run}"),
        root_run_id: run.into(),
        search_attributes: vec![SearchAttribute {
            name: "Tags".into(),
            value_type: "KeywordList".into(),
            values: tags
                .iter()
                .map(|t| AttributeValue::Text(t.to_string()))
                .collect(),
        }],
        version: 1,
        info: format!("info-{run}").into_bytes(),
    }
}

fn query(text: &str) -> Query {
    Query {
        namespace_id: "ns-1".into(),
        namespace: "orders".into(),
        text: text.into(),
        custom_attributes: vec![("Tags".into(), "KeywordList".into())],
    }
}

async fn all_pages(plugin: &VisibilityStorePlugin, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = Vec::new();
    loop {
        let page = plugin
            .list(&ListRequest {
                query: query(text),
                page_size: 1,
                next_page_token: token,
            })
            .await
            .unwrap();
        out.extend(
            page.executions
                .iter()
                .map(|e| String::from_utf8_lossy(e).into_owned()),
        );
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn records_are_written_queried_and_read_back_after_a_reload() {
    let rt = Runtime::new().unwrap();
    let dir = scratch();
    let plugin = load(&rt, &dir, true);
    let mut stale = record("a", 2, Some(5_000), &[]);
    stale.version = 0;
    plugin
        .write(&[
            Change::Upsert(record("a", 1, None, &["red", "blue"])),
            Change::Upsert(record("b", 2, Some(9_000), &["blue"])),
            Change::Upsert(record("c", 3, Some(4_000), &["green"])),
            Change::Upsert(record("d", 5, Some(2_000), &[])),
            Change::Upsert(stale),
            Change::Delete(("ns-1".into(), "d".into())),
        ])
        .await
        .unwrap();
    // Running first, then by close time descending; one per page.
    assert_eq!(all_pages(&plugin, "").await, ["info-a", "info-b", "info-c"]);
    assert_eq!(
        all_pages(&plugin, "Tags = 'BLUE'").await,
        ["info-a", "info-b"]
    );
    assert_eq!(
        all_pages(&plugin, "ExecutionStatus != 'Running' AND CloseTime > 3000").await,
        ["info-b", "info-c"]
    );
    let grouped = plugin.count(&query(""), true).await.unwrap();
    assert_eq!(grouped.count, 3);
    assert_eq!(
        grouped
            .groups
            .iter()
            .map(|g| (g.status, g.count))
            .collect::<Vec<_>>(),
        [(1, 1), (2, 1), (3, 1)]
    );
    // Another namespace sees nothing.
    let mut other = query("");
    other.namespace_id = "ns-2".into();
    assert_eq!(plugin.count(&other, false).await.unwrap().count, 0);

    // A fresh load (what a reload does) starts with empty memory and reads the log.
    let reloaded = load(&rt, &dir, true);
    assert_eq!(
        all_pages(&reloaded, "").await,
        ["info-a", "info-b", "info-c"]
    );
    // A newer version replaces the record for every instance, old ones included.
    let mut closed = record("a", 2, Some(10_000), &["red"]);
    closed.version = 2;
    reloaded.write(&[Change::Upsert(closed)]).await.unwrap();
    assert_eq!(
        plugin
            .count(&query("ExecutionStatus = 'Running'"), false)
            .await
            .unwrap()
            .count,
        0
    );
    assert_eq!(all_pages(&plugin, "").await, ["info-a", "info-b", "info-c"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn without_write_access_writes_are_refused_not_lost() {
    let rt = Runtime::new().unwrap();
    let dir = scratch();
    let plugin = load(&rt, &dir, false);
    let err = plugin
        .write(&[Change::Upsert(record("a", 1, None, &[]))])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("retryable"), "{err}");
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing written"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_authorizer_is_not_a_visibility_store() {
    let rt = Runtime::new().unwrap();
    let spec = Spec::new("nop", component("nop_authorizer"));
    assert!(rt.load_visibility_store(&spec).is_err());
}
