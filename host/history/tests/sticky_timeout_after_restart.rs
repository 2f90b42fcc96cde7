//! A workflow task waiting on a sticky queue when the process dies still goes to the normal
//! queue at its schedule-to-start timeout after the restart. The timeout is not stored as a
//! task of its own (only the dispatch row is): scheduling that row again arms it.

mod common;

use common::{register_namespace, runtime, stored_tasks};

use std::sync::Arc;
use std::time::Duration;

use sundial_history::state::TaskKind;
use sundial_history::{Engine, Options};
use sundial_store::SqlStore;
use temporalio_protos::temporal::api::common::v1::{WorkflowExecution, WorkflowType};
use temporalio_protos::temporal::api::enums::v1::{TaskQueueKind, TimeoutType};
use temporalio_protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_protos::temporal::api::taskqueue::v1::{StickyExecutionAttributes, TaskQueue};
use temporalio_protos::temporal::api::workflowservice::v1::*;

const NS: &str = "sticky";
const QUEUE: &str = "work";
const STICKY: &str = "work-sticky-1";

fn poll(queue: TaskQueue) -> PollWorkflowTaskQueueRequest {
    PollWorkflowTaskQueueRequest {
        namespace: NS.into(),
        task_queue: Some(queue),
        identity: "test-worker".into(),
        ..Default::default()
    }
}

fn normal_queue() -> TaskQueue {
    TaskQueue {
        name: QUEUE.into(),
        ..Default::default()
    }
}

fn sticky_queue() -> TaskQueue {
    TaskQueue {
        name: STICKY.into(),
        kind: TaskQueueKind::Sticky as i32,
        normal_name: QUEUE.into(),
    }
}

#[test]
fn a_sticky_task_times_out_to_the_normal_queue_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("sundial-sticky-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("state.db").display());
    let shards = Options::default().num_shards;

    // First life: the worker completes the first task asking for its sticky queue (which it
    // has polled, so the queue counts as live); a signal then schedules a task there, which
    // nobody takes before the process dies.
    let execution = runtime().block_on(async {
        let store = Arc::new(SqlStore::connect(&url, 1).await.unwrap());
        let engine = Engine::start(store.clone(), Options::default())
            .await
            .unwrap();
        register_namespace(&engine, NS, 86_400).await;
        let ns = engine.namespaces().by_name(NS).await.unwrap();
        let run_id = engine
            .start_workflow(
                &ns,
                StartWorkflowExecutionRequest {
                    namespace: NS.into(),
                    workflow_id: "waits".into(),
                    workflow_type: Some(WorkflowType { name: "W".into() }),
                    task_queue: Some(normal_queue()),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .run_id;
        let first = engine
            .poll_workflow_task(&ns, poll(normal_queue()), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(!first.task_token.is_empty(), "no first workflow task");
        let empty = engine
            .poll_workflow_task(&ns, poll(sticky_queue()), Duration::from_millis(50))
            .await
            .unwrap();
        assert!(empty.task_token.is_empty());
        engine
            .complete_workflow_task(
                &ns,
                RespondWorkflowTaskCompletedRequest {
                    namespace: NS.into(),
                    task_token: first.task_token,
                    identity: "test-worker".into(),
                    sticky_attributes: Some(StickyExecutionAttributes {
                        worker_task_queue: Some(sticky_queue()),
                        schedule_to_start_timeout: Some(prost_types::Duration {
                            seconds: 2,
                            nanos: 0,
                        }),
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let execution = WorkflowExecution {
            workflow_id: "waits".into(),
            run_id,
        };
        engine
            .signal(
                &ns,
                SignalWorkflowExecutionRequest {
                    namespace: NS.into(),
                    workflow_execution: Some(execution.clone()),
                    signal_name: "go".into(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        // The task waits on the sticky queue; its timeout is not a stored task.
        let tasks = stored_tasks(&store, shards).await;
        // (The first task's row may still be there: finished rows are deleted in batches.)
        let dispatch = tasks
            .iter()
            .find(|t| t.kind == TaskKind::DispatchWorkflowTask as i32 && t.task_queue == STICKY)
            .expect("the sticky task's dispatch row");
        assert!(dispatch.sticky_timeout_at > 0);
        assert!(
            !tasks
                .iter()
                .any(|t| t.kind == TaskKind::StickyTimeout as i32),
            "a sticky timeout was stored"
        );
        execution
    });

    // Second life: no worker polls the sticky queue; the task comes to the normal queue once
    // its schedule-to-start timeout has passed, after a timed-out event.
    runtime().block_on(async {
        let store = Arc::new(SqlStore::connect(&url, 1).await.unwrap());
        let engine = Engine::start(store.clone(), Options::default())
            .await
            .unwrap();
        let ns = engine.namespaces().by_name(NS).await.unwrap();
        let task = engine
            .poll_workflow_task(&ns, poll(normal_queue()), Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(
            task.workflow_execution.as_ref(),
            Some(&execution),
            "no workflow task on the normal queue within 30 s"
        );
        let events = task.history.unwrap_or_default().events;
        let timed_out = events
            .iter()
            .find_map(|e| match &e.attributes {
                Some(Attributes::WorkflowTaskTimedOutEventAttributes(a)) => Some(*a),
                _ => None,
            })
            .expect("a WorkflowTaskTimedOut event");
        assert_eq!(timed_out.timeout_type, TimeoutType::ScheduleToStart as i32);
        assert_eq!(timed_out.started_event_id, 0);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
