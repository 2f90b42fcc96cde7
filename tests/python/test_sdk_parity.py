"""Behaviours SDK programs rely on, as Temporal 1.32 has them: run ids, summaries on events
and in DescribeWorkflowExecution, cancelling a closed run, timeouts of an activity nobody
picked up, the continue-as-new suggestion, updates a closing workflow leaves unfinished,
update-with-start under each conflict and reuse policy, and eager workflow start.

Every test here passes against `temporal server start-dev` started with the dynamic config
the SDKs' own test setups give it (conftest.SDK_DYNAMIC_CONFIG), e.g.
    temporal server start-dev --headless --port 17233 \\
        --dynamic-config-value limit.historyCount.suggestContinueAsNew=50 ...
    SUNDIAL_TEST_ADDRESS=127.0.0.1:17233 SUNDIAL_TEST_TARGET_KIND=temporal \\
        pytest tests/python/test_sdk_parity.py
"""

from __future__ import annotations

import json
import uuid

import pytest
from temporalio.api.enums.v1 import DescribeTaskQueueMode, EventType, RetryState, TaskQueueType, TimeoutType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeTaskQueueResponse
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from conftest import Target
from helpers import event_type_name, history_events, new_worker, run_cli, unique, wait_for_event, wait_until
from workflows_parity import (
    HoldingWorkflow,
    NeverStartedActivityWorkflow,
    QuickWorkflow,
    SuggestedWorkflow,
    SummarizedWorkflow,
    echo,
)


async def test_started_runs_get_uuid_v7_and_continued_ones_v4(client: Client) -> None:
    """As on Temporal 1.32: StartWorkflowExecution gives a time-ordered UUIDv7 run id; the
    run that continues it, a random UUIDv4."""
    tq = unique("v7")
    async with new_worker(client, tq, workflows=[HoldingWorkflow]):
        handle = await client.start_workflow(HoldingWorkflow.run, id=unique("v7"), task_queue=tq)
        await handle.signal(HoldingWorkflow.finish, "continue")
        first = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        await wait_for_event(first, "WorkflowExecutionContinuedAsNew")
        current = client.get_workflow_handle(handle.id)
        await current.signal(HoldingWorkflow.finish, "complete")
        assert await current.result() == ["continued"]
        description = await current.describe()
    assert uuid.UUID(handle.result_run_id).version == 7
    assert description.run_id != handle.result_run_id
    assert uuid.UUID(description.run_id).version == 4


def summary_of(event) -> str:
    return json.loads(event.user_metadata.summary.data)


async def test_summaries_are_kept_on_events_and_described(client: Client) -> None:
    tq = unique("meta")
    async with new_worker(client, tq, workflows=[SummarizedWorkflow], activities=[echo]):
        handle = await client.start_workflow(
            SummarizedWorkflow.run,
            False,
            id=unique("meta"),
            task_queue=tq,
            static_summary="the summary",
            static_details="the details",
        )
        assert await handle.result() == "hi"
    description = await handle.describe()
    assert await description.static_summary() == "the summary"
    assert await description.static_details() == "the details"
    summaries = {
        event_type_name(e): summary_of(e)
        for e in await history_events(handle)
        if e.HasField("user_metadata")
    }
    assert summaries == {
        "WorkflowExecutionStarted": "the summary",
        "ActivityTaskScheduled": "echo summary",
        "TimerStarted": "timer summary",
        "StartChildWorkflowExecutionInitiated": "child summary",
    }
    child = await client.get_workflow_handle(f"{handle.id}-child").describe()
    assert await child.static_summary() == "child summary"
    assert await child.static_details() == "child details"


async def test_cancelling_a_closed_run_succeeds_and_changes_nothing(client: Client) -> None:
    tq = unique("cancel-closed")
    async with new_worker(client, tq, workflows=[QuickWorkflow]):
        handle = await client.start_workflow(QuickWorkflow.run, "done", id=unique("cc"), task_queue=tq)
        assert await handle.result() == "done"
    before = await history_events(handle)
    await handle.cancel()
    await client.get_workflow_handle(handle.id).cancel()
    assert len(await history_events(handle)) == len(before)


async def test_an_activity_nobody_started_times_out_schedule_to_start(client: Client) -> None:
    """Only a schedule-to-close timeout: it bounds schedule-to-start too, and an activity
    that never started is reported as a SCHEDULE_TO_START timeout, not retried."""
    tq = unique("s2s")
    async with new_worker(client, tq, workflows=[NeverStartedActivityWorkflow]):
        handle = await client.start_workflow(
            NeverStartedActivityWorkflow.run, unique("nobody-polls"), id=unique("s2s"), task_queue=tq
        )
        assert await handle.result() == f"TimeoutError:{TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START}"
    timed_out = [
        e.activity_task_timed_out_event_attributes
        for e in await history_events(handle)
        if event_type_name(e) == "ActivityTaskTimedOut"
    ]
    assert len(timed_out) == 1
    info = timed_out[0].failure.timeout_failure_info
    assert info.timeout_type == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    assert timed_out[0].retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert timed_out[0].failure.message == "activity ScheduleToStart timeout"


async def test_continue_as_new_is_suggested_at_the_configured_history_length(client: Client) -> None:
    tq = unique("suggest")
    async with new_worker(client, tq, workflows=[SuggestedWorkflow]):
        length, size, timers = await client.execute_workflow(
            SuggestedWorkflow.run, 100, id=unique("suggest"), task_queue=tq
        )
    assert timers < 100, "never suggested: is the server started with SDK_DYNAMIC_CONFIG?"
    # Each timer adds five events after the first three: the first workflow task started at
    # or past event 50 carries the suggestion.
    assert (length, timers) == (53, 10)
    assert size > 1000


@pytest.mark.parametrize("how", ["complete", "fail", "cancel", "terminate", "continue"])
async def test_an_accepted_update_fails_when_its_workflow_closes(client: Client, how: str) -> None:
    tq = unique("hold")
    async with new_worker(client, tq, workflows=[HoldingWorkflow]):
        handle = await client.start_workflow(HoldingWorkflow.run, id=unique("hold"), task_queue=tq)
        update = await handle.start_update(
            HoldingWorkflow.hold, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        if how == "cancel":
            await handle.cancel()
        elif how == "terminate":
            await handle.terminate("stop")
        else:
            await handle.signal(HoldingWorkflow.finish, how)
        first = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        for attempt in (update, first.get_update_handle(update.id)):
            with pytest.raises(WorkflowUpdateFailedError) as failed:
                await attempt.result()
            cause = failed.value.cause
            assert isinstance(cause, ApplicationError), cause
            assert cause.type == "AcceptedUpdateCompletedWorkflow"
            assert cause.message == (
                "Workflow Update failed because the Workflow completed before the Update completed."
            )
            assert cause.non_retryable
        if how == "continue":
            await client.get_workflow_handle(handle.id).terminate("done")


async def test_update_with_start_follows_the_conflict_and_reuse_policies(client: Client) -> None:
    tq = unique("uws")
    wid = unique("uws")

    def start(
        conflict: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.FAIL,
        reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    ) -> WithStartWorkflowOperation:
        return WithStartWorkflowOperation(
            HoldingWorkflow.run, id=wid, task_queue=tq, id_conflict_policy=conflict, id_reuse_policy=reuse
        )

    async def update(op: WithStartWorkflowOperation, value: str) -> str:
        return await client.execute_update_with_start_workflow(
            HoldingWorkflow.apply, value, start_workflow_operation=op, id=f"update-{value}"
        )

    async def run_of(op: WithStartWorkflowOperation) -> str | None:
        return (await op.workflow_handle()).result_run_id

    async with new_worker(client, tq, workflows=[HoldingWorkflow]):
        # Nothing runs under the id: a run starts and takes the update.
        first = start()
        assert await update(first, "a") == "applied a"
        run = await run_of(first)
        # Running, FAIL, a new update: the start fails.
        with pytest.raises(WorkflowAlreadyStartedError):
            await update(start(), "b")
        # Running, FAIL, an update the run already did: its outcome, from the same run.
        again = start()
        assert await update(again, "a") == "applied a"
        assert await run_of(again) == run
        # Running, USE_EXISTING: the running run takes the update.
        existing = start(WorkflowIDConflictPolicy.USE_EXISTING)
        assert await update(existing, "c") == "applied c"
        assert await run_of(existing) == run
        current = client.get_workflow_handle(wid)
        await current.signal(HoldingWorkflow.finish, "complete")
        assert await current.result() == ["a", "c"]
        # Closed with the update done: its outcome, and no new run.
        done = start()
        assert await update(done, "c") == "applied c"
        assert await run_of(done) == run
        # Closed, a new update, the reuse policy refuses: the start fails.
        with pytest.raises(WorkflowAlreadyStartedError):
            await update(start(reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE), "d")
        # Closed, a new update, the reuse policy allows: a new run takes it.
        fresh = start()
        assert await update(fresh, "d") == "applied d"
        assert await run_of(fresh) != run
        await client.get_workflow_handle(wid).terminate("done")


async def test_eager_start_hands_the_first_task_to_the_starting_worker(client: Client) -> None:
    tq = unique("eager")
    async with new_worker(client, tq, workflows=[QuickWorkflow]) as worker:
        handle = await worker.client.start_workflow(
            QuickWorkflow.run, "eager", id=unique("eager"), task_queue=tq, request_eager_start=True
        )
        assert await handle.result() == "eager"
    assert getattr(handle, "__temporal_eagerly_started")
    events = await history_events(handle)
    assert events[0].workflow_execution_started_event_attributes.eager_execution_accepted
    assert [event_type_name(e) for e in events] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]


async def test_events_and_describe_carry_the_workers_build_id(client: Client) -> None:
    """The build id a worker runs is on the events of the tasks it started and completed, and
    DescribeWorkflowExecution shows it, the run's auto-reset point for it, and its extended
    info (the original start and the request id that started it)."""
    tq = unique("build")
    async with new_worker(client, tq, workflows=[SummarizedWorkflow], activities=[echo]):
        handle = await client.start_workflow(SummarizedWorkflow.run, False, id=unique("build"), task_queue=tq)
        await handle.result()
    events = {event_type_name(e): e for e in reversed(await history_events(handle))}
    build = events["WorkflowTaskCompleted"].workflow_task_completed_event_attributes.worker_version.build_id
    assert build
    assert events["WorkflowTaskStarted"].workflow_task_started_event_attributes.worker_version.build_id == build
    assert events["ActivityTaskStarted"].activity_task_started_event_attributes.worker_version.build_id == build
    raw = (await handle.describe()).raw_description
    info = raw.workflow_execution_info
    assert info.most_recent_worker_version_stamp.build_id == build
    [point] = info.auto_reset_points.points
    assert (point.build_id, point.first_workflow_task_completed_id, point.resettable) == (build, 4, True)
    assert point.run_id == handle.result_run_id
    extended = raw.workflow_extended_info
    assert extended.original_start_time.ToDatetime() == info.start_time.ToDatetime()
    assert [(i.event_id, i.event_type) for i in extended.request_id_infos.values()] == [
        (1, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    ]


async def test_describe_task_queue_in_each_form(client: Client, cli: str, target: Target) -> None:
    """The stats form the SDKs use, the per-version form `temporal task-queue describe` uses,
    and the CLI's table: pollers with their build ids, the (empty) backlog, unversioned."""
    tq = unique("dtq")
    async with new_worker(client, tq, workflows=[QuickWorkflow]):
        handle = await client.start_workflow(QuickWorkflow.run, "x", id=unique("dtq"), task_queue=tq)
        await handle.result()

        async def describe(**kwargs) -> DescribeTaskQueueResponse:
            return await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=tq), **kwargs)
            )

        # Approximate on both servers: a task just started may still be counted a moment.
        async def drained() -> bool:
            return (await describe(report_stats=True)).stats.approximate_backlog_count == 0

        await wait_until(drained, what="an empty backlog")
        stats = await describe(report_stats=True)
        [poller] = stats.pollers
        assert poller.worker_version_capabilities.build_id
        assert list(stats.stats_by_priority_key) == [3]
        assert stats.versioning_info.current_version == "__unversioned__"
        enhanced = await describe(
            api_mode=DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED, report_stats=True, report_pollers=True
        )
        types = enhanced.versions_info[""].types_info
        assert sorted(types) == [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]
        assert [p.identity for p in types[TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW].pollers] == [poller.identity]
        table = await run_cli(
            cli, "task-queue", "describe", "--task-queue", tq,
            "--address", target.cli_address or target.address, "--namespace", target.namespace,
        )
        assert table.returncode == 0, table.stderr
        assert "UNVERSIONED  workflow" in table.stdout and "UNVERSIONED  activity" in table.stdout
        assert poller.identity in table.stdout
