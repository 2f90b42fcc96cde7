"""History comparisons (like test_compare.py) for child workflows, external signals and
cancels, parent-close policies and resets: each scenario runs on the target and on a
reference Temporal server at once, and every history it names must match event by
event (types, event-id references, attempt / retry-state / cause, failure kinds).

Race-free by construction: children run on a queue of their own whose worker starts
only once the parent is idle, signals / terminations / resets happen while the
workflows involved are idle or have no worker, and a timeout is long compared with a
workflow task."""

from __future__ import annotations

import asyncio
import uuid
from typing import Awaitable, Callable

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle

from helpers import history_event_types, history_events, new_worker, unique, wait_for_event, wait_until
from test_children import wait_closed, wait_idle_after
from test_compare import finish, summarize
from workflows_children import (
    CHILD_WORKFLOWS,
    CancelExternalWorkflow,
    ChildCall,
    ChildWaitWorkflow,
    CollectSignalsWorkflow,
    ParentWorkflow,
    SignalExternalWorkflow,
)

Scenario = Callable[[Client], Awaitable[list[WorkflowHandle]]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


async def parent_with_child(client: Client, call: ChildCall, parent_tq: str) -> WorkflowHandle:
    """Starts the parent (its worker must be running) and waits until it is idle with
    the child started."""
    parent = await client.start_workflow(ParentWorkflow.run, call, id=unique("cmp-parent"), task_queue=parent_tq)
    await wait_idle_after(parent, "ChildWorkflowExecutionStarted")
    return parent


async def child_runs_to_end(client: Client, workflow: str, args: list) -> list[WorkflowHandle]:
    tq, child_tq = unique("cmp"), unique("cmp-child")
    call = ChildCall(workflow, unique("cmp-child"), args, task_queue=child_tq)
    async with new_worker(client, tq, [ParentWorkflow]):
        parent = await parent_with_child(client, call, tq)
        async with new_worker(client, child_tq, CHILD_WORKFLOWS):
            await finish(parent)
    return [parent, client.get_workflow_handle(call.id)]


@scenario
async def child_completes(client: Client) -> list[WorkflowHandle]:
    return await child_runs_to_end(client, "ChildEchoWorkflow", ["x"])


@scenario
async def child_fails(client: Client) -> list[WorkflowHandle]:
    return await child_runs_to_end(client, "ChildFailWorkflow", ["boom"])


@scenario
async def child_cancelled_by_parent(client: Client) -> list[WorkflowHandle]:
    tq, child_tq = unique("cmp"), unique("cmp-child")
    call = ChildCall("ChildWaitWorkflow", unique("cmp-child"), task_queue=child_tq, mode="cancel")
    async with new_worker(client, tq, [ParentWorkflow]):
        parent = await parent_with_child(client, call, tq)
        await parent.signal(ParentWorkflow.cancel_child)
        await wait_idle_after(parent, "ExternalWorkflowExecutionCancelRequested")
        async with new_worker(client, child_tq, CHILD_WORKFLOWS):
            await finish(parent)
    return [parent, client.get_workflow_handle(call.id)]


@scenario
async def child_terminated(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmp")
    call = ChildCall("ChildWaitWorkflow", unique("cmp-child"), task_queue=unique("cmp-nobody"))
    async with new_worker(client, tq, [ParentWorkflow]):
        parent = await parent_with_child(client, call, tq)
        await client.get_workflow_handle(call.id).terminate(reason="compare")
        await finish(parent)
    return [parent, client.get_workflow_handle(call.id)]


@scenario
async def child_timed_out(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmp")
    call = ChildCall("ChildWaitWorkflow", unique("cmp-child"), task_queue=unique("cmp-nobody"), execution_timeout_s=3)
    async with new_worker(client, tq, [ParentWorkflow]):
        parent = await client.start_workflow(ParentWorkflow.run, call, id=unique("cmp-parent"), task_queue=tq)
        await finish(parent)
    return [parent, client.get_workflow_handle(call.id)]


@scenario
async def child_already_running(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmp")
    existing = await client.start_workflow(ChildWaitWorkflow.run, id=unique("cmp-existing"), task_queue=unique("cmp-nobody"))
    try:
        async with new_worker(client, tq, [ParentWorkflow]):
            parent = await client.start_workflow(
                ParentWorkflow.run, ChildCall("ChildWaitWorkflow", existing.id), id=unique("cmp-parent"), task_queue=tq
            )
            await finish(parent)
    finally:
        await existing.terminate(reason="compare")
    return [parent]


async def parent_closes(client: Client, policy: str, child_tq: str) -> tuple[WorkflowHandle, WorkflowHandle]:
    tq = unique("cmp")
    call = ChildCall("ChildWaitWorkflow", unique("cmp-child"), task_queue=child_tq, mode="started", parent_close_policy=policy)
    async with new_worker(client, tq, [ParentWorkflow]):
        parent = await client.start_workflow(ParentWorkflow.run, call, id=unique("cmp-parent"), task_queue=tq)
        await finish(parent)
    return parent, client.get_workflow_handle(call.id)


@scenario
async def parent_close_terminate(client: Client) -> list[WorkflowHandle]:
    parent, child = await parent_closes(client, "TERMINATE", unique("cmp-nobody"))
    await wait_closed(child)
    return [parent, child]


@scenario
async def parent_close_request_cancel(client: Client) -> list[WorkflowHandle]:
    child_tq = unique("cmp-child")
    parent, child = await parent_closes(client, "REQUEST_CANCEL", child_tq)
    await wait_for_event(child, "WorkflowExecutionCancelRequested")
    async with new_worker(client, child_tq, CHILD_WORKFLOWS):
        await finish(child)
    return [parent, child]


@scenario
async def signal_external(client: Client) -> list[WorkflowHandle]:
    tq, receiver_tq = unique("cmp"), unique("cmp-receiver")
    receiver = await client.start_workflow(CollectSignalsWorkflow.run, 1, id=unique("cmp-receiver"), task_queue=receiver_tq)
    async with new_worker(client, tq, [SignalExternalWorkflow]):
        sender = await client.start_workflow(
            SignalExternalWorkflow.run, args=[receiver.id, "hi"], id=unique("cmp-sender"), task_queue=tq
        )
        await finish(sender)
    async with new_worker(client, receiver_tq, [CollectSignalsWorkflow]):
        await finish(receiver)
    return [sender, receiver]


@scenario
async def signal_external_unknown(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmp")
    async with new_worker(client, tq, [SignalExternalWorkflow]):
        sender = await client.start_workflow(
            SignalExternalWorkflow.run, args=[unique("cmp-nobody"), "hi"], id=unique("cmp-sender"), task_queue=tq
        )
        await finish(sender)
    return [sender]


@scenario
async def cancel_external(client: Client) -> list[WorkflowHandle]:
    tq, target_tq = unique("cmp"), unique("cmp-target")
    target = await client.start_workflow(ChildWaitWorkflow.run, id=unique("cmp-target"), task_queue=target_tq)
    async with new_worker(client, tq, [CancelExternalWorkflow]):
        canceller = await client.start_workflow(CancelExternalWorkflow.run, target.id, id=unique("cmp-canceller"), task_queue=tq)
        await finish(canceller)
    async with new_worker(client, target_tq, [ChildWaitWorkflow]):
        await finish(target)
    return [canceller, target]


@scenario
async def cancel_external_unknown(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmp")
    async with new_worker(client, tq, [CancelExternalWorkflow]):
        canceller = await client.start_workflow(
            CancelExternalWorkflow.run, unique("cmp-nobody"), id=unique("cmp-canceller"), task_queue=tq
        )
        await finish(canceller)
    return [canceller]


async def two_signals(client: Client, tq: str, complete: bool) -> WorkflowHandle:
    """CollectSignalsWorkflow(2), signal `a` (and `b`) each sent while it is idle."""

    async def completions(handle: WorkflowHandle, n: int) -> None:
        async def enough() -> bool:
            return (await history_event_types(handle)).count("WorkflowTaskCompleted") >= n

        await wait_until(enough, what=f"{n} WorkflowTaskCompleted")

    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        handle = await client.start_workflow(CollectSignalsWorkflow.run, 2, id=unique("cmp-reset"), task_queue=tq)
        await completions(handle, 1)
        await handle.signal(CollectSignalsWorkflow.deliver, "a")
        await completions(handle, 2)
        if complete:
            await handle.signal(CollectSignalsWorkflow.deliver, "b")
            await finish(handle)
    return client.get_workflow_handle(handle.id, run_id=handle.result_run_id)


async def reset_to_first_task(client: Client, handle: WorkflowHandle) -> WorkflowHandle:
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.run_id or ""),
            reason="compare",
            request_id=str(uuid.uuid4()),
            workflow_task_finish_event_id=4,
        )
    )
    return client.get_workflow_handle(handle.id, run_id=response.run_id)


@scenario
async def reset_completed(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmp")
    base = await two_signals(client, tq, complete=True)
    new = await reset_to_first_task(client, base)
    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        await finish(new)
    return [base, new]


@scenario
async def reset_running(client: Client) -> list[WorkflowHandle]:
    tq = unique("cmp")
    base = await two_signals(client, tq, complete=False)
    new = await reset_to_first_task(client, base)
    await new.signal(CollectSignalsWorkflow.deliver, "b")
    async with new_worker(client, tq, [CollectSignalsWorkflow]):
        await finish(new)
    return [base, new]


def summary(event) -> tuple:
    """`summarize`, except that a free-text cause (WorkflowExecutionCancelRequested's,
    which names the requesting run) only counts as set or not."""
    name, event_id, details = summarize(event)
    details = tuple((k, bool(v) if k == "cause" and isinstance(v, str) else v) for k, v in details)
    return (name, event_id, details)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_history_matches_reference(name: str, client: Client, reference_client: Client) -> None:
    run = SCENARIOS[name]
    ours, reference = await asyncio.gather(run(client), run(reference_client))
    assert len(ours) == len(reference)
    for index, (our_handle, reference_handle) in enumerate(zip(ours, reference)):
        our_events = [summary(e) for e in await history_events(our_handle)]
        reference_events = [summary(e) for e in await history_events(reference_handle)]
        assert [e[0] for e in our_events] == [e[0] for e in reference_events], f"event types of history {index} differ"
        assert our_events == reference_events, f"history {index} differs"
