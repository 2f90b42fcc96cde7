"""Activities: failures, server-side retries, heartbeats, cancellation, async completion."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from helpers import count, history_event_types, history_events, new_worker, unique, wait_for_event, wait_until
from workflows import (
    CANCELLED,
    EXECUTIONS,
    STARTED,
    TASK_TOKENS,
    ActivityCall,
    CancelActivityWorkflow,
    RunActivityWorkflow,
    always_fail,
    checkpointing_activity,
    complete_elsewhere,
    fail_until_third_attempt,
    fail_with_type,
    heartbeat_until_cancelled,
)


async def run_activity_workflow(client: Client, tq: str, call: ActivityCall, activities: list) -> tuple:
    """Runs RunActivityWorkflow; returns (handle, result or WorkflowFailureError)."""
    async with new_worker(client, tq, [RunActivityWorkflow], activities):
        handle = await client.start_workflow(
            RunActivityWorkflow.run, call, id=unique("act"), task_queue=tq
        )
        try:
            return handle, await handle.result()
        except WorkflowFailureError as err:
            return handle, err


async def test_activity_failure_without_retry(client: Client) -> None:
    call = ActivityCall("always_fail", ["no luck"], start_to_close_s=5, max_attempts=1)
    handle, err = await run_activity_workflow(client, unique("tq"), call, [always_fail])
    assert isinstance(err, WorkflowFailureError)
    assert isinstance(err.cause, ActivityError)
    assert isinstance(err.cause.cause, ApplicationError)
    assert err.cause.cause.message == "no luck"
    assert err.cause.cause.type == "AlwaysFails"
    types = await history_event_types(handle)
    assert count(types, "ActivityTaskStarted") == 1
    assert count(types, "ActivityTaskFailed") == 1
    assert types[-1] == "WorkflowExecutionFailed"


async def test_activity_retried_by_server(client: Client) -> None:
    call = ActivityCall(
        "fail_until_third_attempt",
        ["value"],
        start_to_close_s=5,
        max_attempts=5,
        initial_interval_s=0.1,
        backoff=1.0,
    )
    handle, result = await run_activity_workflow(client, unique("tq"), call, [fail_until_third_attempt])
    assert result == "value on attempt 3"
    events = await history_events(handle)
    started = [e for e in events if e.HasField("activity_task_started_event_attributes")]
    # failed attempts are not written to history: only the last one is
    assert len(started) == 1
    assert started[0].activity_task_started_event_attributes.attempt == 3
    failure = started[0].activity_task_started_event_attributes.last_failure
    assert failure.message == "attempt 2 failed"
    types = await history_event_types(handle)
    assert count(types, "ActivityTaskScheduled") == 1
    assert count(types, "ActivityTaskFailed") == 0
    assert count(types, "ActivityTaskCompleted") == 1


async def test_retries_exhausted(client: Client) -> None:
    call = ActivityCall("always_fail", ["still no luck"], start_to_close_s=5, max_attempts=2)
    handle, err = await run_activity_workflow(client, unique("tq"), call, [always_fail])
    assert isinstance(err, WorkflowFailureError)
    assert isinstance(err.cause, ActivityError)
    assert err.cause.retry_state is not None and err.cause.retry_state.name == "MAXIMUM_ATTEMPTS_REACHED"
    events = await history_events(handle)
    started = [e for e in events if e.HasField("activity_task_started_event_attributes")]
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [2]


async def test_non_retryable_error_type_stops_retries(client: Client) -> None:
    tq = unique("tq")
    call = ActivityCall(
        "fail_with_type",
        ["FatalError"],
        start_to_close_s=5,
        max_attempts=10,
        non_retryable=["FatalError"],
    )
    handle, err = await run_activity_workflow(client, tq, call, [fail_with_type])
    assert isinstance(err, WorkflowFailureError)
    assert isinstance(err.cause, ActivityError)
    assert err.cause.retry_state is not None and err.cause.retry_state.name == "NON_RETRYABLE_FAILURE"
    assert isinstance(err.cause.cause, ApplicationError)
    assert err.cause.cause.type == "FatalError"
    assert EXECUTIONS[f"fail_with_type:{handle.id}"] == 1


async def test_other_error_types_still_retry(client: Client) -> None:
    call = ActivityCall(
        "fail_with_type",
        ["TransientError"],
        start_to_close_s=5,
        max_attempts=3,
        non_retryable=["FatalError"],
    )
    handle, err = await run_activity_workflow(client, unique("tq"), call, [fail_with_type])
    assert isinstance(err, WorkflowFailureError)
    assert err.cause.retry_state.name == "MAXIMUM_ATTEMPTS_REACHED"
    assert EXECUTIONS[f"fail_with_type:{handle.id}"] == 3


async def test_heartbeat_details_survive_retry(client: Client) -> None:
    key = unique("ckpt")
    call = ActivityCall(
        "checkpointing_activity", [key], start_to_close_s=5, heartbeat_s=5, max_attempts=2
    )
    _, result = await run_activity_workflow(client, unique("tq"), call, [checkpointing_activity])
    assert result == [2, [f"checkpoint-{key}"]]


async def test_cancel_heartbeating_activity(client: Client) -> None:
    tq = unique("tq")
    key = unique("hb")
    call = ActivityCall(
        "heartbeat_until_cancelled",
        [key],
        start_to_close_s=30,
        heartbeat_s=2,
        max_attempts=1,
        wait_cancellation_completed=True,
    )
    async with new_worker(client, tq, [CancelActivityWorkflow], [heartbeat_until_cancelled]):
        handle = await client.start_workflow(
            CancelActivityWorkflow.run, call, id=unique("cancel-act"), task_queue=tq
        )
        await wait_until(lambda: key in STARTED, what="activity start")
        await handle.signal(CancelActivityWorkflow.cancel_activity)
        assert await handle.result() == "ActivityError/CancelledError"
    assert key in CANCELLED, "the activity itself never saw asyncio.CancelledError"
    types = await history_event_types(handle)
    assert count(types, "ActivityTaskCancelRequested") == 1
    assert count(types, "ActivityTaskCanceled") == 1
    assert types.index("ActivityTaskCancelRequested") < types.index("ActivityTaskCanceled")


@pytest.mark.parametrize("wait_completed", [False, True], ids=["try_cancel", "wait_completed"])
async def test_cancel_activity_that_never_started(client: Client, wait_completed: bool) -> None:
    tq = unique("tq")
    call = ActivityCall(
        "greet",
        ["nobody"],
        task_queue=unique("tq-no-worker"),
        start_to_close_s=5,
        wait_cancellation_completed=wait_completed,
    )
    async with new_worker(client, tq, [CancelActivityWorkflow]):
        handle = await client.start_workflow(
            CancelActivityWorkflow.run, call, id=unique("cancel-unstarted"), task_queue=tq
        )
        await wait_for_event(handle, "ActivityTaskScheduled")
        await handle.signal(CancelActivityWorkflow.cancel_activity)
        assert await handle.result() == "ActivityError/CancelledError"
    types = await history_event_types(handle)
    first_task = ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]
    expected = [
        "WorkflowExecutionStarted",
        *first_task,
        "ActivityTaskScheduled",
        "WorkflowExecutionSignaled",
        *first_task,
        "ActivityTaskCancelRequested",
    ]
    if wait_completed:
        # the server cancels the never-started activity at once and tells the workflow
        expected += ["ActivityTaskCanceled", *first_task]
    # with TRY_CANCEL the SDK resolves the activity locally and the workflow completes
    # in the same task that requested the cancel: no ActivityTaskCanceled is written
    expected.append("WorkflowExecutionCompleted")
    assert types == expected


async def _start_async_completion(client: Client, tq: str, activity_id: str):
    key = unique("async")
    call = ActivityCall(
        "complete_elsewhere", [key], activity_id=activity_id, start_to_close_s=30, max_attempts=1
    )
    handle = await client.start_workflow(
        RunActivityWorkflow.run, call, id=unique("async-wf"), task_queue=tq
    )
    await wait_until(lambda: key in STARTED, what="activity start")
    await wait_for_pending_activity_started(handle)
    return handle, key


async def wait_for_pending_activity_started(handle) -> None:
    """ActivityTaskStarted is only written to history when the attempt ends, so ask
    DescribeWorkflowExecution whether the activity is running."""

    async def started() -> bool:
        pending = (await handle.describe()).raw_description.pending_activities
        return any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for p in pending)

    await wait_until(started, what="pending activity in state STARTED")


async def test_complete_activity_by_id(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [RunActivityWorkflow], [complete_elsewhere]):
        handle, _ = await _start_async_completion(client, tq, "my-activity")
        activity = client.get_async_activity_handle(
            workflow_id=handle.id, run_id=handle.result_run_id, activity_id="my-activity"
        )
        await activity.heartbeat("still working")
        await activity.complete("completed from outside")
        assert await handle.result() == "completed from outside"
    types = await history_event_types(handle)
    assert count(types, "ActivityTaskCompleted") == 1


async def test_complete_activity_by_id_without_run_id(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [RunActivityWorkflow], [complete_elsewhere]):
        handle, _ = await _start_async_completion(client, tq, "act-no-run")
        activity = client.get_async_activity_handle(workflow_id=handle.id, activity_id="act-no-run")
        await activity.complete("done without run id")
        assert await handle.result() == "done without run id"


async def test_fail_activity_by_id(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [RunActivityWorkflow], [complete_elsewhere]):
        handle, _ = await _start_async_completion(client, tq, "doomed")
        activity = client.get_async_activity_handle(
            workflow_id=handle.id, run_id=handle.result_run_id, activity_id="doomed"
        )
        await activity.fail(ApplicationError("failed from outside", type="External"))
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, ActivityError)
    assert isinstance(info.value.cause.cause, ApplicationError)
    assert info.value.cause.cause.message == "failed from outside"
    assert info.value.cause.cause.type == "External"


async def test_complete_activity_by_task_token(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [RunActivityWorkflow], [complete_elsewhere]):
        handle, key = await _start_async_completion(client, tq, "by-token")
        desc = await handle.describe()
        assert [p.activity_id for p in desc.raw_description.pending_activities] == ["by-token"]
        activity = client.get_async_activity_handle(task_token=TASK_TOKENS[key])
        await activity.heartbeat("beat by token")
        await activity.complete("completed by token")
        assert await handle.result() == "completed by token"
        # the activity is gone now: a second completion is rejected
        with pytest.raises(RPCError) as info:
            await activity.complete("again")
    assert info.value.status == RPCStatusCode.NOT_FOUND
