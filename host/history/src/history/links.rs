//! The links the API answers with, as Temporal's: to the event a call made in a run, for
//! callers (Nexus operations, the UI) to point at.

use temporalio_protos::temporal::api::common::v1::{Link, link};
use temporalio_protos::temporal::api::enums::v1::EventType;

use link::workflow_event::{EventReference, Reference, RequestIdReference};

fn workflow_event(namespace: &str, workflow_id: &str, run_id: &str, reference: Reference) -> Link {
    Link {
        variant: Some(link::Variant::WorkflowEvent(link::WorkflowEvent {
            namespace: namespace.to_string(),
            workflow_id: workflow_id.to_string(),
            run_id: run_id.to_string(),
            reference: Some(reference),
        })),
    }
}

/// To a run's started event (a start's answer).
pub(crate) fn started(namespace: &str, workflow_id: &str, run_id: &str) -> Link {
    let event = EventReference {
        event_id: 1,
        event_type: EventType::WorkflowExecutionStarted as i32,
    };
    workflow_event(namespace, workflow_id, run_id, Reference::EventRef(event))
}

/// To the signaled event a signal made, named by the signal's request id (its event id is
/// not known when the call answers).
pub(crate) fn signaled(namespace: &str, workflow_id: &str, run_id: &str, request_id: &str) -> Link {
    let event = RequestIdReference {
        request_id: request_id.to_string(),
        event_type: EventType::WorkflowExecutionSignaled as i32,
    };
    workflow_event(
        namespace,
        workflow_id,
        run_id,
        Reference::RequestIdRef(event),
    )
}
