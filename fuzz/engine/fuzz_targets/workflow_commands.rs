//! The engine's handling of a worker's workflow-task completion: any
//! `RespondWorkflowTaskCompletedRequest` (commands, messages, sticky attributes, query answers)
//! is applied to a real run or refused with an error, never a panic or a hang; the run's
//! history can be read back afterwards and the next workflow task still polled.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sundial_history::{Engine, Options, namespace::Namespace};
use sundial_store::SqlStore;
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;

struct World {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    ns: Arc<Namespace>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (engine, ns) = runtime.block_on(async {
            let store = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
            let engine = Engine::start(Arc::new(store), Options::default()).await.unwrap();
            for name in ["default", "other"] {
                engine
                    .namespaces()
                    .ensure(name, 24 * 3600 * 1_000_000_000)
                    .await
                    .unwrap();
            }
            let ns = engine.namespaces().by_name("default").await.unwrap();
            (engine, ns)
        });
        World {
            runtime,
            engine,
            ns,
        }
    })
}

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut completion) = RespondWorkflowTaskCompletedRequest::decode(data) else {
        return;
    };
    let World {
        runtime,
        engine,
        ns,
    } = world();
    runtime.block_on(async {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = format!("fuzz-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let run_id = engine
            .start_workflow(
                ns,
                StartWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_id: id.clone(),
                    workflow_type: Some(WorkflowType { name: "T".into() }),
                    task_queue: queue("fuzz"),
                    request_id: id.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .run_id;
        let task = engine
            .poll_workflow_task(
                ns,
                PollWorkflowTaskQueueRequest {
                    namespace: "default".into(),
                    task_queue: queue("fuzz"),
                    identity: "fuzzer".into(),
                    ..Default::default()
                },
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert!(!task.task_token.is_empty(), "no workflow task for {id}");
        completion.task_token = task.task_token;
        completion.namespace = "default".into();
        let answered = tokio::time::timeout(
            Duration::from_secs(10),
            engine.complete_workflow_task(ns, completion),
        )
        .await;
        assert!(answered.is_ok(), "a completion hung");
        let execution = WorkflowExecution {
            workflow_id: id.clone(),
            run_id,
        };
        let history = engine
            .get_history(
                ns,
                GetWorkflowExecutionHistoryRequest {
                    namespace: "default".into(),
                    execution: Some(execution.clone()),
                    ..Default::default()
                },
                Duration::ZERO,
            )
            .await;
        assert!(history.is_ok(), "history unreadable: {history:?}");
        // Done with the run, whatever state the commands left it in.
        let _ = engine
            .terminate(
                ns,
                TerminateWorkflowExecutionRequest {
                    namespace: "default".into(),
                    workflow_execution: Some(execution),
                    ..Default::default()
                },
            )
            .await;
    });
});
