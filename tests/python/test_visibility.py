"""Visibility: List / Count / Scan with the query language, custom search attributes
(registered per namespace, set at start, upserted by workflows) and their errors, the
older ListOpen / ListClosed calls, and the CLI commands built on them.

Visibility is eventually consistent: tests wait for an expected answer, never sleep."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import IndexedValueType, WorkflowExecutionStatus, WorkflowTaskFailedCause
from temporalio.api.filter.v1 import StartTimeFilter, StatusFilter, WorkflowExecutionFilter, WorkflowTypeFilter
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    GetSearchAttributesRequest,
    ListClosedWorkflowExecutionsRequest,
    ListOpenWorkflowExecutionsRequest,
    ListWorkflowExecutionsRequest,
    ScanWorkflowExecutionsRequest,
)
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from conftest import Target
from helpers import (
    CliResult,
    history_event_types,
    history_events,
    list_ids,
    new_namespace,
    new_worker,
    run_cli,
    unique,
    wait_for_count,
    wait_for_event,
    wait_for_ids,
    wait_until,
)
from workflows import greet
from workflows_visibility import (
    AMOUNT,
    CUSTOMER_ID,
    DUE,
    KEYS,
    NOTES,
    SCORE,
    SEARCH_ATTRIBUTES,
    TAGS,
    VIP,
    VISIBILITY_WORKFLOWS,
    AuditWorkflow,
    OrderWorkflow,
    Plan,
    ShipmentWorkflow,
    UpsertWrongTypeWorkflow,
)

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
INT = IndexedValueType.INDEXED_VALUE_TYPE_INT
DATETIME = IndexedValueType.INDEXED_VALUE_TYPE_DATETIME

DUE_AT = datetime(2024, 1, 15, 9, 30, tzinfo=timezone.utc)
EVERY_TYPE = {
    CUSTOMER_ID: "acme",
    NOTES: "rush order for the north warehouse",
    AMOUNT: 2**40,
    SCORE: 4.25,
    VIP: True,
    DUE: DUE_AT,
    TAGS: ["red", "blue"],
}


@pytest.fixture(scope="module")
async def ns(client: Client) -> Client:
    """A client for a fresh namespace with the custom search attributes registered."""
    return await new_namespace(client, "vis", SEARCH_ATTRIBUTES)


def typed(values: dict[SearchAttributeKey, Any]) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(key, value) for key, value in values.items()])


def custom(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """The custom attributes by name (servers may add system ones, e.g. BuildIds)."""
    return {pair.key.name: pair.value for pair in attributes if pair.key.name in KEYS}


async def finish(handle: WorkflowHandle) -> None:
    try:
        await handle.result()
    except WorkflowFailureError:
        pass


async def listed(client: Client, query: str) -> list:
    return [w async for w in client.list_workflows(query)]


async def rpc_error(call) -> RPCError:
    with pytest.raises(RPCError) as info:
        await call
    return info.value


# ---------------------------------------------------------------------------
# Typed search attributes
# ---------------------------------------------------------------------------


async def test_typed_attributes_at_start(ns: Client) -> None:
    wid = unique("vis-typed")
    handle = await ns.start_workflow(
        OrderWorkflow.run, Plan("wait"), id=wid, task_queue=unique("vis-nobody"), search_attributes=typed(EVERY_TYPE)
    )
    expected = {key.name: value for key, value in EVERY_TYPE.items()}
    assert custom((await handle.describe()).typed_search_attributes) == expected

    await wait_for_ids(ns, f"WorkflowId = '{wid}'", [wid])
    [execution] = await listed(ns, f"WorkflowId = '{wid}'")
    assert custom(execution.typed_search_attributes) == expected

    # each attribute matches its own value
    await wait_for_ids(
        ns,
        f"WorkflowId = '{wid}' AND CustomerId = 'acme' AND Notes = 'warehouse' AND Amount = {2**40} "
        "AND Score = 4.25 AND Vip = true AND Due BETWEEN '2024-01-15T09:00:00Z' AND '2024-01-15T10:00:00Z' "
        "AND Tags = 'blue'",
        [wid],
    )
    await handle.terminate()


async def test_upsert_from_workflow(ns: Client) -> None:
    tq, wid = unique("vis"), unique("vis-upsert")
    plan = Plan("wait", upsert=dict(Amount=42, Tags=["audited"], CustomerId=None, Due="2025-02-03T04:05:06+00:00"))
    expected = {
        "Amount": 42,
        "Notes": "first note",
        "Tags": ["audited"],
        "Due": datetime(2025, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
    }
    async with new_worker(ns, tq, VISIBILITY_WORKFLOWS):
        handle = await ns.start_workflow(
            AuditWorkflow.run,
            plan,
            id=wid,
            task_queue=tq,
            search_attributes=typed({CUSTOMER_ID: "acme", AMOUNT: 1, NOTES: "first note"}),
        )
        await wait_for_event(handle, "WorkflowTaskCompleted")
        assert "UpsertWorkflowSearchAttributes" in await history_event_types(handle)
        assert custom((await handle.describe()).typed_search_attributes) == expected
        # the running workflow's visibility record is updated too
        upserted = f"WorkflowId = '{wid}' AND Amount = 42 AND CustomerId IS NULL AND Tags = 'audited'"
        await wait_for_ids(ns, upserted, [wid])

        await handle.signal(AuditWorkflow.release)
        await handle.result()
    await wait_for_ids(ns, f"{upserted} AND ExecutionStatus = 'Completed'", [wid])
    [execution] = await listed(ns, f"WorkflowId = '{wid}'")
    assert custom(execution.typed_search_attributes) == expected


# ---------------------------------------------------------------------------
# List, Count, paging
# ---------------------------------------------------------------------------


async def test_list_and_count(ns: Client) -> None:
    """Running first, then by close time, newest first; Count with and without GROUP BY."""
    tq, batch = unique("vis"), unique("batch")
    ids = {name: unique(f"vis-{name}") for name in ("a", "b", "c", "d", "e")}
    attributes = typed({CUSTOMER_ID: batch})
    async with new_worker(ns, tq, VISIBILITY_WORKFLOWS, [greet]):
        for name, plan in (("a", Plan("activity")), ("b", Plan("fail")), ("c", Plan("wait")), ("d", Plan())):
            handle = await ns.start_workflow(
                OrderWorkflow.run, plan, id=ids[name], task_queue=tq, search_attributes=attributes
            )
            if name == "c":
                await wait_for_event(handle, "WorkflowTaskCompleted")
            else:
                await finish(handle)
        handle = await ns.start_workflow(
            ShipmentWorkflow.run, Plan("wait"), id=ids["e"], task_queue=tq, search_attributes=attributes
        )
        await wait_for_event(handle, "WorkflowTaskCompleted")
        await handle.terminate()

    query = f"CustomerId = '{batch}'"
    await wait_for_ids(ns, query, [ids[n] for n in "cedba"])
    await wait_for_count(ns, query, 5)
    assert [w.status for w in await listed(ns, query)] == [
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED,
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED,
        WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
    ]
    assert await list_ids(ns, f"{query} AND ExecutionStatus = 'Completed'") == [ids["d"], ids["a"]]
    assert await list_ids(ns, f"{query} AND WorkflowType = 'ShipmentWorkflow'") == [ids["e"]]
    assert (await ns.count_workflows(f"{query} AND ExecutionStatus != 'Running'")).count == 4

    grouped = await ns.count_workflows(f"{query} GROUP BY ExecutionStatus")
    assert grouped.count == 5
    assert {tuple(g.group_values): g.count for g in grouped.groups} == {
        ("Running",): 1,
        ("Completed",): 2,
        ("Failed",): 1,
        ("Terminated",): 1,
    }
    assert (await ns.count_workflows(f"CustomerId = '{unique('nobody')}'")).count == 0
    await ns.get_workflow_handle(ids["c"]).terminate()


async def test_paging(ns: Client) -> None:
    batch = unique("batch")
    started = []
    for n in range(7):
        handle = await ns.start_workflow(
            OrderWorkflow.run,
            Plan("wait"),
            id=unique(f"vis-page{n}"),
            task_queue=unique("vis-nobody"),
            search_attributes=typed({CUSTOMER_ID: batch}),
        )
        started.append(handle)
    query = f"CustomerId = '{batch}'"
    newest_first = [h.id for h in reversed(started)]
    await wait_for_ids(ns, query, newest_first)

    assert await list_ids(ns, query, page_size=2) == newest_first
    assert [w.id async for w in ns.list_workflows(query, page_size=2, limit=3)] == newest_first[:3]

    pages: list[list[str]] = []
    token = b""
    while True:
        page = await ns.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(namespace=ns.namespace, query=query, page_size=3, next_page_token=token)
        )
        pages.append([e.execution.workflow_id for e in page.executions])
        token = page.next_page_token
        if not token:
            break
    assert all(len(page) <= 3 for page in pages)
    assert [wid for page in pages for wid in page] == newest_first
    for handle in started:
        await handle.terminate()


async def test_scan(ns: Client) -> None:
    """Scan takes the same queries as List; its order is unspecified."""
    batch = unique("batch")
    handles = [
        await ns.start_workflow(
            OrderWorkflow.run,
            Plan("wait"),
            id=unique(f"vis-scan{n}"),
            task_queue=unique("vis-nobody"),
            search_attributes=typed({CUSTOMER_ID: batch, AMOUNT: n}),
        )
        for n in range(5)
    ]
    query = f"CustomerId = '{batch}' AND Amount >= 1"
    await wait_for_count(ns, query, 4)

    scanned: list[str] = []
    token = b""
    while True:
        page = await ns.workflow_service.scan_workflow_executions(
            ScanWorkflowExecutionsRequest(namespace=ns.namespace, query=query, page_size=2, next_page_token=token)
        )
        assert len(page.executions) <= 2
        scanned += [e.execution.workflow_id for e in page.executions]
        token = page.next_page_token
        if not token:
            break
    assert sorted(scanned) == sorted(h.id for h in handles[1:])

    error = await rpc_error(
        ns.workflow_service.scan_workflow_executions(ScanWorkflowExecutionsRequest(namespace=ns.namespace, query="Bogus = 1"))
    )
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == "invalid query: invalid search attribute: Bogus"
    for handle in handles:
        await handle.terminate()


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


async def test_start_with_unregistered_attribute(ns: Client) -> None:
    unregistered = SearchAttributeKey.for_keyword("Unregistered")
    error = await rpc_error(
        ns.start_workflow(
            OrderWorkflow.run, Plan(), id=unique("vis-bad"), task_queue="vis-nobody",
            search_attributes=typed({unregistered: "x"}),
        )
    )
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == f"Namespace {ns.namespace} has no mapping defined for search attribute Unregistered"


@pytest.mark.parametrize(
    "key, value, message",
    [
        (SearchAttributeKey.for_keyword("Amount"), "abc", "invalid value for search attribute Amount of type Int: abc"),
        (SearchAttributeKey.for_float("Amount"), 1.5, "invalid value for search attribute Amount of type Int: 1.5"),
        (SearchAttributeKey.for_int("CustomerId"), 5, "invalid value for search attribute CustomerId of type Keyword: 5"),
        (SearchAttributeKey.for_keyword("Vip"), "true", "invalid value for search attribute Vip of type Bool: true"),
        (SearchAttributeKey.for_keyword("WorkflowId"), "x", "WorkflowId attribute can't be set in SearchAttributes"),
        (
            SearchAttributeKey.for_keyword("ExecutionStatus"),
            "x",
            "ExecutionStatus attribute can't be set in SearchAttributes",
        ),
    ],
    ids=["keyword-for-int", "float-for-int", "int-for-keyword", "keyword-for-bool", "WorkflowId", "ExecutionStatus"],
)
async def test_start_with_bad_attribute_value(ns: Client, key: SearchAttributeKey, value: Any, message: str) -> None:
    error = await rpc_error(
        ns.start_workflow(
            OrderWorkflow.run, Plan(), id=unique("vis-bad"), task_queue="vis-nobody",
            search_attributes=typed({key: value}),
        )
    )
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == message


async def test_upsert_with_wrong_type_fails_the_workflow_task(ns: Client) -> None:
    tq = unique("vis")
    async with new_worker(ns, tq, VISIBILITY_WORKFLOWS):
        handle = await ns.start_workflow(UpsertWrongTypeWorkflow.run, id=unique("vis-bad-upsert"), task_queue=tq)
        await wait_for_event(handle, "WorkflowTaskFailed")
        await handle.terminate()
    failed = [e for e in await history_events(handle) if e.HasField("workflow_task_failed_event_attributes")]
    attributes = failed[0].workflow_task_failed_event_attributes
    assert attributes.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES
    assert attributes.failure.message == (
        "BadSearchAttributes: invalid value for search attribute Amount of type Int: not a number"
    )


@pytest.mark.parametrize(
    "query, message",
    [
        ("Unknown = 'x'", "invalid query: invalid search attribute: Unknown"),
        ("CustomerId = 'x' ORDER BY StartTime", "invalid query: operation is not supported: 'ORDER BY' clause"),
        ("CustomerId = 'x' LIMIT 1", "invalid query: operation is not supported: 'LIMIT' clause"),
        ("ExecutionStatus = 'Bogus'", "invalid query: invalid expression: invalid ExecutionStatus value 'Bogus'"),
        (
            "Amount = 'abc'",
            'invalid query: invalid expression: invalid value type for search attribute Amount of type Int: '
            '"abc" (type: string)',
        ),
        (
            "Tags > 'a'",
            "invalid query: operation is not supported: operator '>' not supported for KeywordList type "
            "search attribute 'Tags'",
        ),
        ("StartTime > 'yesterday'", "invalid query: invalid expression: unable to parse datetime 'yesterday'"),
        (
            "GROUP BY WorkflowType",
            "invalid query: operation is not supported: 'GROUP BY' clause is not supported for search attribute "
            "WorkflowType",
        ),
    ],
)
async def test_bad_query(ns: Client, query: str, message: str) -> None:
    for call in (lambda: ns.count_workflows(query), lambda: list_ids(ns, query)):
        error = await rpc_error(call())
        assert error.status == RPCStatusCode.INVALID_ARGUMENT
        assert error.message == message


async def test_syntax_error(ns: Client) -> None:
    error = await rpc_error(ns.count_workflows("CustomerId = 'x' AND"))
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message.startswith("invalid query: malformed SQL query: syntax error at position")


# ---------------------------------------------------------------------------
# ListOpenWorkflowExecutions / ListClosedWorkflowExecutions
# ---------------------------------------------------------------------------


def timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


@pytest.fixture(scope="module")
async def legacy(client: Client) -> AsyncIterator[tuple[Client, dict[str, str], datetime]]:
    """A namespace with two open and four closed workflows (ids by letter) and a time `mark`:
    a, b (failed) and e close before it, c starts before it and closes after, d and g stay open."""
    legacy_ns = await new_namespace(client, "vis-legacy", {})
    tq = "vis-legacy"
    ids = {name: f"legacy-{name}" for name in "abcdeg"}
    async with new_worker(legacy_ns, tq, VISIBILITY_WORKFLOWS):
        await finish(await legacy_ns.start_workflow(OrderWorkflow.run, Plan(), id=ids["a"], task_queue=tq))
        await finish(await legacy_ns.start_workflow(ShipmentWorkflow.run, Plan("fail"), id=ids["b"], task_queue=tq))
        waiting = await legacy_ns.start_workflow(OrderWorkflow.run, Plan("wait"), id=ids["c"], task_queue=tq)
        await legacy_ns.start_workflow(AuditWorkflow.run, Plan("wait"), id=ids["g"], task_queue=tq)
        await finish(await legacy_ns.start_workflow(ShipmentWorkflow.run, Plan(), id=ids["e"], task_queue=tq))
        mark = datetime.now(timezone.utc)
        await legacy_ns.start_workflow(ShipmentWorkflow.run, Plan("wait"), id=ids["d"], task_queue=tq)
        await waiting.signal(OrderWorkflow.release)
        await waiting.result()
    await wait_for_count(legacy_ns, "ExecutionStatus != 'Running'", 4)
    await wait_for_count(legacy_ns, "ExecutionStatus = 'Running'", 2)
    yield legacy_ns, ids, mark
    for name in "dg":
        await legacy_ns.get_workflow_handle(ids[name]).terminate()


async def list_open(client: Client, **filters: Any) -> list[str]:
    request = ListOpenWorkflowExecutionsRequest(namespace=client.namespace, **filters)
    return [e.execution.workflow_id for e in (await client.workflow_service.list_open_workflow_executions(request)).executions]


async def list_closed(client: Client, **filters: Any) -> list[str]:
    request = ListClosedWorkflowExecutionsRequest(namespace=client.namespace, **filters)
    response = await client.workflow_service.list_closed_workflow_executions(request)
    return [e.execution.workflow_id for e in response.executions]


async def test_list_open(legacy) -> None:
    ns, ids, mark = legacy
    assert await list_open(ns) == [ids["d"], ids["g"]]
    assert await list_open(ns, start_time_filter=StartTimeFilter(earliest_time=timestamp(mark))) == [ids["d"]]
    assert await list_open(ns, start_time_filter=StartTimeFilter(latest_time=timestamp(mark))) == [ids["g"]]
    assert await list_open(ns, execution_filter=WorkflowExecutionFilter(workflow_id=ids["g"])) == [ids["g"]]
    assert await list_open(ns, execution_filter=WorkflowExecutionFilter(workflow_id=ids["a"])) == []
    assert await list_open(ns, type_filter=WorkflowTypeFilter(name="ShipmentWorkflow")) == [ids["d"]]

    first = await ns.workflow_service.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(namespace=ns.namespace, maximum_page_size=1)
    )
    assert [e.execution.workflow_id for e in first.executions] == [ids["d"]]
    assert first.next_page_token
    second = await ns.workflow_service.list_open_workflow_executions(
        ListOpenWorkflowExecutionsRequest(namespace=ns.namespace, maximum_page_size=1, next_page_token=first.next_page_token)
    )
    assert [e.execution.workflow_id for e in second.executions] == [ids["g"]]


async def test_list_closed(legacy) -> None:
    ns, ids, mark = legacy
    assert await list_closed(ns) == [ids["c"], ids["e"], ids["b"], ids["a"]]
    failed = StatusFilter(status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_FAILED)
    assert await list_closed(ns, status_filter=failed) == [ids["b"]]
    completed = StatusFilter(status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED)
    assert await list_closed(ns, status_filter=completed) == [ids["c"], ids["e"], ids["a"]]
    assert await list_closed(ns, type_filter=WorkflowTypeFilter(name="ShipmentWorkflow")) == [ids["e"], ids["b"]]
    assert await list_closed(ns, execution_filter=WorkflowExecutionFilter(workflow_id=ids["a"])) == [ids["a"]]
    # for closed workflows the "start time" filter applies to the close time: c started
    # before the mark but closed after it
    assert await list_closed(ns, start_time_filter=StartTimeFilter(earliest_time=timestamp(mark))) == [ids["c"]]
    assert await list_closed(ns, start_time_filter=StartTimeFilter(latest_time=timestamp(mark))) == [
        ids["e"], ids["b"], ids["a"],
    ]


async def test_list_open_closed_errors(legacy) -> None:
    ns, _, mark = legacy
    running = StatusFilter(status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING)
    error = await rpc_error(list_closed(ns, status_filter=running))
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == "StatusFilter must be specified and must be not Running."

    backwards = StartTimeFilter(earliest_time=timestamp(mark), latest_time=timestamp(mark.replace(year=mark.year - 1)))
    for call in (list_open, list_closed):
        error = await rpc_error(call(ns, start_time_filter=backwards))
        assert error.status == RPCStatusCode.INVALID_ARGUMENT
        assert error.message == "EarliestTime in StartTimeFilter should not be larger than LatestTime."


# ---------------------------------------------------------------------------
# Search attribute administration
# ---------------------------------------------------------------------------


SYSTEM_ATTRIBUTES = {
    "WorkflowId": KEYWORD,
    "RunId": KEYWORD,
    "WorkflowType": KEYWORD,
    "TaskQueue": KEYWORD,
    "ExecutionStatus": KEYWORD,
    "StartTime": DATETIME,
    "CloseTime": DATETIME,
    "ExecutionTime": DATETIME,
    "HistoryLength": INT,
    "ExecutionDuration": INT,
    "ParentWorkflowId": KEYWORD,
    "RootWorkflowId": KEYWORD,
}


async def test_get_search_attributes(client: Client) -> None:
    keys = (await client.workflow_service.get_search_attributes(GetSearchAttributesRequest())).keys
    assert {name: keys.get(name) for name in SYSTEM_ATTRIBUTES} == SYSTEM_ATTRIBUTES


async def list_custom(client: Client, namespace: str) -> dict[str, int]:
    response = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return dict(response.custom_attributes)


async def test_list_search_attributes(client: Client, ns: Client) -> None:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=ns.namespace)
    )
    assert dict(response.custom_attributes) == SEARCH_ATTRIBUTES
    system = dict(response.system_attributes)
    assert {name: system.get(name) for name in SYSTEM_ATTRIBUTES} == SYSTEM_ATTRIBUTES
    assert not set(system) & set(SEARCH_ATTRIBUTES)


async def test_add_and_remove_search_attributes(client: Client) -> None:
    namespace = (await new_namespace(client, "vis-admin", {"Color": KEYWORD})).namespace
    ns_client = Client(client.service_client, namespace=namespace)
    operator = client.operator_service

    await operator.add_search_attributes(AddSearchAttributesRequest(namespace=namespace, search_attributes={"Size": INT}))
    assert await list_custom(client, namespace) == {"Color": KEYWORD, "Size": INT}
    await wait_for_count(ns_client, "Size > 3", 0)

    # adding an existing name again is accepted and changes nothing, even with another type
    for again in (KEYWORD, INT):
        await operator.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes={"Color": again})
        )
    assert await list_custom(client, namespace) == {"Color": KEYWORD, "Size": INT}

    await operator.remove_search_attributes(RemoveSearchAttributesRequest(namespace=namespace, search_attributes=["Size"]))
    assert await list_custom(client, namespace) == {"Color": KEYWORD}

    async def size_unknown() -> bool:
        try:
            await ns_client.count_workflows("Size > 3")
        except RPCError as err:
            return err.message == "invalid query: invalid search attribute: Size"
        return False

    await wait_until(size_unknown, what="Size to be unknown to queries")
    # removing a name that is not there is accepted
    await operator.remove_search_attributes(
        RemoveSearchAttributesRequest(namespace=namespace, search_attributes=["NeverAdded"])
    )
    assert await list_custom(client, namespace) == {"Color": KEYWORD}


@pytest.mark.parametrize(
    "name, message",
    [
        ("WorkflowId", "Search attribute WorkflowId is reserved by system."),
        ("ExecutionStatus", "Search attribute ExecutionStatus is reserved by system."),
        ("TemporalCustom", "Search attribute TemporalCustom is reserved by system."),
    ],
)
async def test_add_reserved_search_attribute(client: Client, ns: Client, name: str, message: str) -> None:
    error = await rpc_error(
        client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=ns.namespace, search_attributes={name: KEYWORD})
        )
    )
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message == message


async def test_search_attribute_admin_errors(client: Client, ns: Client) -> None:
    operator = client.operator_service
    cases = [
        (
            lambda: operator.remove_search_attributes(
                RemoveSearchAttributesRequest(namespace=ns.namespace, search_attributes=["WorkflowId"])
            ),
            RPCStatusCode.INVALID_ARGUMENT,
            "Unable to remove non-custom search attributes: WorkflowId.",
        ),
        (
            lambda: operator.add_search_attributes(AddSearchAttributesRequest(namespace=ns.namespace)),
            RPCStatusCode.INVALID_ARGUMENT,
            "SearchAttributes are not set on request.",
        ),
        (
            lambda: operator.remove_search_attributes(RemoveSearchAttributesRequest(namespace=ns.namespace)),
            RPCStatusCode.INVALID_ARGUMENT,
            "SearchAttributes are not set on request.",
        ),
        (
            lambda: operator.add_search_attributes(AddSearchAttributesRequest(search_attributes={"Color": KEYWORD})),
            RPCStatusCode.INVALID_ARGUMENT,
            "Namespace is not set on request.",
        ),
        (
            lambda: operator.list_search_attributes(ListSearchAttributesRequest(namespace="no-such-namespace-vis")),
            RPCStatusCode.NOT_FOUND,
            "Namespace no-such-namespace-vis is not found.",
        ),
        (
            lambda: operator.add_search_attributes(
                AddSearchAttributesRequest(namespace="no-such-namespace-vis", search_attributes={"Color": KEYWORD})
            ),
            RPCStatusCode.NOT_FOUND,
            "Namespace no-such-namespace-vis is not found.",
        ),
    ]
    for call, status, message in cases:
        error = await rpc_error(call())
        assert (error.status, error.message) == (status, message)


# ---------------------------------------------------------------------------
# The temporal CLI
# ---------------------------------------------------------------------------


@pytest.fixture
def temporal(cli: str, target: Target):
    """`await temporal(namespace, "workflow", "list", ...)` with --address and --namespace."""

    async def run(namespace: str, *args: str) -> CliResult:
        return await run_cli(cli, *args, "--address", target.cli_address or target.address, "--namespace", namespace)

    return run


def ok(result: CliResult) -> CliResult:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


async def test_cli_workflow_list_and_count(ns: Client, temporal) -> None:
    tq, batch = unique("vis"), unique("cli-batch")
    ids = [unique(f"vis-cli{n}") for n in range(3)]
    async with new_worker(ns, tq, VISIBILITY_WORKFLOWS):
        for wid, plan in zip(ids, (Plan(), Plan("fail"), Plan())):
            await finish(
                await ns.start_workflow(
                    OrderWorkflow.run, plan, id=wid, task_queue=tq, search_attributes=typed({CUSTOMER_ID: batch})
                )
            )
    query = f"CustomerId = '{batch}'"
    # Every close written first: running records sort first, so the order alone can match
    # while two runs still show as running (their nodes write visibility independently).
    await wait_for_count(ns, f"{query} AND ExecutionStatus != 'Running'", 3)
    await wait_for_ids(ns, query, ids[::-1])

    entries = ok(await temporal(ns.namespace, "workflow", "list", "--query", query, "-o", "json")).json()
    assert [(e["execution"]["workflowId"], e["status"]) for e in entries] == [
        (ids[2], "WORKFLOW_EXECUTION_STATUS_COMPLETED"),
        (ids[1], "WORKFLOW_EXECUTION_STATUS_FAILED"),
        (ids[0], "WORKFLOW_EXECUTION_STATUS_COMPLETED"),
    ]
    assert all(e["type"]["name"] == "OrderWorkflow" and e["taskQueue"] == tq for e in entries)
    assert all("CustomerId" in e["searchAttributes"]["indexedFields"] for e in entries)
    nothing = ok(await temporal(ns.namespace, "workflow", "list", "--query", f"CustomerId = '{unique('x')}'", "-o", "json"))
    assert json.loads(nothing.stdout) == []

    assert ok(await temporal(ns.namespace, "workflow", "count", "--query", query)).stdout.strip() == "Total: 3"
    assert ok(await temporal(ns.namespace, "workflow", "count", "--query", query, "-o", "json")).json() == {"count": "3"}
    grouped = ok(
        await temporal(ns.namespace, "workflow", "count", "--query", f"{query} GROUP BY ExecutionStatus", "-o", "json")
    ).json()
    assert grouped["count"] == "3"
    assert sorted((g["groupValues"], g["count"]) for g in grouped["groups"]) == [(["Completed"], "2"), (["Failed"], "1")]
    text = ok(await temporal(ns.namespace, "workflow", "count", "--query", f"{query} GROUP BY ExecutionStatus")).stdout
    assert "Total: 3" in text
    assert "Group total: 2, values: Completed" in text and "Group total: 1, values: Failed" in text

    for command in ("list", "count"):
        bad = await temporal(ns.namespace, "workflow", command, "--query", "Bogus = 1")
        assert bad.returncode == 1
        assert "invalid query: invalid search attribute: Bogus" in bad.stderr


async def test_cli_search_attribute_commands(client: Client, temporal) -> None:
    namespace = (await new_namespace(client, "vis-cli", {})).namespace

    async def custom_attributes() -> dict[str, str]:
        listed = ok(await temporal(namespace, "operator", "search-attribute", "list", "-o", "json")).json()
        assert listed["systemAttributes"]["WorkflowId"] == "INDEXED_VALUE_TYPE_KEYWORD"
        return listed.get("customAttributes", {})

    assert await custom_attributes() == {}
    created = ok(await temporal(namespace, "operator", "search-attribute", "create", "--name", "Color", "--type", "Keyword"))
    assert "Search attributes have been added" in created.stdout
    ok(await temporal(namespace, "operator", "search-attribute", "create", "--name", "Due", "--type", "Datetime"))
    assert await custom_attributes() == {"Color": "INDEXED_VALUE_TYPE_KEYWORD", "Due": "INDEXED_VALUE_TYPE_DATETIME"}
    text = ok(await temporal(namespace, "operator", "search-attribute", "list")).stdout
    assert any(line.split() == ["Color", "Keyword"] for line in text.splitlines())

    # the CLI compares with the listed type before asking the server
    clash = await temporal(namespace, "operator", "search-attribute", "create", "--name", "Color", "--type", "Int")
    assert clash.returncode == 1
    assert "search attribute Color already exists and has different type Keyword" in clash.stderr
    reserved = await temporal(namespace, "operator", "search-attribute", "create", "--name", "WorkflowId", "--type", "Keyword")
    assert reserved.returncode == 1
    assert "Search attribute WorkflowId is reserved by system." in reserved.stderr

    removed = ok(await temporal(namespace, "operator", "search-attribute", "remove", "--name", "Color", "--yes"))
    assert "Search attributes have been removed" in removed.stdout
    assert await custom_attributes() == {"Due": "INDEXED_VALUE_TYPE_DATETIME"}
    system = await temporal(namespace, "operator", "search-attribute", "remove", "--name", "WorkflowId", "--yes")
    assert system.returncode == 1
    assert "Unable to remove non-custom search attributes: WorkflowId." in system.stderr
