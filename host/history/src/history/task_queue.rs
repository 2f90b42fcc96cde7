//! DescribeTaskQueue: the workers polling a queue and its backlog, in each form the SDKs and
//! the CLI ask for (the legacy status, the stats of 1.2x, the per-version "enhanced" form).

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    common::v1::WorkerVersionCapabilities,
    enums::v1::{DescribeTaskQueueMode, TaskQueueType},
    taskqueue::v1::{
        PollerInfo, TaskQueueStats, TaskQueueStatus, TaskQueueTypeInfo, TaskQueueVersionInfo,
        TaskQueueVersioningInfo,
    },
    workflowservice::v1::{DescribeTaskQueueRequest, DescribeTaskQueueResponse},
};

use super::Engine;
use crate::error::Result;
use crate::matching::QueueKind;
use crate::namespace::Namespace;
use crate::time::{GO_ZERO_TIME, dur, now_nanos};

/// Temporal's default priority key, under which unprioritized tasks are counted.
const DEFAULT_PRIORITY_KEY: i32 = 3;

fn kind_of(task_queue_type: i32) -> QueueKind {
    if task_queue_type == TaskQueueType::Activity as i32 {
        QueueKind::Activity
    } else {
        QueueKind::Workflow
    }
}

impl Engine {
    pub async fn describe_task_queue(
        &self,
        ns: &Namespace,
        req: DescribeTaskQueueRequest,
    ) -> Result<DescribeTaskQueueResponse> {
        let name = req
            .task_queue
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        super::start::check_id(self, &name, "TaskQueue")?;
        if req.api_mode == DescribeTaskQueueMode::Enhanced as i32 {
            // One version (unversioned workers, key ""), each queue type asked for.
            let types = match req.task_queue_types.is_empty() {
                true => vec![
                    TaskQueueType::Workflow as i32,
                    TaskQueueType::Activity as i32,
                ],
                false => req.task_queue_types.clone(),
            };
            let mut types_info = HashMap::new();
            for t in types {
                let kind = kind_of(t);
                let pollers = match req.report_pollers {
                    true => self.poller_infos(ns, &name, kind),
                    false => Vec::new(),
                };
                let stats = match req.report_stats {
                    true => Some(self.queue_stats(ns, &name, kind).await?),
                    false => None,
                };
                types_info.insert(t, TaskQueueTypeInfo { pollers, stats });
            }
            let version = TaskQueueVersionInfo {
                types_info,
                ..Default::default()
            };
            return Ok(DescribeTaskQueueResponse {
                versions_info: HashMap::from([(String::new(), version)]),
                ..Default::default()
            });
        }
        let kind = kind_of(req.task_queue_type);
        let stats = match req.report_stats {
            true => Some(self.queue_stats(ns, &name, kind).await?),
            false => None,
        };
        // The queue's tasks due now, in memory or waiting in the database (the queue's
        // tasks are rows of every shard); Temporal's read and ack levels have no counterpart.
        let task_queue_status = match req.include_task_queue_status {
            true => Some(TaskQueueStatus {
                backlog_count_hint: self.backlog(ns, &name, kind).await?,
                rate_per_second: 100_000.0,
                ..Default::default()
            }),
            false => None,
        };
        Ok(DescribeTaskQueueResponse {
            pollers: self.poller_infos(ns, &name, kind),
            task_queue_status,
            stats_by_priority_key: stats
                .map(|s| HashMap::from([(DEFAULT_PRIORITY_KEY, s)]))
                .unwrap_or_default(),
            stats,
            // Unversioned, as Temporal reports a queue no deployment has claimed.
            versioning_info: Some(TaskQueueVersioningInfo {
                current_version: "__unversioned__".into(),
                update_time: Some(GO_ZERO_TIME),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn poller_infos(&self, ns: &Namespace, name: &str, kind: QueueKind) -> Vec<PollerInfo> {
        let key = Self::queue_key(&ns.id, name, kind);
        self.inner
            .matching
            .pollers(&key)
            .into_iter()
            .map(|(poller, at)| PollerInfo {
                last_access_time: Some(prost_types::Timestamp::from(at)),
                identity: poller.identity,
                rate_per_second: 100_000.0,
                worker_version_capabilities: (!poller.build_id.is_empty()).then(|| {
                    WorkerVersionCapabilities {
                        build_id: poller.build_id,
                        ..Default::default()
                    }
                }),
                ..Default::default()
            })
            .collect()
    }

    /// How many of the queue's tasks are due now, on every shard.
    async fn backlog(&self, ns: &Namespace, name: &str, kind: QueueKind) -> Result<i64> {
        let hash = super::paging::hash_of_queue(&ns.id, kind, name);
        Ok(self
            .inner
            .store
            .count_queue_tasks(hash, now_nanos())
            .await?)
    }

    /// The queue's backlog, as TaskQueueStats. Sundial keeps no add or dispatch rates, and the
    /// age of a backlog only when it is empty (zero).
    async fn queue_stats(
        &self,
        ns: &Namespace,
        name: &str,
        kind: QueueKind,
    ) -> Result<TaskQueueStats> {
        let backlog = self.backlog(ns, name, kind).await?;
        Ok(TaskQueueStats {
            approximate_backlog_count: backlog,
            approximate_backlog_age: (backlog == 0).then(|| dur(0)),
            ..Default::default()
        })
    }
}
