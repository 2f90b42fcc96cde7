"""Workflows that schedules start (test_schedules.py). They run in the sandbox."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError


@workflow.defn
class ScheduledWorkflow:
    """Returns "some result"; on "fail" it fails; on "hold" it waits for signal `release`;
    on "chain" it returns what the last run of its schedule returned, built upon."""

    def __init__(self) -> None:
        self.released = False

    @workflow.run
    async def run(self, how: str) -> str:
        if how == "fail":
            raise ApplicationError("scheduled failure", non_retryable=True)
        if how == "hold":
            await workflow.wait_condition(lambda: self.released)
            return "held"
        if how == "chain":
            last = workflow.get_last_completion_result(str)
            return f"From last completion: {last}" if last else "My First Result"
        return "some result"

    @workflow.signal
    def release(self) -> None:
        self.released = True
