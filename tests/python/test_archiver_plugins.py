"""Archiver plugins, with the real CLI and SDK: a namespace whose URIs use a custom scheme is
archived by the component serving that scheme (the Python example, `vault://`), read back
after its runs are gone, and a hostile archiver neither loses a run nor stops the server or
other namespaces; hot-loading a good version resumes archival.

Temporal's dev server runs with archival disabled, so it cannot be the reference here (see
test_archival.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from temporalio.client import Client

from conftest import ServerProcess, suite_starts_sundial
from helpers import REPO_ROOT, find_cli, free_port, new_worker, run_cli, unique, wait_deleted, wait_until
from test_plugins import EXAMPLES_DIR, SLOW_STARTUP, WASM_DIR, PluginServer, atomic_write, metric, need
from workflows import GreetingWorkflow, greet

pytestmark = [
    pytest.mark.sundial_only,
    pytest.mark.skipif(not suite_starts_sundial(), reason="starts Sundials of its own"),
]

PYTHON_ARCHIVER = EXAMPLES_DIR / "python_archiver.wasm"
HOSTILE_ARCHIVER = WASM_DIR / "hostile_archiver.wasm"


class ArchivalServer(PluginServer):
    """A Sundial archiving for the cluster with the file archiver and the given archivers."""

    def __init__(self, directory: Path, name: str, plugins: list[dict]):
        super().__init__(directory, name)
        self.plugins = plugins
        # Temporal's flag: runs are archived within a second of closing.
        self.process.argv += ["--dynamic-config-value", 'history.archivalProcessorArchiveDelay="1s"']

    def config(self, plugins: list[dict] | None = None, authorization: dict | None = None) -> dict:
        doc = super().config(self.plugins, authorization)
        kind = {"state": "enabled", "enableRead": True, "provider": {"filestore": {}}}
        doc["archival"] = {"history": kind, "visibility": kind}
        doc["namespaceDefaults"] = {
            "archival": {
                "history": {"state": "disabled", "URI": f"file://{self.dir}/default-h"},
                "visibility": {"state": "disabled", "URI": f"file://{self.dir}/default-v"},
            }
        }
        return doc

    def cli(self, *args: str):
        cli = find_cli()
        if not cli:
            pytest.skip("temporal CLI not found")
        return run_cli(cli, *args, "--address", self.address)


def vault_plugin(directory: Path, component: Path, config: dict[str, str]) -> dict:
    """The `vault` scheme served by `component` (copied into `directory`), with its vault."""
    (directory / "vault").mkdir()
    shutil.copyfile(component, directory / "archiver.wasm")
    return {
        "name": "vault",
        "kind": "archiver",
        "schemes": ["vault"],
        "file": str(directory / "archiver.wasm"),
        "grants": {"directories": [{"host": str(directory / "vault"), "guest": "/vault", "writable": True}]},
        "config": config,
    }


def start(tmp_path: Path, name: str, plugins: list[dict]) -> ArchivalServer:
    tmp_path.mkdir(parents=True, exist_ok=True)
    server = ArchivalServer(tmp_path, name, plugins)
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
    server = start(tmp_path, "sundial-vault", [vault_plugin(tmp_path, PYTHON_ARCHIVER, {})])
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

    histories = lambda: list((server.dir / "vault" / "audit" / "histories").rglob("*.history.json"))  # noqa: E731
    await wait_until(lambda: bool(histories()), timeout=30, what="the archived history" + server.tail())
    # Readable by a person: the server's proto-json import wrote Temporal's JSON form.
    doc = json.loads(histories()[0].read_text())
    assert (doc["workflowId"], doc["runId"]) == (handle.id, handle.result_run_id)
    types = [e["eventType"] for batch in doc["batches"] for e in batch["events"]]
    assert types[0] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert types[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert len(types) == len(events)
    records = lambda: list((server.dir / "vault" / "audit" / "visibility").rglob("*.visibility.json"))  # noqa: E731
    await wait_until(lambda: bool(records()), timeout=30, what="the archived visibility record")
    record = json.loads(records()[0].read_text())
    assert (record["workflowType"], record["status"]) == ("GreetingWorkflow", 2)

    # Gone from the store, the run is read back through the plugin.
    deleted = await server.cli("workflow", "delete", "--yes", "-n", name, "-w", handle.id, "-r", handle.result_run_id)
    assert deleted.returncode == 0, deleted.stderr

    await wait_deleted(handle)
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
    server = start(
        tmp_path, "sundial-hostile-archiver", [vault_plugin(tmp_path, HOSTILE_ARCHIVER, {"mode": "trap"})]
    )
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
        atomic_write(tmp_path / "archiver.wasm", PYTHON_ARCHIVER.read_bytes())
        await wait_until(
            lambda: any((server.dir / "vault" / "b" / "h").rglob("*.history.json")),
            timeout=120,
            what="archival after the hot load" + server.tail(),
        )
        assert "plugin version loaded" in server.log()

        # Archival's own metrics saw the failures, the successes and how late they came.
        async def counted() -> bool:
            text = await server.metrics()
            return metric(text, "sundial_archival_attempts_total", kind="history", result="ok") >= 2
        await wait_until(counted, timeout=30, what="the archival metrics")
        text = await server.metrics()
        assert metric(text, "sundial_archival_attempts_total", kind="history", result="failed") >= 2
        assert metric(text, "sundial_archival_lag_seconds_count", kind="history") >= 2
        assert metric(text, "sundial_archival_lag_seconds_sum", kind="history") > 0
    finally:
        server.kill()


# ---------------------------------------------------------------------------
# The built-in S3 archiver against a real S3-protocol server
# ---------------------------------------------------------------------------

#: s3s-fs (crates.io): an S3 server over a directory that checks every request's SigV4
#: signature against its one key pair, so a signing mistake fails here. test.sh installs it.
S3S_FS = REPO_ROOT / ".tools" / "bin" / "s3s-fs"
ACCESS_KEY, SECRET_KEY = "sundial-test", "sundial-test-secret"


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`s3s-fs` on loopback: its address and the directory holding its buckets."""
    binary = Path(os.environ.get("SUNDIAL_S3S_FS") or S3S_FS)
    if not binary.exists():
        pytest.skip(f"s3s-fs not installed at {binary} (test.sh installs it)")
    root = tmp_path / "s3"
    (root / "archive").mkdir(parents=True)  # a bucket is a directory
    port = free_port()
    server = ServerProcess(
        [str(binary), "--host", "127.0.0.1", "--port", str(port),
         "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, str(root)],
        "127.0.0.1", port, "s3s-fs",
    )
    server.start()
    try:
        server.wait_port()
        yield server.address, root
    finally:
        server.kill()


def s3_plugin(address: str, secret: str = SECRET_KEY) -> dict:
    return {
        "name": "s3",
        "kind": "archiver",
        "schemes": ["s3"],
        "builtin": "s3-archiver",
        "grants": {"http": [address]},
        "config": {
            "endpoint": f"http://{address}",
            "region": "us-east-1",
            "s3ForcePathStyle": "true",
            "accessKeyId": ACCESS_KEY,
            "secretAccessKey": secret,
        },
    }


async def test_the_s3_archiver_archives_to_a_real_s3_server(
    tmp_path: Path, s3_server: tuple[str, Path]
) -> None:
    address, root = s3_server
    server = start(tmp_path / "sundial", "sundial-s3", [s3_plugin(address)])
    try:
        name = unique("s3-ns")
        await create_namespace(server, name, "s3://archive/temporal/h", "s3://archive/temporal/v")
        client = await server.client(name)
        handle = await run_greeting(client, "s3")
        events = [e async for e in handle.fetch_history_events()]

        objects = lambda: [p for p in (root / "archive" / "temporal").rglob("*.json") if p.is_file()]  # noqa: E731
        await wait_until(lambda: len(objects()) >= 2, timeout=30, what="the S3 objects" + server.tail())
        [history] = [p for p in objects() if "/history/" in str(p)]
        key = str(history.relative_to(root / "archive"))
        assert key.startswith("temporal/h/") and key.endswith(
            f"/history/{handle.id}/{handle.result_run_id}/0.json"
        ), key
        doc = json.loads(history.read_text())
        assert [int(e["eventId"]) for b in doc for e in b["events"]] == [e.event_id for e in events]
        [visibility] = [p for p in objects() if "/visibility/" in str(p)]
        record = json.loads(visibility.read_text())
        assert (record["workflowId"], record["workflowTypeName"], record["status"]) == (
            handle.id, "GreetingWorkflow", 2,
        )

        deleted = await server.cli("workflow", "delete", "--yes", "-n", name, "-w", handle.id, "-r", handle.result_run_id)
        assert deleted.returncode == 0, deleted.stderr
        shown = None
        for _ in range(50):
            shown = await server.cli("workflow", "show", "-n", name, "-w", handle.id, "-r", handle.result_run_id, "-o", "json")
            if shown.returncode == 0 and json.loads(shown.stdout).get("events"):
                break
            await asyncio.sleep(0.2)
        assert shown is not None and shown.returncode == 0, shown.stderr if shown else ""
        assert [int(e["eventId"]) for e in json.loads(shown.stdout)["events"]] == [e.event_id for e in events]
        listed = await server.cli(
            "workflow", "list", "-n", name, "--archived", "-o", "json",
            "--query", "WorkflowType = 'GreetingWorkflow' AND CloseTime > '2020-01-01T00:00:00Z'",
        )
        assert listed.returncode == 0, listed.stderr + server.tail()
        assert [r["execution"]["runId"] for r in json.loads(listed.stdout)] == [handle.result_run_id]

        # validate-uri asks the server: a bucket that does not exist is refused, naming it.
        bad = await server.cli(
            "operator", "namespace", "create", "-n", unique("bad"),
            "--history-archival-state", "enabled", "--history-uri", "s3://no-such-bucket/h",
        )
        assert bad.returncode != 0
        assert "no-such-bucket" in bad.stderr and "does not exist" in bad.stderr
    finally:
        server.kill()


async def test_s3_requests_with_a_wrong_signature_are_refused(
    tmp_path: Path, s3_server: tuple[str, Path]
) -> None:
    address, _ = s3_server
    server = start(tmp_path / "sundial", "sundial-s3-badkey", [s3_plugin(address, secret="not-the-secret")])
    try:
        bad = await server.cli(
            "operator", "namespace", "create", "-n", unique("s3-bad"),
            "--history-archival-state", "enabled", "--history-uri", "s3://archive/h",
        )
        assert bad.returncode != 0
        assert "HTTP 403" in bad.stderr, bad.stderr
    finally:
        server.kill()

