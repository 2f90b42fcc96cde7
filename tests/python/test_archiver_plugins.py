"""Archiver plugins, with the real CLI and SDK: a namespace whose URIs use a custom scheme is
archived by the component serving that scheme (the Python example, `vault://`), read back
after its runs are gone, and a hostile archiver neither loses a run nor stops the server or
other namespaces; hot-loading a good version resumes archival.

Temporal's dev server runs with archival disabled, so it cannot be the reference here (see
test_archival.py)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import suite_starts_sundial
from helpers import find_cli, new_worker, run_cli, unique, wait_until
from test_plugins import EXAMPLES_DIR, SLOW_STARTUP, WASM_DIR, PluginServer, atomic_write, metric, need
from workflows import GreetingWorkflow, greet

pytestmark = [
    pytest.mark.sundial_only,
    pytest.mark.skipif(not suite_starts_sundial(), reason="starts Sundials of its own"),
]

PYTHON_ARCHIVER = EXAMPLES_DIR / "python_archiver.wasm"
HOSTILE_ARCHIVER = WASM_DIR / "hostile_archiver.wasm"


class ArchivalServer(PluginServer):
    """A Sundial archiving for the cluster with the file archiver and the `vault` plugin."""

    def __init__(self, directory: Path, name: str, component: Path, plugin_config: dict[str, str]):
        super().__init__(directory, name)
        self.vault = directory / "vault"
        self.vault.mkdir()
        self.component = directory / "archiver.wasm"
        shutil.copyfile(component, self.component)
        self.plugin_config = plugin_config
        # Temporal's flag: runs are archived within a second of closing.
        self.process.argv += ["--dynamic-config-value", 'history.archivalProcessorArchiveDelay="1s"']

    def config(self, plugins: list[dict] | None = None, authorization: dict | None = None) -> dict:
        doc = super().config(plugins, authorization)
        kind = {"state": "enabled", "enableRead": True, "provider": {"filestore": {}}}
        doc["archival"] = {"history": kind, "visibility": kind}
        doc["namespaceDefaults"] = {
            "archival": {
                "history": {"state": "disabled", "URI": f"file://{self.dir}/default-h"},
                "visibility": {"state": "disabled", "URI": f"file://{self.dir}/default-v"},
            }
        }
        doc["plugins"] = [{
            "name": "vault",
            "kind": "archiver",
            "schemes": ["vault"],
            "file": str(self.component),
            "grants": {"directories": [{"host": str(self.vault), "guest": "/vault", "writable": True}]},
            "config": self.plugin_config,
        }]
        return doc

    def cli(self, *args: str):
        cli = find_cli()
        if not cli:
            pytest.skip("temporal CLI not found")
        return run_cli(cli, *args, "--address", self.address)


def start(tmp_path: Path, name: str, component: Path, config: dict[str, str]) -> ArchivalServer:
    server = ArchivalServer(tmp_path, name, component, config)
    server.write_config()
    server.start()
    try:
        server.wait(timeout=SLOW_STARTUP)
    except BaseException:
        server.kill()
        raise
    return server


@pytest.fixture
def vault_server(tmp_path: Path) -> Iterator[ArchivalServer]:
    need(PYTHON_ARCHIVER)
    server = start(tmp_path, "sundial-vault", PYTHON_ARCHIVER, {})
    yield server
    server.kill()


async def create_namespace(server: ArchivalServer, name: str, history: str, visibility: str) -> None:
    created = await server.cli(
        "operator", "namespace", "create", "-n", name,
        "--history-archival-state", "enabled", "--history-uri", history,
        "--visibility-archival-state", "enabled", "--visibility-uri", visibility,
    )
    assert created.returncode == 0, created.stderr + server.tail()


async def run_greeting(client: Client, who: str) -> Any:
    queue = f"tq-{uuid.uuid4()}"
    async with new_worker(client, queue, [GreetingWorkflow], [greet]):
        handle = await client.start_workflow(GreetingWorkflow.run, who, id=unique("wf"), task_queue=queue)
        assert await handle.result() == f"Hello, {who}!"
    return handle


async def test_a_python_archiver_serves_its_own_scheme(vault_server: ArchivalServer) -> None:
    server = vault_server
    name = unique("vault-ns")
    await create_namespace(server, name, "vault://audit/histories", "vault://audit/visibility")
    client = await server.client(name)
    handle = await run_greeting(client, "vault")
    events = [e async for e in handle.fetch_history_events()]

    histories = lambda: list((server.vault / "audit" / "histories").rglob("*.history.json"))  # noqa: E731
    await wait_until(lambda: bool(histories()), timeout=30, what="the archived history" + server.tail())
    # Readable by a person: the server's proto-json import wrote Temporal's JSON form.
    doc = json.loads(histories()[0].read_text())
    assert (doc["workflowId"], doc["runId"]) == (handle.id, handle.result_run_id)
    types = [e["eventType"] for batch in doc["batches"] for e in batch["events"]]
    assert types[0] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert len(types) == len(events)
    records = lambda: list((server.vault / "audit" / "visibility").rglob("*.visibility.json"))  # noqa: E731
    await wait_until(lambda: bool(records()), timeout=30, what="the archived visibility record")
    record = json.loads(records()[0].read_text())
    assert (record["workflowType"], record["status"]) == ("GreetingWorkflow", 2)

    # Gone from the store, the run is read back through the plugin.
    deleted = await server.cli("workflow", "delete", "--yes", "-n", name, "-w", handle.id, "-r", handle.result_run_id)
    assert deleted.returncode == 0, deleted.stderr

    async def gone() -> bool:
        try:
            await handle.describe()
            return False
        except RPCError as err:
            return err.status == RPCStatusCode.NOT_FOUND

    await wait_until(gone, timeout=10, what="the run's deletion")
    shown = await server.cli("workflow", "show", "-n", name, "-w", handle.id, "-r", handle.result_run_id, "-o", "json")
    assert shown.returncode == 0, shown.stderr + server.tail()
    assert [int(e["eventId"]) for e in json.loads(shown.stdout)["events"]] == [e.event_id for e in events]

    # Listing archived runs takes the archiver's own query syntax.
    listed = await server.cli(
        "workflow", "list", "-n", name, "--archived", "-o", "json",
        "--query", "WorkflowType = 'GreetingWorkflow' AND ExecutionStatus = 'Completed'",
    )
    assert listed.returncode == 0, listed.stderr + server.tail()
    [row] = json.loads(listed.stdout)
    assert (row["execution"]["runId"], row["type"]["name"]) == (handle.result_run_id, "GreetingWorkflow")
    refused = await server.cli("workflow", "list", "-n", name, "--archived", "--query", "StartTime > 0")
    assert refused.returncode != 0
    assert "unsupported query clause" in refused.stderr

    # The plugin checks the URIs it is given when a namespace sets them.
    bad = await server.cli(
        "operator", "namespace", "create", "-n", unique("bad"),
        "--history-archival-state", "enabled", "--history-uri", "vault://",
    )
    assert bad.returncode != 0
    assert "needs a bucket" in bad.stderr


async def test_a_hostile_archiver_loses_nothing_and_a_good_version_resumes(tmp_path: Path) -> None:
    need(HOSTILE_ARCHIVER, PYTHON_ARCHIVER)
    server = start(tmp_path, "sundial-hostile-archiver", HOSTILE_ARCHIVER, {"mode": "trap"})
    try:
        hostile_ns, file_ns = unique("hostile"), unique("files")
        await create_namespace(server, hostile_ns, "vault://b/h", "vault://b/v")
        await create_namespace(server, file_ns, f"file://{tmp_path}/fh", f"file://{tmp_path}/fv")
        hostile = await run_greeting(await server.client(hostile_ns), "hostile")

        async def trapped() -> bool:
            return metric(await server.metrics(), "sundial_plugin_faults_total", plugin="vault", cause="trap") >= 2

        await wait_until(trapped, timeout=30, what="the archiver's traps" + server.tail())
        # The server keeps serving, other namespaces keep archiving, the run is intact.
        files = await run_greeting(await server.client(file_ns), "files")
        await wait_until(
            lambda: any((tmp_path / "fh").glob("*.history")), timeout=30, what="the other namespace's archive"
        )
        described = await hostile.describe()
        assert described.run_id == hostile.result_run_id
        assert files.result_run_id
        assert server.alive()

        # A good version, dropped in over the file, is loaded and archives the waiting run.
        atomic_write(server.component, PYTHON_ARCHIVER.read_bytes())
        await wait_until(
            lambda: any((server.vault / "b" / "h").rglob("*.history.json")),
            timeout=120,
            what="archival after the hot load" + server.tail(),
        )
        assert "plugin version loaded" in server.log()
    finally:
        server.kill()
