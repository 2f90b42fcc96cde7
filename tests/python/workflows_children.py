"""Workflow and activity definitions for the child-workflow, external-workflow and
lifecycle tests (test_children.py, test_external.py, test_lifecycle.py,
test_compare_children.py).

Like workflows.py: workflows run in the SDK sandbox, which re-imports this module,
so workflow code never relies on module-level state; activities run in the test
process and may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, List, Optional

from temporalio import activity, workflow
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)

#: task tokens of `complete_later` activities, per key (activities run outside the sandbox)
ASYNC_TOKENS: dict[str, bytes] = {}


# ---------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------


@activity.defn
async def complete_later(key: str) -> str:
    """Saves its task token and leaves the completion to the test."""
    ASYNC_TOKENS[key] = activity.info().task_token
    activity.raise_complete_async()


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


# ---------------------------------------------------------------------------
# Children
# ---------------------------------------------------------------------------


@workflow.defn
class ChildEchoWorkflow:
    """Completes in its first workflow task."""

    @workflow.run
    async def run(self, value: str) -> str:
        return f"child says {value}"


@workflow.defn
class ChildFailWorkflow:
    @workflow.run
    async def run(self, message: str) -> str:
        raise ApplicationError(message, type="ChildBoom", non_retryable=True)


@workflow.defn
class ChildWaitWorkflow:
    """Waits forever (until cancelled, terminated or timed out)."""

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: False)
        return "unreachable"


# ---------------------------------------------------------------------------
# Parents
# ---------------------------------------------------------------------------

_POLICIES = {
    "TERMINATE": workflow.ParentClosePolicy.TERMINATE,
    "REQUEST_CANCEL": workflow.ParentClosePolicy.REQUEST_CANCEL,
    "ABANDON": workflow.ParentClosePolicy.ABANDON,
}


@dataclass
class ChildCall:
    """What `ParentWorkflow` does with its one child.

    mode:
      "result"  - wait for the child's result (or error) and report it
      "started" - return as soon as the child has started (parent-close policies)
      "cancel"  - once the child started, wait for signal `cancel_child`, cancel the
                  child and report how it ended (immediately if `cancel_at_once`)
    """

    workflow: str
    id: str
    args: List[Any] = field(default_factory=list)
    task_queue: Optional[str] = None
    mode: str = "result"
    execution_timeout_s: Optional[float] = None
    parent_close_policy: str = "TERMINATE"
    cancel_at_once: bool = False


def describe_error(err: BaseException) -> str:
    """`ChildWorkflowError/<cause type>: <cause message>` and the like (for assertions)."""
    if isinstance(err, ChildWorkflowError):
        cause = err.cause
        return f"ChildWorkflowError/{type(cause).__name__}: {cause.message if cause else ''}"
    return f"{type(err).__name__}: {err}"


@workflow.defn
class ParentWorkflow:
    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.run
    async def run(self, call: ChildCall) -> str:
        try:
            handle = await workflow.start_child_workflow(
                call.workflow,
                args=call.args,
                id=call.id,
                task_queue=call.task_queue,
                execution_timeout=(
                    None if call.execution_timeout_s is None else timedelta(seconds=call.execution_timeout_s)
                ),
                parent_close_policy=_POLICIES[call.parent_close_policy],
            )
        except WorkflowAlreadyStartedError as err:
            return f"WorkflowAlreadyStartedError: {err.workflow_id} {err.workflow_type}"
        if call.mode == "started":
            return f"started {handle.first_execution_run_id}"
        if call.mode == "cancel":
            if not call.cancel_at_once:
                await workflow.wait_condition(lambda: self.cancel_now)
            handle.cancel()
        try:
            return f"ok: {await handle}"
        except ChildWorkflowError as err:
            return describe_error(err)

    @workflow.signal
    def cancel_child(self) -> None:
        self.cancel_now = True


# ---------------------------------------------------------------------------
# External workflows
# ---------------------------------------------------------------------------


@workflow.defn
class SignalExternalWorkflow:
    """Signals `deliver(payload)` to another workflow and reports the outcome."""

    @workflow.run
    async def run(self, target_id: str, payload: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target_id).signal("deliver", payload)
        except Exception as err:  # noqa: BLE001 - the test checks what it is
            return describe_error(err)
        return "signalled"


@workflow.defn
class CancelExternalWorkflow:
    """Requests cancellation of another workflow and reports the outcome."""

    @workflow.run
    async def run(self, target_id: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target_id).cancel()
        except Exception as err:  # noqa: BLE001 - the test checks what it is
            return describe_error(err)
        return "cancel requested"


@workflow.defn
class CollectSignalsWorkflow:
    """Returns the payloads of the first `count` `deliver` signals, in order."""

    def __init__(self) -> None:
        self.payloads: list[str] = []

    @workflow.run
    async def run(self, count: int) -> List[str]:
        await workflow.wait_condition(lambda: len(self.payloads) >= count)
        return self.payloads[:count]

    @workflow.signal
    def deliver(self, payload: str) -> None:
        self.payloads.append(payload)


@workflow.defn
class CronEchoWorkflow:
    """Completes at once, reporting which cron run it is."""

    @workflow.run
    async def run(self, value: str) -> str:
        return f"{value} at {workflow.info().run_id}"


@workflow.defn
class ChainWorkflow:
    """Continues as new until run `last`; each run returns nothing but its number."""

    @workflow.run
    async def run(self, run_number: int, last: int) -> int:
        if run_number < last:
            workflow.continue_as_new(args=[run_number + 1, last])
        return run_number


@workflow.defn
class AsyncActivityWorkflow:
    """Runs `complete_later` (the test completes it by task token)."""

    @workflow.run
    async def run(self, key: str) -> str:
        return await workflow.execute_activity(
            complete_later, key, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn
class ShoutWorkflow:
    """Runs the `shout` activity (a worker with both pollers)."""

    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(shout, text, start_to_close_timeout=timedelta(seconds=5))


CHILD_WORKFLOWS = [ChildEchoWorkflow, ChildFailWorkflow, ChildWaitWorkflow]
