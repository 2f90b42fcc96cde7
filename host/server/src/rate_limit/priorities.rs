//! Which bucket each call draws from: the class of its method (execution, visibility, or the
//! namespace-changing calls Temporal replicates) and its priority within the class, 0 the
//! highest. The assignment is Temporal's (`service/frontend/configs/quotas.go`); a method in no
//! class is never limited (the OperatorService's, health checks).

/// The set of buckets a call draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Execution,
    Visibility,
    /// Register/UpdateNamespace and the versioning updates.
    NamespaceChange,
}

impl Class {
    /// How many priorities the class has.
    pub fn priorities(self) -> usize {
        match self {
            Class::Execution => 6,
            Class::Visibility => 2,
            Class::NamespaceChange => 3,
        }
    }
}

/// A history read that waits for new events; the namespace limiter gives it the lowest
/// priority.
pub const LONG_POLL_HISTORY: u8 = 5;

/// The class and priority of a WorkflowService method, by its bare name.
pub fn of(method: &str) -> Option<(Class, u8)> {
    use Class::*;
    let found = match method {
        "GetClusterInfo"
        | "GetSystemInfo"
        | "GetSearchAttributes"
        | "DescribeNamespace"
        | "ListNamespaces"
        | "DeprecateNamespace" => (Execution, 0),

        "SignalWorkflowExecution"
        | "SignalWithStartWorkflowExecution"
        | "StartWorkflowExecution"
        | "UpdateWorkflowExecution"
        | "ExecuteMultiOperation"
        | "CreateSchedule"
        | "StartBatchOperation"
        | "StartActivityExecution"
        | "RecordActivityTaskHeartbeat"
        | "RecordActivityTaskHeartbeatById"
        | "RespondActivityTaskCompleted"
        | "RespondActivityTaskCompletedById"
        | "RespondWorkflowTaskCompleted"
        | "RespondQueryTaskCompleted"
        | "RespondNexusTaskCompleted"
        | "StartNexusOperationExecution" => (Execution, 1),

        "RequestCancelWorkflowExecution"
        | "TerminateWorkflowExecution"
        | "ResetWorkflowExecution"
        | "DeleteWorkflowExecution"
        | "GetWorkflowExecutionHistory"
        | "UpdateSchedule"
        | "PatchSchedule"
        | "DeleteSchedule"
        | "StopBatchOperation"
        | "UpdateActivityOptions"
        | "PauseActivity"
        | "UnpauseActivity"
        | "ResetActivity"
        | "UpdateWorkflowExecutionOptions"
        | "SetCurrentDeployment"
        | "SetCurrentDeploymentVersion"
        | "CreateWorkerDeployment"
        | "CreateWorkerDeploymentVersion"
        | "SetWorkerDeploymentManager"
        | "DeleteWorkerDeployment"
        | "UpdateWorkerDeploymentVersionMetadata"
        | "CreateWorkflowRule"
        | "DescribeWorkflowRule"
        | "DeleteWorkflowRule"
        | "ListWorkflowRules"
        | "TriggerWorkflowRule"
        | "PauseWorkflowExecution"
        | "UnpauseWorkflowExecution"
        | "UpdateWorkerDeploymentVersionComputeConfig"
        | "RequestCancelActivityExecution"
        | "TerminateActivityExecution"
        | "DeleteActivityExecution"
        | "PauseActivityExecution"
        | "UnpauseActivityExecution"
        | "ResetActivityExecution"
        | "UpdateActivityExecutionOptions"
        | "RequestCancelNexusOperationExecution"
        | "TerminateNexusOperationExecution"
        | "DeleteNexusOperationExecution" => (Execution, 2),

        "DescribeWorkflowExecution"
        | "DescribeTaskQueue"
        | "GetWorkerBuildIdCompatibility"
        | "GetWorkerVersioningRules"
        | "ListTaskQueuePartitions"
        | "QueryWorkflow"
        | "DescribeSchedule"
        | "ListScheduleMatchingTimes"
        | "DescribeBatchOperation"
        | "DescribeDeployment"
        | "GetCurrentDeployment"
        | "DescribeWorkerDeploymentVersion"
        | "DescribeWorkerDeployment"
        | "ListWorkers"
        | "DescribeWorker"
        | "CountWorkers"
        | "RespondActivityTaskCanceled"
        | "RespondActivityTaskCanceledById"
        | "RespondActivityTaskFailed"
        | "RespondActivityTaskFailedById"
        | "RespondWorkflowTaskFailed"
        | "RespondNexusTaskFailed"
        | "DescribeActivityExecution"
        | "DescribeNexusOperationExecution"
        | "ValidateWorkerDeploymentVersionComputeConfig" => (Execution, 3),

        "PollWorkflowTaskQueue"
        | "PollActivityTaskQueue"
        | "PollWorkflowExecutionUpdate"
        | "PollNexusTaskQueue"
        | "ResetStickyTaskQueue"
        | "ShutdownWorker"
        | "GetWorkflowExecutionHistoryReverse"
        | "RecordWorkerHeartbeat"
        | "FetchWorkerConfig"
        | "UpdateWorkerConfig"
        | "PollActivityExecution"
        | "PollNexusOperationExecution" => (Execution, 4),

        "PollWorkflowExecutionTimeSkipping" => (Execution, 5),

        "CountWorkflowExecutions"
        | "ScanWorkflowExecutions"
        | "ListOpenWorkflowExecutions"
        | "ListClosedWorkflowExecutions"
        | "ListWorkflowExecutions"
        | "ListArchivedWorkflowExecutions"
        | "CountActivityExecutions"
        | "ListActivityExecutions"
        | "GetWorkerTaskReachability"
        | "ListSchedules"
        | "CountSchedules"
        | "ListBatchOperations"
        | "ListDeployments"
        | "GetDeploymentReachability"
        | "ListWorkerDeployments"
        | "ListNexusOperationExecutions"
        | "CountNexusOperationExecutions" => (Visibility, 1),

        "RegisterNamespace" | "UpdateNamespace" => (NamespaceChange, 1),
        "UpdateWorkerBuildIdCompatibility"
        | "UpdateWorkerVersioningRules"
        | "SetWorkerDeploymentCurrentVersion"
        | "SetWorkerDeploymentRampingVersion"
        | "DeleteWorkerDeploymentVersion"
        | "UpdateTaskQueueConfig" => (NamespaceChange, 2),
        _ => return None,
    };
    Some(found)
}

/// Long-running calls, counted against `frontend.namespaceCount` while they run (a history
/// read only when it waits for new events).
pub fn is_long_running(method: &str) -> bool {
    matches!(
        method,
        "PollActivityTaskQueue"
            | "PollWorkflowTaskQueue"
            | "PollWorkflowExecutionUpdate"
            | "PollNexusTaskQueue"
            | "QueryWorkflow"
            | "UpdateWorkflowExecution"
            | "GetWorkflowExecutionHistory"
            | "ExecuteMultiOperation"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workflow_service_method_has_a_class() {
        let mut unclassed = Vec::new();
        for m in sundial_api::methods::METHODS {
            let name = m.path.rsplit('/').next().unwrap();
            if m.path.contains(".WorkflowService/") {
                if of(name).is_none() {
                    unclassed.push(name);
                }
            } else {
                assert!(of(name).is_none(), "{name} is not a WorkflowService method");
            }
        }
        assert!(unclassed.is_empty(), "no rate-limit class: {unclassed:?}");
        assert_eq!(of("PollActivityTaskQueue"), Some((Class::Execution, 4)));
        assert_eq!(of("ListSchedules"), Some((Class::Visibility, 1)));
        assert_eq!(of("RegisterNamespace"), Some((Class::NamespaceChange, 1)));
    }
}
