"""The plugin runtime end to end: a real `sundial start --config` server with WebAssembly
authorizers and claim mappers, driven through the Temporal Python SDK.

- the Python and JavaScript example authorizers (plugins/examples), with the static-claims
  mapper for their `admins` rule;
- hot reload of an authorizer file under ~300 concurrent calls, a broken new version refused
  (the old one keeps serving), and `sundial plugin reload` on its own (`watch: false`);
- hostile plugins (loop, memory, trap, huge, fuel) failing closed without hurting the server;
- plugin config errors at start naming the key or the plugin;
- no authorizer: everything allowed, with a loud warning.

Every test starts its own server(s) from a config file in a temp directory. The config is
written as JSON (a subset of YAML) so no YAML library is needed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import pytest
from temporalio.api.errordetails.v1 import PermissionDeniedFailure
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import ServerProcess, sundial_bin
from helpers import REPO_ROOT, free_port, new_worker, run_cli, unique, wait_until
from workflows import GreetingWorkflow, greet

pytestmark = pytest.mark.sundial_only

WASM_DIR = REPO_ROOT / "plugins" / "target" / "wasm32-wasip2" / "release"
EXAMPLES_DIR = REPO_ROOT / "plugins" / "target" / "examples"

ALLOW_NAMESPACES = WASM_DIR / "allow_namespaces.wasm"
NOP_AUTHORIZER = WASM_DIR / "nop_authorizer.wasm"
STATIC_CLAIMS = WASM_DIR / "static_claims.wasm"
HOSTILE = WASM_DIR / "hostile.wasm"
EXAMPLES = {
    "python": EXAMPLES_DIR / "python_authorizer.wasm",
    "javascript": EXAMPLES_DIR / "js_authorizer.wasm",
}

#: The large example components take seconds (tens on a busy machine) to compile at load.
SLOW_STARTUP = 180.0
STARTUP = 60.0

NAMESPACES = ["default", "orders", "billing"]
DENIED_MESSAGE = "Request unauthorized."
BROKEN_COMPONENT = b"\0asm garbage"


def need(*files: Path) -> None:
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        pytest.skip(
            "plugin components not built: "
            + ", ".join(missing)
            + " (cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml; "
            "bash plugins/examples/build.sh)"
        )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp name in the same directory, then rename over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# Metrics (Prometheus text)
# ---------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line.strip())
        if m and m.group(1) == name:
            out.append((dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there are none)."""
    return sum(v for l, v in samples(text, name) if all(l.get(k) == w for k, w in labels.items()))


# ---------------------------------------------------------------------------
# A server from a config file
# ---------------------------------------------------------------------------


class PluginServer:
    """`sundial start --config <dir>/sundial.yaml` with an admin listener."""

    def __init__(self, directory: Path, name: str):
        self.dir = directory
        self.name = name
        self.port = free_port()
        self.admin_port = free_port()
        self.config_path = directory / "sundial.yaml"
        self.process = ServerProcess(
            [str(sundial_bin()), "start", "--config", str(self.config_path)],
            "127.0.0.1",
            self.port,
            name,
        )

    @property
    def address(self) -> str:
        return self.process.address

    @property
    def admin(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    def config(self, plugins: list[dict] | None = None, authorization: dict | None = None) -> dict:
        doc: dict[str, Any] = {
            "server": {"ip": "127.0.0.1", "port": self.port},
            "persistence": {"url": "sqlite::memory:"},
            "namespaces": [{"name": n} for n in NAMESPACES],
            "log": {"level": "info"},
            "admin": {"listen": self.admin},
        }
        if authorization is not None:
            doc["authorization"] = authorization
        if plugins is not None:
            doc["plugins"] = plugins
        return doc

    def write_config(self, plugins: list[dict] | None = None, authorization: dict | None = None) -> None:
        atomic_write(self.config_path, json.dumps(self.config(plugins, authorization), indent=2).encode())

    def start(self) -> None:
        self.process.start()

    def wait(self, timeout: float = STARTUP) -> None:
        self.process.wait_port(timeout=timeout)

    def kill(self) -> None:
        self.process.kill()

    def alive(self) -> bool:
        return self.process.proc is not None and self.process.proc.poll() is None

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def tail(self) -> str:
        return "\n--- server log (tail) ---\n" + self.process.log_tail(3000)

    def metrics_sync(self) -> str:
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=10) as res:
            return res.read().decode()

    async def metrics(self) -> str:
        return await asyncio.to_thread(self.metrics_sync)

    async def client(self, namespace: str, **kwargs: Any) -> Client:
        return await Client.connect(self.address, namespace=namespace, **kwargs)

    async def reload_cli(self, *args: str) -> tuple[int, str, str]:
        """`sundial plugin reload --admin <admin>` (or the given args)."""
        r = await run_cli(str(sundial_bin()), "plugin", "reload", *(args or ("--admin", self.admin)))
        return r.returncode, r.stdout, r.stderr


def plugin(name: str, kind: str, file: Path | str, **extra: Any) -> dict:
    return {"name": name, "kind": kind, "file": str(file), **extra}


# ---------------------------------------------------------------------------
# Denials
# ---------------------------------------------------------------------------


def denied_reason(err: RPCError) -> str:
    """The reason of the PermissionDeniedFailure detail of a PERMISSION_DENIED error."""
    for detail in err.grpc_status.details:
        if detail.Is(PermissionDeniedFailure.DESCRIPTOR):
            failure = PermissionDeniedFailure()
            detail.Unpack(failure)
            return failure.reason
    raise AssertionError(f"no PermissionDeniedFailure detail in {err.grpc_status}")


async def expect_denied(call: Awaitable[Any], reason: str | None = None) -> RPCError:
    with pytest.raises(RPCError) as info:
        await call
    err = info.value
    assert err.status == RPCStatusCode.PERMISSION_DENIED, (err.status, err.message)
    assert err.message == DENIED_MESSAGE, err.message
    got = denied_reason(err)
    if reason is not None:
        assert got == reason
    return err


def describe(client: Client, namespace: str) -> Awaitable[Any]:
    return client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))


# ===========================================================================
# 1. The Python and JavaScript example authorizers
# ===========================================================================

ADMIN = "root@example.com"
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def example_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PluginServer]]:
    """One server per example language, started together (each compile is mostly one core)."""
    need(STATIC_CLAIMS, *EXAMPLES.values())
    servers: dict[str, PluginServer] = {}
    try:
        for lang, wasm in EXAMPLES.items():
            server = PluginServer(tmp_path_factory.mktemp(f"example-{lang}"), f"sundial-{lang}-example")
            server.write_config(
                plugins=[
                    plugin(
                        "authz",
                        "authorizer",
                        wasm,
                        limits={"deadline": "2s", "memory": "64MiB"},
                        config={
                            "namespaces": "orders",
                            "read-only-namespaces": "billing",
                            "admins": ADMIN,
                        },
                    ),
                    plugin(
                        "claims",
                        "claim-mapper",
                        STATIC_CLAIMS,
                        config={"token": TOKEN, "subject": ADMIN, "permissions": ""},
                    ),
                ],
                authorization={"claim_mapper": "claims", "authorizer": "authz"},
            )
            server.start()
            servers[lang] = server
        for server in servers.values():
            server.wait(SLOW_STARTUP)
        yield servers
    finally:
        for server in servers.values():
            server.kill()


@pytest.fixture(params=list(EXAMPLES))
def example(request: pytest.FixtureRequest, example_servers: dict[str, PluginServer]) -> tuple[str, PluginServer]:
    return request.param, example_servers[request.param]


async def test_example_allows_workflow_on_listed_namespace(example: tuple[str, PluginServer]) -> None:
    lang, server = example
    orders = await server.client("orders")
    tq = unique("tq")
    async with new_worker(orders, tq, [GreetingWorkflow], [greet]):
        result = await orders.execute_workflow(
            GreetingWorkflow.run, lang, id=unique("orders"), task_queue=tq
        )
    assert result == f"Hello, {lang}!"
    text = await server.metrics()
    assert metric(text, "sundial_plugin_calls_total", plugin="authz", outcome="allow") > 0
    assert metric(text, "sundial_plugin_faults_total", plugin="authz") == 0, server.tail()


async def test_example_read_only_namespace(example: tuple[str, PluginServer]) -> None:
    lang, server = example
    billing = await server.client("billing")
    described = await describe(billing, "billing")
    assert described.namespace_info.name == "billing"
    # List/Count are reads too.
    assert [w async for w in billing.list_workflows()] == []
    await expect_denied(
        billing.start_workflow(GreetingWorkflow.run, "x", id=unique("billing"), task_queue=unique("tq")),
        f'{lang} example: StartWorkflowExecution on namespace "billing" is not allowed',
    )
    await expect_denied(
        billing.get_workflow_handle(unique("nowf")).signal("poke"),
        f'{lang} example: SignalWorkflowExecution on namespace "billing" is not allowed',
    )


async def test_example_unlisted_namespace_denied(example: tuple[str, PluginServer]) -> None:
    lang, server = example
    default = await server.client("default")
    await expect_denied(
        describe(default, "default"),
        f'{lang} example: DescribeNamespace on namespace "default" is not allowed',
    )
    await expect_denied(
        default.start_workflow(GreetingWorkflow.run, "x", id=unique("default"), task_queue=unique("tq")),
        f'{lang} example: StartWorkflowExecution on namespace "default" is not allowed',
    )
    # GetSystemInfo is always allowed (Client.connect above needed it too).
    await default.workflow_service.get_system_info(GetSystemInfoRequest())


async def test_example_admin_via_static_claims(example: tuple[str, PluginServer]) -> None:
    lang, server = example
    admin = await server.client("default", rpc_metadata={"authorization": f"Bearer {TOKEN}"})
    # The admin subject may do anything anywhere, including what nobody else may.
    await describe(admin, "default")
    handle = await admin.start_workflow(
        GreetingWorkflow.run, "admin", id=unique("admin"), task_queue=unique("tq")
    )
    await handle.terminate("done")
    admin_billing = await server.client("billing", rpc_metadata={"authorization": f"Bearer {TOKEN}"})
    handle = await admin_billing.start_workflow(
        GreetingWorkflow.run, "admin", id=unique("admin"), task_queue=unique("tq")
    )
    await handle.terminate("done")
    # Without the token the same call is denied; with a wrong one the mapper refuses it.
    anonymous = await server.client("default")
    await expect_denied(
        describe(anonymous, "default"),
        f'{lang} example: DescribeNamespace on namespace "default" is not allowed',
    )
    with pytest.raises(RPCError) as info:
        await anonymous.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default"),
            metadata={"authorization": "Bearer not-the-token"},
        )
    assert info.value.status == RPCStatusCode.UNAUTHENTICATED, (info.value.status, info.value.message)
    text = await server.metrics()
    assert metric(text, "sundial_plugin_calls_total", plugin="claims", outcome="claims") > 0
    assert metric(text, "sundial_plugin_faults_total", plugin="claims", cause="refused") > 0


# ===========================================================================
# 2. Hot reload under load
# ===========================================================================

LOAD_BATCH = 300


class Load:
    """Batches of LOAD_BATCH concurrent calls on `orders` until stopped; counts failures."""

    def __init__(self, client: Client, signal_target: str, task_queue: str):
        self.client = client
        self.signal_target = signal_target
        self.task_queue = task_queue
        self.calls = 0
        self.batches = 0
        self.failures: list[BaseException] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def _call(self, i: int) -> Awaitable[Any]:
        kind = i % 3
        if kind == 0:
            return describe(self.client, "orders")
        if kind == 1:
            return self.client.get_workflow_handle(self.signal_target).signal("poke", i)
        return self.client.start_workflow(
            "LoadWorkflow", id=unique("load"), task_queue=self.task_queue
        )

    async def _run(self) -> None:
        while not self._stop.is_set():
            results = await asyncio.gather(
                *(self._call(i) for i in range(LOAD_BATCH)), return_exceptions=True
            )
            self.calls += len(results)
            self.failures += [r for r in results if isinstance(r, BaseException)]
            self.batches += 1

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def wait_batches(self, n: int, timeout: float = 60.0) -> None:
        target = self.batches + n
        await wait_until(
            lambda: self.batches >= target or (self._task is not None and self._task.done()),
            timeout=timeout,
            interval=0.02,
            what=f"{n} more load batches",
        )

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    def describe_failures(self) -> str:
        kinds: dict[str, int] = {}
        for f in self.failures:
            key = f"{type(f).__name__}: {getattr(f, 'status', '')} {f}"[:200]
            kinds[key] = kinds.get(key, 0) + 1
        return f"{len(self.failures)} of {self.calls} calls failed: {kinds}"


async def billing_allowed(client: Client) -> bool:
    try:
        await describe(client, "billing")
        return True
    except RPCError as err:
        assert err.status == RPCStatusCode.PERMISSION_DENIED, (err.status, err.message)
        return False


@pytest.mark.slow
async def test_hot_reload_under_load(
    tmp_path: Path, capsys: pytest.CaptureFixture, record_property: Callable[[str, Any], None]
) -> None:
    need(ALLOW_NAMESPACES, NOP_AUTHORIZER)
    server = PluginServer(tmp_path, "sundial-reload")
    authz_file = tmp_path / "authz.wasm"
    authz_file.write_bytes(ALLOW_NAMESPACES.read_bytes())

    def plugins(watch: bool) -> list[dict]:
        return [
            plugin(
                "authz",
                "authorizer",
                "authz.wasm",  # relative to the config file
                config={"namespaces": "orders"},
                watch=watch,
            )
        ]

    server.write_config(plugins(watch=True), {"authorizer": "authz"})
    server.start()
    try:
        server.wait(STARTUP)
        orders = await server.client("orders")
        billing = await server.client("billing")
        text = await server.metrics()
        assert metric(text, "sundial_plugin_loaded", plugin="authz", sha256=sha256_of(ALLOW_NAMESPACES)) == 1
        await expect_denied(describe(billing, "billing"), 'namespace "billing" is not allowed')

        tq = unique("tq")  # no worker: started workflows just wait
        target = unique("signalled")
        await orders.start_workflow("LoadWorkflow", id=target, task_queue=tq)

        # --- allow_namespaces -> nop_authorizer, by the file watcher, under load ---------
        load = Load(orders, target, tq)
        load.start()
        await load.wait_batches(1)
        atomic_write(authz_file, NOP_AUTHORIZER.read_bytes())
        replaced = time.monotonic()
        while not await billing_allowed(billing):
            assert time.monotonic() - replaced < 5.0, (
                "the new version did not decide within 5 s of the replace" + server.tail()
            )
            await asyncio.sleep(0.01)
        latency = time.monotonic() - replaced
        await load.wait_batches(2)
        await load.stop()
        with capsys.disabled():
            print(
                f"\n[plugin reload] new version decided {latency * 1000:.0f} ms after the replace "
                f"(under load: {load.calls} calls in {load.batches} batches of {LOAD_BATCH})"
            )
        record_property("reload_latency_ms", round(latency * 1000))
        assert not load.failures, load.describe_failures() + server.tail()
        assert load.calls >= 3 * LOAD_BATCH
        text = await server.metrics()
        assert metric(text, "sundial_plugin_loaded", plugin="authz", sha256=sha256_of(NOP_AUTHORIZER)) == 1
        assert metric(text, "sundial_plugin_loaded", plugin="authz", sha256=sha256_of(ALLOW_NAMESPACES)) == 0
        assert metric(text, "sundial_plugin_reloads_total", plugin="authz", result="loaded") == 1

        # --- a broken new version is refused; the old one keeps serving -------------------
        load = Load(orders, target, tq)
        load.start()
        await load.wait_batches(1)
        atomic_write(authz_file, BROKEN_COMPONENT)

        async def refused_count() -> float:
            return metric(await server.metrics(), "sundial_plugin_reloads_total", plugin="authz", result="refused")

        async def refused_at_least(n: int) -> bool:
            return await refused_count() >= n

        await wait_until(lambda: refused_at_least(1), timeout=10, what="the watcher refusing the broken file")
        assert await billing_allowed(billing), "the old (nop) version should still serve" + server.tail()
        rc, out, err = await server.reload_cli()
        assert rc == 1, (rc, out, err)
        assert "refused authz" in out, out
        assert "keeps serving" in out, out
        assert await refused_count() == 2
        assert await billing_allowed(billing)
        await load.wait_batches(1)
        await load.stop()
        assert not load.failures, load.describe_failures() + server.tail()
        assert re.search(r"ERROR.*new plugin version refused", server.log()), server.tail()
        text = await server.metrics()
        assert metric(text, "sundial_plugin_loaded", plugin="authz", sha256=sha256_of(NOP_AUTHORIZER)) == 1

        # --- watch: false: only `sundial plugin reload` picks up the file ----------------------
        server.write_config(plugins(watch=False), {"authorizer": "authz"})
        # The config change itself reloads (and refuses the still broken file again).
        await wait_until(lambda: refused_at_least(3), timeout=10, what="the config-change reload")
        atomic_write(authz_file, ALLOW_NAMESPACES.read_bytes())
        await asyncio.sleep(1.0)  # the watcher would have reloaded within ~150 ms
        assert await billing_allowed(billing), "watch: false, yet the file change was picked up"
        text = await server.metrics()
        assert metric(text, "sundial_plugin_reloads_total", plugin="authz", result="loaded") == 1
        rc, out, err = await server.reload_cli("--config", str(server.config_path))
        assert rc == 0, (rc, out, err)
        assert f"loaded authz {sha256_of(ALLOW_NAMESPACES)}" in out, out
        await expect_denied(describe(billing, "billing"), 'namespace "billing" is not allowed')
        await describe(orders, "orders")
        text = await server.metrics()
        assert metric(text, "sundial_plugin_loaded", plugin="authz", sha256=sha256_of(ALLOW_NAMESPACES)) == 1
        assert metric(text, "sundial_plugin_reloads_total", plugin="authz", result="loaded") == 2
        assert server.alive()
    finally:
        server.kill()


RELOADING_LINE = "plugin or config file changed; reloading"


async def test_file_watcher_reloads_once_per_change(tmp_path: Path) -> None:
    """One replace of a watched file is one reload: the reload's own reads of the config and
    plugin files must not count as changes (that would reload every ~150 ms forever)."""
    need(ALLOW_NAMESPACES, NOP_AUTHORIZER)
    server = PluginServer(tmp_path, "sundial-watch")
    authz_file = tmp_path / "authz.wasm"
    authz_file.write_bytes(ALLOW_NAMESPACES.read_bytes())
    server.write_config(
        [plugin("authz", "authorizer", "authz.wasm", config={"namespaces": "orders"})],
        {"authorizer": "authz"},
    )
    server.start()
    try:
        server.wait(STARTUP)
        assert server.log().count(RELOADING_LINE) == 0
        atomic_write(authz_file, NOP_AUTHORIZER.read_bytes())

        async def loaded() -> bool:
            text = await server.metrics()
            return metric(text, "sundial_plugin_reloads_total", plugin="authz", result="loaded") == 1

        await wait_until(loaded, timeout=10, what="the new version")
        await asyncio.sleep(1.5)  # nothing changes from here on
        reloads = server.log().count(RELOADING_LINE)
        assert reloads == 1, f"{reloads} watcher reloads for one file replace" + server.tail()
    finally:
        server.kill()


# ===========================================================================
# 3. Hostile plugins at the server level
# ===========================================================================


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PluginServer]:
    """One server whose authorizer is hostile.wasm; tests switch its mode by config reload."""
    need(HOSTILE)
    server = PluginServer(tmp_path_factory.mktemp("hostile"), "sundial-hostile")
    write_hostile_config(server, "allow")
    server.start()
    try:
        server.wait(STARTUP)
        yield server
    finally:
        server.kill()


def write_hostile_config(server: PluginServer, mode: str, fuel: int | None = None) -> None:
    limits: dict[str, Any] = {"deadline": "100ms", "memory": "16MiB"}
    if fuel is not None:
        limits["fuel"] = fuel
    server.write_config(
        [plugin("hostile", "authorizer", HOSTILE, limits=limits, config={"mode": mode})],
        {"authorizer": "hostile"},
    )


async def set_hostile_mode(server: PluginServer, mode: str, fuel: int | None = None) -> None:
    write_hostile_config(server, mode, fuel)
    # The watcher may get there first; either way the new config is live once this returns.
    rc, out, err = await server.reload_cli()
    assert rc == 0, (rc, out, err, server.tail())


@pytest.mark.parametrize(
    "mode,fuel,cause",
    [
        ("loop", None, "deadline"),
        ("memory", None, "memory"),
        ("trap", None, "trap"),
        ("huge", None, "memory"),
        ("loop", 1_000_000, "fuel"),
    ],
    ids=["loop", "memory", "trap", "huge", "fuel"],
)
async def test_hostile_plugin_fails_closed(
    hostile_server: PluginServer, mode: str, fuel: int | None, cause: str
) -> None:
    server = hostile_server
    await set_hostile_mode(server, "allow")
    client = await server.client("default")  # connects (GetSystemInfo) while the plugin allows
    before = await server.metrics()
    await set_hostile_mode(server, mode, fuel)

    calls = 3
    results = await asyncio.gather(
        *(describe(client, "default") for _ in range(calls)), return_exceptions=True
    )
    for r in results:
        assert isinstance(r, RPCError), f"{mode}: expected a denial, got {r!r}" + server.tail()
        assert r.status == RPCStatusCode.PERMISSION_DENIED, (r.status, r.message)
        assert r.message == DENIED_MESSAGE
        assert denied_reason(r) == ""  # a fault carries no reason
    after = await server.metrics()
    key = {"plugin": "hostile", "cause": cause}
    delta = metric(after, "sundial_plugin_faults_total", **key) - metric(before, "sundial_plugin_faults_total", **key)
    faults = samples(after, "sundial_plugin_faults_total")
    assert delta == calls, f"{mode}: faults by cause {faults}" + server.tail()
    assert "authorizer fault; call denied" in server.log()

    # The server is fine: it still answers, and with a sane plugin it serves again.
    assert server.alive(), server.tail()
    await set_hostile_mode(server, "allow")
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert await client.service_client.check_health()
    await describe(client, "default")
    handle = await client.start_workflow(
        GreetingWorkflow.run, mode, id=unique("after-hostile"), task_queue=unique("tq")
    )
    await handle.terminate()
    assert server.alive(), server.tail()


# ===========================================================================
# 4. Config errors at start
# ===========================================================================


def start_with(tmp: Path, doc: dict, timeout: float = 60.0) -> subprocess.CompletedProcess:
    path = tmp / "bad.yaml"
    path.write_text(json.dumps(doc))
    return subprocess.run(
        [str(sundial_bin()), "start", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def base_config(**extra: Any) -> dict:
    return {
        "server": {"ip": "127.0.0.1", "port": free_port()},
        "persistence": {"url": "sqlite::memory:"},
        **extra,
    }


CONFIG_ERRORS = {
    "bad kind": (
        {"plugins": [{"name": "authz", "kind": "authoriser", "file": "x.wasm"}]},
        ["plugins[0].kind", "authoriser"],
    ),
    "no file": (
        {"plugins": [{"name": "authz", "kind": "authorizer"}]},
        ["plugins[0].file", "missing"],
    ),
    "unknown key": (
        {"plugins": [{"name": "authz", "kind": "authorizer", "fil": "x.wasm"}]},
        ["plugins[0]", "fil"],
    ),
    "bad memory": (
        {"plugins": [{"name": "authz", "kind": "authorizer", "file": "x.wasm", "limits": {"memory": "lots"}}]},
        ["plugins[0].limits.memory", "lots"],
    ),
    "builtin of another kind": (
        {"plugins": [{"name": "authz", "kind": "authorizer", "builtin": "jwt-claim-mapper"}]},
        ["plugins[0].builtin", "claim-mapper"],
    ),
    "missing authorizer": (
        {"authorization": {"authorizer": "nobody"}},
        ["authorization.authorizer", "nobody"],
    ),
    "authorizer is a mapper": (
        {
            "plugins": [{"name": "m", "kind": "claim-mapper", "builtin": "jwt-claim-mapper"}],
            "authorization": {"authorizer": "m"},
        },
        ["authorization.authorizer", "not a authorizer"],
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_bad_plugin_config_names_the_key(tmp_path: Path, case: str) -> None:
    extra, words = CONFIG_ERRORS[case]
    r = start_with(tmp_path, base_config(**extra))
    assert r.returncode != 0, r.stderr
    for w in words:
        assert w in r.stderr, f"{w!r} not in stderr: {r.stderr}"


@pytest.mark.parametrize("what", ["not a component", "missing file", "wrong world"])
def test_unloadable_plugin_file_names_the_plugin(tmp_path: Path, what: str) -> None:
    need(STATIC_CLAIMS)
    wasm = tmp_path / "authz.wasm"
    if what == "not a component":
        wasm.write_bytes(BROKEN_COMPONENT)
    elif what == "wrong world":
        wasm.write_bytes(STATIC_CLAIMS.read_bytes())  # a claim mapper, not an authorizer
    doc = base_config(
        plugins=[{"name": "authz-plugin", "kind": "authorizer", "file": str(wasm)}],
        authorization={"authorizer": "authz-plugin"},
    )
    r = start_with(tmp_path, doc)
    assert r.returncode != 0, r.stderr
    assert '"authz-plugin"' in r.stderr, r.stderr
    if what == "missing file":
        assert str(wasm) in r.stderr, r.stderr
    else:
        assert "not a loadable authorizer" in r.stderr, r.stderr


# ===========================================================================
# 5. No authorizer
# ===========================================================================


async def test_no_authorizer_allows_everything(tmp_path: Path) -> None:
    server = PluginServer(tmp_path, "sundial-noauth")
    server.write_config()
    server.start()
    try:
        server.wait(STARTUP)
        assert "NO AUTHORIZER CONFIGURED" in server.log(), server.tail()
        for ns in NAMESPACES:
            client = await server.client(ns)
            await describe(client, ns)
        billing = await server.client("billing")
        tq = unique("tq")
        async with new_worker(billing, tq, [GreetingWorkflow], [greet]):
            assert await billing.execute_workflow(
                GreetingWorkflow.run, "anyone", id=unique("noauth"), task_queue=tq
            ) == "Hello, anyone!"
        text = await server.metrics()
        assert samples(text, "sundial_plugin_calls_total") == []
    finally:
        server.kill()


async def test_config_edit_alone_reloads(tmp_path: Path) -> None:
    """Editing the config file is enough: the watcher applies a plugin's new config values;
    a config that does not validate is refused and the running plugins keep serving."""
    need(ALLOW_NAMESPACES)
    server = PluginServer(tmp_path, "sundial-config-watch")
    (tmp_path / "authz.wasm").write_bytes(ALLOW_NAMESPACES.read_bytes())
    server.write_config(
        [plugin("authz", "authorizer", "authz.wasm", config={"namespaces": "orders"})],
        {"authorizer": "authz"},
    )
    server.start()
    try:
        server.wait(STARTUP)
        client = await Client.connect(server.address, namespace="orders")
        assert not await billing_allowed(client)
        server.write_config(
            [plugin("authz", "authorizer", "authz.wasm", config={"namespaces": "orders,billing"})],
            {"authorizer": "authz"},
        )
        await wait_until(lambda: billing_allowed(client), timeout=10, what="the edited config")
        # A broken edit: refused as a whole, nothing changes.
        doc = json.loads(server.config_path.read_text())
        doc["plugins_typo"] = []
        atomic_write(server.config_path, json.dumps(doc).encode())

        async def refused_logged() -> bool:
            return "plugins_typo" in server.log()

        await wait_until(refused_logged, timeout=10, what="the refusal in the log")
        assert await billing_allowed(client)
        assert await status_ok(describe(client, "orders"))
    finally:
        server.kill()


async def status_ok(call: Awaitable[Any]) -> bool:
    await call
    return True
