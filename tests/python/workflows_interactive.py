"""Workflows and activities for the interactive features: queries, updates, sticky
execution, workflow task failures, local activity retries, workflow retries and memos,
activity heartbeat details.

Like workflows.py: activities run in the test process and may share state with the
tests through the module-level dictionaries; workflows run in the sandbox (except the
ones marked `sandboxed=False`, which count workflow task attempts in this module).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Dict, List, Optional

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

#: keys of activities that have started running
STARTED: set[str] = set()
#: keys the test has released (see `wait_for_release`)
RELEASED: set[str] = set()
#: task tokens of activities that complete asynchronously, per key
TASK_TOKENS: dict[str, bytes] = {}
#: workflow task attempts seen by `FailingTaskWorkflow`, per workflow id
TASK_ATTEMPTS: dict[str, int] = {}
#: attempts seen by `local_flaky`, per key
LOCAL_ATTEMPTS: dict[str, List[int]] = {}


# ---------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------


@activity.defn
async def wait_for_release(key: str) -> str:
    """Waits until the test adds `key` to RELEASED."""
    STARTED.add(key)
    while key not in RELEASED:
        await asyncio.sleep(0.02)
    return f"released {key}"


@activity.defn
async def local_flaky(key: str) -> str:
    """Fails its first two attempts (run as a local activity, retried by the worker)."""
    attempt = activity.info().attempt
    LOCAL_ATTEMPTS.setdefault(key, []).append(attempt)
    if attempt < 3:
        raise ApplicationError(f"local attempt {attempt} failed", type="LocalFlaky")
    return f"{key} on local attempt {attempt}"


@activity.defn
async def checkpoint_then_stall(key: str) -> List[Any]:
    """Attempt 1 heartbeats a checkpoint and then stops heartbeating (so the server times
    it out by heartbeat timeout); attempt 2 returns the details it was handed."""
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(f"checkpoint-{key}", 1)
        STARTED.add(key)
        await asyncio.sleep(10)  # cancelled at worker shutdown at the latest
        return ["attempt 1 should have timed out"]
    return [info.attempt, list(info.heartbeat_details)]


@activity.defn
async def complete_later(key: str) -> str:
    """Leaves its completion to the test (by task token or by id)."""
    TASK_TOKENS[key] = activity.info().task_token
    STARTED.add(key)
    activity.raise_complete_async()


# ---------------------------------------------------------------------------
# Workflows
# ---------------------------------------------------------------------------


@workflow.defn
class CounterWorkflow:
    """A counter driven by signals and updates, read by queries. Runs until signal
    `finish` (returns the value) or signal `fail` (fails with that message)."""

    def __init__(self) -> None:
        self.value = 0
        self.done = False
        self.failure: Optional[str] = None
        self.released = False

    @workflow.run
    async def run(self, start: int) -> int:
        self.value += start
        await workflow.wait_condition(lambda: self.done or self.failure is not None)
        if self.failure is not None:
            raise ApplicationError(self.failure, type="AskedToFail")
        return self.value

    @workflow.signal
    def add(self, amount: int) -> None:
        self.value += amount

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.signal
    def fail(self, message: str) -> None:
        self.failure = message

    @workflow.signal
    def release(self) -> None:
        self.released = True

    @workflow.query
    def current(self) -> int:
        return self.value

    @workflow.query
    def broken(self) -> int:
        raise ValueError("the query handler broke")

    @workflow.update
    def increment(self, amount: int) -> int:
        self.value += amount
        return self.value

    @increment.validator
    def check_increment(self, amount: int) -> None:
        if amount < 0:
            raise ValueError(f"negative increment {amount} rejected")

    @workflow.update
    def explode(self, message: str) -> int:
        raise ApplicationError(message, type="UpdateBoom")

    @workflow.update
    async def increment_when_released(self, amount: int) -> int:
        """Accepted at once, completed in the workflow task that handles signal `release`."""
        await workflow.wait_condition(lambda: self.released)
        self.value += amount
        return self.value


@workflow.defn
class ActivityStateWorkflow:
    """Runs `wait_for_release`; its query `current_state` says whether the activity finished."""

    def __init__(self) -> None:
        self.state = "waiting for activity"

    @workflow.run
    async def run(self, key: str) -> str:
        result = await workflow.execute_activity(
            wait_for_release, key, start_to_close_timeout=timedelta(seconds=30)
        )
        self.state = f"activity returned: {result}"
        await workflow.wait_condition(lambda: False)
        return "unreachable"

    @workflow.query
    def current_state(self) -> str:
        return self.state


@workflow.defn
class StepsWorkflow:
    """`steps` short timers in a row: one workflow task per timer."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for _ in range(steps):
            await asyncio.sleep(0.1)
        return steps


@workflow.defn(sandboxed=False)
class FailingTaskWorkflow:
    """Its first `failures` workflow tasks raise (workflow *task* failures, retried by
    the server); the next attempt completes. Unsandboxed so the counter survives."""

    @workflow.run
    async def run(self, failures: int) -> str:
        wid = workflow.info().workflow_id
        TASK_ATTEMPTS[wid] = TASK_ATTEMPTS.get(wid, 0) + 1
        if TASK_ATTEMPTS[wid] <= failures:
            raise RuntimeError(f"workflow task bug #{TASK_ATTEMPTS[wid]}")
        return f"completed after {failures} failed tasks"


@workflow.defn
class LocalRetryWorkflow:
    """A local activity that fails twice and is retried by the worker, in one task."""

    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_local_activity(
            local_flaky,
            key,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=50),
                backoff_coefficient=1.0,
                maximum_attempts=5,
            ),
        )


@workflow.defn
class RetryOnceWorkflow:
    """Fails its first run attempt; succeeds on the retry (workflow retry policy)."""

    @workflow.run
    async def run(self) -> str:
        attempt = workflow.info().attempt
        if attempt == 1:
            raise ApplicationError("first attempt fails", type="FirstAttempt")
        return f"succeeded on attempt {attempt}"


@workflow.defn
class MemoWorkflow:
    """Upserts memo entries, then waits for signal `finish`."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, upsert: Dict[str, Any]) -> Dict[str, Any]:
        workflow.upsert_memo(upsert)
        await workflow.wait_condition(lambda: self.done)
        return {k: workflow.memo_value(k, default=None) for k in sorted(workflow.memo().keys())}

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class AsyncActivityWorkflow:
    """Runs `complete_later` (completed from outside); cancels it on signal `cancel`.
    Returns the result, or the error class names on failure/cancellation."""

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.run
    async def run(self, key: str) -> str:
        handle = workflow.start_activity(
            complete_later,
            key,
            activity_id=f"act-{key}",
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=1),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        await workflow.wait_condition(lambda: self.cancel_now or handle.done())
        if not handle.done():
            handle.cancel()
        try:
            return f"completed: {await handle}"
        except Exception as err:  # ActivityError
            cause = err.__cause__
            return f"{type(err).__name__}/{type(cause).__name__}: {getattr(cause, 'message', '')}"

    @workflow.signal
    def cancel(self) -> None:
        self.cancel_now = True


ALL_INTERACTIVE_WORKFLOWS = [
    CounterWorkflow,
    ActivityStateWorkflow,
    StepsWorkflow,
    LocalRetryWorkflow,
    RetryOnceWorkflow,
    MemoWorkflow,
    AsyncActivityWorkflow,
]
