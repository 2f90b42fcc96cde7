"""Archival: how fast closed runs are archived, and what archiving costs the workflow path.

    cargo build --release -p sundial-server -p sundial-bench
    .venv/bin/python bench/python/archival_bench.py --runs 3 --seconds 10 [--archiver file]

Each run starts a fresh Sundial (in-memory SQLite, archive delay 1 s) with two namespaces:
`plain` (no archival) and `archived` (history and visibility archival). `sundial-bench run`
drives each namespace in turn (one-activity, closed loop); then the script waits until every
completed run of `archived` has its archived history. Prints a Markdown table of medians.

`--archiver` picks where `archived` archives to, all in a temporary directory:
- `file`: the built-in file archiver (`sundial start-dev`);
- `s3`: the built-in S3 archiver component against `s3s-fs` on loopback (.tools/bin/s3s-fs,
  which test.sh installs; its CPU is not in the server's);
- `python`: the Python example archiver component (`plugins/examples/build.sh python`).
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


#: Per archiver: the namespace's (history, visibility) URIs and the archived histories.
URIS = {
    "file": lambda a: (f"file://{a}/h", f"file://{a}/v"),
    "s3": lambda a: ("s3://bench/h", "s3://bench/v"),
    "python": lambda a: ("vault://bench/h", "vault://bench/v"),
}
HISTORIES = {
    "file": lambda a: (a / "h").glob("*.history"),
    "s3": lambda a: (a / "s3" / "bench" / "h").rglob("*.json"),
    "python": lambda a: (a / "vault" / "bench" / "h").rglob("*.history.json"),
}


def server_config(archiver: str, archive: Path, port: int, s3_port: int) -> list[str]:
    """The command line of the server for `archiver` (a config file beside the archive)."""
    if archiver == "file":
        return ["start-dev", "--headless", "--port", str(port)]
    kind = {"state": "enabled", "enableRead": True, "provider": {"filestore": {}}}
    plugin = {
        "s3": {
            "name": "s3", "kind": "archiver", "schemes": ["s3"], "builtin": "s3-archiver",
            "grants": {"http": [f"127.0.0.1:{s3_port}"]},
            "config": {"endpoint": f"http://127.0.0.1:{s3_port}", "s3ForcePathStyle": "true",
                       "accessKeyId": "bench", "secretAccessKey": "bench-secret"},
        },
        "python": {
            "name": "vault", "kind": "archiver", "schemes": ["vault"],
            "file": str(ROOT / "plugins/target/examples/python_archiver.wasm"),
            "grants": {"directories": [{"host": str(archive / "vault"), "guest": "/vault", "writable": True}]},
        },
    }[archiver]
    config = {
        "server": {"ip": "127.0.0.1", "port": port},
        "persistence": {"url": "sqlite::memory:"},
        "archival": {"history": kind, "visibility": kind},
        "namespaceDefaults": {"archival": {
            "history": {"state": "disabled", "URI": f"file://{archive}/default-h"},
            "visibility": {"state": "disabled", "URI": f"file://{archive}/default-v"},
        }},
        "plugins": [plugin],
    }
    path = archive / "sundial.yaml"
    path.write_text(json.dumps(config))
    return ["start", "--config", str(path)]


async def register(address: str, name: str, uris: tuple[str, str] | None) -> None:
    client = await Client.connect(address)
    archival = {}
    if uris:
        archival = dict(
            history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
            history_archival_uri=uris[0],
            visibility_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
            visibility_archival_uri=uris[1],
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
    port, s3_port = free_port(), free_port()
    archive = Path(tempfile.mkdtemp(prefix="sundial-archive-bench-"))
    helpers = []
    if args.archiver == "s3":
        (archive / "s3" / "bench").mkdir(parents=True)
        helpers.append(subprocess.Popen(
            [str(ROOT / ".tools/bin/s3s-fs"), "--host", "127.0.0.1", "--port", str(s3_port),
             "--access-key", "bench", "--secret-key", "bench-secret", str(archive / "s3")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ))
        wait_port(s3_port)
    if args.archiver == "python":
        (archive / "vault").mkdir()
    server = subprocess.Popen(
        [str(args.sundial_bin), *server_config(args.archiver, archive, port, s3_port),
         "--log-level", "error",
         "--dynamic-config-value", 'history.archivalProcessorArchiveDelay="1s"'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_port(port, timeout=180)
        address = f"127.0.0.1:{port}"
        asyncio.run(register(address, "plain", None))
        asyncio.run(register(address, "archived", URIS[args.archiver](archive)))
        plain = drive(args.bench_bin, address, "plain", server.pid, args.seconds)
        start = time.monotonic()
        archived = drive(args.bench_bin, address, "archived", server.pid, args.seconds)
        load_end = time.monotonic()
        # Every run of the load that closed is archived (a few may still be closing).
        want = archived["completed"]
        while True:
            files = len(list(HISTORIES[args.archiver](archive)))
            if files >= want or time.monotonic() - load_end > 300:
                break
            time.sleep(0.2)
        done = time.monotonic()
        return {
            "plain": plain,
            "archived": archived,
            "files": files,
            "drain_s": done - load_end,
            "archive_rate": files / (done - start - 1.0),
        }
    finally:
        for p in [server, *helpers]:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--sundial-bin", type=Path, default=ROOT / "target/release/sundial")
    p.add_argument("--bench-bin", type=Path, default=ROOT / "target/release/sundial-bench")
    p.add_argument("--archiver", choices=sorted(URIS), default="file")
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
