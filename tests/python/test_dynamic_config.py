"""Temporal's dynamic-config file: values under namespace constraints, read again when the
file changes (no restart), a bad edit reported and ignored (the previous values stay, and
`dynamic_config_update_failure` says so).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from conftest import connect_with_retry, suite_starts_sundial, sundial_with_dynamic_config
from helpers import unique, wait_until
from workflows import GreetingWorkflow

pytestmark = pytest.mark.skipif(not suite_starts_sundial(), reason="starts a Sundial of its own from a config file")

FIRST = """
limit.maxIDLength:
  - value: 40
system.enableEagerWorkflowStart:
  - value: false
  - value: true
    constraints: {namespace: eager}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Path, str]]:
    """A Sundial started from a config file naming a dynamic-config file: its address, the
    dynamic-config file and the metrics URL."""
    with sundial_with_dynamic_config(FIRST, ["default", "eager"], "sundial-dynamic-config") as server:
        yield server


def gauge(url: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("dynamic_config_update_failure "):
                return float(line.split()[1])
    raise AssertionError("dynamic_config_update_failure not exported")


async def eager(client: Client, namespace: str) -> bool:
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    return described.namespace_info.capabilities.eager_workflow_start


async def start(client: Client, id_length: int) -> None:
    workflow_id = unique("dc").ljust(id_length, "x")
    await client.start_workflow(GreetingWorkflow.run, "x", id=workflow_id, task_queue=unique("nobody"))


async def test_file_values_apply_and_edits_are_picked_up(server: tuple[str, Path, str]) -> None:
    address, dynamic, metrics = server
    client = await connect_with_retry(address)
    # Constraints: the namespace `eager` has it on, every other off.
    assert (await eager(client, "default"), await eager(client, "eager")) == (False, True)
    await start(client, 40)
    with pytest.raises(RPCError) as e:
        await start(client, 41)
    assert (e.value.status, e.value.message) == (RPCStatusCode.INVALID_ARGUMENT, "WorkflowId exceeds length limit of 40.")
    assert gauge(metrics) == 0

    # A bad edit changes nothing and is flagged.
    dynamic.write_text("limit.maxIDLength:\n  - value: -1\n")

    async def flagged() -> bool:
        return gauge(metrics) == 1

    await wait_until(flagged, timeout=30, what="the bad edit flagged")
    with pytest.raises(RPCError):
        await start(client, 41)

    # A good edit applies without a restart.
    dynamic.write_text("limit.maxIDLength:\n  - value: 60\n")

    async def applied() -> bool:
        try:
            await start(client, 60)
            return True
        except RPCError:
            return False

    await wait_until(applied, timeout=30, what="the new limit applied")
    assert gauge(metrics) == 0
    # Values the file no longer names fall back to the defaults.
    assert (await eager(client, "default"), await eager(client, "eager")) == (True, True)
