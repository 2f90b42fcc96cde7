"""Starting workflows: id conflict / reuse policies, request-id idempotency and
validation of bad start requests."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.common.v1 import Payloads, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy as RawConflictPolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from helpers import new_worker, unique
from workflows import EchoWorkflow, FailingWorkflow, WaitForeverWorkflow


def raw_start_request(client: Client, workflow_id: str, request_id: str, **kwargs) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace=kwargs.pop("namespace", client.namespace),
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="WaitForeverWorkflow"),
        task_queue=TaskQueue(name=kwargs.pop("task_queue", unique("tq-no-worker"))),
        identity="sundial-tests",
        request_id=request_id,
        **kwargs,
    )


# ---------------------------------------------------------------------------
# Id conflict policy (a run with the same id is still running)
# ---------------------------------------------------------------------------


async def test_duplicate_start_while_running_is_rejected(client: Client) -> None:
    wid = unique("dup")
    tq = unique("tq-no-worker")
    first = await client.start_workflow(WaitForeverWorkflow.run, id=wid, task_queue=tq)
    try:
        with pytest.raises(WorkflowAlreadyStartedError) as info:
            await client.start_workflow(WaitForeverWorkflow.run, id=wid, task_queue=tq)
        assert info.value.workflow_id == wid
        assert info.value.run_id == first.result_run_id
    finally:
        await first.terminate(reason="cleanup")


async def test_conflict_policy_fail(client: Client) -> None:
    wid = unique("dup")
    tq = unique("tq-no-worker")
    first = await client.start_workflow(WaitForeverWorkflow.run, id=wid, task_queue=tq)
    try:
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(
                WaitForeverWorkflow.run, id=wid, task_queue=tq, id_conflict_policy=WorkflowIDConflictPolicy.FAIL
            )
    finally:
        await first.terminate(reason="cleanup")


async def test_conflict_policy_use_existing(client: Client) -> None:
    wid = unique("use-existing")
    tq = unique("tq-no-worker")
    first = await client.start_workflow(WaitForeverWorkflow.run, id=wid, task_queue=tq)
    try:
        second = await client.start_workflow(
            WaitForeverWorkflow.run,
            id=wid,
            task_queue=tq,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert second.result_run_id == first.result_run_id
        # the raw response also says that nothing was started
        response = await client.workflow_service.start_workflow_execution(
            raw_start_request(
                client,
                wid,
                str(uuid.uuid4()),
                task_queue=tq,
                workflow_id_conflict_policy=RawConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
            )
        )
        assert response.run_id == first.result_run_id
        assert response.started is False
    finally:
        await first.terminate(reason="cleanup")


async def test_conflict_policy_terminate_existing(client: Client) -> None:
    wid = unique("terminate-existing")
    tq = unique("tq-no-worker")
    first = await client.start_workflow(WaitForeverWorkflow.run, id=wid, task_queue=tq)
    second = await client.start_workflow(
        WaitForeverWorkflow.run,
        id=wid,
        task_queue=tq,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    try:
        assert second.result_run_id != first.result_run_id
        # (handles returned by start_workflow have no run_id: they track the latest run)
        first_run = client.get_workflow_handle(wid, run_id=first.result_run_id)
        assert (await first_run.describe()).status == WorkflowExecutionStatus.TERMINATED
        # a handle without run id now means the new run
        assert (await client.get_workflow_handle(wid).describe()).run_id == second.result_run_id
    finally:
        await second.terminate(reason="cleanup")


# ---------------------------------------------------------------------------
# Id reuse policy (a run with the same id has closed)
# ---------------------------------------------------------------------------


async def run_to_completion(client: Client, tq: str, wid: str) -> str:
    handle = await client.start_workflow(EchoWorkflow.run, "first", id=wid, task_queue=tq)
    assert await handle.result() == "first"
    return handle.result_run_id


async def run_to_failure(client: Client, tq: str, wid: str) -> str:
    handle = await client.start_workflow(FailingWorkflow.run, "first run fails", id=wid, task_queue=tq)
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    return handle.result_run_id


async def test_reuse_allowed_by_default_after_completion(client: Client) -> None:
    tq, wid = unique("tq"), unique("reuse")
    async with new_worker(client, tq, [EchoWorkflow]):
        first_run = await run_to_completion(client, tq, wid)
        again = await client.start_workflow(EchoWorkflow.run, "second", id=wid, task_queue=tq)
        assert again.result_run_id != first_run
        assert await again.result() == "second"


async def test_reuse_policy_reject_duplicate(client: Client) -> None:
    tq, wid = unique("tq"), unique("reject-dup")
    async with new_worker(client, tq, [EchoWorkflow]):
        await run_to_completion(client, tq, wid)
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(
                EchoWorkflow.run,
                "second",
                id=wid,
                task_queue=tq,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )


async def test_reuse_policy_allow_duplicate_failed_only_after_success(client: Client) -> None:
    tq, wid = unique("tq"), unique("failed-only")
    async with new_worker(client, tq, [EchoWorkflow]):
        await run_to_completion(client, tq, wid)
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(
                EchoWorkflow.run,
                "second",
                id=wid,
                task_queue=tq,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )


async def test_reuse_policy_allow_duplicate_failed_only_after_failure(client: Client) -> None:
    tq, wid = unique("tq"), unique("failed-only")
    async with new_worker(client, tq, [EchoWorkflow, FailingWorkflow]):
        first_run = await run_to_failure(client, tq, wid)
        again = await client.start_workflow(
            EchoWorkflow.run,
            "second",
            id=wid,
            task_queue=tq,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
        assert again.result_run_id != first_run
        assert await again.result() == "second"


async def test_reuse_policy_allow_duplicate_failed_only_after_termination(client: Client) -> None:
    wid, tq = unique("failed-only"), unique("tq-no-worker")
    first = await client.start_workflow(WaitForeverWorkflow.run, id=wid, task_queue=tq)
    await first.terminate(reason="terminated runs count as failed")
    again = await client.start_workflow(
        WaitForeverWorkflow.run,
        id=wid,
        task_queue=tq,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    assert again.result_run_id != first.result_run_id
    await again.terminate(reason="cleanup")


# ---------------------------------------------------------------------------
# Request-id idempotency
# ---------------------------------------------------------------------------


async def test_start_request_id_is_idempotent(client: Client) -> None:
    wid = unique("idempotent")
    request_id = str(uuid.uuid4())
    tq = unique("tq-no-worker")
    first = await client.workflow_service.start_workflow_execution(
        raw_start_request(client, wid, request_id, task_queue=tq)
    )
    again = await client.workflow_service.start_workflow_execution(
        raw_start_request(client, wid, request_id, task_queue=tq)
    )
    try:
        assert first.run_id
        assert again.run_id == first.run_id
        assert first.started is True
        # a different request id for the same running workflow is a conflict
        with pytest.raises(RPCError) as info:
            await client.workflow_service.start_workflow_execution(
                raw_start_request(client, wid, str(uuid.uuid4()), task_queue=tq)
            )
        assert info.value.status == RPCStatusCode.ALREADY_EXISTS
    finally:
        await client.get_workflow_handle(wid).terminate(reason="cleanup")


# ---------------------------------------------------------------------------
# Bad start requests
# ---------------------------------------------------------------------------


async def test_start_in_unknown_namespace(client: Client) -> None:
    with pytest.raises(RPCError) as info:
        await client.workflow_service.start_workflow_execution(
            raw_start_request(client, unique("wid"), str(uuid.uuid4()), namespace=unique("no-such-ns"))
        )
    assert info.value.status == RPCStatusCode.NOT_FOUND

    # and through the SDK's high-level API
    other = Client(client.service_client, namespace=unique("no-such-ns"))
    with pytest.raises(RPCError) as info:
        await other.start_workflow(WaitForeverWorkflow.run, id=unique("wid"), task_queue=unique("tq"))
    assert info.value.status == RPCStatusCode.NOT_FOUND


async def test_start_with_empty_workflow_id(client: Client) -> None:
    with pytest.raises(RPCError) as info:
        await client.workflow_service.start_workflow_execution(
            raw_start_request(client, "", str(uuid.uuid4()))
        )
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_start_without_workflow_type_or_task_queue(client: Client) -> None:
    request = raw_start_request(client, unique("wid"), str(uuid.uuid4()))
    request.ClearField("workflow_type")
    with pytest.raises(RPCError) as info:
        await client.workflow_service.start_workflow_execution(request)
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT

    request = raw_start_request(client, unique("wid"), str(uuid.uuid4()))
    request.ClearField("task_queue")
    with pytest.raises(RPCError) as info:
        await client.workflow_service.start_workflow_execution(request)
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT


async def test_oversized_input_is_rejected_and_not_persisted(client: Client) -> None:
    wid = unique("huge")
    payloads = await client.data_converter.encode(["x" * (2 * 1024 * 1024 + 512 * 1024)])
    with pytest.raises(RPCError) as info:
        await client.workflow_service.start_workflow_execution(
            raw_start_request(client, wid, str(uuid.uuid4()), input=Payloads(payloads=payloads))
        )
    assert info.value.status == RPCStatusCode.INVALID_ARGUMENT
    with pytest.raises(RPCError) as info:
        await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid)
            )
        )
    assert info.value.status == RPCStatusCode.NOT_FOUND
