"""Batch operations as the CLI and the SDKs' service clients use them: terminate, cancel,
signal and delete over a visibility query or a list of executions; describe, list and stop;
the errors Temporal gives.

Every test here passes against `temporal server start-dev` too:
    SUNDIAL_TEST_ADDRESS=127.0.0.1:17233 SUNDIAL_TEST_TARGET_KIND=temporal \\
        pytest tests/python/test_batch.py
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest
from temporalio.api.batch.v1 import BatchOperationCancellation, BatchOperationSignal, BatchOperationTermination
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, BatchOperationType
from temporalio.api.workflowservice.v1 import (
    DescribeBatchOperationRequest,
    ListBatchOperationsRequest,
    StartBatchOperationRequest,
    StopBatchOperationRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from helpers import list_ids, new_worker, run_cli, unique, wait_for_event, wait_until
from workflows_batch import WaitingWorkflow



async def start_waiting(client: Client, tq: str, n: int) -> list[WorkflowHandle]:
    return [
        await client.start_workflow(WaitingWorkflow.run, id=unique("batch-target"), task_queue=tq)
        for _ in range(n)
    ]


async def visible(client: Client, query: str, n: int) -> None:
    async def all_listed() -> bool:
        return (await client.count_workflows(query)).count == n

    await wait_until(all_listed, what=f"{n} workflows matching {query!r}")


async def describe(client: Client, job_id: str):
    return await client.workflow_service.describe_batch_operation(
        DescribeBatchOperationRequest(namespace=client.namespace, job_id=job_id)
    )


async def finished(client: Client, job_id: str):
    async def done() -> bool:
        return (await describe(client, job_id)).state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING

    await wait_until(done, timeout=30, what=f"batch {job_id} to finish")
    return await describe(client, job_id)


async def open_jobs(client: Client) -> list[str]:
    page = await client.workflow_service.list_batch_operations(
        ListBatchOperationsRequest(namespace=client.namespace, page_size=1000)
    )
    return [i.job_id for i in page.operation_info if i.state == BatchOperationState.BATCH_OPERATION_STATE_RUNNING]


async def no_open_jobs(client: Client) -> None:
    """Waits until the namespace has no batch job running (as visibility tells it, which is
    what both servers count when they allow one job at a time)."""

    async def none() -> bool:
        return not await open_jobs(client)

    await wait_until(none, timeout=30, what="no batch job running in the namespace")


async def start_by_query(client: Client, query: str, reason: str, **operation) -> str:
    """Starts a batch job over the workflows `query` finds, once no other job runs; its id."""
    await no_open_jobs(client)
    job_id = str(uuid.uuid4())
    await client.workflow_service.start_batch_operation(
        StartBatchOperationRequest(
            namespace=client.namespace, job_id=job_id, reason=reason, visibility_query=query, **operation
        )
    )
    return job_id


async def status_of(handle: WorkflowHandle) -> WorkflowExecutionStatus | None:
    return (await handle.describe()).status


async def test_cli_terminates_by_query_and_reports_the_batch(client: Client, cli: str, target) -> None:
    tq = unique("batch-tq")
    base = ["--address", target.cli_address or target.address, "--namespace", client.namespace]
    handles = await start_waiting(client, tq, 3)
    query = f"TaskQueue = '{tq}'"
    await visible(client, query, 3)
    await no_open_jobs(client)
    out = await run_cli(cli, "workflow", "terminate", *base, "--query", query, "--reason", "batch test", "--yes")
    assert out.returncode == 0, out.stderr
    match = re.search(r"Started batch for job ID: (\S+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    job_id = match.group(1)
    done = await finished(client, job_id)
    assert done.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert done.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert (done.total_operation_count, done.complete_operation_count, done.failure_operation_count) == (3, 3, 0)
    assert done.reason == "batch test"
    assert done.query == query
    for handle in handles:
        assert await status_of(handle) == WorkflowExecutionStatus.TERMINATED
    described = await run_cli(cli, "batch", "describe", *base, "--job-id", job_id, "-o", "json")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["state"] in ("BATCH_OPERATION_STATE_COMPLETED", "Completed")

    async def listed() -> bool:
        out = await run_cli(cli, "batch", "list", *base, "-o", "json")
        return job_id in out.stdout

    await wait_until(listed, what="the job in `temporal batch list`")
    # The batch job's own run is not a workflow a user lists.
    assert job_id not in await list_ids(client)


async def test_signal_a_list_of_executions(client: Client) -> None:
    tq = unique("batch-tq")
    async with new_worker(client, tq, workflows=[WaitingWorkflow]):
        handles = await start_waiting(client, tq, 2)
        await no_open_jobs(client)
        job_id = str(uuid.uuid4())
        signal_input = (await client.data_converter.encode(["hello"]))
        await client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=client.namespace,
                job_id=job_id,
                reason="signal them",
                executions=[WorkflowExecution(workflow_id=h.id) for h in handles],
                signal_operation=BatchOperationSignal(signal="poke", identity="batch-tester", input={"payloads": signal_input}),
            )
        )
        done = await finished(client, job_id)
        assert done.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
        assert (done.complete_operation_count, done.failure_operation_count) == (2, 0)
        assert done.identity == "batch-tester"
        assert sorted(e.business_id for e in done.executions) == sorted(h.id for h in handles)
        for handle in handles:
            await handle.signal(WaitingWorkflow.finish)
            assert await handle.result() == ["hello"]


async def test_cancel_by_query_and_list_the_jobs(client: Client) -> None:
    tq = unique("batch-tq")
    async with new_worker(client, tq, workflows=[WaitingWorkflow]):
        handles = await start_waiting(client, tq, 2)
        query = f"TaskQueue = '{tq}'"
        await visible(client, query, 2)
        job_id = await start_by_query(
            client, query, "cancel them", cancellation_operation=BatchOperationCancellation(identity="batch-tester")
        )
        done = await finished(client, job_id)
        assert done.complete_operation_count == 2
        for handle in handles:
            await wait_until(lambda h=handle: _status_is(h, WorkflowExecutionStatus.CANCELED), what="cancelled")

    async def listed() -> bool:
        page = await client.workflow_service.list_batch_operations(
            ListBatchOperationsRequest(namespace=client.namespace, page_size=100)
        )
        return any(
            info.job_id == job_id
            and info.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW
            and info.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
            for info in page.operation_info
        )

    await wait_until(listed, what="the job in ListBatchOperations")


async def _status_is(handle: WorkflowHandle, status: WorkflowExecutionStatus) -> bool:
    return await status_of(handle) == status


async def test_stop_and_errors(client: Client) -> None:
    """A batch over 150 workflows takes three seconds at Temporal's 50 operations a second:
    long enough to be refused a second batch and to be stopped."""
    tq = unique("batch-tq")
    handles = await asyncio.gather(
        *(client.start_workflow(WaitingWorkflow.run, id=unique("batch-target"), task_queue=tq) for _ in range(150))
    )
    query = f"TaskQueue = '{tq}'"
    await visible(client, query, 150)
    job_id = str(uuid.uuid4())
    request = StartBatchOperationRequest(
        namespace=client.namespace,
        job_id=job_id,
        reason="slowly",
        visibility_query=query,
        termination_operation=BatchOperationTermination(identity="batch-tester"),
    )
    await no_open_jobs(client)
    await client.workflow_service.start_batch_operation(request)
    # Both servers count running jobs through visibility: wait until it shows this one.
    await wait_until(lambda: _listed_running(client, job_id), what="the job listed as running")
    with pytest.raises(RPCError) as again:
        await client.workflow_service.start_batch_operation(request)
    assert again.value.status in (RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.RESOURCE_EXHAUSTED)
    with pytest.raises(RPCError) as second:
        await client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=client.namespace,
                job_id=str(uuid.uuid4()),
                reason="another",
                visibility_query=query,
                termination_operation=BatchOperationTermination(),
            )
        )
    assert second.value.status == RPCStatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(RPCError) as no_reason:
        await client.workflow_service.stop_batch_operation(
            StopBatchOperationRequest(namespace=client.namespace, job_id=job_id)
        )
    assert no_reason.value.status == RPCStatusCode.INVALID_ARGUMENT
    await client.workflow_service.stop_batch_operation(
        StopBatchOperationRequest(namespace=client.namespace, job_id=job_id, reason="enough", identity="batch-tester")
    )
    stopped = await describe(client, job_id)
    assert stopped.state == BatchOperationState.BATCH_OPERATION_STATE_FAILED
    await no_open_jobs(client)
    assert stopped.close_time.seconds > 0
    assert stopped.complete_operation_count < 150
    with pytest.raises(RPCError) as missing:
        await client.workflow_service.stop_batch_operation(
            StopBatchOperationRequest(namespace=client.namespace, job_id=job_id, reason="again")
        )
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(RPCError) as invalid:
        await client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=client.namespace,
                job_id=str(uuid.uuid4()),
                visibility_query=query,
                termination_operation=BatchOperationTermination(),
            )
        )
    assert invalid.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert "must provide required parameters" in invalid.value.message
    with pytest.raises(RPCError) as bad_query:
        await client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=client.namespace,
                job_id=str(uuid.uuid4()),
                reason="bad",
                visibility_query="TaskQueue = ",
                termination_operation=BatchOperationTermination(),
            )
        )
    assert bad_query.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert bad_query.value.message.startswith("invalid visibility query")
    await asyncio.gather(*(_terminate(h) for h in handles))


async def _listed_running(client: Client, job_id: str) -> bool:
    return job_id in await open_jobs(client)


async def _terminate(handle: WorkflowHandle) -> None:
    try:
        await handle.terminate()
    except RPCError:
        pass


async def test_delete_by_query(client: Client, cli: str, target) -> None:
    tq = unique("batch-tq")
    base = ["--address", target.cli_address or target.address, "--namespace", client.namespace]
    handles = await start_waiting(client, tq, 2)
    for handle in handles:
        await handle.terminate()
    query = f"TaskQueue = '{tq}'"
    await visible(client, query, 2)
    await no_open_jobs(client)
    out = await run_cli(cli, "workflow", "delete", *base, "--query", query, "--reason", "clean up", "--yes")
    assert out.returncode == 0, out.stderr
    job_id = re.search(r"Started batch for job ID: (\S+)", out.stdout + out.stderr).group(1)
    done = await finished(client, job_id)
    assert done.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_DELETE_WORKFLOW
    assert done.complete_operation_count == 2


async def test_reset_to_the_first_workflow_task(client: Client) -> None:
    from temporalio.api.batch.v1 import BatchOperationReset
    from temporalio.api.common.v1 import ResetOptions
    from google.protobuf.empty_pb2 import Empty

    tq = unique("batch-tq")
    async with new_worker(client, tq, workflows=[WaitingWorkflow]):
        handles = await start_waiting(client, tq, 2)
        for handle in handles:
            await wait_for_event(handle, "WorkflowTaskCompleted")
        query = f"TaskQueue = '{tq}'"
        await visible(client, query, 2)
        reset = BatchOperationReset(identity="batch-tester", options=ResetOptions(first_workflow_task=Empty()))
        job_id = await start_by_query(client, query, "start over", reset_operation=reset)
        done = await finished(client, job_id)
        assert done.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_RESET_WORKFLOW
        assert (done.complete_operation_count, done.failure_operation_count) == (2, 0)
        for handle in handles:
            current = client.get_workflow_handle(handle.id)
            description = await current.describe()
            assert description.run_id != handle.result_run_id
            original = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
            assert await status_of(original) == WorkflowExecutionStatus.TERMINATED
            await current.signal(WaitingWorkflow.finish)
            assert await current.result() == []


async def test_reset_to_a_build_id(client: Client) -> None:
    """A reset to a build id goes to the first workflow task that build completed (the run's
    reset point); a target with no point for the build counts as failed."""
    from temporalio.api.batch.v1 import BatchOperationReset
    from temporalio.api.common.v1 import ResetOptions

    tq = unique("batch-tq")
    async with new_worker(client, tq, workflows=[WaitingWorkflow]):
        handles = await start_waiting(client, tq, 2)
        for handle in handles:
            await wait_for_event(handle, "WorkflowTaskCompleted")
        [build] = {
            (await handle.describe()).raw_description.workflow_execution_info.auto_reset_points.points[0].build_id
            for handle in handles
        }
        assert build
        query = f"TaskQueue = '{tq}'"
        await visible(client, query, 2)
        reset = BatchOperationReset(identity="batch-tester", options=ResetOptions(build_id=build))
        job_id = await start_by_query(client, query, "back to the build", reset_operation=reset)
        done = await finished(client, job_id)
        assert (done.complete_operation_count, done.failure_operation_count) == (2, 0)
        for handle in handles:
            current = client.get_workflow_handle(handle.id)
            assert (await current.describe()).run_id != handle.result_run_id
            await current.signal(WaitingWorkflow.finish)
            assert await current.result() == []
        await no_open_jobs(client)
        job_id = str(uuid.uuid4())
        await client.workflow_service.start_batch_operation(
            StartBatchOperationRequest(
                namespace=client.namespace,
                job_id=job_id,
                reason="no such build",
                executions=[WorkflowExecution(workflow_id=handles[0].id)],
                reset_operation=BatchOperationReset(identity="batch-tester", options=ResetOptions(build_id="no-such-build")),
            )
        )
        done = await finished(client, job_id)
        assert (done.complete_operation_count, done.failure_operation_count) == (0, 1)
