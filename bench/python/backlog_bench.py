"""A backlog nobody polls: how much memory Sundial holds for it, and how long a restart takes
to serve again, with tasks paged from the database (the default budget per task queue and
shard) and with every task held (a budget larger than the backlog, as before paging).

    cargo build --release -p sundial-server
    .venv/bin/python bench/python/backlog_bench.py --workflows 100000

Each variant gets its own SQLite file: N workflows are started on a queue without workers
(one pending workflow task each), the server is restarted, and a Python SDK worker drains
the first `--drain` tasks. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio import workflow

from ports import free_port
from procfs import proc_figures
from server_process import Server

ROOT = Path(__file__).resolve().parents[2]


@workflow.defn(name="Backlog")
class Backlog:
    @workflow.run
    async def run(self) -> None:
        return None


async def start_all(address: str, n: int, queue: str) -> float:
    client = await Client.connect(address)
    began = time.monotonic()
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with gate:
            await client.start_workflow("Backlog", id=f"backlog-{i}", task_queue=queue)

    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.monotonic() - began)


async def drain(address: str, n: int, queue: str, began: float) -> tuple[float, float]:
    """Seconds from `began` to the first completed workflow, and workflows/s up to `n`."""
    client = await Client.connect(address)
    first = None
    async with Worker(
        client, task_queue=queue, workflows=[Backlog], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        while True:
            count = (await client.count_workflows("ExecutionStatus='Completed'")).count
            if count and first is None:
                first = time.monotonic() - began
            if count >= n:
                break
            await asyncio.sleep(0.1)
    assert first is not None
    return first, n / (time.monotonic() - began - first)


async def variant(binary: Path, workflows: int, drain_n: int, budget: int | None) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="sundial-backlog-bench-"))
    port = free_port()
    config = directory / "sundial.yaml"
    settings: dict = {
        "server": {"ip": "127.0.0.1", "port": port},
        "persistence": {"url": f"sqlite://{directory / 'db'}?mode=rwc"},
        "namespaces": [{"name": "default", "retention": "1day"}],
        "log": {"level": "warn"},
    }
    if budget is not None:
        settings["history"] = {"max_tasks_in_memory": budget, "task_lookahead": "1000h"}
    config.write_text(json.dumps(settings))
    server = Server(binary, config, port)
    address = f"127.0.0.1:{port}"
    queue = "backlog-" + uuid.uuid4().hex[:6]
    server.start()
    rate = await start_all(address, workflows, queue)
    await asyncio.sleep(3)
    rss_filled = proc_figures(server.pid)[0]
    server.stop()
    began = time.monotonic()
    ready = server.start(timeout=120)
    first, drain_rate = await drain(address, drain_n, queue, began)
    rss_restarted = proc_figures(server.pid)[0]
    server.stop()
    return {
        "start_rate": rate,
        "rss_filled": rss_filled,
        "restart_ready_s": ready,
        "first_after_restart_s": first,
        "rss_restarted": rss_restarted,
        "drain_rate": drain_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "sundial"))
    parser.add_argument("--workflows", type=int, default=100_000)
    parser.add_argument("--drain", type=int, default=2_000)
    args = parser.parse_args()
    binary = Path(args.bin)
    paged = asyncio.run(variant(binary, args.workflows, args.drain, None))
    held = asyncio.run(variant(binary, args.workflows, args.drain, 10 * args.workflows))
    print(f"\n{args.workflows} pending workflow tasks on one queue, SQLite file, {binary}\n")
    print("| metric | paged (default budget) | all held (budget > backlog) |")
    print("|---|---:|---:|")
    rows = [
        ("starts/s while filling", "start_rate", "{:.0f}"),
        ("RSS with the backlog (MiB)", "rss_filled", "{:.0f}"),
        ("restart: start to port open (s)", "restart_ready_s", "{:.2f}"),
        ("restart: start to first workflow completed (s)", "first_after_restart_s", "{:.2f}"),
        ("RSS after the drain (MiB)", "rss_restarted", "{:.0f}"),
        (f"drain of the first {args.drain}: workflows/s", "drain_rate", "{:.0f}"),
    ]
    for label, key, fmt in rows:
        print(f"| {label} | {fmt.format(paged[key])} | {fmt.format(held[key])} |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
