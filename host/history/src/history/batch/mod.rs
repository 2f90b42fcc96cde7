//! Batch operations, native in the engine. As on Temporal, a batch job is a run of its
//! namespace under the job id (division `TemporalBatcher`, hidden from workflow listings);
//! here its timer ([`TaskKind::BatchWake`](crate::state::TaskKind)) drives it through its
//! targets, a page at a time, at Temporal's 50 operations a second (`step.rs`).

mod step;

use temporalio_protos::temporal::api::{
    batch::v1::BatchOperationInfo,
    common::v1::{Execution, WorkflowExecution},
    enums::v1::{
        BatchOperationState, BatchOperationType, ExecutionType, ResetType, ResourceExhaustedCause,
        ResourceExhaustedScope, WorkflowExecutionStatus,
    },
    workflowservice::v1::{
        DescribeBatchOperationRequest, DescribeBatchOperationResponse, ListBatchOperationsRequest,
        ListBatchOperationsResponse, StartBatchOperationRequest, StopBatchOperationRequest,
        start_batch_operation_request::Operation,
    },
};

use super::Engine;
use super::schedules::{NAMESPACE_DIVISION, typed_payload};
use super::system_calls::CallKind;
use super::system_runs::{SystemRun, SystemState};
use crate::error::{Error, Result, invalid};
use crate::namespace::Namespace;
use crate::time::opt_ts;

pub(crate) const DIVISION: &str = "TemporalBatcher";
const WORKFLOW_TYPE: &str = "temporal-sys-batch-workflow-protobuf";
const TASK_QUEUE: &str = "temporal-sys-per-ns-tq";
const BATCHER_USER: &str = "BatcherUser";
const TYPE_MEMO: &str = "batch_operation_type";
const REASON_MEMO: &str = "batch_operation_reason";
const QUERY_MEMO: &str = "batch_operation_visibility_query";
/// Open batch jobs a namespace may have (Temporal's
/// `frontend.MaxConcurrentBatchOperationPerNamespace` default).
const MAX_CONCURRENT: i64 = 1;

/// A batch job's progress, kept in its run's mutable state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BatchRecord {
    #[prost(message, optional, tag = "1")]
    pub request: Option<StartBatchOperationRequest>,
    /// `BatchOperationType` as Describe reports it (TERMINATE_WORKFLOW, ...).
    #[prost(int32, tag = "2")]
    pub operation_type: i32,
    /// The query the targets are listed with (empty: the request's executions).
    #[prost(string, tag = "3")]
    pub query: String,
    #[prost(bytes = "vec", tag = "4")]
    pub page_token: Vec<u8>,
    /// Targets not yet done: what is left of the listed page, or of the executions.
    #[prost(message, repeated, tag = "5")]
    pub pending: Vec<WorkflowExecution>,
    /// Every page of the query has been listed.
    #[prost(bool, tag = "6")]
    pub listed_all: bool,
    #[prost(int64, tag = "7")]
    pub total: i64,
    #[prost(int64, tag = "8")]
    pub success: i64,
    #[prost(int64, tag = "9")]
    pub failure: i64,
    #[prost(string, tag = "10")]
    pub identity: String,
}

/// What an operation is: how Describe reports it, the call made per target, who asks, and
/// the name the listing's memo gives it.
fn operation_of(
    req: &StartBatchOperationRequest,
) -> Result<(BatchOperationType, CallKind, String, &'static str)> {
    Ok(match &req.operation {
        Some(Operation::TerminationOperation(o)) => (
            BatchOperationType::TerminateWorkflow,
            CallKind::Terminate,
            o.identity.clone(),
            "terminate",
        ),
        Some(Operation::CancellationOperation(o)) => (
            BatchOperationType::CancelWorkflow,
            CallKind::Cancel,
            o.identity.clone(),
            "cancel",
        ),
        Some(Operation::SignalOperation(o)) => (
            BatchOperationType::SignalWorkflow,
            CallKind::Signal,
            o.identity.clone(),
            "signal",
        ),
        Some(Operation::DeletionOperation(o)) => (
            BatchOperationType::DeleteWorkflow,
            CallKind::Delete,
            o.identity.clone(),
            "delete",
        ),
        Some(Operation::ResetOperation(o)) => (
            BatchOperationType::ResetWorkflow,
            CallKind::Reset,
            o.identity.clone(),
            "reset",
        ),
        Some(Operation::UpdateWorkflowOptionsOperation(o)) => (
            BatchOperationType::UpdateWorkflowExecutionOptions,
            CallKind::UpdateOptions,
            o.identity.clone(),
            "update_options",
        ),
        Some(other) => {
            return Err(Error::Unimplemented(format!(
                "this batch operation is not supported by Sundial yet: {}",
                operation_name(other)
            )));
        }
        None => return Err(invalid("Batch operation is not set on request.")),
    })
}

fn operation_name(op: &Operation) -> &'static str {
    match op {
        Operation::UnpauseActivitiesOperation(_) => "unpause activities",
        Operation::ResetActivitiesOperation(_) => "reset activities",
        Operation::UpdateActivityOptionsOperation(_) => "update activity options",
        Operation::CancelActivitiesOperation(_) => "cancel activities",
        Operation::TerminateActivitiesOperation(_) => "terminate activities",
        Operation::DeleteActivitiesOperation(_) => "delete activities",
        _ => "workflow operation",
    }
}

fn type_of_memo(name: &str) -> BatchOperationType {
    match name {
        "terminate" => BatchOperationType::TerminateWorkflow,
        "cancel" => BatchOperationType::CancelWorkflow,
        "signal" => BatchOperationType::SignalWorkflow,
        "delete" => BatchOperationType::DeleteWorkflow,
        "reset" => BatchOperationType::ResetWorkflow,
        "update_options" => BatchOperationType::UpdateWorkflowExecutionOptions,
        _ => BatchOperationType::Unspecified,
    }
}

fn state_of(status: i32) -> BatchOperationState {
    match WorkflowExecutionStatus::try_from(status).unwrap_or_default() {
        WorkflowExecutionStatus::Running => BatchOperationState::Running,
        WorkflowExecutionStatus::Completed => BatchOperationState::Completed,
        _ => BatchOperationState::Failed,
    }
}

/// The request's targets when it names them (old and new field) rather than a query.
fn listed_targets(req: &StartBatchOperationRequest) -> Vec<WorkflowExecution> {
    #[allow(deprecated)]
    let old = req.executions.iter().cloned();
    let new = req.target_executions.iter().map(|e| WorkflowExecution {
        workflow_id: e.business_id.clone(),
        run_id: e.run_id.clone(),
    });
    old.chain(new).collect()
}

fn validate(req: &StartBatchOperationRequest) -> Result<()> {
    #[allow(deprecated)]
    let selectors = [
        !req.visibility_query.is_empty(),
        !req.executions.is_empty(),
        !req.target_executions.is_empty(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if req.operation.is_none()
        || req.reason.is_empty()
        || req.namespace.is_empty()
        || selectors == 0
    {
        return Err(invalid(
            "must provide required parameters: BatchType,Reason,Namespace, AND one of (Query OR Executions OR TargetExecutions)",
        ));
    }
    if req.job_id.is_empty() {
        return Err(invalid("JobId is not set on request."));
    }
    if selectors > 1 {
        return Err(invalid(
            "visibility query, executions, and target executions are mutually exclusive",
        ));
    }
    match &req.operation {
        Some(Operation::SignalOperation(s)) if s.signal.is_empty() => {
            Err(invalid("must provide signal name"))
        }
        Some(Operation::UpdateWorkflowOptionsOperation(u))
            if u.workflow_execution_options.is_none() =>
        {
            Err(invalid("must provide UpdateOptions"))
        }
        Some(Operation::UpdateWorkflowOptionsOperation(u)) if u.update_mask.is_none() => {
            Err(invalid("must provide UpdateMask"))
        }
        Some(Operation::ResetOperation(r)) => match &r.options {
            Some(o) if o.target.is_none() => Err(invalid("batch reset missing target")),
            Some(_) => Ok(()),
            #[allow(deprecated)]
            None if !matches!(
                ResetType::try_from(r.reset_type),
                Ok(ResetType::FirstWorkflowTask | ResetType::LastWorkflowTask)
            ) =>
            {
                #[allow(deprecated)]
                let t = r.reset_type;
                Err(invalid(format!("unknown batch reset type {t}")))
            }
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

impl Engine {
    pub async fn start_batch_operation(
        &self,
        ns: &Namespace,
        req: StartBatchOperationRequest,
    ) -> Result<()> {
        validate(&req)?;
        let (operation_type, call, identity, memo_name) = operation_of(&req)?;
        if !req.visibility_query.is_empty() {
            sundial_visquery::compile(&req.visibility_query, ns)
                .map_err(|e| invalid(format!("invalid visibility query: {}", e.0)))?;
        }
        // Jobs started or finished a moment ago count as they are now.
        self.flush_visibility().await;
        let open = format!("{NAMESPACE_DIVISION} = '{DIVISION}' AND ExecutionStatus = 'Running'");
        if self.count_workflows(ns, &open).await?.count >= MAX_CONCURRENT {
            return Err(Error::ResourceExhausted {
                message: "Max concurrent batch operations is reached".into(),
                cause: ResourceExhaustedCause::ConcurrentLimit,
                scope: ResourceExhaustedScope::Namespace,
            });
        }
        let mut record = BatchRecord {
            operation_type: operation_type as i32,
            identity: identity.clone(),
            ..Default::default()
        };
        if req.visibility_query.is_empty() {
            record.pending = listed_targets(&req);
            record.total = record.pending.len() as i64;
            record.listed_all = true;
        } else {
            // Operations on running workflows skip closed ones; delete takes all.
            record.query = match call {
                CallKind::Delete | CallKind::Reset => req.visibility_query.clone(),
                _ => format!(
                    "({}) AND (ExecutionStatus='Running' OR ExecutionStatus='Paused')",
                    req.visibility_query
                ),
            };
            record.total = self.count_workflows(ns, &record.query).await?.count;
        }
        let mut memo = temporalio_protos::temporal::api::common::v1::Memo::default();
        memo.fields.insert(TYPE_MEMO.into(), plain(memo_name));
        memo.fields.insert(REASON_MEMO.into(), plain(&req.reason));
        if !req.visibility_query.is_empty() {
            memo.fields
                .insert(QUERY_MEMO.into(), plain(&req.visibility_query));
        }
        let mut search_attributes =
            temporalio_protos::temporal::api::common::v1::SearchAttributes::default();
        search_attributes.indexed_fields.insert(
            BATCHER_USER.into(),
            typed_payload("Keyword", identity.clone().into()),
        );
        search_attributes.indexed_fields.insert(
            NAMESPACE_DIVISION.into(),
            typed_payload("Keyword", DIVISION.into()),
        );
        let job_id = req.job_id.clone();
        record.request = Some(req);
        let run = SystemRun {
            workflow_type: WORKFLOW_TYPE,
            task_queue: TASK_QUEUE,
            identity,
            memo,
            search_attributes,
            request_id: uuid::Uuid::new_v4().to_string(),
            state: SystemState::Batch(Box::new(record)),
        };
        let existing = |ms: &crate::state::MutableState, _| {
            Some(Err(Error::WorkflowAlreadyStarted {
                message: format!(
                    "Workflow execution already exists. WorkflowId: {}, RunId: {}.",
                    ms.workflow_id, ms.run_id
                ),
                start_request_id: ms.start_request_id.clone(),
                run_id: ms.run_id.clone(),
                first_execution_run_id: ms.first_execution_run_id().to_string(),
            }))
        };
        self.create_system_run(ns, &job_id, run, &existing).await?;
        Ok(())
    }

    /// The job's run and its record; `NotFound` as Temporal words it.
    async fn batch_of(
        &self,
        ns: &Namespace,
        job_id: &str,
    ) -> Result<(
        sundial_store::RunKey,
        crate::state::MutableState,
        BatchRecord,
    )> {
        if job_id.is_empty() {
            return Err(invalid("JobId is not set on request."));
        }
        let exec = WorkflowExecution {
            workflow_id: job_id.to_string(),
            run_id: String::new(),
        };
        let key = self.resolve(&ns.id, &exec).await?;
        let ms = self.snapshot(&key).await?;
        let Some(record) = ms.batch.clone() else {
            return Err(Error::NotFound(format!(
                "workflow not found for ID: {job_id}"
            )));
        };
        Ok((key, ms, record))
    }

    pub async fn describe_batch_operation(
        &self,
        ns: &Namespace,
        req: DescribeBatchOperationRequest,
    ) -> Result<DescribeBatchOperationResponse> {
        let (_, ms, record) = self.batch_of(ns, &req.job_id).await?;
        let request = record.request.clone().unwrap_or_default();
        let closed = ms.status != WorkflowExecutionStatus::Running as i32;
        Ok(DescribeBatchOperationResponse {
            operation_type: record.operation_type,
            job_id: req.job_id,
            state: state_of(ms.status) as i32,
            start_time: opt_ts(ms.start_time),
            close_time: opt_ts(ms.close_time),
            // Once done, the total is what was done, as on Temporal.
            total_operation_count: if closed
                && ms.status == WorkflowExecutionStatus::Completed as i32
            {
                record.success + record.failure
            } else {
                record.total
            },
            complete_operation_count: record.success,
            failure_operation_count: record.failure,
            identity: record.identity.clone(),
            reason: request.reason.clone(),
            query: request.visibility_query.clone(),
            executions: listed_targets(&request)
                .into_iter()
                .map(|e| Execution {
                    r#type: ExecutionType::Workflow as i32,
                    business_id: e.workflow_id,
                    run_id: e.run_id,
                })
                .collect(),
        })
    }

    pub async fn stop_batch_operation(
        &self,
        ns: &Namespace,
        req: StopBatchOperationRequest,
    ) -> Result<()> {
        if req.job_id.is_empty() {
            return Err(invalid("JobId is not set on request."));
        }
        if req.reason.is_empty() {
            return Err(invalid("Reason is not set on request."));
        }
        let (key, ms, _) = self.batch_of(ns, &req.job_id).await?;
        if ms.status != WorkflowExecutionStatus::Running as i32 {
            return Err(Error::NotFound(
                "workflow execution already completed".into(),
            ));
        }
        let mut guard = self.lock(&key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Err(Error::NotFound(
                "workflow execution already completed".into(),
            ));
        }
        txn.terminate(&req.reason, None, &req.identity);
        self.commit(&mut guard, txn).await?;
        Ok(())
    }

    pub async fn list_batch_operations(
        &self,
        ns: &Namespace,
        req: ListBatchOperationsRequest,
    ) -> Result<ListBatchOperationsResponse> {
        let query = format!("{NAMESPACE_DIVISION} = '{DIVISION}'");
        let page = self
            .list_workflows(ns, &query, req.page_size, &req.next_page_token)
            .await?;
        let operation_info = page
            .executions
            .into_iter()
            .map(|e| {
                let kind = e
                    .memo
                    .as_ref()
                    .and_then(|m| m.fields.get(TYPE_MEMO))
                    .and_then(|p| serde_json::from_slice::<String>(&p.data).ok())
                    .map_or(BatchOperationType::Unspecified, |n| type_of_memo(&n));
                BatchOperationInfo {
                    job_id: e.execution.map(|x| x.workflow_id).unwrap_or_default(),
                    state: state_of(e.status) as i32,
                    start_time: e.start_time,
                    close_time: e.close_time,
                    operation_type: kind as i32,
                }
            })
            .collect();
        Ok(ListBatchOperationsResponse {
            operation_info,
            next_page_token: page.next_page_token,
        })
    }
}

/// A string payload as Temporal's data converter writes it.
fn plain(s: &str) -> temporalio_protos::temporal::api::common::v1::Payload {
    temporalio_protos::temporal::api::common::v1::Payload {
        metadata: [("encoding".to_string(), b"json/plain".to_vec())].into(),
        data: serde_json::to_vec(s).expect("a string encodes"),
        ..Default::default()
    }
}
