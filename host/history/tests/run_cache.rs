//! The mutable-state cache is bounded: with room for a few runs only, many open runs still
//! work, because evicted ones are reloaded from the database when next touched.

use std::sync::Arc;

use sundial_history::{Engine, Options};
use sundial_store::SqlStore;
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::EventType;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;

#[tokio::test]
async fn evicted_runs_reload_from_the_database() {
    let store = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
    let options = Options {
        max_cached_runs: 3,
        ..Options::default()
    };
    let engine = Engine::start(Arc::new(store), options).await.unwrap();
    engine
        .namespaces()
        .ensure("default", 24 * 3600 * 1_000_000_000)
        .await
        .unwrap();
    let ns = engine.namespaces().by_name("default").await.unwrap();
    let ids: Vec<String> = (0..20).map(|i| format!("wf-{i}")).collect();
    for id in &ids {
        engine
            .start_workflow(
                &ns,
                StartWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_id: id.clone(),
                    workflow_type: Some(WorkflowType { name: "T".into() }),
                    task_queue: Some(TaskQueue {
                        name: "tq".into(),
                        ..Default::default()
                    }),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    // Every run, cached or not, takes a signal and shows it in its history.
    for id in &ids {
        engine
            .signal(
                &ns,
                SignalWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: id.clone(),
                        run_id: String::new(),
                    }),
                    signal_name: "s".into(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    for id in &ids {
        let history = engine
            .get_history(
                &ns,
                GetWorkflowExecutionHistoryRequest {
                    namespace: "default".into(),
                    execution: Some(WorkflowExecution {
                        workflow_id: id.clone(),
                        run_id: String::new(),
                    }),
                    ..Default::default()
                },
                std::time::Duration::ZERO,
            )
            .await
            .unwrap();
        let types: Vec<i32> = history
            .history
            .unwrap()
            .events
            .iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(
            types,
            vec![
                EventType::WorkflowExecutionStarted as i32,
                EventType::WorkflowTaskScheduled as i32,
                EventType::WorkflowExecutionSignaled as i32,
            ],
            "{id}"
        );
    }
    assert!(
        engine.cached_runs() <= 3,
        "{} runs cached",
        engine.cached_runs()
    );
}
