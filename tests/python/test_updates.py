"""Workflow Update: accepted and completed updates and where their events sit in
history, validator rejection (no events at all), handler failure, waiting for the
ACCEPTED stage, polling an update's outcome, update-id deduplication, updates to
closed workflows, and update-with-start (ExecuteMultiOperation)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, UpdateWorkflowExecutionLifecycleStage
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from helpers import count, history_event_types, history_events, new_worker, unique, wait_for_event
from workflows_interactive import CounterWorkflow

FIRST_TASK = ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]
UPDATE_EVENTS = ["WorkflowExecutionUpdateAccepted", "WorkflowExecutionUpdateCompleted"]


async def start_idle_counter(client: Client, tq: str, start: int = 0):
    handle = await client.start_workflow(CounterWorkflow.run, start, id=unique("update"), task_queue=tq)
    await wait_for_event(handle, "WorkflowTaskCompleted")
    return handle


def decode(payloads) -> list:
    return [DataConverter.default.payload_converter.from_payload(p) for p in payloads]


def only(events: list[HistoryEvent], event_type: int) -> HistoryEvent:
    matching = [e for e in events if e.event_type == event_type]
    assert len(matching) == 1, matching
    return matching[0]


async def test_execute_update_returns_value(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=1)
        assert await handle.execute_update(CounterWorkflow.increment, 2, id="inc-1") == 3
        assert await handle.query(CounterWorkflow.current) == 3
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 3
    events = await history_events(handle)
    # the update got its own workflow task; its events follow that task's completion
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        *FIRST_TASK,
        *UPDATE_EVENTS,
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    accepted_event = events[7]
    accepted = accepted_event.workflow_execution_update_accepted_event_attributes
    assert accepted_event.event_id == 8
    assert accepted.protocol_instance_id == "inc-1"
    assert accepted.accepted_request_message_id == "inc-1/request"
    assert accepted.accepted_request_sequencing_event_id == 5  # the update's WorkflowTaskScheduled
    assert accepted.accepted_request.meta.update_id == "inc-1"
    assert accepted.accepted_request.input.name == "increment"
    assert decode(accepted.accepted_request.input.args.payloads) == [2]
    completed = events[8].workflow_execution_update_completed_event_attributes
    assert completed.meta.update_id == "inc-1"
    assert completed.accepted_event_id == 8
    assert completed.outcome.WhichOneof("value") == "success"
    assert decode(completed.outcome.success.payloads) == [3]


async def test_validator_rejection_leaves_no_events(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=1)
        before = await history_event_types(handle)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(CounterWorkflow.increment, -1, id="negative")
        cause = info.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.message == "negative increment -1 rejected"
        assert cause.type == "ValueError"
        # the rejected update's (speculative) workflow task is not written either
        assert await history_event_types(handle) == before
        # a rejected update is not remembered: polling for it finds nothing
        with pytest.raises(RPCError) as poll:
            await poll_update(client, handle.id, "negative")
        assert poll.value.status == RPCStatusCode.NOT_FOUND
        # and the workflow carries on
        assert await handle.execute_update(CounterWorkflow.increment, 1) == 2
        await handle.terminate()


async def test_unknown_update_name_is_rejected(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq)
        before = await history_event_types(handle)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("no_such_update", 1)
        assert isinstance(info.value.cause, ApplicationError)
        assert "Update handler for 'no_such_update' expected but not found" in info.value.cause.message
        assert await history_event_types(handle) == before
        await handle.terminate()


async def test_update_handler_failure_completes_update_with_failure(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(CounterWorkflow.explode, "kaboom", id="boom")
        cause = info.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.message == "kaboom" and cause.type == "UpdateBoom"
        # the workflow itself is fine
        assert await handle.query(CounterWorkflow.current) == 0
        await handle.terminate()
    events = await history_events(handle)
    types = await history_event_types(handle)
    assert types[:9] == ["WorkflowExecutionStarted", *FIRST_TASK, *FIRST_TASK, *UPDATE_EVENTS]
    completed = only(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
    outcome = completed.workflow_execution_update_completed_event_attributes.outcome
    assert outcome.WhichOneof("value") == "failure"
    assert outcome.failure.message == "kaboom"
    assert outcome.failure.application_failure_info.type == "UpdateBoom"
    accepted = only(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    assert completed.workflow_execution_update_completed_event_attributes.accepted_event_id == accepted.event_id


async def test_start_update_waits_for_accepted_stage(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=1)
        update = await handle.start_update(
            CounterWorkflow.increment_when_released, 10, id="slow", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        assert update.id == "slow"
        types = await history_event_types(handle)
        assert types[-1] == "WorkflowExecutionUpdateAccepted"
        assert "WorkflowExecutionUpdateCompleted" not in types
        # accepted but not completed: a poll for the ACCEPTED stage answers at once
        response = await poll_update(
            client, handle.id, "slow", UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
        )
        assert response.stage == UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
        assert not response.HasField("outcome")
        await handle.signal(CounterWorkflow.release)
        assert await update.result() == 11
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 11
    # accepted in one task, completed in the task that handled the signal
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        *FIRST_TASK,
        "WorkflowExecutionUpdateAccepted",
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "WorkflowExecutionUpdateCompleted",
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    events = await history_events(handle)
    assert events[12].workflow_execution_update_completed_event_attributes.accepted_event_id == 8


async def poll_update(
    client: Client,
    workflow_id: str,
    update_id: str,
    stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED,
):
    return await client.workflow_service.poll_workflow_execution_update(
        PollWorkflowExecutionUpdateRequest(
            namespace=client.namespace,
            update_ref=UpdateRef(workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id),
            wait_policy=WaitPolicy(lifecycle_stage=stage),
        ),
        timeout=timedelta(seconds=10),
    )


async def test_get_update_handle_polls_outcome(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=1)
        await handle.execute_update(CounterWorkflow.increment, 4, id="polled")
        # a separate handle (PollWorkflowExecutionUpdate under the hood)
        other = client.get_workflow_handle(handle.id).get_update_handle("polled", result_type=int)
        assert await other.result() == 5
        response = await poll_update(client, handle.id, "polled")
        assert response.stage == UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
        assert decode(response.outcome.success.payloads) == [5]
        assert response.update_ref.update_id == "polled"
        assert response.update_ref.workflow_execution.run_id == handle.result_run_id
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 5
    # still answered once the workflow has closed
    assert await client.get_workflow_handle(handle.id).get_update_handle("polled", result_type=int).result() == 5
    with pytest.raises(RPCError) as info:
        await poll_update(client, handle.id, "never-sent")
    assert info.value.status == RPCStatusCode.NOT_FOUND


async def test_same_update_id_is_deduplicated(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=1)
        assert await handle.execute_update(CounterWorkflow.increment, 2, id="once") == 3
        # same id again: the first outcome, the handler does not run again
        assert await handle.execute_update(CounterWorkflow.increment, 2, id="once") == 3
        assert await handle.query(CounterWorkflow.current) == 3
        # even with different arguments
        assert await handle.execute_update(CounterWorkflow.increment, 50, id="once") == 3
        # a new id runs again
        assert await handle.execute_update(CounterWorkflow.increment, 2, id="twice") == 5
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 5
    types = await history_event_types(handle)
    assert count(types, "WorkflowExecutionUpdateAccepted") == 2
    assert count(types, "WorkflowExecutionUpdateCompleted") == 2


async def test_update_on_closed_workflow_fails(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=1)
        await handle.execute_update(CounterWorkflow.increment, 1, id="before-close")
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 2
        before = await history_event_types(handle)
        with pytest.raises(RPCError) as info:
            await handle.execute_update(CounterWorkflow.increment, 1, id="after-close")
        assert info.value.status == RPCStatusCode.NOT_FOUND
        assert info.value.message == "workflow execution already completed"
        # an update id that completed before the close is still answered
        assert await handle.execute_update(CounterWorkflow.increment, 1, id="before-close") == 2
    assert await history_event_types(handle) == before


async def test_update_with_start_new_workflow(client: Client) -> None:
    tq = unique("tq")
    wid = unique("uws")
    async with new_worker(client, tq, [CounterWorkflow]):
        start = WithStartWorkflowOperation(
            CounterWorkflow.run, 0, id=wid, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
        )
        result = await client.execute_update_with_start_workflow(
            CounterWorkflow.increment, 5, start_workflow_operation=start, id="uws-1"
        )
        assert result == 5
        handle = await start.workflow_handle()
        assert handle.id == wid and handle.result_run_id
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 5
    events = await history_events(handle)
    # the update rides on the first workflow task
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        *UPDATE_EVENTS,
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    accepted = events[4].workflow_execution_update_accepted_event_attributes
    assert accepted.accepted_request.meta.update_id == "uws-1"
    assert accepted.accepted_request_sequencing_event_id == 2


async def test_update_with_start_existing_workflow(client: Client) -> None:
    tq = unique("tq")
    wid = unique("uws")
    async with new_worker(client, tq, [CounterWorkflow]):
        existing = await client.start_workflow(CounterWorkflow.run, 100, id=wid, task_queue=tq)
        await wait_for_event(existing, "WorkflowTaskCompleted")
        start = WithStartWorkflowOperation(
            CounterWorkflow.run, 1, id=wid, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
        )
        update = await client.start_update_with_start_workflow(
            CounterWorkflow.increment,
            5,
            start_workflow_operation=start,
            id="uws-existing",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        assert await update.result() == 105
        handle = await start.workflow_handle()
        assert handle.result_run_id == existing.result_run_id

        # with id_conflict_policy FAIL the start fails and the update is not delivered
        failing = WithStartWorkflowOperation(
            CounterWorkflow.run, 1, id=wid, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.FAIL
        )
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.execute_update_with_start_workflow(
                CounterWorkflow.increment, 1, start_workflow_operation=failing, id="uws-fail"
            )
        with pytest.raises(WorkflowAlreadyStartedError):
            await failing.workflow_handle()
        await existing.signal(CounterWorkflow.finish)
        assert await existing.result() == 105
    types = await history_event_types(existing)
    assert count(types, "WorkflowExecutionStarted") == 1
    assert types == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        *FIRST_TASK,
        *UPDATE_EVENTS,
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]


async def test_update_with_start_rejected_update_still_starts(client: Client) -> None:
    tq = unique("tq")
    wid = unique("uws")
    async with new_worker(client, tq, [CounterWorkflow]):
        start = WithStartWorkflowOperation(
            CounterWorkflow.run, 10, id=wid, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
        )
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await client.execute_update_with_start_workflow(
                CounterWorkflow.increment, -5, start_workflow_operation=start, id="uws-rejected"
            )
        assert isinstance(info.value.cause, ApplicationError)
        assert info.value.cause.message == "negative increment -5 rejected"
        handle = await start.workflow_handle()
        assert await handle.query(CounterWorkflow.current) == 10
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 10
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
