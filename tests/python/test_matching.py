"""Task matching: sync match, backlogs, and idle long polls."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
)
from temporalio.client import Client

from helpers import new_worker, unique, wait_for_event
from workflows import CrossQueueActivityWorkflow, EchoWorkflow, GreetingWorkflow, greet


async def test_sync_match_with_polling_worker(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        await asyncio.sleep(0.5)  # the worker is now blocked in its polls
        began = time.monotonic()
        result = await client.execute_workflow(GreetingWorkflow.run, "sync", id=unique("sync"), task_queue=tq)
        assert result == "Hello, sync!"
        assert time.monotonic() - began < 10


async def test_many_workflows_on_one_queue(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        handles = [
            await client.start_workflow(GreetingWorkflow.run, f"n{i}", id=unique("many"), task_queue=tq)
            for i in range(10)
        ]
        results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [f"Hello, n{i}!" for i in range(10)]


async def test_workflow_backlog_is_dispatched_to_late_worker(client: Client) -> None:
    tq = unique("tq")
    handles = [
        await client.start_workflow(EchoWorkflow.run, f"queued {i}", id=unique("backlog"), task_queue=tq)
        for i in range(3)
    ]
    await asyncio.sleep(2)
    async with new_worker(client, tq, [EchoWorkflow]):
        results = await asyncio.gather(*(h.result() for h in handles))
    assert results == [f"queued {i}" for i in range(3)]


async def test_activity_backlog_is_dispatched_to_late_worker(client: Client) -> None:
    workflow_tq = unique("tq-wf")
    activity_tq = unique("tq-act")
    async with new_worker(client, workflow_tq, [CrossQueueActivityWorkflow]):
        handle = await client.start_workflow(
            CrossQueueActivityWorkflow.run, activity_tq, id=unique("act-backlog"), task_queue=workflow_tq
        )
        await wait_for_event(handle, "ActivityTaskScheduled")
        await asyncio.sleep(2)
        async with new_worker(client, activity_tq, activities=[greet]):
            assert await handle.result() == "Hello, backlog!"


@pytest.mark.slow
async def test_idle_workflow_poll_returns_empty_before_client_deadline(client: Client) -> None:
    """An idle long poll must answer (with an empty task) before the caller's deadline.
    The reference server answers after about 60 s."""
    began = time.monotonic()
    response = await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=unique("tq-idle")),
            identity="sundial-tests-idle-poller",
        ),
        timeout=timedelta(seconds=80),
    )
    elapsed = time.monotonic() - began
    assert response.task_token == b""
    assert elapsed < 70, elapsed



async def test_a_worker_shutting_down_ends_its_polls(client: Client) -> None:
    """With `frontend.enableCancelWorkerPollsOnShutdown` (on in the SDKs' test setups and in
    this suite's) the namespace advertises workerPollCompleteOnShutdown, so the SDK lets its
    polls finish when it shuts down instead of dropping them. ShutdownWorker must end them
    (else shutdown waits out a minute-long poll), and the worker is no longer listed as a
    poller of its queue."""
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    assert described.namespace_info.capabilities.worker_poll_complete_on_shutdown
    tq = unique("shutdown")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        result = await client.execute_workflow(GreetingWorkflow.run, "bye", id=unique("shutdown"), task_queue=tq)
        assert result == "Hello, bye!"
        await asyncio.sleep(1)  # the worker's next polls are waiting
        began = time.monotonic()
    took = time.monotonic() - began
    assert took < 20, f"shutdown took {took:.1f}s: its polls were not ended"
    for kind in (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=tq), task_queue_type=kind)
        )
        assert [p.identity for p in described.pollers] == [], TaskQueueType.Name(kind)


async def test_activities_go_out_at_the_worker_s_dispatch_rate(client: Client) -> None:
    """`max_task_queue_activities_per_second` (the poll's `max_tasks_per_second`) holds the
    queue's activity tasks back: ten at two a second take more than two and a half seconds to start
    (Temporal's four partitions share the rate, and their bursts: four at once, then two a
    second)."""
    tq = unique("rated-tq")
    handles = [
        await client.start_workflow(GreetingWorkflow.run, f"r{i}", id=unique("rated"), task_queue=tq)
        for i in range(10)
    ]
    async with new_worker(client, tq, [GreetingWorkflow], [greet], max_task_queue_activities_per_second=2):
        results = await asyncio.gather(*(h.result() for h in handles))
    assert sorted(results) == sorted(f"Hello, r{i}!" for i in range(10))
    started = []
    for handle in handles:
        async for event in handle.fetch_history_events():
            if event.HasField("activity_task_started_event_attributes"):
                started.append(event.event_time.ToDatetime())
    assert len(started) == 10
    assert (max(started) - min(started)).total_seconds() >= 2.5, sorted(started)
