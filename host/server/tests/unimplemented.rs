//! The methods Sundial does not serve yet, listed. Every WorkflowService and OperatorService
//! method is called once with a minimal request (its namespace set, where it has one); those
//! answering `Unimplemented` must be exactly the list below. A method served since is taken
//! off the list, so the list stays what the README and the closing notes say. (The Python
//! suite separately fails any run whose SDK or CLI scenarios reached one of them.)

use std::marker::PhantomData;
use std::time::Duration;

use sundial_server::config::Config;
use tonic::Code;

mod common;

/// Answered `Unimplemented` today, in the order of the services' definitions.
const UNIMPLEMENTED: &[&str] = &[
    "DeprecateNamespace",
    "ListTaskQueuePartitions",
    "UpdateWorkerBuildIdCompatibility",
    "GetWorkerBuildIdCompatibility",
    "UpdateWorkerVersioningRules",
    "GetWorkerVersioningRules",
    "GetWorkerTaskReachability",
    "DescribeDeployment",
    "DescribeWorkerDeploymentVersion",
    "ListDeployments",
    "GetDeploymentReachability",
    "GetCurrentDeployment",
    "SetCurrentDeployment",
    "SetWorkerDeploymentCurrentVersion",
    "DescribeWorkerDeployment",
    "DeleteWorkerDeployment",
    "DeleteWorkerDeploymentVersion",
    "SetWorkerDeploymentRampingVersion",
    "ListWorkerDeployments",
    "CreateWorkerDeployment",
    "CreateWorkerDeploymentVersion",
    "UpdateWorkerDeploymentVersionComputeConfig",
    "ValidateWorkerDeploymentVersionComputeConfig",
    "UpdateWorkerDeploymentVersionMetadata",
    "SetWorkerDeploymentManager",
    "PollNexusTaskQueue",
    "RespondNexusTaskCompleted",
    "RespondNexusTaskFailed",
    "CreateWorkflowRule",
    "DescribeWorkflowRule",
    "DeleteWorkflowRule",
    "ListWorkflowRules",
    "TriggerWorkflowRule",
    "RecordWorkerHeartbeat",
    "ListWorkers",
    "CountWorkers",
    "UpdateTaskQueueConfig",
    "FetchWorkerConfig",
    "UpdateWorkerConfig",
    "DescribeWorker",
    "PauseWorkflowExecution",
    "UnpauseWorkflowExecution",
    "StartActivityExecution",
    "StartNexusOperationExecution",
    "DescribeActivityExecution",
    "DescribeNexusOperationExecution",
    "PollActivityExecution",
    "PollNexusOperationExecution",
    "ListActivityExecutions",
    "ListNexusOperationExecutions",
    "CountActivityExecutions",
    "CountNexusOperationExecutions",
    "RequestCancelActivityExecution",
    "RequestCancelNexusOperationExecution",
    "TerminateActivityExecution",
    "DeleteActivityExecution",
    // These four serve a workflow's activity; a standalone one (no workflow id), as here, is
    // not served.
    "PauseActivityExecution",
    "ResetActivityExecution",
    "UnpauseActivityExecution",
    "UpdateActivityExecutionOptions",
    "TerminateNexusOperationExecution",
    "DeleteNexusOperationExecution",
    "PollWorkflowExecutionTimeSkipping",
    "DeleteNamespace",
    "AddOrUpdateRemoteCluster",
    "RemoveRemoteCluster",
    "ListClusters",
    "GetNexusEndpoint",
    "CreateNexusEndpoint",
    "UpdateNexusEndpoint",
    "DeleteNexusEndpoint",
    "ListNexusEndpoints",
];

/// A request with only its `namespace` (field `field`) set, as protobuf bytes.
fn namespace_only(field: Option<i32>) -> Vec<u8> {
    let Some(field) = field else {
        return Vec::new();
    };
    let name = b"default";
    let mut out = Vec::new();
    prost::encoding::encode_key(
        field as u32,
        prost::encoding::WireType::LengthDelimited,
        &mut out,
    );
    prost::encoding::encode_varint(name.len() as u64, &mut out);
    out.extend_from_slice(name);
    out
}

#[tokio::test]
async fn the_unimplemented_methods_are_the_listed_ones() {
    let mut config = Config::default();
    config.server.port = 0;
    // Every method is called at once: the visibility ones would be over their rate (10 a
    // second).
    config
        .apply_dynamic_value("frontend.namespaceRPS.visibility=1000")
        .unwrap();
    let running = sundial_server::start(&config, None)
        .await
        .expect("server starts");
    let channel = common::connect(running.addr).await;
    let mut unimplemented = Vec::new();
    for method in sundial_api::methods::METHODS {
        let service = method.path.split('/').nth(1).unwrap_or_default();
        if !service.starts_with("temporal.api.") {
            continue;
        }
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.expect("channel ready");
        let call = grpc.unary(
            tonic::Request::new(namespace_only(method.namespace_field)),
            method.path.parse().unwrap(),
            common::RawCodec::<()>(PhantomData),
        );
        // A long poll that waits counts as served.
        if let Ok(Err(status)) = tokio::time::timeout(Duration::from_secs(2), call).await
            && status.code() == Code::Unimplemented
        {
            unimplemented.push(method.path.rsplit('/').next().unwrap_or_default());
        }
    }
    let listed: Vec<&str> = UNIMPLEMENTED.to_vec();
    assert_eq!(
        unimplemented, listed,
        "the methods answering Unimplemented changed; the list is now:\n{unimplemented:#?}"
    );
}
