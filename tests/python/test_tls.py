"""Mutual TLS end to end: a CA and certificates made here (`cryptography`), a Sundial whose
frontend requires client certificates, the builtin cert-claim-mapper granting roles by the
certificate's CN and the default authorizer enforcing them; the real Python SDK and the
`temporal` CLI as clients.
"""

from __future__ import annotations

import datetime
import http.client
import json
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.client import Client, TLSConfig
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from conftest import ServerProcess, sundial_bin
from helpers import free_port, run_cli
from workflows import GreetingWorkflow, greet

pytestmark = pytest.mark.sundial_only


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Issued:
    cert: bytes
    key: bytes


class Authority:
    """A CA that issues server and client certificates."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, *, server: bool = False, days: int = 30) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sundial tests"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=60))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


@dataclass
class Tls:
    dir: Path
    ca: Authority
    server: ServerProcess
    http_port: int
    ui_port: int

    def client_files(self, cn: str) -> tuple[Path, Path]:
        issued = self.ca.issue(cn)
        cert, key = self.dir / f"{cn}.pem", self.dir / f"{cn}.key"
        cert.write_bytes(issued.cert)
        key.write_bytes(issued.key)
        return cert, key


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    directory = tmp_path_factory.mktemp("tls")
    ca = Authority("Sundial test CA")
    (directory / "ca.pem").write_bytes(ca.pem)
    server_cert = ca.issue("sundial", server=True)
    (directory / "server.pem").write_bytes(server_cert.cert)
    (directory / "server.key").write_bytes(server_cert.key)
    port, http_port, ui_port = free_port(), free_port(), free_port()
    config = {
        "server": {"ip": "127.0.0.1", "port": port, "http_port": http_port, "ui_port": ui_port},
        "log": {"level": "warn"},
        "tls": {
            "frontend": {
                "server": {
                    "certFile": "server.pem",
                    "keyFile": "server.key",
                    "clientCaFiles": ["ca.pem"],
                    "requireClientAuth": True,
                },
            },
        },
        "plugins": [
            {
                "name": "certs",
                "kind": "claim-mapper",
                "builtin": "cert-claim-mapper",
                "config": {"cn:writer": "default:write", "cn:reader": "default:read"},
            },
            {"name": "roles", "kind": "authorizer", "builtin": "default-authorizer"},
        ],
        "authorization": {"claim_mapper": "certs", "authorizer": "roles"},
    }
    path = directory / "sundial.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    server = ServerProcess(
        [str(sundial_bin()), "start", "--config", str(path)], "127.0.0.1", port, "sundial-tls"
    )
    server.start()
    server.wait_port(timeout=60)
    yield Tls(directory, ca, server, http_port, ui_port)
    server.kill()


async def connect(
    tls: Tls, cn: str | None, *, ca: Authority | None = None, domain: str = "localhost", days: int = 30
) -> Client:
    client_cert = client_key = None
    if cn is not None:
        issued = (ca or tls.ca).issue(cn, days=days)
        client_cert, client_key = issued.cert, issued.key
    return await Client.connect(
        tls.server.address,
        namespace="default",
        tls=TLSConfig(
            server_root_ca_cert=tls.ca.pem,
            client_cert=client_cert,
            client_private_key=client_key,
            domain=domain,
        ),
    )


async def test_writer_runs_a_workflow_reader_cannot_start_one(tls: Tls) -> None:
    writer = await connect(tls, "writer")
    queue = f"tls-{uuid.uuid4().hex[:8]}"
    async with Worker(writer, task_queue=queue, workflows=[GreetingWorkflow], activities=[greet]):
        result = await writer.execute_workflow(
            GreetingWorkflow.run,
            "mtls",
            id=f"tls-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )
    assert result == "Hello, mtls!"

    reader = await connect(tls, "reader")
    with pytest.raises(RPCError) as err:
        await reader.start_workflow(GreetingWorkflow.run, "x", id=f"tls-{uuid.uuid4()}", task_queue=queue)
    assert err.value.status == RPCStatusCode.PERMISSION_DENIED
    # Reading is allowed.
    seen = [w async for w in reader.list_workflows("WorkflowType = 'GreetingWorkflow'")]
    assert seen, "the reader lists the writer's workflow"


async def test_clients_without_a_good_certificate_are_refused(tls: Tls) -> None:
    # What the SDK reports: the server's TLS alert, or the client's own verdict on the
    # server's certificate.
    cases = {
        "no certificate": (dict(cn=None), "CertificateRequired"),
        "another CA": (dict(cn="writer", ca=Authority("Other CA")), "UnknownCA"),
        "expired": (dict(cn="writer", days=-1), "CertificateExpired"),
        "wrong server name": (dict(cn="writer", domain="sundial.example"), "NotValidForName"),
    }
    for what, (kwargs, words) in cases.items():
        # With TLS 1.3 the client finishes its handshake before the server has checked its
        # certificate; the server's alert then races the client's first request, and the SDK
        # may report only "connection closed" (more often on a busy machine: the suite runs on
        # two workers). Every attempt must fail; the reason must show.
        errors = []
        for _ in range(20):
            with pytest.raises(RuntimeError) as err:
                await connect(tls, **kwargs)
            errors.append(str(err.value))
            if words in errors[-1]:
                break
        assert words in errors[-1], f"{what}: {errors}"
    # The listener survived the refusals.
    await connect(tls, "reader")


async def test_cli_lists_workflows_with_a_client_certificate(tls: Tls, cli: str) -> None:
    writer = await connect(tls, "writer")
    wid = f"tls-cli-{uuid.uuid4()}"
    await writer.start_workflow(GreetingWorkflow.run, "cli", id=wid, task_queue="tls-cli-nobody")
    cert, key = tls.client_files("reader")
    common = [
        "--address", tls.server.address, "--namespace", "default",
        "--tls-ca-path", str(tls.dir / "ca.pem"), "--tls-server-name", "localhost",
    ]
    ok = await run_cli(
        cli, "workflow", "list", *common, "--tls-cert-path", str(cert), "--tls-key-path", str(key),
        "-o", "json",
    )
    assert ok.returncode == 0, ok.stderr
    assert wid in {w["execution"]["workflowId"] for w in ok.json()}

    refused = await run_cli(cli, "workflow", "list", *common, timeout=60)
    assert refused.returncode != 0
    assert "client certificate" in refused.stderr, refused.stderr


def https(tls: Tls, port: int, cn: str | None, method: str, path: str, body: Any = None,
          alpn: list[str] | None = None) -> tuple[int, Any, str]:
    """One HTTPS call to the server with a client certificate for `cn` (none: no certificate):
    the status, the JSON answer (or the text) and the protocol ALPN settled on."""
    context = ssl.create_default_context(cafile=str(tls.dir / "ca.pem"))
    if cn is not None:
        cert, key = tls.client_files(cn)
        context.load_cert_chain(cert, key)
    if alpn:
        context.set_alpn_protocols(alpn)
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=20)
    try:
        data = None if body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        reply = connection.getresponse()
        text = reply.read().decode()
        protocol = connection.sock.selected_alpn_protocol() or ""
        try:
            return reply.status, json.loads(text), protocol
        except json.JSONDecodeError:
            return reply.status, text, protocol
    finally:
        connection.close()


def test_http_api_and_ui_over_tls(tls: Tls) -> None:
    """The HTTP API and the UI speak TLS with the frontend's certificates, and a call's client
    certificate reaches the claim mapper as a gRPC call's does."""
    wid = f"https-{uuid.uuid4().hex[:8]}"
    start = {"workflowType": {"name": "GreetingWorkflow"}, "taskQueue": {"name": "https"}, "input": ["x"]}
    status, body, protocol = https(tls, tls.http_port, "writer", "POST",
                                   f"/api/v1/namespaces/default/workflows/{wid}", start,
                                   alpn=["http/1.1"])
    assert status == 200 and body.get("runId"), (status, body)
    assert protocol == "http/1.1"
    status, body, _ = https(tls, tls.http_port, "reader", "GET", f"/api/v1/namespaces/default/workflows/{wid}")
    assert status == 200 and body["workflowExecutionInfo"]["execution"]["workflowId"] == wid, body
    # The reader's certificate maps to read only: a start is refused, as over gRPC.
    status, body, _ = https(tls, tls.http_port, "reader", "POST",
                            f"/api/v1/namespaces/default/workflows/{wid}-2", start)
    assert status == 403 and body["code"] == 7, (status, body)
    # No certificate: the handshake is refused.
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        https(tls, tls.http_port, None, "GET", "/api/v1/namespaces/default/workflows")
    # The UI: its page, and the API on its origin.
    status, page, protocol = https(tls, tls.ui_port, "reader", "GET", "/namespaces/default/workflows",
                                   alpn=["http/1.1"])
    assert status == 200 and "<title>Sundial</title>" in page, (status, page)
    deadline = time.monotonic() + 10
    while True:
        status, body, _ = https(tls, tls.ui_port, "reader", "GET", "/api/v1/namespaces/default/workflows")
        assert status == 200, body
        if any(e["execution"]["workflowId"] == wid for e in body.get("executions", [])):
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    # HTTP/2 by ALPN, as a browser or curl negotiates it.
    cert, key = tls.client_files("reader")
    version = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(tls.dir / "ca.pem"), "--cert", str(cert), "--key", str(key),
         "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
         f"https://localhost:{tls.ui_port}/api/v1/namespaces/default/workflows"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    assert version == "2 200", version
