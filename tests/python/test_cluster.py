"""A cluster of Sundial processes on one PostgreSQL or MariaDB database, under SDK load:
a node killed (-9), a node joining, a rolling restart, a stale owner (SIGSTOP past its
expiry). Every workflow must complete exactly once with contiguous event ids, and callers
must see no error (the SDK retries what it may; the nodes retry while owners move).

The nodes are processes of SUNDIAL_BIN started by the test, each cluster in a scratch schema or
database of its own (SUNDIAL_TEST_POSTGRES_URL / SUNDIAL_TEST_MYSQL_URL, the defaults of
test.sh); about a minute and a half in all. Takeover times are printed (run with -s to see
them); SUNDIAL_TEST_CLUSTER_LOG sets the nodes' log filter (their logs are in /tmp/sundial-n*).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from conftest import ServerProcess, connect_with_retry, sundial_bin
from databases import scratch
from helpers import free_port, history_events, new_worker, unique
from workflows import ClusterLoadWorkflow, cluster_step

pytestmark = pytest.mark.sundial_only

SHARDS = 16


class Cluster:
    """Nodes n1, n2, ... of one config file, started and stopped as processes."""

    def __init__(self, url: str):
        self.dir = Path(tempfile.mkdtemp(prefix="sundial-cluster-"))
        self.config = self.dir / "cluster.yaml"
        self.config.write_text(json.dumps({
            "server": {"ip": "127.0.0.1"},
            "persistence": {"url": url, "num_history_shards": SHARDS},
            "namespaces": [{"name": "default", "retention": "1day"}],
            # SUNDIAL_TEST_CLUSTER_LOG: a tracing filter for the nodes' logs (e.g.
            # "info,sundial_history=debug" to follow tasks between nodes).
            "log": {"level": os.environ.get("SUNDIAL_TEST_CLUSTER_LOG", "info")},
        }))
        self.nodes: dict[str, ServerProcess] = {}

    def start(self, name: str, services: str | None = None) -> ServerProcess:
        """Starts node `name` (all services, or the comma-separated `services`). A node
        without the frontend has no public port: its process is watched on its internal one."""
        old = self.nodes.get(name)
        port = old.port if old else free_port()
        internal = free_port()
        argv = [str(sundial_bin()), "start", "--config", str(self.config), "--node-name", name,
                "--port", str(port), "--internal-port", str(internal)]
        if services is not None:
            argv += ["--services", services]
            if "frontend" not in services.split(","):
                port = internal
        node = ServerProcess(argv, "127.0.0.1", port, f"sundial-{name}")
        node.start()
        node.wait_port()
        self.nodes[name] = node
        return node

    def address(self, name: str) -> str:
        return self.nodes[name].address

    def signal(self, name: str, sig: int) -> None:
        proc = self.nodes[name].proc
        assert proc is not None
        os.kill(proc.pid, sig)

    def members(self) -> dict[str, tuple[str, int]]:
        """Node name -> (state, shards owned), from `sundial cluster members`."""
        out = subprocess.run([str(sundial_bin()), "cluster", "members", "--config", str(self.config)],
                             check=True, capture_output=True, text=True).stdout
        rows = {}
        for line in out.splitlines()[1:]:
            cols = line.split()
            rows[cols[0]] = (cols[1], int(cols[5]))
        return rows

    async def wait_shards(self, owners: set[str], timeout: float = 15.0) -> float:
        """Seconds until the live `owners` own every shard between them."""
        started = time.monotonic()
        while True:
            rows = self.members()
            owned = sum(n for name, (state, n) in rows.items() if name in owners and state != "dead")
            if owned == SHARDS and all(rows.get(o, ("dead", 0))[0] != "dead" for o in owners):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise AssertionError(f"shards not taken over by {owners} within {timeout}s: {rows}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        for node in self.nodes.values():
            node.kill(sig_kill=True)


@pytest.fixture(params=["postgres", "mariadb"])
def cluster(request):
    url, drop = scratch(request.param)
    c = Cluster(url)
    try:
        yield c
    finally:
        c.stop()
        try:
            drop()
        except subprocess.CalledProcessError:
            pass


async def retried(call):
    """A client call, retried while its node restarts: the SDK gives a call about 10 s of
    retries; an application in front of a restarting node retries Unavailable longer."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await call()
        except RPCError as err:
            if err.status != RPCStatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def start_load(client: Client, queue: str, n: int, prefix: str = "") -> list[WorkflowHandle]:
    return list(await asyncio.gather(*(
        retried(lambda i=i: client.start_workflow(
            ClusterLoadWorkflow.run, f"v{i}", id=f"{queue}-{prefix}{i}", task_queue=queue))
        for i in range(n)
    )))


async def finish_load(client: Client, handles: list[WorkflowHandle]) -> None:
    """Signals every workflow, waits for it, and checks its history: one run, ids 1..n with
    no gap or repeat, each step exactly once."""
    for h in handles:
        await retried(lambda h=h: client.get_workflow_handle(h.id).signal(ClusterLoadWorkflow.proceed))
    results = await asyncio.gather(*(
        retried(lambda h=h: client.get_workflow_handle(h.id).result()) for h in handles
    ))
    assert all(r.endswith("++") for r in results), results[:5]
    for h in handles:
        events = await retried(lambda h=h: history_events(client.get_workflow_handle(h.id)))
        ids = [e.event_id for e in events]
        assert ids == list(range(1, len(ids) + 1)), f"{h.id}: event ids {ids}"
        names = [e.event_type for e in events]
        from temporalio.api.enums.v1 import EventType
        for once in (EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
                     EventType.EVENT_TYPE_TIMER_FIRED,
                     EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
                     EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED):
            assert names.count(once) == 1, f"{h.id}: {EventType.Name(once)} x{names.count(once)}"
        assert names.count(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED) == 2, h.id
    async def runs_of(workflow_id: str) -> int:
        return len([w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")])

    for h in handles[:: max(1, len(handles) // 20)]:
        assert await retried(lambda h=h: runs_of(h.id)) == 1, f"{h.id}: more than one run"


async def test_kill_dash_nine_under_load(cluster: Cluster) -> None:
    for name in ("n1", "n2", "n3"):
        cluster.start(name)
    await cluster.wait_shards({"n1", "n2", "n3"})
    client = await connect_with_retry(cluster.address("n1"))
    worker_client = await connect_with_retry(cluster.address("n2"))
    queue = unique("kill")
    async with new_worker(worker_client, queue, [ClusterLoadWorkflow], [cluster_step]):
        handles = await start_load(client, queue, 200)
        cluster.signal("n3", signal.SIGKILL)
        takeover = await cluster.wait_shards({"n1", "n2"})
        print(f"\ntakeover after kill -9: {takeover:.1f} s")
        await finish_load(client, handles)
    assert takeover < 15


async def test_join_under_load_and_rolling_restart(cluster: Cluster) -> None:
    for name in ("n1", "n2"):
        cluster.start(name)
    await cluster.wait_shards({"n1", "n2"})
    client = await connect_with_retry(cluster.address("n1"))
    worker_client = await connect_with_retry(cluster.address("n2"))
    queue = unique("join")
    async with new_worker(worker_client, queue, [ClusterLoadWorkflow], [cluster_step]):
        handles = await start_load(client, queue, 100)
        cluster.start("n3")
        joined = await cluster.wait_shards({"n1", "n2", "n3"})
        share = cluster.members()["n3"][1]
        print(f"\nn3 joined: {share} of {SHARDS} shards after {joined:.1f} s")
        assert SHARDS // 8 <= share <= SHARDS // 2
        await finish_load(client, handles)
        # Each node in turn: SIGTERM (it hands its shards over and exits), then back.
        more = await start_load(client, queue, 100, prefix="r")
        for name in ("n3", "n1", "n2"):
            started = time.monotonic()
            cluster.signal(name, signal.SIGTERM)
            proc = cluster.nodes[name].proc
            await asyncio.get_running_loop().run_in_executor(None, proc.wait, 20)
            exited = time.monotonic() - started
            print(f"{name} exited {exited:.1f} s after SIGTERM")
            assert exited < 10
            cluster.start(name)
            await cluster.wait_shards({"n1", "n2", "n3"})
        await finish_load(client, more)


async def test_stale_owner_cannot_commit(cluster: Cluster) -> None:
    for name in ("n1", "n2"):
        cluster.start(name)
    await cluster.wait_shards({"n1", "n2"})
    client = await connect_with_retry(cluster.address("n1"))
    queue = unique("stale")
    # n2 stops (SIGSTOP) past its expiry: n1 takes every shard. When n2 resumes, it still
    # believes it owns its old shards until it learns otherwise; nothing it writes lands.
    cluster.signal("n2", signal.SIGSTOP)
    try:
        await cluster.wait_shards({"n1"})
        async with new_worker(client, queue, [ClusterLoadWorkflow], [cluster_step]):
            handles = await start_load(client, queue, 40)
            cluster.signal("n2", signal.SIGCONT)
            await finish_load(client, handles)
    finally:
        cluster.signal("n2", signal.SIGCONT)
    # n2 is back as a member; the shards spread over both again.
    await cluster.wait_shards({"n1", "n2"})
