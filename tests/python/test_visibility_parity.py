"""Visibility parity: the same workflows are loaded into the target and a reference
Temporal server (each in a fresh namespace with the same custom search attributes),
then List / Count / bad queries must give the same answers on both.

The load runs sequentially on each server (both servers in parallel), so the order
List returns (running first, then by close time and start time, newest first) is the
same. Time literals in the queries come from client-side marks taken between the
steps, per server, so they split the set the same way on both."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Awaitable

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from helpers import new_namespace, new_worker, wait_for_event, wait_until
from workflows import greet
from workflows_visibility import KEYS, SEARCH_ATTRIBUTES, VISIBILITY_WORKFLOWS, Plan

PAGE_SIZE = 3


@dataclass
class Step:
    """One workflow of the data set. action: `run` (start and wait for the outcome),
    `leave` (start, wait for the first workflow task, leave it running), `terminate`,
    `cancel`, `timeout` (1 s execution timeout), `delay` (start delayed by an hour),
    `release` (signal an earlier `leave` workflow so it completes now)."""

    workflow_id: str
    action: str = "run"
    workflow: str = "OrderWorkflow"
    task_queue: str = "vis-orders"
    attributes: dict[str, Any] = field(default_factory=dict)
    plan: Plan = field(default_factory=Plan)


STEPS = [
    Step("order-01", attributes=dict(CustomerId="acme", Amount=100, Score=4.5, Vip=True, Tags=["red", "blue"],
                                     Notes="Rush delivery to the north warehouse", Due="2024-01-15T00:00:00+00:00")),
    Step("order-02", attributes=dict(CustomerId="globex", Amount=250, Score=3.0, Vip=False, Tags=["blue"],
                                     Notes="standard delivery"), plan=Plan("activity")),
    Step("ship-03", "leave", "ShipmentWorkflow", "vis-shipments",
         dict(CustomerId="initech", Amount=0, Score=9.75, Vip=True, Due="2025-06-30T12:00:00+00:00",
              Notes="fragile glass, handle with care"), Plan("wait")),
    Step("order-04", attributes=dict(CustomerId="acme", Amount=-5, Score=0.5, Tags=["green"]), plan=Plan("fail")),
    Step("order-05"),
    Step("ship-06", "terminate", "ShipmentWorkflow", "vis-shipments", dict(CustomerId="acme-east", Tags=["red"]),
         Plan("wait")),
    Step("ship-07", "cancel", "ShipmentWorkflow", "vis-shipments",
         dict(CustomerId="globex", Amount=1000, Notes="cancelled by the customer"), Plan("wait")),
    Step("audit-08", workflow="AuditWorkflow", task_queue="vis-audits", attributes=dict(CustomerId="hooli", Amount=1),
         plan=Plan(upsert=dict(Amount=42, Tags=["audited", "red"], CustomerId=None, Vip=True))),
    Step("order-09", attributes=dict(CustomerId="umbrella", Amount=7), plan=Plan("continue")),
    Step("audit-10", "timeout", "AuditWorkflow", "vis-audits", dict(CustomerId="hooli", Score=1.5), Plan("wait")),
    Step("ship-03", "release"),
    Step("order-11", "leave", attributes=dict(CustomerId="acme", Amount=75, Vip=False, Tags=["red", "green"],
                                               Due="2024-06-01T08:30:00+00:00"), plan=Plan("wait")),
    Step("ship-12", "leave", "ShipmentWorkflow", "vis-shipments", plan=Plan("wait")),
    Step("audit-13", "delay", "AuditWorkflow", "vis-audits", dict(CustomerId="wayne", Tags=["blue", "audited"])),
    Step("order-14", attributes=dict(CustomerId="ACME", Score=-1.25, Notes="North Star"), plan=Plan("activity")),
    Step("order-15", attributes=dict(CustomerId="acme", Vip=False, Tags=[], Due="2023-12-31T23:59:59+00:00"),
         plan=Plan("fail")),
    Step("ship-16", workflow="ShipmentWorkflow",
         attributes=dict(CustomerId="o'brien", Amount=2**31, Notes="delivery north")),
    Step("order-17", "leave", attributes=dict(Amount=500, Score=2.5),
         plan=Plan("wait", upsert=dict(Notes="upserted while running"))),
    Step("audit-18", "leave", "AuditWorkflow", "vis-nobody", dict(CustomerId="acme"), Plan("wait")),
]

#: executions per status once the load is done (order-09 leaves a ContinuedAsNew run)
EXPECTED_STATUSES = {
    "Running": 5, "Completed": 8, "Failed": 2, "Terminated": 1, "Canceled": 1, "ContinuedAsNew": 1, "TimedOut": 1,
}


def typed(attributes: dict[str, Any]) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [SearchAttributePair(KEYS[name], datetime.fromisoformat(value) if name == "Due" else value)
         for name, value in attributes.items()]
    )


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


async def run_step(client: Client, step: Step) -> None:
    if step.action == "release":
        handle = client.get_workflow_handle(step.workflow_id)
        await handle.signal("release")
        await handle.result()
        return
    handle = await client.start_workflow(
        step.workflow,
        step.plan,
        id=step.workflow_id,
        task_queue=step.task_queue,
        search_attributes=typed(step.attributes),
        execution_timeout=timedelta(seconds=1) if step.action == "timeout" else None,
        start_delay=timedelta(hours=1) if step.action == "delay" else None,
    )
    if step.action == "delay" or step.task_queue == "vis-nobody":
        return
    if step.action in ("leave", "terminate", "cancel"):
        await wait_for_event(handle, "WorkflowTaskCompleted")
    if step.action == "leave":
        return
    if step.action == "terminate":
        await handle.terminate(reason="parity")
    elif step.action == "cancel":
        await handle.cancel()
    try:
        await handle.result()
    except WorkflowFailureError:
        pass


async def load(client: Client) -> dict[str, str]:
    """Runs STEPS in order. Returns the values the queries are formatted with: `t01`.. (the
    time just before step n) and `end`, and the run id, start and close time of order-01 /
    order-05 as this server reports them."""
    marks: dict[str, str] = {}
    async with AsyncExitStack() as stack:
        for tq in ("vis-orders", "vis-shipments", "vis-audits"):
            await stack.enter_async_context(new_worker(client, tq, VISIBILITY_WORKFLOWS, [greet]))
        for n, step in enumerate(STEPS, 1):
            marks[f"t{n:02}"] = rfc3339(datetime.now(timezone.utc))
            await run_step(client, step)
        marks["end"] = rfc3339(datetime.now(timezone.utc))
    first = (await client.get_workflow_handle("order-01").describe()).raw_description.workflow_execution_info
    fifth = (await client.get_workflow_handle("order-05").describe()).raw_description.workflow_execution_info
    marks["run01"] = first.execution.run_id
    marks["start05"] = fifth.start_time.ToJsonString()
    marks["close05"] = fifth.close_time.ToJsonString()
    return marks


async def indexed(client: Client) -> bool:
    """Every close is visible, and so is the upsert of the still running order-17."""
    for status, expected in EXPECTED_STATUSES.items():
        if (await client.count_workflows(f"ExecutionStatus = '{status}'")).count != expected:
            return False
    upserted = await client.count_workflows("WorkflowId = 'order-17' AND Notes IS NOT NULL")
    return upserted.count == 1


@pytest.fixture(scope="module")
async def loaded(client: Client, reference_client: Client) -> AsyncIterator[list[tuple[Client, dict[str, str]]]]:
    """(namespace client, marks) for the target and the reference, once both have indexed the load."""
    sides = await asyncio.gather(
        new_namespace(client, "vis-parity", SEARCH_ATTRIBUTES),
        new_namespace(reference_client, "vis-parity", SEARCH_ATTRIBUTES),
    )
    marks = await asyncio.gather(*(load(side) for side in sides))
    for side in sides:
        await wait_until(lambda: indexed(side), timeout=15, interval=0.2, what=f"the load in {side.namespace}")
    yield list(zip(sides, marks))
    for side in sides:
        async for running in side.list_workflows("ExecutionStatus = 'Running'"):
            await side.get_workflow_handle(running.id, run_id=running.run_id).terminate(reason="parity done")


#: run through List (all pages, PAGE_SIZE at a time) and Count on both servers
QUERIES = [
    "",
    # system attributes
    "ExecutionStatus = 'Running'",
    "ExecutionStatus != 'Running'",
    "ExecutionStatus IN ('Failed', 'Terminated')",
    "ExecutionStatus NOT IN ('Completed', 'Running')",
    "ExecutionStatus = 'ContinuedAsNew' OR ExecutionStatus = 'TimedOut' OR ExecutionStatus = 'Canceled'",
    "ExecutionStatus = 1",
    "WorkflowType = 'OrderWorkflow'",
    "WorkflowType != 'OrderWorkflow'",
    "WorkflowType STARTS_WITH 'Ship'",
    "TaskQueue = 'vis-audits'",
    "TaskQueue IN ('vis-audits', 'vis-nobody')",
    "WorkflowId = 'order-09'",
    'WorkflowId = "order-01"',
    "WorkflowId <> 'order-09'",
    "WorkflowId STARTS_WITH 'order-0'",
    "WorkflowId NOT STARTS_WITH 'order'",
    "WorkflowId IN ('order-01', 'ship-03', 'nope')",
    "WorkflowId > 'ship'",
    "WorkflowId BETWEEN 'audit-10' AND 'order-05'",
    "RunId = '{run01}'",
    "HistoryLength > 5",
    "HistoryLength = 5",
    "HistoryLength IN (9, 11)",
    "HistoryLength < 3",
    "HistoryLength IS NULL",
    "ExecutionDuration IS NULL",
    # times: the marks split the load; CloseTime of a running workflow is NULL
    "StartTime > '{t12}'",
    "StartTime < '{t05}'",
    "StartTime BETWEEN '{t05}' AND '{t10}'",
    "StartTime NOT BETWEEN '{t05}' AND '{t10}'",
    "StartTime = '{start05}'",
    "CloseTime > '{t10}'",
    "CloseTime < '{t10}'",
    "NOT CloseTime < '{t10}'",
    "CloseTime = '{close05}'",
    "CloseTime IS NULL",
    "CloseTime IS NOT NULL AND StartTime >= '{t09}'",
    "ExecutionTime > '{end}'",
    "ExecutionTime < '{t05}'",
    "ExecutionDuration > '900ms'",
    # Keyword
    "CustomerId = 'acme'",
    "CustomerId != 'acme'",
    "CustomerId = 'ACME'",
    "CustomerId IN ('acme', 'globex')",
    "CustomerId NOT IN ('acme', 'globex')",
    "CustomerId STARTS_WITH 'acme'",
    "CustomerId NOT STARTS_WITH 'acme'",
    "CustomerId STARTS_WITH 'ACME'",
    "CustomerId STARTS_WITH 'acme_'",
    "CustomerId > 'globex'",
    "CustomerId BETWEEN 'acme' AND 'hooli'",
    "CustomerId NOT BETWEEN 'b' AND 'z'",
    "CustomerId IS NULL",
    "CustomerId IS NOT NULL",
    "CustomerId = 'o''brien'",
    "`CustomerId` = 'acme'",
    # Int
    "Amount > 50",
    "Amount >= 100",
    "Amount < 0",
    "Amount <= 0",
    "Amount != 100",
    "Amount BETWEEN 1 AND 100",
    "Amount NOT BETWEEN 1 AND 100",
    "Amount IN (0, 42, 1000)",
    "Amount NOT IN (0, 42, 1000)",
    "Amount = 2147483648",
    "Amount IS NULL",
    # Double
    "Score > 2.5",
    "Score >= 2.5",
    "Score < 1",
    "Score = 3",
    "Score = -1.25",
    "Score BETWEEN 0.5 AND 4.5",
    # Bool
    "Vip = true",
    "Vip = false",
    "Vip != true",
    "Vip IS NULL",
    # KeywordList: = is "contains"; != and NOT IN also match workflows without the attribute
    "Tags = 'red'",
    "Tags = 'RED'",
    "Tags != 'red'",
    "Tags IN ('red', 'green')",
    "Tags NOT IN ('red', 'blue')",
    "Tags = 'audited' AND Tags = 'red'",
    "Tags IS NULL",
    "Tags IS NOT NULL",
    "Tags != 'red' AND Tags IS NOT NULL",
    # Text: any of the words, case-insensitively, no prefixes
    "Notes = 'north'",
    "Notes = 'NORTH'",
    "Notes = 'north warehouse'",
    "Notes = 'delivery' AND Notes = 'north'",
    "Notes = 'glass,'",
    "Notes = 'deliv'",
    "Notes != 'north'",
    "Notes IS NULL",
    # Datetime (literals on other instants than the stored values: see VISIBILITY_NOTES.md)
    "Due > '2024-01-01T00:00:00Z'",
    "Due < '2024-06-01T00:00:00Z'",
    "Due BETWEEN '2024-01-01T00:00:00Z' AND '2024-12-31T00:00:00Z'",
    "Due > '2024-06-01T10:00:00+02:00'",
    "Due IS NOT NULL",
    # AND binds tighter than OR; NOT
    "CustomerId = 'acme' OR CustomerId = 'globex' AND Amount > 200",
    "(CustomerId = 'acme' OR CustomerId = 'globex') AND Amount > 200",
    "NOT CustomerId = 'acme'",
    "NOT (CustomerId = 'acme' OR Amount > 100)",
    "WorkflowType = 'AuditWorkflow' OR WorkflowType = 'ShipmentWorkflow' AND ExecutionStatus = 'Running'",
    "NOT (WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Running')",
    "CustomerId = 'acme' AND (Amount > 50 OR Vip = false)",
    "(((CustomerId = 'acme')))",
    "CustomerId = 'acme' and Amount = 100",
    # GROUP BY: grouped counts; List ignores it
    "GROUP BY ExecutionStatus",
    "CustomerId = 'acme' GROUP BY ExecutionStatus",
    "Tags = 'red' GROUP BY ExecutionStatus",
    "CustomerId = 'nobody' GROUP BY ExecutionStatus",
]

#: must fail the same way on both servers, through List and through Count
BAD_QUERIES = [
    "Bogus = 'x'",
    "customerid = 'acme'",
    "ORDER BY StartTime",
    "CustomerId = 'acme' ORDER BY StartTime",
    "CustomerId = 'acme' LIMIT 3",
    "GROUP BY WorkflowType",
    "GROUP BY ExecutionStatus, WorkflowType",
    "ExecutionStatus = 'Bogus'",
    "ExecutionStatus = 'completed'",
    "StartTime > 'yesterday'",
    "Due > '2024-01-01'",
    "ExecutionDuration > 'abc'",
    "CustomerId = WorkflowId",
    "Amount = 'abc'",
    "Score = 'x'",
    "Vip = 'true'",
    "CustomerId = 5",
    "Tags > 'a'",
    "Tags STARTS_WITH 'r'",
    "Tags BETWEEN 'a' AND 'z'",
    "Notes STARTS_WITH 'x'",
    "Notes IN ('north')",
    "Notes BETWEEN 'a' AND 'b'",
    "Notes = ''",
    "CustomerId LIKE 'acme%'",
    "CustomerId",
    "CustomerId = 'acme' AND",
    "CustomerId = 'acme' garbage",
    "(CustomerId = 'acme'",
    "SELECT * FROM executions",
]


async def listing(client: Client, query: str) -> list[tuple[str, str]]:
    return [(w.id, w.status.name if w.status else "") async for w in client.list_workflows(query, page_size=PAGE_SIZE)]


async def counting(client: Client, query: str) -> tuple[int, list[tuple[list[Any], int]]]:
    counted = await client.count_workflows(query)
    return counted.count, [(list(g.group_values), g.count) for g in counted.groups]


async def failure(call: Awaitable[Any]) -> tuple[str, str] | None:
    """(status, message) of the RPCError, with syntax error positions cut off."""
    try:
        await call
    except RPCError as err:
        message = err.message
        if "malformed SQL query" in message:
            message = message[: message.index("malformed SQL query") + len("malformed SQL query")]
        return err.status.name, message
    return None


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q or "<empty>")
async def test_query_matches_reference(query: str, loaded) -> None:
    (ours, our_marks), (theirs, their_marks) = loaded
    mine, reference = query.format(**our_marks), query.format(**their_marks)
    our_list, their_list = await asyncio.gather(listing(ours, mine), listing(theirs, reference))
    assert our_list == their_list
    our_count, their_count = await asyncio.gather(counting(ours, mine), counting(theirs, reference))
    assert our_count == their_count


@pytest.mark.parametrize("query", BAD_QUERIES)
async def test_bad_query_matches_reference(query: str, loaded) -> None:
    (ours, _), (theirs, _) = loaded
    for call in (listing, counting):
        our_error, their_error = await asyncio.gather(failure(call(ours, query)), failure(call(theirs, query)))
        assert their_error is not None, f"the reference accepts {query!r}"
        assert our_error == their_error
