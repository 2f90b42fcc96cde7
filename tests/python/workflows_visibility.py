"""Workflows and search attribute keys for the visibility tests.

Every custom search attribute type has one key here; `SEARCH_ATTRIBUTES` is what a
test registers in its namespace before using them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import greet

CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
NOTES = SearchAttributeKey.for_text("Notes")
AMOUNT = SearchAttributeKey.for_int("Amount")
SCORE = SearchAttributeKey.for_float("Score")
VIP = SearchAttributeKey.for_bool("Vip")
DUE = SearchAttributeKey.for_datetime("Due")
TAGS = SearchAttributeKey.for_keyword_list("Tags")

KEYS: Dict[str, SearchAttributeKey] = {
    key.name: key for key in (CUSTOMER_ID, NOTES, AMOUNT, SCORE, VIP, DUE, TAGS)
}

#: name -> indexed value type, for OperatorService.AddSearchAttributes
SEARCH_ATTRIBUTES: Dict[str, "IndexedValueType.ValueType"] = {
    "CustomerId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Notes": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Amount": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Score": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Vip": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Due": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "Tags": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


@dataclass
class Plan:
    """What a `_Planned` workflow does.

    outcome: `complete`, `activity` (completes after running `greet`), `fail`, `wait`
    (until signal `release`) or `continue` (continues as new once, then completes).
    upsert: search attributes to upsert first, by name; None removes one, a Due value
    is an ISO 8601 string.
    """

    outcome: str = "complete"
    upsert: Dict[str, Any] = field(default_factory=dict)


def _update(name: str, value: Any) -> Any:
    key = KEYS[name]
    if value is None:
        return key.value_unset()
    if key is DUE:
        value = datetime.fromisoformat(value)
    return key.value_set(value)


class _Planned:
    def __init__(self) -> None:
        self.released = False

    async def behave(self, plan: Plan) -> str:
        if plan.upsert:
            workflow.upsert_search_attributes([_update(name, value) for name, value in plan.upsert.items()])
        if plan.outcome == "activity":
            await workflow.execute_activity(greet, "visibility", start_to_close_timeout=timedelta(seconds=5))
        elif plan.outcome == "fail":
            raise ApplicationError("planned failure", type="Planned", non_retryable=True)
        elif plan.outcome == "wait":
            await workflow.wait_condition(lambda: self.released)
        elif plan.outcome == "continue":
            workflow.continue_as_new(Plan())
        return plan.outcome

    @workflow.signal
    def release(self) -> None:
        self.released = True


@workflow.defn
class OrderWorkflow(_Planned):
    @workflow.run
    async def run(self, plan: Plan) -> str:
        return await self.behave(plan)


@workflow.defn
class ShipmentWorkflow(_Planned):
    @workflow.run
    async def run(self, plan: Plan) -> str:
        return await self.behave(plan)


@workflow.defn
class AuditWorkflow(_Planned):
    @workflow.run
    async def run(self, plan: Plan) -> str:
        return await self.behave(plan)


@workflow.defn
class UpsertWrongTypeWorkflow:
    """Upserts `Amount` (an Int attribute) with a keyword string value."""

    @workflow.run
    async def run(self) -> str:
        workflow.upsert_search_attributes([SearchAttributeKey.for_keyword("Amount").value_set("not a number")])
        return "upserted"


VISIBILITY_WORKFLOWS = [OrderWorkflow, ShipmentWorkflow, AuditWorkflow, UpsertWrongTypeWorkflow]
