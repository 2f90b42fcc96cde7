//! Queries. A query never changes a run and is never stored: it waits in memory for a
//! worker's answer.
//!
//! When the run has a workflow task scheduled or running, the query is held and handed to the
//! worker with the next workflow task that starts (its answer comes back with that task's
//! completion), so it sees every event that task covers. Otherwise — the run is idle or closed
//! — it goes to the worker as a query task of its own: to the sticky queue when the sticky
//! worker is alive, else to the normal queue with the whole history.

use std::collections::HashMap;
use std::sync::Mutex;

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Payloads, WorkflowExecution},
    enums::v1::{QueryRejectCondition, QueryResultType, TaskQueueKind, WorkflowExecutionStatus},
    failure::v1::Failure,
    history::v1::History,
    query::v1::{QueryRejected, WorkflowQuery, WorkflowQueryResult},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        PollWorkflowTaskQueueResponse, QueryWorkflowRequest, QueryWorkflowResponse,
        RespondQueryTaskCompletedRequest,
    },
};
use tokio::sync::oneshot;

use super::Engine;
use crate::error::{Error, Result, invalid};
use crate::matching::{NOT_STORED, QueueKind, Queued};
use crate::namespace::Namespace;
use crate::state::{MutableState, Task, TaskKind, TaskToken};
use sundial_store::RunKey;

pub(crate) enum Answer {
    Answered(Option<Payloads>),
    Failed {
        message: String,
        failure: Option<Box<Failure>>,
    },
}

type Pending = Vec<(String, WorkflowQuery)>;

#[derive(Default)]
struct State {
    waiters: HashMap<String, oneshot::Sender<Answer>>,
    /// Waiting for the run's next workflow task.
    buffered: HashMap<RunKey, Pending>,
    /// Handed out with the running workflow task.
    attached: HashMap<RunKey, Pending>,
    /// Sent as query tasks: id -> (run, query, queue it was sent to).
    direct: HashMap<String, (RunKey, WorkflowQuery, String)>,
}

#[derive(Default)]
pub(crate) struct Queries {
    state: Mutex<State>,
}

impl Queries {
    fn answer(&self, id: &str, answer: Answer) {
        if let Some(tx) = self.state.lock().unwrap().waiters.remove(id) {
            let _ = tx.send(answer);
        }
    }

    /// Buffered queries of a run move to the workflow task that is starting.
    pub fn attach(&self, key: &RunKey) -> HashMap<String, WorkflowQuery> {
        let mut s = self.state.lock().unwrap();
        let Some(list) = s.buffered.remove(key) else {
            return HashMap::new();
        };
        let live: Pending = list
            .into_iter()
            .filter(|(id, _)| s.waiters.contains_key(id))
            .collect();
        let out = live.iter().cloned().collect();
        s.attached.entry(key.clone()).or_default().extend(live);
        out
    }

    /// A workflow task completed with these answers; unanswered queries wait again.
    pub fn complete_attached(&self, key: &RunKey, results: &HashMap<String, WorkflowQueryResult>) {
        let attached = self.state.lock().unwrap().attached.remove(key);
        let mut left = Vec::new();
        for (id, q) in attached.unwrap_or_default() {
            match results.get(&id) {
                Some(r) => self.answer(&id, result_answer(r)),
                None => left.push((id, q)),
            }
        }
        if !left.is_empty() {
            let mut s = self.state.lock().unwrap();
            s.buffered.entry(key.clone()).or_default().extend(left);
        }
    }

    /// The running workflow task failed or timed out: its queries wait for the next one.
    pub fn requeue_attached(&self, key: &RunKey) {
        let mut s = self.state.lock().unwrap();
        if let Some(list) = s.attached.remove(key) {
            s.buffered.entry(key.clone()).or_default().extend(list);
        }
    }

    fn take_buffered(&self, key: &RunKey) -> Pending {
        let mut s = self.state.lock().unwrap();
        s.buffered.remove(key).unwrap_or_default()
    }

    pub fn has_buffered(&self, key: &RunKey) -> bool {
        self.state.lock().unwrap().buffered.contains_key(key)
    }

    fn forget(&self, id: &str) {
        let mut s = self.state.lock().unwrap();
        s.waiters.remove(id);
        s.direct.remove(id);
        for list in s.buffered.values_mut() {
            list.retain(|(q, _)| q != id);
        }
        s.buffered.retain(|_, l| !l.is_empty());
    }
}

fn result_answer(r: &WorkflowQueryResult) -> Answer {
    if r.result_type == QueryResultType::Answered as i32 {
        Answer::Answered(r.answer.clone())
    } else {
        Answer::Failed {
            message: r.error_message.clone(),
            failure: r.failure.clone().map(Box::new),
        }
    }
}

fn rejected(status: i32) -> QueryWorkflowResponse {
    QueryWorkflowResponse {
        query_rejected: Some(QueryRejected { status }),
        ..Default::default()
    }
}

impl Engine {
    pub async fn query_workflow(
        &self,
        ns: &Namespace,
        req: QueryWorkflowRequest,
        wait: std::time::Duration,
    ) -> Result<QueryWorkflowResponse> {
        let query = req
            .query
            .clone()
            .ok_or_else(|| invalid("WorkflowQuery is not set on request."))?;
        if query.query_type.is_empty() {
            return Err(invalid("QueryType is not set on request."));
        }
        super::start::check_blob(self, &query.query_args, "query args")?;
        let exec = req.execution.clone().unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        {
            // Decide under the run's lock, so the workflow task the query waits for cannot
            // start or finish unnoticed.
            let guard = self.lock(&key).await?;
            let ms = guard.state();
            let status = ms.status;
            if status != WorkflowExecutionStatus::Running as i32 {
                let cond =
                    QueryRejectCondition::try_from(req.query_reject_condition).unwrap_or_default();
                match cond {
                    QueryRejectCondition::NotOpen => return Ok(rejected(status)),
                    QueryRejectCondition::NotCompletedCleanly
                        if status != WorkflowExecutionStatus::Completed as i32 =>
                    {
                        return Ok(rejected(status));
                    }
                    _ => {}
                }
            }
            let mut s = self.inner.queries.state.lock().unwrap();
            s.waiters.insert(id.clone(), tx);
            if status == WorkflowExecutionStatus::Running as i32 && ms.workflow_task.is_some() {
                s.buffered
                    .entry(key.clone())
                    .or_default()
                    .push((id.clone(), query));
            } else {
                drop(s);
                self.dispatch_query(&key, ms, id.clone(), query);
            }
        }
        let answer = tokio::time::timeout(wait, rx).await;
        self.inner.queries.forget(&id);
        match answer {
            Ok(Ok(Answer::Answered(result))) => Ok(QueryWorkflowResponse {
                query_result: result,
                ..Default::default()
            }),
            Ok(Ok(Answer::Failed { message, failure })) => {
                Err(Error::QueryFailed { message, failure })
            }
            _ => Err(Error::DeadlineExceeded(
                "query timed out before a worker could process it".into(),
            )),
        }
    }

    /// Sends a query to a worker as a task of its own.
    fn dispatch_query(&self, key: &RunKey, ms: &MutableState, id: String, query: WorkflowQuery) {
        let normal = ms
            .started
            .as_ref()
            .and_then(|s| s.task_queue.as_ref())
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let sticky = !ms.sticky_task_queue.is_empty()
            && self.queue_is_live(&Engine::queue_key(
                &key.namespace_id,
                &ms.sticky_task_queue,
                QueueKind::Workflow,
            ));
        let queue = if sticky {
            ms.sticky_task_queue.clone()
        } else {
            normal.clone()
        };
        self.inner
            .queries
            .state
            .lock()
            .unwrap()
            .direct
            .insert(id.clone(), (key.clone(), query, queue.clone()));
        let task = Task {
            kind: TaskKind::Query as i32,
            namespace_id: key.namespace_id.clone(),
            workflow_id: key.workflow_id.clone(),
            run_id: key.run_id.clone(),
            task_queue: queue.clone(),
            query_id: id,
            normal_task_queue: if sticky { normal } else { String::new() },
            ..Default::default()
        };
        let qk = Engine::queue_key(&key.namespace_id, &queue, QueueKind::Workflow);
        self.dispatch(
            qk,
            Queued {
                // Not durable: its shard is where the waiting query is.
                shard_id: self.shard_of(&key.namespace_id, &key.workflow_id),
                range_id: 0,
                task_id: NOT_STORED,
                task,
            },
        );
    }

    /// After a commit: queries still waiting for a workflow task when none is pending go to
    /// the worker as query tasks.
    pub(crate) fn flush_queries(&self, key: &RunKey, ms: &MutableState) {
        let pending =
            ms.status == WorkflowExecutionStatus::Running as i32 && ms.workflow_task.is_some();
        if pending || !self.inner.queries.has_buffered(key) {
            return;
        }
        for (id, q) in self.inner.queries.take_buffered(key) {
            self.dispatch_query(key, ms, id, q);
        }
    }

    /// The poll response for a query task, or None if nobody waits for it any more.
    pub(crate) async fn query_task_response(
        &self,
        task: &Task,
    ) -> Result<Option<PollWorkflowTaskQueueResponse>> {
        let Some((key, query, queue)) = ({
            let s = self.inner.queries.state.lock().unwrap();
            if s.waiters.contains_key(&task.query_id) {
                s.direct.get(&task.query_id).cloned()
            } else {
                None
            }
        }) else {
            return Ok(None);
        };
        let ms = match self.snapshot(&key).await {
            Ok(ms) => ms,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let started = ms.started.clone().unwrap_or_default();
        let normal = started
            .task_queue
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        // A sticky worker has the run cached and needs no history.
        let events = if queue != normal {
            Vec::new()
        } else {
            self.read_events(&key, 1, ms.next_event_id - 1).await?
        };
        let token = TaskToken {
            namespace_id: key.namespace_id.clone(),
            workflow_id: key.workflow_id.clone(),
            run_id: key.run_id.clone(),
            query_id: task.query_id.clone(),
            ..Default::default()
        };
        Ok(Some(PollWorkflowTaskQueueResponse {
            task_token: token.encode_to_vec(),
            workflow_execution: Some(WorkflowExecution {
                workflow_id: key.workflow_id.clone(),
                run_id: key.run_id.clone(),
            }),
            workflow_type: started.workflow_type,
            previous_started_event_id: ms.last_completed_wft_started_id,
            history: Some(History { events }),
            query: Some(query),
            workflow_execution_task_queue: Some(TaskQueue {
                name: normal,
                kind: TaskQueueKind::Normal as i32,
                normal_name: String::new(),
            }),
            ..Default::default()
        }))
    }

    pub async fn respond_query_task(
        &self,
        ns: &Namespace,
        req: RespondQueryTaskCompletedRequest,
    ) -> Result<()> {
        let t = self.decode_token(ns, &req.task_token)?;
        if t.query_id.is_empty() {
            return Err(invalid("Task token is not a query task token."));
        }
        let answer = if req.completed_type == QueryResultType::Answered as i32 {
            Answer::Answered(req.query_result)
        } else {
            Answer::Failed {
                message: req.error_message,
                failure: req.failure.map(Box::new),
            }
        };
        self.inner.queries.answer(&t.query_id, answer);
        Ok(())
    }
}
