//! The notice that a run a schedule started has closed, sent from the run's shard to the
//! scheduler's.

use temporalio_protos::temporal::api::history::v1::history_event::Attributes;

use super::{SCHEDULED_BY_ID, ScheduledRunClosed, workflow_id};
use crate::error::Result;
use crate::history::Engine;
use crate::history::system_calls::{CallKind, SystemCallBody};
use crate::state::{MutableState, Task};

/// The schedule that started a run, from the run's `TemporalScheduledById`.
pub(crate) fn scheduled_by(ms: &MutableState) -> Option<String> {
    let p = ms
        .search_attributes
        .as_ref()?
        .indexed_fields
        .get(SCHEDULED_BY_ID)?;
    serde_json::from_slice::<String>(&p.data).ok()
}

impl Engine {
    /// A run a schedule started closed (task `ScheduledRunClosed`): tells the scheduler.
    pub(crate) async fn notify_scheduler(&self, task: &Task) -> Result<()> {
        let key = task.run_key();
        let ms = self.snapshot(&key).await?;
        let Some(schedule_id) = scheduled_by(&ms) else {
            return Ok(());
        };
        let close = self
            .read_events(&key, ms.close_event_id, ms.close_event_id)
            .await?
            .pop();
        let (result, failure) = match close.and_then(|e| e.attributes) {
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => (a.result, None),
            Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => (None, a.failure),
            _ => (None, None),
        };
        let first_run_id = ms
            .started
            .as_ref()
            .map(|s| s.first_execution_run_id.clone())
            .unwrap_or_default();
        let call = SystemCallBody {
            kind: CallKind::Closed as i32,
            namespace_id: key.namespace_id.clone(),
            workflow_id: workflow_id(&schedule_id),
            closed: Some(ScheduledRunClosed {
                workflow_id: key.workflow_id.clone(),
                first_run_id,
                status: ms.status,
                result,
                failure,
            }),
            ..Default::default()
        };
        self.system_call(call).await.map(drop)
    }
}
