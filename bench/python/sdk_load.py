"""The Python SDK as users run it: a worker and a client in one process, a one-activity
workflow, closed-loop starts for a fixed time. Prints one JSON object with what it measured.

    python sdk_load.py --address 127.0.0.1:7233 --seconds 10 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def work(value: str) -> str:
    return value


@workflow.defn
class OneActivity:
    @workflow.run
    async def run(self, value: str) -> str:
        return await workflow.execute_activity(work, value, start_to_close_timeout=timedelta(seconds=30))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()

    client = await Client.connect(args.address, namespace=args.namespace)
    task_queue = f"sdk-bench-{uuid.uuid4().hex[:8]}"
    start_ms: list[float] = []
    e2e_ms: list[float] = []
    errors = 0
    first_error = None

    async def driver(deadline: float) -> None:
        nonlocal errors, first_error
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                handle = await client.start_workflow(
                    OneActivity.run, "x", id=f"sdk-{uuid.uuid4().hex}", task_queue=task_queue
                )
                start_ms.append((time.monotonic() - began) * 1e3)
                await handle.result()
                e2e_ms.append((time.monotonic() - began) * 1e3)
            except Exception as err:  # noqa: BLE001 - counted and reported
                errors += 1
                first_error = first_error or repr(err)

    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[OneActivity],
        activities=[work],
        max_concurrent_workflow_tasks=100,
        max_concurrent_activities=100,
    ):
        began = time.monotonic()
        deadline = began + args.seconds
        await asyncio.gather(*(driver(deadline) for _ in range(args.concurrency)))
        wall = time.monotonic() - began
    print(
        json.dumps(
            {
                "completed": len(e2e_ms),
                "errors": errors,
                "first_error": first_error,
                "wall_s": wall,
                "start_ms": start_ms,
                "e2e_ms": e2e_ms,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
