"""JWT authorization end to end: the built-in JWT claim mapper and default authorizer, keys
served as a JWKS by an HTTP server on loopback, clients from the real Python SDK sending
`authorization: Bearer <jwt>`.

Checks the role rules per namespace, the cluster-wide spellings (`temporal-system:` and
`system:`), every kind of bad token, key rotation, and that claims are not reused past a
token's expiry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from temporalio.api.errordetails.v1 import PermissionDeniedFailure
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    ListNamespacesRequest,
    UpdateNamespaceRequest,
)
from temporalio.api.namespace.v1 import UpdateNamespaceInfo
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import ServerProcess, sundial_bin
from helpers import free_port
from workflows import GreetingWorkflow, greet

pytestmark = pytest.mark.sundial_only

AUDIENCE = "sundial-tests"


class Keys:
    """Signing keys and the JWKS document that publishes some of them."""

    def __init__(self) -> None:
        self.rsa1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec1 = ec.generate_private_key(ec.SECP256R1())
        self.published: dict[str, Any] = {"rsa-1": self.rsa1, "ec-1": self.ec1}
        self.fetches = 0

    def jwks(self) -> bytes:
        keys = []
        for kid, key in self.published.items():
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "RS256"
            else:
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
                jwk["alg"] = "ES256"
            jwk["kid"] = kid
            jwk["use"] = "sig"
            keys.append(jwk)
        return json.dumps({"keys": keys}).encode()


class JwksServer:
    def __init__(self, keys: Keys) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = keys.jwks()
                keys.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def token(
    keys: Keys,
    permissions: list[Any] | None,
    *,
    kid: str = "rsa-1",
    key: Any = None,
    alg: str = "RS256",
    exp: float | None = 300,
    nbf: float | None = None,
    aud: Any = AUDIENCE,
    sub: str = "alice",
) -> str:
    now = time.time()
    claims: dict[str, Any] = {"sub": sub, "iat": int(now)}
    if permissions is not None:
        claims["permissions"] = permissions
    if exp is not None:
        claims["exp"] = int(now + exp)
    if nbf is not None:
        claims["nbf"] = int(now + nbf)
    if aud is not None:
        claims["aud"] = aud
    signer = key if key is not None else (keys.ec1 if alg == "ES256" else keys.rsa1)
    return jwt.encode(claims, signer, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def jwks(keys: Keys) -> Iterator[JwksServer]:
    server = JwksServer(keys)
    yield server
    server.close()


def auth_config(jwks_port: int, port: int, admin_port: int, extra_jwt: str = "") -> str:
    return f"""
server: {{ip: 127.0.0.1, port: {port}}}
persistence: {{url: "sqlite::memory:"}}
namespaces: [{{name: default}}, {{name: orders}}, {{name: billing}}, {{name: system}}]
log: {{level: info}}
admin: {{listen: "127.0.0.1:{admin_port}"}}
authorization:
  claim_mapper: jwt
  authorizer: roles
  audience: {AUDIENCE}
plugins:
  - name: jwt
    kind: claim-mapper
    builtin: jwt-claim-mapper
    limits: {{deadline: 5s, memory: 32MiB}}
    grants: {{http: ["127.0.0.1:{jwks_port}"]}}
    config:
      key-source-uris: "http://127.0.0.1:{jwks_port}/jwks.json"
      refresh-interval: 1h
      unknown-kid-refresh: 100ms
{extra_jwt}
  - name: roles
    kind: authorizer
    builtin: default-authorizer
"""


def start_server(tmp: Path, text: str, port: int) -> ServerProcess:
    config = tmp / "sundial.yaml"
    config.write_text(text)
    server = ServerProcess(
        [str(sundial_bin()), "start", "--config", str(config)], "127.0.0.1", port, "sundial-auth"
    )
    server.start()
    server.wait_port(timeout=60)
    return server


@contextlib.contextmanager
def jwt_server(tmp: Path, listener: str) -> Iterator[tuple[ServerProcess, Keys, int]]:
    """A Sundial with the JWT claim mapper and the default authorizer and one more listener
    (`listener`, a `server` key such as `http_port`) on a free port: the server, the signing
    keys and that port, until the block ends. Returns once the listener accepts."""
    keys = Keys()
    jwks = JwksServer(keys)
    port, admin, extra = free_port(), free_port(), free_port()
    config = auth_config(jwks.port, port, admin).replace(
        f"server: {{ip: 127.0.0.1, port: {port}}}",
        f"server: {{ip: 127.0.0.1, port: {port}, {listener}: {extra}}}",
    )
    assert f"{listener}: {extra}" in config
    server = start_server(tmp, config, port)
    try:
        server.wait_listening(extra)
        yield server, keys, extra
    finally:
        server.kill()
        jwks.close()


@pytest.fixture(scope="module")
def server(jwks: JwksServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    port, admin = free_port(), free_port()
    s = start_server(tmp_path_factory.mktemp("auth"), auth_config(jwks.port, port, admin), port)
    s.admin = f"127.0.0.1:{admin}"  # type: ignore[attr-defined]
    yield s
    s.kill()


async def connect(server: ServerProcess, tok: str | None, namespace: str = "orders") -> Client:
    """A client sending `tok`. It connects without it: the SDK's connect call would fail
    with a token the server refuses, and the tests want to see the refusal on a real call."""
    client = await Client.connect(server.address, namespace=namespace)
    if tok is not None:
        client.rpc_metadata = {"authorization": f"Bearer {tok}"}
    return client


async def describe(client: Client, namespace: str) -> None:
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))


async def status_of(call: Any) -> RPCStatusCode | None:
    """None if `call` succeeds, else the gRPC status it failed with."""
    try:
        await call
        return None
    except RPCError as err:
        return err.status


def denial_reason(err: RPCError) -> str:
    details = err.grpc_status.details
    assert details, "PermissionDenied carries a PermissionDeniedFailure"
    failure = PermissionDeniedFailure()
    assert details[0].Unpack(failure)
    return failure.reason


async def test_writer_runs_workflows_in_its_namespace_only(server: ServerProcess, keys: Keys) -> None:
    tok = token(keys, ["orders:write"])
    client = await connect(server, tok)
    queue = f"auth-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[GreetingWorkflow], activities=[greet]):
        result = await client.execute_workflow(
            GreetingWorkflow.run,
            "auth",
            id=f"wf-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )
    assert result == "Hello, auth!"

    other = await connect(server, tok, namespace="billing")
    with pytest.raises(RPCError) as err:
        await other.start_workflow(GreetingWorkflow.run, "x", id="denied", task_queue=queue)
    assert err.value.status == RPCStatusCode.PERMISSION_DENIED
    assert err.value.message == "Request unauthorized."
    assert denial_reason(err.value) == ""
    # Write includes read; cluster-wide calls need a system role.
    assert await status_of(describe(client, "orders")) is None
    assert (
        await status_of(client.workflow_service.list_namespaces(ListNamespacesRequest()))
        == RPCStatusCode.PERMISSION_DENIED
    )


async def test_roles_are_compared_as_numbers(server: ServerProcess, keys: Keys) -> None:
    reader = await connect(server, token(keys, ["orders:read"]))
    assert await status_of(describe(reader, "orders")) is None
    assert await status_of(describe(reader, "billing")) == RPCStatusCode.PERMISSION_DENIED
    assert (
        await status_of(reader.start_workflow(GreetingWorkflow.run, "x", id="r", task_queue="q"))
        == RPCStatusCode.PERMISSION_DENIED
    )
    # `worker` alone passes nothing: every worker call needs write.
    worker = await connect(server, token(keys, ["orders:worker"]))
    assert await status_of(describe(worker, "orders")) == RPCStatusCode.PERMISSION_DENIED
    # Namespace admin may update its own namespace, not another.
    admin = await connect(server, token(keys, ["orders:admin", "billing:READ"]))
    update = UpdateNamespaceRequest(
        namespace="orders", update_info=UpdateNamespaceInfo(description="by its admin")
    )
    assert await status_of(admin.workflow_service.update_namespace(update)) is None
    update.namespace = "billing"
    assert (
        await status_of(admin.workflow_service.update_namespace(update))
        == RPCStatusCode.PERMISSION_DENIED
    )
    assert await status_of(describe(admin, "billing")) is None


@pytest.mark.parametrize("spelling", ["temporal-system:read", "system:read"])
async def test_system_role_is_cluster_wide(server: ServerProcess, keys: Keys, spelling: str) -> None:
    client = await connect(server, token(keys, [spelling]))
    assert await status_of(client.workflow_service.list_namespaces(ListNamespacesRequest())) is None
    assert await status_of(describe(client, "billing")) is None
    assert (
        await status_of(client.start_workflow(GreetingWorkflow.run, "x", id="s", task_queue="q"))
        == RPCStatusCode.PERMISSION_DENIED
    )


async def test_es256_tokens_are_accepted(server: ServerProcess, keys: Keys) -> None:
    client = await connect(server, token(keys, ["orders:read"], kid="ec-1", alg="ES256"))
    assert await status_of(describe(client, "orders")) is None


def _bad_tokens(keys: Keys) -> dict[str, str]:
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = keys.rsa1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    good = token(keys, ["orders:admin"])
    header, payload, _sig = good.split(".")
    unsigned_header = base64.urlsafe_b64encode(
        json.dumps({"alg": "none", "kid": "rsa-1", "typ": "JWT"}).encode()
    ).rstrip(b"=").decode()
    # HS256 "signed" with the RSA public key bytes: the classic key-confusion attack.
    hmac_header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode()
    ).rstrip(b"=").decode()
    import hashlib
    import hmac

    hmac_sig = base64.urlsafe_b64encode(
        hmac.new(public_pem, f"{hmac_header}.{payload}".encode(), hashlib.sha256).digest()
    ).rstrip(b"=").decode()
    forged = base64.urlsafe_b64encode(
        json.dumps({"sub": "mallory", "permissions": ["orders:admin"], "aud": AUDIENCE}).encode()
    ).rstrip(b"=").decode()
    return {
        "expired": token(keys, ["orders:admin"], exp=-120),
        "not yet valid": token(keys, ["orders:admin"], nbf=600),
        "wrong signature": token(keys, ["orders:admin"], key=other_rsa),
        "wrong audience": token(keys, ["orders:admin"], aud="someone-else"),
        "no audience": token(keys, ["orders:admin"], aud=None),
        "unknown kid": token(keys, ["orders:admin"], kid="nobody"),
        "alg none": f"{unsigned_header}.{payload}.",
        "hmac with the public key": f"{hmac_header}.{payload}.{hmac_sig}",
        "malformed": "not-a-jwt",
        "tampered payload": f"{header}.{forged}.{_sig}",
        "oversized": token(keys, ["orders:admin"] + [f"ns{i}:read" for i in range(2000)]),
    }


async def test_bad_tokens_are_refused(server: ServerProcess, keys: Keys) -> None:
    # The SDK's connect call (GetSystemInfo) is open to anyone; what follows is not.
    client = await connect(server, None)
    results = {}
    for name, tok in _bad_tokens(keys).items():
        client.rpc_metadata = {"authorization": f"Bearer {tok}"}
        results[name] = await status_of(describe(client, "orders"))
    assert results == {name: RPCStatusCode.UNAUTHENTICATED for name in results}, results
    # Wrong scheme.
    client.rpc_metadata = {"authorization": f"Basic {token(keys, ['orders:read'])}"}
    assert await status_of(describe(client, "orders")) == RPCStatusCode.UNAUTHENTICATED
    # The server said why in its log, not to the caller.
    log = server.log_tail(200_000)
    for words in ["token expired", "not yet valid", "bad signature", "audience mismatch",
                  'unknown key id "nobody"', "unsupported algorithm"]:
        assert words in log, f"{words!r} not logged"


async def test_no_token_gets_system_info_only(server: ServerProcess) -> None:
    client = await connect(server, None)  # connect itself calls GetSystemInfo
    assert await status_of(describe(client, "orders")) == RPCStatusCode.PERMISSION_DENIED


async def test_key_rotation_is_picked_up(server: ServerProcess, keys: Keys) -> None:
    before = keys.fetches
    # A token from a key the server has not seen yet: refused while unpublished...
    rotated = token(keys, ["orders:read"], kid="rsa-2", key=keys.rsa2)
    client = await connect(server, rotated)
    assert await status_of(describe(client, "orders")) == RPCStatusCode.UNAUTHENTICATED
    # ...accepted once the JWKS publishes it (an unknown kid triggers a refetch), and the
    # retired key stops working for new tokens.
    keys.published = {"rsa-2": keys.rsa2, "ec-1": keys.ec1}
    await asyncio.sleep(0.3)  # past the mapper's unknown-kid refresh spacing (100 ms)
    client = await connect(server, token(keys, ["orders:read"], kid="rsa-2", key=keys.rsa2, sub="rotated"))
    assert await status_of(describe(client, "orders")) is None
    retired = await connect(server, token(keys, ["orders:read"], sub="retired"))
    await asyncio.sleep(0.3)
    assert await status_of(describe(retired, "orders")) == RPCStatusCode.UNAUTHENTICATED
    assert keys.fetches > before
    keys.published = {"rsa-1": keys.rsa1, "rsa-2": keys.rsa2, "ec-1": keys.ec1}
    await asyncio.sleep(0.3)  # the next test's first unknown kid may refetch at once


async def test_claims_are_not_reused_after_expiry(server: ServerProcess, keys: Keys) -> None:
    # Valid for ~2 s (and the mapper's 5 s leeway): allowed now, refused once expired, even
    # though the same token string was just accepted and its claims cached.
    short = token(keys, ["orders:read"], exp=2, sub="short-lived", kid="ec-1", alg="ES256")
    client = await connect(server, short)
    assert await status_of(describe(client, "orders")) is None
    await asyncio.sleep(8)
    assert await status_of(describe(client, "orders")) == RPCStatusCode.UNAUTHENTICATED


async def test_system_alias_switch(jwks: JwksServer, keys: Keys, tmp_path: Path) -> None:
    """With `system-alias: "false"`, `system:read` is a role on the namespace named `system`."""
    port, admin = free_port(), free_port()
    text = auth_config(jwks.port, port, admin, extra_jwt='      system-alias: "false"')
    server = start_server(tmp_path, text, port)
    try:
        client = await connect(server, token(keys, ["system:read"]))
        assert (
            await status_of(client.workflow_service.list_namespaces(ListNamespacesRequest()))
            == RPCStatusCode.PERMISSION_DENIED
        )
        assert await status_of(describe(client, "system")) is None
        assert await status_of(describe(client, "orders")) == RPCStatusCode.PERMISSION_DENIED
        system = await connect(server, token(keys, ["temporal-system:read"]))
        assert await status_of(system.workflow_service.list_namespaces(ListNamespacesRequest())) is None
    finally:
        server.kill()


def _grant_config(port: int, key_sources: str, grants: str) -> str:
    return f"""
server: {{ip: 127.0.0.1, port: {port}}}
persistence: {{url: "sqlite::memory:"}}
namespaces: [{{name: default}}, {{name: orders}}]
log: {{level: info}}
authorization: {{claim_mapper: jwt, authorizer: roles}}
plugins:
  - name: jwt
    kind: claim-mapper
    builtin: jwt-claim-mapper
    limits: {{deadline: 5s, memory: 32MiB}}
    grants: {grants}
    config: {{key-source-uris: "{key_sources}"}}
  - name: roles
    kind: authorizer
    builtin: default-authorizer
"""


async def test_keys_from_a_granted_directory(keys: Keys, tmp_path: Path) -> None:
    """`file://` key sources read a directory the operator granted (read-only, at a guest
    path); nothing else of the host's file system is visible."""
    key_dir = tmp_path / "keys"
    key_dir.mkdir()
    (key_dir / "jwks.json").write_bytes(keys.jwks())
    port = free_port()
    text = _grant_config(
        port, "file:///keys/jwks.json", f'{{directories: [{{host: "{key_dir}", guest: /keys}}]}}'
    )
    server = start_server(tmp_path, text, port)
    try:
        client = await connect(server, token(keys, ["orders:read"], aud=None))
        assert await status_of(describe(client, "orders")) is None
    finally:
        server.kill()
    # The same file by its host path, without the grant: not there for the plugin.
    port = free_port()
    text = _grant_config(port, f"file://{key_dir}/jwks.json", "{}")
    server = start_server(tmp_path, text, port)
    try:
        client = await connect(server, token(keys, ["orders:read"], aud=None))
        assert await status_of(describe(client, "orders")) == RPCStatusCode.UNAUTHENTICATED
    finally:
        server.kill()


async def test_http_only_to_granted_destinations(jwks: JwksServer, keys: Keys, tmp_path: Path) -> None:
    """A key source on a host:port the operator did not grant is never contacted."""
    port = free_port()
    before = keys.fetches
    other_port = jwks.port + 1 if jwks.port < 65535 else jwks.port - 1
    text = _grant_config(
        port, f"http://127.0.0.1:{jwks.port}/jwks.json", f'{{http: ["127.0.0.1:{other_port}"]}}'
    )
    server = start_server(tmp_path, text, port)
    try:
        client = await connect(server, token(keys, ["orders:read"], aud=None))
        assert await status_of(describe(client, "orders")) == RPCStatusCode.UNAUTHENTICATED
        assert keys.fetches == before, "the JWKS server was contacted without a grant"
        assert "destination not granted" in server.log_tail(100_000)
    finally:
        server.kill()
