"""Execution lifecycle through the raw WorkflowService API: cron runs, continue-as-new
chains, DeleteWorkflowExecution, ResetWorkflowExecution, reverse history paging,
DescribeTaskQueue pollers, ResetStickyTaskQueue, and task tokens that are only good in
the namespace that issued them."""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    ResetReapplyExcludeType,
    ResetReapplyType,
    TaskQueueKind,
    TaskQueueType,
    WorkflowTaskFailedCause,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DeleteWorkflowExecutionRequest,
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    RegisterNamespaceRequest,
    ResetStickyTaskQueueRequest,
    ResetWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from conftest import Target, connect_with_retry
from helpers import event_type_name, history_event_types, history_events, new_worker, unique, wait_deleted, wait_for_event, wait_until
from test_children import WFT
from workflows_children import (
    ASYNC_TOKENS,
    AsyncActivityWorkflow,
    ChainWorkflow,
    ChildWaitWorkflow,
    CollectSignalsWorkflow,
    CronEchoWorkflow,
    ShoutWorkflow,
    complete_later,
    shout,
)

NS = "default"
FIRST_TASK = ["WorkflowExecutionStarted", *WFT]


def execution(handle: WorkflowHandle, run_id: str | None = None) -> WorkflowExecution:
    return WorkflowExecution(workflow_id=handle.id, run_id=run_id or "")


async def task_completions(handle: WorkflowHandle, n: int) -> None:
    async def enough() -> bool:
        return (await history_event_types(handle)).count("WorkflowTaskCompleted") >= n

    await wait_until(enough, what=f"{n} WorkflowTaskCompleted")


def decode(payloads) -> list:
    return DataConverter.default.payload_converter.from_payloads(list(payloads.payloads))


async def expect_not_found(call) -> RPCError:
    with pytest.raises(RPCError) as info:
        await call()
    assert info.value.status == RPCStatusCode.NOT_FOUND, info.value
    return info.value


# ---------------------------------------------------------------------------
# Cron and continue-as-new
# ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_cron_schedule_runs(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CronEchoWorkflow]):
        handle = await client.start_workflow(
            CronEchoWorkflow.run, "cron", id=unique("cron"), task_queue=tq, cron_schedule="* * * * *"
        )
        first_run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        try:
            events = await history_events(first_run)
            started = events[0].workflow_execution_started_event_attributes
            assert started.cron_schedule == "* * * * *"
            # even the first run names the cron schedule as its initiator
            assert started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
            backoff = started.first_workflow_task_backoff.ToTimedelta().total_seconds()
            assert 0 < backoff <= 60
            if backoff > 3:
                # no workflow task until the backoff has passed
                assert [event_type_name(e) for e in events] == ["WorkflowExecutionStarted"]
            desc = await first_run.describe()
            assert desc.status == WorkflowExecutionStatus.RUNNING
            assert desc.execution_time is not None and desc.execution_time > desc.start_time

            await wait_for_event(first_run, "WorkflowExecutionCompleted", timeout=75)
            events = await history_events(first_run)
            assert [event_type_name(e) for e in events] == [*FIRST_TASK, "WorkflowExecutionCompleted"]
            completed = events[-1].workflow_execution_completed_event_attributes
            next_run_id = completed.new_execution_run_id
            assert next_run_id and next_run_id != handle.result_run_id
            assert decode(completed.result) == [f"cron at {handle.result_run_id}"]
            # a cron run completes (it is not CONTINUED_AS_NEW)
            assert (await first_run.describe()).status == WorkflowExecutionStatus.COMPLETED

            second_run = client.get_workflow_handle(handle.id, run_id=next_run_id)
            second_events = await history_events(second_run)
            assert [event_type_name(e) for e in second_events] == ["WorkflowExecutionStarted"]
            second = second_events[0].workflow_execution_started_event_attributes
            assert second.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
            assert second.continued_execution_run_id == handle.result_run_id
            assert second.first_execution_run_id == handle.result_run_id
            assert second.original_execution_run_id == next_run_id
            assert second.cron_schedule == "* * * * *"
            assert 0 < second.first_workflow_task_backoff.ToTimedelta().total_seconds() <= 60
            assert decode(second.last_completion_result) == [f"cron at {handle.result_run_id}"]

            latest = await client.get_workflow_handle(handle.id).describe()
            assert latest.run_id == next_run_id
            assert latest.status == WorkflowExecutionStatus.RUNNING
        finally:
            await client.get_workflow_handle(handle.id).terminate(reason="end of cron test")
    assert (await history_event_types(client.get_workflow_handle(handle.id)))[-1] == "WorkflowExecutionTerminated"


async def test_continue_as_new_chain_of_three_runs(client: Client) -> None:
    tq = unique("tq")
    wid = unique("chain")
    async with new_worker(client, tq, [ChainWorkflow]):
        handle = await client.start_workflow(ChainWorkflow.run, args=[1, 3], id=wid, task_queue=tq)
        assert await handle.result() == 3

    first_run_id = handle.result_run_id
    runs: list[str] = []
    run_id: str | None = first_run_id
    while run_id:
        runs.append(run_id)
        events = await history_events(client.get_workflow_handle(wid, run_id=run_id))
        last = events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.HasField("workflow_execution_continued_as_new_event_attributes")
            else None
        )
    assert len(runs) == 3 and len(set(runs)) == 3

    for number, run in enumerate(runs, start=1):
        run_handle = client.get_workflow_handle(wid, run_id=run)
        events = await history_events(run_handle)
        closing = "WorkflowExecutionCompleted" if number == 3 else "WorkflowExecutionContinuedAsNew"
        assert [event_type_name(e) for e in events] == [*FIRST_TASK, closing]
        started = events[0].workflow_execution_started_event_attributes
        assert started.workflow_id == wid
        assert started.first_execution_run_id == first_run_id
        assert started.original_execution_run_id == run
        assert decode(started.input) == [number, 3]
        if number == 1:
            assert started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_UNSPECIFIED
            assert not started.continued_execution_run_id
        else:
            assert started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
            assert started.continued_execution_run_id == runs[number - 2]
        if number < 3:
            can = events[-1].workflow_execution_continued_as_new_event_attributes
            assert can.workflow_type.name == "ChainWorkflow"
            assert can.task_queue.name == tq
            assert can.workflow_task_completed_event_id == 4
            assert decode(can.input) == [number + 1, 3]

        desc = await run_handle.describe()
        assert desc.id == wid and desc.run_id == run
        assert desc.status == (
            WorkflowExecutionStatus.COMPLETED if number == 3 else WorkflowExecutionStatus.CONTINUED_AS_NEW
        )
        assert desc.raw_description.workflow_execution_info.first_run_id == first_run_id

    latest = await client.get_workflow_handle(wid).describe()
    assert latest.run_id == runs[-1]


# ---------------------------------------------------------------------------
# DeleteWorkflowExecution
# ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_delete_completed_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        handle = await client.start_workflow(CollectSignalsWorkflow.run, 0, id=unique("delete"), task_queue=tq)
        await handle.result()
    response = await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(namespace=NS, workflow_execution=execution(handle, handle.result_run_id))
    )
    assert response.ByteSize() == 0
    # the real server deletes a closed workflow asynchronously (tens of seconds)
    await wait_deleted(handle, timeout=90)
    err = await expect_not_found(lambda: history_events(handle))
    assert handle.id in err.message
    await expect_not_found(
        lambda: client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(namespace=NS, workflow_execution=execution(handle))
        )
    )


async def test_delete_running_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [ChildWaitWorkflow]):
        handle = await client.start_workflow(ChildWaitWorkflow.run, id=unique("delete"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(namespace=NS, workflow_execution=execution(handle))
        )
        # terminated and deleted at once
        await wait_deleted(handle, timeout=30)
    await expect_not_found(lambda: history_events(handle))


async def test_delete_unknown_workflow(client: Client) -> None:
    wid = unique("no-such-workflow")
    err = await expect_not_found(
        lambda: client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(namespace=NS, workflow_execution=WorkflowExecution(workflow_id=wid))
        )
    )
    assert wid in err.message


# ---------------------------------------------------------------------------
# ResetWorkflowExecution
# ---------------------------------------------------------------------------


async def signalled_twice(client: Client, tq: str, complete: bool) -> WorkflowHandle:
    """CollectSignalsWorkflow(2) with signal `a` (and `b` if complete) sent while idle:
    WorkflowTaskCompleted events 4 and 8 (and 12)."""
    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        handle = await client.start_workflow(CollectSignalsWorkflow.run, 2, id=unique("reset"), task_queue=tq)
        await task_completions(handle, 1)
        await handle.signal(CollectSignalsWorkflow.deliver, "a")
        await task_completions(handle, 2)
        if complete:
            await handle.signal(CollectSignalsWorkflow.deliver, "b")
            assert await handle.result() == ["a", "b"]
    # pinned to this run (a reset makes another run the current one)
    return client.get_workflow_handle(handle.id, run_id=handle.result_run_id)


async def reset(client: Client, handle: WorkflowHandle, reason: str, event_id: int = 4, **kwargs) -> str:
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=NS,
            workflow_execution=execution(handle, handle.result_run_id),
            reason=reason,
            request_id=str(uuid.uuid4()),
            workflow_task_finish_event_id=event_id,
            **kwargs,
        )
    )
    assert response.run_id and response.run_id != handle.result_run_id
    return response.run_id


def check_reset_prefix(base_events, new_events, reason: str, base_run: str, new_run: str) -> None:
    """Events 1-3 copied from the base run, then the reset's WorkflowTaskFailed."""
    for copied, original in zip(new_events[:3], base_events[:3]):
        assert copied.event_id == original.event_id
        assert copied.event_type == original.event_type
        kind = original.WhichOneof("attributes")
        assert getattr(copied, kind) == getattr(original, kind)
    failed = new_events[3]
    assert event_type_name(failed) == "WorkflowTaskFailed" and failed.event_id == 4
    attrs = failed.workflow_task_failed_event_attributes
    assert attrs.scheduled_event_id == 2
    assert attrs.started_event_id == 3
    assert attrs.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert attrs.failure.message == reason
    assert attrs.failure.HasField("reset_workflow_failure_info")
    assert attrs.base_run_id == base_run
    assert attrs.new_run_id == new_run
    started = new_events[0].workflow_execution_started_event_attributes
    assert started.original_execution_run_id == base_run
    assert started.first_execution_run_id == base_run


async def test_reset_completed_workflow(client: Client) -> None:
    tq = unique("tq")
    base = await signalled_twice(client, tq, complete=True)
    base_events = await history_events(base)
    assert [event_type_name(e) for e in base_events] == [
        *FIRST_TASK,
        "WorkflowExecutionSignaled",
        *WFT,
        "WorkflowExecutionSignaled",
        *WFT,
        "WorkflowExecutionCompleted",
    ]

    new_run = await reset(client, base, "reset completed")
    new = client.get_workflow_handle(base.id, run_id=new_run)
    new_events = await history_events(new)
    # no worker yet: the new run waits with both signals reapplied
    assert [event_type_name(e) for e in new_events] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        "WorkflowExecutionSignaled",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]
    check_reset_prefix(base_events, new_events, "reset completed", base.result_run_id, new_run)
    reapplied = [e.workflow_execution_signaled_event_attributes for e in new_events[4:6]]
    originals = [base_events[4], base_events[8]]
    for copy, original in zip(reapplied, originals):
        assert copy.signal_name == "deliver"
        assert copy.input == original.workflow_execution_signaled_event_attributes.input
    assert [decode(s.input) for s in reapplied] == [["a"], ["b"]]
    scheduled = new_events[6].workflow_task_scheduled_event_attributes
    assert scheduled.task_queue.name == tq
    assert scheduled.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL

    # the base run stays as it was; the new run is the current one
    assert (await base.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert len(await history_events(base)) == len(base_events)
    current = await client.get_workflow_handle(base.id).describe()
    assert current.run_id == new_run
    assert current.status == WorkflowExecutionStatus.RUNNING

    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        assert await new.result() == ["a", "b"]
    assert (await history_event_types(new))[7:] == [
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]


async def test_reset_running_workflow_terminates_it(client: Client) -> None:
    tq = unique("tq")
    base = await signalled_twice(client, tq, complete=False)
    base_events = await history_events(base)
    assert len(base_events) == 8

    new_run = await reset(client, base, "reset running")
    base_types = await history_event_types(base)
    assert base_types == [*FIRST_TASK, "WorkflowExecutionSignaled", *WFT, "WorkflowExecutionTerminated"]
    terminated = (await history_events(base))[-1].workflow_execution_terminated_event_attributes
    assert terminated.reason == "reset running"
    assert (await base.describe()).status == WorkflowExecutionStatus.TERMINATED

    new = client.get_workflow_handle(base.id, run_id=new_run)
    new_events = await history_events(new)
    assert [event_type_name(e) for e in new_events] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
    ]
    check_reset_prefix(base_events, new_events, "reset running", base.result_run_id, new_run)
    assert decode(new_events[4].workflow_execution_signaled_event_attributes.input) == ["a"]

    # signals by workflow id now go to the new run
    await client.get_workflow_handle(base.id).signal(CollectSignalsWorkflow.deliver, "b")
    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        assert await new.result() == ["a", "b"]
    assert await history_event_types(new) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
        "WorkflowExecutionSignaled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]


@pytest.mark.parametrize(
    "options",
    [
        {"reset_reapply_type": ResetReapplyType.RESET_REAPPLY_TYPE_NONE},
        {"reset_reapply_exclude_types": [ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL]},
    ],
    ids=["reapply-none", "exclude-signals"],
)
async def test_reset_without_reapplying_signals(client: Client, options: dict) -> None:
    tq = unique("tq")
    base = await signalled_twice(client, tq, complete=True)
    base_events = await history_events(base)
    new_run = await reset(client, base, "no signals", **options)
    new = client.get_workflow_handle(base.id, run_id=new_run)
    new_events = await history_events(new)
    assert [event_type_name(e) for e in new_events] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        "WorkflowTaskScheduled",
    ]
    check_reset_prefix(base_events, new_events, "no signals", base.result_run_id, new_run)
    await new.terminate(reason="cleanup")


@pytest.mark.parametrize("event_id", [0, 2, 99], ids=["zero", "not-a-task-end", "past-the-end"])
async def test_reset_to_invalid_event(client: Client, event_id: int) -> None:
    tq = unique("tq")
    base = await signalled_twice(client, tq, complete=True)
    with pytest.raises(RPCError) as info:
        await reset(client, base, "bad point", event_id=event_id)
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert (await client.get_workflow_handle(base.id).describe()).run_id == base.result_run_id


async def test_reset_unknown_workflow(client: Client) -> None:
    await expect_not_found(
        lambda: client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=NS,
                workflow_execution=WorkflowExecution(workflow_id=unique("no-such-workflow")),
                reason="nothing",
                request_id=str(uuid.uuid4()),
                workflow_task_finish_event_id=4,
            )
        )
    )


# ---------------------------------------------------------------------------
# GetWorkflowExecutionHistoryReverse
# ---------------------------------------------------------------------------


async def reverse_pages(client: Client, handle: WorkflowHandle, page_size: int) -> list[list]:
    pages: list[list] = []
    token = b""
    while True:
        response = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=NS, execution=execution(handle), maximum_page_size=page_size, next_page_token=token
            )
        )
        pages.append(list(response.history.events))
        token = response.next_page_token
        if not token:
            return pages
        assert len(pages) < 100, "reverse paging does not end"


async def test_history_reverse_paging(client: Client) -> None:
    tq = unique("tq")
    handle = await signalled_twice(client, tq, complete=True)
    forward = await history_events(handle)
    assert len(forward) == 13

    pages = await reverse_pages(client, handle, page_size=2)
    events = [e for page in pages for e in page]
    assert [e.event_id for e in events] == list(range(13, 0, -1))
    assert events == list(reversed(forward))
    assert len(pages) > 1
    assert all(pages), "empty page"
    assert event_type_name(events[0]) == "WorkflowExecutionCompleted"

    # without a page size everything comes in one page
    whole = await reverse_pages(client, handle, page_size=0)
    assert len(whole) == 1
    assert whole[0] == list(reversed(forward))


async def test_history_reverse_running_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [ChildWaitWorkflow]):
        handle = await client.start_workflow(ChildWaitWorkflow.run, id=unique("reverse"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        pages = await reverse_pages(client, handle, page_size=1)
        events = [e for page in pages for e in page]
        assert [event_type_name(e) for e in events] == list(reversed(FIRST_TASK))
        assert [e.event_id for e in events] == [4, 3, 2, 1]
        await handle.terminate(reason="cleanup")


async def test_history_reverse_unknown_workflow(client: Client) -> None:
    await expect_not_found(
        lambda: client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=NS, execution=WorkflowExecution(workflow_id=unique("no-such-workflow"))
            )
        )
    )


# ---------------------------------------------------------------------------
# DescribeTaskQueue and ResetStickyTaskQueue
# ---------------------------------------------------------------------------


async def pollers(client: Client, tq: str, kind: int) -> list:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=NS,
            task_queue=TaskQueue(name=tq, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=kind,
        )
    )
    return list(response.pollers)


@pytest.mark.parametrize(
    "kind", [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY], ids=["workflow", "activity"]
)
async def test_describe_task_queue_lists_pollers(client: Client, kind: int) -> None:
    tq = unique("tq")
    identity = unique("poller-identity")
    async with new_worker(client, tq, [ShoutWorkflow], [shout], identity=identity):
        # a round trip makes sure the worker polls both queues
        assert await client.execute_workflow(ShoutWorkflow.run, "hi", id=unique("shout"), task_queue=tq) == "HI"

        async def listed() -> bool:
            return identity in [p.identity for p in await pollers(client, tq, kind)]

        await wait_until(listed, what="the worker among the pollers")
        poller = next(p for p in await pollers(client, tq, kind) if p.identity == identity)
        assert poller.last_access_time.seconds > 0


@pytest.mark.parametrize(
    "kind", [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY], ids=["workflow", "activity"]
)
async def test_describe_unknown_task_queue(client: Client, kind: int) -> None:
    assert await pollers(client, unique("tq-nobody"), kind) == []


async def test_reset_sticky_task_queue(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        handle = await client.start_workflow(CollectSignalsWorkflow.run, 2, id=unique("sticky"), task_queue=tq)
        await task_completions(handle, 1)
        await handle.signal(CollectSignalsWorkflow.deliver, "a")
        await task_completions(handle, 2)
        response = await client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(namespace=NS, execution=execution(handle))
        )
        assert response.ByteSize() == 0
        await handle.signal(CollectSignalsWorkflow.deliver, "b")
        assert await handle.result() == ["a", "b"]

    events = await history_events(handle)
    assert [event_type_name(e) for e in events] == [
        *FIRST_TASK,
        "WorkflowExecutionSignaled",
        *WFT,
        "WorkflowExecutionSignaled",
        *WFT,
        "WorkflowExecutionCompleted",
    ]
    # the task after the first signal went to the worker's sticky queue; after the
    # reset, the next one goes to the normal queue again
    sticky = events[5].workflow_task_scheduled_event_attributes.task_queue
    assert sticky.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY
    assert sticky.normal_name == tq
    normal = events[9].workflow_task_scheduled_event_attributes.task_queue
    assert normal.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    assert normal.name == tq


async def test_reset_sticky_task_queue_unknown_workflow(client: Client) -> None:
    await expect_not_found(
        lambda: client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(
                namespace=NS, execution=WorkflowExecution(workflow_id=unique("no-such-workflow"))
            )
        )
    )


# ---------------------------------------------------------------------------
# Task tokens belong to their namespace
# ---------------------------------------------------------------------------


async def usable_namespace(client: Client, target: Target) -> Client:
    """Register a namespace and wait until calls in it work (the real server may take
    a moment to see a new namespace)."""
    name = unique("ns-token")
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=24 * 3600))
    )
    other = await connect_with_retry(target.address, name)

    async def ready() -> bool:
        try:
            await other.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
            await other.get_workflow_handle("probe").describe()
        except RPCError as err:
            # "workflow not found" means the namespace itself was found
            return err.status == RPCStatusCode.NOT_FOUND and "workflow" in err.message.lower()
        return True

    await wait_until(ready, timeout=30, interval=0.5, what=f"namespace {name} usable")
    return other


async def test_task_token_is_bound_to_its_namespace(client: Client, target: Target) -> None:
    other = await usable_namespace(client, target)
    tq = unique("tq")
    key = unique("token")
    async with new_worker(client, tq, [AsyncActivityWorkflow], [complete_later]):
        handle = await client.start_workflow(AsyncActivityWorkflow.run, key, id=unique("token"), task_queue=tq)
        await wait_until(lambda: key in ASYNC_TOKENS, what="activity start")
        token = ASYNC_TOKENS[key]

        foreign = other.get_async_activity_handle(task_token=token)
        for attempt in (
            lambda: foreign.complete("from the other namespace"),
            lambda: foreign.fail(RuntimeError("from the other namespace")),
            lambda: foreign.heartbeat("from the other namespace"),
            lambda: foreign.report_cancellation(),
        ):
            with pytest.raises(RPCError) as info:
                await attempt()
            assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
            assert "token from a different namespace" in info.value.message

        # a namespace that does not exist at all is NotFound
        missing = await connect_with_retry(target.address, unique("ns-missing"))
        with pytest.raises(RPCError) as info:
            await missing.get_async_activity_handle(task_token=token).complete("nowhere")
        assert info.value.status == RPCStatusCode.NOT_FOUND

        # nothing of that reached the workflow; the token still works where it belongs
        assert "ActivityTaskCompleted" not in await history_event_types(handle)
        await client.get_async_activity_handle(task_token=token).complete("from home")
        assert await handle.result() == "from home"
    types = await history_event_types(handle)
    assert types.count("ActivityTaskCompleted") == 1
    assert "ActivityTaskFailed" not in types
