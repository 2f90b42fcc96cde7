"""Schedule firing accuracy: how late schedules start their runs, with many schedules due at
the same seconds, on Sundial and on the real Temporal dev server.

    cargo build --release -p sundial-server
    .venv/bin/python bench/python/schedule_bench.py --schedules 1000 --seconds 60

For each server (fresh, in-memory SQLite, started by this script): creates the schedules
(each `every 10s`, all due at the same seconds, ALLOW_ALL, starting a workflow on a queue no
worker polls, so only the start is measured), lets them run for `--seconds`, then reads every
schedule's recent actions (DescribeSchedule: up to 10 each) and reports the lag of each
action, `actual_time - schedule_time`, as p50/p99/max, the number of actions against the
number due, and the server's CPU over the run. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from ports import free_port, wait_port

REPO = Path(__file__).resolve().parents[2]
INTERVAL = timedelta(seconds=10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_argv(kind: str, port: int) -> list[str]:
    if kind == "sundial":
        return [str(REPO / "target/release/sundial"), "start-dev", "--headless", "--port", str(port), "--ip", "127.0.0.1", "--log-level", "error"]
    return [
        str(REPO / ".venv/bin/temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
        "--port", str(port), "--ui-port", str(free_port()), "--log-level", "error",
    ]


async def measure(kind: str, schedules: int, seconds: float) -> dict:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(server_argv(kind, port), stdout=log, stderr=log)
        try:
            wait_port(port)
            client = await connect(f"127.0.0.1:{port}")
            created = time.monotonic()
            sem = asyncio.Semaphore(50)

            async def create(i: int) -> None:
                async with sem:
                    await client.create_schedule(
                        f"bench-{i}",
                        Schedule(
                            action=ScheduleActionStartWorkflow("Unpolled", id=f"bench-{i}", task_queue="unpolled"),
                            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=INTERVAL)]),
                            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
                        ),
                    )

            await asyncio.gather(*(create(i) for i in range(schedules)))
            create_s = time.monotonic() - created
            cpu0 = cpu_seconds(proc.pid)
            await asyncio.sleep(seconds)
            cpu = cpu_seconds(proc.pid) - cpu0
            lags: list[float] = []

            async def read(i: int) -> None:
                async with sem:
                    info = (await client.get_schedule_handle(f"bench-{i}").describe()).info
                    lags.extend((a.started_at - a.scheduled_at).total_seconds() for a in info.recent_actions)

            await asyncio.gather(*(read(i) for i in range(schedules)))
        finally:
            proc.kill()
            proc.wait()
    lags.sort()
    due = schedules * min(10, int(seconds // INTERVAL.total_seconds()))
    return {
        "server": kind,
        "create_s": create_s,
        "actions": len(lags),
        "due_at_least": due,
        "p50_ms": 1000 * statistics.median(lags) if lags else float("nan"),
        "p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"),
        "max_ms": 1000 * lags[-1] if lags else float("nan"),
        "cpu_s": cpu,
    }


async def connect(address: str) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            return await Client.connect(address)
        except Exception:  # noqa: BLE001 - the server is still starting
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--servers", default="sundial,temporal")
    args = parser.parse_args()
    rows = [await measure(kind, args.schedules, args.seconds) for kind in args.servers.split(",")]
    print(f"{args.schedules} schedules, every {INTERVAL.total_seconds():.0f} s, {args.seconds:.0f} s measured\n")
    print("| server | create all (s) | actions (due >=) | lag p50 (ms) | lag p99 (ms) | lag max (ms) | server CPU (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['server']} | {r['create_s']:.1f} | {r['actions']} ({r['due_at_least']}) | {r['p50_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['cpu_s']:.1f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
