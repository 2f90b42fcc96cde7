"""History comparisons (target vs. a reference Temporal server, see test_compare.py)
for queries, updates, sticky execution, repeated workflow task failures/timeouts,
local activity retries, workflow retries, memos and activity heartbeat details.

Besides test_compare.summarize's fields, the summary holds the task queue kind of every
WorkflowTaskScheduled (normal/sticky), the update id/name/outcome of update events,
the workflow task timeout type, marker names, upserted memo keys and the start
initiator. Every scenario is race-free: each external input is sent at a point where
the workflow's state is known."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Awaitable, Callable

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueKind, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    RecordActivityTaskHeartbeatRequest,
    ResetStickyTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
    RespondWorkflowTaskFailedRequest,
)
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from helpers import history_events, new_worker, unique, wait_for_event, wait_until
from test_compare import finish, summarize
from workflows import ActivityCall, EchoWorkflow, RunActivityWorkflow
from workflows_interactive import (
    STARTED,
    TASK_TOKENS,
    AsyncActivityWorkflow,
    CounterWorkflow,
    FailingTaskWorkflow,
    LocalRetryWorkflow,
    MemoWorkflow,
    RetryOnceWorkflow,
    StepsWorkflow,
    checkpoint_then_stall,
    complete_later,
    local_flaky,
)

Scenario = Callable[[Client], Awaitable[list[WorkflowHandle]]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


async def idle_counter(client: Client, tq: str, start: int = 0) -> WorkflowHandle:
    handle = await client.start_workflow(CounterWorkflow.run, start, id=unique("cmpi"), task_queue=tq)
    await wait_for_event(handle, "WorkflowTaskCompleted")
    return handle


def poll(client: Client, tq: str, identity: str = "raw"):
    return client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=tq), identity=identity)
    )


# --- queries ---------------------------------------------------------------


@scenario
async def queries_leave_no_events(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq, 1)
        assert await handle.query(CounterWorkflow.current) == 1
        await handle.signal(CounterWorkflow.add, 2)
        assert await handle.query(CounterWorkflow.current) == 3
        try:
            await handle.query(CounterWorkflow.broken)
        except Exception:
            pass
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def query_during_in_flight_task(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    handle = await client.start_workflow(
        CounterWorkflow.run, 5, id=unique("cmpi"), task_queue=tq, task_timeout=timedelta(seconds=1)
    )
    await poll(client, tq, "stalled")
    await handle.signal(CounterWorkflow.add, 3)
    query = asyncio.create_task(handle.query(CounterWorkflow.current, rpc_timeout=timedelta(seconds=20)))
    await asyncio.sleep(0.2)
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await query == 8
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


# --- updates ---------------------------------------------------------------


@scenario
async def update_completed(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq, 1)
        assert await handle.execute_update(CounterWorkflow.increment, 2, id="upd") == 3
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def update_rejected(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq, 1)
        try:
            await handle.execute_update(CounterWorkflow.increment, -2, id="rejected")
        except WorkflowUpdateFailedError:
            pass
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def update_handler_fails(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq)
        try:
            await handle.execute_update(CounterWorkflow.explode, "kaboom", id="boom")
        except WorkflowUpdateFailedError:
            pass
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def update_completed_in_later_task(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq)
        update = await handle.start_update(
            CounterWorkflow.increment_when_released, 4, id="later", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await handle.signal(CounterWorkflow.release)
        assert await update.result() == 4
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def update_deduplicated(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq)
        assert await handle.execute_update(CounterWorkflow.increment, 1, id="same") == 1
        assert await handle.execute_update(CounterWorkflow.increment, 1, id="same") == 1
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def update_with_start_new(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        start = WithStartWorkflowOperation(
            CounterWorkflow.run, 0, id=unique("cmpi"), task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
        )
        assert await client.execute_update_with_start_workflow(
            CounterWorkflow.increment, 2, start_workflow_operation=start, id="uws"
        ) == 2
        handle = await start.workflow_handle()
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def update_with_start_existing(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq, 10)
        start = WithStartWorkflowOperation(
            CounterWorkflow.run, 0, id=handle.id, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
        )
        assert await client.execute_update_with_start_workflow(
            CounterWorkflow.increment, 2, start_workflow_operation=start, id="uws"
        ) == 12
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


# --- sticky execution ----------------------------------------------------------


@scenario
async def sticky_steps(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [StepsWorkflow]):
        return [await finish(await client.start_workflow(StepsWorkflow.run, 3, id=unique("cmpi"), task_queue=tq))]


@scenario
async def sticky_worker_restart(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq, 1)
        await handle.signal(CounterWorkflow.add, 1)
        assert await handle.query(CounterWorkflow.current) == 2
    await handle.signal(CounterWorkflow.add, 10)
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await handle.query(CounterWorkflow.current) == 12
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def sticky_queue_without_poller(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    handle = await client.start_workflow(CounterWorkflow.run, 1, id=unique("cmpi"), task_queue=tq)
    task = await poll(client, tq)
    sticky = TaskQueue(name=unique("sticky-nobody"), kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY, normal_name=tq)
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=client.namespace,
            task_token=task.task_token,
            identity="raw",
            sticky_attributes=StickyExecutionAttributes(worker_task_queue=sticky, schedule_to_start_timeout=Duration(seconds=5)),
        )
    )
    await handle.signal(CounterWorkflow.add, 1)
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await handle.query(CounterWorkflow.current) == 2
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


@scenario
async def reset_sticky(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await idle_counter(client, tq, 1)
        await handle.signal(CounterWorkflow.add, 1)
        assert await handle.query(CounterWorkflow.current) == 2
        await client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id))
        )
        await handle.signal(CounterWorkflow.finish)
        return [await finish(handle)]


# --- workflow task failures and timeouts -------------------------------------------


@scenario
async def workflow_task_fails_repeatedly(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [FailingTaskWorkflow]):
        handle = await client.start_workflow(
            FailingTaskWorkflow.run, 3, id=unique("cmpi"), task_queue=tq, task_timeout=timedelta(seconds=1)
        )
        return [await finish(handle)]


@scenario
async def workflow_task_failed_by_raw_worker(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    handle = await client.start_workflow(EchoWorkflow.run, "x", id=unique("cmpi"), task_queue=tq)
    for attempt in (1, 2, 3):
        task = await poll(client, tq)
        await client.workflow_service.respond_workflow_task_failed(
            RespondWorkflowTaskFailedRequest(
                namespace=client.namespace,
                task_token=task.task_token,
                cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                failure=Failure(message=f"raw failure {attempt}"),
            )
        )
    async with new_worker(client, tq, [EchoWorkflow]):
        return [await finish(handle)]


@scenario
async def workflow_task_times_out_twice(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    handle = await client.start_workflow(
        EchoWorkflow.run, "x", id=unique("cmpi"), task_queue=tq, task_timeout=timedelta(seconds=1)
    )
    await poll(client, tq, "stalled-1")
    await poll(client, tq, "stalled-2")
    async with new_worker(client, tq, [EchoWorkflow]):
        return [await finish(handle)]


# --- local activities, workflow retries, memo ----------------------------------------


@scenario
async def local_activity_retry(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [LocalRetryWorkflow], [local_flaky]):
        return [await finish(await client.start_workflow(LocalRetryWorkflow.run, unique("la"), id=unique("cmpi"), task_queue=tq))]


@scenario
async def workflow_retry_then_success(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [RetryOnceWorkflow]):
        handle = await client.start_workflow(
            RetryOnceWorkflow.run,
            id=unique("cmpi"),
            task_queue=tq,
            memo={"origin": "start"},
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )
        await handle.result()
    return [client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id), client.get_workflow_handle(handle.id)]


@scenario
async def memo_upserted(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [MemoWorkflow]):
        handle = await client.start_workflow(
            MemoWorkflow.run, {"added": 1, "gone": None}, id=unique("cmpi"), task_queue=tq, memo={"gone": "x"}
        )
        await wait_for_event(handle, "WorkflowPropertiesModified")
        await handle.signal(MemoWorkflow.finish)
        return [await finish(handle)]


# --- activity details ---------------------------------------------------------------


@scenario
async def heartbeat_timeout_retry(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    call = ActivityCall("checkpoint_then_stall", [unique("ckpt")], start_to_close_s=30, heartbeat_s=1, max_attempts=2)
    async with new_worker(client, tq, [RunActivityWorkflow], [checkpoint_then_stall]):
        return [await finish(await client.start_workflow(RunActivityWorkflow.run, call, id=unique("cmpi"), task_queue=tq))]


async def start_async_activity(client: Client, tq: str) -> tuple[WorkflowHandle, bytes]:
    key = unique("cmpi")
    handle = await client.start_workflow(AsyncActivityWorkflow.run, key, id=unique("cmpi"), task_queue=tq)
    await wait_until(lambda: key in STARTED, what="activity start")
    return handle, TASK_TOKENS[key]


@scenario
async def activity_failed_by_token(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [AsyncActivityWorkflow], [complete_later]):
        handle, token = await start_async_activity(client, tq)
        await client.get_async_activity_handle(task_token=token).fail(ApplicationError("by token", type="Token"))
        return [await finish(handle)]


@scenario
async def activity_cancelled_through_heartbeat(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmpi")
    async with new_worker(client, tq, [AsyncActivityWorkflow], [complete_later]):
        handle, token = await start_async_activity(client, tq)
        await handle.signal(AsyncActivityWorkflow.cancel)
        await wait_for_event(handle, "ActivityTaskCancelRequested")
        response = await client.workflow_service.record_activity_task_heartbeat(
            RecordActivityTaskHeartbeatRequest(namespace=client.namespace, task_token=token)
        )
        assert response.cancel_requested
        await client.get_async_activity_handle(task_token=token).report_cancellation("bye")
        return [await finish(handle)]


# --- comparison ---------------------------------------------------------------------


def summarize_interactive(event: HistoryEvent) -> tuple:
    name, event_id, details = summarize(event)
    extra: dict[str, object] = dict(details)
    if event.HasField("workflow_task_scheduled_event_attributes"):
        extra["task_queue_kind"] = event.workflow_task_scheduled_event_attributes.task_queue.kind
    elif event.HasField("workflow_task_timed_out_event_attributes"):
        extra["timeout_type"] = event.workflow_task_timed_out_event_attributes.timeout_type
    elif event.HasField("workflow_execution_update_accepted_event_attributes"):
        accepted = event.workflow_execution_update_accepted_event_attributes
        extra["update_id"] = accepted.accepted_request.meta.update_id
        extra["update_name"] = accepted.accepted_request.input.name
        extra["protocol_instance_id"] = accepted.protocol_instance_id
    elif event.HasField("workflow_execution_update_completed_event_attributes"):
        completed = event.workflow_execution_update_completed_event_attributes
        extra["update_id"] = completed.meta.update_id
        extra["outcome"] = completed.outcome.WhichOneof("value")
    elif event.HasField("marker_recorded_event_attributes"):
        extra["marker_name"] = event.marker_recorded_event_attributes.marker_name
    elif event.HasField("workflow_properties_modified_event_attributes"):
        extra["upserted_memo"] = tuple(sorted(event.workflow_properties_modified_event_attributes.upserted_memo.fields))
    elif event.HasField("workflow_execution_started_event_attributes"):
        started = event.workflow_execution_started_event_attributes
        extra["initiator"] = started.initiator
        extra["memo"] = tuple(sorted(started.memo.fields))
    return (name, event_id, tuple(sorted(extra.items())))


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_interactive_history_matches_reference(name: str, client: Client, reference_client: Client) -> None:
    run = SCENARIOS[name]
    ours, reference = await asyncio.gather(run(client), run(reference_client))
    assert len(ours) == len(reference)
    for our_handle, reference_handle in zip(ours, reference):
        our_events = [summarize_interactive(e) for e in await history_events(our_handle)]
        reference_events = [summarize_interactive(e) for e in await history_events(reference_handle)]
        assert [e[0] for e in our_events] == [e[0] for e in reference_events], "event types differ"
        assert our_events == reference_events
