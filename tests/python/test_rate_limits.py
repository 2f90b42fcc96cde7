"""Rate limits with Temporal's dynamic-config keys: a namespace over its rate, or over its count
of long-running calls, is answered ResourceExhausted with Temporal's message, cause and scope;
the SDK backs off and its workflows complete; a flood in one namespace leaves another alone; an
edit to the dynamic-config file changes a limit without a restart. The refusals are compared
with the real `temporal server start-dev` given the same limits.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    PollActivityTaskQueueRequest,
    PollWorkflowTaskQueueRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import ServerProcess, connect_with_retry, suite_starts_sundial, sundial_bin, sundial_with_dynamic_config
from helpers import find_cli, free_port, new_worker, unique, wait_until
from workflows import GreetingWorkflow, greet

pytestmark = pytest.mark.skipif(not suite_starts_sundial(), reason="starts servers of their own with their limits")

#: `noisy` may make 20 calls a second with a burst of 20; `polls` one long poll at a time per
#: method; `quiet` has Temporal's defaults.
LIMITS = """
frontend.namespaceRPS:
  - value: 20
    constraints: {namespace: noisy}
frontend.namespaceBurstRatio:
  - value: 1
    constraints: {namespace: noisy}
frontend.namespaceCount:
  - value: 1
    constraints: {namespace: polls}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Path, str]]:
    """A Sundial with the limits above in its dynamic-config file: its address, the file and
    its metrics URL."""
    with sundial_with_dynamic_config(LIMITS, ["default", "noisy", "quiet", "polls"], "sundial-rate-limits") as server:
        yield server


def describe_missing(namespace: str) -> DescribeWorkflowExecutionRequest:
    return DescribeWorkflowExecutionRequest(
        namespace=namespace, execution=WorkflowExecution(workflow_id=unique("missing"))
    )


async def outcome(client: Client, namespace: str) -> RPCError | None:
    """One DescribeWorkflowExecution of a missing workflow, not retried: its error."""
    try:
        await client.workflow_service.describe_workflow_execution(describe_missing(namespace), retry=False)
    except RPCError as err:
        return err
    return None


def exhausted(err: RPCError | None) -> ResourceExhaustedFailure | None:
    """The ResourceExhaustedFailure of a RESOURCE_EXHAUSTED error, None for anything else."""
    if err is None or err.status != RPCStatusCode.RESOURCE_EXHAUSTED:
        return None
    for detail in err.grpc_status.details:
        if detail.Is(ResourceExhaustedFailure.DESCRIPTOR):
            failure = ResourceExhaustedFailure()
            detail.Unpack(failure)
            return failure
    raise AssertionError(f"no ResourceExhaustedFailure detail in {err.grpc_status}")


async def burst(client: Client, namespace: str, n: int) -> list[RPCError | None]:
    return list(await asyncio.gather(*(outcome(client, namespace) for _ in range(n))))


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


async def test_a_namespace_over_its_rate_is_refused_as_temporal_refuses(server: tuple[str, Path, str]) -> None:
    address, _, metrics = server
    client = await connect_with_retry(address, namespace="noisy")
    results = await burst(client, "noisy", 60)
    refused = [e for e in results if exhausted(e) is not None]
    admitted = [e for e in results if e is not None and e.status == RPCStatusCode.NOT_FOUND]
    assert len(refused) + len(admitted) == 60, [e for e in results if e not in refused + admitted]
    # The burst is 20 (a few more may have refilled while the calls arrived).
    assert 20 <= len(admitted) <= 30, len(admitted)
    err = refused[0]
    assert err.message == "namespace rate limit exceeded"
    failure = exhausted(err)
    assert failure.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT
    assert failure.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
    # Counted as Temporal counts it: by cause and scope, and not as a service error.
    text = scrape(metrics)
    line = next(
        (l for l in text.splitlines()
         if l.startswith("service_errors_resource_exhausted{") and 'namespace="noisy"' in l
         and 'resource_exhausted_cause="RpsLimit"' in l and 'resource_exhausted_scope="Namespace"' in l),
        None,
    )
    assert line is not None and float(line.rsplit(" ", 1)[1]) >= len(refused), line
    assert not any(
        l.startswith("service_errors{") and 'namespace="noisy"' in l for l in text.splitlines()
    )
    # Another namespace on the same server is not refused.
    quiet = await burst(client, "quiet", 60)
    assert all(e is not None and e.status == RPCStatusCode.NOT_FOUND for e in quiet)


async def test_the_sdk_backs_off_and_its_workflows_complete(server: tuple[str, Path, str]) -> None:
    address, _, metrics = server
    client = await connect_with_retry(address, namespace="noisy")
    before = refusals(scrape(metrics), "noisy")
    tq = unique("throttled")
    async with new_worker(client, tq, [GreetingWorkflow], [greet]):
        # Some 80 calls at 20 a second, after a burst of 20: many are refused, and retried by
        # the SDK.
        results = await asyncio.gather(*(
            client.execute_workflow(GreetingWorkflow.run, f"w{i}", id=unique("throttled"), task_queue=tq)
            for i in range(10)
        ))
    assert sorted(results) == sorted(f"Hello, w{i}!" for i in range(10))
    assert refusals(scrape(metrics), "noisy") > before


def refusals(text: str, namespace: str) -> float:
    return sum(
        float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
        if l.startswith("service_errors_resource_exhausted{") and f'namespace="{namespace}"' in l
    )


async def test_a_flood_in_one_namespace_leaves_another_alone(server: tuple[str, Path, str]) -> None:
    address, _, _ = server
    client = await connect_with_retry(address, namespace="quiet")

    async def timed_quiet_calls(n: int) -> list[float]:
        took = []
        for _ in range(n):
            began = time.perf_counter()
            err = await outcome(client, "quiet")
            took.append(time.perf_counter() - began)
            assert err is not None and err.status == RPCStatusCode.NOT_FOUND, err
        return took

    before = await timed_quiet_calls(50)
    flooding = True
    flood_refused = 0

    async def flood() -> None:
        nonlocal flood_refused
        while flooding:
            results = await burst(client, "noisy", 50)
            flood_refused += sum(1 for e in results if exhausted(e) is not None)

    flooder = asyncio.create_task(flood())
    await asyncio.sleep(0.3)
    during = await timed_quiet_calls(50)
    flooding = False
    await flooder
    assert flood_refused > 50
    # Every quiet call was served (above), and about as fast: the flood's refusals cost the
    # server little. Generous, for a loaded two-core machine.
    median_before, median_during = statistics.median(before), statistics.median(during)
    assert median_during < max(10 * median_before, 0.05), (median_before, median_during)


async def test_long_polls_over_the_namespace_count_are_refused(server: tuple[str, Path, str]) -> None:
    address, _, _ = server
    client = await connect_with_retry(address, namespace="polls")
    tq = unique("polls-tq")

    async def poll_activity(timeout: float) -> RPCError | None:
        try:
            await client.workflow_service.poll_activity_task_queue(
                PollActivityTaskQueueRequest(namespace="polls", task_queue=TaskQueue(name=tq), identity="t"),
                retry=False, timeout=timedelta(seconds=timeout),
            )
        except RPCError as err:
            return err
        return None

    waiting = asyncio.create_task(poll_activity(3))
    await asyncio.sleep(0.5)
    second = await poll_activity(3)
    failure = exhausted(second)
    assert failure is not None, second
    assert second.message == "namespace concurrent poller limit exceeded"
    assert failure.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT
    assert failure.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
    # Each method has its count: a workflow-task poll is admitted meanwhile.
    try:
        await client.workflow_service.poll_workflow_task_queue(
            PollWorkflowTaskQueueRequest(namespace="polls", task_queue=TaskQueue(name=tq), identity="t"),
            retry=False, timeout=timedelta(seconds=1),
        )
    except RPCError as err:
        assert err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED), err
    await waiting
    # Once the first poll has ended, the next one is admitted.
    third = await poll_activity(1)
    assert exhausted(third) is None, third


async def test_an_edit_to_the_file_changes_a_limit_without_a_restart(server: tuple[str, Path, str]) -> None:
    address, dynamic, _ = server
    client = await connect_with_retry(address, namespace="noisy")
    try:
        dynamic.write_text(LIMITS.replace("value: 20\n", "value: 1000\n"))

        async def unthrottled() -> bool:
            await asyncio.sleep(1.1)  # the old bucket refills
            return not any(exhausted(e) for e in await burst(client, "noisy", 60))

        await wait_until(unthrottled, timeout=20, interval=0.5)
        dynamic.write_text(LIMITS)

        async def throttled_again() -> bool:
            return any(exhausted(e) for e in await burst(client, "noisy", 60))

        await wait_until(throttled_again, timeout=20, interval=0.5)
    finally:
        dynamic.write_text(LIMITS)


@pytest.fixture(scope="module")
def both_limited() -> Iterator[dict[str, str]]:
    """A Sundial and a Temporal dev server, both with 5 calls a second per namespace and a burst
    of 5 (`--dynamic-config-value`): name -> address."""
    cli = find_cli()
    if not cli:
        pytest.skip("temporal CLI not found")
    limits = ["--dynamic-config-value", "frontend.namespaceRPS=5",
              "--dynamic-config-value", "frontend.namespaceBurstRatio=1"]
    ports = {"sundial": free_port(), "temporal": free_port()}
    started = []
    try:
        for name, argv in {
            "sundial": [str(sundial_bin()), "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(ports["sundial"]),
                        "--log-level", "warn", *limits],
            "temporal": [cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                         "--port", str(ports["temporal"]), "--ui-port", str(free_port()),
                         "--log-level", "warn", *limits],
        }.items():
            process = ServerProcess(argv, "127.0.0.1", ports[name], f"{name}-rate-limited")
            process.start()
            started.append(process)
            process.wait_port(timeout=60)
        yield {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    finally:
        for process in started:
            process.kill()


async def test_refusals_match_temporal_s(both_limited: dict[str, str]) -> None:
    seen = {}
    for name, address in both_limited.items():
        client = await connect_with_retry(address)
        # Connecting made calls of its own (GetSystemInfo): let the bucket fill again.
        await asyncio.sleep(1.5)
        results = await burst(client, "default", 30)
        refused = [e for e in results if exhausted(e) is not None]
        admitted = [e for e in results if e is not None and e.status == RPCStatusCode.NOT_FOUND]
        assert len(refused) + len(admitted) == 30, (name, results)
        failure = exhausted(refused[0])
        seen[name] = (
            5 <= len(admitted) <= 7,
            {e.message for e in refused},
            failure.cause,
            failure.scope,
        )
    assert seen["sundial"] == seen["temporal"], seen
    assert seen["sundial"][0], "about the burst was admitted"
