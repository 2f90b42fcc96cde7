"""Services apart (`sundial start --services`): a frontend-only node, a history node and a
matching node on one PostgreSQL or MariaDB database. Clients and workers talk to the frontend
node only; it routes workflow calls to the history node and polls to the matching node, and
those two call each other (task dispatch, recording a task's start).
"""

from __future__ import annotations

import subprocess

import pytest

from conftest import connect_with_retry, sundial_bin
from helpers import new_worker
from test_cluster import Cluster, cluster, finish_load, start_load  # noqa: F401  (fixture)
from workflows import ClusterLoadWorkflow, cluster_step

pytestmark = pytest.mark.sundial_only


def table(c: Cluster) -> dict[str, list[str]]:
    out = subprocess.run([str(sundial_bin()), "cluster", "members", "--config", str(c.config)],
                         check=True, capture_output=True, text=True).stdout
    return {line.split()[0]: line.split() for line in out.splitlines()[1:]}


async def test_frontend_history_and_matching_apart(cluster: Cluster) -> None:
    cluster.start("front", "frontend")
    cluster.start("hist", "history,worker")
    cluster.start("match", "matching")
    await cluster.wait_shards({"hist"})
    rows = table(cluster)
    # NODE STATE ADDRESS INTERNAL SERVICES SHARDS HEARTBEAT
    assert rows["front"][4] == "frontend" and rows["front"][2] != "-", rows
    assert rows["hist"][4] == "history,worker" and rows["hist"][2] == "-", rows
    assert rows["match"][4] == "matching" and rows["match"][5] == "0", rows

    client = await connect_with_retry(cluster.address("front"))
    queue = "apart"
    async with new_worker(client, queue, [ClusterLoadWorkflow], [cluster_step]):
        handles = await start_load(client, queue, 20)
        await finish_load(client, handles)
