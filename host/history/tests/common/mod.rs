//! What the tests that stop and restart an engine share: a runtime that stands for one
//! process's life, and a look at the tasks stored in the database.

#![allow(dead_code, reason = "each test crate uses part of this module")]

use prost::Message;
use sundial_history::Engine;
use sundial_history::state::Task;
use sundial_store::{ExecutionStore, SqlStore};
use temporalio_protos::temporal::api::workflowservice::v1::RegisterNamespaceRequest;

/// A runtime for one life of the engine: dropping it drops everything it runs, as a process
/// that dies would.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Every task stored in the shards.
pub async fn stored_tasks(store: &SqlStore, shards: i32) -> Vec<Task> {
    let mut tasks = Vec::new();
    for shard in 0..shards {
        let mut hashes = store.task_queue_hashes(shard).await.unwrap();
        hashes.push(0);
        for hash in hashes {
            for row in store.read_tasks(shard, hash, usize::MAX).await.unwrap() {
                tasks.push(Task::decode(row.data.as_slice()).unwrap());
            }
        }
    }
    tasks
}

/// Registers namespace `name` keeping closed runs for `retention_seconds`.
pub async fn register_namespace(engine: &Engine, name: &str, retention_seconds: i64) {
    engine
        .namespaces()
        .register(RegisterNamespaceRequest {
            namespace: name.into(),
            workflow_execution_retention_period: Some(prost_types::Duration {
                seconds: retention_seconds,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
}
