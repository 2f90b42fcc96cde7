"""The official `temporal` CLI against the target server (run as a subprocess,
asynchronously, so the workers of the test keep running in the event loop)."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from conftest import Target
from helpers import CliResult, history_event_types, new_worker, run_cli, unique, wait_for_event, wait_until
from workflows import GreetingWorkflow, SignalWorkflow, WaitForeverWorkflow, greet


@pytest.fixture
def temporal(cli: str, target: Target):
    """`await temporal("workflow", "describe", ...)` with --address, and --namespace
    unless the command names its own."""

    async def run(*args: str) -> CliResult:
        namespace = [] if "--namespace" in args else ["--namespace", target.namespace]
        return await run_cli(cli, *args, "--address", target.cli_address or target.address, *namespace)

    return run


def ok(result: CliResult) -> CliResult:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


# ---------------------------------------------------------------------------
# operator
# ---------------------------------------------------------------------------


async def test_cli_cluster_health(temporal) -> None:
    result = ok(await temporal("operator", "cluster", "health"))
    assert "SERVING" in result.stdout
    assert ok(await temporal("operator", "cluster", "health", "-o", "json")).json() == {"status": "SERVING"}


async def test_cli_cluster_system(temporal) -> None:
    result = ok(await temporal("operator", "cluster", "system", "-o", "json"))
    info = result.json()
    assert info["serverVersion"]
    assert isinstance(info.get("capabilities", {}), dict)
    ok(await temporal("operator", "cluster", "system"))


async def test_cli_namespace_lifecycle(temporal) -> None:
    name = unique("cli-ns")
    created = ok(await temporal("operator", "namespace", "create", "--namespace", name, "--retention", "72h"))
    assert name in created.stdout

    described = ok(await temporal("operator", "namespace", "describe", "--namespace", name, "-o", "json")).json()
    assert described["namespaceInfo"]["name"] == name
    assert described["namespaceInfo"]["state"] == "NAMESPACE_STATE_REGISTERED"
    assert described["config"]["workflowExecutionRetentionTtl"] == "259200s"

    text = ok(await temporal("operator", "namespace", "describe", "--namespace", name)).stdout
    assert "72h0m0s" in text

    listed = ok(await temporal("operator", "namespace", "list", "-o", "json")).json()
    assert name in [ns["namespaceInfo"]["name"] for ns in listed]

    ok(await temporal("operator", "namespace", "update", "--namespace", name, "--description", "set by the cli"))
    described = ok(await temporal("operator", "namespace", "describe", "--namespace", name, "-o", "json")).json()
    assert described["namespaceInfo"]["description"] == "set by the cli"
    assert described["config"]["workflowExecutionRetentionTtl"] == "259200s"


async def test_cli_namespace_errors(temporal) -> None:
    missing = await temporal("operator", "namespace", "describe", "--namespace", unique("no-such-ns"))
    assert missing.returncode != 0
    assert "not found" in missing.stderr.lower()

    name = unique("cli-ns")
    ok(await temporal("operator", "namespace", "create", "--namespace", name, "--retention", "24h"))
    duplicate = await temporal("operator", "namespace", "create", "--namespace", name, "--retention", "24h")
    assert duplicate.returncode != 0
    assert "already exists" in duplicate.stderr.lower()


# ---------------------------------------------------------------------------
# workflow
# ---------------------------------------------------------------------------


async def test_cli_workflow_start_result_describe_show(client: Client, temporal) -> None:
    tq, wid = unique("tq"), unique("cli-wf")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        started = ok(
            await temporal(
                "workflow", "start", "--type", "GreetingWorkflow", "--task-queue", tq,
                "--workflow-id", wid, "--input", '"cli"', "-o", "json",
            )
        ).json()
        assert started["workflowId"] == wid
        assert started["type"] == "GreetingWorkflow"
        assert started["taskQueue"] == tq
        run_id = started["runId"]
        assert run_id

        result = ok(await temporal("workflow", "result", "--workflow-id", wid, "-o", "json")).json()
        assert result["status"] == "COMPLETED"
        assert result["result"] == "Hello, cli!"
        assert result["runId"] == run_id
        text = ok(await temporal("workflow", "result", "--workflow-id", wid)).stdout
        assert "COMPLETED" in text and "Hello, cli!" in text

    # the SDK agrees
    assert await client.get_workflow_handle(wid).result() == "Hello, cli!"

    described = ok(await temporal("workflow", "describe", "--workflow-id", wid, "-o", "json")).json()
    info = described["workflowExecutionInfo"]
    assert info["execution"] == {"workflowId": wid, "runId": run_id}
    assert info["type"]["name"] == "GreetingWorkflow"
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
    assert described["executionConfig"]["taskQueue"]["name"] == tq
    text = ok(await temporal("workflow", "describe", "--workflow-id", wid)).stdout
    assert wid in text and "GreetingWorkflow" in text and "COMPLETED" in text

    shown = ok(await temporal("workflow", "show", "--workflow-id", wid, "-o", "json")).json()
    event_types = [e["eventType"] for e in shown["events"]]
    assert event_types[0] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert event_types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert "EVENT_TYPE_ACTIVITY_TASK_COMPLETED" in event_types
    assert [int(e["eventId"]) for e in shown["events"]] == list(range(1, len(event_types) + 1))
    text = ok(await temporal("workflow", "show", "--workflow-id", wid)).stdout
    assert "WorkflowExecutionStarted" in text and "WorkflowExecutionCompleted" in text


async def test_cli_workflow_start_existing(client: Client, temporal) -> None:
    tq, wid = unique("tq-no-worker"), unique("cli-dup")
    first = ok(
        await temporal("workflow", "start", "--type", "WaitForeverWorkflow", "--task-queue", tq,
                       "--workflow-id", wid, "-o", "json")
    ).json()
    try:
        # without --fail-existing the CLI hands back the running execution (it reads the run
        # id from the server's WorkflowExecutionAlreadyStarted error details)
        again = ok(
            await temporal("workflow", "start", "--type", "WaitForeverWorkflow", "--task-queue", tq,
                           "--workflow-id", wid, "-o", "json")
        ).json()
        assert again["runId"] == first["runId"]
        refused = await temporal("workflow", "start", "--type", "WaitForeverWorkflow", "--task-queue", tq,
                                 "--workflow-id", wid, "--fail-existing")
        assert refused.returncode != 0
        assert "already" in refused.stderr.lower()
    finally:
        await client.get_workflow_handle(wid).terminate(reason="cleanup")


async def test_cli_workflow_list(client: Client, temporal) -> None:
    tq, wid = unique("tq"), unique("cli-list")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        await client.execute_workflow(GreetingWorkflow.run, "list", id=wid, task_queue=tq)

    async def listed() -> bool:
        result = ok(await temporal("workflow", "list", "-o", "json"))
        entries = json.loads(result.stdout) if result.stdout.strip() else []
        mine = [e for e in entries if e["execution"]["workflowId"] == wid]
        return len(mine) == 1 and mine[0]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED" and (
            mine[0]["type"]["name"] == "GreetingWorkflow"
        )

    await wait_until(listed, timeout=15, interval=0.5, what="workflow in `workflow list`")
    text = ok(await temporal("workflow", "list")).stdout
    assert "Status" in text and "WorkflowId" in text


async def test_cli_workflow_list_by_workflow_id(client: Client, temporal) -> None:
    tq, wid = unique("tq"), unique("cli-list-q")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        await client.execute_workflow(GreetingWorkflow.run, "query", id=wid, task_queue=tq)

    async def listed() -> bool:
        result = ok(await temporal("workflow", "list", "--query", f'WorkflowId="{wid}"', "-o", "json"))
        entries = json.loads(result.stdout) if result.stdout.strip() else []
        return [e["execution"]["workflowId"] for e in entries] == [wid]

    await wait_until(listed, timeout=15, interval=0.5, what="workflow in `workflow list --query`")


async def test_cli_workflow_signal(client: Client, temporal) -> None:
    tq, wid = unique("tq"), unique("cli-signal")
    async with new_worker(client, tq, [SignalWorkflow]):
        ok(await temporal("workflow", "start", "--type", "SignalWorkflow", "--task-queue", tq, "--workflow-id", wid))
        signalled = ok(
            await temporal("workflow", "signal", "--workflow-id", wid, "--name", "deliver", "--input", '"from the cli"')
        )
        assert "succeeded" in signalled.stdout.lower()
        result = ok(await temporal("workflow", "result", "--workflow-id", wid, "-o", "json")).json()
    assert result["result"] == "from the cli"
    assert "WorkflowExecutionSignaled" in await history_event_types(client.get_workflow_handle(wid))


async def test_cli_workflow_cancel(client: Client, temporal) -> None:
    tq, wid = unique("tq"), unique("cli-cancel")
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        ok(await temporal("workflow", "start", "--type", "WaitForeverWorkflow", "--task-queue", tq, "--workflow-id", wid))
        handle = client.get_workflow_handle(wid)
        await wait_for_event(handle, "WorkflowTaskCompleted")
        ok(await temporal("workflow", "cancel", "--workflow-id", wid))
        result = await temporal("workflow", "result", "--workflow-id", wid, "-o", "json")
    # `workflow result` exits non-zero for a workflow that did not complete
    assert result.returncode == 1
    assert result.json()["status"] == "CANCELED"
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_cli_workflow_terminate(client: Client, temporal) -> None:
    tq, wid = unique("tq"), unique("cli-term")
    async with new_worker(client, tq, [WaitForeverWorkflow]):
        ok(await temporal("workflow", "start", "--type", "WaitForeverWorkflow", "--task-queue", tq, "--workflow-id", wid))
        terminated = ok(await temporal("workflow", "terminate", "--workflow-id", wid, "--reason", "cli says stop"))
        assert "terminated" in terminated.stdout.lower()
    handle = client.get_workflow_handle(wid)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    events = [e async for e in handle.fetch_history_events()]
    assert events[-1].workflow_execution_terminated_event_attributes.reason == "cli says stop"
    described = ok(await temporal("workflow", "describe", "--workflow-id", wid, "-o", "json")).json()
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_TERMINATED"
    assert (await temporal("workflow", "result", "--workflow-id", wid)).returncode == 1


async def test_cli_workflow_errors(temporal) -> None:
    missing = unique("no-such-wf")
    for command in (["describe"], ["cancel"], ["terminate"], ["signal", "--name", "x"]):
        result = await temporal("workflow", *command, "--workflow-id", missing)
        assert result.returncode != 0, command
        assert "not found" in result.stderr.lower(), (command, result.stderr)
