"""Workflow task failures and timeouts repeated over several attempts (only the first
failed attempt is written; later attempts are transient until one completes), local
activities retried inside one workflow task, workflow retries by retry policy that end
in success, and memos (set at start, upserted by the workflow)."""

from __future__ import annotations

import json
from datetime import timedelta

from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    PendingWorkflowTaskState,
    RetryState,
    TimeoutType,
    WorkflowTaskFailedCause,
)
from temporalio.api.failure.v1 import Failure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import PollWorkflowTaskQueueRequest, RespondWorkflowTaskFailedRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import RetryPolicy
from temporalio.converter import DataConverter

from helpers import event_type_name, history_event_types, history_events, new_worker, unique, wait_for_event
from workflows import EchoWorkflow
from workflows_interactive import (
    LOCAL_ATTEMPTS,
    TASK_ATTEMPTS,
    FailingTaskWorkflow,
    LocalRetryWorkflow,
    MemoWorkflow,
    RetryOnceWorkflow,
    local_flaky,
)

FIRST_TASK = ["WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"]
UNHANDLED = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE


def decode(payloads) -> list:
    return [DataConverter.default.payload_converter.from_payload(p) for p in payloads]


def poll_request(client: Client, tq: str, identity: str) -> PollWorkflowTaskQueueRequest:
    return PollWorkflowTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=tq), identity=identity)


async def test_repeated_workflow_task_failures_are_written_once(client: Client) -> None:
    """The SDK reports the first failure (RespondWorkflowTaskFailed) and lets later failing
    attempts time out (1 s task timeout here). Only attempt 1 leaves events; the attempt
    that completes is written with its attempt number."""
    tq = unique("tq")
    async with new_worker(client, tq, [FailingTaskWorkflow]):
        handle = await client.start_workflow(
            FailingTaskWorkflow.run, 3, id=unique("wft-fails"), task_queue=tq, task_timeout=timedelta(seconds=1)
        )
        assert await handle.result() == "completed after 3 failed tasks"
    assert TASK_ATTEMPTS[handle.id] == 4
    events = await history_events(handle)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    assert events[1].workflow_task_scheduled_event_attributes.attempt == 1
    failed = events[3].workflow_task_failed_event_attributes
    assert (failed.scheduled_event_id, failed.started_event_id) == (2, 3)
    assert failed.cause == UNHANDLED
    assert failed.failure.message == "workflow task bug #1"
    assert events[4].workflow_task_scheduled_event_attributes.attempt == 4
    assert events[5].workflow_task_started_event_attributes.scheduled_event_id == 5
    completed = events[6].workflow_task_completed_event_attributes
    assert (completed.scheduled_event_id, completed.started_event_id) == (5, 6)


async def test_raw_workflow_task_failures(client: Client) -> None:
    """Three attempts failed by RespondWorkflowTaskFailed. After the first, the retried
    task is transient: GetWorkflowExecutionHistory of the running workflow shows it as a
    last WorkflowTaskScheduled with the current attempt, polls hand it out with the
    transient Scheduled/Started events appended, and no further failure is written."""
    tq = unique("tq")
    handle = await client.start_workflow(EchoWorkflow.run, "finally", id=unique("wft-raw"), task_queue=tq)
    for attempt in (1, 2, 3):
        task = await client.workflow_service.poll_workflow_task_queue(poll_request(client, tq, f"raw-{attempt}"))
        assert task.attempt == attempt
        polled = [(e.event_id, event_type_name(e)) for e in task.history.events]
        if attempt == 1:
            assert polled == [(1, "WorkflowExecutionStarted"), (2, "WorkflowTaskScheduled"), (3, "WorkflowTaskStarted")]
            assert task.started_event_id == 3
        else:
            assert polled == [
                (1, "WorkflowExecutionStarted"),
                (2, "WorkflowTaskScheduled"),
                (3, "WorkflowTaskStarted"),
                (4, "WorkflowTaskFailed"),
                (5, "WorkflowTaskScheduled"),
                (6, "WorkflowTaskStarted"),
            ]
            assert task.history.events[4].workflow_task_scheduled_event_attributes.attempt == attempt
            assert task.started_event_id == 6
        await client.workflow_service.respond_workflow_task_failed(
            RespondWorkflowTaskFailedRequest(
                namespace=client.namespace,
                task_token=task.task_token,
                cause=UNHANDLED,
                failure=Failure(message=f"raw failure {attempt}"),
                identity=f"raw-{attempt}",
            )
        )
        events = await history_events(handle)
        assert [(e.event_id, event_type_name(e)) for e in events] == [
            (1, "WorkflowExecutionStarted"),
            (2, "WorkflowTaskScheduled"),
            (3, "WorkflowTaskStarted"),
            (4, "WorkflowTaskFailed"),
            (5, "WorkflowTaskScheduled"),
        ]
        assert events[4].workflow_task_scheduled_event_attributes.attempt == attempt + 1
        pending = (await handle.describe()).raw_description.pending_workflow_task
        assert pending.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
        assert pending.attempt == attempt + 1

    async with new_worker(client, tq, [EchoWorkflow]):
        assert await handle.result() == "finally"
    events = await history_events(handle)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    failed = events[3].workflow_task_failed_event_attributes
    assert failed.failure.message == "raw failure 1" and failed.identity == "raw-1" and failed.cause == UNHANDLED
    assert events[4].workflow_task_scheduled_event_attributes.attempt == 4


async def test_transient_workflow_task_dropped_when_workflow_terminated(client: Client) -> None:
    tq = unique("tq")
    handle = await client.start_workflow(EchoWorkflow.run, "never", id=unique("wft-term"), task_queue=tq)
    task = await client.workflow_service.poll_workflow_task_queue(poll_request(client, tq, "raw"))
    await client.workflow_service.respond_workflow_task_failed(
        RespondWorkflowTaskFailedRequest(
            namespace=client.namespace, task_token=task.task_token, cause=UNHANDLED, failure=Failure(message="x")
        )
    )
    task = await client.workflow_service.poll_workflow_task_queue(poll_request(client, tq, "raw"))
    assert task.attempt == 2
    # the transient task is started: both its events show in the running workflow's history
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskFailed",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
    ]
    await handle.terminate(reason="enough")
    events = await history_events(handle)
    assert [(e.event_id, event_type_name(e)) for e in events] == [
        (1, "WorkflowExecutionStarted"),
        (2, "WorkflowTaskScheduled"),
        (3, "WorkflowTaskStarted"),
        (4, "WorkflowTaskFailed"),
        (5, "WorkflowExecutionTerminated"),
    ]


async def test_repeated_workflow_task_timeouts(client: Client) -> None:
    tq = unique("tq")
    handle = await client.start_workflow(
        EchoWorkflow.run, "third time", id=unique("wft-timeouts"), task_queue=tq, task_timeout=timedelta(seconds=1)
    )
    first = await client.workflow_service.poll_workflow_task_queue(poll_request(client, tq, "stalled-1"))
    assert first.attempt == 1
    second = await client.workflow_service.poll_workflow_task_queue(poll_request(client, tq, "stalled-2"))
    assert second.attempt == 2
    assert [event_type_name(e) for e in second.history.events] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskTimedOut",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
    ]
    async with new_worker(client, tq, [EchoWorkflow]):
        assert await handle.result() == "third time"
    events = await history_events(handle)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskTimedOut",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    timed_out = events[3].workflow_task_timed_out_event_attributes
    assert timed_out.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
    assert (timed_out.scheduled_event_id, timed_out.started_event_id) == (2, 3)
    assert events[2].workflow_task_started_event_attributes.identity == "stalled-1"
    # the second timeout left no event; the completing task is attempt 3
    assert events[4].workflow_task_scheduled_event_attributes.attempt == 3
    assert events[5].workflow_task_started_event_attributes.identity != "stalled-2"


async def test_local_activity_retried_within_one_workflow_task(client: Client) -> None:
    tq = unique("tq")
    key = unique("local")
    async with new_worker(client, tq, [LocalRetryWorkflow], [local_flaky]):
        handle = await client.start_workflow(LocalRetryWorkflow.run, key, id=unique("local-retry"), task_queue=tq)
        assert await handle.result() == f"{key} on local attempt 3"
    assert LOCAL_ATTEMPTS[key] == [1, 2, 3]
    events = await history_events(handle)
    # the worker retried locally: one task, one marker, no activity events, no task failure
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        "MarkerRecorded",
        "WorkflowExecutionCompleted",
    ]
    marker = events[4].marker_recorded_event_attributes
    assert marker.marker_name == "core_local_activity"
    assert marker.workflow_task_completed_event_id == 4
    assert decode(marker.details["result"].payloads) == [f"{key} on local attempt 3"]
    data = decode(marker.details["data"].payloads)[0]
    data = json.loads(data) if isinstance(data, str) else data
    assert data["attempt"] == 3 and data["activity_type"] == "local_flaky"


async def test_workflow_retry_then_success(client: Client) -> None:
    tq = unique("tq")
    wid = unique("wf-retry")
    memo = {"origin": "start", "n": 1}
    async with new_worker(client, tq, [RetryOnceWorkflow]):
        handle = await client.start_workflow(
            RetryOnceWorkflow.run,
            id=wid,
            task_queue=tq,
            memo=memo,
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
        )
        assert await handle.result() == "succeeded on attempt 2"
    first_run = client.get_workflow_handle(wid, run_id=handle.first_execution_run_id)
    assert await history_event_types(first_run) == ["WorkflowExecutionStarted", *FIRST_TASK, "WorkflowExecutionFailed"]
    first_events = await history_events(first_run)
    assert first_events[0].workflow_execution_started_event_attributes.attempt == 1
    failed = first_events[-1].workflow_execution_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_IN_PROGRESS
    assert failed.workflow_task_completed_event_id == 4
    second_run_id = failed.new_execution_run_id
    assert second_run_id

    latest = client.get_workflow_handle(wid)
    assert await history_event_types(latest) == ["WorkflowExecutionStarted", *FIRST_TASK, "WorkflowExecutionCompleted"]
    started = (await history_events(latest))[0].workflow_execution_started_event_attributes
    assert started.attempt == 2
    assert started.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_RETRY
    assert started.continued_execution_run_id == handle.first_execution_run_id
    assert started.first_execution_run_id == handle.first_execution_run_id
    assert started.continued_failure.message == "first attempt fails"
    assert started.first_workflow_task_backoff.ToTimedelta() > timedelta(0)
    assert started.retry_policy.maximum_attempts == 3
    assert {k: decode([v])[0] for k, v in started.memo.fields.items()} == memo

    desc = await latest.describe()
    assert desc.run_id == second_run_id
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    assert await desc.memo() == memo  # the memo travels to the retry
    first_desc = await first_run.describe()
    assert first_desc.status == WorkflowExecutionStatus.FAILED
    assert await first_desc.memo() == memo


async def test_memo_set_at_start_and_upserted(client: Client) -> None:
    tq = unique("tq")
    async with new_worker(client, tq, [MemoWorkflow]):
        handle = await client.start_workflow(
            MemoWorkflow.run,
            {"added": "by workflow", "n": 2, "origin": None},  # None removes the key
            id=unique("memo"),
            task_queue=tq,
            memo={"origin": "start", "n": 1, "keep": [1, 2]},
        )
        await wait_for_event(handle, "WorkflowPropertiesModified")
        expected = {"keep": [1, 2], "n": 2, "added": "by workflow"}
        assert await (await handle.describe()).memo() == expected
        await handle.signal(MemoWorkflow.finish)
        # the workflow sees the merged memo too
        assert await handle.result() == expected
        assert await (await handle.describe()).memo() == expected
    events = await history_events(handle)
    assert await history_event_types(handle) == [
        "WorkflowExecutionStarted",
        *FIRST_TASK,
        "WorkflowPropertiesModified",
        "WorkflowExecutionSignaled",
        *FIRST_TASK,
        "WorkflowExecutionCompleted",
    ]
    started = events[0].workflow_execution_started_event_attributes
    assert {k: decode([v])[0] for k, v in started.memo.fields.items()} == {"origin": "start", "n": 1, "keep": [1, 2]}
    modified = events[4].workflow_properties_modified_event_attributes
    assert modified.workflow_task_completed_event_id == 4
    upserted = modified.upserted_memo.fields
    assert set(upserted) == {"added", "n", "origin"}
    assert decode([upserted["n"]]) == [2]
    # a removed key is written as a null payload
    assert upserted["origin"].metadata["encoding"] == b"binary/null"
