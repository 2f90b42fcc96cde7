"""Workflows acting on other workflows: SignalExternalWorkflowExecution and
RequestCancelExternalWorkflowExecution commands, to a running target, an unknown
workflow id and a workflow that has already completed."""

from __future__ import annotations

from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    SignalExternalWorkflowExecutionFailedCause,
)
from temporalio.client import Client, WorkflowExecutionStatus

from helpers import event_type_name, history_event_types, history_events, new_worker, unique, wait_for_event
from test_children import WFT, by_type, wait_closed
from workflows_children import (
    CancelExternalWorkflow,
    ChildWaitWorkflow,
    CollectSignalsWorkflow,
    SignalExternalWorkflow,
)

WORKFLOWS = [SignalExternalWorkflow, CancelExternalWorkflow, CollectSignalsWorkflow, ChildWaitWorkflow]
FIRST_TASK = ["WorkflowExecutionStarted", *WFT]


def outcome_events(command: str, outcome: str) -> list[str]:
    """The whole history of a sender/canceller: one command, its outcome, the result."""
    return [*FIRST_TASK, command, outcome, *WFT, "WorkflowExecutionCompleted"]


async def test_signal_external_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, WORKFLOWS):
        receiver = await client.start_workflow(CollectSignalsWorkflow.run, 1, id=unique("receiver"), task_queue=tq)
        await wait_for_event(receiver, "WorkflowTaskCompleted")
        sender = await client.start_workflow(
            SignalExternalWorkflow.run, args=[receiver.id, "hello"], id=unique("sender"), task_queue=tq
        )
        assert await sender.result() == "signalled"
        assert await receiver.result() == ["hello"]

    events = await history_events(sender)
    assert [event_type_name(e) for e in events] == outcome_events(
        "SignalExternalWorkflowExecutionInitiated", "ExternalWorkflowExecutionSignaled"
    )
    initiated = events[4].signal_external_workflow_execution_initiated_event_attributes
    assert initiated.workflow_execution.workflow_id == receiver.id
    assert initiated.signal_name == "deliver"
    assert initiated.namespace == "default"
    assert initiated.workflow_task_completed_event_id == 4
    signaled = events[5].external_workflow_execution_signaled_event_attributes
    assert signaled.initiated_event_id == 5
    assert signaled.workflow_execution.workflow_id == receiver.id

    receiver_events = await history_events(receiver)
    received = by_type(receiver_events, "WorkflowExecutionSignaled")
    assert len(received) == 1
    attrs = received[0].workflow_execution_signaled_event_attributes
    assert attrs.signal_name == "deliver"
    assert attrs.external_workflow_execution.workflow_id == sender.id
    assert attrs.external_workflow_execution.run_id == sender.result_run_id


async def test_signal_external_unknown_workflow(client: Client) -> None:
    tq = unique("tq")
    nobody = unique("nobody")
    async with new_worker(client, tq, WORKFLOWS):
        sender = await client.start_workflow(
            SignalExternalWorkflow.run, args=[nobody, "hello"], id=unique("sender"), task_queue=tq
        )
        result = await sender.result()
    # the SDK turns the failed command into an ApplicationError in the workflow
    assert result.startswith("ApplicationError: ")
    assert "not found" in result

    events = await history_events(sender)
    assert [event_type_name(e) for e in events] == outcome_events(
        "SignalExternalWorkflowExecutionInitiated", "SignalExternalWorkflowExecutionFailed"
    )
    failed = events[5].signal_external_workflow_execution_failed_event_attributes
    assert (
        failed.cause
        == SignalExternalWorkflowExecutionFailedCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
    )
    assert failed.initiated_event_id == 5
    assert failed.workflow_execution.workflow_id == nobody


async def test_signal_external_completed_workflow_fails(client: Client) -> None:
    """A closed target counts as not found for a signal."""
    tq = unique("tq")
    async with new_worker(client, tq, WORKFLOWS):
        target = await client.start_workflow(CollectSignalsWorkflow.run, 0, id=unique("done"), task_queue=tq)
        assert await target.result() == []
        sender = await client.start_workflow(
            SignalExternalWorkflow.run, args=[target.id, "late"], id=unique("sender"), task_queue=tq
        )
        assert (await sender.result()).startswith("ApplicationError: ")
    events = await history_events(sender)
    assert [event_type_name(e) for e in events] == outcome_events(
        "SignalExternalWorkflowExecutionInitiated", "SignalExternalWorkflowExecutionFailed"
    )
    assert (
        events[5].signal_external_workflow_execution_failed_event_attributes.cause
        == SignalExternalWorkflowExecutionFailedCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
    )
    assert "WorkflowExecutionSignaled" not in await history_event_types(target)


async def test_cancel_external_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, WORKFLOWS):
        target = await client.start_workflow(ChildWaitWorkflow.run, id=unique("target"), task_queue=tq)
        await wait_for_event(target, "WorkflowTaskCompleted")
        canceller = await client.start_workflow(
            CancelExternalWorkflow.run, target.id, id=unique("canceller"), task_queue=tq
        )
        assert await canceller.result() == "cancel requested"
        assert await wait_closed(target) == WorkflowExecutionStatus.CANCELED

    events = await history_events(canceller)
    assert [event_type_name(e) for e in events] == outcome_events(
        "RequestCancelExternalWorkflowExecutionInitiated", "ExternalWorkflowExecutionCancelRequested"
    )
    initiated = events[4].request_cancel_external_workflow_execution_initiated_event_attributes
    assert initiated.workflow_execution.workflow_id == target.id
    assert not initiated.child_workflow_only
    assert initiated.workflow_task_completed_event_id == 4
    requested = events[5].external_workflow_execution_cancel_requested_event_attributes
    assert requested.initiated_event_id == 5
    assert requested.workflow_execution.workflow_id == target.id

    target_events = await history_events(target)
    assert [event_type_name(e) for e in target_events] == [
        *FIRST_TASK,
        "WorkflowExecutionCancelRequested",
        *WFT,
        "WorkflowExecutionCanceled",
    ]
    request = target_events[4].workflow_execution_cancel_requested_event_attributes
    assert request.external_initiated_event_id == 5
    assert request.external_workflow_execution.workflow_id == canceller.id
    assert request.external_workflow_execution.run_id == canceller.result_run_id
    # the initiating command's reason becomes the request's cause
    assert request.cause == initiated.reason


async def test_cancel_external_unknown_workflow(client: Client) -> None:
    tq = unique("tq")
    nobody = unique("nobody")
    async with new_worker(client, tq, WORKFLOWS):
        canceller = await client.start_workflow(CancelExternalWorkflow.run, nobody, id=unique("canceller"), task_queue=tq)
        result = await canceller.result()
    assert result.startswith("ApplicationError: ")
    assert "not found" in result

    events = await history_events(canceller)
    assert [event_type_name(e) for e in events] == outcome_events(
        "RequestCancelExternalWorkflowExecutionInitiated", "RequestCancelExternalWorkflowExecutionFailed"
    )
    failed = events[5].request_cancel_external_workflow_execution_failed_event_attributes
    assert (
        failed.cause
        == CancelExternalWorkflowExecutionFailedCause.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
    )
    assert failed.initiated_event_id == 5
    assert failed.workflow_execution.workflow_id == nobody


async def test_cancel_external_completed_workflow_succeeds(client: Client) -> None:
    """Unlike a signal, a cancel request to a workflow that has already completed is
    reported as delivered (ExternalWorkflowExecutionCancelRequested), and the closed
    target's history is left as it was."""
    tq = unique("tq")
    async with new_worker(client, tq, WORKFLOWS):
        target = await client.start_workflow(CollectSignalsWorkflow.run, 0, id=unique("done"), task_queue=tq)
        await target.result()
        before = await history_event_types(target)
        canceller = await client.start_workflow(
            CancelExternalWorkflow.run, target.id, id=unique("canceller"), task_queue=tq
        )
        assert await canceller.result() == "cancel requested"
    assert await history_event_types(canceller) == outcome_events(
        "RequestCancelExternalWorkflowExecutionInitiated", "ExternalWorkflowExecutionCancelRequested"
    )
    assert await history_event_types(target) == before
    assert (await target.describe()).status == WorkflowExecutionStatus.COMPLETED
