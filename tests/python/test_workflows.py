"""Workflow lifecycle: activities, timers, signals, failure, cancel, terminate,
continue-as-new, workflow task failure, signal-with-start."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError

from helpers import count, history_event_types, new_worker, unique, wait_for_event
from workflows import (
    WORKFLOW_TASK_ATTEMPTS,
    ContinueAsNewWorkflow,
    FailingWorkflow,
    FlakyTaskWorkflow,
    GreetingWorkflow,
    SignalWorkflow,
    TimerWorkflow,
    WaitForeverWorkflow,
    greet,
)


async def test_workflow_returns_activity_result(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        result = await client.execute_workflow(
            GreetingWorkflow.run, "Sundial", id=unique("greet"), task_queue=tq
        )
    assert result == "Hello, Sundial!"


async def test_activity_workflow_history_shape(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        handle = await client.start_workflow(
            GreetingWorkflow.run, "history", id=unique("greet"), task_queue=tq
        )
        await handle.result()
    types = await history_event_types(handle)
    assert types[0] == "WorkflowExecutionStarted"
    assert types[-1] == "WorkflowExecutionCompleted"
    for name in ("ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted"):
        assert count(types, name) == 1, types
    assert types.index("ActivityTaskScheduled") < types.index("ActivityTaskStarted") < types.index(
        "ActivityTaskCompleted"
    )


async def test_durable_timer(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [TimerWorkflow]):
        handle = await client.start_workflow(TimerWorkflow.run, 1.0, id=unique("timer"), task_queue=tq)
        assert await handle.result() == "woke after 1.0s"
    types = await history_event_types(handle)
    assert count(types, "TimerStarted") == 1
    assert count(types, "TimerFired") == 1
    assert types.index("TimerStarted") < types.index("TimerFired")
    assert types[-1] == "WorkflowExecutionCompleted"


async def test_signal_delivers_payload(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [SignalWorkflow]):
        handle = await client.start_workflow(SignalWorkflow.run, id=unique("signal"), task_queue=tq)
        # let the workflow block in wait_condition first
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.signal(SignalWorkflow.deliver, "the payload")
        assert await handle.result() == "the payload"
    types = await history_event_types(handle)
    assert count(types, "WorkflowExecutionSignaled") == 1


async def test_signal_with_start(client: Client) -> None:
    tq = unique("tq")
    wid = unique("sws")
    async with new_worker(client, tq, [SignalWorkflow]):
        handle = await client.start_workflow(
            SignalWorkflow.run,
            id=wid,
            task_queue=tq,
            start_signal="deliver",
            start_signal_args=["sent with start"],
        )
        assert await handle.result() == "sent with start"
    types = await history_event_types(handle)
    assert types[:2] == ["WorkflowExecutionStarted", "WorkflowExecutionSignaled"]


async def test_signal_with_start_signals_running_workflow(client: Client) -> None:
    tq = unique("tq")
    wid = unique("sws")
    # no worker yet: the first call starts the workflow, the second only signals it
    first = await client.start_workflow(
        SignalWorkflow.run, id=wid, task_queue=tq, start_signal="deliver", start_signal_args=["one"]
    )
    second = await client.start_workflow(
        SignalWorkflow.run, id=wid, task_queue=tq, start_signal="deliver", start_signal_args=["two"]
    )
    assert second.result_run_id == first.result_run_id
    async with new_worker(client, tq, [SignalWorkflow]):
        assert await first.result() == "one"
    types = await history_event_types(first)
    assert count(types, "WorkflowExecutionStarted") == 1
    assert count(types, "WorkflowExecutionSignaled") == 2


async def test_workflow_failure(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [FailingWorkflow]):
        handle = await client.start_workflow(
            FailingWorkflow.run, "the workflow broke", id=unique("fail"), task_queue=tq
        )
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "the workflow broke"
    assert cause.type == "WorkflowBoom"
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    assert (await history_event_types(handle))[-1] == "WorkflowExecutionFailed"


async def test_cancel_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        handle = await client.start_workflow(WaitForeverWorkflow.run, id=unique("cancel"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, CancelledError)
    types = await history_event_types(handle)
    assert count(types, "WorkflowExecutionCancelRequested") == 1
    assert types[-1] == "WorkflowExecutionCanceled"
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_terminate_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        handle = await client.start_workflow(WaitForeverWorkflow.run, id=unique("term"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.terminate(reason="enough of this")
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert isinstance(info.value.cause, TerminatedError)
    events = [e async for e in handle.fetch_history_events()]
    last = events[-1]
    assert last.HasField("workflow_execution_terminated_event_attributes")
    assert last.workflow_execution_terminated_event_attributes.reason == "enough of this"
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED


async def test_terminate_without_worker(client: Client) -> None:
    """Termination needs no workflow task: it works before any worker polled."""
    handle = await client.start_workflow(
        WaitForeverWorkflow.run, id=unique("term"), task_queue=unique("tq-nobody")
    )
    await handle.terminate(reason="never ran")
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert isinstance(info.value.cause, TerminatedError)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowExecutionTerminated",
    ]


async def test_continue_as_new(client: Client) -> None:
    tq = unique("tq")
    wid = unique("can")
    async with new_worker(client, tq, [ContinueAsNewWorkflow]):
        handle = await client.start_workflow(ContinueAsNewWorkflow.run, 1, id=wid, task_queue=tq)
        # result() follows the chain of runs
        assert await handle.result() == "finished in run 3"

    first_run = client.get_workflow_handle(wid, run_id=handle.result_run_id)
    first_types = await history_event_types(first_run)
    assert first_types[-1] == "WorkflowExecutionContinuedAsNew"
    events = [e async for e in first_run.fetch_history_events()]
    next_run_id = events[-1].workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    assert next_run_id and next_run_id != handle.result_run_id

    latest = await client.get_workflow_handle(wid).describe()
    assert latest.status == WorkflowExecutionStatus.COMPLETED
    assert latest.run_id not in (handle.result_run_id, next_run_id)
    first_desc = await first_run.describe()
    assert first_desc.status == WorkflowExecutionStatus.CONTINUED_AS_NEW

    # the new run knows where it came from
    second = client.get_workflow_handle(wid, run_id=next_run_id)
    second_events = [e async for e in second.fetch_history_events()]
    started = second_events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id == handle.result_run_id
    assert started.first_execution_run_id == handle.result_run_id


async def test_workflow_task_failure_is_retried(client: Client) -> None:
    tq = unique("tq")
    wid = unique("flaky-task")
    async with new_worker(client, tq, [FlakyTaskWorkflow]):
        handle = await client.start_workflow(FlakyTaskWorkflow.run, id=wid, task_queue=tq)
        assert await handle.result() == "recovered"
    assert WORKFLOW_TASK_ATTEMPTS[wid] == 2
    types = await history_event_types(handle)
    assert count(types, "WorkflowTaskFailed") == 1
    assert types[-1] == "WorkflowExecutionCompleted"
    failed = types.index("WorkflowTaskFailed")
    assert types[failed + 1 : failed + 4] == [
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
    ]
