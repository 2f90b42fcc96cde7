//! ExecuteMultiOperation: update-with-start, the one combination Temporal serves.

use sundial_api::protos::temporal::api::workflowservice::v1::*;
use tonic::{Request, Status};

use super::workflow::WorkflowHandler;
use super::{Answered, Res, long_poll_wait, ok_answered, to_status};

impl WorkflowHandler {
    pub(super) async fn update_with_start(
        &self,
        r: Request<ExecuteMultiOperationRequest>,
    ) -> Res<ExecuteMultiOperationResponse> {
        use execute_multi_operation_request::operation::Operation as Op;
        use execute_multi_operation_response::{Response as OpResponse, response::Response as R};
        let wait = long_poll_wait(r.metadata(), self.fe.workflows.limits().poll_timeout);
        let r = r.into_inner();
        let mut ops = r.operations.into_iter().map(|o| o.operation);
        let (Some(Some(Op::StartWorkflow(start))), Some(Some(Op::UpdateWorkflow(update))), None) =
            (ops.next(), ops.next(), ops.next())
        else {
            return Err(Status::invalid_argument(
                "ExecuteMultiOperation supports exactly a start-workflow operation followed by an update-workflow operation.",
            ));
        };
        match self
            .fe
            .workflows
            .update_with_start(&r.namespace, start, update, wait)
            .await
            .map_err(to_status)?
        {
            Ok((s, u)) => {
                let started = Answered::Started(s.started);
                let response = ExecuteMultiOperationResponse {
                    responses: vec![
                        OpResponse {
                            response: Some(R::StartWorkflow(s)),
                        },
                        OpResponse {
                            response: Some(R::UpdateWorkflow(u)),
                        },
                    ],
                };
                ok_answered(response, started)
            }
            Err((failed, e)) => Err(multi_operation_failure(failed, to_status(e))),
        }
    }
}

/// The error of a multi-operation: the failing operation's status, the others aborted.
fn multi_operation_failure(failed: usize, st: Status) -> Status {
    use prost::Message;
    use sundial_api::protos::google::rpc::Status as RpcStatus;
    use sundial_api::protos::temporal::api::errordetails::v1::{
        MultiOperationExecutionFailure, multi_operation_execution_failure::OperationStatus,
    };
    use sundial_api::protos::temporal::api::failure::v1::MultiOperationExecutionAborted;
    let details = RpcStatus::decode(st.details())
        .map(|s| s.details)
        .unwrap_or_default();
    let statuses = (0..2)
        .map(|i| {
            if i == failed {
                OperationStatus {
                    code: st.code() as i32,
                    message: st.message().to_string(),
                    details: details.clone(),
                }
            } else {
                OperationStatus {
                    code: tonic::Code::Aborted as i32,
                    message: "Operation was aborted.".into(),
                    details: vec![
                        prost_types::Any::from_msg(&MultiOperationExecutionAborted {})
                            .expect("encodes"),
                    ],
                }
            }
        })
        .collect();
    super::with_detail(
        st.code(),
        format!("Update-with-start could not be executed: {}", st.message()),
        MultiOperationExecutionFailure { statuses },
    )
}
