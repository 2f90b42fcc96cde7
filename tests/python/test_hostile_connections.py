"""Hostile connections on the raw socket: garbage bytes, an HTTP/2 preface left half sent, a
header list past the server's cap, a message claiming 100 MB, 10,000 idle connections, and
more connections than the process may open. Each is answered (or dropped) on its own while the
server keeps serving an SDK client, and uses no more memory than it should.

HTTP/2 frames are written with `h2` (the protocol library, no gRPC stack), so the server sees
exactly the bytes a hostile client would send. Starts its own servers."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from conftest import ServerProcess, connect_with_retry, sundial_argv
from helpers import free_port

pytestmark = pytest.mark.sundial_only

START = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="module")
def server():
    port = free_port()
    s = ServerProcess(sundial_argv(port), "127.0.0.1", port, "sundial-hostile")
    s.start()
    try:
        s.wait_port()
        yield s
    finally:
        s.kill()


async def serves(server: ServerProcess) -> None:
    """A fresh SDK client gets an answer."""
    client = await connect_with_retry(server.address, timeout=20)
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))


def connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def h2_client(sock: socket.socket) -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return conn


def grpc_headers(server: ServerProcess, path: str = START, extra: list[tuple[str, str]] | None = None):
    return [
        (":method", "POST"), (":scheme", "http"), (":authority", server.address), (":path", path),
        ("content-type", "application/grpc"), ("te", "trailers"), *(extra or []),
    ]


def read_answer(sock: socket.socket, conn: h2.connection.H2Connection, stream: int) -> dict:
    """Reads until `stream` ends, is reset, or the connection closes; what happened."""
    seen: dict = {"headers": {}, "reset": None, "closed": False, "goaway": None}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            seen["closed"] = True
            return seen
        if not data:
            seen["closed"] = True
            return seen
        for event in conn.receive_data(data):
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)) and event.stream_id == stream:
                seen["headers"].update(dict(event.headers))
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                seen["reset"] = event.error_code
                return seen
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                return seen
            elif isinstance(event, h2.events.ConnectionTerminated):
                seen["goaway"] = event.error_code
                return seen
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
    raise AssertionError(f"no answer on stream {stream}: {seen}")


async def test_garbage_bytes_close_the_connection(server: ServerProcess) -> None:
    sock = connect(server)
    sock.sendall(os.urandom(64 * 1024))
    sock.settimeout(10)
    try:
        while sock.recv(65536):
            pass  # whatever the server says before it hangs up (e.g. a GOAWAY)
    except ConnectionResetError:
        pass
    sock.close()
    await serves(server)


async def test_half_sent_prefaces_do_not_block_others(server: ServerProcess) -> None:
    held = []
    for i in range(200):
        sock = connect(server)
        # Half of the connection preface, or the preface and no SETTINGS: then silence.
        sock.sendall(b"PRI * HTTP/2.0\r\n" if i % 2 else b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        held.append(sock)
    try:
        await serves(server)
    finally:
        for sock in held:
            sock.close()
    await serves(server)


async def test_a_header_list_past_the_cap_is_refused(server: ServerProcess) -> None:
    sock = connect(server)
    conn = h2_client(sock)
    # 100 KiB of headers, past the 64 KiB the server allows.
    conn.send_headers(1, grpc_headers(server, extra=[("x-big", "a" * (100 * 1024))]), end_stream=True)
    sock.sendall(conn.data_to_send())
    seen = read_answer(sock, conn, 1)
    sock.close()
    assert seen["closed"] or seen["reset"] is not None or seen["goaway"] is not None \
        or seen["headers"].get(":status") == "431", seen
    await serves(server)


async def test_a_100_mb_message_is_refused_before_it_is_read(server: ServerProcess) -> None:
    pid = server.proc.pid
    before = rss_kib(pid)
    sock = connect(server)
    conn = h2_client(sock)
    conn.send_headers(1, grpc_headers(server))
    # A gRPC frame that announces 100 MB, then as much of it as flow control lets through.
    header = b"\x00" + (100 * 1024 * 1024).to_bytes(4, "big")
    chunk = header + b"x" * 16_379
    sent = 0
    while sent < 100 * 1024 * 1024 and conn.local_flow_control_window(1) >= len(chunk):
        conn.send_data(1, chunk)
        chunk = b"x" * 16_384
        sent += len(chunk)
    sock.sendall(conn.data_to_send())
    seen = read_answer(sock, conn, 1)
    sock.close()
    status = seen["headers"].get("grpc-status")
    assert status == "8" or seen["reset"] is not None or seen["closed"], seen  # RESOURCE_EXHAUSTED
    after = rss_kib(pid)
    assert after - before < 50 * 1024, f"RSS grew {before} -> {after} KiB"
    await serves(server)


async def test_ten_thousand_idle_connections(server: ServerProcess) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 10_500:
        pytest.skip(f"the open-file limit ({hard}) is below 10,500")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pid = server.proc.pid
    before = rss_kib(pid)
    held = []
    try:
        for _ in range(10_000):
            held.append(connect(server))
        # Every one accepted, while an SDK client is still served.
        await serves(server)
        deadline = time.monotonic() + 30
        while open_fds(pid) < 10_000 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        grown = rss_kib(pid) - before
        print(f"\n[hostile] 10,000 idle connections: {open_fds(pid)} fds, RSS +{grown / 1024:.1f} MiB")
        assert open_fds(pid) >= 10_000
        assert grown < 500 * 1024, f"RSS grew by {grown} KiB"
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    await serves(server)


async def test_running_out_of_descriptors_is_survived(tmp_path: Path) -> None:
    """With a low open-file limit, connections past it wait (or fail) while the limit is
    reached; once they close, the server accepts and serves again."""
    port = free_port()
    s = ServerProcess(["prlimit", "--nofile=256:256", *sundial_argv(port)], "127.0.0.1", port, "sundial-fd-limit")
    s.start()
    held = []
    try:
        s.wait_port()
        await serves(s)
        refused = 0
        for _ in range(400):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=1))
            except OSError:
                refused += 1  # the listen queue is full while the server cannot accept
        # Meanwhile the server waits for descriptors; it does not spin on the failing accept.
        cpu_before = cpu_seconds(s.proc.pid)
        await asyncio.sleep(2.0)
        spent = cpu_seconds(s.proc.pid) - cpu_before
        print(f"\n[hostile] fd limit 256: {len(held)} connected, {refused} not; {spent:.2f} s CPU in 2 s")
        assert spent < 0.5, f"{spent:.2f} s of CPU in 2 s while out of descriptors"
        for sock in held:
            sock.close()
        held.clear()
        await serves(s)
        assert s.proc.poll() is None, s.log_tail()
    finally:
        for sock in held:
            sock.close()
        s.kill()
