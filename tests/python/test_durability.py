"""Crash durability: kill -9 a Sundial server in the middle of work, restart it on
the same database file, and check that every workflow finishes exactly once.

This test starts and stops its own server process, so it only runs when the suite
itself manages Sundial (no SUNDIAL_TEST_ADDRESS, and SUNDIAL_BIN exists)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from conftest import ServerProcess, connect_with_retry, sundial_argv
from helpers import count, free_port, history_event_types, new_worker, unique
from workflows import TwoStepWorkflow, count_execution

WORKFLOWS = 20


async def stop_worker(worker, task: asyncio.Task) -> None:
    """Shut a worker down even though its server is gone."""
    try:
        await asyncio.wait_for(worker.shutdown(), timeout=20)
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - the server is dead on purpose
        pass
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.sundial_only
async def test_kill_dash_nine_and_restart(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "d.db"
    argv = sundial_argv(port, ["--db-filename", str(db)])
    server = ServerProcess(argv, "127.0.0.1", port, "sundial-durability")
    restarted: ServerProcess | None = None
    tq = unique("durable")
    keys = [unique(f"wf{i}") for i in range(WORKFLOWS)]
    try:
        server.start()
        server.wait_port()
        client = await connect_with_retry(server.address)

        worker = new_worker(client, tq, [TwoStepWorkflow], [count_execution])
        worker_task = asyncio.create_task(worker.run())
        for key in keys:
            await client.start_workflow(
                TwoStepWorkflow.run,
                key,
                id=key,
                task_queue=tq,
                task_timeout=timedelta(seconds=2),
            )
        await asyncio.sleep(1.0)  # first activities done, timers pending
        server.kill(sig_kill=True)
        await stop_worker(worker, worker_task)

        restarted = ServerProcess(argv, "127.0.0.1", port, "sundial-durability-restarted")
        restarted.start()
        restarted.wait_port()
        client = await connect_with_retry(restarted.address)  # a fresh client
        async with new_worker(client, tq, [TwoStepWorkflow], [count_execution]):
            results = await asyncio.wait_for(
                asyncio.gather(*(client.get_workflow_handle(key).result() for key in keys)),
                timeout=90,
            )
        assert results == [[f"{key}/a:done", f"{key}/b:done"] for key in keys]

        for key in keys:
            types = await history_event_types(client.get_workflow_handle(key))
            assert count(types, "WorkflowExecutionStarted") == 1, (key, types)
            assert count(types, "ActivityTaskScheduled") == 2, (key, types)
            assert count(types, "ActivityTaskCompleted") == 2, (key, types)
            assert count(types, "TimerFired") == 1, (key, types)
            assert count(types, "WorkflowExecutionCompleted") == 1, (key, types)
            assert types[-1] == "WorkflowExecutionCompleted", (key, types)
    finally:
        server.kill(sig_kill=True)
        if restarted is not None:
            restarted.kill()
