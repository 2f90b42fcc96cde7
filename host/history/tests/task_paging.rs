#![allow(deprecated)] // task_queue_status: deprecated by Temporal, still read by the CLI's legacy mode
//! A shard's tasks wait in the database beyond a small budget per task queue and are paged
//! in as room frees: a backlog nobody polls holds only its budget in memory, other queues
//! are served at once, every task is handed out in the end, and a restarted node reads the
//! backlog back a page at a time.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sundial_history::{Engine, Options};
use sundial_store::SqlStore;
use temporalio_protos::temporal::api::common::v1::WorkflowType;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::*;

const BUDGET: usize = 4;

fn options() -> Options {
    Options {
        num_shards: 1,
        max_tasks_in_memory: BUDGET,
        ..Options::default()
    }
}

fn queue(name: &str) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.into(),
        ..Default::default()
    })
}

async fn start(engine: &Engine, id: &str, task_queue: &str) {
    start_with(engine, id, task_queue, None).await
}

/// Starts a workflow, with this workflow task timeout if given.
async fn start_with(
    engine: &Engine,
    id: &str,
    task_queue: &str,
    workflow_task_timeout: Option<prost_types::Duration>,
) {
    let ns = engine.namespaces().by_name("default").await.unwrap();
    engine
        .start_workflow(
            &ns,
            StartWorkflowExecutionRequest {
                namespace: "default".into(),
                workflow_id: id.into(),
                workflow_type: Some(WorkflowType { name: "T".into() }),
                task_queue: queue(task_queue),
                workflow_task_timeout,
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// The workflow id of the next workflow task of `task_queue`, if one comes within 5 s.
async fn poll(engine: &Engine, task_queue: &str) -> Option<String> {
    let ns = engine.namespaces().by_name("default").await.unwrap();
    let resp = engine
        .poll_workflow_task(
            &ns,
            PollWorkflowTaskQueueRequest {
                namespace: "default".into(),
                task_queue: queue(task_queue),
                identity: "test".into(),
                ..Default::default()
            },
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    resp.workflow_execution.map(|e| e.workflow_id)
}

/// Waits until the tasks in memory settle at `want` (visibility writes drain on their own).
async fn settle(engine: &Engine, want: usize) {
    for _ in 0..100 {
        if engine.tasks_in_memory() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} tasks in memory, want {want}", engine.tasks_in_memory());
}

async fn engine_on(url: &str) -> Engine {
    let store = SqlStore::connect(url, 2).await.unwrap();
    let engine = Engine::start(Arc::new(store), options()).await.unwrap();
    engine
        .namespaces()
        .ensure("default", 24 * 3600 * 1_000_000_000)
        .await
        .unwrap();
    engine
}

#[tokio::test]
async fn a_backlog_beyond_the_budget_waits_in_the_database() {
    let engine = engine_on("sqlite::memory:").await;
    for i in 0..30 {
        start(&engine, &format!("a-{i}"), "busy").await;
    }
    for i in 0..3 {
        start(&engine, &format!("b-{i}"), "other").await;
    }
    // The unpolled backlog holds its budget; the other queue's tasks are all held.
    settle(&engine, BUDGET + 3).await;
    // The backlog hint counts the tasks waiting in the database too.
    let ns = engine.namespaces().by_name("default").await.unwrap();
    let described = engine
        .describe_task_queue(
            &ns,
            DescribeTaskQueueRequest {
                namespace: "default".into(),
                task_queue: queue("busy"),
                include_task_queue_status: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(described.task_queue_status.unwrap().backlog_count_hint, 30);
    let mut other = HashSet::new();
    for _ in 0..3 {
        other.insert(
            poll(&engine, "other")
                .await
                .expect("the other queue is served"),
        );
    }
    assert_eq!(other.len(), 3);
    // Draining the backlog pages the rest in, in the order it was written.
    let mut got = Vec::new();
    for _ in 0..30 {
        got.push(poll(&engine, "busy").await.expect("a paged-in task"));
    }
    let want: Vec<String> = (0..30).map(|i| format!("a-{i}")).collect();
    assert_eq!(got, want);
    assert_eq!(poll_quick(&engine, "busy").await, None);
}

async fn poll_quick(engine: &Engine, task_queue: &str) -> Option<String> {
    let ns = engine.namespaces().by_name("default").await.unwrap();
    engine
        .poll_workflow_task(
            &ns,
            PollWorkflowTaskQueueRequest {
                namespace: "default".into(),
                task_queue: queue(task_queue),
                identity: "test".into(),
                ..Default::default()
            },
            Duration::from_millis(300),
        )
        .await
        .unwrap()
        .workflow_execution
        .map(|e| e.workflow_id)
}

#[tokio::test]
async fn a_restarted_node_pages_its_backlog_back_in() {
    let dir = std::env::temp_dir().join(format!("sundial-paging-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("db").display());
    {
        let engine = engine_on(&url).await;
        for i in 0..12 {
            start(&engine, &format!("w-{i}"), "q").await;
        }
        settle(&engine, BUDGET).await;
    }
    // A second engine on the same file takes the shard over and reads the backlog a page at
    // a time.
    let engine = engine_on(&url).await;
    settle(&engine, BUDGET).await;
    let mut got = HashSet::new();
    for _ in 0..12 {
        got.insert(poll(&engine, "q").await.expect("a paged-in task"));
    }
    assert_eq!(got.len(), 12);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn due_tasks_run_while_later_timers_fill_the_budget() {
    let engine = engine_on("sqlite::memory:").await;
    // Each workflow task handed out makes its timeout timer, due in 50 s: the shard's buffer
    // is then full of later tasks, and two more wait in the database.
    for i in 0..BUDGET + 2 {
        // Workflow tasks that time out after 50 s, within the lookahead.
        let timeout = prost_types::Duration {
            seconds: 50,
            nanos: 0,
        };
        start_with(&engine, &format!("held-{i}"), "q", Some(timeout)).await;
        poll(&engine, "q").await.expect("a workflow task");
    }
    // The handed-out tasks' rows are deleted on the next ticks; then only timers are held.
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle(&engine, BUDGET).await;
    // A new start's visibility write is due now: it is held beyond the budget and written at
    // once, not when half the timers have fired.
    start(&engine, "late", "other").await;
    let ns = engine.namespaces().by_name("default").await.unwrap();
    for _ in 0..200 {
        let count = engine
            .count_workflows(&ns, "WorkflowId = 'late'")
            .await
            .unwrap()
            .count;
        if count == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the new workflow's visibility write waited behind the held timers");
}
