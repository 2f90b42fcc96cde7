//! Workflow Update: requests delivered to the workflow as protocol messages in workflow tasks.

use super::Txn;
use super::commands::{CommandError, Effects};
use temporalio_protos::temporal::api::enums::v1::WorkflowTaskFailedCause as Cause;

impl Txn<'_> {
    pub fn protocol_message_command(
        &mut self,
        message_id: &str,
        _completed_id: i64,
        _fx: &mut Effects,
    ) -> Result<(), CommandError> {
        Err(CommandError {
            cause: Cause::BadUpdateWorkflowExecutionMessage,
            message: format!("no protocol message {message_id}"),
        })
    }
}
