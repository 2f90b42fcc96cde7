"""SIGTERM drains: the server stops accepting calls, ends the long polls waiting on it with an
empty answer, finishes the calls in flight and exits 0 within its bound (5 s for calls still
running after the polls end); a restart on the same database right after loses nothing that
was acknowledged, and every workflow then completes exactly once (its activities at least
once, as Temporal promises).

Starts and stops its own server process (SQLite file), so it runs only when the suite
manages Sundial itself."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import PollWorkflowTaskQueueRequest

from conftest import ServerProcess, connect_with_retry, sundial_argv
from helpers import free_port, new_worker, unique
from test_durability import complete_each_once, stop_worker
from workflows import TwoStepWorkflow, count_execution

pytestmark = pytest.mark.sundial_only

#: How long a drained server may take from SIGTERM to its exit: the 5 s the server gives
#: calls still in flight, plus the process's own start-to-exit slack on a busy machine.
EXIT_BOUND = 10.0


async def test_sigterm_drains_and_a_restart_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    argv = sundial_argv(port, ["--db-filename", str(tmp_path / "d.db")])
    server = ServerProcess(argv, "127.0.0.1", port, "sundial-drain")
    restarted: ServerProcess | None = None
    tq = unique("drain")
    acknowledged: list[str] = []
    try:
        server.start()
        server.wait_port()
        client = await connect_with_retry(server.address)
        worker = new_worker(client, tq, [TwoStepWorkflow], [count_execution])
        worker_task = asyncio.create_task(worker.run())

        # A long poll of a queue nobody feeds, waiting when the signal comes.
        idle_poll = asyncio.create_task(client.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=unique("idle")), identity="drain-test",
            ),
            retry=False,
            timeout=timedelta(seconds=70),
        ))

        async def keep_starting(lane: int) -> None:
            """Starts workflows until the server refuses; records each start it acknowledged."""
            for n in range(10_000):
                key = f"{tq}-{lane}-{n}"
                try:
                    await client.start_workflow(
                        TwoStepWorkflow.run, key, id=key, task_queue=tq,
                        task_timeout=timedelta(seconds=2), rpc_timeout=timedelta(seconds=5),
                    )
                except Exception:  # noqa: BLE001 - refused once the server drains
                    return
                acknowledged.append(key)

        starters = [asyncio.create_task(keep_starting(lane)) for lane in range(4)]
        while len(acknowledged) < 20:
            await asyncio.sleep(0.05)

        signalled = time.monotonic()
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        answer = await asyncio.wait_for(idle_poll, timeout=EXIT_BOUND)
        assert answer.task_token == b"", "the waiting long poll ends empty"
        code = await asyncio.to_thread(server.proc.wait, EXIT_BOUND + 5)
        took = time.monotonic() - signalled
        assert code == 0, server.log_tail()
        assert took < EXIT_BOUND, (took, server.log_tail())
        # A start the server answered is acknowledged by now; one still being retried by the
        # SDK (the server is gone) was never acknowledged, and is given up.
        await asyncio.sleep(0.5)
        for starter in starters:
            starter.cancel()
        await asyncio.gather(*starters, return_exceptions=True)
        await stop_worker(worker, worker_task)
        print(f"\n[drain] exited 0 {took:.2f} s after SIGTERM; {len(acknowledged)} starts acknowledged")

        # Right after, on the same file: every acknowledged start is there and completes once.
        restarted = ServerProcess(argv, "127.0.0.1", port, "sundial-drain-restarted")
        restarted.start()
        restarted.wait_port()
        client = await connect_with_retry(restarted.address)
        await complete_each_once(client, tq, acknowledged, timeout=120)
    finally:
        server.kill(sig_kill=True)
        if restarted is not None:
            restarted.kill()
