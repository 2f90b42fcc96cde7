"""Database faults under SDK load, on PostgreSQL and MariaDB: the database's sessions killed
(`pg_terminate_backend`, `KILL`), the database gone for a while (connections cut, new ones
refused, as while it restarts), commits whose reply is lost after the database applied them, and
Sundial itself killed -9. Sundial keeps running through the database faults (no restart), a call
made while the database is away gets Unavailable, and afterwards every workflow that was started
completes exactly once with a contiguous history.

Sundial reaches its database through a TCP proxy in this test (databases.FaultProxy), in a
scratch schema or database of its own; it runs only when the suite manages Sundial itself."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import AsyncIterator

import pytest
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import ServerProcess, connect_with_retry, dynamic_config_args, sundial_bin
from databases import KINDS, FaultProxy, kill_connections, scratch, through
from helpers import free_port, new_worker, unique
from test_durability import complete_each_once, stop_worker
from workflows import TwoStepWorkflow, count_execution

pytestmark = pytest.mark.sundial_only


@dataclass
class Setup:
    kind: str
    proxy: FaultProxy
    config: Path
    port: int
    server: ServerProcess
    client: Client

    def alive(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None

    async def restart(self) -> None:
        """Starts Sundial again on the same config (after a kill -9) and reconnects."""
        self.server = ServerProcess(self.server.argv, "127.0.0.1", self.port, "sundial-db-faults-restarted")
        self.server.start()
        await asyncio.to_thread(self.server.wait_port)
        self.client = await connect_with_retry(self.server.address)


@pytest.fixture(params=KINDS)
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    kind = request.param
    url, drop = scratch(kind)
    proxy = FaultProxy(kind)
    proxy_port = await proxy.start()
    work = Path(tempfile.mkdtemp(prefix="sundial-db-faults-"))
    port = free_port()
    config = work / "sundial.yaml"
    config.write_text(json.dumps({
        "server": {"ip": "127.0.0.1", "port": port},
        "persistence": {"url": through(url, proxy_port)},
        "namespaces": [{"name": "default", "retention": "1day"}],
        # SUNDIAL_FAULTS_LOG: a finer level to look into a failure (e.g. "info,sundial_history=debug").
        "log": {"level": os.environ.get("SUNDIAL_FAULTS_LOG", "warn")},
    }))
    argv = [str(sundial_bin()), "start", "--config", str(config), *dynamic_config_args()]
    server = ServerProcess(argv, "127.0.0.1", port, f"sundial-db-faults-{kind}")
    server.start()
    setup: Setup | None = None
    try:
        await asyncio.to_thread(server.wait_port)
        setup = Setup(kind, proxy, config, port, server, await connect_with_retry(server.address))
        yield setup
    finally:
        (setup.server if setup else server).kill(sig_kill=True)
        server.kill(sig_kill=True)
        await proxy.close()
        drop()


@dataclass
class Load:
    """Lanes that keep starting TwoStepWorkflows (activity, 1 s timer, activity) while a worker
    runs them. A start the SDK gave up on (after its retries) may still have been applied: it
    is kept aside and checked afterwards."""

    client: Client
    tq: str = field(default_factory=lambda: unique("dbfault"))
    acknowledged: list[str] = field(default_factory=list)
    given_up: list[tuple[str, str]] = field(default_factory=list)
    stopping: bool = False
    lanes: list[asyncio.Task] = field(default_factory=list)

    def start(self, lanes: int = 3) -> None:
        self.lanes = [asyncio.create_task(self._lane(i)) for i in range(lanes)]

    async def _lane(self, lane: int) -> None:
        n = 0
        while not self.stopping:
            key = f"{self.tq}-{lane}-{n}"
            n += 1
            try:
                await self.client.start_workflow(
                    TwoStepWorkflow.run, key, id=key, task_queue=self.tq,
                    task_timeout=timedelta(seconds=2),
                )
                self.acknowledged.append(key)
            except RPCError as e:
                self.given_up.append((key, e.status.name if e.status else str(e)))
            await asyncio.sleep(0.1)

    async def until_acknowledged(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < count:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} starts acknowledged"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.stopping = True
        await asyncio.gather(*self.lanes)


async def started_keys(client: Client, load: Load) -> list[str]:
    """Every workflow of the load that exists: the acknowledged starts, plus those the SDK gave
    up on that the database applied anyway."""
    keys = list(load.acknowledged)
    for key, _ in load.given_up:
        try:
            await client.get_workflow_handle(key).describe()
            keys.append(key)
        except RPCError as e:
            assert e.status == RPCStatusCode.NOT_FOUND, (key, e)
    return keys


async def each_completes_once(client: Client, load: Load) -> int:
    """Every started workflow completes exactly once, its history contiguous from event 1."""
    keys = await started_keys(client, load)
    await complete_each_once(client, load.tq, keys, timeout=180)
    return len(keys)


async def served_again_and_each_completes_once(db: Setup, load: Load, worker, running) -> int:
    """After a fault: new starts are acknowledged again with no restart of Sundial; then the
    load and its worker stop and every workflow started completes exactly once."""
    before = len(load.acknowledged)
    await load.until_acknowledged(before + 10)
    await load.stop()
    assert db.alive(), db.server.log_tail()
    await stop_worker(worker, running)
    return await each_completes_once(db.client, load)


async def with_worker(setup: Setup, load: Load):
    worker = new_worker(setup.client, load.tq, [TwoStepWorkflow], [count_execution])
    return worker, asyncio.create_task(worker.run())


async def test_killed_sessions(db: Setup) -> None:
    """The database kills Sundial's sessions over and over mid-load; Sundial reconnects."""
    load = Load(db.client)
    worker, running = await with_worker(db, load)
    load.start()
    await load.until_acknowledged(10)
    killed = 0
    for _ in range(6):
        killed += await asyncio.to_thread(kill_connections, db.kind, db.proxy.upstream_ports())
        await asyncio.sleep(0.5)
    assert killed >= 6, killed
    done = await served_again_and_each_completes_once(db, load, worker, running)
    print(f"\n[{db.kind}] {killed} sessions killed; {done} workflows each completed once; "
          f"{len(load.given_up)} starts given up by the SDK")


async def test_database_away_then_back(db: Setup) -> None:
    """The database goes away (its connections cut, new ones refused, as while it restarts)
    for about 10 s: a call meanwhile gets Unavailable within its deadline; then Sundial serves
    again by itself. (A node that cannot heartbeat gives its shards up after 3 s, as in a
    cluster; a call then waits for an owner until a tenth of its deadline is left, at most 20 s,
    and the SDKs retry it: an outage shorter than that costs callers time, not errors.)"""
    load = Load(db.client)
    worker, running = await with_worker(db, load)
    load.start()
    await load.until_acknowledged(10)
    await db.proxy.down()
    went_down = time.monotonic()
    request = StartWorkflowExecutionRequest(
        namespace="default", workflow_id=unique("during-outage"),
        workflow_type=WorkflowType(name="TwoStepWorkflow"),
        task_queue=TaskQueue(name=load.tq), request_id=str(uuid.uuid4()),
    )
    with pytest.raises(RPCError) as refused:
        await db.client.workflow_service.start_workflow_execution(
            request, retry=False, timeout=timedelta(seconds=10))
    answered_in = time.monotonic() - went_down
    assert refused.value.status == RPCStatusCode.UNAVAILABLE, refused.value
    assert answered_in < 10, answered_in
    await asyncio.sleep(max(1.0, 6 - answered_in))
    assert db.alive(), db.server.log_tail()
    away = time.monotonic() - went_down
    await db.proxy.up()
    done = await served_again_and_each_completes_once(db, load, worker, running)
    print(f"\n[{db.kind}] database away {away:.1f} s: Unavailable after {answered_in:.2f} s; "
          f"{done} workflows each completed once; {len(load.given_up)} starts given up by the SDK")


async def test_commit_applied_but_reply_lost(db: Setup) -> None:
    """The database applies a COMMIT and the connection drops before its answer reaches
    Sundial, eight times mid-load: no event is lost or written twice."""
    load = Load(db.client)
    worker, running = await with_worker(db, load)
    load.start()
    await load.until_acknowledged(10)
    db.proxy.lose_commit_replies = 8
    deadline = time.monotonic() + 60
    while db.proxy.lost_commit_replies < 8:
        assert time.monotonic() < deadline, db.proxy.lost_commit_replies
        await asyncio.sleep(0.05)
    done = await served_again_and_each_completes_once(db, load, worker, running)
    print(f"\n[{db.kind}] {db.proxy.lost_commit_replies} commit replies lost; {done} workflows "
          f"each completed once; {len(load.given_up)} starts given up by the SDK")


async def test_kill_dash_nine_under_load(db: Setup) -> None:
    """Sundial killed -9 mid-load and started again on the same database: every acknowledged
    start is there and completes exactly once."""
    load = Load(db.client)
    worker, running = await with_worker(db, load)
    load.start()
    await load.until_acknowledged(30)
    db.server.kill(sig_kill=True)
    load.stopping = True
    for lane in load.lanes:
        lane.cancel()  # a start in flight was never acknowledged
    await asyncio.gather(*load.lanes, return_exceptions=True)
    await stop_worker(worker, running)
    await db.restart()
    done = await each_completes_once(db.client, load)
    print(f"\n[{db.kind}] killed -9 after {len(load.acknowledged)} acknowledged starts; "
          f"{done} workflows each completed once")
