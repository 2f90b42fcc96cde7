"""Sticky execution: after a worker completes a workflow task with sticky attributes,
the next workflow tasks are scheduled on its sticky queue (recorded in
WorkflowTaskScheduled.task_queue); when the sticky worker is gone the task goes to the
normal queue; ResetStickyTaskQueue drops stickiness."""

from __future__ import annotations

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import (
    PollWorkflowTaskQueueRequest,
    ResetStickyTaskQueueRequest,
    RespondWorkflowTaskCompletedRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from helpers import history_event_types, history_events, new_worker, unique, wait_for_event
from workflows_interactive import CounterWorkflow, StepsWorkflow

NORMAL = TaskQueueKind.TASK_QUEUE_KIND_NORMAL
STICKY = TaskQueueKind.TASK_QUEUE_KIND_STICKY


def scheduled_queues(events: list[HistoryEvent]) -> list[TaskQueue]:
    return [
        e.workflow_task_scheduled_event_attributes.task_queue
        for e in events
        if e.HasField("workflow_task_scheduled_event_attributes")
    ]


async def test_later_workflow_tasks_are_scheduled_on_the_sticky_queue(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [StepsWorkflow]):
        handle = await client.start_workflow(StepsWorkflow.run, 3, id=unique("sticky"), task_queue=tq)
        assert await handle.result() == 3
    queues = scheduled_queues(await history_events(handle))
    assert len(queues) == 4  # the first task and one per timer
    assert (queues[0].name, queues[0].kind, queues[0].normal_name) == (tq, NORMAL, "")
    sticky_names = {q.name for q in queues[1:]}
    assert len(sticky_names) == 1 and tq not in sticky_names
    for queue in queues[1:]:
        assert queue.kind == STICKY
        assert queue.normal_name == tq
    # the execution's own task queue stays the normal one
    started = (await history_events(handle))[0].workflow_execution_started_event_attributes
    assert (started.task_queue.name, started.task_queue.kind) == (tq, NORMAL)
    assert (await handle.describe()).task_queue == tq


async def test_workflow_continues_on_a_new_worker_after_the_sticky_worker_stopped(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await client.start_workflow(CounterWorkflow.run, 1, id=unique("sticky"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.signal(CounterWorkflow.add, 1)
        assert await handle.query(CounterWorkflow.current) == 2  # the signal's task is done
    first_sticky = scheduled_queues(await history_events(handle))[1].name
    # the first worker has shut down; this task is scheduled while nobody polls at all
    await handle.signal(CounterWorkflow.add, 10)
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await handle.query(CounterWorkflow.current) == 12
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 12
    events = await history_events(handle)
    types = await history_event_types(handle)
    assert "WorkflowTaskTimedOut" not in types, "the task should not wait for a sticky schedule-to-start timeout"
    queues = scheduled_queues(events)
    assert [q.kind for q in queues] == [NORMAL, STICKY, STICKY, STICKY]
    # the task scheduled after the stop still names the dead worker's sticky queue (the
    # server routed it to the normal queue without rewriting the event) ...
    assert queues[2].name == first_sticky
    # ... and the new worker made the execution sticky to its own queue
    assert queues[3].name != first_sticky and queues[3].normal_name == tq


async def test_sticky_queue_without_poller_falls_back_to_normal_queue(client: Client) -> None:
    """A (raw) worker completes the first task asking for a sticky queue nobody ever
    polls. The next task is scheduled there (the event says so) but dispatched to the
    normal queue, where a real worker picks it up without any timeout."""
    tq = unique("tq")
    sticky = unique("sticky-nobody")
    handle = await client.start_workflow(CounterWorkflow.run, 1, id=unique("sticky"), task_queue=tq)
    task = await client.workflow_service.poll_workflow_task_queue(
        PollWorkflowTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=tq), identity="raw")
    )
    await client.workflow_service.respond_workflow_task_completed(
        RespondWorkflowTaskCompletedRequest(
            namespace=client.namespace,
            task_token=task.task_token,
            identity="raw",
            sticky_attributes=StickyExecutionAttributes(
                worker_task_queue=TaskQueue(name=sticky, kind=STICKY, normal_name=tq),
                schedule_to_start_timeout=Duration(seconds=5),
            ),
        )
    )
    await handle.signal(CounterWorkflow.add, 1)
    async with new_worker(client, tq, [CounterWorkflow]):
        assert await handle.query(CounterWorkflow.current) == 2
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 2
    events = await history_events(handle)
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
    queues = scheduled_queues(events)
    assert (queues[1].name, queues[1].kind, queues[1].normal_name) == (sticky, STICKY, tq)
    assert events[5].workflow_task_scheduled_event_attributes.attempt == 1
    assert events[6].workflow_task_started_event_attributes.identity != "raw"
    assert queues[2].kind == STICKY and queues[2].name != sticky


async def test_reset_sticky_task_queue(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [CounterWorkflow]):
        handle = await client.start_workflow(CounterWorkflow.run, 1, id=unique("sticky"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.signal(CounterWorkflow.add, 1)
        assert await handle.query(CounterWorkflow.current) == 2
        response = await client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id),
            )
        )
        assert response.ByteSize() == 0
        # resetting again is fine
        await client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id))
        )
        await handle.signal(CounterWorkflow.add, 1)
        assert await handle.query(CounterWorkflow.current) == 3
        await handle.signal(CounterWorkflow.finish)
        assert await handle.result() == 3
    queues = scheduled_queues(await history_events(handle))
    # first task normal, then sticky, then (after the reset) normal, then sticky again
    assert [q.kind for q in queues] == [NORMAL, STICKY, NORMAL, STICKY]
    assert queues[2].name == tq and queues[2].normal_name == ""
    assert queues[3].name == queues[1].name


async def test_reset_sticky_task_queue_unknown_workflow(client: Client) -> None:
    with pytest.raises(RPCError) as info:
        await client.workflow_service.reset_sticky_task_queue(
            ResetStickyTaskQueueRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=unique("no-such-wf"))
            )
        )
    assert info.value.status == RPCStatusCode.NOT_FOUND


async def test_worker_without_sticky_cache_uses_normal_queue(client: Client) -> None:
    """max_cached_workflows=0 turns sticky execution off: every task is on the normal queue."""
    tq = unique("tq")
    async with new_worker(client, tq, [StepsWorkflow], max_cached_workflows=0):
        handle = await client.start_workflow(StepsWorkflow.run, 2, id=unique("no-sticky"), task_queue=tq)
        assert await handle.result() == 2
    queues = scheduled_queues(await history_events(handle))
    assert [(q.name, q.kind) for q in queues] == [(tq, NORMAL)] * 3
