//! Deleting a run removes its visibility record even when the process dies before the
//! visibility store took the removal: the removal is a task stored with the deletion and run
//! at the next start.

mod common;

use common::runtime;

use std::sync::Arc;
use std::time::Duration;

use sundial_history::{Engine, Options};
use sundial_store::SqlStore;
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;

/// The run ids `default` lists.
async fn listed(engine: &Engine) -> Vec<String> {
    let ns = engine.namespaces().by_name("default").await.unwrap();
    engine
        .list_workflows(&ns, "", 100, &[])
        .await
        .unwrap()
        .executions
        .into_iter()
        .map(|e| e.execution.unwrap_or_default().run_id)
        .collect()
}

/// Runs `sql` on the database directly (here: hiding or restoring the visibility table).
async fn execute(url: &str, sql: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[test]
fn a_deleted_run_leaves_the_listing_even_after_a_crash() {
    let dir = std::env::temp_dir().join(format!("sundial-visdelete-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("state.db").display());

    // First life: a run is listed; then the visibility store fails, the run is deleted, and
    // the process dies while the store still refuses the removal.
    let (deleted, kept) = runtime().block_on(async {
        let store = Arc::new(SqlStore::connect(&url, 1).await.unwrap());
        let engine = Engine::start(store, Options::default()).await.unwrap();
        engine
            .namespaces()
            .ensure("default", 24 * 3600 * 1_000_000_000)
            .await
            .unwrap();
        let ns = engine.namespaces().by_name("default").await.unwrap();
        let mut runs = Vec::new();
        for id in ["deleted", "kept"] {
            let started = engine
                .start_workflow(
                    &ns,
                    StartWorkflowExecutionRequest {
                        namespace: "default".into(),
                        workflow_id: id.into(),
                        workflow_type: Some(WorkflowType { name: "T".into() }),
                        task_queue: Some(TaskQueue {
                            name: "nobody".into(),
                            ..Default::default()
                        }),
                        request_id: uuid::Uuid::new_v4().to_string(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            runs.push(started.run_id);
        }
        engine.flush_visibility().await;
        assert_eq!(listed(&engine).await.len(), 2);
        execute(&url, "ALTER TABLE visibility RENAME TO visibility_away").await;
        engine
            .delete_workflow(
                &ns,
                DeleteWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: "deleted".into(),
                        run_id: runs[0].clone(),
                    }),
                },
            )
            .await
            .unwrap();
        // The writer tries (and fails) at least once before the end; the record is still there.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let (left,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM visibility_away WHERE run_id = ?")
                .bind(&runs[0])
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        assert_eq!(left, 1, "the removal must not have reached the store yet");
        (runs[0].clone(), runs[1].clone())
    });

    // Second life: the store works again; the removal runs from its stored task.
    runtime().block_on(async {
        execute(&url, "ALTER TABLE visibility_away RENAME TO visibility").await;
        let store = Arc::new(SqlStore::connect(&url, 1).await.unwrap());
        let engine = Engine::start(store, Options::default()).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let runs = listed(&engine).await;
            assert!(runs.contains(&kept), "{runs:?}");
            if !runs.contains(&deleted) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the deleted run is still listed: {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
