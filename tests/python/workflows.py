"""Workflow and activity definitions shared by the test modules.

Activities run in the test process (they are plain async functions), so they
can talk to the tests through the module-level dictionaries below. Workflows run
in the SDK sandbox, which re-imports this module, so workflow code must never rely
on that state (except `FlakyTaskWorkflow`, which runs unsandboxed on purpose).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, List, Optional

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# ---------------------------------------------------------------------------
# Activity <-> test communication (activities run outside the sandbox)
# ---------------------------------------------------------------------------

#: keys of activities that have started running
STARTED: set[str] = set()
#: keys of activities that observed asyncio.CancelledError
CANCELLED: set[str] = set()
#: keys the test has released (see `blocking_activity`)
RELEASED: set[str] = set()
#: number of executions per key (to check at-least/exactly-once behaviour)
EXECUTIONS: dict[str, int] = {}
#: task tokens of activities that completed asynchronously, per key
TASK_TOKENS: dict[str, bytes] = {}
#: attempts seen by the flaky workflow task, per workflow id
WORKFLOW_TASK_ATTEMPTS: dict[str, int] = {}


# ---------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn
async def count_execution(key: str) -> str:
    EXECUTIONS[key] = EXECUTIONS.get(key, 0) + 1
    return f"{key}:done"


@activity.defn
async def always_fail(message: str) -> str:
    raise ApplicationError(message, type="AlwaysFails")


@activity.defn
async def fail_until_third_attempt(value: str) -> str:
    attempt = activity.info().attempt
    if attempt < 3:
        raise ApplicationError(f"attempt {attempt} failed", type="Flaky")
    return f"{value} on attempt {attempt}"


@activity.defn
async def fail_with_type(error_type: str) -> str:
    """Fails with a *retryable* ApplicationError of the given type and counts calls."""
    key = f"fail_with_type:{activity.info().workflow_id}"
    EXECUTIONS[key] = EXECUTIONS.get(key, 0) + 1
    raise ApplicationError(f"failure of type {error_type}", type=error_type)


@activity.defn
async def sleep_for(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@activity.defn
async def heartbeat_once_then_sleep(seconds: float) -> str:
    activity.heartbeat("first and last heartbeat")
    await asyncio.sleep(seconds)
    return "finished without heartbeating"


@activity.defn
async def heartbeat_until_cancelled(key: str) -> str:
    STARTED.add(key)
    beat = 0
    try:
        while True:
            activity.heartbeat(beat)
            beat += 1
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        CANCELLED.add(key)
        raise


@activity.defn
def sync_heartbeat_until_cancelled(key: str) -> str:
    """A synchronous activity (run on a thread): cancellation reaches it through its heartbeat,
    as the SDK raises CancelledError in its thread."""
    import time

    STARTED.add(key)
    try:
        while True:
            activity.heartbeat()
            time.sleep(0.1)
    except BaseException:
        CANCELLED.add(key)
        raise


@activity.defn
async def checkpointing_activity(key: str) -> List[Any]:
    """Attempt 1 heartbeats a checkpoint and fails; attempt 2 returns what it sees."""
    info = activity.info()
    if info.attempt == 1:
        activity.heartbeat(f"checkpoint-{key}")
        await asyncio.sleep(0.5)
        raise ApplicationError("fail after checkpoint", type="Checkpointed")
    return [info.attempt, list(info.heartbeat_details)]


@activity.defn
async def blocking_activity(key: str) -> str:
    """Heartbeats a detail, then waits until the test adds `key` to RELEASED."""
    STARTED.add(key)
    activity.heartbeat(f"waiting-{key}")
    while key not in RELEASED:
        await asyncio.sleep(0.05)
    return f"released {key}"


@activity.defn
async def complete_elsewhere(key: str) -> str:
    TASK_TOKENS[key] = activity.info().task_token
    STARTED.add(key)
    activity.raise_complete_async()


# ---------------------------------------------------------------------------
# Workflows
# ---------------------------------------------------------------------------


@workflow.defn
class GreetingWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=5)
        )


@workflow.defn
class EchoWorkflow:
    """Completes in its first workflow task."""

    @workflow.run
    async def run(self, value: str) -> str:
        return value


@workflow.defn
class TimerWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"woke after {seconds}s"


@workflow.defn
class ZeroDurationsWorkflow:
    """Zero-length waits and activities with one of their two closing timeouts: the commands
    carry zero or absent durations, which the server must tell apart as Temporal does."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(0)  # a StartTimer command with a zero start_to_fire_timeout
        try:
            await workflow.wait_condition(lambda: False, timeout=0)
        except asyncio.TimeoutError:
            pass
        await workflow.execute_activity(greet, "a", start_to_close_timeout=timedelta(seconds=5))
        await workflow.execute_activity(greet, "b", schedule_to_close_timeout=timedelta(seconds=5))
        return "done"


@workflow.defn
class SignalWorkflow:
    """Returns the payload of the first `deliver` signal."""

    def __init__(self) -> None:
        self.payloads: list[str] = []

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: bool(self.payloads))
        return self.payloads[0]

    @workflow.signal
    def deliver(self, payload: str) -> None:
        self.payloads.append(payload)


@workflow.defn
class FailingWorkflow:
    @workflow.run
    async def run(self, message: str) -> str:
        raise ApplicationError(message, type="WorkflowBoom")


@workflow.defn
class WaitForeverWorkflow:
    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "unreachable"


@dataclass
class ActivityCall:
    """How `RunActivityWorkflow` / `CancelActivityWorkflow` call one activity."""

    activity: str
    args: List[Any] = field(default_factory=list)
    task_queue: Optional[str] = None
    activity_id: Optional[str] = None
    start_to_close_s: Optional[float] = None
    schedule_to_close_s: Optional[float] = None
    schedule_to_start_s: Optional[float] = None
    heartbeat_s: Optional[float] = None
    max_attempts: int = 1
    initial_interval_s: float = 0.1
    backoff: float = 1.0
    non_retryable: List[str] = field(default_factory=list)
    wait_cancellation_completed: bool = False


def _activity_options(call: ActivityCall) -> dict[str, Any]:
    def seconds(value: Optional[float]) -> Optional[timedelta]:
        return None if value is None else timedelta(seconds=value)

    return dict(
        args=call.args,
        task_queue=call.task_queue,
        activity_id=call.activity_id,
        start_to_close_timeout=seconds(call.start_to_close_s),
        schedule_to_close_timeout=seconds(call.schedule_to_close_s),
        schedule_to_start_timeout=seconds(call.schedule_to_start_s),
        heartbeat_timeout=seconds(call.heartbeat_s),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=call.initial_interval_s),
            backoff_coefficient=call.backoff,
            maximum_attempts=call.max_attempts,
            non_retryable_error_types=call.non_retryable or None,
        ),
        cancellation_type=(
            workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
            if call.wait_cancellation_completed
            else workflow.ActivityCancellationType.TRY_CANCEL
        ),
    )


@workflow.defn
class RunActivityWorkflow:
    """Runs one activity as described; its failure fails the workflow."""

    @workflow.run
    async def run(self, call: ActivityCall) -> Any:
        return await workflow.execute_activity(call.activity, **_activity_options(call))


@workflow.defn
class CancelActivityWorkflow:
    """Starts an activity, cancels it on signal `cancel_activity`, reports the outcome."""

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.run
    async def run(self, call: ActivityCall) -> str:
        handle = workflow.start_activity(call.activity, **_activity_options(call))
        await workflow.wait_condition(lambda: self.cancel_now or handle.done())
        handle.cancel()
        try:
            result = await handle
        except ActivityError as err:
            return f"ActivityError/{type(err.cause).__name__}"
        return f"completed: {result}"

    @workflow.signal
    def cancel_activity(self) -> None:
        self.cancel_now = True


@workflow.defn
class ActivitySequenceWorkflow:
    """Runs `greet` `count` times in a row: lots of history events."""

    @workflow.run
    async def run(self, count: int) -> List[str]:
        results = []
        for i in range(count):
            results.append(
                await workflow.execute_activity(
                    greet, f"step {i}", start_to_close_timeout=timedelta(seconds=5)
                )
            )
        return results


@workflow.defn
class ContinueAsNewWorkflow:
    @workflow.run
    async def run(self, run_number: int) -> str:
        if run_number < 3:
            workflow.continue_as_new(run_number + 1)
        return f"finished in run {run_number}"


@workflow.defn(sandboxed=False)
class FlakyTaskWorkflow:
    """Its first workflow task raises a plain RuntimeError (a workflow *task* failure,
    which the server retries); later attempts succeed. Unsandboxed so the counter
    in this module survives between attempts."""

    @workflow.run
    async def run(self) -> str:
        wid = workflow.info().workflow_id
        WORKFLOW_TASK_ATTEMPTS[wid] = WORKFLOW_TASK_ATTEMPTS.get(wid, 0) + 1
        if WORKFLOW_TASK_ATTEMPTS[wid] == 1:
            raise RuntimeError("bug in workflow code on first attempt")
        return "recovered"


@workflow.defn
class CrossQueueActivityWorkflow:
    """Runs `greet` on another task queue (to test activity backlogs)."""

    @workflow.run
    async def run(self, activity_task_queue: str) -> str:
        return await workflow.execute_activity(
            greet,
            "backlog",
            task_queue=activity_task_queue,
            start_to_close_timeout=timedelta(seconds=5),
        )


@workflow.defn
class TwoStepWorkflow:
    """Activity, 1 s timer, activity: used by the durability test."""

    @workflow.run
    async def run(self, key: str) -> List[str]:
        first = await workflow.execute_activity(
            count_execution, f"{key}/a", start_to_close_timeout=timedelta(seconds=5)
        )
        await asyncio.sleep(1)
        second = await workflow.execute_activity(
            count_execution, f"{key}/b", start_to_close_timeout=timedelta(seconds=5)
        )
        return [first, second]


@workflow.defn
class CancelTimerWorkflow:
    """Starts a long timer, cancels it before it fires, then returns (CancelTimer command)."""

    @workflow.run
    async def run(self) -> str:
        sleeper = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0.2)
        sleeper.cancel()
        try:
            await sleeper
        except asyncio.CancelledError:
            return "timer cancelled"
        return "timer fired"


@workflow.defn
class LocalActivityWorkflow:
    """Runs `greet` as a local activity: the SDK records its result with a marker."""

    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_local_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=5)
        )


ALL_WORKFLOWS = [
    GreetingWorkflow,
    EchoWorkflow,
    TimerWorkflow,
    SignalWorkflow,
    FailingWorkflow,
    WaitForeverWorkflow,
    RunActivityWorkflow,
    CancelActivityWorkflow,
    ActivitySequenceWorkflow,
    ContinueAsNewWorkflow,
    CrossQueueActivityWorkflow,
    TwoStepWorkflow,
    CancelTimerWorkflow,
    LocalActivityWorkflow,
]

ALL_ACTIVITIES = [
    greet,
    count_execution,
    always_fail,
    fail_until_third_attempt,
    fail_with_type,
    sleep_for,
    heartbeat_once_then_sleep,
    heartbeat_until_cancelled,
    checkpointing_activity,
    blocking_activity,
    complete_elsewhere,
]


# ---------------------------------------------------------------------------
# Cluster load (test_cluster.py): an activity, a timer, a signal, another activity
# ---------------------------------------------------------------------------


@activity.defn
async def cluster_step(value: str) -> str:
    return value + "+"


@workflow.defn
class ClusterLoadWorkflow:
    def __init__(self) -> None:
        self.proceed_signalled = False

    @workflow.run
    async def run(self, value: str) -> str:
        first = await workflow.execute_activity(
            cluster_step, value, start_to_close_timeout=timedelta(seconds=30)
        )
        await workflow.sleep(1)
        await workflow.wait_condition(lambda: self.proceed_signalled)
        return await workflow.execute_activity(
            cluster_step, first, start_to_close_timeout=timedelta(seconds=30)
        )

    @workflow.signal
    def proceed(self) -> None:
        self.proceed_signalled = True
