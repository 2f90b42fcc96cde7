//! History's side of a worker's poll. Matching (`sundial-matching`) holds the queue and runs
//! the long poll; history is its [`Starter`]: it records the start of the task the poller
//! took in the task's run, here when this node owns the run's shard, else on the shard's
//! owner through the internal API, and builds the poll's response.

use prost::Message;
use sundial_matching::{Poller, Start, Starter};
use temporalio_protos::temporal::api::{
    common::v1::WorkerVersionCapabilities,
    deployment::v1::WorkerDeploymentOptions,
    enums::v1::TaskQueueKind,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        PollActivityTaskQueueRequest, PollActivityTaskQueueResponse, PollWorkflowTaskQueueRequest,
        PollWorkflowTaskQueueResponse,
    },
};

use super::Engine;
use super::cross::{queued_to_wire, unexpected};
use super::poll_metrics::Polled;
use crate::error::{Error, Result};
use crate::matching::{QueueKey, QueueKind, Queued};
use crate::namespace::Namespace;
use crate::peers::{Op, QueryTask, RecordTaskStarted, Reply};
use crate::state::TaskKind;
use crate::time::now_nanos;

/// Counts a poll dropped before it ended (its client went away) as a timeout.
struct Unanswered<'a> {
    engine: &'a Engine,
    polled: Option<&'a Polled<'a>>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(polled) = self.polled {
            self.engine.inner.poll_metrics.polled(polled, None);
        }
    }
}

/// A started task's poll response.
pub(crate) enum Started {
    Workflow(PollWorkflowTaskQueueResponse),
    Activity(PollActivityTaskQueueResponse),
}

impl Started {
    pub(crate) fn encode_to_vec(&self) -> Vec<u8> {
        match self {
            Started::Workflow(r) => r.encode_to_vec(),
            Started::Activity(r) => r.encode_to_vec(),
        }
    }

    /// The response another node built for a task of `kind`.
    fn decode(kind: TaskKind, bytes: &[u8]) -> Result<Started> {
        Ok(match kind {
            TaskKind::DispatchActivity => Started::Activity(Message::decode(bytes)?),
            _ => Started::Workflow(Message::decode(bytes)?),
        })
    }
}

#[async_trait::async_trait]
impl Starter<Queued> for Engine {
    type Response = Started;
    type Error = Error;

    async fn start(&self, q: &Queued, poller: &Poller) -> Result<Start<Started>> {
        let here = match self.is_current_here(q) {
            // This node reloaded the task when it took the shard again: a stale copy.
            Ok(false) => return Ok(Start::Dropped),
            Ok(true) => self.owns_shard(q.shard_id),
            Err(_) => false,
        };
        let started = if here {
            self.start_here(q, poller).await
        } else {
            self.start_on_owner(q, poller).await
        };
        match started {
            Ok(Some(s)) => Ok(Start::Started(s)),
            Ok(None) => Ok(Start::Dropped),
            Err(Error::ShardNotOwned { .. } | Error::Unavailable(_)) if !here => {
                Ok(Start::OwnerMoving)
            }
            Err(e) => Err(e),
        }
    }
}

impl Engine {
    pub async fn poll_workflow_task(
        &self,
        ns: &Namespace,
        req: PollWorkflowTaskQueueRequest,
        wait: std::time::Duration,
    ) -> Result<PollWorkflowTaskQueueResponse> {
        let poller = poller(
            &req.identity,
            &req.worker_instance_key,
            &req.deployment_options,
            &req.worker_version_capabilities,
        );
        match self
            .poll(
                ns,
                req.task_queue.as_ref(),
                QueueKind::Workflow,
                &poller,
                wait,
            )
            .await?
        {
            None => Ok(Default::default()),
            Some(Started::Workflow(r)) => Ok(r),
            Some(Started::Activity(_)) => Err(Error::Internal(
                "an activity task reached a workflow task queue".into(),
            )),
        }
    }

    pub async fn poll_activity_task(
        &self,
        ns: &Namespace,
        req: PollActivityTaskQueueRequest,
        wait: std::time::Duration,
    ) -> Result<PollActivityTaskQueueResponse> {
        let mut poller = poller(
            &req.identity,
            &req.worker_instance_key,
            &req.deployment_options,
            &req.worker_version_capabilities,
        );
        poller.max_tasks_per_second = req
            .task_queue_metadata
            .as_ref()
            .and_then(|m| m.max_tasks_per_second);
        match self
            .poll(
                ns,
                req.task_queue.as_ref(),
                QueueKind::Activity,
                &poller,
                wait,
            )
            .await?
        {
            None => Ok(Default::default()),
            Some(Started::Activity(r)) => Ok(r),
            Some(Started::Workflow(_)) => Err(Error::Internal(
                "a workflow task reached an activity task queue".into(),
            )),
        }
    }

    async fn poll(
        &self,
        ns: &Namespace,
        task_queue: Option<&TaskQueue>,
        kind: QueueKind,
        poller: &Poller,
        wait: std::time::Duration,
    ) -> Result<Option<Started>> {
        let queue = task_queue.map_or("", |t| t.name.as_str());
        super::start::check_id(self, queue, "TaskQueue")?;
        let key = Self::queue_key(&ns.id, queue, kind);
        let sticky = task_queue.is_some_and(|t| t.kind == TaskQueueKind::Sticky as i32);
        let polled = Polled {
            namespace: &ns.name,
            task_queue: match task_queue {
                Some(t) if sticky && !t.normal_name.is_empty() => &t.normal_name,
                _ => queue,
            },
            sticky,
            kind,
        };
        // A poll its client gave up on ends empty, as a timeout.
        let mut unanswered = Unanswered {
            engine: self,
            polled: Some(&polled),
        };
        let started = self
            .inner
            .matching
            .poll_and_start(&key, poller, wait, self)
            .await;
        unanswered.polled = None;
        let started = started?;
        let times = started.as_ref().map(|(s, sync_match)| match s {
            Started::Workflow(r) => (
                *sync_match,
                r.scheduled_time.as_ref(),
                r.started_time.as_ref(),
            ),
            Started::Activity(r) => (
                *sync_match,
                r.current_attempt_scheduled_time.as_ref(),
                r.started_time.as_ref(),
            ),
        });
        self.inner.poll_metrics.polled(&polled, times);
        if self.inner.poll_metrics.backlog_due(&key) {
            self.count_backlog(&key, &polled);
        }
        Ok(started.map(|(s, _)| s))
    }

    /// Counts a queue's waiting tasks in the database, in the background, for the
    /// `approximate_backlog_count` gauge.
    fn count_backlog(&self, key: &QueueKey, polled: &Polled) {
        let engine = self.clone();
        let hash = super::paging::hash_of_queue(&key.namespace_id, key.kind, &key.name);
        let (namespace, queue) = (polled.namespace.to_string(), polled.task_queue.to_string());
        let (sticky, kind) = (polled.sticky, polled.kind);
        tokio::spawn(async move {
            match engine
                .inner
                .store
                .count_queue_tasks(hash, now_nanos())
                .await
            {
                Ok(tasks) => {
                    let polled = Polled {
                        namespace: &namespace,
                        task_queue: &queue,
                        sticky,
                        kind,
                    };
                    engine.inner.poll_metrics.set_backlog(&polled, tasks);
                }
                Err(e) => tracing::debug!(error = %e, "could not count a queue's backlog"),
            }
        });
    }

    /// Starts a task of a shard this node owns (its current ownership) and acknowledges it:
    /// the poll's response, or none when there is nothing left to start.
    pub(super) async fn start_here(&self, q: &Queued, poller: &Poller) -> Result<Option<Started>> {
        let started = match q.task.task_kind() {
            TaskKind::Query => {
                return Ok(self
                    .query_task_response(&q.task)
                    .await?
                    .map(Started::Workflow));
            }
            TaskKind::DispatchWorkflowTask => self
                .record_workflow_task_started(q, poller)
                .await?
                .map(Started::Workflow),
            TaskKind::DispatchActivity => {
                let ns = self.namespaces().by_id(&q.task.namespace_id).await?;
                self.record_activity_started(&ns, q, poller)
                    .await?
                    .map(Started::Activity)
            }
            other => {
                return Err(Error::InvalidArgument(format!(
                    "a {other:?} task cannot be started"
                )));
            }
        };
        self.ack(q);
        Ok(started)
    }

    /// Starts a polled task on the node that owns its shard (where a query task's caller
    /// waits, too).
    async fn start_on_owner(&self, q: &Queued, poller: &Poller) -> Result<Option<Started>> {
        let task = Some(queued_to_wire(q));
        let op = if q.task.task_kind() == TaskKind::Query {
            Op::QueryTask(QueryTask { task })
        } else {
            Op::RecordTaskStarted(RecordTaskStarted {
                task,
                identity: poller.identity.clone(),
                build_id: poller.build_id.clone(),
            })
        };
        match self.on_shard(q.shard_id, op).await? {
            Reply::PollResponse(b) if b.is_empty() => Ok(None),
            Reply::PollResponse(b) => Started::decode(q.task.task_kind(), &b).map(Some),
            other => Err(unexpected(other)),
        }
    }
}

/// The worker behind a poll: its identity and the build id it runs (its deployment options'
/// or, from older SDKs, its version capabilities').
fn poller(
    identity: &str,
    instance_key: &str,
    deployment: &Option<WorkerDeploymentOptions>,
    capabilities: &Option<WorkerVersionCapabilities>,
) -> Poller {
    let build_id = deployment
        .as_ref()
        .map(|d| d.build_id.clone())
        .filter(|b| !b.is_empty())
        .or_else(|| capabilities.as_ref().map(|c| c.build_id.clone()))
        .unwrap_or_default();
    Poller {
        identity: identity.to_string(),
        instance_key: instance_key.to_string(),
        build_id,
        max_tasks_per_second: None,
    }
}
