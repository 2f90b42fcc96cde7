//! The mutable-state cache is bounded: with room for a few runs only, many open runs still
//! work, because evicted ones are reloaded from the database when next touched. Closed runs
//! leave memory once nobody holds them, even those a long poll waited on.

use std::sync::Arc;

use sundial_history::{Engine, Options};
use sundial_store::SqlStore;
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::{EventType, HistoryEventFilterType};
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;

async fn engine_caching(max_cached_runs: usize) -> Engine {
    let store = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
    let options = Options {
        max_cached_runs,
        ..Options::default()
    };
    let engine = Engine::start(Arc::new(store), options).await.unwrap();
    engine
        .namespaces()
        .ensure("default", 24 * 3600 * 1_000_000_000)
        .await
        .unwrap();
    engine
}

async fn start_all(engine: &Engine, ids: &[String]) {
    let ns = engine.namespaces().by_name("default").await.unwrap();
    for id in ids {
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
}

fn execution(id: &str) -> Option<WorkflowExecution> {
    Some(WorkflowExecution {
        workflow_id: id.into(),
        run_id: String::new(),
    })
}

#[tokio::test]
async fn evicted_runs_reload_from_the_database() {
    let engine = engine_caching(3).await;
    let ns = engine.namespaces().by_name("default").await.unwrap();
    let ids: Vec<String> = (0..20).map(|i| format!("wf-{i}")).collect();
    start_all(&engine, &ids).await;
    // Every run, cached or not, takes a signal and shows it in its history.
    for id in &ids {
        engine
            .signal(
                &ns,
                SignalWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_execution: execution(id),
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
                    execution: execution(id),
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

#[tokio::test]
async fn closed_runs_leave_memory_after_their_long_polls() {
    let engine = engine_caching(10_000).await;
    let ns = engine.namespaces().by_name("default").await.unwrap();
    let ids: Vec<String> = (0..20).map(|i| format!("closing-{i}")).collect();
    start_all(&engine, &ids).await;
    // Each run has a caller waiting for its close event, as an SDK's result() does.
    let polls: Vec<_> = ids
        .iter()
        .map(|id| {
            let (engine, ns, id) = (engine.clone(), ns.clone(), id.clone());
            tokio::spawn(async move {
                let request = GetWorkflowExecutionHistoryRequest {
                    namespace: "default".into(),
                    execution: execution(&id),
                    wait_new_event: true,
                    history_event_filter_type: HistoryEventFilterType::CloseEvent as i32,
                    ..Default::default()
                };
                engine
                    .get_history(&ns, request, std::time::Duration::from_secs(20))
                    .await
                    .unwrap()
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(engine.watched_runs(), ids.len());
    for id in &ids {
        engine
            .terminate(
                &ns,
                TerminateWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_execution: execution(id),
                    reason: "done".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    for poll in polls {
        let events = poll.await.unwrap().history.unwrap().events;
        assert_eq!(
            events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
            vec![EventType::WorkflowExecutionTerminated as i32]
        );
    }
    // A describe of a closed run reads it again, then lets it go too.
    let described = engine
        .describe_workflow(
            &ns,
            DescribeWorkflowExecutionRequest {
                namespace: "default".into(),
                execution: execution(&ids[0]),
            },
        )
        .await
        .unwrap();
    assert!(described.workflow_execution_info.is_some());
    assert_eq!(engine.cached_runs(), 0, "closed runs left in the cache");
    assert_eq!(engine.watched_runs(), 0, "senders left for closed runs");
}
