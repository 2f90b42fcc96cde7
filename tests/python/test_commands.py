"""Workflow task commands and timeouts not covered elsewhere: CancelTimer, RecordMarker
(local activities), workflow task timeout, activity cancellation reported by id, and
workflow retries by retry policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import PollWorkflowTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from helpers import count, history_event_types, history_events, new_worker, unique, wait_until
from test_activities import _start_async_completion
from workflows import (
    STARTED,
    ActivityCall,
    CancelActivityWorkflow,
    CancelTimerWorkflow,
    EchoWorkflow,
    FailingWorkflow,
    LocalActivityWorkflow,
    complete_elsewhere,
    greet,
)


async def test_cancel_timer(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CancelTimerWorkflow]):
        handle = await client.start_workflow(CancelTimerWorkflow.run, id=unique("cancel-timer"), task_queue=tq)
        assert await handle.result() == "timer cancelled"
    types = await history_event_types(handle)
    assert count(types, "TimerStarted") == 2, types  # the long one and the 0.2 s one
    assert count(types, "TimerFired") == 1, types
    assert count(types, "TimerCanceled") == 1, types
    assert types[-1] == "WorkflowExecutionCompleted"


async def test_local_activity_records_marker(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [LocalActivityWorkflow], [greet]):
        handle = await client.start_workflow(
            LocalActivityWorkflow.run, "marker", id=unique("local-act"), task_queue=tq
        )
        assert await handle.result() == "Hello, marker!"
    events = await history_events(handle)
    markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len(markers) == 1
    assert markers[0].marker_recorded_event_attributes.marker_name == "core_local_activity"
    assert "ActivityTaskScheduled" not in await history_event_types(handle)


async def test_workflow_task_timeout(client: Client) -> None:
    """A worker takes the first workflow task and never answers: after the task timeout the
    server times the task out and hands a new attempt to the next poller."""
    tq = unique("tq")
    handle = await client.start_workflow(
        EchoWorkflow.run, "after timeout", id=unique("wft-timeout"), task_queue=tq,
        task_timeout=timedelta(seconds=1),
    )
    stalled = await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=tq), identity="stalled-worker"
        )
    )
    assert stalled.task_token and stalled.attempt == 1
    async with new_worker(client, tq, [EchoWorkflow]):
        assert await handle.result() == "after timeout"
    events = await history_events(handle)
    types = await history_event_types(handle)
    assert types[:4] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskTimedOut",
    ], types
    timed_out = events[3].workflow_task_timed_out_event_attributes
    assert timed_out.scheduled_event_id == 2 and timed_out.started_event_id == 3
    rescheduled = events[4].workflow_task_scheduled_event_attributes
    assert rescheduled.attempt == 2
    assert types[-1] == "WorkflowExecutionCompleted"


async def test_report_activity_cancellation_by_id(client: Client) -> None:
    tq = unique("tq")
    key = unique("cancel-by-id")
    call = ActivityCall(
        "complete_elsewhere", [key], activity_id="cancel-me", start_to_close_s=30, wait_cancellation_completed=True
    )
    async with new_worker(client, tq, [CancelActivityWorkflow], [complete_elsewhere]):
        handle = await client.start_workflow(CancelActivityWorkflow.run, call, id=unique("cancel-by-id"), task_queue=tq)
        await wait_until(lambda: key in STARTED, what="activity start")
        await handle.signal(CancelActivityWorkflow.cancel_activity)

        async def cancel_requested() -> bool:
            return "ActivityTaskCancelRequested" in await history_event_types(handle)

        await wait_until(cancel_requested, what="ActivityTaskCancelRequested")
        activity = client.get_async_activity_handle(workflow_id=handle.id, activity_id="cancel-me")
        await activity.report_cancellation("cleaned up")
        assert await handle.result() == "ActivityError/CancelledError"
    events = await history_events(handle)
    canceled = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED]
    assert len(canceled) == 1
    assert canceled[0].activity_task_canceled_event_attributes.details.payloads


async def test_workflow_retried_by_retry_policy(client: Client) -> None:
    tq = unique("tq")
    wid = unique("wf-retry")
    async with new_worker(client, tq, [FailingWorkflow]):
        handle = await client.start_workflow(
            FailingWorkflow.run, "again", id=wid, task_queue=tq,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=2),
        )
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, ApplicationError)
    assert info.value.cause.type == "WorkflowBoom"
    first = await history_events(client.get_workflow_handle(wid, run_id=handle.first_execution_run_id))
    failed = first[-1].workflow_execution_failed_event_attributes
    assert first[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    assert failed.new_execution_run_id, "the first attempt names the run that retries it"
    last = await history_events(client.get_workflow_handle(wid, run_id=failed.new_execution_run_id))
    started = last[0].workflow_execution_started_event_attributes
    assert started.attempt == 2
    assert started.continued_execution_run_id == handle.first_execution_run_id
    assert last[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    assert not last[-1].workflow_execution_failed_event_attributes.new_execution_run_id
