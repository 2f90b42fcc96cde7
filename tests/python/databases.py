"""PostgreSQL and MariaDB for the tests that start Sundial on them: scratch schemas/databases,
admin SQL, and a TCP proxy that puts faults between Sundial and its database.

SUNDIAL_TEST_POSTGRES_URL / SUNDIAL_TEST_MYSQL_URL name the servers (test.sh's defaults)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

import pytest

PG = os.environ.get("SUNDIAL_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
MY = os.environ.get("SUNDIAL_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
KINDS = ["postgres", "mariadb"]


def admin_sql(kind: str, sql: str) -> str:
    """Runs `sql` on the server of `kind` (not in a scratch schema); its rows, tab-separated."""
    if kind == "postgres":
        if not shutil.which("psql"):
            pytest.skip("psql not found")
        argv, env = ["psql", "-q", "-At", "-F", "\t", PG, "-c", sql], dict(os.environ)
    else:
        m = re.match(r"^mysql://([^:@/]+)(?::([^@]*))?@([^:/]+)(?::(\d+))?/", MY)
        cli = shutil.which("mariadb") or shutil.which("mysql")
        if not m or not cli:
            pytest.skip("no mariadb client or unparsable SUNDIAL_TEST_MYSQL_URL")
        user, password, host, port = m.group(1), m.group(2) or "", m.group(3), m.group(4) or "3306"
        argv = [cli, "-h", host, "-P", port, "-u", user, "-N", "-B", "-e", sql]
        env = {**os.environ, "MYSQL_PWD": password}
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout


def scratch(kind: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema (PostgreSQL) or database (MariaDB): its URL, and how to drop it."""
    name = "sundial_t_" + uuid.uuid4().hex[:10]
    if kind == "postgres":
        admin_sql(kind, f"CREATE SCHEMA {name}")
        sep = "&" if "?" in PG else "?"
        return (f"{PG}{sep}options=-c%20search_path%3D{name}",
                lambda: admin_sql(kind, f"DROP SCHEMA {name} CASCADE"))
    admin_sql(kind, f"CREATE DATABASE {name}")
    return f"{MY.rsplit('/', 1)[0]}/{name}", lambda: admin_sql(kind, f"DROP DATABASE {name}")


def server_of(kind: str) -> tuple[str, int]:
    url = urlsplit(PG if kind == "postgres" else MY)
    return url.hostname or "127.0.0.1", url.port or (5432 if kind == "postgres" else 3306)


def through(url: str, port: int) -> str:
    """`url` pointed at 127.0.0.1:`port` (a proxy), in plain text so the proxy sees the
    statements (PostgreSQL here has TLS on; sqlx would take it)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0] + "@" if len(netloc) == 2 else ""
    plain = "sslmode=disable" if parts.scheme.startswith("postgres") else "ssl-mode=DISABLED"
    query = f"{parts.query}&{plain}" if parts.query else plain
    return f"{parts.scheme}://{user}127.0.0.1:{port}{parts.path}?{query}"


def kill_connections(kind: str, client_ports: list[int]) -> int:
    """Kills, on the database server, the sessions whose client is 127.0.0.1:<one of the ports>
    (`pg_terminate_backend`, `KILL`): how many it killed."""
    if not client_ports:
        return 0
    ports = ",".join(str(p) for p in client_ports)
    if kind == "postgres":
        out = admin_sql(kind, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              f"WHERE client_port IN ({ports})")
        return out.split().count("t")
    rows = admin_sql(kind, "SELECT id, host FROM information_schema.processlist")
    wanted = {f"127.0.0.1:{p}" for p in client_ports} | {f"localhost:{p}" for p in client_ports}
    ids = [line.split("\t")[0] for line in rows.splitlines() if line.split("\t")[-1] in wanted]
    killed = 0
    for session in ids:
        try:
            admin_sql(kind, f"KILL {session}")
            killed += 1
        except subprocess.CalledProcessError:
            pass  # it ended meanwhile
    return killed


#: How a transaction's COMMIT looks on the wire when sqlx sends it: PostgreSQL's simple query
#: message ('Q', length, "COMMIT\0"), MySQL's COM_QUERY (0x03, "COMMIT").
COMMIT_ON_THE_WIRE = {"postgres": b"COMMIT\x00", "mariadb": b"\x03COMMIT"}


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    #: The local port of the connection to the database: the server lists it as the client's.
    upstream_port: int
    lose_next_reply: bool = False


@dataclass
class FaultProxy:
    """A TCP proxy between Sundial and its database that breaks things on demand: it cuts every
    connection, refuses new ones (the database is down), or loses the reply to a COMMIT after
    the database answered it (the commit is applied; the caller never learns it)."""

    kind: str
    links: set = field(default_factory=set)
    refusing: bool = False
    #: How many more COMMIT replies to lose, and how many were lost.
    lose_commit_replies: int = 0
    lost_commit_replies: int = 0
    _server: asyncio.base_events.Server | None = None

    port: int = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def down(self) -> None:
        """The database is away: connections cut, new ones refused (nothing listens)."""
        self.refusing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.cut()
        if server is not None:
            await server.wait_closed()

    async def up(self) -> None:
        """The database is back, on the same port."""
        self.refusing = False
        await self.start()

    def upstream_ports(self) -> list[int]:
        return [link.upstream_port for link in self.links]

    def cut(self) -> int:
        """Closes every connection now; how many there were."""
        links = list(self.links)
        for link in links:
            link.client.close()
            link.upstream.close()
        return len(links)

    async def close(self) -> None:
        await self.down()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*server_of(self.kind))
        except OSError:
            writer.close()
            return
        link = _Link(writer, up_writer, up_writer.get_extra_info("sockname")[1])
        self.links.add(link)
        marker = COMMIT_ON_THE_WIRE[self.kind]

        async def to_database() -> None:
            while data := await reader.read(65536):
                if self.lose_commit_replies > 0 and marker in data:
                    self.lose_commit_replies -= 1
                    link.lose_next_reply = True
                up_writer.write(data)
                await up_writer.drain()

        async def to_sundial() -> None:
            while data := await up_reader.read(65536):
                if link.lose_next_reply:
                    self.lost_commit_replies += 1
                    return  # the database has answered: the commit is applied, the answer lost
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.create_task(to_database()), asyncio.create_task(to_sundial())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass  # the proxy is going down: the connection ends with it
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.links.discard(link)
            writer.close()
            up_writer.close()
