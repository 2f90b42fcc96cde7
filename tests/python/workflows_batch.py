"""Workflows that batch operations act on (test_batch.py). They run in the sandbox."""

from __future__ import annotations

from typing import List

from temporalio import workflow


@workflow.defn
class WaitingWorkflow:
    """Waits until signalled `finish`; returns the signals it got."""

    def __init__(self) -> None:
        self.signals: List[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> List[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.signals

    @workflow.signal
    def poke(self, value: str) -> None:
        self.signals.append(value)

    @workflow.signal
    def finish(self) -> None:
        self.done = True
