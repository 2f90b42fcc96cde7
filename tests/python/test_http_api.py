"""Temporal's HTTP API, call by call against Sundial and against the real dev server's
`--http-port`: the same status codes, and JSON of the same shape (Sundial writes no field
the real server does not, with the same JSON type; what the real server has and Sundial
lacks is listed per call below), payloads in the shorthand both ways, and errors as a
`google.rpc.Status` with the same code and detail type.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Iterator

import pytest

from conftest import ServerProcess, dynamic_config_args, sundial_bin
from helpers import free_port

pytestmark = pytest.mark.sundial_only


@pytest.fixture(scope="module")
def bases(cli: str) -> Iterator[dict[str, str]]:
    """The HTTP API of a Sundial and of a real Temporal dev server, by name."""
    yield from both_servers(cli)


def both_servers(cli: str, *extra: str) -> Iterator[dict[str, str]]:
    """Starts a Sundial and a real dev server with the HTTP API on and `extra` arguments;
    yields their base URLs by name, and stops them."""
    started = []
    bases = {}
    for name in ("sundial", "temporal"):
        port, http = free_port(), free_port()
        if name == "sundial":
            argv = [str(sundial_bin()), "start-dev", "--headless"]
        else:
            argv = [cli, "server", "start-dev", "--headless", "--ui-port", str(free_port())]
        argv += ["--ip", "127.0.0.1", "--port", str(port), "--http-port", str(http),
                 "--log-level", "warn", *dynamic_config_args(), *extra]
        server = ServerProcess(argv, "127.0.0.1", port, f"http-{name}")
        server.start()
        started.append(server)
        bases[name] = (f"http://127.0.0.1:{http}", http, server)
    try:
        for base, http, server in bases.values():
            server.wait_port(timeout=60)
            server.wait_listening(http)
        yield {name: base for name, (base, _, _) in bases.items()}
    finally:
        for server in started:
            server.kill()


def call(base: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """Status, decoded JSON (None if not JSON) and text of one call."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text), text
    except ValueError:
        return status, None, text


def skeleton(value: Any, path: str = "") -> set[str]:
    """Every path in `value` with its JSON type: `a.b[].c:str`."""
    if isinstance(value, dict):
        out = {f"{path}:obj"} if path else set()
        for k, v in value.items():
            # Map keys that are data, not names (request ids, header names) stay out.
            key = "*" if path.endswith(("requestIdInfos", "indexedFields", "fields")) else k
            out |= skeleton(v, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list):
        out = {f"{path}:list"}
        for v in value:
            out |= skeleton(v, f"{path}[]")
        return out
    kind = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}[type(value)]
    return {f"{path}:{kind}"}


def shape_differences(step: str, ours: Any, theirs: Any, missing_ok: set[str] = frozenset(),
                      extra_ok: set[str] = frozenset()) -> list[str]:
    mine, real = skeleton(ours), skeleton(theirs)
    problems = []
    invented = {p for p in mine - real if not any(p.startswith(m) for m in extra_ok)}
    if invented:
        problems.append(f"{step}: Sundial writes what Temporal does not: {sorted(invented)}")
    lacking = {p for p in real - mine if not any(p.startswith(m) for m in missing_ok)}
    if lacking:
        problems.append(f"{step}: Temporal writes what Sundial does not: {sorted(lacking)}")
    return problems


def both(bases: dict[str, str], method: str, path: str, **kw: Any) -> dict[str, tuple[int, Any, str]]:
    return {name: call(base, method, path, **kw) for name, base in bases.items()}


def test_calls_answer_as_the_real_servers_do(bases: dict[str, str]) -> None:
    wf = f"http-{uuid.uuid4().hex[:8]}"
    ns = "/api/v1/namespaces/default"
    start = {
        "workflowType": {"name": "HttpWorkflow"},
        "taskQueue": {"name": "http-queue"},
        "input": ["hi", {"a": 1}],
        "workflowRunTimeout": "60s",
    }

    # Shapes that differ are gathered and reported together at the end.
    problems: list[str] = []

    def check(step: str, results: dict[str, tuple[int, Any, str]], status: int,
              missing_ok: set[str] = frozenset(), extra_ok: set[str] = frozenset()) -> dict[str, Any]:
        got = {name: r[0] for name, r in results.items()}
        assert got == {"sundial": status, "temporal": status}, f"{step}: {results}"
        problems.extend(shape_differences(step, results["sundial"][1], results["temporal"][1],
                                          missing_ok, extra_ok))
        return {name: r[1] for name, r in results.items()}

    # What Sundial leaves out, each a known difference of the gRPC API as well: capabilities
    # it does not have (worker heartbeats, standalone activities, poller autoscaling, reported
    # problems), the namespace's limits, the empty `badBinaries`.
    described = check("describe namespace", both(bases, "GET", ns), 200, {
        "namespaceInfo.capabilities.pollerAutoscaling", "namespaceInfo.capabilities.reportedProblems",
        "namespaceInfo.capabilities.standaloneActivit", "namespaceInfo.capabilities.workerHeartbeats",
        "namespaceInfo.limits", "config.badBinaries",
    })
    assert described["sundial"]["namespaceInfo"]["name"] == "default"

    started = check("start", both(bases, "POST", f"{ns}/workflows/{wf}", body=start), 200)
    assert all(s["started"] is True and s["runId"] for s in started.values())
    for s in started.values():
        assert s["firstExecutionRunId"] == s["runId"]
        assert s["link"]["workflowEvent"]["eventRef"] == {"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}
        assert s["link"]["workflowEvent"]["runId"] == s["runId"]
    used = check("start, use existing", both(bases, "POST", f"{ns}/workflows/{wf}", body={
        **start, "workflowIdConflictPolicy": "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING"}), 200)
    for name, s in used.items():
        assert "started" not in s and s["runId"] == started[name]["runId"] == s["firstExecutionRunId"], s

    again = check("start again", both(bases, "POST", f"{ns}/workflows/{wf}", body=start), 409)
    for name, body in again.items():
        assert body["code"] == 6
        assert body["details"][0]["firstExecutionRunId"] == started[name]["runId"]
        assert body["details"][0]["@type"].endswith("WorkflowExecutionAlreadyStartedFailure")

    signaled = check("signal", both(bases, "POST", f"{ns}/workflows/{wf}/signal/go",
                                    body={"input": [1], "requestId": "signal-1"}), 200)
    for name, body in signaled.items():
        assert body["link"]["workflowEvent"]["runId"] == started[name]["runId"]
        assert body["link"]["workflowEvent"]["requestIdRef"] == {
            "requestId": "signal-1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"}
    sws = {**start, "requestId": "sws-1"}
    with_start = check("signal-with-start", both(bases, "POST", f"{ns}/workflows/{wf}-sws/signal-with-start/go",
                                                 body=sws), 200)
    for body in with_start.values():
        assert body["started"] is True and body["firstExecutionRunId"] == body["runId"]
        assert body["signalLink"]["workflowEvent"]["requestIdRef"]["requestId"] == "sws-1"
    again_sws = check("signal-with-start, running", both(
        bases, "POST", f"{ns}/workflows/{wf}-sws/signal-with-start/go", body={**sws, "requestId": "sws-2"}), 200)
    for name, body in again_sws.items():
        assert "started" not in body and body["runId"] == with_start[name]["runId"], body
        assert body["firstExecutionRunId"] == body["runId"]

    history = check("history", both(bases, "GET", f"{ns}/workflows/{wf}/history"), 200)
    for body in history.values():
        events = body["history"]["events"]
        assert [e["eventType"] for e in events] == [
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
        ]
        assert events[0]["workflowExecutionStartedEventAttributes"]["input"] == ["hi", {"a": 1}]
        assert events[2]["workflowExecutionSignaledEventAttributes"]["input"] == [1]

    # The shorthand off: payloads in their standard form.
    standard = both(bases, "GET", f"{ns}/workflows/{wf}/history?noPayloadShorthand")
    for _, body, _ in standard.values():
        payloads = body["history"]["events"][0]["workflowExecutionStartedEventAttributes"]["input"]
        assert payloads["payloads"][0] == {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "ImhpIg=="}
    # Indented on request.
    for _, _, text in both(bases, "GET", f"{ns}/workflows/{wf}?pretty").values():
        assert text.startswith('{\n  "'), text[:40]

    check("describe", both(bases, "GET", f"{ns}/workflows/{wf}"), 200)
    # The same call under the other binding.
    check("describe, short path", both(bases, "GET", f"/namespaces/default/workflows/{wf}"), 200)

    query = f"?query=WorkflowId%3D%22{wf}%22"
    deadline = time.monotonic() + 20
    while True:
        listed = both(bases, "GET", f"{ns}/workflows{query}")
        if all(len(r[1].get("executions", [])) == 1 for r in listed.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    # Known difference: Sundial's visibility records of running workflows carry the history
    # length and size, the transition count and the first run id, which Temporal's write only
    # at close.
    check("list", listed, 200, extra_ok={
        "executions[].firstRunId", "executions[].historyLength", "executions[].historySizeBytes",
        "executions[].stateTransitionCount",
    })
    counted = check("count", both(bases, "GET", f"{ns}/workflow-count{query}"), 200)
    assert counted["sundial"] == counted["temporal"] == {"count": "1"}

    check("terminate", both(bases, "POST", f"{ns}/workflows/{wf}/terminate", body={"reason": "done"}), 200)

    missing = check("describe missing", both(bases, "GET", f"{ns}/workflows/no-such-{wf}"), 404)
    for body in missing.values():
        assert body["code"] == 5
        assert body["details"] == [{"@type": "type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure"}]

    for step, kw in [
        ("bad JSON", {"raw": b"{bad"}),
        ("unknown field", {"body": {"nope": 1}}),
        ("not an object", {"body": [1]}),
    ]:
        results = both(bases, "POST", f"{ns}/workflows/{wf}-2", **kw)
        bodies = check(step, results, 400)
        assert all(b["code"] == 3 for b in bodies.values()), results
    bodies = check("bad parameter", both(bases, "GET", f"{ns}/workflows?pageSize=many"), 400)
    assert all(b["code"] == 3 for b in bodies.values())

    no_route = check("no route", both(bases, "GET", "/api/v1/nothing/here"), 404)
    assert no_route["sundial"] == no_route["temporal"]
    wrong_verb = check("wrong verb", both(bases, "PUT", f"{ns}/workflows"), 501)
    assert wrong_verb["sundial"] == wrong_verb["temporal"]

    # Known differences: capabilities Sundial does not announce, and no supportedClients table.
    check("system info", both(bases, "GET", "/api/v1/system-info"), 200, {
        "capabilities.nexus", "capabilities.serverScaledDeployments",
    })
    check("cluster info", both(bases, "GET", "/api/v1/cluster-info"), 200, {"supportedClients"})
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A Sundial with the JWT claim mapper and the default authorizer, HTTP API on: its base
    URL and the signing keys."""
    from test_auth import jwt_server

    with jwt_server(tmp_path_factory.mktemp("http-auth"), "http_port") as (_, keys, http):
        yield f"http://127.0.0.1:{http}", keys


def test_http_calls_are_authorized_as_grpc_calls_are(secured: tuple[str, Any]) -> None:
    from test_auth import token

    base, keys = secured
    writer = {"Authorization": f"Bearer {token(keys, ['orders:write'])}"}
    start = {"workflowType": {"name": "T"}, "taskQueue": {"name": "q"}}
    wf = f"http-auth-{uuid.uuid4().hex[:8]}"

    status, body, _ = call(base, "GET", "/api/v1/namespaces/orders")
    assert (status, body["code"]) == (403, 7), body
    assert body["message"] == "Request unauthorized."
    assert body["details"][0]["@type"].endswith("PermissionDeniedFailure")

    expired = {"Authorization": f"Bearer {token(keys, ['orders:write'], exp=-60)}"}
    status, body, _ = call(base, "GET", "/api/v1/namespaces/orders", headers=expired)
    assert (status, body["code"]) == (401, 16), body

    # System information is open to anyone, as over gRPC.
    assert call(base, "GET", "/api/v1/system-info")[0] == 200

    status, body, _ = call(base, "POST", f"/api/v1/namespaces/orders/workflows/{wf}", body=start, headers=writer)
    assert status == 200 and body["started"] is True, body
    status, body, _ = call(base, "POST", f"/api/v1/namespaces/billing/workflows/{wf}", body=start, headers=writer)
    assert (status, body["code"]) == (403, 7), body

    # A namespace in the body does not stand in for the path's: the path's is the one called
    # and authorized.
    billing_only = {"Authorization": f"Bearer {token(keys, ['billing:write'])}"}
    smuggled = dict(start, namespace="billing")
    status, body, _ = call(base, "POST", f"/api/v1/namespaces/orders/workflows/{wf}-2",
                           body=smuggled, headers=billing_only)
    assert (status, body["code"]) == (403, 7), body
    status, body, _ = call(base, "POST", f"/api/v1/namespaces/orders/workflows/{wf}-2",
                           body=smuggled, headers=writer)
    assert status == 200, body
    status, body, _ = call(base, "GET", f"/api/v1/namespaces/orders/workflows/{wf}-2", headers=writer)
    assert status == 200 and body["workflowExecutionInfo"]["execution"]["workflowId"] == f"{wf}-2"
    # Cluster-wide calls need a system role over HTTP too.
    status, body, _ = call(base, "GET", "/api/v1/namespaces", headers=writer)
    assert (status, body["code"]) == (403, 7), body
    admin = {"Authorization": f"Bearer {token(keys, ['system:admin'])}"}
    status, body, _ = call(base, "GET", "/api/v1/namespaces", headers=admin)
    assert status == 200 and {n["namespaceInfo"]["name"] for n in body["namespaces"]} >= {"orders", "billing"}


@pytest.fixture(scope="module")
def localhost_only(cli: str) -> Iterator[dict[str, str]]:
    """Both servers answering HTTP calls only for `Host: localhost:<port>`."""
    yield from both_servers(cli, "--dynamic-config-value", 'frontend.httpAllowedHosts=["localhost:*"]')


def test_calls_for_other_hosts_are_refused_as_temporal_refuses_them(localhost_only: dict[str, str]) -> None:
    """`frontend.httpAllowedHosts`: a call naming another host (a DNS rebinding page, say)
    gets 403, the same on both servers; the allowed host is answered."""
    for name, base in localhost_only.items():
        port = base.rsplit(":", 1)[1]
        path = "/api/v1/namespaces/default/workflows"
        refused = call(base, "GET", path)  # Host: 127.0.0.1:<port>
        assert refused[:2] == (403, {"code": 7, "message": "Host not allowed"}), (name, refused)
        served = call(base, "GET", path, headers={"Host": f"localhost:{port}"})
        assert served[0] == 200, (name, served)

