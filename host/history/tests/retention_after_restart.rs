//! A run closed by a background task right after a restart (here its run timeout) is deleted
//! after its namespace's retention, even though no request has named the namespace since the
//! restart.

mod common;

use common::{register_namespace, runtime, stored_tasks};

use std::sync::Arc;
use std::time::Duration;

use sundial_history::state::TaskKind;
use sundial_history::time::now_nanos;
use sundial_history::{Engine, Options};
use sundial_store::SqlStore;
use temporalio_protos::temporal::api::common::v1::WorkflowType;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;

const DAY: i64 = 24 * 3600 * 1_000_000_000;
const RETENTION: i64 = 3 * DAY;

#[test]
fn retention_of_a_namespace_not_yet_named_after_restart() {
    let dir = std::env::temp_dir().join(format!("sundial-retention-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("state.db").display());

    // First life: a namespace with 3 days of retention and a run that times out in a second.
    // The runtime is dropped with everything it runs, as a process would be.
    let run_id = runtime().block_on(async {
        let store = Arc::new(SqlStore::connect(&url, 1).await.unwrap());
        let engine = Engine::start(store.clone(), Options::default())
            .await
            .unwrap();
        register_namespace(&engine, "keep", RETENTION / 1_000_000_000).await;
        let ns = engine.namespaces().by_name("keep").await.unwrap();
        let run_id = engine
            .start_workflow(
                &ns,
                StartWorkflowExecutionRequest {
                    namespace: "keep".into(),
                    workflow_id: "times-out".into(),
                    workflow_type: Some(WorkflowType { name: "T".into() }),
                    task_queue: Some(TaskQueue {
                        name: "nobody".into(),
                        ..Default::default()
                    }),
                    workflow_run_timeout: Some(prost_types::Duration {
                        seconds: 1,
                        nanos: 0,
                    }),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .run_id;
        // Let the start's visibility task finish and leave the database: a task still stored
        // at the restart would be replayed and name the namespace first.
        engine.flush_visibility().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while stored_tasks(&store, Options::default().num_shards)
            .await
            .iter()
            .any(|t| t.kind == TaskKind::Visibility as i32)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "visibility task still stored"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        run_id
    });

    // Second life: nothing names the namespace; the run timeout closes the run.
    runtime().block_on(async {
        let store = Arc::new(SqlStore::connect(&url, 1).await.unwrap());
        let options = Options::default();
        let shards = options.num_shards;
        let _engine = Engine::start(store.clone(), options).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let delete_at = loop {
            let found = stored_tasks(&store, shards)
                .await
                .into_iter()
                .find(|t| t.kind == TaskKind::DeleteRun as i32 && t.run_id == run_id);
            if let Some(at) = found.map(|t| t.fire_time) {
                break at;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the run was not closed in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let after = delete_at - now_nanos();
        assert!(
            after > RETENTION - DAY / 24 && after <= RETENTION,
            "deletion scheduled {:.2} days from now, retention is 3 days",
            after as f64 / DAY as f64
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
