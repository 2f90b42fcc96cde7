//! Starting runs: start, signal-with-start, and the runs a parent, a retry or a cron starts.

use prost::Message;
use sundial_store::{CurrentRunUpdate, RunKey};
use temporalio_protos::temporal::api::{
    common::v1::{Payloads, RetryPolicy, WorkflowExecution},
    enums::v1::{
        ContinueAsNewInitiator, TaskQueueKind, WorkflowExecutionStatus, WorkflowIdConflictPolicy,
        WorkflowIdReusePolicy,
    },
    history::v1::{
        WorkflowExecutionSignaledEventAttributes, WorkflowExecutionStartedEventAttributes,
    },
    sdk::v1::UserMetadata,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        SignalWithStartWorkflowExecutionRequest, SignalWithStartWorkflowExecutionResponse,
        StartWorkflowExecutionRequest, StartWorkflowExecutionResponse,
    },
};

use super::{Engine, Staged, Txn};
use crate::error::{Error, Result, invalid};
use crate::namespace::Namespace;
use crate::state::{MutableState, TaskKind};
use crate::time::{dur, dur_nanos, now_nanos, ts, valid_duration};

/// Checks a payload blob against the size limit, naming the field.
pub(crate) fn check_blob(engine: &Engine, payloads: &Option<Payloads>, field: &str) -> Result<()> {
    if let Some(p) = payloads {
        let size = p.encoded_len();
        let limit = engine.blob_size_limit();
        if size > limit {
            return Err(invalid(format!(
                "Blob data size exceeds limit: {field} is {size} bytes, the limit is {limit} bytes."
            )));
        }
    }
    Ok(())
}

pub(crate) fn check_id(engine: &Engine, value: &str, what: &str) -> Result<()> {
    if value.is_empty() {
        return Err(invalid(format!("{what} is not set on request.")));
    }
    let limit = engine.max_id_length();
    if value.len() > limit {
        return Err(invalid(format!("{what} exceeds length limit of {limit}.")));
    }
    Ok(())
}

pub(crate) fn validate_retry_policy(p: &Option<RetryPolicy>) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    if !valid_duration(&p.initial_interval) || !valid_duration(&p.maximum_interval) {
        return Err(invalid("RetryPolicy intervals must not be negative."));
    }
    if p.backoff_coefficient != 0.0 && p.backoff_coefficient < 1.0 {
        return Err(invalid("BackoffCoefficient cannot be less than 1."));
    }
    if p.maximum_attempts < 0 {
        return Err(invalid(
            "MaximumAttempts cannot be negative on retry policy.",
        ));
    }
    let (i, m) = (
        dur_nanos(&p.initial_interval),
        dur_nanos(&p.maximum_interval),
    );
    if m > 0 && i > 0 && m < i {
        return Err(invalid(
            "MaximumInterval cannot be less than InitialInterval on retry policy.",
        ));
    }
    Ok(())
}

/// The parent of a child workflow run.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParentLink {
    pub namespace: String,
    pub namespace_id: String,
    pub execution: WorkflowExecution,
    pub initiated_event_id: i64,
    /// The root of the parent's tree (None when the parent is the root).
    pub root: Option<WorkflowExecution>,
}

/// Where a start comes from beyond its request: a parent, an eager start, a schedule.
#[derive(Clone, Copy, Default)]
pub(crate) struct StartFrom<'a> {
    pub parent: Option<&'a ParentLink>,
    pub eager: bool,
    /// A schedule's start: results passed on and the schedule's search attributes.
    pub carry: Option<&'a super::schedules::StartCarry>,
}

/// What a new run starts from: the started-event attributes plus bookkeeping.
pub(crate) struct NewRun {
    pub attrs: WorkflowExecutionStartedEventAttributes,
    pub request_id: String,
    pub start_delay: i64,
    pub signal: Option<WorkflowExecutionSignaledEventAttributes>,
    /// Summary and details for the started event.
    pub user_metadata: Option<UserMetadata>,
    /// Start the first workflow task at once for the starter (eager workflow start).
    pub eager: bool,
    /// A system run (a schedule's, a batch job's): it keeps this and has no workflow tasks.
    pub system: Option<super::system_runs::SystemState>,
}

impl Engine {
    /// Builds the first events, state and tasks of a run.
    pub(crate) fn new_run(
        &self,
        shard_id: i32,
        namespace_id: &str,
        run_id: &str,
        mut run: NewRun,
    ) -> Staged {
        let now = now_nanos();
        run.attrs.original_execution_run_id = run_id.to_string();
        if run.attrs.first_execution_run_id.is_empty() {
            run.attrs.first_execution_run_id = run_id.to_string();
        }
        if run.attrs.attempt == 0 {
            run.attrs.attempt = 1;
        }
        let exec_timeout = dur_nanos(&run.attrs.workflow_execution_timeout);
        let mut run_timeout = dur_nanos(&run.attrs.workflow_run_timeout);
        let execution_expiration = match run.attrs.workflow_execution_expiration_time {
            Some(t) => t.seconds * 1_000_000_000 + t.nanos as i64,
            None if exec_timeout > 0 => now + exec_timeout + run.start_delay,
            None => 0,
        };
        if execution_expiration > 0 {
            run.attrs.workflow_execution_expiration_time = Some(ts(execution_expiration));
            let left = execution_expiration - now;
            if run_timeout == 0 || run_timeout > left {
                run_timeout = left.max(1);
            }
            run.attrs.workflow_run_timeout = Some(dur(run_timeout));
        }
        // Set even when zero, as Temporal does.
        run.attrs.first_workflow_task_backoff = Some(dur(run.start_delay));
        // As on Temporal, a delayed first workflow task cannot start eagerly.
        run.eager &= run.start_delay == 0;
        run.attrs.eager_execution_accepted = run.eager;
        let identity = run.attrs.identity.clone();
        let ms = MutableState {
            namespace_id: namespace_id.to_string(),
            workflow_id: run.attrs.workflow_id.clone(),
            run_id: run_id.to_string(),
            start_time: now,
            execution_time: now + run.start_delay,
            status: WorkflowExecutionStatus::Running as i32,
            next_event_id: 1,
            start_request_id: run.request_id.clone(),
            memo: run.attrs.memo.clone(),
            search_attributes: run.attrs.search_attributes.clone(),
            execution_expiration,
            run_expiration: if run_timeout > 0 {
                now + run.start_delay + run_timeout
            } else {
                0
            },
            ..Default::default()
        };
        let mut txn = Txn::new(self, shard_id, ms);
        txn.now = now;
        txn.ms.started = Some(run.attrs.clone());
        txn.add(run.attrs);
        if let Some(event) = txn.events.last_mut() {
            event.user_metadata = run.user_metadata.clone();
        }
        txn.ms.user_metadata = run.user_metadata;
        if let Some(signal) = run.signal {
            txn.add(signal);
        }
        if let Some(system) = run.system {
            let kind = system.install(&mut txn.ms);
            txn.task(kind, now, 0);
        } else if run.start_delay > 0 {
            txn.task(TaskKind::DispatchWorkflowTask, now + run.start_delay, 0);
        } else if run.eager {
            txn.start_eager_workflow_task(&identity, &run.request_id);
        } else {
            txn.schedule_workflow_task(1);
        }
        if txn.ms.run_expiration > 0 {
            let at = txn.ms.run_expiration;
            txn.task(TaskKind::WorkflowTimeout, at, 0);
        }
        txn.visibility = true;
        let key = RunKey {
            namespace_id: namespace_id.into(),
            workflow_id: txn.ms.workflow_id.clone(),
            run_id: run_id.into(),
        };
        txn.finish(key, None)
    }

    pub async fn start_workflow(
        &self,
        ns: &Namespace,
        req: StartWorkflowExecutionRequest,
    ) -> Result<StartWorkflowExecutionResponse> {
        let workflow_id = req.workflow_id.clone();
        let eager = req.request_eager_execution && self.eager_workflow_start(&ns.name);
        let mut sreq = SignalWithStartWorkflowExecutionRequest {
            namespace: req.namespace,
            workflow_id: req.workflow_id,
            workflow_type: req.workflow_type,
            task_queue: req.task_queue,
            input: req.input,
            workflow_execution_timeout: req.workflow_execution_timeout,
            workflow_run_timeout: req.workflow_run_timeout,
            workflow_task_timeout: req.workflow_task_timeout,
            identity: req.identity,
            request_id: req.request_id,
            workflow_id_reuse_policy: req.workflow_id_reuse_policy,
            workflow_id_conflict_policy: req.workflow_id_conflict_policy,
            retry_policy: req.retry_policy,
            cron_schedule: req.cron_schedule,
            memo: req.memo,
            search_attributes: req.search_attributes,
            header: req.header,
            workflow_start_delay: req.workflow_start_delay,
            user_metadata: req.user_metadata,
            priority: req.priority.clone(),
            ..Default::default()
        };
        if sreq.request_id.is_empty() {
            sreq.request_id = uuid::Uuid::new_v4().to_string();
        }
        let request_id = sreq.request_id.clone();
        let (run_id, started) = self
            .start_or_signal_with(
                ns,
                sreq,
                false,
                StartFrom {
                    eager,
                    ..Default::default()
                },
            )
            .await?;
        let eager_workflow_task = match eager && started {
            true => {
                let key = RunKey {
                    namespace_id: ns.id.clone(),
                    workflow_id: workflow_id.clone(),
                    run_id: run_id.clone(),
                };
                self.eager_workflow_task(&key, &request_id).await?
            }
            false => None,
        };
        let first_execution_run_id = self
            .first_run_of(ns, &workflow_id, &run_id, started)
            .await?;
        Ok(StartWorkflowExecutionResponse {
            link: Some(super::links::started(&ns.name, &workflow_id, &run_id)),
            run_id,
            first_execution_run_id,
            started,
            status: WorkflowExecutionStatus::Running as i32,
            eager_workflow_task,
        })
    }

    /// The first run of the chain of `run_id`: itself when this call started it, else (the
    /// conflict policy took the running run, or a signal went to it) read from that run,
    /// which may continue an earlier chain.
    async fn first_run_of(
        &self,
        ns: &Namespace,
        workflow_id: &str,
        run_id: &str,
        started: bool,
    ) -> Result<String> {
        if started {
            return Ok(run_id.to_string());
        }
        let key = RunKey {
            namespace_id: ns.id.clone(),
            workflow_id: workflow_id.to_string(),
            run_id: run_id.to_string(),
        };
        Ok(self
            .snapshot(&key)
            .await?
            .first_execution_run_id()
            .to_string())
    }

    /// Signal-with-start as the API answers it: the run signalled (started or not), the
    /// first run of its chain and a link to the signaled event.
    pub async fn signal_with_start(
        &self,
        ns: &Namespace,
        req: SignalWithStartWorkflowExecutionRequest,
    ) -> Result<SignalWithStartWorkflowExecutionResponse> {
        let (workflow_id, request_id) = (req.workflow_id.clone(), req.request_id.clone());
        let (run_id, started) = self.start_or_signal(ns, req, true).await?;
        Ok(SignalWithStartWorkflowExecutionResponse {
            first_execution_run_id: self
                .first_run_of(ns, &workflow_id, &run_id, started)
                .await?,
            signal_link: Some(super::links::signaled(
                &ns.name,
                &workflow_id,
                &run_id,
                &request_id,
            )),
            run_id,
            started,
        })
    }

    /// Start (and with `with_signal`, signal-with-start). Returns (run id, started).
    pub async fn start_or_signal(
        &self,
        ns: &Namespace,
        req: SignalWithStartWorkflowExecutionRequest,
        with_signal: bool,
    ) -> Result<(String, bool)> {
        self.start_or_signal_with(ns, req, with_signal, StartFrom::default())
            .await
    }

    /// [`Engine::start_or_signal`], for a child run when `parent` is set.
    pub(crate) async fn start_or_signal_with(
        &self,
        ns: &Namespace,
        mut req: SignalWithStartWorkflowExecutionRequest,
        with_signal: bool,
        from: StartFrom<'_>,
    ) -> Result<(String, bool)> {
        check_id(self, &req.workflow_id, "WorkflowId")?;
        let wf_type = req
            .workflow_type
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or("");
        check_id(self, wf_type, "WorkflowType")?;
        let tq = req
            .task_queue
            .as_ref()
            .map(|t| t.name.as_str())
            .unwrap_or("");
        check_id(self, tq, "TaskQueue")?;
        if with_signal {
            check_id(self, &req.signal_name, "SignalName")?;
        }
        for (d, name) in [
            (&req.workflow_execution_timeout, "WorkflowExecutionTimeout"),
            (&req.workflow_run_timeout, "WorkflowRunTimeout"),
            (&req.workflow_task_timeout, "WorkflowTaskTimeout"),
            (&req.workflow_start_delay, "WorkflowStartDelay"),
        ] {
            if !valid_duration(d) {
                return Err(invalid(format!("Invalid {name}.")));
            }
        }
        validate_retry_policy(&req.retry_policy)?;
        if let Some(sa) = req.search_attributes.as_mut() {
            super::validate_search_attributes(ns, sa)?;
        }
        if !req.cron_schedule.is_empty() {
            if let Err(e) = super::cron::parse(&req.cron_schedule) {
                return Err(invalid(format!("Invalid CronSchedule: {e}.")));
            }
            if dur_nanos(&req.workflow_start_delay) > 0 {
                return Err(invalid(
                    "CronSchedule and WorkflowStartDelay may not be used together.",
                ));
            }
        }
        check_blob(self, &req.input, "input")?;
        check_blob(self, &req.signal_input, "signal input")?;
        if req.request_id.is_empty() {
            req.request_id = uuid::Uuid::new_v4().to_string();
        }
        let conflict =
            WorkflowIdConflictPolicy::try_from(req.workflow_id_conflict_policy).unwrap_or_default();
        let reuse =
            WorkflowIdReusePolicy::try_from(req.workflow_id_reuse_policy).unwrap_or_default();
        if conflict != WorkflowIdConflictPolicy::Unspecified
            && reuse == WorkflowIdReusePolicy::TerminateIfRunning
        {
            return Err(invalid(
                "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used together with a WorkflowIDConflictPolicy.",
            ));
        }
        let mut last = None;
        for _ in 0..8 {
            match self.try_start(ns, &req, with_signal, from).await {
                Err(Error::Conflict(m)) => last = Some(m),
                other => return other,
            }
        }
        Err(Error::Unavailable(format!(
            "workflow start kept conflicting: {}",
            last.unwrap_or_default()
        )))
    }

    fn new_run_from(
        &self,
        req: &SignalWithStartWorkflowExecutionRequest,
        with_signal: bool,
        from: StartFrom<'_>,
    ) -> NewRun {
        let parent = from.parent;
        let task_timeout = dur_nanos(&req.workflow_task_timeout);
        let attrs = WorkflowExecutionStartedEventAttributes {
            workflow_type: req.workflow_type.clone(),
            task_queue: Some(TaskQueue {
                name: req
                    .task_queue
                    .as_ref()
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                kind: TaskQueueKind::Normal as i32,
                normal_name: String::new(),
            }),
            input: req.input.clone(),
            workflow_execution_timeout: req.workflow_execution_timeout,
            workflow_run_timeout: req.workflow_run_timeout.or(req.workflow_execution_timeout),
            workflow_task_timeout: Some(dur(super::txn::wft_timeout_or_default(task_timeout))),
            identity: req.identity.clone(),
            retry_policy: req.retry_policy.clone(),
            attempt: 1,
            memo: req.memo.clone(),
            search_attributes: req.search_attributes.clone(),
            header: req.header.clone(),
            workflow_id: req.workflow_id.clone(),
            priority: req.priority.clone(),
            parent_workflow_namespace: parent.map(|p| p.namespace.clone()).unwrap_or_default(),
            parent_workflow_namespace_id: parent
                .map(|p| p.namespace_id.clone())
                .unwrap_or_default(),
            parent_workflow_execution: parent.map(|p| p.execution.clone()),
            parent_initiated_event_id: parent.map(|p| p.initiated_event_id).unwrap_or_default(),
            root_workflow_execution: parent
                .map(|p| p.root.clone().unwrap_or_else(|| p.execution.clone())),
            cron_schedule: req.cron_schedule.clone(),
            // Temporal marks even the first run of a cron workflow as started by the schedule.
            initiator: if req.cron_schedule.is_empty() {
                0
            } else {
                ContinueAsNewInitiator::CronSchedule as i32
            },
            ..Default::default()
        };
        let attrs = WorkflowExecutionStartedEventAttributes {
            workflow_run_timeout: match super::txn::bounded_run_timeout(
                dur_nanos(&req.workflow_run_timeout),
                dur_nanos(&req.workflow_execution_timeout),
            ) {
                // No limit: absent unless the request wrote a zero (a child's request does).
                0 => req.workflow_run_timeout,
                run => Some(dur(run)),
            },
            ..attrs
        };
        let attrs = match from.carry {
            Some(carry) => carry.apply(attrs),
            None => attrs,
        };
        // An empty schedule does not parse: no cron delay.
        let cron_delay = super::cron::parse(&req.cron_schedule).ok().and_then(|s| {
            let now = now_nanos();
            s.backoff(now, now)
        });
        NewRun {
            attrs,
            request_id: req.request_id.clone(),
            start_delay: cron_delay.unwrap_or(dur_nanos(&req.workflow_start_delay)),
            signal: with_signal.then(|| WorkflowExecutionSignaledEventAttributes {
                signal_name: req.signal_name.clone(),
                input: req.signal_input.clone(),
                identity: req.identity.clone(),
                header: req.header.clone(),
                ..Default::default()
            }),
            user_metadata: req.user_metadata.clone(),
            eager: from.eager,
            system: None,
        }
    }

    async fn try_start(
        &self,
        ns: &Namespace,
        req: &SignalWithStartWorkflowExecutionRequest,
        with_signal: bool,
        from: StartFrom<'_>,
    ) -> Result<(String, bool)> {
        let conflict =
            WorkflowIdConflictPolicy::try_from(req.workflow_id_conflict_policy).unwrap_or_default();
        let reuse =
            WorkflowIdReusePolicy::try_from(req.workflow_id_reuse_policy).unwrap_or_default();
        let shard_id = self.shard_of(&ns.id, &req.workflow_id);
        let current = self.current_run(&ns.id, &req.workflow_id).await?;
        let run_id = super::new_run_id(!with_signal);
        let Some(current) = current else {
            let staged = self.new_run(
                shard_id,
                &ns.id,
                &run_id,
                self.new_run_from(req, with_signal, from),
            );
            self.commit_staged(
                shard_id,
                &req.workflow_id,
                Some(CurrentRunUpdate::Create {
                    run_id: run_id.clone(),
                }),
                vec![(None, staged)],
            )
            .await?;
            return Ok((run_id, true));
        };
        let key = RunKey {
            namespace_id: ns.id.clone(),
            workflow_id: req.workflow_id.clone(),
            run_id: current.clone(),
        };
        let mut guard = match self.lock(&key).await {
            Ok(g) => g,
            Err(Error::NotFound(m)) => return Err(Error::Conflict(m)),
            Err(e) => return Err(e),
        };
        let cur = guard.state().clone();
        let running = cur.status == WorkflowExecutionStatus::Running as i32;
        if !with_signal && cur.start_request_id == req.request_id {
            return Ok((cur.run_id, true));
        }
        if running && with_signal {
            self.signal_locked(
                &mut guard,
                &req.signal_name,
                req.signal_input.clone(),
                &req.identity,
                req.header.clone(),
                &req.request_id,
                None,
            )
            .await?;
            return Ok((cur.run_id, false));
        }
        let move_current = Some(CurrentRunUpdate::Move {
            from_run_id: current.clone(),
            run_id: run_id.clone(),
        });
        if running {
            let terminate = match conflict {
                WorkflowIdConflictPolicy::UseExisting => return Ok((cur.run_id, false)),
                WorkflowIdConflictPolicy::TerminateExisting => true,
                _ => reuse == WorkflowIdReusePolicy::TerminateIfRunning,
            };
            if !terminate {
                return Err(Error::WorkflowAlreadyStarted {
                    message: format!(
                        "Workflow execution is already running. WorkflowId: {}, RunId: {}.",
                        cur.workflow_id, cur.run_id
                    ),
                    first_execution_run_id: cur.first_execution_run_id().to_string(),
                    start_request_id: cur.start_request_id,
                    run_id: cur.run_id,
                });
            }
            let mut txn = self.begin(&guard);
            txn.terminate(
                &format!("terminated by new run {run_id}"),
                None,
                &req.identity,
            );
            let old = txn.finish(key.clone(), Some(guard.slot.loaded.as_ref().unwrap().1));
            let staged = self.new_run(
                shard_id,
                &ns.id,
                &run_id,
                self.new_run_from(req, with_signal, from),
            );
            self.commit_staged(
                shard_id,
                &req.workflow_id,
                move_current,
                vec![(Some(&mut guard), old), (None, staged)],
            )
            .await?;
            drop(guard);
            return Ok((run_id, true));
        }
        let closed_ok = match reuse {
            WorkflowIdReusePolicy::RejectDuplicate => false,
            WorkflowIdReusePolicy::AllowDuplicateFailedOnly => [
                WorkflowExecutionStatus::Failed,
                WorkflowExecutionStatus::Canceled,
                WorkflowExecutionStatus::Terminated,
                WorkflowExecutionStatus::TimedOut,
            ]
            .iter()
            .any(|s| *s as i32 == cur.status),
            _ => true,
        };
        if !closed_ok {
            return Err(Error::WorkflowAlreadyStarted {
                message: format!(
                    "Workflow execution already finished and Workflow ID reuse policy does not allow it to be started again. WorkflowId: {}, RunId: {}.",
                    cur.workflow_id, cur.run_id
                ),
                first_execution_run_id: cur.first_execution_run_id().to_string(),
                start_request_id: cur.start_request_id,
                run_id: cur.run_id,
            });
        }
        drop(guard);
        let staged = self.new_run(
            shard_id,
            &ns.id,
            &run_id,
            self.new_run_from(req, with_signal, from),
        );
        self.commit_staged(
            shard_id,
            &req.workflow_id,
            move_current,
            vec![(None, staged)],
        )
        .await?;
        Ok((run_id, true))
    }
}
