#![allow(deprecated)] // task_queue_status: deprecated by Temporal, still read by the CLI's legacy mode
//! Two engines on one database, as two nodes while a shard changes hands: the node that held
//! the shard before keeps a task the new owner queued (its poll gives the shard up and puts the
//! task back, where it used to drop it as stale), and refuses to start such a task for a peer
//! (a retryable error, not an empty "stale" answer that would make the peer drop it).

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use sundial_history::peers::{
    AddTaskRequest, HistoryRequest, Op, QueuedTask, RecordTaskStarted, Reply,
};
use sundial_history::state::{Task, TaskKind};
use sundial_history::{Engine, Options};
use sundial_store::{ExecutionStore, ShardStore, SqlStore, Store, VisibilityStore};
use temporalio_protos::temporal::api::common::v1::WorkflowType;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::{
    DescribeTaskQueueRequest, PollWorkflowTaskQueueRequest, StartWorkflowExecutionRequest,
};

fn node(store: &Arc<SqlStore>, name: &str) -> Engine {
    let options = Options {
        num_shards: 1,
        node_name: name.into(),
        ..Options::default()
    };
    Engine::without_shards(
        store.clone() as Arc<dyn Store>,
        store.clone() as Arc<dyn VisibilityStore>,
        options,
    )
}

#[tokio::test]
async fn a_later_owners_task_is_kept_by_the_earlier_owner() {
    let store = Arc::new(SqlStore::connect("sqlite::memory:", 1).await.unwrap());
    let a = node(&store, "a");
    let b = node(&store, "b");
    a.acquire_shard(0).await.unwrap();
    a.namespaces()
        .ensure("default", 86_400_000_000_000)
        .await
        .unwrap();
    // b takes the shard while a still believes it owns it, and starts a run on it.
    b.acquire_shard(0).await.unwrap();
    let ns = b.namespaces().by_name("default").await.unwrap();
    b.start_workflow(
        &ns,
        StartWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_id: "w".into(),
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
    assert_eq!(a.owned_shards(), vec![0], "a has not noticed yet");

    // The run's first workflow task, as b queued it (range 2), handed to a's queue.
    let range = store.acquire_shard(0, "probe").await.unwrap() - 1;
    let mut rows = Vec::new();
    for hash in store.task_queue_hashes(0).await.unwrap() {
        rows.extend(store.read_tasks(0, hash, usize::MAX).await.unwrap());
    }
    let row = rows
        .into_iter()
        .find(|r| {
            r.task_id >> 32 == range
                && Task::decode(r.data.as_slice()).unwrap().task_kind()
                    == TaskKind::DispatchWorkflowTask
        })
        .expect("b's workflow task row");
    let task = QueuedTask {
        shard_id: 0,
        range_id: range,
        task_id: row.task_id,
        task: row.data,
    };
    let taken = a
        .add_task(AddTaskRequest {
            namespace_id: ns.id.clone(),
            task_queue: "tq".into(),
            kind: 1,
            task: Some(task.clone()),
            only_if_polled: false,
        })
        .await
        .unwrap();
    assert!(taken);

    // a's poller gets it: a gives the shard up and, with no node to start it on, keeps it.
    let ns_a = a.namespaces().by_name("default").await.unwrap();
    let polled = a
        .poll_workflow_task(
            &ns_a,
            PollWorkflowTaskQueueRequest {
                namespace: "default".into(),
                task_queue: Some(TaskQueue {
                    name: "tq".into(),
                    ..Default::default()
                }),
                identity: "worker".into(),
                ..Default::default()
            },
            Duration::from_millis(600),
        )
        .await
        .unwrap();
    assert!(polled.task_token.is_empty(), "no owner could start it");
    assert!(a.owned_shards().is_empty(), "a gave the shard up");
    let described = a
        .describe_task_queue(
            &ns_a,
            DescribeTaskQueueRequest {
                namespace: "default".into(),
                task_queue: Some(TaskQueue {
                    name: "tq".into(),
                    ..Default::default()
                }),
                include_task_queue_status: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        described.task_queue_status.unwrap().backlog_count_hint,
        1,
        "the task is still queued on a"
    );

    // A node holding an earlier ownership refuses to start a later owner's task with an
    // error its peer retries, instead of calling it stale.
    let c = node(&store, "c");
    c.acquire_shard(0).await.unwrap(); // range + 2 ("probe" took range + 1)
    let newer = QueuedTask {
        range_id: range + 5,
        ..task
    };
    let reply = c
        .apply_history(HistoryRequest {
            shard_id: 0,
            op: Some(Op::RecordTaskStarted(RecordTaskStarted {
                task: Some(newer),
                identity: "worker".into(),
                build_id: String::new(),
            })),
        })
        .await;
    match reply.result {
        Some(Reply::Failure(_)) => {}
        other => panic!("expected a failure, got {other:?}"),
    }
    assert!(c.owned_shards().is_empty(), "c gave the shard up");
}
