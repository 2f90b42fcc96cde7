"""Archival settings of namespaces, with the real CLI and SDK, on a Sundial started like
Temporal's development server (archival enabled for the cluster with the file archiver, off
for each namespace until it turns it on).

Temporal's own `temporal server start-dev` runs with archival disabled and ignores these
flags, so it cannot serve as the reference here; the rules are Temporal's namespace handler's
(see ../shared/reference/archival.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from collections.abc import AsyncIterator, Iterator

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import ArchivalState
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    GetWorkflowExecutionHistoryRequest,
    ListArchivedWorkflowExecutionsRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import ServerProcess, connect_with_retry, suite_starts_sundial, sundial_bin
from helpers import free_port, new_worker, unique, wait_deleted, wait_until
from workflows import GreetingWorkflow, greet

pytestmark = pytest.mark.skipif(
    not suite_starts_sundial(), reason="starts a Sundial of its own with archival enabled"
)

DEFAULT_HISTORY_URI = "file:///tmp/sundial_archival/development"


def start_dev(name: str, *dynamic_values: str) -> Iterator[str]:
    """A `sundial start-dev` with these `--dynamic-config-value`s: its address, until closed."""
    port = free_port()
    argv = [str(sundial_bin()), "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port), "--log-level", "warn"]
    for value in dynamic_values:
        argv += ["--dynamic-config-value", value]
    server = ServerProcess(argv, "127.0.0.1", port, name)
    server.start()
    try:
        server.wait_port()
        yield server.address
    finally:
        server.kill()


@pytest.fixture(scope="module")
def dev_server() -> Iterator[str]:
    yield from start_dev(
        "sundial-archival",
        # Temporal's flag: runs are archived within a second of closing.
        'history.archivalProcessorArchiveDelay="1s"',
        # A key Sundial does not use is logged and ignored, as on Temporal.
        "frontend.enableUpdateWorkflowExecution=true",
    )


@pytest.fixture
async def dev_client(dev_server: str) -> AsyncIterator[Client]:
    yield await connect_with_retry(dev_server)


def run_cli(cli: str, address: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [cli, *args, "--address", address], capture_output=True, text=True, timeout=60
    )


async def describe(client: Client, name: str) -> NamespaceConfig:
    resp = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=name)
    )
    return resp.config


async def register(client: Client, name: str, **archival) -> None:
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=Duration(seconds=86400),
            **archival,
        )
    )


async def test_the_cli_enables_updates_and_describes_archival(
    cli: str, dev_server: str, dev_client: Client, tmp_path
) -> None:
    name = unique("audit")
    history, visibility = f"file://{tmp_path}/h", f"file://{tmp_path}/v"
    created = run_cli(
        cli, dev_server, "operator", "namespace", "create", "-n", name,
        "--history-archival-state", "enabled", "--history-uri", history,
        "--visibility-archival-state", "enabled", "--visibility-uri", visibility,
    )
    assert created.returncode == 0, created.stderr
    shown = run_cli(cli, dev_server, "operator", "namespace", "describe", "-n", name, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)["config"]
    assert config["historyArchivalState"] == "ARCHIVAL_STATE_ENABLED"
    assert config["historyArchivalUri"] == history
    assert config["visibilityArchivalState"] == "ARCHIVAL_STATE_ENABLED"
    assert config["visibilityArchivalUri"] == visibility

    # Disabling keeps the URI; enabling again uses it.
    updated = run_cli(
        cli, dev_server, "operator", "namespace", "update", "-n", name,
        "--history-archival-state", "disabled",
    )
    assert updated.returncode == 0, updated.stderr
    c = await describe(dev_client, name)
    assert (c.history_archival_state, c.history_archival_uri) == (ArchivalState.ARCHIVAL_STATE_DISABLED, history)
    assert c.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_ENABLED
    updated = run_cli(
        cli, dev_server, "operator", "namespace", "update", "-n", name,
        "--history-archival-state", "enabled",
    )
    assert updated.returncode == 0, updated.stderr
    c = await describe(dev_client, name)
    assert (c.history_archival_state, c.history_archival_uri) == (ArchivalState.ARCHIVAL_STATE_ENABLED, history)

    # A URI cannot change once set.
    moved = run_cli(
        cli, dev_server, "operator", "namespace", "update", "-n", name,
        "--history-archival-state", "enabled", "--history-uri", f"file://{tmp_path}/elsewhere",
    )
    assert moved.returncode != 0
    assert "Cannot update existing archival URI" in moved.stderr
    assert (await describe(dev_client, name)).history_archival_uri == history


async def test_namespaces_start_with_the_cluster_defaults(dev_client: Client) -> None:
    plain = unique("plain")
    await register(dev_client, plain)
    c = await describe(dev_client, plain)
    assert c.history_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
    assert c.history_archival_uri == ""
    assert c.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED

    # Enabled without a URI: the cluster's default URI.
    on = unique("on")
    await register(dev_client, on, history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED)
    c = await describe(dev_client, on)
    assert c.history_archival_state == ArchivalState.ARCHIVAL_STATE_ENABLED
    assert c.history_archival_uri == DEFAULT_HISTORY_URI
    assert c.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED

    # A URI without a state is kept, disabled; a later update enables it.
    later = unique("later")
    await register(dev_client, later, visibility_archival_uri="file:///tmp/sundial-later-v")
    c = await describe(dev_client, later)
    assert c.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
    assert c.visibility_archival_uri == "file:///tmp/sundial-later-v"
    await dev_client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=later,
            config=NamespaceConfig(
                visibility_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED
            ),
        )
    )
    c = await describe(dev_client, later)
    assert c.visibility_archival_state == ArchivalState.ARCHIVAL_STATE_ENABLED


async def test_invalid_uris_are_refused_naming_them(dev_client: Client, tmp_path) -> None:
    plain_file = tmp_path / "not-a-directory"
    plain_file.write_text("x")
    for uri, words in [
        ("gs://bucket/archive", "gs"),
        ("no scheme at all", "no scheme at all"),
        (f"file://{plain_file}", "not a directory"),
        ("file://somehost/archive", "host"),
    ]:
        name = unique("bad")
        with pytest.raises(RPCError) as err:
            await register(
                dev_client, name,
                history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
                history_archival_uri=uri,
            )
        assert err.value.status == RPCStatusCode.INVALID_ARGUMENT, uri
        assert words in err.value.message, (uri, err.value.message)
        # Nothing was registered.
        with pytest.raises(RPCError) as gone:
            await describe(dev_client, name)
        assert gone.value.status == RPCStatusCode.NOT_FOUND


async def test_a_closed_run_is_archived_and_read_back(
    cli: str, dev_server: str, dev_client: Client, tmp_path
) -> None:
    name = unique("archived")
    await register(
        dev_client, name,
        history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
        history_archival_uri=f"file://{tmp_path}/h",
        visibility_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
        visibility_archival_uri=f"file://{tmp_path}/v",
    )
    client = await connect_with_retry(dev_server, name)
    queue = f"tq-{uuid.uuid4()}"
    async with new_worker(client, queue, [GreetingWorkflow], [greet]):
        handle = await client.start_workflow(
            GreetingWorkflow.run, "archive", id=unique("wf"), task_queue=queue
        )
        assert await handle.result() == "Hello, archive!"
    events = [e async for e in handle.fetch_history_events()]

    def archived() -> list[Path]:
        return list((tmp_path / "h").glob("*.history")) if (tmp_path / "h").exists() else []

    await wait_until(lambda: bool(archived()), timeout=20, what="the history file")
    # The file is whole once it has its name (written aside, then renamed).
    doc = json.loads(archived()[0].read_text())
    ids = [int(e["eventId"]) for batch in doc for e in batch["events"]]
    assert ids == [e.event_id for e in events]
    types = [e["eventType"] for batch in doc for e in batch["events"]]
    assert types[0] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"

    # The record is written after the history: wait for it too.
    await wait_until(
        lambda: any((tmp_path / "v").rglob("*.visibility")), timeout=20, what="the visibility record"
    )
    records = list((tmp_path / "v").rglob("*.visibility"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["workflowId"] == handle.id
    assert record["runId"] == handle.result_run_id
    assert record["workflowTypeName"] == "GreetingWorkflow"
    assert record["namespace"] == name
    assert record["status"] == 2  # completed
    assert record["historyLength"] == len(events)
    assert record["historyArchivalUri"] == f"file://{tmp_path}/h"

    # Gone from the store (deleted here, as retention would), the run is read from the archive.
    deleted = run_cli(
        cli, dev_server, "workflow", "delete", "--yes", "-n", name, "-w", handle.id,
        "-r", handle.result_run_id,
    )
    assert deleted.returncode == 0, deleted.stderr

    await wait_deleted(handle)
    shown = run_cli(
        cli, dev_server, "workflow", "show", "-n", name, "-w", handle.id,
        "-r", handle.result_run_id, "-o", "json",
    )
    assert shown.returncode == 0, shown.stderr
    shown_ids = [int(e["eventId"]) for e in json.loads(shown.stdout)["events"]]
    assert shown_ids == [e.event_id for e in events]
    resp = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=name,
            execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id),
            maximum_page_size=3,
        )
    )
    assert resp.archived
    assert [e.event_id for e in resp.history.events] == [e.event_id for e in events[:3]]

    listed = run_cli(
        cli, dev_server, "workflow", "list", "-n", name, "--archived",
        "--query", "WorkflowType = 'GreetingWorkflow'", "-o", "json",
    )
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["execution"]["runId"] for r in rows] == [handle.result_run_id]
    none = run_cli(
        cli, dev_server, "workflow", "list", "-n", name, "--archived",
        "--query", "WorkflowType = 'Other'", "-o", "json",
    )
    assert none.returncode == 0, none.stderr
    assert json.loads(none.stdout or "[]") == []


async def test_a_namespace_without_archival_writes_nothing(dev_client: Client, tmp_path) -> None:
    # Archival set up, then turned off before the run closes: nothing is archived.
    name = unique("off")
    await register(
        dev_client, name,
        history_archival_state=ArchivalState.ARCHIVAL_STATE_DISABLED,
        history_archival_uri=f"file://{tmp_path}/h",
    )
    client = await connect_with_retry(dev_client.service_client.config.target_host, name)
    queue = f"tq-{uuid.uuid4()}"
    async with new_worker(client, queue, [GreetingWorkflow], [greet]):
        await client.execute_workflow(
            GreetingWorkflow.run, "quiet", id=unique("wf"), task_queue=queue
        )
    await asyncio.sleep(2.5)
    assert not (tmp_path / "h").exists()
    # Never archived, a run gone from the store cannot be told from one that never was.
    with pytest.raises(RPCError) as err:
        await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id="never", run_id=str(uuid.uuid4())),
            )
        )
    assert err.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert "may have passed retention period" in err.value.message
    # Listing archived runs needs the namespace's visibility archival.
    with pytest.raises(RPCError) as err:
        await client.workflow_service.list_archived_workflow_executions(
            ListArchivedWorkflowExecutionsRequest(namespace=name)
        )
    assert err.value.message == "Namespace is not configured for visibility archival."


@pytest.fixture(scope="module")
def short_retention_server() -> Iterator[str]:
    """A dev server whose closed runs are archived within a second and deleted 3 s after close
    (the namespace's retention stays 1 day: the minimum is not what is shortened)."""
    yield from start_dev(
        "sundial-retention",
        'history.archivalProcessorArchiveDelay="1s"',
        'sundial.testing.retentionOverride="3s"',
    )


async def test_retention_deletes_runs_after_archiving_them(
    cli: str, short_retention_server: str, tmp_path
) -> None:
    address = short_retention_server
    admin = await connect_with_retry(address)
    archived_ns, plain_ns = unique("kept"), unique("plain")
    await register(
        admin, archived_ns,
        history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
        history_archival_uri=f"file://{tmp_path}/h",
        visibility_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
        visibility_archival_uri=f"file://{tmp_path}/v",
    )
    await register(admin, plain_ns)
    handles = {}
    for name in (archived_ns, plain_ns):
        client = await connect_with_retry(address, name)
        queue = f"tq-{uuid.uuid4()}"
        async with new_worker(client, queue, [GreetingWorkflow], [greet]):
            handles[name] = await client.start_workflow(
                GreetingWorkflow.run, "brief", id=unique("wf"), task_queue=queue
            )
            await handles[name].result()
        # The run is there right after its close.
        assert (await handles[name].describe()).run_id == handles[name].result_run_id
    events = [e async for e in handles[archived_ns].fetch_history_events()]
    assert (await describe(admin, archived_ns)).workflow_execution_retention_ttl.ToSeconds() == 86400

    for name in (archived_ns, plain_ns):
        await wait_deleted(handles[name], timeout=30)
    # Its visibility record went with it.
    for name in (archived_ns, plain_ns):
        client = await connect_with_retry(address, name)

        async def unlisted(client=client, name=name) -> bool:
            return [w async for w in client.list_workflows(f"WorkflowId = '{handles[name].id}'")] == []

        await wait_until(unlisted, timeout=10, what=f"the visibility record of {name} going")

    # The archived run was archived before it was deleted: still readable.
    h = handles[archived_ns]
    shown = run_cli(cli, address, "workflow", "show", "-n", archived_ns, "-w", h.id, "-r", h.result_run_id, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert [int(e["eventId"]) for e in json.loads(shown.stdout)["events"]] == [e.event_id for e in events]
    # The other is gone for good.
    p = handles[plain_ns]
    gone = run_cli(cli, address, "workflow", "show", "-n", plain_ns, "-w", p.id, "-r", p.result_run_id)
    assert gone.returncode != 0
    assert "may have passed retention period" in gone.stderr
