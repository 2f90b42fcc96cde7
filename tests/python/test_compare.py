"""Run the same scenarios against the target and a reference Temporal server and
compare the histories event by event (event types, plus the event-id references
and attempt / retry-state / cause fields, which are deterministic too).

Every scenario is written so that its event order cannot race: signals and cancels
are sent at points where the workflow is known to be idle (or before a worker
exists), and activities never run concurrently with workflow tasks."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Awaitable, Callable

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
    WorkflowFailureError,
    WorkflowHandle,
)

from helpers import event_type_name, history_events, new_worker, unique, wait_for_event, wait_until
from workflows_schedules import ScheduledWorkflow
from workflows import (
    CANCELLED,
    STARTED,
    ActivityCall,
    CancelActivityWorkflow,
    ContinueAsNewWorkflow,
    FailingWorkflow,
    FlakyTaskWorkflow,
    GreetingWorkflow,
    RunActivityWorkflow,
    SignalWorkflow,
    TimerWorkflow,
    WaitForeverWorkflow,
    ZeroDurationsWorkflow,
    always_fail,
    fail_until_third_attempt,
    greet,
    heartbeat_until_cancelled,
    sleep_for,
    sync_heartbeat_until_cancelled,
)

Scenario = Callable[[Client], Awaitable[WorkflowHandle]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


async def finish(handle: WorkflowHandle) -> WorkflowHandle:
    """Wait for the workflow to close, whatever the outcome."""
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError:
        pass
    return handle


@scenario
async def activity(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        return await finish(await client.start_workflow(GreetingWorkflow.run, "cmp", id=unique("cmp-act"), task_queue=tq))


@scenario
async def timer(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [TimerWorkflow]):
        return await finish(await client.start_workflow(TimerWorkflow.run, 1.0, id=unique("cmp-timer"), task_queue=tq))


@scenario
async def signal_before_worker(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    handle = await client.start_workflow(SignalWorkflow.run, id=unique("cmp-signal"), task_queue=tq)
    await handle.signal(SignalWorkflow.deliver, "early")
    async with new_worker(client, tq, [SignalWorkflow]):
        return await finish(handle)


@scenario
async def signal_to_idle_workflow(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [SignalWorkflow]):
        handle = await client.start_workflow(SignalWorkflow.run, id=unique("cmp-signal"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.signal(SignalWorkflow.deliver, "late")
        return await finish(handle)


@scenario
async def signal_with_start(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [SignalWorkflow]):
        handle = await client.start_workflow(
            SignalWorkflow.run, id=unique("cmp-sws"), task_queue=tq, start_signal="deliver", start_signal_args=["x"]
        )
        return await finish(handle)


@scenario
async def activity_retried_then_succeeds(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    call = ActivityCall("fail_until_third_attempt", ["v"], start_to_close_s=5, max_attempts=5)
    async with new_worker(client, tq, [RunActivityWorkflow], [fail_until_third_attempt]):
        return await finish(await client.start_workflow(RunActivityWorkflow.run, call, id=unique("cmp-retry"), task_queue=tq))


@scenario
async def activity_retries_exhausted(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    call = ActivityCall("always_fail", ["nope"], start_to_close_s=5, max_attempts=2)
    async with new_worker(client, tq, [RunActivityWorkflow], [always_fail]):
        return await finish(await client.start_workflow(RunActivityWorkflow.run, call, id=unique("cmp-fail"), task_queue=tq))


@scenario
async def activity_start_to_close_timeout(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    call = ActivityCall("sleep_for", [30], start_to_close_s=1, max_attempts=1)
    async with new_worker(client, tq, [RunActivityWorkflow], [sleep_for]):
        return await finish(await client.start_workflow(RunActivityWorkflow.run, call, id=unique("cmp-timeout"), task_queue=tq))


@scenario
async def workflow_failure(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [FailingWorkflow]):
        return await finish(await client.start_workflow(FailingWorkflow.run, "boom", id=unique("cmp-wf-fail"), task_queue=tq))


@scenario
async def workflow_task_failure(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [FlakyTaskWorkflow]):
        return await finish(await client.start_workflow(FlakyTaskWorkflow.run, id=unique("cmp-wft"), task_queue=tq))


@scenario
async def cancel_running_workflow(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        handle = await client.start_workflow(WaitForeverWorkflow.run, id=unique("cmp-cancel"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.cancel()
        return await finish(handle)


@scenario
async def cancel_before_worker(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    handle = await client.start_workflow(WaitForeverWorkflow.run, id=unique("cmp-cancel"), task_queue=tq)
    await handle.cancel()
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        return await finish(handle)


@scenario
async def terminate(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        handle = await client.start_workflow(WaitForeverWorkflow.run, id=unique("cmp-term"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.terminate(reason="compare")
        return await finish(handle)


@scenario
async def cancel_heartbeating_activity(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    key = unique("cmp-hb")
    call = ActivityCall(
        "heartbeat_until_cancelled", [key], start_to_close_s=30, heartbeat_s=2, wait_cancellation_completed=True
    )
    async with new_worker(client, tq, [CancelActivityWorkflow], [heartbeat_until_cancelled]):
        handle = await client.start_workflow(CancelActivityWorkflow.run, call, id=unique("cmp-hb"), task_queue=tq)
        await wait_until(lambda: key in STARTED, what="activity start")
        await handle.signal(CancelActivityWorkflow.cancel_activity)
        return await finish(handle)


@scenario
async def cancel_activity_without_waiting(client: Client) -> WorkflowHandle:
    """TRY_CANCEL: the workflow goes on at once; the activity learns of it from its heartbeat."""
    tq = unique("cmp")
    key = unique("cmp-try")
    call = ActivityCall("heartbeat_until_cancelled", [key], start_to_close_s=30, heartbeat_s=2)
    async with new_worker(client, tq, [CancelActivityWorkflow], [heartbeat_until_cancelled]):
        handle = await client.start_workflow(CancelActivityWorkflow.run, call, id=unique("cmp-try"), task_queue=tq)
        await wait_until(lambda: key in STARTED, what="activity start")
        await handle.signal(CancelActivityWorkflow.cancel_activity)
        await finish(handle)
        await wait_until(lambda: key in CANCELLED, what="activity cancelled")
        return handle


@scenario
async def cancel_synchronous_activity(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    key = unique("cmp-sync")
    call = ActivityCall(
        "sync_heartbeat_until_cancelled", [key], start_to_close_s=30, heartbeat_s=2, wait_cancellation_completed=True
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        async with new_worker(
            client, tq, [CancelActivityWorkflow], [sync_heartbeat_until_cancelled], activity_executor=pool
        ):
            handle = await client.start_workflow(CancelActivityWorkflow.run, call, id=unique("cmp-sync"), task_queue=tq)
            await wait_until(lambda: key in STARTED, what="activity start")
            await handle.signal(CancelActivityWorkflow.cancel_activity)
            assert await handle.result() == "ActivityError/CancelledError"
            return handle


@scenario
async def cancel_unstarted_activity(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    call = ActivityCall(
        "greet", ["x"], task_queue=unique("cmp-nobody"), start_to_close_s=5, wait_cancellation_completed=True
    )
    async with new_worker(client, tq, [CancelActivityWorkflow]):
        handle = await client.start_workflow(CancelActivityWorkflow.run, call, id=unique("cmp-unstarted"), task_queue=tq)
        await wait_for_event(handle, "ActivityTaskScheduled")
        await handle.signal(CancelActivityWorkflow.cancel_activity)
        return await finish(handle)


@scenario
async def continue_as_new_first_run(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [ContinueAsNewWorkflow]):
        handle = await client.start_workflow(ContinueAsNewWorkflow.run, 2, id=unique("cmp-can"), task_queue=tq)
        await handle.result()  # follows to the last run
    return client.get_workflow_handle(handle.id, run_id=handle.result_run_id)


@scenario
async def zero_durations(client: Client) -> WorkflowHandle:
    tq = unique("cmp")
    async with new_worker(client, tq, [ZeroDurationsWorkflow], [greet]):
        handle = await client.start_workflow(ZeroDurationsWorkflow.run, id=unique("cmp-zero"), task_queue=tq)
        await asyncio.wait_for(handle.result(), 30)
        return handle


@scenario
async def schedule_started_runs(client: Client) -> WorkflowHandle:
    """The second run a schedule starts (it gets the first one's result)."""
    tq = unique("cmp")
    async with new_worker(client, tq, [ScheduledWorkflow]):
        schedule = await client.create_schedule(
            unique("cmp-sched"),
            Schedule(
                action=ScheduleActionStartWorkflow(ScheduledWorkflow.run, "chain", id=unique("cmp-sched"), task_queue=tq),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
                state=ScheduleState(paused=True),
            ),
        )
        for n in (1, 2):
            await schedule.trigger()

            async def acted_and_heard(n: int = n) -> bool:
                info = (await schedule.describe()).info
                return info.num_actions == n and not info.running_actions

            await wait_until(acted_and_heard, what=f"scheduled run {n} started and closed")
        run = (await schedule.describe()).info.recent_actions[-1].action
        await schedule.delete()
        return await finish(client.get_workflow_handle(run.workflow_id, run_id=run.first_execution_run_id))


def duration_summary(kind: str, attributes, name: str, value: timedelta) -> object:
    """A duration's value, or only whether it is zero where the value depends on timing: a
    retried workflow task's timeout (Temporal writes what was left of it) and a continued
    run's first-task backoff (Temporal spaces runs of one workflow id a second apart)."""
    transient_task = kind == "workflow_task_scheduled_event_attributes" and attributes.attempt > 1
    if transient_task or name == "first_workflow_task_backoff":
        return "zero" if value == timedelta(0) else "positive"
    return value


def summarize(event: HistoryEvent) -> tuple:
    """Event type plus the deterministic fields of its attributes. Durations count too, and
    a zero duration is not an absent one (protojson shows the first as "0s")."""
    kind = event.WhichOneof("attributes")
    details: dict[str, object] = {}
    if kind:
        attributes = getattr(event, kind)
        for field, value in attributes.ListFields():
            if field.name.endswith("_event_id") or field.name in ("attempt", "retry_state", "cause"):
                details[field.name] = value
            elif field.message_type is not None and field.message_type.full_name == "google.protobuf.Duration":
                details[field.name] = duration_summary(kind, attributes, field.name, value.ToTimedelta())
        if attributes.DESCRIPTOR.fields_by_name.get("failure") and attributes.HasField("failure"):
            failure = attributes.failure
            details["failure"] = failure.WhichOneof("failure_info")
            if failure.HasField("timeout_failure_info"):
                details["timeout_type"] = failure.timeout_failure_info.timeout_type
    return (event_type_name(event), event.event_id, tuple(sorted(details.items())))


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_history_matches_reference(name: str, client: Client, reference_client: Client) -> None:
    run = SCENARIOS[name]
    ours, reference = await asyncio.gather(run(client), run(reference_client))
    our_events = [summarize(e) for e in await history_events(ours)]
    reference_events = [summarize(e) for e in await history_events(reference)]
    assert [e[0] for e in our_events] == [e[0] for e in reference_events], "event types differ"
    assert our_events == reference_events
