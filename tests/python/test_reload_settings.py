"""What a config reload changes besides plugins: the `authorization` settings that the layer
keeps outside the plugins (the claims cache's size, the decision record), and a warning naming
each section that only applies at the next start (e.g. `tls`). The decision record carries the
time and the caller's address of each decision, and is rotated by size.

Each test starts a `sundial start --config` server of its own (see test_plugins.PluginServer).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_auth import Keys, token
from test_plugins import STARTUP, PluginServer, atomic_write, describe, metric

pytestmark = pytest.mark.sundial_only


def plugins(keys: Path) -> list[dict]:
    """The JWT claim mapper (keys from a granted directory) and the default authorizer."""
    return [
        {"name": "jwt", "kind": "claim-mapper", "builtin": "jwt-claim-mapper",
         "limits": {"deadline": "5s", "memory": "32MiB"},
         "grants": {"directories": [{"host": str(keys), "guest": "/keys"}]},
         "config": {"key-source-uris": "file:///keys/jwks.json"}},
        {"name": "roles", "kind": "authorizer", "builtin": "default-authorizer"},
    ]


def authorization(**settings: object) -> dict:
    return {"claim_mapper": "jwt", "authorizer": "roles", **settings}


async def reload(server: PluginServer) -> str:
    rc, out, err = await server.reload_cli()
    assert rc == 0, (out, err, server.tail())
    return out


def decisions(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Setup:
    """A running server, the key directory its mapper reads, and a token it accepts for
    reading `default` and `orders` (not `billing`)."""

    def __init__(self, server: PluginServer, keys: Path, token: str) -> None:
        self.server, self.keys, self.token = server, keys, token

    def write(self, **settings: object) -> None:
        self.server.write_config(plugins(self.keys), authorization(**settings))

    async def client(self):
        return await self.server.client("default", rpc_metadata={"authorization": f"Bearer {self.token}"})


@pytest.fixture
async def setup(tmp_path: Path):
    keys = Keys()
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    (key_dir / "jwks.json").write_bytes(keys.jwks())
    server = PluginServer(tmp_path, "sundial-reload-settings")
    s = Setup(server, key_dir, token(keys, ["default:read", "orders:read"], aud=None))
    s.write()
    server.start()
    try:
        server.wait(STARTUP)
        yield s
    finally:
        server.kill()


async def mapper_calls(server: PluginServer) -> float:
    """Tokens the mapper turned into claims so far."""
    return metric(await server.metrics(), "sundial_plugin_calls_total", plugin="jwt", outcome="claims")


async def test_claims_cache_size_follows_a_reload(setup: Setup) -> None:
    client = await setup.client()
    for _ in range(5):
        await describe(client, "default")
    assert await mapper_calls(setup.server) == 1, "five calls with one token map it once"
    # No cache: every call maps the token again.
    setup.write(claims_cache_entries=0)
    await reload(setup.server)
    for _ in range(5):
        await describe(client, "default")
    assert await mapper_calls(setup.server) == 6
    # A cache again.
    setup.write(claims_cache_entries=100)
    await reload(setup.server)
    for _ in range(5):
        await describe(client, "default")
    assert await mapper_calls(setup.server) == 7


async def test_decision_record_follows_a_reload(setup: Setup, tmp_path: Path) -> None:
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    client = await setup.client()
    await describe(client, "default")
    assert not first.exists()

    setup.write(record_decisions="first.jsonl")
    await reload(setup.server)
    await describe(client, "orders")
    with pytest.raises(Exception):
        await describe(client, "billing")
    recorded = decisions(first)
    assert [(d["target"]["namespace"], d["expect"]) for d in recorded] == [
        ("orders", "allow"), ("billing", "deny"),
    ]
    for d in recorded:
        # When and from where: an RFC 3339 time and the caller's address.
        assert d["recorded"]["at"].endswith("Z") and "T" in d["recorded"]["at"], d
        assert d["recorded"]["peer"].startswith("127.0.0.1:"), d

    setup.write(record_decisions="second.jsonl")
    await reload(setup.server)
    await describe(client, "default")
    assert len(decisions(first)) == 2
    assert [d["target"]["namespace"] for d in decisions(second)] == ["default"]

    setup.write()
    await reload(setup.server)
    await describe(client, "default")
    assert len(decisions(first)) == 2 and len(decisions(second)) == 1


async def test_decision_record_is_rotated_by_size(setup: Setup, tmp_path: Path) -> None:
    record = tmp_path / "decisions.jsonl"
    setup.write(record_decisions="decisions.jsonl", record_decisions_max_size="4KiB", record_decisions_keep=2)
    await reload(setup.server)
    client = await setup.client()
    for _ in range(60):
        await describe(client, "default")
    files = sorted(p.name for p in tmp_path.glob("decisions.jsonl*"))
    assert files == ["decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2"], files
    for name in files:
        size = (tmp_path / name).stat().st_size
        assert 0 < size <= 4096, (name, size)
        assert all(d["target"]["api-name"].endswith("DescribeNamespace") for d in decisions(tmp_path / name))


async def test_a_record_file_that_cannot_be_opened_refuses_the_reload(setup: Setup, tmp_path: Path) -> None:
    setup.write(record_decisions="no-such-directory/decisions.jsonl")
    rc, out, err = await setup.server.reload_cli()
    assert rc != 0 and "authorization.record_decisions" in out + err, (rc, out, err)
    # Nothing changed: calls are decided as before.
    await describe(await setup.client(), "default")


async def test_reload_warns_about_sections_applied_at_the_next_start(setup: Setup) -> None:
    doc = setup.server.config(plugins(setup.keys), authorization())
    doc["tls"] = {"refreshInterval": "5s"}
    doc["history"] = {"max_tasks_in_memory": 1234}
    atomic_write(setup.server.config_path, json.dumps(doc).encode())
    out = await reload(setup.server)
    assert "`history`, `tls`" in out and "next start" in out, out
    # The server runs on as it was: plaintext, serving.
    await describe(await setup.client(), "default")
    # Asked again, the reload warns again: the running server still differs from the file.
    assert "`history`, `tls`" in await reload(setup.server)
