//! The `*ActivityExecution` calls (PauseActivityExecution and the rest, which the `temporal`
//! CLI uses) name one activity by workflow id, run id and activity id. For a workflow's
//! activity they are the classic calls; standalone activities (no workflow id) are not served.

use sundial_api::protos::temporal::api::common::v1::WorkflowExecution;
use sundial_api::protos::temporal::api::workflowservice::v1::*;
use tonic::Status;

fn execution(workflow_id: &str, run_id: &str) -> Result<Option<WorkflowExecution>, Status> {
    if workflow_id.is_empty() {
        return Err(Status::unimplemented(
            "standalone activities are not supported by Sundial: give the activity's workflow id",
        ));
    }
    Ok(Some(WorkflowExecution {
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
    }))
}

pub(super) fn pause(r: PauseActivityExecutionRequest) -> Result<PauseActivityRequest, Status> {
    Ok(PauseActivityRequest {
        execution: execution(&r.workflow_id, &r.run_id)?,
        namespace: r.namespace,
        identity: r.identity,
        activity: Some(pause_activity_request::Activity::Id(r.activity_id)),
        reason: r.reason,
        request_id: r.request_id,
    })
}

pub(super) fn unpause(
    r: UnpauseActivityExecutionRequest,
) -> Result<UnpauseActivityRequest, Status> {
    Ok(UnpauseActivityRequest {
        execution: execution(&r.workflow_id, &r.run_id)?,
        namespace: r.namespace,
        identity: r.identity,
        activity: Some(unpause_activity_request::Activity::Id(r.activity_id)),
        jitter: r.jitter,
        ..Default::default()
    })
}

pub(super) fn reset(r: ResetActivityExecutionRequest) -> Result<ResetActivityRequest, Status> {
    Ok(ResetActivityRequest {
        execution: execution(&r.workflow_id, &r.run_id)?,
        namespace: r.namespace,
        identity: r.identity,
        activity: Some(reset_activity_request::Activity::Id(r.activity_id)),
        reset_heartbeat: r.reset_heartbeat,
        keep_paused: r.keep_paused,
        jitter: r.jitter,
        restore_original_options: r.restore_original_options,
    })
}

pub(super) fn update_options(
    r: UpdateActivityExecutionOptionsRequest,
) -> Result<UpdateActivityOptionsRequest, Status> {
    Ok(UpdateActivityOptionsRequest {
        execution: execution(&r.workflow_id, &r.run_id)?,
        namespace: r.namespace,
        identity: r.identity,
        activity_options: r.activity_options,
        update_mask: r.update_mask,
        activity: Some(update_activity_options_request::Activity::Id(r.activity_id)),
        restore_original: r.restore_original,
    })
}
