//! Temporal's method metadata: for each frontend RPC, whether it acts on one namespace or the
//! whole cluster, and what access it needs. The default authorizer checks roles against it.

use crate::{Role, roles};

/// What a method acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Not in the table: the default authorizer denies it.
    Unknown,
    /// One namespace, named in the request.
    Namespace,
    /// The whole cluster.
    Cluster,
}

/// The access a method needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Unknown,
    ReadOnly,
    Write,
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodMetadata {
    pub scope: Scope,
    pub access: Access,
}

impl MethodMetadata {
    pub const UNKNOWN: MethodMetadata = MethodMetadata {
        scope: Scope::Unknown,
        access: Access::Unknown,
    };
}

pub const WORKFLOW_SERVICE_PREFIX: &str = "/temporal.api.workflowservice.v1.WorkflowService/";
pub const OPERATOR_SERVICE_PREFIX: &str = "/temporal.api.operatorservice.v1.OperatorService/";
pub const ADMIN_SERVICE_PREFIX: &str = "/temporal.server.api.adminservice.v1.AdminService/";
/// Not a gRPC service: the name under which Nexus HTTP calls are authorized.
pub const NEXUS_SERVICE_PREFIX: &str = "/temporal.api.nexusservice.v1.NexusService/";
/// The gRPC health check.
pub const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
/// `WorkflowService/GetSystemInfo`, which every client calls before anything else.
pub const GET_SYSTEM_INFO: &str = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo";

/// Calls the default authorizer allows to anyone, even without claims.
pub fn is_always_allowed(api_name: &str) -> bool {
    api_name == HEALTH_CHECK || api_name == GET_SYSTEM_INFO
}

use Access::{Admin as A, ReadOnly as R, Write as W};
use Scope::{Cluster as C, Namespace as N};

/// WorkflowService methods.
pub const WORKFLOW_SERVICE: &[(&str, Scope, Access)] = &[
    // Namespaces.
    ("RegisterNamespace", N, A),
    ("DescribeNamespace", N, R),
    ("ListNamespaces", C, R),
    ("UpdateNamespace", N, A),
    ("DeprecateNamespace", N, A),
    // Workflow executions.
    ("StartWorkflowExecution", N, W),
    ("SignalWithStartWorkflowExecution", N, W),
    ("SignalWorkflowExecution", N, W),
    ("RequestCancelWorkflowExecution", N, W),
    ("TerminateWorkflowExecution", N, W),
    ("ResetWorkflowExecution", N, W),
    ("DeleteWorkflowExecution", N, W),
    ("UpdateWorkflowExecution", N, W),
    ("PollWorkflowExecutionUpdate", N, R),
    ("PauseWorkflowExecution", N, W),
    ("UnpauseWorkflowExecution", N, W),
    ("ExecuteMultiOperation", N, W),
    ("UpdateWorkflowExecutionOptions", N, W),
    ("GetWorkflowExecutionHistory", N, R),
    ("GetWorkflowExecutionHistoryReverse", N, R),
    ("DescribeWorkflowExecution", N, R),
    ("QueryWorkflow", N, R),
    // Visibility.
    ("ListOpenWorkflowExecutions", N, R),
    ("ListClosedWorkflowExecutions", N, R),
    ("ListWorkflowExecutions", N, R),
    ("ListArchivedWorkflowExecutions", N, R),
    ("ScanWorkflowExecutions", N, R),
    ("CountWorkflowExecutions", N, R),
    ("GetSearchAttributes", C, R),
    // Workers: polls, responses, heartbeats.
    ("PollWorkflowTaskQueue", N, W),
    ("RespondWorkflowTaskCompleted", N, W),
    ("RespondWorkflowTaskFailed", N, W),
    ("RespondQueryTaskCompleted", N, W),
    ("PollActivityTaskQueue", N, W),
    ("RecordActivityTaskHeartbeat", N, W),
    ("RecordActivityTaskHeartbeatById", N, W),
    ("RespondActivityTaskCompleted", N, W),
    ("RespondActivityTaskCompletedById", N, W),
    ("RespondActivityTaskFailed", N, W),
    ("RespondActivityTaskFailedById", N, W),
    ("RespondActivityTaskCanceled", N, W),
    ("RespondActivityTaskCanceledById", N, W),
    ("PollNexusTaskQueue", N, W),
    ("RespondNexusTaskCompleted", N, W),
    ("RespondNexusTaskFailed", N, W),
    ("ResetStickyTaskQueue", N, W),
    ("ShutdownWorker", N, W),
    ("RecordWorkerHeartbeat", N, W),
    ("ListWorkers", N, R),
    ("CountWorkers", N, R),
    ("DescribeWorker", N, R),
    ("FetchWorkerConfig", N, R),
    ("UpdateWorkerConfig", N, W),
    // Task queues.
    ("DescribeTaskQueue", N, R),
    ("ListTaskQueuePartitions", N, R),
    ("UpdateTaskQueueConfig", N, W),
    // Cluster.
    ("GetClusterInfo", C, R),
    ("GetSystemInfo", C, R),
    // Schedules.
    ("CreateSchedule", N, W),
    ("DescribeSchedule", N, R),
    ("UpdateSchedule", N, W),
    ("PatchSchedule", N, W),
    ("ListScheduleMatchingTimes", N, R),
    ("DeleteSchedule", N, W),
    ("ListSchedules", N, R),
    ("CountSchedules", N, R),
    // Worker versioning.
    ("UpdateWorkerBuildIdCompatibility", N, W),
    ("GetWorkerBuildIdCompatibility", N, R),
    ("UpdateWorkerVersioningRules", N, W),
    ("GetWorkerVersioningRules", N, R),
    ("GetWorkerTaskReachability", N, R),
    // Batch operations.
    ("StartBatchOperation", N, W),
    ("StopBatchOperation", N, W),
    ("DescribeBatchOperation", N, R),
    ("ListBatchOperations", N, R),
    // Activities inside workflows.
    ("UpdateActivityOptions", N, W),
    ("PauseActivity", N, W),
    ("UnpauseActivity", N, W),
    ("ResetActivity", N, W),
    // Standalone activity executions.
    ("StartActivityExecution", N, W),
    ("DescribeActivityExecution", N, R),
    ("PollActivityExecution", N, R),
    ("ListActivityExecutions", N, R),
    ("CountActivityExecutions", N, R),
    ("RequestCancelActivityExecution", N, W),
    ("TerminateActivityExecution", N, W),
    ("DeleteActivityExecution", N, W),
    ("UpdateActivityExecutionOptions", N, W),
    ("PauseActivityExecution", N, W),
    ("UnpauseActivityExecution", N, W),
    ("ResetActivityExecution", N, W),
    // Standalone Nexus operation executions.
    ("StartNexusOperationExecution", N, W),
    ("DescribeNexusOperationExecution", N, R),
    ("PollNexusOperationExecution", N, R),
    ("ListNexusOperationExecutions", N, R),
    ("CountNexusOperationExecutions", N, R),
    ("RequestCancelNexusOperationExecution", N, W),
    ("TerminateNexusOperationExecution", N, W),
    ("DeleteNexusOperationExecution", N, W),
    // Deployments (pre-release API).
    ("DescribeDeployment", N, R),
    ("ListDeployments", N, R),
    ("GetDeploymentReachability", N, R),
    ("GetCurrentDeployment", N, R),
    ("SetCurrentDeployment", N, W),
    // Worker deployments.
    ("DescribeWorkerDeployment", N, R),
    ("DescribeWorkerDeploymentVersion", N, R),
    ("ListWorkerDeployments", N, R),
    ("CreateWorkerDeployment", N, W),
    ("DeleteWorkerDeployment", N, W),
    ("SetWorkerDeploymentCurrentVersion", N, W),
    ("SetWorkerDeploymentRampingVersion", N, W),
    ("SetWorkerDeploymentManager", N, W),
    ("CreateWorkerDeploymentVersion", N, W),
    ("DeleteWorkerDeploymentVersion", N, W),
    ("UpdateWorkerDeploymentVersionMetadata", N, W),
    ("UpdateWorkerDeploymentVersionComputeConfig", N, W),
    ("ValidateWorkerDeploymentVersionComputeConfig", N, R),
    // Workflow rules.
    ("CreateWorkflowRule", N, W),
    ("DescribeWorkflowRule", N, R),
    ("DeleteWorkflowRule", N, W),
    ("ListWorkflowRules", N, R),
    ("TriggerWorkflowRule", N, W),
];

/// OperatorService methods.
pub const OPERATOR_SERVICE: &[(&str, Scope, Access)] = &[
    ("AddSearchAttributes", N, A),
    ("RemoveSearchAttributes", N, A),
    ("ListSearchAttributes", N, R),
    ("DeleteNamespace", N, A),
    ("AddOrUpdateRemoteCluster", C, A),
    ("RemoveRemoteCluster", C, A),
    ("ListClusters", C, A),
    ("CreateNexusEndpoint", C, A),
    ("UpdateNexusEndpoint", C, A),
    ("DeleteNexusEndpoint", C, A),
    ("GetNexusEndpoint", C, A),
    ("ListNexusEndpoints", C, A),
];

/// NexusService pseudo-methods (Nexus over HTTP).
pub const NEXUS_SERVICE: &[(&str, Scope, Access)] = &[
    ("DispatchNexusTask", N, W),
    ("DispatchByNamespaceAndTaskQueue", N, W),
    ("DispatchByEndpoint", N, W),
    ("CompleteNexusOperation", N, W),
    ("CompleteNexusOperationChasm", N, W),
];

fn lookup(table: &[(&str, Scope, Access)], method: &str) -> MethodMetadata {
    table
        .iter()
        .find(|(name, _, _)| *name == method)
        .map_or(MethodMetadata::UNKNOWN, |&(_, scope, access)| {
            MethodMetadata { scope, access }
        })
}

/// The method name: what follows the last `/` of a full API name.
pub fn method_name(api_name: &str) -> &str {
    api_name.rsplit('/').next().unwrap_or(api_name)
}

/// Metadata for a full API name, e.g.
/// `/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution`. Every AdminService
/// method is cluster-wide admin; anything else not in the tables is [`MethodMetadata::UNKNOWN`].
pub fn method_metadata(api_name: &str) -> MethodMetadata {
    if api_name.starts_with(WORKFLOW_SERVICE_PREFIX) {
        lookup(WORKFLOW_SERVICE, method_name(api_name))
    } else if api_name.starts_with(OPERATOR_SERVICE_PREFIX) {
        lookup(OPERATOR_SERVICE, method_name(api_name))
    } else if api_name.starts_with(NEXUS_SERVICE_PREFIX) {
        lookup(NEXUS_SERVICE, method_name(api_name))
    } else if api_name.starts_with(ADMIN_SERVICE_PREFIX) {
        MethodMetadata {
            scope: Scope::Cluster,
            access: Access::Admin,
        }
    } else {
        MethodMetadata::UNKNOWN
    }
}

/// The role a method's access needs: read-only → read, write → write, admin or unknown → admin.
pub fn required_role(access: Access) -> Role {
    match access {
        Access::ReadOnly => roles::READ,
        Access::Write => roles::WRITE,
        Access::Admin | Access::Unknown => roles::ADMIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn wf(method: &str) -> String {
        format!("{WORKFLOW_SERVICE_PREFIX}{method}")
    }

    fn op(method: &str) -> String {
        format!("{OPERATOR_SERVICE_PREFIX}{method}")
    }

    fn md(scope: Scope, access: Access) -> MethodMetadata {
        MethodMetadata { scope, access }
    }

    #[test]
    fn tables_have_no_duplicates() {
        for table in [WORKFLOW_SERVICE, OPERATOR_SERVICE, NEXUS_SERVICE] {
            let mut seen = HashSet::new();
            for (name, _, _) in table {
                assert!(seen.insert(*name), "duplicate {name}");
            }
        }
    }

    #[test]
    fn workflow_service_samples() {
        assert_eq!(method_metadata(&wf("StartWorkflowExecution")), md(N, W));
        assert_eq!(method_metadata(&wf("QueryWorkflow")), md(N, R));
        assert_eq!(method_metadata(&wf("PollWorkflowTaskQueue")), md(N, W));
        assert_eq!(method_metadata(&wf("RespondQueryTaskCompleted")), md(N, W));
        assert_eq!(method_metadata(&wf("RegisterNamespace")), md(N, A));
        assert_eq!(method_metadata(&wf("ListNamespaces")), md(C, R));
        assert_eq!(method_metadata(&wf("GetClusterInfo")), md(C, R));
        assert_eq!(method_metadata(&wf("GetSearchAttributes")), md(C, R));
        assert_eq!(method_metadata(&wf("DescribeWorkerDeployment")), md(N, R));
        assert_eq!(method_metadata(&wf("PauseWorkflowExecution")), md(N, W));
        assert_eq!(method_metadata(&wf("CountSchedules")), md(N, R));
    }

    #[test]
    fn operator_service_samples() {
        assert_eq!(method_metadata(&op("ListSearchAttributes")), md(N, R));
        assert_eq!(method_metadata(&op("AddSearchAttributes")), md(N, A));
        assert_eq!(method_metadata(&op("DeleteNamespace")), md(N, A));
        assert_eq!(method_metadata(&op("ListNexusEndpoints")), md(C, A));
        assert_eq!(method_metadata(&op("ListClusters")), md(C, A));
    }

    #[test]
    fn nexus_and_admin() {
        let nexus = format!("{NEXUS_SERVICE_PREFIX}DispatchByEndpoint");
        assert_eq!(method_metadata(&nexus), md(N, W));
        let admin = format!("{ADMIN_SERVICE_PREFIX}DescribeCluster");
        assert_eq!(method_metadata(&admin), md(C, A));
        let admin = format!("{ADMIN_SERVICE_PREFIX}AnythingAtAll");
        assert_eq!(method_metadata(&admin), md(C, A));
    }

    #[test]
    fn unknown_methods_and_services() {
        assert_eq!(
            method_metadata(&wf("NoSuchMethod")),
            MethodMetadata::UNKNOWN
        );
        assert_eq!(
            method_metadata(&op("StartWorkflowExecution")),
            MethodMetadata::UNKNOWN
        );
        assert_eq!(method_metadata(HEALTH_CHECK), MethodMetadata::UNKNOWN);
        assert_eq!(
            method_metadata("StartWorkflowExecution"),
            MethodMetadata::UNKNOWN
        );
        assert_eq!(method_metadata(""), MethodMetadata::UNKNOWN);
        // The prefix is case-sensitive.
        let lower = wf("StartWorkflowExecution").to_lowercase();
        assert_eq!(method_metadata(&lower), MethodMetadata::UNKNOWN);
    }

    #[test]
    fn required_roles() {
        assert_eq!(required_role(Access::ReadOnly), roles::READ);
        assert_eq!(required_role(Access::Write), roles::WRITE);
        assert_eq!(required_role(Access::Admin), roles::ADMIN);
        assert_eq!(required_role(Access::Unknown), roles::ADMIN);
    }
}
