"""A million open workflows, each holding a timer: Sundial's memory while it fills, after a
restart with them all in the database, and while it serves new work beside them; and how long
the restart takes.

    cargo build --release -p sundial-server -p sundial-bench
    .venv/bin/python bench/python/open_timers_bench.py --storage sqlite --workflows 1000000
    .venv/bin/python bench/python/open_timers_bench.py --storage postgres --workflows 1000000

`sundial-bench run --scenario open-timer` starts the workflows and answers each first workflow
task with a one-day timer, so every run stays open with a pending timer task. The server is then
stopped (SIGTERM) and started again on the same database; a one-activity load runs for 20 s
beside the million open runs. Prints a Markdown table (and JSON with --json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client

from ports import free_port
from procfs import proc_figures
from server_process import Server

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("SUNDIAL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def bench(bench_bin: Path, address: str, pid: int, *args: str) -> dict:
    out = subprocess.run([str(bench_bin), "run", "--address", address, "--pid", str(pid), *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


async def open_runs(address: str, expected: int) -> int:
    """The count of running workflows once it reaches `expected` (visibility writes left
    pending at the stop are done after the restart), or what it is after two minutes."""
    client = await Client.connect(address)
    deadline = time.monotonic() + 120
    while True:
        count = (await client.count_workflows("ExecutionStatus = 'Running'")).count
        if count >= expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workflows", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "sundial"))
    parser.add_argument("--bench-bin", default=str(ROOT / "target" / "release" / "sundial-bench"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sundial-open-timers-"))
    if args.storage == "sqlite":
        url = f"sqlite://{work / 'db'}?mode=rwc"
        drop = lambda: None  # noqa: E731
    else:
        schema = "open_timers_" + uuid.uuid4().hex[:8]
        subprocess.run(["psql", "-q", PG, "-c", f"CREATE SCHEMA {schema}"], check=True)
        url = f"{PG}{'&' if '?' in PG else '?'}options=-c%20search_path%3D{schema}"
        drop = lambda: subprocess.run(["psql", "-q", PG, "-c", f"DROP SCHEMA {schema} CASCADE"], check=False)  # noqa: E731
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = work / "sundial.yaml"
    config.write_text(json.dumps({
        "server": {"ip": "127.0.0.1", "port": port},
        "persistence": {"url": url},
        "namespaces": [{"name": "default", "retention": "1day"}],
        "log": {"level": "warn"},
    }))
    server = Server(Path(args.bin), config, port, work / "sundial.log")
    figures: dict = {"storage": args.storage, "workflows": args.workflows}
    try:
        figures["first_start_s"] = server.start()
        figures["idle_rss_mib"], figures["idle_fds"] = proc_figures(server.pid)
        filled = bench(Path(args.bench_bin), address, server.pid, "--scenario", "open-timer",
                       "--timer-ms", str(24 * 3600 * 1000), "--workflows", str(args.workflows),
                       "--seconds", "100000", "--concurrency", str(args.concurrency))
        figures["fill"] = filled
        time.sleep(5)
        figures["filled_rss_mib"], figures["filled_fds"] = proc_figures(server.pid)
        figures["stop_s"] = server.stop()

        figures["restart_to_port_s"] = server.start()
        began = time.monotonic()
        figures["open_runs"] = asyncio.run(open_runs(address, filled["completed"]))
        figures["restart_count_s"] = time.monotonic() - began
        time.sleep(5)
        figures["restarted_rss_mib"], figures["restarted_fds"] = proc_figures(server.pid)
        beside = bench(Path(args.bench_bin), address, server.pid, "--scenario", "one-activity",
                       "--seconds", "20", "--concurrency", "32")
        figures["beside"] = beside
        figures["after_load_rss_mib"], figures["after_load_fds"] = proc_figures(server.pid)
        server.stop()
        if args.storage == "sqlite":
            figures["database_mib"] = sum(f.stat().st_size for f in work.glob("db*")) / 2**20
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
        drop()

    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    fill = figures["fill"]
    rows = [
        ("open workflows, each with a pending one-day timer", f"{figures['open_runs']:,}"),
        ("fill: workflows/s (start + first task answered with the timer)", f"{fill['throughput']:.0f}"),
        ("fill: errors", f"{fill['errors']}"),
        ("RSS idle before the fill (MiB)", f"{figures['idle_rss_mib']:.0f}"),
        ("RSS peak while filling (MiB)", f"{fill['peak_rss_mib']:.0f}"),
        ("RSS filled, 5 s after (MiB)", f"{figures['filled_rss_mib']:.0f}"),
        ("SIGTERM to exit (s)", f"{figures['stop_s']:.2f}"),
        ("restart: start to port open (s)", f"{figures['restart_to_port_s']:.2f}"),
        ("restart: until every open run is listed (s)", f"{figures['restart_count_s']:.2f}"),
        ("RSS after the restart (MiB)", f"{figures['restarted_rss_mib']:.0f}"),
        ("one-activity beside them: workflows/s", f"{figures['beside']['throughput']:.0f}"),
        ("one-activity beside them: e2e p99 (ms)", f"{figures['beside']['e2e_p99_ms']:.1f}"),
        ("RSS after that load (MiB)", f"{figures['after_load_rss_mib']:.0f}"),
        ("open descriptors: idle / filled / restarted / after load",
         f"{figures['idle_fds']} / {figures['filled_fds']} / {figures['restarted_fds']} / {figures['after_load_fds']}"),
    ]
    if "database_mib" in figures:
        rows.append(("database file (MiB)", f"{figures['database_mib']:.0f}"))
    print(f"\n{args.workflows:,} open workflows with timers, {args.storage}\n")
    print("| metric | figure |\n|---|---:|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
