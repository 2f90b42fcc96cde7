"""UpdateWorkflowExecutionOptions, directly, through `temporal workflow update-options` and as
a batch operation: the versioning override (auto-upgrade; Sundial has no worker deployments,
so a pinned override is refused as Temporal refuses one naming a version its task queue does
not have) and the priority, merged by the update mask; the event each change records, none
for no change; the errors Temporal gives.

Every test here passes against `temporal server start-dev` too:
    SUNDIAL_TEST_ADDRESS=127.0.0.1:17233 SUNDIAL_TEST_TARGET_KIND=temporal \\
        pytest tests/python/test_workflow_options.py
"""

from __future__ import annotations

import json
import re

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.json_format import MessageToDict
from temporalio.api.batch.v1 import BatchOperationUpdateWorkflowExecutionOptions
from temporalio.api.common.v1 import Priority, WorkflowExecution
from temporalio.api.enums.v1 import BatchOperationState, BatchOperationType, EventType
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    UpdateWorkflowExecutionOptionsRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from helpers import history_events, new_worker, run_cli, unique, wait_for_event
from test_batch import finished, no_open_jobs, start_by_query, start_waiting, visible
from workflows_batch import WaitingWorkflow

AUTO = VersioningOverride(auto_upgrade=True)


async def update(client: Client, workflow_id: str, options: WorkflowExecutionOptions, *paths: str) -> dict:
    response = await client.workflow_service.update_workflow_execution_options(
        UpdateWorkflowExecutionOptionsRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            workflow_execution_options=options,
            update_mask=FieldMask(paths=list(paths)),
            identity="options-test",
        )
    )
    return MessageToDict(response.workflow_execution_options)


async def refused(client: Client, workflow_id: str, options: WorkflowExecutionOptions, *paths: str) -> RPCError:
    with pytest.raises(RPCError) as e:
        await update(client, workflow_id, options, *paths)
    return e.value


async def described(client: Client, workflow_id: str) -> dict:
    response = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id))
    )
    info = MessageToDict(response.workflow_execution_info)
    return {"versioningInfo": info.get("versioningInfo"), "priority": info.get("priority")}


async def test_options_merge_by_mask_and_each_change_is_an_event(client: Client) -> None:
    tq = unique("options-tq")
    [handle] = await start_waiting(client, tq, 1)
    wid = handle.id
    assert await update(client, wid, WorkflowExecutionOptions(versioning_override=AUTO), "versioning_override") == {
        "versioningOverride": {"autoUpgrade": True},
        "priority": {},
    }
    # The same again changes nothing, and records nothing.
    await update(client, wid, WorkflowExecutionOptions(versioning_override=AUTO), "versioning_override")
    both = Priority(priority_key=2, fairness_key="k")
    await update(client, wid, WorkflowExecutionOptions(priority=both), "priority")
    # A sub-field alone: the fairness key stays.
    merged = await update(client, wid, WorkflowExecutionOptions(priority=Priority(priority_key=4)), "priority.priority_key")
    assert merged["priority"] == {"priorityKey": 4, "fairnessKey": "k"}
    await update(client, wid, WorkflowExecutionOptions(priority=Priority(priority_key=4)), "priority.priority_key")
    assert await update(client, wid, WorkflowExecutionOptions()) == merged  # an empty mask: as it is
    assert await described(client, wid) == {
        "versioningInfo": {"versioningOverride": {"behavior": "VERSIONING_BEHAVIOR_AUTO_UPGRADE", "autoUpgrade": True}},
        "priority": {"priorityKey": 4, "fairnessKey": "k"},
    }
    # Pinning "to the version it has" names the behavior the override gave the run.
    pin = VersioningOverride(pinned=VersioningOverride.PinnedOverride(
        behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED))
    e = await refused(client, wid, WorkflowExecutionOptions(versioning_override=pin), "versioning_override")
    assert (e.status, e.message) == (
        RPCStatusCode.FAILED_PRECONDITION,
        f"must specify a specific pinned override version because workflow with id {wid} has behavior AutoUpgrade"
        " and is not yet pinned to any version",
    )
    await update(client, wid, WorkflowExecutionOptions(), "versioning_override")  # unset
    # What is left of the run's versioning info, as on Temporal: nothing, but present.
    assert (await described(client, wid))["versioningInfo"] == {}

    updates = [
        MessageToDict(e.workflow_execution_options_updated_event_attributes)
        for e in await history_events(handle)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED
    ]
    assert updates == [
        {"versioningOverride": {"autoUpgrade": True}, "identity": "options-test", "priority": {}},
        {"versioningOverride": {"autoUpgrade": True}, "identity": "options-test", "priority": {"priorityKey": 2, "fairnessKey": "k"}},
        {"versioningOverride": {"autoUpgrade": True}, "identity": "options-test", "priority": {"priorityKey": 4, "fairnessKey": "k"}},
        {"unsetVersioningOverride": True, "identity": "options-test", "priority": {"priorityKey": 4, "fairnessKey": "k"}},
    ]
    assert all(
        e.worker_may_ignore
        for e in await history_events(handle)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED
    )
    await handle.terminate()


async def test_the_errors_temporal_gives(client: Client) -> None:
    [handle] = await start_waiting(client, unique("options-tq"), 1)
    wid = handle.id
    cases = [
        (WorkflowExecutionOptions(), ["bogus"], RPCStatusCode.INVALID_ARGUMENT,
         'error parsing UpdateMask: proto: invalid path "bogus" for message "temporal.api.workflow.v1.WorkflowExecutionOptions"'),
        (WorkflowExecutionOptions(versioning_override=VersioningOverride()), ["versioning_override"],
         RPCStatusCode.INVALID_ARGUMENT, "override behavior is required"),
        (WorkflowExecutionOptions(), ["versioning_override.auto_upgrade"], RPCStatusCode.INVALID_ARGUMENT,
         "error applying update_options: versioning_override doesn't support partial updates"),
        (WorkflowExecutionOptions(priority=Priority(priority_key=-1)), ["priority"], RPCStatusCode.INVALID_ARGUMENT,
         "priority key can't be negative"),
        (WorkflowExecutionOptions(versioning_override=VersioningOverride(
            pinned=VersioningOverride.PinnedOverride(behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED))),
         ["versioning_override"], RPCStatusCode.FAILED_PRECONDITION,
         f"must specify a specific pinned override version because workflow with id {wid} has behavior Unspecified"
         " and is not yet pinned to any version"),
    ]
    for options, paths, status, message in cases:
        e = await refused(client, wid, options, *paths)
        # Go's protobuf errors space their prefix with a space or a no-break space, by build.
        assert (e.status, e.message.replace("\xa0", " ")) == (status, message), paths
    e = await refused(client, "no-such-" + wid, WorkflowExecutionOptions(), "priority")
    assert (e.status, e.message) == (RPCStatusCode.NOT_FOUND, f"workflow not found for ID: no-such-{wid}")
    await handle.terminate()
    e = await refused(client, wid, WorkflowExecutionOptions(), "priority")
    assert (e.status, e.message) == (RPCStatusCode.NOT_FOUND, "workflow execution already completed")


async def test_cli_update_options_one_workflow_and_by_query(client: Client, cli: str, target) -> None:
    tq = unique("options-tq")
    base = ["--address", target.cli_address or target.address, "--namespace", client.namespace]
    handles = await start_waiting(client, tq, 3)
    first = handles[0].id

    async def override_of(workflow_id: str):
        out = await run_cli(cli, "workflow", "describe", *base, "--workflow-id", workflow_id, "-o", "json")
        assert out.returncode == 0, out.stderr
        return (json.loads(out.stdout)["workflowExecutionInfo"].get("versioningInfo") or {}).get("versioningOverride")

    out = await run_cli(cli, "workflow", "update-options", *base, "--workflow-id", first,
                        "--versioning-override-behavior", "auto_upgrade")
    assert out.returncode == 0, out.stderr
    assert (await override_of(first))["autoUpgrade"] is True
    out = await run_cli(cli, "workflow", "update-options", *base, "--workflow-id", first,
                        "--versioning-override-behavior", "pinned", "--versioning-override-deployment-name", "dep",
                        "--versioning-override-build-id", "b1")
    assert out.returncode != 0
    assert f"Pinned version 'dep:b1' is not present in task queue '{tq}' of type 'Workflow'" in out.stderr
    out = await run_cli(cli, "workflow", "update-options", *base, "--workflow-id", first,
                        "--versioning-override-behavior", "unspecified")
    assert out.returncode == 0, out.stderr
    assert await override_of(first) is None

    query = f"TaskQueue = '{tq}'"
    await visible(client, query, 3)
    await no_open_jobs(client)
    out = await run_cli(cli, "workflow", "update-options", *base, "--query", query,
                        "--versioning-override-behavior", "auto_upgrade", "--reason", "upgrade them", "--yes")
    assert out.returncode == 0, out.stderr
    match = re.search(r"Started batch for job ID: (\S+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    done = await finished(client, match.group(1))
    assert done.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert done.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_UPDATE_WORKFLOW_EXECUTION_OPTIONS
    assert (done.total_operation_count, done.complete_operation_count, done.failure_operation_count) == (3, 3, 0)
    for handle in handles:
        assert (await override_of(handle.id))["autoUpgrade"] is True
        await handle.terminate()


async def test_batch_update_of_priority_and_its_checks(client: Client) -> None:
    tq = unique("options-tq")
    handles = await start_waiting(client, tq, 2)
    query = f"TaskQueue = '{tq}'"
    await visible(client, query, 2)
    with pytest.raises(RPCError) as e:
        await start_by_query(client, query, "no mask", update_workflow_options_operation=BatchOperationUpdateWorkflowExecutionOptions(
            workflow_execution_options=WorkflowExecutionOptions(priority=Priority(priority_key=3))))
    assert (e.value.status, e.value.message) == (RPCStatusCode.INVALID_ARGUMENT, "must provide UpdateMask")
    job_id = await start_by_query(client, query, "prioritize", update_workflow_options_operation=BatchOperationUpdateWorkflowExecutionOptions(
        workflow_execution_options=WorkflowExecutionOptions(priority=Priority(priority_key=3)),
        update_mask=FieldMask(paths=["priority.priority_key"]), identity="batcher-test"))
    done = await finished(client, job_id)
    assert (done.state, done.complete_operation_count) == (BatchOperationState.BATCH_OPERATION_STATE_COMPLETED, 2)
    for handle in handles:
        assert (await described(client, handle.id))["priority"] == {"priorityKey": 3}
        await handle.terminate()


async def test_a_worker_runs_on_past_the_options_event(client: Client) -> None:
    """Workers may ignore the event, in a new task and when replaying (the worker here keeps no
    cache, so each task replays the whole history)."""
    tq = unique("options-tq")
    async with new_worker(client, tq, workflows=[WaitingWorkflow], max_cached_workflows=0):
        handle = await client.start_workflow(WaitingWorkflow.run, id=unique("options"), task_queue=tq)
        await handle.signal(WaitingWorkflow.poke, "before")
        await update(client, handle.id, WorkflowExecutionOptions(versioning_override=AUTO), "versioning_override")
        await handle.signal(WaitingWorkflow.poke, "after")
        await handle.signal(WaitingWorkflow.finish)
        assert await handle.result() == ["before", "after"]


async def test_post_reset_operations_update_the_new_run(client: Client) -> None:
    """A reset (direct or batch) may update the new run's options; a post-reset signal is
    refused, as Temporal refuses it."""
    from temporalio.api.batch.v1 import BatchOperationReset
    from temporalio.api.common.v1 import ResetOptions
    from temporalio.api.workflow.v1 import PostResetOperation
    from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
    from google.protobuf.empty_pb2 import Empty

    upgrade = PostResetOperation(update_workflow_options=PostResetOperation.UpdateWorkflowOptions(
        workflow_execution_options=WorkflowExecutionOptions(versioning_override=AUTO, priority=Priority(priority_key=5)),
        update_mask=FieldMask(paths=["versioning_override", "priority"]),
    ))
    tq = unique("options-tq")
    async with new_worker(client, tq, workflows=[WaitingWorkflow]):
        first, second = await start_waiting(client, tq, 2)
        for handle in (first, second):
            await wait_for_event(handle, "WorkflowTaskCompleted")

        def reset(handle, *operations) -> ResetWorkflowExecutionRequest:
            return ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id),
                reason="reset with options", workflow_task_finish_event_id=4, request_id=unique("reset"),
                post_reset_operations=list(operations),
            )

        signal = PostResetOperation(signal_workflow=PostResetOperation.SignalWorkflow(signal_name="poke"))
        with pytest.raises(RPCError) as e:
            await client.workflow_service.reset_workflow_execution(reset(first, signal))
        assert (e.value.status, e.value.message) == (
            RPCStatusCode.INVALID_ARGUMENT, "unsupported post reset operation: *workflow.PostResetOperation_SignalWorkflow_")
        new_run = (await client.workflow_service.reset_workflow_execution(reset(first, upgrade))).run_id
        new = client.get_workflow_handle(first.id, run_id=new_run)
        events = await history_events(new)
        assert [EventType.Name(e.event_type) for e in events[3:6]] == [
            "EVENT_TYPE_WORKFLOW_TASK_FAILED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED",
            "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        ]
        assert MessageToDict(events[4].workflow_execution_options_updated_event_attributes) == {
            "versioningOverride": {"autoUpgrade": True}, "priority": {"priorityKey": 5}}
        assert await described(client, first.id) == {
            "versioningInfo": {"versioningOverride": {"behavior": "VERSIONING_BEHAVIOR_AUTO_UPGRADE", "autoUpgrade": True}},
            "priority": {"priorityKey": 5},
        }
        await new.signal(WaitingWorkflow.finish)
        assert await new.result() == []

        await no_open_jobs(client)
        # Visibility is eventually consistent (on both servers): the job sees what it lists.
        await visible(client, f"WorkflowId = '{second.id}'", 1)
        job_id = await start_by_query(client, f"WorkflowId = '{second.id}'", "reset them", reset_operation=BatchOperationReset(
            identity="batch-tester", options=ResetOptions(first_workflow_task=Empty()), post_reset_operations=[upgrade]))
        done = await finished(client, job_id)
        assert (done.complete_operation_count, done.failure_operation_count) == (1, 0)
        assert (await described(client, second.id))["priority"] == {"priorityKey": 5}
        await client.get_workflow_handle(second.id).signal(WaitingWorkflow.finish)
