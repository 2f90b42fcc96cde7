"""Soak: mixed SDK load on one Sundial for a long time (30 minutes by default), sampling the
server's memory and open descriptors and the callers' latencies, to see whether any of them
drifts once warmed up.

    cargo build --release -p sundial-server
    .venv/bin/python bench/python/soak_bench.py --minutes 30

Each workflow runs an activity, a 200 ms timer, waits for a signal, runs a child workflow (with
an activity of its own), accepts an update, then completes. Closed-loop drivers each start one,
signal it, send the update and wait for its result, again and again. The server keeps its state in
a SQLite file (WAL, synchronous=FULL) with metrics on. Every 10 s the script samples RSS and
descriptors; per window (5 minutes by default) it reports workflows/s and the end-to-end p50/p99,
and the start, signal and update call p99s. Prints a Markdown table; --json writes every sample.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from ports import free_port, wait_port
from procfs import proc_figures

ROOT = Path(__file__).resolve().parents[2]


@activity.defn
async def soak_step(value: str) -> str:
    return value + "!"


@workflow.defn
class SoakChild:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(soak_step, value, start_to_close_timeout=timedelta(seconds=30))


@workflow.defn
class SoakWorkflow:
    def __init__(self) -> None:
        self.poked = False
        self.updates = 0

    @workflow.run
    async def run(self, value: str) -> str:
        first = await workflow.execute_activity(soak_step, value, start_to_close_timeout=timedelta(seconds=30))
        await asyncio.sleep(0.2)
        await workflow.wait_condition(lambda: self.poked)
        child = await workflow.execute_child_workflow(SoakChild.run, first, id=workflow.info().workflow_id + "-child")
        await workflow.wait_condition(lambda: self.updates > 0)
        return child

    @workflow.signal
    def poke(self) -> None:
        self.poked = True

    @workflow.update
    def bump(self, by: int) -> int:
        self.updates += by
        return self.updates


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


@dataclass
class Window:
    began: float
    completed: int = 0
    errors: int = 0
    e2e_ms: list[float] = field(default_factory=list)
    start_ms: list[float] = field(default_factory=list)
    signal_ms: list[float] = field(default_factory=list)
    update_ms: list[float] = field(default_factory=list)
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, rss MiB, fds)


async def soak(address: str, pid: int, minutes: float, window_s: float, concurrency: int) -> list[Window]:
    client = await Client.connect(address)
    tq = f"soak-{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    deadline = began + minutes * 60
    windows = [Window(began)]

    def current() -> Window:
        now = time.monotonic()
        if now - windows[-1].began >= window_s:
            windows.append(Window(windows[-1].began + window_s))
        return windows[-1]

    async def timed(bucket: str, call):
        t0 = time.monotonic()
        result = await call
        getattr(current(), bucket).append((time.monotonic() - t0) * 1e3)
        return result

    async def driver() -> None:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                handle = await timed("start_ms", client.start_workflow(
                    SoakWorkflow.run, "x", id=f"soak-{uuid.uuid4().hex}", task_queue=tq))
                await timed("signal_ms", handle.signal(SoakWorkflow.poke))
                await timed("update_ms", handle.execute_update(SoakWorkflow.bump, 1))
                await handle.result()
                w = current()
                w.completed += 1
                w.e2e_ms.append((time.monotonic() - t0) * 1e3)
            except Exception as err:  # noqa: BLE001 - counted, the soak goes on
                current().errors += 1
                print(f"error: {err!r}", flush=True)
                await asyncio.sleep(0.5)

    async def sampler() -> None:
        while time.monotonic() < deadline:
            rss, fds = proc_figures(pid)
            current().samples.append((time.monotonic() - began, rss, fds))
            await asyncio.sleep(10)

    async with Worker(client, task_queue=tq, workflows=[SoakWorkflow, SoakChild], activities=[soak_step],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        await asyncio.gather(sampler(), *(driver() for _ in range(concurrency)))
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--window-minutes", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "sundial"))
    parser.add_argument("--json", help="also write every window here")
    parser.add_argument("--wrap", default="", help="a command to run the server under, e.g. "
                        "'heaptrack -o FILE' (the samples are then of the wrapper's process)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sundial-soak-"))
    port, metrics = free_port(), free_port()
    (work / "sundial.yaml").write_text(json.dumps({
        "server": {"ip": "127.0.0.1", "port": port},
        "persistence": {"url": f"sqlite://{work / 'db'}?mode=rwc"},
        "namespaces": [{"name": "default", "retention": "1day"}],
        "log": {"level": "warn"},
        "global": {"metrics": {"prometheus": {"listenAddress": f"127.0.0.1:{metrics}"}}},
    }))
    with open(work / "sundial.log", "ab") as log:
        proc = subprocess.Popen([*shlex.split(args.wrap), args.bin, "start", "--config", str(work / "sundial.yaml"),
                                 "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(port)
        windows = asyncio.run(soak(f"127.0.0.1:{port}", proc.pid, args.minutes,
                                   args.window_minutes * 60, args.concurrency))
    finally:
        # The whole group: a wrapper (heaptrack) does not pass the signal on.
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)

    # Workflows still finishing after the end would make a last window of their own.
    windows = [w for w in windows if w.began - windows[0].began < args.minutes * 60 - 1e-6]
    if args.json:
        Path(args.json).write_text(json.dumps([w.__dict__ for w in windows]))
    print(f"\nsoak: {args.minutes:g} min, {args.concurrency} drivers, SQLite file, {args.bin}\n")
    print("| minutes | workflows/s | e2e p50 (ms) | e2e p99 (ms) | start p99 | signal p99 | update p99 "
          "| errors | RSS end (MiB) | RSS max | fds end |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, w in enumerate(windows):
        rss = [s[1] for s in w.samples] or [0.0]
        fds = [s[2] for s in w.samples] or [0]
        lo, hi = i * args.window_minutes, (i + 1) * args.window_minutes
        print(f"| {lo:g}–{hi:g} | {w.completed / (args.window_minutes * 60):.1f} "
              f"| {percentile(w.e2e_ms, 50):.0f} | {percentile(w.e2e_ms, 99):.0f} "
              f"| {percentile(w.start_ms, 99):.1f} | {percentile(w.signal_ms, 99):.1f} "
              f"| {percentile(w.update_ms, 99):.1f} | {w.errors} | {rss[-1]:.1f} | {max(rss):.1f} | {fds[-1]} |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
