//! A batch job's step, once a second: up to a second's worth of operations (Temporal's
//! `worker.batcherRPS`, 50), listing the next page of targets when the last is done. Progress
//! is committed after each step; a target that fails for a passing reason is tried again at
//! the next step, one that is gone counts as done (as on Temporal).

use sundial_store::RunKey;
use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus,
    history::v1::WorkflowExecutionCompletedEventAttributes,
    workflowservice::v1::{
        UpdateWorkflowExecutionOptionsRequest, start_batch_operation_request::Operation,
    },
};

use super::BatchRecord;
use crate::error::{Error, Result};
use crate::history::Engine;
use crate::history::system_calls::{CallKind, SystemCallBody};
use crate::namespace::Namespace;
use crate::state::TaskKind;

const OPERATIONS_PER_SECOND: usize = 50;
const SECOND: i64 = 1_000_000_000;

/// The call one target gets.
fn call_for(
    ns: &Namespace,
    record: &BatchRecord,
    target: &temporalio_protos::temporal::api::common::v1::WorkflowExecution,
) -> SystemCallBody {
    let request = record.request.clone().unwrap_or_default();
    let mut call = SystemCallBody {
        namespace_id: ns.id.clone(),
        workflow_id: target.workflow_id.clone(),
        run_id: target.run_id.clone(),
        identity: record.identity.clone(),
        reason: request.reason.clone(),
        // A signal or reset once per job and target, however often a step is retried.
        request_id: format!(
            "{}-{}-{}",
            request.job_id, target.workflow_id, target.run_id
        ),
        ..Default::default()
    };
    call.kind = match request.operation {
        Some(Operation::TerminationOperation(o)) => {
            call.payloads = o.details;
            CallKind::Terminate
        }
        Some(Operation::CancellationOperation(_)) => CallKind::Cancel,
        Some(Operation::SignalOperation(o)) => {
            call.signal_name = o.signal;
            call.payloads = o.input;
            call.header = o.header;
            CallKind::Signal
        }
        Some(Operation::ResetOperation(o)) => {
            #[allow(deprecated)]
            {
                call.reset_type = o.reset_type;
                call.reset_reapply_type = o.reset_reapply_type;
            }
            call.reset_options = o.options;
            call.post_reset_operations = o.post_reset_operations;
            CallKind::Reset
        }
        Some(Operation::UpdateWorkflowOptionsOperation(o)) => {
            call.options = Some(UpdateWorkflowExecutionOptionsRequest {
                workflow_execution_options: o.workflow_execution_options,
                update_mask: o.update_mask,
                ..Default::default()
            });
            CallKind::UpdateOptions
        }
        _ => CallKind::Delete,
    } as i32;
    call
}

impl Engine {
    pub(crate) async fn run_batch(&self, key: &RunKey) -> Result<()> {
        let ns = self.namespaces().by_id(&key.namespace_id).await?;
        let mut guard = self.lock(key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Ok(());
        }
        let Some(mut record) = txn.ms.batch.take() else {
            return Ok(());
        };
        let mut budget = OPERATIONS_PER_SECOND;
        let mut retry = false;
        while budget > 0 {
            if record.pending.is_empty() {
                if record.listed_all {
                    break;
                }
                let page = self
                    .list_workflows(
                        &ns,
                        &record.query,
                        OPERATIONS_PER_SECOND as i32,
                        &record.page_token,
                    )
                    .await?;
                record.pending = page
                    .executions
                    .into_iter()
                    .filter_map(|e| e.execution)
                    .collect();
                record.listed_all = page.next_page_token.is_empty();
                record.page_token = page.next_page_token;
                if record.pending.is_empty() {
                    continue;
                }
            }
            let target = record.pending[0].clone();
            match self.system_call(call_for(&ns, &record, &target)).await {
                // A target gone counts as done, as on Temporal.
                Ok(_) | Err(Error::NotFound(_)) => record.success += 1,
                Err(
                    e @ (Error::Unavailable(_)
                    | Error::ShardNotOwned { .. }
                    | Error::Conflict(_)
                    | Error::DeadlineExceeded(_)),
                ) => {
                    tracing::debug!(job_id = %key.workflow_id, error = %e, "batch target to be tried again");
                    retry = true;
                    break;
                }
                Err(e) => {
                    tracing::debug!(job_id = %key.workflow_id, workflow_id = %target.workflow_id, error = %e, "batch operation failed on a target");
                    record.failure += 1;
                }
            }
            record.pending.remove(0);
            budget -= 1;
        }
        let done = !retry && record.pending.is_empty() && record.listed_all;
        txn.ms.batch = Some(record);
        if done {
            txn.add(WorkflowExecutionCompletedEventAttributes::default());
            txn.close(WorkflowExecutionStatus::Completed);
        } else {
            let next = txn.now + SECOND;
            txn.task(TaskKind::BatchWake, next, 0);
        }
        self.commit(&mut guard, txn).await?;
        Ok(())
    }
}
