"""Runs cases.json against the built example authorizers, in wasmtime (wasmtime-py), no server.

    python verify.py [--memory-mib N] [plugins/target/examples/python_authorizer.wasm ...]

Needs `pip install wasmtime==50.0.1` (the host embeds its own wasmtime; this is only a check
that the components load with WASI p2 + the `host` interface and decide as cases.json says).
Each case's `config` is what `host.config` answers; each decision must log exactly once.
"""

import json
import sys
import time
from pathlib import Path

from wasmtime import Config, Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "target" / "examples"
DEFAULT = [OUT / "python_authorizer.wasm", OUT / "js_authorizer.wasm"]


def lang_of(path: Path) -> str:
    """The `{lang}` of cases.json's reasons, from the file name (py... or js...)."""
    return "javascript" if path.name.startswith("js") else "python"


def record(obj):
    """A JSON object (WIT field names) as a wasmtime Record."""
    r = Record()
    for key, value in obj.items():
        if isinstance(value, dict):
            value = record(value)
        elif isinstance(value, list) and key == "request":
            value = bytes(value)
        elif isinstance(value, list):
            value = [record(v) if isinstance(v, dict) else v for v in value]
        setattr(r, key, value)
    return r


def run(path: Path, cases, memory_mib: int) -> int:
    lang = lang_of(path)
    engine = Engine(Config())
    state = {"config": {}, "logs": []}

    t0 = time.perf_counter()
    component = Component.from_file(engine, str(path))
    t_compile = time.perf_counter() - t0

    linker = Linker(engine)
    linker.add_wasip2()
    with linker.root() as root:
        with root.add_instance("sundial:plugin/types@0.2.0"):
            pass
        with root.add_instance("sundial:plugin/host@0.2.0") as host:
            host.add_func("log", lambda _store, level, message: state["logs"].append((level, message)))
            host.add_func("config", lambda _store, key: state["config"].get(key))

    store = Store(engine)
    store.set_wasi(WasiConfig())
    # The server's limits for a plugin store (memory per linear memory, as `limits.memory`).
    store.set_limits(memory_size=memory_mib << 20, table_elements=1_000_000, instances=64)
    t0 = time.perf_counter()
    instance = linker.instantiate(store, component)
    t_inst = time.perf_counter() - t0
    iface = instance.get_export_index(store, "sundial:plugin/access-control@0.2.0")
    authorize = instance.get_func(store, instance.get_export_index(store, "authorize", iface))

    failures = 0
    t_calls = 0.0
    for case in cases:
        state["config"] = case["config"]
        state["logs"] = []
        claims = record(case["claims"]) if case["claims"] is not None else None
        t0 = time.perf_counter()
        got = authorize(store, claims, record(case["target"]))
        t_calls += time.perf_counter() - t0
        want_reason = case["reason"].replace("{lang}", lang) if case["reason"] is not None else None
        problems = []
        if isinstance(got, str):
            problems.append(f"err({got!r})")
        else:
            if got.decision != case["expect"]:
                problems.append(f"decision {got.decision}, want {case['expect']}")
            if got.reason != want_reason:
                problems.append(f"reason {got.reason!r}, want {want_reason!r}")
            if got.principal is not None:
                problems.append(f"principal {got.principal!r}, want none")
        if len(state["logs"]) != 1 or state["logs"][0][0] != "debug":
            problems.append(f"logs {state['logs']!r}, want one debug line")
        if problems:
            failures += 1
            print(f"  FAIL {lang}: {case['name']}: {'; '.join(problems)}")
    print(
        f"{lang}: {len(cases) - failures}/{len(cases)} cases ok "
        f"({path.stat().st_size / 2**20:.1f} MiB; compile {t_compile:.2f}s, "
        f"instantiate {t_inst * 1000:.1f}ms, {t_calls / len(cases) * 1e6:.0f}us/call)"
    )
    return failures


def main() -> int:
    args = sys.argv[1:]
    memory_mib = 64
    if args[:1] == ["--memory-mib"]:
        memory_mib, args = int(args[1]), args[2:]
    paths = [Path(p) for p in args] or DEFAULT
    cases = json.loads((HERE / "cases.json").read_text())
    failures = sum(run(p, cases, memory_mib) for p in paths)
    total = len(paths) * len(cases)
    print(f"{total - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
