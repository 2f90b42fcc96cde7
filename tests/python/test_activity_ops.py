"""The operators' activity calls, through the `temporal` CLI as an operator runs them:
`temporal activity pause|unpause|reset|update-options`, and what DescribeWorkflowExecution
shows of a paused, reset or updated activity. Each test passes against Temporal 1.32's dev
server too (see test_sdk_parity.py for how to point the suite at it)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import UnpauseActivityRequest
from temporalio.client import Client, WorkflowHandle

from conftest import Target
from helpers import new_worker, run_cli, unique, wait_until
from workflows_parity import ATTEMPTS, PAUSED_SEEN, SUCCEED, ControlledWorkflow, controlled


async def activity_cli(cli: str, target: Target, handle: WorkflowHandle, verb: str, *args: str) -> str:
    result = await run_cli(
        cli,
        "activity",
        verb,
        "--workflow-id",
        handle.id,
        "--activity-id",
        "controlled",
        *args,
        "--address",
        target.cli_address or target.address,
        "--namespace",
        target.namespace,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def pending(handle: WorkflowHandle):
    description = await handle.describe()
    [activity] = description.raw_description.pending_activities
    return activity


async def state_is(handle: WorkflowHandle, state: int) -> bool:
    return (await pending(handle)).state == state


async def test_a_paused_activity_waits_for_its_unpause(client: Client, cli: str, target: Target) -> None:
    tq = unique("pause")
    key = unique("pause")
    async with new_worker(client, tq, workflows=[ControlledWorkflow], activities=[controlled]):
        handle = await client.start_workflow(ControlledWorkflow.run, args=[key, ""], id=key, task_queue=tq)
        await wait_until(lambda: len(ATTEMPTS.get(key, [])) >= 2, what="two attempts")
        await activity_cli(cli, target, handle, "pause", "--reason", "looking into it", "--identity", "ops")
        await wait_until(
            lambda: state_is(handle, PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED), what="paused"
        )
        info = await pending(handle)
        assert info.paused
        assert info.pause_info.manual.identity == "ops"
        assert info.pause_info.manual.reason == "looking into it"
        assert info.activity_options.task_queue.name == tq
        attempts = len(ATTEMPTS[key])
        await asyncio.sleep(2.5)
        assert len(ATTEMPTS[key]) == attempts, "a paused activity got another attempt"
        SUCCEED.add(key)
        # The CLI has no --reset-attempts: the API call it stands for.
        await client.workflow_service.unpause_activity(
            UnpauseActivityRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=handle.id),
                id="controlled",
                reset_attempts=True,
            )
        )
        assert await handle.result() == f"{key} succeeded on attempt 1"


async def test_pausing_a_running_activity_reaches_it_through_its_heartbeat(
    client: Client, cli: str, target: Target
) -> None:
    tq = unique("pause-hb")
    key = unique("hold")
    async with new_worker(client, tq, workflows=[ControlledWorkflow], activities=[controlled]):
        handle = await client.start_workflow(ControlledWorkflow.run, args=[key, ""], id=key, task_queue=tq)
        await wait_until(lambda: key in ATTEMPTS, what="the first attempt")
        await activity_cli(cli, target, handle, "pause")
        await wait_until(lambda: key in PAUSED_SEEN, what="the attempt to see its pause")
        await wait_until(
            lambda: state_is(handle, PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED), what="paused"
        )
        assert (await pending(handle)).attempt == 2
        SUCCEED.add(key)
        await activity_cli(cli, target, handle, "unpause")
        assert await handle.result() == f"{key} succeeded on attempt 2"


async def test_reset_starts_the_attempts_over(client: Client, cli: str, target: Target) -> None:
    tq = unique("reset")
    key = unique("reset")
    async with new_worker(client, tq, workflows=[ControlledWorkflow], activities=[controlled]):
        handle = await client.start_workflow(ControlledWorkflow.run, args=[key, ""], id=key, task_queue=tq)
        await wait_until(lambda: len(ATTEMPTS.get(key, [])) >= 3, what="three attempts")
        await activity_cli(cli, target, handle, "pause")
        await wait_until(
            lambda: state_is(handle, PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED), what="paused"
        )
        await activity_cli(cli, target, handle, "reset", "--keep-paused")
        info = await pending(handle)
        assert (info.attempt, info.paused) == (1, True)
        SUCCEED.add(key)
        await activity_cli(cli, target, handle, "reset")
        assert await handle.result() == f"{key} succeeded on attempt 1"


async def test_update_options_moves_a_waiting_activity_to_another_queue(
    client: Client, cli: str, target: Target
) -> None:
    tq = unique("options")
    key = unique("options")
    nowhere = unique("nobody-polls")
    SUCCEED.add(key)
    async with new_worker(client, tq, workflows=[ControlledWorkflow], activities=[controlled]):
        handle = await client.start_workflow(ControlledWorkflow.run, args=[key, nowhere], id=key, task_queue=tq)
        await wait_until(lambda: pending_exists(handle), what="the activity scheduled")
        out = await activity_cli(
            cli, target, handle, "update-options", "--task-queue", tq, "--start-to-close-timeout", "20s"
        )
        assert tq in out
        assert await handle.result() == f"{key} succeeded on attempt 1"


async def pending_exists(handle: WorkflowHandle) -> bool:
    return bool((await handle.describe()).raw_description.pending_activities)


async def test_activity_calls_name_what_is_wrong(client: Client, cli: str, target: Target) -> None:
    tq = unique("ops-errors")
    key = unique("ops-errors")
    SUCCEED.add(key)
    async with new_worker(client, tq, workflows=[ControlledWorkflow], activities=[controlled]):
        handle = await client.start_workflow(ControlledWorkflow.run, args=[key, ""], id=key, task_queue=tq)
        await handle.result()
    result = await run_cli(
        cli, "activity", "pause", "--workflow-id", handle.id, "--activity-id", "controlled",
        "--address", target.cli_address or target.address, "--namespace", target.namespace,
    )
    assert result.returncode != 0
    assert "workflow execution already completed" in result.stderr
