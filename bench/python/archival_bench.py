"""Archival: how fast closed runs are archived by the built-in file archiver, and what
archiving costs the workflow path.

    cargo build --release -p sundial-server -p sundial-bench
    .venv/bin/python bench/python/archival_bench.py --runs 3 --seconds 10

Each run starts a fresh `sundial start-dev` (in-memory SQLite, archive delay 1 s) with two
namespaces: `plain` (no archival) and `archived` (history and visibility archival to a
temporary directory). `sundial-bench run` drives each namespace in turn (one-activity,
closed loop); then the script waits until every completed run of `archived` has its history
file. Prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import ArchivalState
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from ports import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


async def register(address: str, name: str, archive: Path | None) -> None:
    client = await Client.connect(address)
    archival = {}
    if archive:
        archival = dict(
            history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
            history_archival_uri=f"file://{archive}/h",
            visibility_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
            visibility_archival_uri=f"file://{archive}/v",
        )
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=name,
            workflow_execution_retention_period=Duration(seconds=86400),
            **archival,
        )
    )


def drive(bench: Path, address: str, namespace: str, pid: int, seconds: float) -> dict:
    out = subprocess.run(
        [str(bench), "run", "--address", address, "--namespace", namespace,
         "--pid", str(pid), "--scenario", "one-activity", "--seconds", str(seconds)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def one_run(args: argparse.Namespace) -> dict:
    port = free_port()
    archive = Path(tempfile.mkdtemp(prefix="sundial-archive-bench-"))
    server = subprocess.Popen(
        [str(args.sundial_bin), "start-dev", "--port", str(port), "--log-level", "error",
         "--dynamic-config-value", 'history.archivalProcessorArchiveDelay="1s"'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_port(port)
        address = f"127.0.0.1:{port}"
        asyncio.run(register(address, "plain", None))
        asyncio.run(register(address, "archived", archive))
        plain = drive(args.bench_bin, address, "plain", server.pid, args.seconds)
        start = time.monotonic()
        archived = drive(args.bench_bin, address, "archived", server.pid, args.seconds)
        load_end = time.monotonic()
        # Every run of the load that closed is archived (a few may still be closing).
        want = archived["completed"]
        history = archive / "h"
        while True:
            files = len(list(history.glob("*.history"))) if history.exists() else 0
            if files >= want or time.monotonic() - load_end > 120:
                break
            time.sleep(0.05)
        done = time.monotonic()
        return {
            "plain": plain,
            "archived": archived,
            "files": files,
            "drain_s": done - load_end,
            "archive_rate": files / (done - start - 1.0),
        }
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--sundial-bin", type=Path, default=ROOT / "target/release/sundial")
    p.add_argument("--bench-bin", type=Path, default=ROOT / "target/release/sundial-bench")
    args = p.parse_args()
    runs = [one_run(args) for _ in range(args.runs)]
    med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
    print("| namespace | throughput (workflows/s) | server CPU per workflow (ms) | e2e p50 (ms) | e2e p99 (ms) | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in ("plain", "archived"):
        print(
            f"| {kind} | {med(lambda r: r[kind]['throughput']):.0f} "
            f"| {med(lambda r: r[kind]['cpu_ms_per_workflow']):.2f} "
            f"| {med(lambda r: r[kind]['e2e_p50_ms']):.1f} "
            f"| {med(lambda r: r[kind]['e2e_p99_ms']):.1f} "
            f"| {med(lambda r: r[kind]['errors']):.0f} |"
        )
    print()
    print(
        f"archived runs per load: {med(lambda r: r['files']):.0f} of "
        f"{med(lambda r: r['archived']['completed']):.0f}; all archived "
        f"{med(lambda r: r['drain_s']):.2f} s after the load ended; archive rate "
        f"{med(lambda r: r['archive_rate']):.0f} runs/s (archived runs over the load and "
        f"drain, less the 1 s delay)"
    )


if __name__ == "__main__":
    main()
