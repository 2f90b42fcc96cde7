"""A SQLite file on a disk that fills up under SDK load (a small tmpfs, shrunk to what is in
use): calls get a clear Unavailable naming the full disk, the server keeps running, and when
space returns it serves again by itself; every workflow started completes exactly once and the
file passes SQLite's integrity check.

Mounting needs root (CAP_SYS_ADMIN), as test.sh has on its machines; elsewhere it is skipped.
It starts its own server, so it runs only when the suite manages Sundial itself."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from temporalio.api.common.v1 import Payload, Payloads, WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode

from conftest import ServerProcess, connect_with_retry, sundial_argv
from helpers import free_port, new_worker, unique
from test_database_faults import Load, each_completes_once
from test_durability import stop_worker
from workflows import TwoStepWorkflow, count_execution

pytestmark = pytest.mark.sundial_only


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted for the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, size_bytes: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", "-o", f"remount,size={size_bytes // 1024}k", str(mount)],
                          capture_output=True, text=True)


def resize(mount: Path, size_bytes: int) -> None:
    remount(mount, size_bytes).check_returncode()


def shrink_to_use_plus(mount: Path, margin: int) -> None:
    """Shrinks the tmpfs to what is in use plus `margin`. The load keeps writing meanwhile, and
    tmpfs refuses (EINVAL) a size below its use, so a refusal is tried again with a fresh count."""
    for _ in range(50):
        done = remount(mount, used_bytes(mount) + margin)
        if done.returncode == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"could not shrink {mount}: {done.stderr.strip()}")


def used_bytes(mount: Path) -> int:
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


async def test_sqlite_on_a_full_disk(small_disk: Path) -> None:
    port = free_port()
    db_file = small_disk / "d.db"
    server = ServerProcess(sundial_argv(port, ["--db-filename", str(db_file)]), "127.0.0.1", port,
                           "sundial-disk-full")
    try:
        server.start()
        await asyncio.to_thread(server.wait_port)
        client = await connect_with_retry(server.address)
        load = Load(client)
        worker = new_worker(client, load.tq, [TwoStepWorkflow], [count_execution])
        running = asyncio.create_task(worker.run())
        load.start()
        await load.until_acknowledged(10)

        # The disk now holds what is written and 128 KiB more. SQLite writes into the free
        # pages of its files first, so the load alone may go on a while: starts with a 1 MiB
        # input each (on a queue nobody polls) fill what is left until one is refused.
        shrink_to_use_plus(small_disk, 128 * 1024)
        big = Payloads(payloads=[Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(2**20))])
        refused: RPCError | None = None
        deadline = time.monotonic() + 60
        while refused is None:
            assert time.monotonic() < deadline, "the disk never filled"
            request = StartWorkflowExecutionRequest(
                namespace="default", workflow_id=unique("disk-full"),
                workflow_type=WorkflowType(name="TwoStepWorkflow"), input=big,
                task_queue=TaskQueue(name=unique("nobody")), request_id=str(uuid.uuid4()),
            )
            try:
                await client.workflow_service.start_workflow_execution(
                    request, retry=False, timeout=timedelta(seconds=20))
            except RPCError as e:
                refused = e
            await asyncio.sleep(0.1)
        assert refused.status == RPCStatusCode.UNAVAILABLE, refused
        assert "full" in refused.message, refused.message
        await asyncio.sleep(2)  # the load keeps knocking on a full disk
        assert server.proc is not None and server.proc.poll() is None, server.log_tail()

        resize(small_disk, 64 * 1024 * 1024)
        before = len(load.acknowledged)
        await load.until_acknowledged(before + 10)
        await load.stop()
        await stop_worker(worker, running)
        done = await each_completes_once(client, load)
        server.kill()  # SIGTERM: a clean stop before the file is checked
        with sqlite3.connect(db_file) as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        print(f"\n[disk full] refused with: {refused.message!r}; {done} workflows each completed "
              f"once; {len(load.given_up)} starts given up by the SDK; integrity ok")
    finally:
        server.kill(sig_kill=True)
