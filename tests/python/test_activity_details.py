"""Activity heartbeat details and asynchronous completion by task token (what
test_activities.py does not cover): details surviving a heartbeat-timeout retry,
heartbeat details visible in DescribeWorkflowExecution, failing by task token, and a
cancellation request delivered in the heartbeat response."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState, RetryState, TimeoutType
from temporalio.api.workflowservice.v1 import (
    RecordActivityTaskHeartbeatByIdRequest,
    RecordActivityTaskHeartbeatRequest,
)
from temporalio.client import AsyncActivityCancelledError, Client
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from helpers import history_event_types, history_events, new_worker, unique, wait_for_event, wait_until
from workflows import ActivityCall, RunActivityWorkflow
from workflows_interactive import (
    STARTED,
    TASK_TOKENS,
    AsyncActivityWorkflow,
    checkpoint_then_stall,
    complete_later,
)

FIRST_TASK = ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]


def decode(payloads) -> list:
    return [DataConverter.default.payload_converter.from_payload(p) for p in payloads]


async def test_heartbeat_details_survive_heartbeat_timeout(client: Client) -> None:
    tq = unique("tq")
    key = unique("ckpt")
    call = ActivityCall("checkpoint_then_stall", [key], start_to_close_s=30, heartbeat_s=1, max_attempts=2)
    async with new_worker(client, tq, [RunActivityWorkflow], [checkpoint_then_stall]):
        handle = await client.start_workflow(RunActivityWorkflow.run, call, id=unique("hb-timeout"), task_queue=tq)
        # attempt 2 was handed the details attempt 1 heartbeated before it timed out
        assert await handle.result() == [2, [f"checkpoint-{key}", 1]]
    events = await history_events(handle)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    started = events[5].activity_task_started_event_attributes
    assert started.attempt == 2
    assert started.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT


async def start_async_activity(client: Client, tq: str):
    key = unique("async")
    handle = await client.start_workflow(AsyncActivityWorkflow.run, key, id=unique("async-wf"), task_queue=tq)
    await wait_until(lambda: key in STARTED, what="activity start")

    async def running() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for p in pending)

    await wait_until(running, what="pending activity in state STARTED")
    return handle, key


async def test_heartbeat_by_task_token_records_details(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [AsyncActivityWorkflow], [complete_later]):
        handle, key = await start_async_activity(client, tq)
        activity = client.get_async_activity_handle(task_token=TASK_TOKENS[key])
        await activity.heartbeat("progress", 7)
        [pending] = (await handle.describe()).raw_description.pending_activities
        assert pending.activity_id == f"act-{key}"
        assert pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        assert pending.attempt == 1
        assert decode(pending.heartbeat_details.payloads) == ["progress", 7]
        assert pending.HasField("last_heartbeat_time")
        # a later heartbeat replaces the details
        await activity.heartbeat("more progress")
        [pending] = (await handle.describe()).raw_description.pending_activities
        assert decode(pending.heartbeat_details.payloads) == ["more progress"]
        await activity.complete("done by token")
        assert await handle.result() == "completed: done by token"
        # the activity is gone: heartbeating it now fails
        with pytest.raises(RPCError) as info:
            await client.workflow_service.record_activity_task_heartbeat(
                RecordActivityTaskHeartbeatRequest(namespace=client.namespace, task_token=TASK_TOKENS[key])
            )
        assert info.value.status == RPCStatusCode.NOT_FOUND
    # heartbeats are not history events
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]


async def test_fail_activity_by_task_token(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [AsyncActivityWorkflow], [complete_later]):
        handle, key = await start_async_activity(client, tq)
        activity = client.get_async_activity_handle(task_token=TASK_TOKENS[key])
        await activity.fail(ApplicationError("failed by token", "some detail", type="TokenFailure"))
        assert await handle.result() == "ActivityError/ApplicationError: failed by token"
    events = await history_events(handle)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskFailed",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    failed = events[6].activity_task_failed_event_attributes
    assert failed.failure.message == "failed by token"
    assert failed.failure.application_failure_info.type == "TokenFailure"
    assert decode(failed.failure.application_failure_info.details.payloads) == ["some detail"]
    # the workflow's retry policy allows one attempt only
    assert failed.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    assert (failed.scheduled_event_id, failed.started_event_id) == (5, 6)


async def test_cancel_request_is_delivered_in_heartbeat_response(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [AsyncActivityWorkflow], [complete_later]):
        handle, key = await start_async_activity(client, tq)
        token = TASK_TOKENS[key]
        beat = RecordActivityTaskHeartbeatRequest(namespace=client.namespace, task_token=token)
        beat_by_id = RecordActivityTaskHeartbeatByIdRequest(
            namespace=client.namespace, workflow_id=handle.id, activity_id=f"act-{key}"
        )
        assert not (await client.workflow_service.record_activity_task_heartbeat(beat)).cancel_requested
        assert not (await client.workflow_service.record_activity_task_heartbeat_by_id(beat_by_id)).cancel_requested

        await handle.signal(AsyncActivityWorkflow.cancel)
        await wait_for_event(handle, "ActivityTaskCancelRequested")
        assert (await client.workflow_service.record_activity_task_heartbeat(beat)).cancel_requested
        assert (await client.workflow_service.record_activity_task_heartbeat_by_id(beat_by_id)).cancel_requested
        activity = client.get_async_activity_handle(task_token=token)
        with pytest.raises(AsyncActivityCancelledError):
            await activity.heartbeat("noticed")
        # the activity acknowledges: the workflow sees the cancellation
        await activity.report_cancellation("cleaned up")
        assert await handle.result() == "ActivityError/CancelledError: Cancelled"
    events = await history_events(handle)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        "ActivityTaskScheduled",
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "ActivityTaskCancelRequested",
        # ActivityTaskStarted is written when the attempt ends, i.e. after the request
        "ActivityTaskStarted",
        "ActivityTaskCanceled",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    canceled = events[11].activity_task_canceled_event_attributes
    assert decode(canceled.details.payloads) == ["cleaned up"]
    assert canceled.latest_cancel_requested_event_id == 10
    assert (canceled.scheduled_event_id, canceled.started_event_id) == (5, 11)
    cancel_requested = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED]
    assert cancel_requested[0].activity_task_cancel_requested_event_attributes.scheduled_event_id == 5
