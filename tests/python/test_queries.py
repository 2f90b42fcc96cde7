"""Queries: answered by the worker (through the sticky queue, the normal queue or a
replay of a closed workflow), failures, reject conditions, no worker, and queries that
arrive while a workflow task is scheduled or running (the server holds them until the
task is done, so the answer always includes the events before the query)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import PollWorkflowTaskQueueRequest, QueryWorkflowRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from helpers import history_event_types, history_events, new_worker, unique, wait_for_event, wait_until
from workflows_interactive import (
    RELEASED,
    STARTED,
    ActivityStateWorkflow,
    CounterWorkflow,
    wait_for_release,
)


def raw_query(client: Client, workflow_id: str, query_type: str) -> QueryWorkflowRequest:
    return QueryWorkflowRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id),
        query=WorkflowQuery(query_type=query_type),
    )


async def start_idle_counter(client: Client, tq: str, start: int = 0):
    """A CounterWorkflow that has completed its first workflow task (idle, waiting)."""
    handle = await client.start_workflow(CounterWorkflow.run, start, id=unique("query"), task_queue=tq)
    await wait_for_event(handle, "WorkflowTaskCompleted")
    return handle


async def test_query_running_workflow(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=3)
        before = await history_event_types(handle)
        assert await handle.query(CounterWorkflow.current) == 3
        assert await handle.query("current") == 3  # by name
        # queries write nothing to history
        assert await history_event_types(handle) == before
        await handle.signal(CounterWorkflow.add, 4)
        assert await handle.query(CounterWorkflow.current) == 7
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 7
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]


async def test_query_right_after_signal_sees_the_signal(client: Client) -> None:
    """A query sent right after a signal returns must reflect it: the server holds the
    query while the signal's workflow task is scheduled/running and answers it after."""
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq)
        for expected in range(1, 11):
            await handle.signal(CounterWorkflow.add, 1)
            assert await handle.query(CounterWorkflow.current) == expected
        await handle.terminate()


async def test_query_closed_workflow_is_answered_by_replay(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=5)
        await handle.signal(CounterWorkflow.add, 2)
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 7
        assert await handle.query(CounterWorkflow.current) == 7
    # a brand-new worker (empty cache) replays the closed history to answer
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await handle.query(CounterWorkflow.current) == 7
        assert await client.get_workflow_handle(handle.id).query(CounterWorkflow.current) == 7
    assert (await history_event_types(handle))[-1] == "WorkflowExecutionCompleted"


async def test_unknown_query_name_fails(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq)
        with pytest.raises(WorkflowQueryFailedError) as info:
            await handle.query("no_such_query")
        # the message is the worker's (SDK) answer, passed through by the server
        assert "Query handler for 'no_such_query' expected but not found" in info.value.message
        assert "current" in info.value.message
        await handle.terminate()


async def test_failing_query_handler(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq)
        with pytest.raises(WorkflowQueryFailedError) as info:
            await handle.query(CounterWorkflow.broken)
        assert info.value.message == "the query handler broke"
        # on the wire: INVALID_ARGUMENT with a QueryFailedFailure detail
        with pytest.raises(RPCError) as raw:
            await client.workflow_service.query_workflow(raw_query(client, handle.id, "broken"))
        assert raw.value.status == RPCStatusCode.INVALID_ARGUMENT
        assert raw.value.message == "the query handler broke"
        assert [d.type_url for d in raw.value.grpc_status.details] == [
            "type.googleapis.com/temporal.api.errordetails.v1.QueryFailedFailure"
        ]
        # the workflow is unharmed
        assert await handle.query(CounterWorkflow.current) == 0
        await handle.terminate()


async def test_reject_condition_not_open(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=2)
        # open: answered normally
        assert await handle.query(CounterWorkflow.current, reject_condition=QueryRejectCondition.NOT_OPEN) == 2
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 2
    # closed: rejected by the server itself, no worker needed
    with pytest.raises(WorkflowQueryRejectedError) as info:
        await handle.query(CounterWorkflow.current, reject_condition=QueryRejectCondition.NOT_OPEN)
    assert info.value.status == WorkflowExecutionStatus.COMPLETED
    # the raw response carries query_rejected instead of a result (not a gRPC error)
    request = raw_query(client, handle.id, "current")
    request.query_reject_condition = QueryRejectCondition.NOT_OPEN
    response = await client.workflow_service.query_workflow(request)
    assert response.HasField("query_rejected")
    assert response.query_rejected.status == WorkflowExecutionStatus.COMPLETED
    assert not response.query_result.payloads


async def test_reject_condition_not_completed_cleanly(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        completed = await start_idle_counter(client, tq, start=1)
        await completed.signal(CounterWorkflow.finish)
        assert await completed.result() == 1
        failed = await start_idle_counter(client, tq, start=9)
        await failed.signal(CounterWorkflow.fail, "asked to fail")
        with pytest.raises(WorkflowFailureError):
            await failed.result()

        # completed cleanly: answered (by replay)
        assert (
            await completed.query(CounterWorkflow.current, reject_condition=QueryRejectCondition.NOT_COMPLETED_CLEANLY)
            == 1
        )
        # failed: rejected with the status
        for condition in (QueryRejectCondition.NOT_COMPLETED_CLEANLY, QueryRejectCondition.NOT_OPEN):
            with pytest.raises(WorkflowQueryRejectedError) as info:
                await failed.query(CounterWorkflow.current, reject_condition=condition)
            assert info.value.status == WorkflowExecutionStatus.FAILED
        # no reject condition: a failed workflow is still queryable
        assert await failed.query(CounterWorkflow.current, reject_condition=QueryRejectCondition.NONE) == 9


async def test_query_unknown_workflow(client: Client) -> None:
    with pytest.raises(RPCError) as info:
        await client.workflow_service.query_workflow(raw_query(client, unique("no-such-wf"), "current"))
    assert info.value.status == RPCStatusCode.NOT_FOUND


async def test_query_without_any_worker_times_out(client: Client) -> None:
    """Nobody ever polled the queue: the server waits for a worker until the caller's
    deadline. The caller sees its deadline expire (CANCELLED "Timeout expired" from the
    client, or DEADLINE_EXCEEDED from the server); nothing is written to history."""
    handle = await client.start_workflow(
        CounterWorkflow.run, 0, id=unique("query-nobody"), task_queue=unique("tq-nobody")
    )
    with pytest.raises(RPCError) as info:
        await client.workflow_service.query_workflow(
            raw_query(client, handle.id, "current"), retry=False, timeout=timedelta(seconds=2)
        )
    assert info.value.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)
    assert await history_event_types(handle) == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    await handle.terminate()


async def test_query_after_worker_is_gone_times_out(client: Client) -> None:
    """The workflow ran on a worker that has stopped (its sticky queue is dead, the normal
    queue has no poller): the query fails with the deadline, the workflow is unchanged."""
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=4)
        assert await handle.query(CounterWorkflow.current) == 4
    before = await history_event_types(handle)
    with pytest.raises(RPCError) as info:
        await client.workflow_service.query_workflow(
            raw_query(client, handle.id, "current"), retry=False, timeout=timedelta(seconds=2)
        )
    assert info.value.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)
    assert await history_event_types(handle) == before
    await handle.terminate()


async def test_query_before_first_workflow_task_waits_for_it(client: Client) -> None:
    """A query to a workflow whose first workflow task has not run yet is held by the
    server until a worker has run that task, then answered."""
    tq = unique("tq")
    handle = await client.start_workflow(CounterWorkflow.run, 5, id=unique("query-early"), task_queue=tq)
    query = asyncio.create_task(handle.query(CounterWorkflow.current, rpc_timeout=timedelta(seconds=20)))
    await asyncio.sleep(0.5)
    assert not query.done(), "answered without any worker"
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await query == 5
        await handle.terminate()


async def test_query_during_in_flight_workflow_task(client: Client) -> None:
    """A (stalled) worker holds the first workflow task; a signal arrives; a query comes
    in. The query waits: the task times out, a real worker runs the next task (which
    includes the signal), and only then is the query answered, with the signal applied."""
    tq = unique("tq")
    handle = await client.start_workflow(
        CounterWorkflow.run, 5, id=unique("query-inflight"), task_queue=tq, task_timeout=timedelta(seconds=1)
    )
    stalled = await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=tq), identity="stalled")
    )
    assert stalled.attempt == 1
    await handle.signal(CounterWorkflow.add, 3)
    query = asyncio.create_task(handle.query(CounterWorkflow.current, rpc_timeout=timedelta(seconds=20)))
    await asyncio.sleep(0.5)
    assert not query.done(), "answered while the workflow task was still running elsewhere"
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await query == 8
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 8
    events = await history_events(handle)
    types = await history_event_types(handle)
    # the signal that arrived during the started task is written after that task closed
    assert types == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskTimedOut",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionSignaled",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "WorkflowExecutionCompleted",
    ]
    # new events reset the attempt: the task after the timeout is attempt 1, not 2
    assert events[5].workflow_task_scheduled_event_attributes.attempt == 1
    assert events[5].workflow_task_scheduled_event_attributes.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL


async def test_query_consistent_with_activity_completion(client: Client) -> None:
    """Once ActivityTaskCompleted is in history, every query sees the activity's result
    (the workflow task handling it may still be scheduled or running)."""
    tq = unique("tq")
    async with new_worker(client, tq, [ActivityStateWorkflow], [wait_for_release]):
        for _ in range(3):
            key = unique("release")
            handle = await client.start_workflow(ActivityStateWorkflow.run, key, id=unique("query-act"), task_queue=tq)
            await wait_until(lambda: key in STARTED, what="activity start")
            assert await handle.query(ActivityStateWorkflow.current_state) == "waiting for activity"
            RELEASED.add(key)

            async def activity_completed() -> bool:
                return "ActivityTaskCompleted" in await history_event_types(handle)

            await wait_until(activity_completed, interval=0.01, what="ActivityTaskCompleted")
            assert await handle.query(ActivityStateWorkflow.current_state) == f"activity returned: released {key}"
            await handle.terminate()


async def test_query_through_sticky_queue_and_after_worker_restart(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await start_idle_counter(client, tq, start=1)
        await handle.signal(CounterWorkflow.add, 1)
        # the second workflow task ran on this worker's sticky queue, so queries go there
        assert await handle.query(CounterWorkflow.current) == 2
        events = await history_events(handle)
        scheduled = [e.workflow_task_scheduled_event_attributes for e in events if e.HasField("workflow_task_scheduled_event_attributes")]
        assert [s.task_queue.kind for s in scheduled] == [
            TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
            TaskQueueKind.TASK_QUEUE_KIND_STICKY,
        ]
        assert scheduled[1].task_queue.normal_name == tq
    # the first worker is gone; a new one (on the normal queue) answers
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await handle.query(CounterWorkflow.current) == 2
        await handle.signal(CounterWorkflow.add, 10)
        assert await handle.query(CounterWorkflow.current) == 12
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 12
    types = await history_event_types(handle)
    assert "WorkflowTaskTimedOut" not in types and "WorkflowTaskFailed" not in types
