//! Temporal's billing-style counters, from the calls that succeeded: `action` (frontend, by
//! `action_type`: `grpc_StartWorkflowExecution`, `command_ScheduleActivityTask`,
//! `activity_retry`, ...) and `command` (history, by `commandType`), each by `namespace` and
//! `operation`, counted for the calls and commands Temporal counts them for.

use prometheus::{IntCounterVec, Opts, Registry};
use prost::Message;
use sundial_api::protos::temporal::api::enums::v1::CommandType;
use sundial_api::protos::temporal::api::workflowservice::v1::QueryWorkflowRequest;
use sundial_frontend::{Answered, short_enum_name};

/// Calls that are actions when they succeed.
const GRPC_ACTIONS: [&str; 17] = [
    "StartWorkflowExecution",
    "ExecuteMultiOperation",
    "RespondWorkflowTaskCompleted",
    "PollActivityTaskQueue",
    "QueryWorkflow",
    "UpdateWorkflowExecutionOptions",
    "RecordActivityTaskHeartbeat",
    "RecordActivityTaskHeartbeatById",
    "ResetWorkflowExecution",
    "SignalWorkflowExecution",
    "SignalWithStartWorkflowExecution",
    "CreateSchedule",
    "UpdateSchedule",
    "DeleteSchedule",
    "PatchSchedule",
    "PauseWorkflowExecution",
    "UnpauseWorkflowExecution",
];

/// Commands that are actions.
const COMMAND_ACTIONS: [CommandType; 10] = [
    CommandType::RecordMarker,
    CommandType::StartTimer,
    CommandType::ScheduleActivityTask,
    CommandType::StartChildWorkflowExecution,
    CommandType::SignalExternalWorkflowExecution,
    CommandType::UpsertWorkflowSearchAttributes,
    CommandType::ModifyWorkflowProperties,
    CommandType::ContinueAsNewWorkflowExecution,
    CommandType::ScheduleNexusOperation,
    CommandType::RequestCancelNexusOperation,
];

/// The protocol messages' bodies that are actions.
const UPDATE_ACCEPTANCE: &str = "temporal.api.update.v1.Acceptance";
const UPDATE_REJECTION: &str = "temporal.api.update.v1.Rejection";

/// What the counters read of a RespondWorkflowTaskCompletedRequest: its commands' types
/// (field 2, each its field 1) and its protocol messages' body types (field 11, body 5,
/// `type_url` 1). Decoding only these skips the commands' payloads on every completion.
#[derive(Clone, PartialEq, prost::Message)]
struct Completion {
    #[prost(message, repeated, tag = "2")]
    commands: Vec<CommandKind>,
    #[prost(message, repeated, tag = "11")]
    messages: Vec<ProtocolMessage>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CommandKind {
    #[prost(int32, tag = "1")]
    command_type: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ProtocolMessage {
    #[prost(message, optional, tag = "5")]
    body: Option<BodyType>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct BodyType {
    #[prost(string, tag = "1")]
    type_url: String,
}

pub struct ActionMetrics {
    action: IntCounterVec,
    command: IntCounterVec,
}

impl ActionMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<ActionMetrics> {
        let action = IntCounterVec::new(
            Opts::new("action", "Billable actions, as Temporal counts them."),
            &["action_type", "namespace", "operation", "service_name"],
        )?;
        registry.register(Box::new(action.clone()))?;
        let command = IntCounterVec::new(
            Opts::new("command", "Commands completed workflow tasks carried."),
            &["commandType", "namespace", "operation", "service_name"],
        )?;
        registry.register(Box::new(command.clone()))?;
        Ok(ActionMetrics { action, command })
    }

    /// A call to `operation` in `namespace` (its label) succeeded.
    pub fn succeeded(
        &self,
        operation: &str,
        namespace: &str,
        request: Option<&[u8]>,
        answered: Option<Answered>,
    ) {
        if !GRPC_ACTIONS.contains(&operation) {
            return;
        }
        let count = |action_type: &str| {
            self.action
                .with_label_values(&[action_type, namespace, operation, "frontend"])
                .inc()
        };
        match operation {
            "StartWorkflowExecution" | "ExecuteMultiOperation" => {
                // A start that found its workflow running (USE_EXISTING) is no action.
                if answered != Some(Answered::Started(false)) {
                    count(&format!("grpc_{operation}"));
                }
            }
            "RespondWorkflowTaskCompleted" => {
                let Some(request) = request.and_then(|r| Completion::decode(r).ok()) else {
                    return;
                };
                let mut markers = false;
                for command in &request.commands {
                    let Ok(kind) = CommandType::try_from(command.command_type) else {
                        continue;
                    };
                    let name = short_enum_name(kind.as_str_name());
                    self.command
                        .with_label_values(&[&name, namespace, operation, "history"])
                        .inc();
                    if !COMMAND_ACTIONS.contains(&kind) {
                        continue;
                    }
                    match kind {
                        CommandType::RecordMarker => markers = true,
                        CommandType::StartChildWorkflowExecution => {
                            count(&format!("command_{name}"));
                            count(&format!("command_{name}_Extra"));
                        }
                        _ => count(&format!("command_{name}")),
                    }
                }
                if markers {
                    count("command_BatchMarkers");
                }
                for message in &request.messages {
                    let body = message.body.as_ref().map(|b| b.type_url.as_str());
                    match body.and_then(|t| t.rsplit('/').next()) {
                        Some(UPDATE_ACCEPTANCE) => {
                            count("message_UpdateWorkflowExecution:Acceptance")
                        }
                        Some(UPDATE_REJECTION) => {
                            count("message_UpdateWorkflowExecution:Rejection")
                        }
                        _ => {}
                    }
                }
            }
            "PollActivityTaskQueue" => {
                if let Some(Answered::ActivityAttempt(attempt)) = answered
                    && attempt > 1
                {
                    count("activity_retry");
                }
            }
            "QueryWorkflow" => {
                let query_type = request
                    .and_then(|r| QueryWorkflowRequest::decode(r).ok())
                    .and_then(|q| q.query)
                    .map(|q| q.query_type)
                    .unwrap_or_default();
                if query_type != "__temporal_workflow_metadata" {
                    count("grpc_QueryWorkflow");
                }
            }
            _ => count(&format!("grpc_{operation}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use sundial_api::protos::temporal::api::command::v1::Command;
    use sundial_api::protos::temporal::api::workflowservice::v1::RespondWorkflowTaskCompletedRequest;

    use super::*;

    #[test]
    fn commands_and_actions_are_counted_as_temporal_counts_them() {
        let m = ActionMetrics::register(&Registry::new()).unwrap();
        let command = |kind: CommandType| Command {
            command_type: kind as i32,
            ..Default::default()
        };
        let request = RespondWorkflowTaskCompletedRequest {
            commands: vec![
                command(CommandType::ScheduleActivityTask),
                command(CommandType::RecordMarker),
                command(CommandType::RecordMarker),
                command(CommandType::CompleteWorkflowExecution),
            ],
            ..Default::default()
        };
        m.succeeded(
            "RespondWorkflowTaskCompleted",
            "default",
            Some(&request.encode_to_vec()),
            None,
        );
        let action = |t: &str, op: &str| {
            m.action
                .with_label_values(&[t, "default", op, "frontend"])
                .get()
        };
        assert_eq!(
            action(
                "command_ScheduleActivityTask",
                "RespondWorkflowTaskCompleted"
            ),
            1
        );
        assert_eq!(
            action("command_BatchMarkers", "RespondWorkflowTaskCompleted"),
            1
        );
        assert_eq!(
            action(
                "command_CompleteWorkflowExecution",
                "RespondWorkflowTaskCompleted"
            ),
            0
        );
        let commands = |t: &str| {
            m.command
                .with_label_values(&[t, "default", "RespondWorkflowTaskCompleted", "history"])
                .get()
        };
        assert_eq!(
            (
                commands("RecordMarker"),
                commands("CompleteWorkflowExecution")
            ),
            (2, 1)
        );
        m.succeeded(
            "StartWorkflowExecution",
            "default",
            None,
            Some(Answered::Started(false)),
        );
        m.succeeded("StartWorkflowExecution", "default", None, None);
        assert_eq!(
            action("grpc_StartWorkflowExecution", "StartWorkflowExecution"),
            1
        );
        m.succeeded(
            "PollActivityTaskQueue",
            "default",
            None,
            Some(Answered::ActivityAttempt(2)),
        );
        assert_eq!(action("activity_retry", "PollActivityTaskQueue"), 1);
        m.succeeded("DescribeWorkflowExecution", "default", None, None);
        assert_eq!(
            action(
                "grpc_DescribeWorkflowExecution",
                "DescribeWorkflowExecution"
            ),
            0
        );
    }
}
