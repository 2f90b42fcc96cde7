//! Reading runs: history pages and long polls, describe, and visibility listings.

use prost::Message;
use sundial_store::{HistoryBatch, RunKey};
use temporalio_protos::temporal::api::{
    enums::v1::{
        EventType, HistoryEventFilterType, PendingActivityState, PendingWorkflowTaskState,
        WorkflowExecutionStatus,
    },
    history::v1::{History, HistoryEvent},
    workflow::v1::{
        PendingActivityInfo, PendingChildExecutionInfo, PendingWorkflowTaskInfo, RequestIdInfo,
        ResetPoints, WorkflowExecutionConfig, WorkflowExecutionExtendedInfo, WorkflowExecutionInfo,
        WorkflowExecutionVersioningInfo, pending_activity_info,
    },
    workflowservice::v1::{
        DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse,
        GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryResponse,
    },
};

use super::history_cache::{CachedHistory, decode_range};
use super::{Engine, RunGuard, execution_info};
use crate::error::{Result, invalid};
use crate::namespace::Namespace;
use crate::state::{ActivityInfo, HistoryPageToken, MutableState};
use crate::time::{GO_ZERO_TIME, dur, dur_nanos, opt_ts, ts};

const DEFAULT_PAGE_SIZE: usize = 1000;

/// Batches of history read from the database per round trip.
const BATCHES_PER_READ: i64 = 64;

impl Engine {
    /// The stored batches that hold events `from..=to`, in order.
    async fn read_batches(&self, key: &RunKey, from: i64, to: i64) -> Result<Vec<HistoryBatch>> {
        let shard = self.shard_of(&key.namespace_id, &key.workflow_id);
        let mut batches: Vec<HistoryBatch> = Vec::new();
        let mut next = from.max(1);
        while next <= to {
            let page = self
                .inner
                .store
                .read_history(shard, key, next, BATCHES_PER_READ)
                .await?;
            let full = page.len() as i64 == BATCHES_PER_READ;
            batches.extend(page);
            next = batches.last().map_or(next, |b| b.last_event_id + 1);
            if !full {
                break;
            }
        }
        Ok(batches)
    }

    /// Events `from..=to` of a run, in order.
    pub(crate) async fn read_events(
        &self,
        key: &RunKey,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryEvent>> {
        let batches = self.read_batches(key, from, to).await?;
        decode_range(batches.iter().map(|b| b.data.as_slice()), from, to)
    }

    /// Events `from..=to` of a locked run: from its cached history, else from the database.
    /// A running run without one gets it when the whole history is read anyway (`from` 1).
    pub(super) async fn locked_events(
        &self,
        guard: &mut RunGuard,
        from: i64,
        to: i64,
    ) -> Result<Vec<HistoryEvent>> {
        if let Some(h) = &guard.slot.history
            && h.next_event_id() > to
        {
            return h.events(from, to);
        }
        let state = guard.state();
        let next = state.next_event_id;
        if from != 1
            || guard.slot.history.is_some()
            || state.status != WorkflowExecutionStatus::Running as i32
        {
            return self.read_events(&guard.key, from, to).await;
        }
        let batches = self.read_batches(&guard.key, 1, i64::MAX).await?;
        let events = decode_range(batches.iter().map(|b| b.data.as_slice()), 1, to)?;
        guard.slot.history = CachedHistory::start(&self.inner.history_budget, batches)
            .filter(|h| h.next_event_id() == next);
        Ok(events)
    }

    pub async fn get_history(
        &self,
        ns: &Namespace,
        req: GetWorkflowExecutionHistoryRequest,
        wait: std::time::Duration,
    ) -> Result<GetWorkflowExecutionHistoryResponse> {
        let exec = req.execution.clone().unwrap_or_default();
        let mut key = self.resolve(&ns.id, &exec).await?;
        let mut from = 1;
        if !req.next_page_token.is_empty() {
            let t = HistoryPageToken::decode(req.next_page_token.as_slice())
                .map_err(|_| invalid("Invalid NextPageToken."))?;
            key.run_id = t.run_id;
            from = t.next_event_id;
        }
        let close_only = req.history_event_filter_type == HistoryEventFilterType::CloseEvent as i32;
        let deadline = tokio::time::Instant::now() + wait;
        let mut watch = self.watch(&key);
        let ms = loop {
            let ms = self.snapshot(&key).await?;
            let closed = ms.status != WorkflowExecutionStatus::Running as i32;
            let ready = if close_only {
                closed
            } else {
                closed || ms.next_event_id > from
            };
            if ready || !req.wait_new_event {
                break ms;
            }
            let token = HistoryPageToken {
                run_id: key.run_id.clone(),
                next_event_id: from,
            };
            let timed_out = tokio::time::timeout_at(deadline, watch.changed())
                .await
                .is_err();
            if timed_out {
                return Ok(GetWorkflowExecutionHistoryResponse {
                    history: Some(History::default()),
                    next_page_token: token.encode_to_vec(),
                    ..Default::default()
                });
            }
            // The commit that closed the run told its close event: no need to read it back.
            if close_only && let Some(event) = watch.close_event() {
                return Ok(GetWorkflowExecutionHistoryResponse {
                    history: Some(History {
                        events: vec![event],
                    }),
                    ..Default::default()
                });
            }
        };
        let closed = ms.status != WorkflowExecutionStatus::Running as i32;
        if close_only {
            let events = if closed {
                self.read_events(&key, ms.close_event_id, ms.close_event_id)
                    .await?
            } else {
                Vec::new()
            };
            return Ok(GetWorkflowExecutionHistoryResponse {
                history: Some(History { events }),
                ..Default::default()
            });
        }
        let page = if req.maximum_page_size <= 0 {
            DEFAULT_PAGE_SIZE
        } else {
            req.maximum_page_size as usize
        };
        let last = ms.next_event_id - 1;
        let to = (from + page as i64 - 1).min(last);
        let mut events = self.read_events(&key, from, to).await?;
        let next = events.last().map(|e| e.event_id + 1).unwrap_or(from);
        let more = next <= last || (req.wait_new_event && !closed);
        if !more && !closed && ms.transient_wft && !req.wait_new_event {
            // A retried workflow task's events are not written yet; show them, as Temporal
            // does, at the end of the history.
            let shard = self.shard_of(&key.namespace_id, &key.workflow_id);
            events.extend(super::Txn::new(self, shard, ms.clone()).transient_events());
        }
        Ok(GetWorkflowExecutionHistoryResponse {
            history: Some(History { events }),
            next_page_token: if more {
                HistoryPageToken {
                    run_id: key.run_id.clone(),
                    next_event_id: next,
                }
                .encode_to_vec()
            } else {
                Vec::new()
            },
            ..Default::default()
        })
    }

    pub async fn describe_workflow(
        &self,
        ns: &Namespace,
        req: DescribeWorkflowExecutionRequest,
    ) -> Result<DescribeWorkflowExecutionResponse> {
        let exec = req.execution.clone().unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let ms = self.snapshot(&key).await?;
        let started = ms.started.clone().unwrap_or_default();
        let now = crate::time::now_nanos();
        let pending_activities = ms
            .activities
            .iter()
            .map(|a| pending_activity(a, now))
            .collect();
        let pending_workflow_task = ms.workflow_task.as_ref().map(|w| PendingWorkflowTaskInfo {
            state: if w.started_event_id > 0 {
                PendingWorkflowTaskState::Started
            } else {
                PendingWorkflowTaskState::Scheduled
            } as i32,
            scheduled_time: opt_ts(w.scheduled_time),
            original_scheduled_time: opt_ts(w.scheduled_time),
            started_time: opt_ts(w.started_time),
            attempt: w.attempt,
        });
        Ok(DescribeWorkflowExecutionResponse {
            execution_config: Some(WorkflowExecutionConfig {
                task_queue: started.task_queue.clone(),
                workflow_execution_timeout: started.workflow_execution_timeout,
                workflow_run_timeout: started.workflow_run_timeout,
                default_workflow_task_timeout: started
                    .workflow_task_timeout
                    .or(Some(dur(super::txn::DEFAULT_WFT_TIMEOUT))),
                user_metadata: ms.user_metadata.clone(),
            }),
            workflow_execution_info: Some(WorkflowExecutionInfo {
                auto_reset_points: Some(ResetPoints {
                    points: ms.auto_reset_points.clone(),
                }),
                most_recent_worker_version_stamp: ms.most_recent_worker_version.clone(),
                // Present even when empty, as on Temporal.
                memo: Some(ms.memo.clone().unwrap_or_default()),
                // As the start set it (the SDKs send an empty one); none if it set none.
                priority: ms.priority.clone().or(started.priority.clone()),
                versioning_info: ms
                    .has_versioning_info
                    .then(|| WorkflowExecutionVersioningInfo {
                        versioning_override: ms
                            .versioning_override
                            .as_ref()
                            .map(super::execution_options::described_override),
                        ..Default::default()
                    }),
                ..execution_info(&ms)
            }),
            pending_activities,
            pending_workflow_task,
            pending_children: ms
                .children
                .iter()
                .map(|c| {
                    let i = c.initiated.clone().unwrap_or_default();
                    PendingChildExecutionInfo {
                        workflow_id: i.workflow_id,
                        run_id: c.run_id.clone(),
                        workflow_type_name: i.workflow_type.map(|t| t.name).unwrap_or_default(),
                        initiated_id: c.initiated_event_id,
                        parent_close_policy: i.parent_close_policy,
                    }
                })
                .collect(),
            workflow_extended_info: Some(extended_info(&ms)),
            ..Default::default()
        })
    }
}

/// DescribeWorkflowExecution's extended info: deadlines, the original start, cancel request,
/// and the request ids the run has taken.
fn extended_info(ms: &MutableState) -> WorkflowExecutionExtendedInfo {
    let deadline = |t: i64| Some(if t > 0 { ts(t) } else { GO_ZERO_TIME });
    let mut request_id_infos = std::collections::HashMap::new();
    if !ms.start_request_id.is_empty() {
        request_id_infos.insert(
            ms.start_request_id.clone(),
            RequestIdInfo {
                event_type: EventType::WorkflowExecutionStarted as i32,
                event_id: 1,
                buffered: false,
            },
        );
    }
    WorkflowExecutionExtendedInfo {
        execution_expiration_time: (ms.execution_expiration > 0)
            .then(|| ts(ms.execution_expiration)),
        run_expiration_time: deadline(ms.run_expiration),
        cancel_requested: ms.cancel_requested,
        original_start_time: opt_ts(ms.start_time),
        request_id_infos,
        ..Default::default()
    }
}

/// An activity as DescribeWorkflowExecution shows it (Temporal's fields, pause and the
/// options it runs with included).
fn pending_activity(a: &ActivityInfo, now: i64) -> PendingActivityInfo {
    let attrs = a.attrs.clone().unwrap_or_default();
    let state = match (a.cancel_requested, a.started_time > 0, a.paused) {
        (true, _, _) => PendingActivityState::CancelRequested,
        (false, true, true) => PendingActivityState::PauseRequested,
        (false, true, false) => PendingActivityState::Started,
        (false, false, true) => PendingActivityState::Paused,
        (false, false, false) => PendingActivityState::Scheduled,
    };
    // Waiting out a retry's backoff: when the next attempt goes, and the interval it waits.
    let backoff = state == PendingActivityState::Scheduled && a.scheduled_time > now;
    let expiration = match dur_nanos(&attrs.schedule_to_close_timeout) {
        0 => 0,
        stc => a.first_scheduled_time + stc,
    };
    PendingActivityInfo {
        activity_id: attrs.activity_id.clone(),
        activity_type: attrs.activity_type.clone(),
        state: state as i32,
        heartbeat_details: a.heartbeat_details.clone(),
        last_heartbeat_time: opt_ts(a.last_heartbeat_time),
        last_started_time: opt_ts(a.started_time),
        attempt: a.attempt.max(1),
        maximum_attempts: attrs
            .retry_policy
            .as_ref()
            .map(|p| p.maximum_attempts)
            .unwrap_or(0),
        scheduled_time: opt_ts(a.scheduled_time),
        expiration_time: opt_ts(expiration),
        last_failure: a.last_failure.clone(),
        last_worker_identity: a.started_identity.clone(),
        last_attempt_complete_time: opt_ts(a.last_attempt_complete_time),
        next_attempt_schedule_time: backoff.then(|| ts(a.scheduled_time)),
        current_retry_interval: backoff
            .then(|| dur(a.scheduled_time - a.last_attempt_complete_time)),
        paused: a.paused,
        pause_info: a.pause.as_ref().map(|p| pending_activity_info::PauseInfo {
            pause_time: opt_ts(p.time),
            paused_by: Some(pending_activity_info::pause_info::PausedBy::Manual(
                pending_activity_info::pause_info::Manual {
                    identity: p.identity.clone(),
                    reason: p.reason.clone(),
                },
            )),
        }),
        priority: attrs.priority.clone(),
        activity_options: Some(super::activity_ops::options_of(&attrs)),
        ..Default::default()
    }
}
