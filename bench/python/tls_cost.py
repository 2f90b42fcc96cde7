"""What TLS costs the server: per call on an open connection, and per new connection.

    cargo build --release -p sundial-server
    .venv/bin/python bench/python/tls_cost.py --runs 3 --calls 3000 --connections 200

Each run starts a fresh Sundial (in-memory SQLite) per variant, in turn:
- `plain`: no TLS;
- `tls`: TLS, the server's certificate only;
- `mtls`: TLS with client certificates required (`requireClientAuth`);
- `mtls+authz`: as `mtls`, with the built-in cert-claim-mapper and default authorizer
  (config/mtls.yaml's setup).
Certificates come from config/mtls-certs.sh (P-256 keys), in a temporary directory. The client
is the Python SDK's (`temporalio`), whose core speaks gRPC over rustls.

Per call: one connection, sequential `DescribeNamespace` calls after a warm-up; the server's
CPU per call (its threads' time on CPU from /proc/<pid>/task/*/schedstat) and the call's
latency seen by the client. Per connection: `Client.connect` (TCP, the TLS handshake, HTTP/2
and the SDK's `GetSystemInfo`) followed by one `DescribeNamespace`, again and again; the
server's CPU per connection and the client's wall time per connect. The added cost of a
variant is its figure less `plain`'s. Prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import TLSConfig

from ports import free_port
from server_process import Server

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("plain", "tls", "mtls", "mtls+authz")


def server_cpu_ns(pid: int) -> int:
    """Nanoseconds the process's threads have spent on a CPU."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended between the listing and the read
    return total


def config(variant: str, certs: Path, port: int) -> dict:
    cfg: dict = {
        "server": {"ip": "127.0.0.1", "port": port},
        "persistence": {"url": "sqlite::memory:"},
        "namespaces": [{"name": "default", "retention": "1day"}],
        "log": {"level": "warn"},
    }
    if variant == "plain":
        return cfg
    server = {"certFile": str(certs / "server.pem"), "keyFile": str(certs / "server.key")}
    if variant.startswith("mtls"):
        server |= {"clientCaFiles": [str(certs / "ca.pem")], "requireClientAuth": True}
    cfg["tls"] = {"frontend": {"server": server}}
    if variant == "mtls+authz":
        cfg["authorization"] = {"claim_mapper": "certs", "authorizer": "roles"}
        cfg["plugins"] = [
            {
                "name": "certs",
                "kind": "claim-mapper",
                "builtin": "cert-claim-mapper",
                "config": {"cn:writer": "default:write"},
            },
            {"name": "roles", "kind": "authorizer", "builtin": "default-authorizer"},
        ]
    return cfg


def tls_config(variant: str, certs: Path) -> TLSConfig | bool:
    if variant == "plain":
        return False
    read = lambda name: (certs / name).read_bytes()  # noqa: E731
    if variant == "tls":
        return TLSConfig(server_root_ca_cert=read("ca.pem"), domain="localhost")
    return TLSConfig(
        server_root_ca_cert=read("ca.pem"),
        domain="localhost",
        client_cert=read("writer.pem"),
        client_private_key=read("writer.key"),
    )


async def measure(address: str, tls: TLSConfig | bool, pid: int, calls: int, connections: int) -> dict:
    request = DescribeNamespaceRequest(namespace="default")
    client = await Client.connect(address, tls=tls)
    for _ in range(200):
        await client.workflow_service.describe_namespace(request)
    latencies = []
    cpu = server_cpu_ns(pid)
    for _ in range(calls):
        began = time.perf_counter()
        await client.workflow_service.describe_namespace(request)
        latencies.append(time.perf_counter() - began)
    call_cpu_us = (server_cpu_ns(pid) - cpu) / calls / 1e3
    del client

    connects = []
    cpu = server_cpu_ns(pid)
    for _ in range(connections):
        began = time.perf_counter()
        c = await Client.connect(address, tls=tls)
        connects.append(time.perf_counter() - began)
        await c.workflow_service.describe_namespace(request)
        del c
    connection_cpu_us = (server_cpu_ns(pid) - cpu) / connections / 1e3 - call_cpu_us
    return {
        "call_cpu_us": call_cpu_us,
        "call_p50_us": statistics.median(latencies) * 1e6,
        "connection_cpu_us": connection_cpu_us,
        "connect_p50_ms": statistics.median(connects) * 1e3,
    }


def one_run(variant: str, args: argparse.Namespace, certs: Path, work: Path) -> dict:
    port = free_port()
    cfg = work / f"{variant}.yaml"
    cfg.write_text(json.dumps(config(variant, certs, port)))  # JSON is YAML
    server = Server(args.sundial_bin, cfg, port, log=work / f"{variant}.log")
    server.start()
    try:
        return asyncio.run(
            measure(f"127.0.0.1:{port}", tls_config(variant, certs), server.pid, args.calls, args.connections)
        )
    finally:
        server.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--sundial-bin", type=Path, default=ROOT / "target/release/sundial")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        certs = work / "certs"
        subprocess.run(["bash", str(ROOT / "config/mtls-certs.sh"), str(certs)], check=True, capture_output=True)
        results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(args.runs):
            for variant in VARIANTS:
                results[variant].append(one_run(variant, args, certs, work))
    med = lambda v, k: statistics.median(r[k] for r in results[v])  # noqa: E731
    print(
        "| variant | server CPU per call (µs) | added | call p50 (µs) | server CPU per new connection (µs) | added | connect p50 (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for v in VARIANTS:
        print(
            f"| {v} | {med(v, 'call_cpu_us'):.1f} | {med(v, 'call_cpu_us') - med('plain', 'call_cpu_us'):+.1f} "
            f"| {med(v, 'call_p50_us'):.0f} | {med(v, 'connection_cpu_us'):.0f} "
            f"| {med(v, 'connection_cpu_us') - med('plain', 'connection_cpu_us'):+.0f} "
            f"| {med(v, 'connect_p50_ms'):.2f} |"
        )


if __name__ == "__main__":
    main()
