"""Small utilities shared by the test modules (not fixtures: see conftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Sequence

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

REPO_ROOT = Path(__file__).resolve().parents[2]


def unique(prefix: str) -> str:
    """A name nobody else uses: for workflow ids, task queues, namespaces."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


#: On a cluster target (SUNDIAL_TEST_CLUSTER): the suite's client, and a client of the same
#: namespace connected to another node, which workers of the suite's client use instead. Then
#: every test's workflows are started through one node and worked through another.
CLUSTER_CLIENTS: dict[str, Client] = {}


def new_worker(
    client: Client,
    task_queue: str,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable] = (),
    **kwargs: Any,
) -> Worker:
    """A worker for one test. Use as `async with new_worker(...)`."""
    if client is CLUSTER_CLIENTS.get("suite") and "worker" in CLUSTER_CLIENTS:
        client = CLUSTER_CLIENTS["worker"]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(workflows),
        activities=list(activities),
        **kwargs,
    )


def event_type_name(event: HistoryEvent) -> str:
    """EVENT_TYPE_WORKFLOW_EXECUTION_STARTED -> WorkflowExecutionStarted."""
    raw = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in raw.split("_"))


async def history_events(handle: WorkflowHandle) -> list[HistoryEvent]:
    return [e async for e in handle.fetch_history_events()]


async def history_event_types(handle: WorkflowHandle) -> list[str]:
    return [event_type_name(e) for e in await history_events(handle)]


async def wait_until(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 10.0,
    interval: float = 0.1,
    what: str = "condition",
) -> None:
    """Poll `predicate` (sync or async) until it is true or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def wait_for_event(
    handle: WorkflowHandle, event_name: str, timeout: float = 10.0
) -> None:
    async def has_event() -> bool:
        return event_name in await history_event_types(handle)

    await wait_until(has_event, timeout=timeout, what=f"{event_name} in history")


def count(items: Iterable[str], name: str) -> int:
    return sum(1 for i in items if i == name)


# ---------------------------------------------------------------------------
# The temporal CLI
# ---------------------------------------------------------------------------


def find_cli() -> str | None:
    env = os.environ.get("TEMPORAL_CLI")
    if env:
        return env
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    return shutil.which("temporal")


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def jsonl(self) -> list[Any]:
        """`workflow list -o json` prints a JSON array; `-o jsonl` one object a line."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


async def run_cli(cli: str, *args: str, timeout: float = 30.0) -> CliResult:
    """Run the CLI without blocking the event loop (workers in this loop keep working)."""
    proc = await asyncio.create_subprocess_exec(
        cli,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "TEMPORAL_CLI_SHOW_STACKS": "0", "NO_COLOR": "1"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"CLI timed out: {cli} {' '.join(args)}")
    return CliResult(proc.returncode or 0, out.decode(), err.decode())


# ---------------------------------------------------------------------------
# Visibility
# ---------------------------------------------------------------------------


async def new_namespace(client: Client, prefix: str, search_attributes: dict[str, int]) -> Client:
    """Registers a fresh namespace with these custom search attributes (name -> IndexedValueType)
    and returns a client for it once the server accepts queries on all of them."""
    name = unique(prefix)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    if search_attributes:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=name, search_attributes=search_attributes)
        )
    ns_client = Client(client.service_client, namespace=name)
    probe = " AND ".join(f"{attribute} IS NULL" for attribute in search_attributes) or "WorkflowId IS NOT NULL"

    async def usable() -> bool:
        try:
            await ns_client.count_workflows(probe)
        except RPCError:
            return False
        return True

    await wait_until(usable, timeout=30, interval=0.2, what=f"namespace {name} and its search attributes")
    return ns_client


async def list_ids(client: Client, query: str = "", page_size: int = 1000) -> list[str]:
    """Workflow ids (one per run) that List returns for `query`, all pages, in order."""
    return [w.id async for w in client.list_workflows(query, page_size=page_size)]


async def wait_for_ids(client: Client, query: str, expected: list[str], timeout: float = 10.0) -> None:
    """Waits until List returns exactly `expected` (visibility is eventually consistent)."""
    seen: list[str] = []

    async def matches() -> bool:
        seen[:] = await list_ids(client, query)
        return seen == expected

    try:
        await wait_until(matches, timeout=timeout, interval=0.1, what=f"list {query!r}")
    except AssertionError as err:
        raise AssertionError(f"{err}: last saw {seen}, expected {expected}") from None


async def wait_for_count(client: Client, query: str, expected: int, timeout: float = 10.0) -> None:
    """Waits until Count returns `expected` for `query`."""
    seen: list[int] = []

    async def matches() -> bool:
        seen[:] = [(await client.count_workflows(query)).count]
        return seen[0] == expected

    try:
        await wait_until(matches, timeout=timeout, interval=0.1, what=f"count {query!r}")
    except AssertionError as err:
        raise AssertionError(f"{err}: last saw {seen}, expected {expected}") from None


async def wait_deleted(handle: WorkflowHandle, timeout: float = 10.0) -> None:
    """Waits until describing the handle's run answers NOT_FOUND (any other error fails)."""
    async def gone() -> bool:
        try:
            await handle.describe()
        except RPCError as err:
            assert err.status == RPCStatusCode.NOT_FOUND, err
            return True
        return False

    await wait_until(gone, timeout=timeout, interval=0.25, what=f"{handle.id} deleted")
