"""Workflows for the SDK parity scenarios (test_sdk_parity.py): updates a workflow leaves
unfinished, update-with-start, the continue-as-new suggestion, summaries on commands, eager
start. They run in the sandbox."""

from __future__ import annotations

from datetime import timedelta
from typing import List

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError


@activity.defn
async def echo(value: str) -> str:
    return value


@workflow.defn
class HoldingWorkflow:
    """Holds updates it has accepted until it ends: on signal `finish` it completes, fails,
    or continues as new, as the signal says."""

    def __init__(self) -> None:
        self.how = ""
        self.applied: List[str] = []

    @workflow.run
    async def run(self, continued: bool = False) -> List[str]:
        if continued:
            await workflow.wait_condition(lambda: self.how != "")
            return ["continued"]
        await workflow.wait_condition(lambda: self.how != "")
        if self.how == "fail":
            raise ApplicationError("asked to fail", non_retryable=True)
        if self.how == "continue":
            workflow.continue_as_new(True)
        return self.applied

    @workflow.signal
    def finish(self, how: str) -> None:
        self.how = how

    @workflow.update(unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def hold(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "never"

    @workflow.update
    def apply(self, value: str) -> str:
        self.applied.append(value)
        return f"applied {value}"


@workflow.defn
class SuggestedWorkflow:
    """Sleeps in short timers until the server suggests continuing as new; returns the
    history length and size it was told then, and the timers it took."""

    @workflow.run
    async def run(self, limit: int) -> List[int]:
        timers = 0
        while not workflow.info().is_continue_as_new_suggested() and timers < limit:
            await workflow.sleep(timedelta(milliseconds=1))
            timers += 1
        info = workflow.info()
        return [info.get_current_history_length(), info.get_current_history_size(), timers]


@workflow.defn
class SummarizedWorkflow:
    """Runs an activity, a timer and a child, each with a summary."""

    @workflow.run
    async def run(self, child: bool) -> str:
        if child:
            return "child done"
        value = await workflow.execute_activity(
            echo,
            "hi",
            start_to_close_timeout=timedelta(seconds=10),
            summary="echo summary",
        )
        await workflow.sleep(timedelta(milliseconds=10), summary="timer summary")
        await workflow.execute_child_workflow(
            SummarizedWorkflow.run,
            True,
            id=f"{workflow.info().workflow_id}-child",
            static_summary="child summary",
            static_details="child details",
        )
        return value


@workflow.defn
class NeverStartedActivityWorkflow:
    """Schedules an activity on a queue nobody polls, with only a schedule-to-close timeout,
    and returns the timeout type the failure reports."""

    @workflow.run
    async def run(self, queue: str) -> str:
        try:
            await workflow.execute_activity(
                echo,
                "never",
                task_queue=queue,
                schedule_to_close_timeout=timedelta(seconds=2),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as err:
            cause = err.cause
            return f"{type(cause).__name__}:{int(getattr(cause, 'type', 0) or 0)}"
        return "completed"


@workflow.defn
class QuickWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return value


#: attempts each `controlled` activity has seen, per key
ATTEMPTS: dict[str, List[int]] = {}
#: keys whose `controlled` activity may now succeed
SUCCEED: set[str] = set()
#: keys whose running `controlled` activity learned from its heartbeat that it was paused
PAUSED_SEEN: set[str] = set()


@activity.defn
async def controlled(key: str) -> str:
    """Fails each attempt at once until the test adds `key` to SUCCEED; with `hold` in the key,
    heartbeats instead until it is paused (and then fails as the SDK makes it)."""
    import asyncio

    info = activity.info()
    ATTEMPTS.setdefault(key, []).append(info.attempt)
    if key in SUCCEED:
        return f"{key} succeeded on attempt {info.attempt}"
    if "hold" in key and info.attempt == 1:
        try:
            while True:
                activity.heartbeat()
                await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            if details is not None and details.paused:
                PAUSED_SEEN.add(key)
            raise
    raise ApplicationError(f"attempt {info.attempt} failed")


@workflow.defn
class ControlledWorkflow:
    """Runs `controlled` with retries a second apart, no attempt limit."""

    @workflow.run
    async def run(self, key: str, queue: str) -> str:
        return await workflow.execute_activity(
            controlled,
            key,
            activity_id="controlled",
            task_queue=queue or None,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0),
        )
