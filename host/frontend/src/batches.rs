//! WorkflowService's batch operation calls, each handed to the batch service as it came.

use sundial_api::protos::temporal::api::workflowservice::v1::*;
use sundial_services::Batches;

use super::{Res, ok, to_status};

pub(super) async fn start_batch_operation(
    b: &dyn Batches,
    r: StartBatchOperationRequest,
) -> Res<StartBatchOperationResponse> {
    b.start_batch_operation(r).await.map_err(to_status)?;
    ok(StartBatchOperationResponse {})
}

pub(super) async fn stop_batch_operation(
    b: &dyn Batches,
    r: StopBatchOperationRequest,
) -> Res<StopBatchOperationResponse> {
    b.stop_batch_operation(r).await.map_err(to_status)?;
    ok(StopBatchOperationResponse {})
}

pub(super) async fn describe_batch_operation(
    b: &dyn Batches,
    r: DescribeBatchOperationRequest,
) -> Res<DescribeBatchOperationResponse> {
    ok(b.describe_batch_operation(r).await.map_err(to_status)?)
}

pub(super) async fn list_batch_operations(
    b: &dyn Batches,
    r: ListBatchOperationsRequest,
) -> Res<ListBatchOperationsResponse> {
    ok(b.list_batch_operations(r).await.map_err(to_status)?)
}
