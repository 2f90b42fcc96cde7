"""GetWorkflowExecutionHistory (paging, long poll) and DescribeWorkflowExecution."""

from __future__ import annotations

import asyncio
import time

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, HistoryEventFilterType, PendingActivityState
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowExecutionStatus

from helpers import new_worker, unique, wait_until
from workflows import (
    RELEASED,
    STARTED,
    ActivityCall,
    ActivitySequenceWorkflow,
    RunActivityWorkflow,
    TimerWorkflow,
    blocking_activity,
    greet,
)


def history_request(client: Client, workflow_id: str, run_id: str, **kwargs) -> GetWorkflowExecutionHistoryRequest:
    return GetWorkflowExecutionHistoryRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        **kwargs,
    )


async def test_history_paging(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [ActivitySequenceWorkflow], [greet]):
        handle = await client.start_workflow(ActivitySequenceWorkflow.run, 5, id=unique("paging"), task_queue=tq)
        assert len(await handle.result()) == 5

    pages = []
    token = b""
    while True:
        response = await client.workflow_service.get_workflow_execution_history(
            history_request(client, handle.id, handle.result_run_id, maximum_page_size=5, next_page_token=token)
        )
        pages.append(list(response.history.events))
        token = response.next_page_token
        if not token:
            break
        assert len(pages) < 100, "paging does not terminate"

    events = [e for page in pages for e in page]
    # The reference server pages by whole event batches (one batch = the events of one
    # transaction), so a page may hold more than maximum_page_size events: it returned
    # pages of [9, 11, 9, 6] events here. Require real paging, not exact page sizes.
    assert len(pages) >= 2, [len(p) for p in pages]
    assert all(pages[:-1]), "only the last page may be empty"
    assert len(events) >= 30
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    assert events[0].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED

    # the same history in one page
    whole = await client.workflow_service.get_workflow_execution_history(
        history_request(client, handle.id, handle.result_run_id, maximum_page_size=1000)
    )
    assert [e.event_id for e in whole.history.events] == [e.event_id for e in events]
    assert [e.event_type for e in whole.history.events] == [e.event_type for e in events]
    assert whole.next_page_token == b""


async def test_history_without_run_id_uses_latest_run(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [ActivitySequenceWorkflow], [greet]):
        handle = await client.start_workflow(ActivitySequenceWorkflow.run, 1, id=unique("latest"), task_queue=tq)
        await handle.result()
    response = await client.workflow_service.get_workflow_execution_history(
        history_request(client, handle.id, "")
    )
    assert response.history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


async def test_result_long_polls(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [TimerWorkflow]):
        handle = await client.start_workflow(TimerWorkflow.run, 3.0, id=unique("long-poll"), task_queue=tq)
        began = time.monotonic()
        assert await handle.result() == "woke after 3.0s"
        assert 2.0 < time.monotonic() - began < 20


async def test_raw_long_poll_for_close_event(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [TimerWorkflow]):
        handle = await client.start_workflow(TimerWorkflow.run, 2.0, id=unique("close-poll"), task_queue=tq)
        began = time.monotonic()
        response = await client.workflow_service.get_workflow_execution_history(
            history_request(
                client,
                handle.id,
                handle.result_run_id,
                wait_new_event=True,
                history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
            )
        )
        elapsed = time.monotonic() - began
    # long polls may return empty (timeout) before the close; the SDK loops in that case.
    # On the reference server this returns exactly the close event once it happens.
    assert [e.event_type for e in response.history.events] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    ]
    assert 1.0 < elapsed < 20


async def test_describe_running_and_completed(client: Client) -> None:
    tq = unique("tq")
    key = unique("block")
    call = ActivityCall(
        "blocking_activity", [key], activity_id="blocked-one", start_to_close_s=30, max_attempts=1
    )
    async with new_worker(client, tq, [RunActivityWorkflow], [blocking_activity]):
        handle = await client.start_workflow(RunActivityWorkflow.run, call, id=unique("describe"), task_queue=tq)
        await wait_until(lambda: key in STARTED, what="activity start")

        async def activity_shows_started() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return bool(pending) and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED

        await wait_until(activity_shows_started, what="pending activity STARTED")
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.workflow_type == "RunActivityWorkflow"
        assert desc.task_queue == tq
        assert desc.id == handle.id
        assert desc.run_id == handle.result_run_id
        assert desc.close_time is None
        raw = desc.raw_description
        assert raw.execution_config.task_queue.name == tq
        assert len(raw.pending_activities) == 1
        pending = raw.pending_activities[0]
        assert pending.activity_id == "blocked-one"
        assert pending.activity_type.name == "blocking_activity"
        assert pending.attempt == 1

        async def heartbeat_visible() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            if not pending or not pending[0].heartbeat_details.payloads:
                return False
            details = await client.data_converter.decode(pending[0].heartbeat_details.payloads)
            return details == [f"waiting-{key}"]

        await wait_until(heartbeat_visible, what="heartbeat details in describe")

        RELEASED.add(key)
        assert await handle.result() == f"released {key}"

    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert desc.close_time is not None
    assert desc.close_time >= desc.start_time
    assert len(desc.raw_description.pending_activities) == 0
    assert desc.history_length > 0


async def test_describe_unknown_workflow(client: Client) -> None:
    from temporalio.service import RPCError, RPCStatusCode

    try:
        await client.get_workflow_handle(unique("never-started")).describe()
    except RPCError as err:
        assert err.status == RPCStatusCode.NOT_FOUND
    else:
        raise AssertionError("describe of an unknown workflow succeeded")
