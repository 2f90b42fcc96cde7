"""Sundial clusters of 1, 2 and 3 nodes on PostgreSQL: throughput and server CPU per workflow
under `sundial-bench run` (its drivers and pollers spread over the nodes), then the takeover
time after `kill -9` of one node. Prints a Markdown table.

    cargo build --release -p sundial-server -p sundial-bench
    .venv/bin/python bench/python/cluster_bench.py --nodes 1,2,3 --runs 3 --seconds 10

Each cluster gets a scratch schema (dropped afterwards) in SUNDIAL_TEST_POSTGRES_URL
(default postgres://postgres@127.0.0.1:5432/test); needs `psql`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ports import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("SUNDIAL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SHARDS = 16


class Cluster:
    def __init__(self, sundial: Path):
        self.sundial = sundial
        self.schema = "sundial_bench_" + uuid.uuid4().hex[:8]
        self.psql(f"CREATE SCHEMA {self.schema}")
        sep = "&" if "?" in PG else "?"
        url = f"{PG}{sep}options=-c%20search_path%3D{self.schema}"
        self.dir = Path(tempfile.mkdtemp(prefix="sundial-cluster-bench-"))
        self.config = self.dir / "cluster.yaml"
        self.config.write_text(json.dumps({
            "server": {"ip": "127.0.0.1"},
            "persistence": {"url": url, "num_history_shards": SHARDS, "max_connections": 20},
            "namespaces": [{"name": "default", "retention": "1day"}],
            "log": {"level": os.environ.get("SUNDIAL_BENCH_LOG", "warn")},
        }))
        self.nodes: dict[str, tuple[subprocess.Popen, int]] = {}

    @staticmethod
    def psql(sql: str) -> None:
        subprocess.run(["psql", "-q", PG, "-c", sql], check=True, capture_output=True)

    def start(self, name: str) -> None:
        port = free_port()
        log = open(self.dir / f"{name}.log", "w")
        proc = subprocess.Popen(
            [str(self.sundial), "start", "--config", str(self.config), "--node-name", name,
             "--port", str(port), "--internal-port", str(free_port()),
             # Measured without the default rate limits (2400 calls a second per frontend and
             # per namespace), as `sundial-bench compare` measures a single server.
             "--dynamic-config-value", "frontend.rps=1000000",
             "--dynamic-config-value", "frontend.namespaceRPS=1000000"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_port(port, timeout=30)
        self.nodes[name] = (proc, port)

    def members(self) -> dict[str, tuple[str, int]]:
        out = subprocess.run([str(self.sundial), "cluster", "members", "--config", str(self.config)],
                             check=True, capture_output=True, text=True).stdout
        return {c[0]: (c[1], int(c[5])) for c in (l.split() for l in out.splitlines()[1:])}

    def wait_owned(self, owners: set[str], timeout: float = 30) -> float:
        started = time.monotonic()
        while True:
            rows = self.members()
            owned = sum(n for name, (state, n) in rows.items() if name in owners and state != "dead")
            if owned == SHARDS:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"shards not owned by {owners}: {rows}")
            time.sleep(0.05)

    def stop(self) -> None:
        for proc, _ in self.nodes.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.psql(f"DROP SCHEMA {self.schema} CASCADE")


def bench_run(bench: Path, cluster: Cluster, seconds: float) -> dict:
    addresses = ",".join(f"127.0.0.1:{port}" for _, port in cluster.nodes.values())
    pids = ",".join(str(proc.pid) for proc, _ in cluster.nodes.values())
    done = subprocess.run(
        [str(bench), "run", "--address", addresses, "--pid", pids, "--scenario", "one-activity",
         "--seconds", str(seconds)],
        check=True, capture_output=True, text=True)
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sundial", default=str(ROOT / "target/release/sundial"))
    parser.add_argument("--bench", default=str(ROOT / "target/release/sundial-bench"))
    args = parser.parse_args()
    rows = []
    for n in [int(x) for x in args.nodes.split(",")]:
        runs, takeovers = [], []
        for _ in range(args.runs):
            cluster = Cluster(Path(args.sundial))
            try:
                names = [f"n{i + 1}" for i in range(n)]
                for name in names:
                    cluster.start(name)
                cluster.wait_owned(set(names))
                runs.append(bench_run(Path(args.bench), cluster, args.seconds))
                if n > 1:
                    victim = names[-1]
                    os.kill(cluster.nodes[victim][0].pid, signal.SIGKILL)
                    takeovers.append(cluster.wait_owned(set(names[:-1])))
            finally:
                cluster.stop()
        med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
        rows.append((n, med("throughput"), med("cpu_ms_per_workflow"), med("e2e_p50_ms"),
                     med("e2e_p99_ms"), sum(r["errors"] for r in runs),
                     statistics.median(takeovers) if takeovers else None))
    print("| nodes | throughput (workflows/s) | server CPU per workflow (ms, all nodes) "
          "| end-to-end p50 (ms) | end-to-end p99 (ms) | errors | takeover after kill -9 (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, tput, cpu, p50, p99, errors, takeover in rows:
        t = f"{takeover:.1f}" if takeover is not None else "—"
        print(f"| {n} | {tput:.0f} | {cpu:.2f} | {p50:.1f} | {p99:.1f} | {errors} | {t} |")


if __name__ == "__main__":
    main()
