"""Context switches and CPU per workflow of a running server, by kind of thread (tokio workers,
sqlx's SQLite thread, ...), over one run of sdk_load.py (the Python SDK as worker and client).
Reads /proc/<pid>/task/*/status and stat before and after the run.

    python thread_costs.py --pid 1234 --address 127.0.0.1:7233 --seconds 15 --concurrency 10

Another load instead, after `--` (its output must end in JSON with "completed"), e.g. the
direct worker:

    python thread_costs.py --pid 1234 -- target/release/sundial-bench run \
        --address 127.0.0.1:7233 --scenario ten-activities --seconds 8 --sticky
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from procfs import threads


def load_result(stdout: str) -> dict:
    """The load's result: its whole output as JSON, or else its last line (sdk_load.py logs
    before it)."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        return json.loads(stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--address", help="the server, for sdk_load.py")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="another load, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    custom = bool(command)
    if not custom:
        if not args.address:
            parser.error("--address is needed to run sdk_load.py")
        load = Path(__file__).with_name("sdk_load.py")
        command = [sys.executable, str(load), "--address", args.address, "--seconds",
                   str(args.seconds), "--concurrency", str(args.concurrency)]
    before = threads(args.pid)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - started
    after = threads(args.pid)
    completed = load_result(done.stdout)["completed"]
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for tid, (kind, switches, ticks) in after.items():
        _, switches0, ticks0 = before.get(tid, (kind, 0, 0))
        kinds[kind][0] += switches - switches0
        kinds[kind][1] += ticks - ticks0
    kinds["all"] = [sum(v[0] for v in kinds.values()), sum(v[1] for v in kinds.values())]
    print(json.dumps({
        "completed": completed,
        "workflows_per_second": round(completed / (elapsed if custom else args.seconds), 1),
        "per_workflow": {
            kind: {"context_switches": round(s / completed, 2), "cpu_ms": round(t * tick_ms / completed, 3)}
            for kind, (s, t) in sorted(kinds.items()) if s or t
        },
    }, indent=1))


if __name__ == "__main__":
    main()
