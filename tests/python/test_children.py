"""Child workflows: result, failure, cancellation by the parent, termination and
timeout of the child, an id that is already running, and the parent-close policies.

The child ends are observed both in the parent (the SDK's ChildWorkflowError and
the Child* events) and in the child's own history (parent links in its
WorkflowExecutionStarted, describe's parent_id / parent_run_id)."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import (
    ParentClosePolicy,
    RetryState,
    StartChildWorkflowExecutionFailedCause,
)
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from helpers import event_type_name, history_event_types, history_events, new_worker, unique, wait_for_event, wait_until
from workflows_children import CHILD_WORKFLOWS, ChildCall, ChildWaitWorkflow, ParentWorkflow

WORKFLOWS = [ParentWorkflow, *CHILD_WORKFLOWS]

#: what every parent writes before its StartChildWorkflowExecutionInitiated
PARENT_PREFIX = [
    "WorkflowExecutionStarted",
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
    "StartChildWorkflowExecutionInitiated",
]
WFT = ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]


async def wait_idle_after(handle: WorkflowHandle, event_name: str, timeout: float = 10.0) -> None:
    """Wait until `event_name` is in the history and a workflow task completed after it
    with nothing after that: the workflow is idle, so what we do next cannot race."""

    async def idle() -> bool:
        types = await history_event_types(handle)
        if event_name not in types or types[-1] != "WorkflowTaskCompleted":
            return False
        last = len(types) - 1 - types[::-1].index(event_name)
        return last < len(types) - 1

    await wait_until(idle, timeout=timeout, what=f"workflow idle after {event_name}")


async def wait_closed(handle: WorkflowHandle, timeout: float = 10.0) -> WorkflowExecutionStatus:
    async def closed() -> bool:
        return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING

    await wait_until(closed, timeout=timeout, what=f"{handle.id} closed")
    status = (await handle.describe()).status
    assert status is not None
    return status


def by_type(events, name: str):
    return [e for e in events if event_type_name(e) == name]


async def run_parent(client: Client, tq: str, call: ChildCall) -> tuple[WorkflowHandle, str]:
    handle = await client.start_workflow(ParentWorkflow.run, call, id=unique("parent"), task_queue=tq)
    return handle, await handle.result()


async def test_child_result_and_links(client: Client) -> None:
    tq = unique("tq")
    call = ChildCall("ChildEchoWorkflow", unique("child"), ["x"])
    async with new_worker(client, tq, WORKFLOWS):
        parent, result = await run_parent(client, tq, call)
    assert result == "ok: child says x"

    events = await history_events(parent)
    types = [event_type_name(e) for e in events]
    # the child completes while the parent is idle or in a task: only the order is fixed
    assert types[:6] == PARENT_PREFIX + ["ChildWorkflowExecutionStarted"]
    assert types[-1] == "WorkflowExecutionCompleted"
    assert types.count("ChildWorkflowExecutionCompleted") == 1
    initiated = events[4]
    init_attrs = initiated.start_child_workflow_execution_initiated_event_attributes
    assert init_attrs.workflow_id == call.id
    assert init_attrs.workflow_type.name == "ChildEchoWorkflow"
    assert init_attrs.task_queue.name == tq  # defaults to the parent's queue
    assert init_attrs.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE
    assert init_attrs.workflow_task_completed_event_id == 4

    started = events[5].child_workflow_execution_started_event_attributes
    assert started.initiated_event_id == initiated.event_id
    assert started.workflow_execution.workflow_id == call.id
    child_run_id = started.workflow_execution.run_id
    assert child_run_id
    completed = by_type(events, "ChildWorkflowExecutionCompleted")[0].child_workflow_execution_completed_event_attributes
    assert completed.initiated_event_id == initiated.event_id
    assert completed.started_event_id == events[5].event_id
    assert completed.workflow_execution.run_id == child_run_id
    assert completed.workflow_type.name == "ChildEchoWorkflow"

    child = client.get_workflow_handle(call.id)
    child_events = await history_events(child)
    assert [event_type_name(e) for e in child_events] == [
        "WorkflowExecutionStarted",
        *WFT,
        "WorkflowExecutionCompleted",
    ]
    child_started = child_events[0].workflow_execution_started_event_attributes
    assert child_started.parent_workflow_execution.workflow_id == parent.id
    assert child_started.parent_workflow_execution.run_id == parent.result_run_id
    assert child_started.parent_workflow_namespace == "default"
    assert child_started.parent_initiated_event_id == initiated.event_id
    assert child_started.root_workflow_execution.workflow_id == parent.id
    assert child_started.root_workflow_execution.run_id == parent.result_run_id
    assert child_started.first_execution_run_id == child_run_id

    desc = await child.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.parent_id == parent.id
    assert desc.parent_run_id == parent.result_run_id
    info = desc.raw_description.workflow_execution_info
    assert info.parent_execution.workflow_id == parent.id
    assert info.parent_execution.run_id == parent.result_run_id
    assert info.root_execution.workflow_id == parent.id
    assert info.root_execution.run_id == parent.result_run_id
    # a top-level workflow has no parent
    parent_desc = await parent.describe()
    assert parent_desc.parent_id is None
    assert parent_desc.parent_run_id is None


async def test_child_failure_surfaces_in_parent(client: Client) -> None:
    tq = unique("tq")
    call = ChildCall("ChildFailWorkflow", unique("child"), ["the child broke"])
    async with new_worker(client, tq, WORKFLOWS):
        parent, result = await run_parent(client, tq, call)
    assert result == "ChildWorkflowError/ApplicationError: the child broke"

    events = await history_events(parent)
    types = [event_type_name(e) for e in events]
    assert types[:6] == PARENT_PREFIX + ["ChildWorkflowExecutionStarted"]
    assert types.count("ChildWorkflowExecutionFailed") == 1
    assert types[-1] == "WorkflowExecutionCompleted"  # the parent caught the error
    failed = by_type(events, "ChildWorkflowExecutionFailed")[0].child_workflow_execution_failed_event_attributes
    assert failed.initiated_event_id == 5 and failed.started_event_id == 6
    assert failed.failure.message == "the child broke"
    assert failed.failure.application_failure_info.type == "ChildBoom"
    assert failed.retry_state == RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET

    child = client.get_workflow_handle(call.id)
    assert (await history_event_types(child))[-1] == "WorkflowExecutionFailed"
    assert (await child.describe()).status == WorkflowExecutionStatus.FAILED


async def test_parent_cancels_child(client: Client) -> None:
    tq = unique("tq")
    call = ChildCall("ChildWaitWorkflow", unique("child"), mode="cancel")
    async with new_worker(client, tq, WORKFLOWS):
        parent = await client.start_workflow(ParentWorkflow.run, call, id=unique("parent"), task_queue=tq)
        await wait_idle_after(parent, "ChildWorkflowExecutionStarted")
        await parent.signal(ParentWorkflow.cancel_child)
        result = await parent.result()
    assert result == "ChildWorkflowError/CancelledError: Cancelled"

    events = await history_events(parent)
    types = [event_type_name(e) for e in events]
    assert types[:12] == PARENT_PREFIX + [
        "ChildWorkflowExecutionStarted",
        *WFT,
        "WorkflowExecutionSignaled",
        *WFT[:2],
    ]
    # the child runs on the same worker, so what follows the request may interleave
    # (test_compare_children pins the full order down with a separate child queue)
    assert types[12:14] == ["WorkflowTaskCompleted", "RequestCancelExternalWorkflowExecutionInitiated"]
    assert types.count("ExternalWorkflowExecutionCancelRequested") == 1
    assert types.count("ChildWorkflowExecutionCanceled") == 1
    assert types[-1] == "WorkflowExecutionCompleted"

    request = by_type(events, "RequestCancelExternalWorkflowExecutionInitiated")[0]
    request_attrs = request.request_cancel_external_workflow_execution_initiated_event_attributes
    assert request_attrs.workflow_execution.workflow_id == call.id
    assert request_attrs.child_workflow_only
    requested = by_type(events, "ExternalWorkflowExecutionCancelRequested")[0]
    assert requested.external_workflow_execution_cancel_requested_event_attributes.initiated_event_id == request.event_id
    canceled = by_type(events, "ChildWorkflowExecutionCanceled")[0].child_workflow_execution_canceled_event_attributes
    assert canceled.initiated_event_id == 5 and canceled.started_event_id == 6

    child = client.get_workflow_handle(call.id)
    child_events = await history_events(child)
    child_types = [event_type_name(e) for e in child_events]
    assert child_types[-1] == "WorkflowExecutionCanceled"
    cancel_requested = by_type(child_events, "WorkflowExecutionCancelRequested")
    assert len(cancel_requested) == 1
    cr = cancel_requested[0].workflow_execution_cancel_requested_event_attributes
    assert cr.external_initiated_event_id == request.event_id
    assert cr.external_workflow_execution.workflow_id == parent.id
    assert cr.external_workflow_execution.run_id == parent.result_run_id
    assert (await child.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_child_terminated_from_outside(client: Client) -> None:
    tq = unique("tq")
    call = ChildCall("ChildWaitWorkflow", unique("child"))
    async with new_worker(client, tq, WORKFLOWS):
        parent = await client.start_workflow(ParentWorkflow.run, call, id=unique("parent"), task_queue=tq)
        await wait_idle_after(parent, "ChildWorkflowExecutionStarted")
        await client.get_workflow_handle(call.id).terminate(reason="from outside")
        result = await parent.result()
    assert result == "ChildWorkflowError/TerminatedError: Terminated"

    events = await history_events(parent)
    assert [event_type_name(e) for e in events] == PARENT_PREFIX + [
        "ChildWorkflowExecutionStarted",
        *WFT,
        "ChildWorkflowExecutionTerminated",
        *WFT,
        "WorkflowExecutionCompleted",
    ]
    terminated = events[9].child_workflow_execution_terminated_event_attributes
    assert terminated.initiated_event_id == 5 and terminated.started_event_id == 6
    assert terminated.workflow_execution.workflow_id == call.id

    child = client.get_workflow_handle(call.id)
    child_events = await history_events(child)
    assert event_type_name(child_events[-1]) == "WorkflowExecutionTerminated"
    assert child_events[-1].workflow_execution_terminated_event_attributes.reason == "from outside"


async def test_child_execution_timeout(client: Client) -> None:
    tq = unique("tq")
    # the child's queue has no worker: it times out without ever running
    call = ChildCall("ChildWaitWorkflow", unique("child"), task_queue=unique("tq-nobody"), execution_timeout_s=3)
    async with new_worker(client, tq, WORKFLOWS):
        parent, result = await run_parent(client, tq, call)
    assert result == "ChildWorkflowError/TimeoutError: Timed out"

    events = await history_events(parent)
    assert [event_type_name(e) for e in events] == PARENT_PREFIX + [
        "ChildWorkflowExecutionStarted",
        *WFT,
        "ChildWorkflowExecutionTimedOut",
        *WFT,
        "WorkflowExecutionCompleted",
    ]
    init_attrs = events[4].start_child_workflow_execution_initiated_event_attributes
    assert init_attrs.workflow_execution_timeout.ToSeconds() == 3
    timed_out = events[9].child_workflow_execution_timed_out_event_attributes
    assert timed_out.initiated_event_id == 5 and timed_out.started_event_id == 6
    assert timed_out.retry_state == RetryState.RETRY_STATE_TIMEOUT

    child = client.get_workflow_handle(call.id)
    child_events = await history_events(child)
    assert [event_type_name(e) for e in child_events] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowExecutionTimedOut",
    ]
    assert child_events[0].workflow_execution_started_event_attributes.workflow_execution_timeout.ToSeconds() == 3
    assert child_events[-1].workflow_execution_timed_out_event_attributes.retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert (await child.describe()).status == WorkflowExecutionStatus.TIMED_OUT


async def test_child_id_already_running(client: Client) -> None:
    tq = unique("tq")
    existing = await client.start_workflow(
        ChildWaitWorkflow.run, id=unique("existing"), task_queue=unique("tq-nobody")
    )
    try:
        call = ChildCall("ChildWaitWorkflow", existing.id)
        async with new_worker(client, tq, WORKFLOWS):
            parent, result = await run_parent(client, tq, call)
        assert result == f"WorkflowAlreadyStartedError: {existing.id} ChildWaitWorkflow"

        events = await history_events(parent)
        assert [event_type_name(e) for e in events] == PARENT_PREFIX + [
            "StartChildWorkflowExecutionFailed",
            *WFT,
            "WorkflowExecutionCompleted",
        ]
        failed = events[5].start_child_workflow_execution_failed_event_attributes
        assert (
            failed.cause
            == StartChildWorkflowExecutionFailedCause.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS
        )
        assert failed.initiated_event_id == 5
        assert failed.workflow_id == existing.id
        assert failed.workflow_type.name == "ChildWaitWorkflow"

        # the running workflow is untouched and keeps no parent
        assert await history_event_types(existing) == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
        desc = await existing.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.parent_id is None
    finally:
        await existing.terminate(reason="cleanup")


async def start_child_then_complete(client: Client, tq: str, policy: str) -> tuple[WorkflowHandle, WorkflowHandle]:
    call = ChildCall("ChildWaitWorkflow", unique("child"), mode="started", parent_close_policy=policy)
    parent, result = await run_parent(client, tq, call)
    child = client.get_workflow_handle(call.id)
    assert result.startswith("started ")
    events = await history_events(parent)
    assert [event_type_name(e) for e in events] == PARENT_PREFIX + [
        "ChildWorkflowExecutionStarted",
        *WFT,
        "WorkflowExecutionCompleted",
    ]
    init_attrs = events[4].start_child_workflow_execution_initiated_event_attributes
    assert init_attrs.parent_close_policy == ParentClosePolicy.Value(f"PARENT_CLOSE_POLICY_{policy}")
    return parent, child


async def test_parent_close_policy_terminate(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, WORKFLOWS):
        parent, child = await start_child_then_complete(client, tq, "TERMINATE")
        assert await wait_closed(child) == WorkflowExecutionStatus.TERMINATED
    child_events = await history_events(child)
    types = [event_type_name(e) for e in child_events]
    assert types[0] == "WorkflowExecutionStarted"
    assert types[-1] == "WorkflowExecutionTerminated"
    assert "WorkflowExecutionCancelRequested" not in types
    assert child_events[-1].workflow_execution_terminated_event_attributes.reason == "by parent close policy"


async def test_parent_close_policy_request_cancel(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, WORKFLOWS):
        parent, child = await start_child_then_complete(client, tq, "REQUEST_CANCEL")
        # the child's worker runs, so the request ends in a cancellation
        assert await wait_closed(child) == WorkflowExecutionStatus.CANCELED
    child_events = await history_events(child)
    types = [event_type_name(e) for e in child_events]
    assert types.count("WorkflowExecutionCancelRequested") == 1
    assert types[-1] == "WorkflowExecutionCanceled"
    assert types.index("WorkflowExecutionCancelRequested") < types.index("WorkflowExecutionCanceled")
    request = by_type(child_events, "WorkflowExecutionCancelRequested")[0].workflow_execution_cancel_requested_event_attributes
    assert request.external_workflow_execution.workflow_id == parent.id
    assert request.external_workflow_execution.run_id == parent.result_run_id


async def test_parent_close_policy_request_cancel_without_child_worker(client: Client) -> None:
    """Without a worker for the child the request is all that happens: the child keeps
    running with WorkflowExecutionCancelRequested in its history."""
    tq = unique("tq")
    call = ChildCall(
        "ChildWaitWorkflow",
        unique("child"),
        task_queue=unique("tq-nobody"),
        mode="started",
        parent_close_policy="REQUEST_CANCEL",
    )
    async with new_worker(client, tq, WORKFLOWS):
        await run_parent(client, tq, call)
    child = client.get_workflow_handle(call.id)
    try:
        await wait_for_event(child, "WorkflowExecutionCancelRequested")
        assert await history_event_types(child) == [
            "WorkflowExecutionStarted",
            "WorkflowTaskScheduled",
            "WorkflowExecutionCancelRequested",
        ]
        assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await child.terminate(reason="cleanup")


async def test_parent_close_policy_abandon(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, WORKFLOWS):
        parent, child = await start_child_then_complete(client, tq, "ABANDON")
        try:
            # give a parent-close action time to happen, if there wrongly were one
            await asyncio.sleep(1.5)
            desc = await child.describe()
            assert desc.status == WorkflowExecutionStatus.RUNNING
            assert desc.parent_id == parent.id  # still linked to its (closed) parent
            types = await history_event_types(child)
            assert "WorkflowExecutionCancelRequested" not in types
            assert "WorkflowExecutionTerminated" not in types
        finally:
            await child.terminate(reason="cleanup")
    assert (await history_event_types(child))[-1] == "WorkflowExecutionTerminated"



async def test_describe_lists_pending_children(client: Client) -> None:
    """While the parent waits on a child, describing the parent lists that child."""
    tq = unique("tq")
    child_id = unique("child")
    call = ChildCall("ChildEchoWorkflow", child_id, ["x"], task_queue=unique("tq-nobody"))
    async with new_worker(client, tq, WORKFLOWS):
        parent = await client.start_workflow(ParentWorkflow.run, call, id=unique("parent"), task_queue=tq)
        await wait_for_event(parent, "ChildWorkflowExecutionStarted")
        desc = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=parent.id)
            )
        )
        assert [c.workflow_id for c in desc.pending_children] == [child_id]
        pending = desc.pending_children[0]
        assert pending.workflow_type_name == "ChildEchoWorkflow"
        assert pending.initiated_id == 5
        assert pending.run_id
        assert pending.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE
        await parent.terminate()
