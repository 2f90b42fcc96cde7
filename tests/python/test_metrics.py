"""Prometheus metrics as Temporal's dashboards read them: a real Prometheus scrapes a Sundial
(`start-dev --metrics-port`) and a real `temporal server start-dev --metrics-port` under the
same small SDK load; queries of the kind the community server dashboard runs return data from
Sundial, and the request metrics carry the label keys Temporal's carry.

Needs Debian's `prometheus` (test.sh installs it).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from conftest import ServerProcess, connect_with_retry, suite_starts_sundial, sundial_bin
from helpers import find_cli, free_port, new_worker, unique, wait_until
from workflows import GreetingWorkflow, greet

PROMETHEUS = shutil.which("prometheus")

pytestmark = [
    pytest.mark.skipif(not suite_starts_sundial(), reason="starts a Sundial of its own with metrics"),
    pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed (test.sh installs it)"),
]

#: Metrics the dashboards chart, with the service whose series the comparison reads.
COMPARED = [
    ("service_requests", "frontend"),
    ("service_latency_bucket", "frontend"),
    ("service_error_with_type", "frontend"),
    ("workflow_success", "history"),
]


def serve(argv: list[str], port: int, name: str) -> ServerProcess:
    server = ServerProcess(argv, "127.0.0.1", port, name)
    server.start()
    server.wait_port(timeout=60)
    return server


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[str, int]]]:
    """A Sundial and a Temporal dev server, each with its metrics port: name -> (address, port)."""
    cli = find_cli()
    if not cli:
        pytest.skip("temporal CLI not found")
    ports = {name: (free_port(), free_port()) for name in ("sundial", "temporal")}
    started = []
    try:
        port, metrics = ports["sundial"]
        started.append(serve(
            [str(sundial_bin()), "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
             "--metrics-port", str(metrics), "--log-level", "warn"],
            port, "sundial-metrics",
        ))
        port, metrics = ports["temporal"]
        started.append(serve(
            [cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
             "--ui-port", str(free_port()), "--metrics-port", str(metrics), "--log-level", "warn"],
            port, "temporal-metrics",
        ))
        yield {name: (f"127.0.0.1:{p}", m) for name, (p, m) in ports.items()}
    finally:
        for server in started:
            server.kill()


@pytest.fixture(scope="module")
def prometheus(servers: dict[str, tuple[str, int]]) -> Iterator[str]:
    """A Prometheus scraping both servers every second (jobs `sundial` and `temporal`): its URL."""
    work = Path(tempfile.mkdtemp(prefix="sundial-prometheus-"))
    jobs = "\n".join(
        f"  - job_name: {name}\n    static_configs: [{{targets: ['127.0.0.1:{metrics}']}}]"
        for name, (_, metrics) in servers.items()
    )
    (work / "prometheus.yml").write_text(f"global: {{scrape_interval: 1s}}\nscrape_configs:\n{jobs}\n")
    port = free_port()
    server = ServerProcess(
        [PROMETHEUS, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        "127.0.0.1", port, "prometheus",
    )
    server.start()
    try:
        server.wait_port(timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.kill()
        shutil.rmtree(work, ignore_errors=True)


def query(prometheus: str, promql: str, path: str = "query") -> list[dict]:
    key = "match[]" if path == "series" else "query"
    url = f"{prometheus}/api/v1/{path}?{urllib.parse.urlencode({key: promql})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"] if path == "query" else body["data"]


async def load(client: Client) -> None:
    """Three workflows run by a worker, a describe of one of them once closed (a run that
    closed has left Sundial's cache: a cache miss), a describe of a missing one (NotFound) and
    a second start of a running id (WorkflowExecutionAlreadyStarted)."""
    tq = unique("metrics-tq")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        for i in range(3):
            done = unique("metrics")
            await client.execute_workflow(GreetingWorkflow.run, f"m{i}", id=done, task_queue=tq)
    await client.get_workflow_handle(done).describe()
    with pytest.raises(RPCError):
        await client.get_workflow_handle(unique("missing")).describe()
    wid = unique("twice")
    await client.start_workflow(GreetingWorkflow.run, "x", id=wid, task_queue=unique("nobody"))
    with pytest.raises(Exception):
        await client.start_workflow(GreetingWorkflow.run, "x", id=wid, task_queue=unique("nobody"))


@pytest.fixture(scope="module")
async def loaded(servers: dict[str, tuple[str, int]], prometheus: str) -> str:
    """Both servers loaded twice, with a scrape between (a counter's first sample is its
    starting point, so rate() sees what comes after)."""
    clients = [await connect_with_retry(address) for address, _ in servers.values()]
    # Each load makes five start calls, the last of them after everything else it does, so a
    # count of 5 (then 10) scraped means the whole load is in the scrape.
    for at_least in (5, 10):
        for client in clients:
            await load(client)

        async def scraped() -> bool:
            counted = query(prometheus, 'sum by (job) (service_requests{operation="StartWorkflowExecution"})')
            return len([r for r in counted if float(r["value"][1]) >= at_least]) == 2

        await wait_until(scraped, timeout=60, what=f"{at_least} starts scraped from both servers")
    return prometheus


async def test_dashboard_queries_return_sundials_requests(loaded: str) -> None:
    rates = {
        r["metric"]["operation"]: float(r["value"][1])
        for r in query(loaded, 'sum by (operation) (rate(service_requests{job="sundial",service_name="frontend"}[1m]))')
    }
    for operation in ("StartWorkflowExecution", "PollWorkflowTaskQueue", "RespondWorkflowTaskCompleted",
                      "PollActivityTaskQueue", "RespondActivityTaskCompleted", "DescribeWorkflowExecution"):
        assert rates.get(operation, 0) > 0, (operation, rates)
    p95 = {
        r["metric"]["operation"]: float(r["value"][1])
        for r in query(loaded, 'histogram_quantile(0.95, sum by (operation, le) '
                               '(rate(service_latency_bucket{job="sundial",service_name="frontend"}[1m])))')
    }
    assert 0 < p95["StartWorkflowExecution"] < 10, p95
    errors = {
        r["metric"]["error_type"]: float(r["value"][1])
        for r in query(loaded, 'sum by (error_type) (increase(service_error_with_type{job="sundial"}[5m]))')
    }
    assert errors.get("serviceerror_NotFound", 0) > 0, errors
    assert errors.get("serviceerror_WorkflowExecutionAlreadyStarted", 0) > 0, errors
    # Both are the caller's doing: the availability panel's `service_errors` stays empty.
    assert query(loaded, 'sum(service_errors{job="sundial"})') == []
    by_namespace = query(loaded, 'sum by (namespace) (service_requests{job="sundial",operation="StartWorkflowExecution"})')
    assert [r["metric"]["namespace"] for r in by_namespace] == ["default"]


async def test_workflow_outcomes_are_counted(loaded: str) -> None:
    successes = query(loaded, 'sum by (workflowType, operation) (workflow_success{job="sundial"})')
    assert [(r["metric"], float(r["value"][1])) for r in successes] == [
        ({"workflowType": "GreetingWorkflow", "operation": "CompletionStats"}, 6.0)
    ]


async def test_metrics_carry_temporals_label_keys(loaded: str) -> None:
    for name, service in COMPARED:
        keys = {}
        for job in ("sundial", "temporal"):
            series = query(loaded, f'{name}{{job="{job}",service_name="{service}"}}', path="series")
            assert series, (name, job)
            keys[job] = {frozenset(k for k in s if k not in ("job", "instance")) for s in series}
        assert keys["sundial"] == keys["temporal"], name


#: The metrics Temporal's community dashboards (server-general, and the frontend, history and
#: matching ones) chart, by the names Prometheus stores.
DASHBOARD = [
    "action", "command", "membership_changed_count", "memory_allocated", "memory_heap",
    "num_goroutines", "numshards_gauge", "persistence_errors", "persistence_latency_bucket",
    "persistence_requests", "poll_success", "poll_success_sync", "poll_timeouts", "restarts",
    "service_errors", "service_errors_resource_exhausted", "service_latency_bucket",
    "service_requests", "shard_closed_count", "sharditem_created_count", "sharditem_removed_count",
    "state_transition_count_count", "task_schedule_to_start_latency_bucket", "workflow_cancel",
    "syncmatch_latency_bucket", "cache_requests", "cache_miss", "cache_latency_bucket",
    "approximate_backlog_count",
    "workflow_failed", "workflow_success", "workflow_terminate", "workflow_timeout",
]

#: Dashboard metrics Sundial does not emit, and why.
NOT_EMITTED = {
    "client_requests": "on one node Sundial's services call each other in process; calls between nodes are "
                       "counted (host/server/tests/cluster.rs)",
    "client_errors": "as client_requests",
    "client_latency_bucket": "as client_requests",
    "memory_stack": "Go's runtime figure; Rust has no goroutine stacks",
    "memory_num_gc": "Go's garbage collector; Rust has none",
    "memory_gc_pause_ms_bucket": "as memory_num_gc",
}


async def test_every_dashboard_metric_temporal_shows_sundial_shows(loaded: str) -> None:
    """Under the same load, each dashboard metric Temporal's dev server exposes, Sundial exposes
    too, with the same label keys."""
    compared = []
    for name in DASHBOARD + list(NOT_EMITTED):
        keys = {}
        for job in ("sundial", "temporal"):
            series = query(loaded, f'{name}{{job="{job}"}}', path="series")
            keys[job] = {k for s in series for k in s if k not in ("job", "instance", "__name__")}
        if name in NOT_EMITTED:
            assert not keys["sundial"], f"{name} is emitted now: take it off NOT_EMITTED"
            continue
        if keys["temporal"]:
            compared.append(name)
            assert keys["sundial"] == keys["temporal"], (name, keys)
    # Most of the list is there under this load (the rest: errors and timeouts it does not cause).
    assert len(compared) >= 18, compared


async def test_persistence_shard_and_poll_figures(loaded: str) -> None:
    operations = {
        r["metric"]["operation"]
        for r in query(loaded, 'sum by (operation) (persistence_requests{job="sundial"})')
    }
    assert {"CreateWorkflowExecution", "UpdateWorkflowExecution", "GetOrCreateShard"} <= operations, operations
    p95 = query(loaded, 'histogram_quantile(0.95, sum by (le) (rate(persistence_latency_bucket{job="sundial"}[1m])))')
    assert p95 and 0 < float(p95[0]["value"][1]) < 10, p95
    shards = query(loaded, 'sum(numshards_gauge{job="sundial"})')
    assert shards and float(shards[0]["value"][1]) >= 1, shards
    polls = {
        r["metric"]["task_type"]: float(r["value"][1])
        for r in query(loaded, 'sum by (task_type) (poll_success{job="sundial"})')
    }
    # Six workflows ran, each with two workflow tasks and an activity.
    assert polls.get("Workflow", 0) >= 12 and polls.get("Activity", 0) >= 6, polls
    actions = {
        r["metric"]["action_type"]
        for r in query(loaded, 'sum by (action_type) (action{job="sundial"})')
    }
    assert {"grpc_StartWorkflowExecution", "command_ScheduleActivityTask"} <= actions, actions
    commands = {
        r["metric"]["commandType"]
        for r in query(loaded, 'sum by (commandType) (command{job="sundial"})')
    }
    assert {"ScheduleActivityTask", "CompleteWorkflowExecution"} <= commands, commands
