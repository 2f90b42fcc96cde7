//! The server's own runs: a schedule's scheduler run and a batch job's run. They live in the
//! namespace they serve, as on Temporal, with a division search attribute that keeps them out
//! of workflow listings; they have no workflow tasks: durable timers of their own kind drive
//! them.

use sundial_store::{CurrentRunUpdate, RunKey};
use temporalio_protos::temporal::api::{
    common::v1::{Memo, SearchAttributes, WorkflowType},
    enums::v1::TaskQueueKind,
    history::v1::WorkflowExecutionStartedEventAttributes,
    taskqueue::v1::TaskQueue,
};

use super::Engine;
use super::batch::BatchRecord;
use super::schedules::ScheduleRecord;
use super::start::NewRun;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::state::{MutableState, TaskKind};

/// What a system run keeps, and so which timer drives it.
#[derive(Clone)]
pub(crate) enum SystemState {
    Schedule(Box<ScheduleRecord>),
    Batch(Box<BatchRecord>),
}

impl SystemState {
    /// Puts the state in a new run's mutable state; the task kind that drives it.
    pub(crate) fn install(self, ms: &mut MutableState) -> TaskKind {
        match self {
            SystemState::Schedule(r) => {
                ms.schedule = Some(*r);
                TaskKind::ScheduleWake
            }
            SystemState::Batch(r) => {
                ms.batch = Some(*r);
                TaskKind::BatchWake
            }
        }
    }
}

pub(crate) struct SystemRun {
    pub workflow_type: &'static str,
    pub task_queue: &'static str,
    pub identity: String,
    pub memo: Memo,
    pub search_attributes: SearchAttributes,
    pub request_id: String,
    pub state: SystemState,
}

/// What to do about a run already under the workflow id: `None` replaces a closed one.
pub(crate) type OnExisting<'a> =
    &'a (dyn Fn(&MutableState, RunKey) -> Option<Result<RunKey>> + Sync);

impl Engine {
    /// Creates a system run under `workflow_id`; `existing` decides about a run already there.
    pub(crate) async fn create_system_run(
        &self,
        ns: &Namespace,
        workflow_id: &str,
        run: SystemRun,
        existing: OnExisting<'_>,
    ) -> Result<RunKey> {
        let shard_id = self.shard_of(&ns.id, workflow_id);
        let mut last = String::new();
        for _ in 0..8 {
            let run_id = super::new_run_id(true);
            let current = match self.current_run(&ns.id, workflow_id).await? {
                None => CurrentRunUpdate::Create {
                    run_id: run_id.clone(),
                },
                Some(current) => {
                    let key = RunKey {
                        namespace_id: ns.id.clone(),
                        workflow_id: workflow_id.to_string(),
                        run_id: current.clone(),
                    };
                    let ms = self.snapshot(&key).await?;
                    if let Some(decided) = existing(&ms, key) {
                        return decided;
                    }
                    CurrentRunUpdate::Move {
                        from_run_id: current,
                        run_id: run_id.clone(),
                    }
                }
            };
            let attrs = WorkflowExecutionStartedEventAttributes {
                workflow_type: Some(WorkflowType {
                    name: run.workflow_type.into(),
                }),
                task_queue: Some(TaskQueue {
                    name: run.task_queue.into(),
                    kind: TaskQueueKind::Normal as i32,
                    normal_name: String::new(),
                }),
                identity: run.identity.clone(),
                memo: Some(run.memo.clone()),
                search_attributes: Some(run.search_attributes.clone()),
                workflow_id: workflow_id.to_string(),
                ..Default::default()
            };
            let staged = self.new_run(
                shard_id,
                &ns.id,
                &run_id,
                NewRun {
                    attrs,
                    request_id: run.request_id.clone(),
                    start_delay: 0,
                    signal: None,
                    user_metadata: None,
                    eager: false,
                    system: Some(run.state.clone()),
                },
            );
            match self
                .commit_staged(shard_id, workflow_id, Some(current), vec![(None, staged)])
                .await
            {
                Err(Error::Conflict(m)) => last = m,
                Err(e) => return Err(e),
                Ok(()) => {
                    return Ok(RunKey {
                        namespace_id: ns.id.clone(),
                        workflow_id: workflow_id.to_string(),
                        run_id,
                    });
                }
            }
        }
        Err(Error::Unavailable(format!(
            "creating {workflow_id} kept conflicting: {last}"
        )))
    }
}
