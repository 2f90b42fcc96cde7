"""Activity and workflow timeouts enforced by the server."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType

from helpers import count, history_event_types, history_events, new_worker, unique
from workflows import (
    ActivityCall,
    RunActivityWorkflow,
    WaitForeverWorkflow,
    heartbeat_once_then_sleep,
    sleep_for,
)


async def activity_timeout(client: Client, call: ActivityCall, activities: list) -> tuple:
    """Runs RunActivityWorkflow expecting an activity timeout; returns (handle, TimeoutError)."""
    tq = unique("tq")
    async with new_worker(client, tq, [RunActivityWorkflow], activities):
        handle = await client.start_workflow(RunActivityWorkflow.run, call, id=unique("to"), task_queue=tq)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    activity_error = info.value.cause
    assert isinstance(activity_error, ActivityError), activity_error
    assert isinstance(activity_error.cause, TimeoutError), activity_error.cause
    return handle, activity_error.cause


async def test_start_to_close_timeout(client: Client) -> None:
    call = ActivityCall("sleep_for", [30], start_to_close_s=1, max_attempts=1)
    handle, err = await activity_timeout(client, call, [sleep_for])
    assert err.type == TimeoutType.START_TO_CLOSE
    types = await history_event_types(handle)
    assert count(types, "ActivityTaskTimedOut") == 1
    assert types[-1] == "WorkflowExecutionFailed"


async def test_start_to_close_timeout_is_retried(client: Client) -> None:
    call = ActivityCall("sleep_for", [30], start_to_close_s=1, max_attempts=2, initial_interval_s=0.1)
    handle, err = await activity_timeout(client, call, [sleep_for])
    assert err.type == TimeoutType.START_TO_CLOSE
    events = await history_events(handle)
    started = [e for e in events if e.HasField("activity_task_started_event_attributes")]
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [2]


async def test_heartbeat_timeout(client: Client) -> None:
    call = ActivityCall(
        "heartbeat_once_then_sleep", [30], start_to_close_s=20, heartbeat_s=1, max_attempts=1
    )
    handle, err = await activity_timeout(client, call, [heartbeat_once_then_sleep])
    assert err.type == TimeoutType.HEARTBEAT
    # the details of the last heartbeat travel with the timeout
    assert list(err.last_heartbeat_details) == ["first and last heartbeat"]
    assert count(await history_event_types(handle), "ActivityTaskTimedOut") == 1


async def test_schedule_to_close_timeout(client: Client) -> None:
    # the activity runs longer than its whole schedule-to-close budget
    # (start-to-close is left unset, so the server derives it from schedule-to-close)
    call = ActivityCall("sleep_for", [30], schedule_to_close_s=1.5, max_attempts=0)
    handle, err = await activity_timeout(client, call, [sleep_for])
    assert err.type == TimeoutType.SCHEDULE_TO_CLOSE
    types = await history_event_types(handle)
    assert count(types, "ActivityTaskTimedOut") == 1


async def test_schedule_to_start_timeout(client: Client) -> None:
    # no worker polls the activity's task queue. (With only schedule-to-close set the
    # real server also reports SCHEDULE_TO_START here: it defaults schedule-to-start
    # to schedule-to-close.)
    call = ActivityCall(
        "sleep_for",
        [0],
        task_queue=unique("tq-no-worker"),
        schedule_to_start_s=1,
        start_to_close_s=5,
        max_attempts=1,
    )
    _, err = await activity_timeout(client, call, [])
    assert err.type == TimeoutType.SCHEDULE_TO_START


@pytest.mark.parametrize("which", ["execution", "run"])
async def test_workflow_timeout(client: Client, which: str) -> None:
    tq = unique("tq")
    timeout = {f"{which}_timeout": timedelta(seconds=2)}
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        began = time.monotonic()
        handle = await client.start_workflow(
            WaitForeverWorkflow.run, id=unique(f"wf-{which}-to"), task_queue=tq, **timeout
        )
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        elapsed = time.monotonic() - began
    assert isinstance(info.value.cause, TimeoutError)
    assert 1.5 <= elapsed < 15, elapsed
    types = await history_event_types(handle)
    assert types[-1] == "WorkflowExecutionTimedOut"
    assert (await handle.describe()).status == WorkflowExecutionStatus.TIMED_OUT


async def test_workflow_timeout_without_worker(client: Client) -> None:
    """The server times the workflow out even if no worker ever picked it up."""
    handle = await client.start_workflow(
        WaitForeverWorkflow.run,
        id=unique("wf-to-noworker"),
        task_queue=unique("tq-no-worker"),
        execution_timeout=timedelta(seconds=1),
    )
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, TimeoutError)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowExecutionTimedOut",
    ]
