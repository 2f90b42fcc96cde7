//! UpdateWorkflowExecutionOptions at the edge: the request's shape is checked as Temporal's
//! frontend checks it (a workflow id, a mask naming fields of the options, a valid
//! priority) before history merges the options into the run's.

use sundial_api::field_mask;
use sundial_api::protos::temporal::api::common::v1::Priority;
use sundial_api::protos::temporal::api::workflowservice::v1::{
    UpdateWorkflowExecutionOptionsRequest, UpdateWorkflowExecutionOptionsResponse,
};
use sundial_services::Workflows;
use tonic::Status;

use super::{Res, ok, to_status};

/// Longest fairness key Temporal takes.
const FAIRNESS_KEY_MAX_LENGTH: usize = 64;

pub(super) async fn update(
    wf: &dyn Workflows,
    r: UpdateWorkflowExecutionOptionsRequest,
) -> Res<UpdateWorkflowExecutionOptionsResponse> {
    check(&r)?;
    ok(wf.update_workflow_options(r).await.map_err(to_status)?)
}

fn check(r: &UpdateWorkflowExecutionOptionsRequest) -> Result<(), Status> {
    if r.workflow_execution
        .as_ref()
        .is_none_or(|e| e.workflow_id.is_empty())
    {
        return Err(Status::invalid_argument(
            "WorkflowId is not set on request.",
        ));
    }
    let Some(mask) = &r.update_mask else {
        return Err(Status::invalid_argument("UpdateMask is required"));
    };
    let Some(options) = &r.workflow_execution_options else {
        return Err(Status::invalid_argument(
            "WorkflowExecutionOptions is required",
        ));
    };
    field_mask::check(
        "temporal.api.workflow.v1.WorkflowExecutionOptions",
        &mask.paths,
    )
    .map_err(|e| Status::invalid_argument(format!("error parsing UpdateMask: {e}")))?;
    check_priority(options.priority.as_ref())
}

/// Temporal's rules for a priority.
pub(super) fn check_priority(p: Option<&Priority>) -> Result<(), Status> {
    let Some(p) = p else { return Ok(()) };
    if p.priority_key < 0 {
        return Err(Status::invalid_argument("priority key can't be negative"));
    }
    if p.fairness_key.len() > FAIRNESS_KEY_MAX_LENGTH {
        return Err(Status::invalid_argument(
            "fairness key length exceeds limit",
        ));
    }
    if p.fairness_weight < 0.0 {
        return Err(Status::invalid_argument("must be greater than zero"));
    }
    Ok(())
}
