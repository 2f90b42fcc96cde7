"""Schedules as the Python SDK and the CLI use them, after the SDK's own schedule tests:
create, describe (the spec in canonical form), update, pause and unpause, trigger, backfill,
list and count with queries, delete; overlap policies, pause on failure, the last completion
result passed on, and the search attributes a scheduled run gets.

Every test here passes against `temporal server start-dev` too:
    SUNDIAL_TEST_ADDRESS=127.0.0.1:17233 SUNDIAL_TEST_TARGET_KIND=temporal \\
        pytest tests/python/test_schedules.py
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from helpers import list_ids, new_namespace, new_worker, run_cli, unique, wait_until
from workflows_schedules import ScheduledWorkflow


def start_action(tq: str, how: str = "") -> ScheduleActionStartWorkflow:
    return ScheduleActionStartWorkflow(ScheduledWorkflow.run, how, id=unique("scheduled"), task_queue=tq)


def paused_daily(action: ScheduleActionStartWorkflow) -> Schedule:
    """A paused schedule that would act once a day: it acts when triggered."""
    return Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
        state=ScheduleState(paused=True),
    )


async def action_count(handle) -> int:
    return (await handle.describe()).info.num_actions


async def test_describe_shows_the_schedule_as_created_in_canonical_form(client: Client) -> None:
    """The SDK's basics test: a rich schedule comes back as given, the cron string as a
    calendar; a second create of the same id is refused."""
    schedule = Schedule(
        action=start_action("never-polled"),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    second=(ScheduleRange(1, step=1),),
                    minute=(ScheduleRange(2, 3),),
                    hour=(ScheduleRange(4, 5, 6),),
                    day_of_month=(ScheduleRange(7),),
                    month=(ScheduleRange(9),),
                    year=(ScheduleRange(2080),),
                    comment="spec comment 1",
                )
            ],
            intervals=[ScheduleIntervalSpec(every=timedelta(days=10), offset=timedelta(days=2))],
            cron_expressions=["0 12 * * MON"],
            skip=[ScheduleCalendarSpec(year=(ScheduleRange(2050),))],
            start_at=datetime(2060, 7, 8, 9, 10, 11, tzinfo=timezone.utc),
            jitter=timedelta(seconds=80),
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ONE,
            catchup_window=timedelta(minutes=5),
            pause_on_failure=True,
        ),
        state=ScheduleState(note="sched note 1", paused=True, limited_actions=True, remaining_actions=30),
    )
    schedule_id = unique("sched-basics")
    handle = await client.create_schedule(schedule_id, schedule, memo={"memokey": "memoval"})
    try:
        description = await handle.describe()
        assert description.id == schedule_id
        expected = schedule.spec
        expected.cron_expressions = []
        expected.calendars.append(
            ScheduleCalendarSpec(
                second=(ScheduleRange(0),),
                minute=(ScheduleRange(0),),
                hour=(ScheduleRange(12),),
                day_of_month=(ScheduleRange(1, 31),),
                month=(ScheduleRange(1, 12),),
                day_of_week=(ScheduleRange(1),),
            )
        )
        assert description.schedule.spec == expected
        assert description.schedule.policy == schedule.policy
        assert description.schedule.state == schedule.state
        assert await description.memo_value("memokey") == "memoval"
        # Paused, and nothing due before 2060: no next times are due soon, none taken.
        assert description.info.num_actions == 0
        assert description.info.next_action_times[0].year >= 2060
        with pytest.raises(ScheduleAlreadyRunningError):
            await client.create_schedule(schedule_id, schedule)
    finally:
        await handle.delete()
    with pytest.raises(RPCError) as missing:
        await handle.describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_calendar_defaults_fire_at_midnight_each_day(client: Client) -> None:
    handle = await client.create_schedule(
        unique("sched-defaults"),
        Schedule(
            action=start_action("never-polled"),
            spec=ScheduleSpec(calendars=[ScheduleCalendarSpec()]),
            state=ScheduleState(paused=True),
        ),
    )
    try:
        description = await handle.describe()
        assert description.schedule.spec.calendars[0] == ScheduleCalendarSpec()
        times = description.info.next_action_times
        assert len(times) == 10
        for earlier, later in zip(times, times[1:]):
            assert (earlier.hour, earlier.minute, earlier.second) == (0, 0, 0)
            assert later - earlier == timedelta(days=1)
    finally:
        await handle.delete()


async def test_trigger_pause_unpause_update_and_delete(client: Client) -> None:
    tq = unique("sched-tq")
    async with new_worker(client, tq, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(
            unique("sched-ops"),
            paused_daily(start_action(tq)),
        )
        try:
            await handle.pause(note="paused by test")
            assert (await handle.describe()).schedule.state.note == "paused by test"
            await handle.unpause(note="unpaused by test")
            state = (await handle.describe()).schedule.state
            assert (state.paused, state.note) == (False, "unpaused by test")
            await handle.pause()
            assert (await handle.describe()).schedule.state.note == "Paused via Python SDK"

            # A trigger runs even while paused; its result is that of the run it started.
            await handle.trigger()
            await wait_until(lambda: action_count(handle), what="the triggered action")
            description = await handle.describe()
            started = description.info.recent_actions[0].action
            assert started.workflow_id.startswith(description.schedule.action.id + "-")
            assert await client.get_workflow_handle(started.workflow_id).result() == "some result"

            def updater(input: ScheduleUpdateInput) -> ScheduleUpdate:
                input.description.schedule.state.note = "updated note"
                input.description.schedule.action.args = ["hold"]
                return ScheduleUpdate(input.description.schedule)

            await handle.update(updater)
            description = await handle.describe()
            assert description.schedule.state.note == "updated note"
            assert [await client.data_converter.decode([a]) for a in description.schedule.action.args] == [["hold"]]
            assert description.info.last_updated_at is not None
        finally:
            await handle.delete()


async def test_overlap_skip_and_buffer_one(client: Client) -> None:
    """While the run it started goes on, a SKIP trigger is skipped and a BUFFER_ONE trigger
    waits; when the run ends, the waiting one starts."""
    tq = unique("sched-tq")
    async with new_worker(client, tq, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(
            unique("sched-overlap"),
            paused_daily(start_action(tq, "hold")),
        )
        try:
            await handle.trigger()
            await wait_until(lambda: action_count(handle), what="the first action")
            first = (await handle.describe()).info.running_actions[0]
            await handle.trigger(overlap=ScheduleOverlapPolicy.SKIP)
            await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)

            async def skipped_and_buffered() -> bool:
                d = await handle.describe()
                return d.info.num_actions_skipped_overlap == 1 and d.info.num_actions == 1

            await wait_until(skipped_and_buffered, what="one skipped start and one waiting")
            await client.get_workflow_handle(first.workflow_id).signal(ScheduledWorkflow.release)
            await wait_until(lambda: _count_is(handle, 2), what="the buffered start after the first run ended")
            second = (await handle.describe()).info.running_actions[0]
            assert second.first_execution_run_id != first.first_execution_run_id
            await client.get_workflow_handle(second.workflow_id).signal(ScheduledWorkflow.release)
        finally:
            await handle.delete()


async def _count_is(handle, n: int) -> bool:
    return await action_count(handle) == n


async def test_last_completion_result_passes_to_the_next_run(client: Client) -> None:
    tq = unique("sched-tq")
    async with new_worker(client, tq, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(
            unique("sched-chain"),
            paused_daily(start_action(tq, "chain")),
        )
        try:
            results = []
            for n in (1, 2):
                await handle.trigger()
                await wait_until(lambda: _count_is(handle, n), what=f"action {n}")
                run = (await handle.describe()).info.recent_actions[-1].action
                results.append(await client.get_workflow_handle(run.workflow_id).result())
                # The scheduler hears of the close before it starts the next run.
                await wait_until(lambda: _no_running(handle), what="the run's close reaching the schedule")
            assert results == ["My First Result", "From last completion: My First Result"]
        finally:
            await handle.delete()


async def _no_running(handle) -> bool:
    return not (await handle.describe()).info.running_actions


async def test_pause_on_failure(client: Client) -> None:
    tq = unique("sched-tq")
    async with new_worker(client, tq, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(
            unique("sched-fail"),
            Schedule(
                action=start_action(tq, "fail"),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
                policy=SchedulePolicy(pause_on_failure=True),
            ),
            trigger_immediately=True,
        )
        try:
            async def paused() -> bool:
                return (await handle.describe()).schedule.state.paused

            await wait_until(paused, what="the schedule paused by the failed run")
            description = await handle.describe()
            run = description.info.recent_actions[0].action.workflow_id
            assert description.schedule.state.note.startswith(f"paused due to workflow failure: {run}: ")
            assert "scheduled failure" in description.schedule.state.note
        finally:
            await handle.delete()


async def test_interval_fires_and_scheduled_runs_carry_their_schedule(client: Client) -> None:
    tq = unique("sched-tq")
    schedule_id = unique("sched-interval")
    async with new_worker(client, tq, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(
            schedule_id,
            Schedule(
                action=start_action(tq),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=1))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            ),
        )
        try:
            await wait_until(lambda: _at_least(handle, 2), timeout=15, what="two actions of a 1 s interval")
            description = await handle.describe()
            action = description.info.recent_actions[0]
            # The run id names the nominal time, which is a whole second.
            assert action.scheduled_at.microsecond == 0
            suffix = action.scheduled_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert action.action.workflow_id == f"{description.schedule.action.id}-{suffix}"
            run = await client.get_workflow_handle(action.action.workflow_id).describe()
            attrs = run.typed_search_attributes
            assert attrs.get(SearchAttributeKey.for_keyword("TemporalScheduledById")) == schedule_id
            assert attrs.get(SearchAttributeKey.for_datetime("TemporalScheduledStartTime")) == action.scheduled_at
        finally:
            await handle.delete()


async def _at_least(handle, n: int) -> bool:
    return await action_count(handle) >= n


async def test_backfill_starts_every_time_in_the_range(client: Client) -> None:
    tq = unique("sched-tq")
    async with new_worker(client, tq, workflows=[ScheduledWorkflow]):
        handle = await client.create_schedule(
            unique("sched-backfill"),
            Schedule(
                action=start_action(tq),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=1))]),
                state=ScheduleState(paused=True),
            ),
        )
        try:
            now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
            await handle.backfill(
                ScheduleBackfill(
                    start_at=now - timedelta(minutes=30),
                    end_at=now - timedelta(minutes=29),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                ),
                ScheduleBackfill(
                    start_at=now - timedelta(minutes=10),
                    end_at=now - timedelta(minutes=9),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                ),
            )
            await wait_until(lambda: _count_is(handle, 4), what="four backfilled actions")
        finally:
            await handle.delete()


async def test_list_and_count_with_queries_and_hidden_from_workflow_lists(client: Client) -> None:
    keyword = SearchAttributeKey.for_keyword("ScheduleOwner")
    ns_client = await new_namespace(client, "sched-list", {"ScheduleOwner": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD})
    ids = [unique("sched-list") for _ in range(5)]
    for i, schedule_id in enumerate(ids):
        await ns_client.create_schedule(
            schedule_id,
            paused_daily(start_action("never-polled")),
            search_attributes=TypedSearchAttributes([SearchAttributePair(keyword, "owner-a")]) if i < 2 else TypedSearchAttributes.empty,
        )

    async def listed(query: str | None = None) -> list[str]:
        return sorted([s.id async for s in await ns_client.list_schedules(query=query, page_size=2)])

    async def all_listed() -> bool:
        return await listed() == sorted(ids)

    await wait_until(all_listed, what="the five schedules listed")
    await wait_until(lambda: _eq(listed("ScheduleOwner = 'owner-a'"), sorted(ids[:2])), what="the two with the attribute")
    await wait_until(lambda: _eq(listed(f"ScheduleId = '{ids[3]}'"), [ids[3]]), what="the one by its id")
    with pytest.raises(RPCError) as system_attribute:
        await listed("ExecutionStatus = 'Running'")
    assert system_attribute.value.status == RPCStatusCode.INVALID_ARGUMENT
    # Scheduler runs are not workflows a user lists.
    assert await list_ids(ns_client) == []
    for schedule_id in ids:
        await ns_client.get_schedule_handle(schedule_id).delete()
    await wait_until(lambda: _eq(listed(), []), what="no schedules after delete")


async def _eq(value, expected) -> bool:
    return await value == expected


async def test_cli_creates_describes_lists_triggers_and_deletes(client: Client, cli: str, target) -> None:
    tq = unique("sched-tq")
    schedule_id = unique("sched-cli")
    base = ["--address", target.cli_address or target.address, "--namespace", client.namespace]
    async with new_worker(client, tq, workflows=[ScheduledWorkflow]):
        created = await run_cli(
            cli, "schedule", "create", *base, "--schedule-id", schedule_id,
            "--cron", "0 12 * * MON", "--workflow-id", unique("cli-wf"),
            "--task-queue", tq, "--type", "ScheduledWorkflow", "--input", '""', "--paused",
        )
        assert created.returncode == 0, created.stderr
        described = await run_cli(cli, "schedule", "describe", *base, "--schedule-id", schedule_id, "-o", "json")
        assert described.returncode == 0, described.stderr
        body = json.loads(described.stdout)
        assert body["schedule"]["state"]["paused"] is True
        trigger = await run_cli(cli, "schedule", "trigger", *base, "--schedule-id", schedule_id)
        assert trigger.returncode == 0, trigger.stderr
        handle = client.get_schedule_handle(schedule_id)
        await wait_until(lambda: _count_is(handle, 1), what="the CLI's trigger")
        toggled = await run_cli(cli, "schedule", "toggle", *base, "--schedule-id", schedule_id, "--unpause", "--reason", "go")
        assert toggled.returncode == 0, toggled.stderr
        assert (await handle.describe()).schedule.state.paused is False

        backfilled = await run_cli(
            cli, "schedule", "backfill", *base, "--schedule-id", schedule_id,
            "--start-time", "2026-01-05T11:59:00Z", "--end-time", "2026-01-19T12:00:00Z",
            "--overlap-policy", "AllowAll",
        )
        assert backfilled.returncode == 0, backfilled.stderr
        # Mondays 5, 12 and 19 January at noon.
        await wait_until(lambda: _count_is(handle, 4), what="the CLI's backfill")
        updated = await run_cli(
            cli, "schedule", "update", *base, "--schedule-id", schedule_id,
            "--interval", "45m", "--workflow-id", unique("cli-wf"), "--task-queue", tq,
            "--type", "ScheduledWorkflow", "--input", '""', "--paused",
        )
        assert updated.returncode == 0, updated.stderr
        spec = (await handle.describe()).schedule.spec
        assert spec.calendars == []
        assert [i.every for i in spec.intervals] == [timedelta(minutes=45)]

        async def listed() -> bool:
            out = await run_cli(cli, "schedule", "list", *base, "-o", "json")
            return schedule_id in out.stdout

        await wait_until(listed, what="the schedule in `temporal schedule list`")
        deleted = await run_cli(cli, "schedule", "delete", *base, "--schedule-id", schedule_id)
        assert deleted.returncode == 0, deleted.stderr


async def test_search_attributes_of_the_schedule_and_of_its_action(client: Client) -> None:
    """Update leaves the schedule's search attributes alone when it gives none, clears them
    when it gives an empty set, replaces them when it gives some; the action's attributes
    come back typed and change with the action."""
    text = SearchAttributeKey.for_text("ScheduleNote")
    keyword = SearchAttributeKey.for_keyword("ScheduleOwner")
    ns_client = await new_namespace(
        client,
        "sched-sa",
        {
            "ScheduleNote": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
            "ScheduleOwner": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        },
    )
    action = ScheduleActionStartWorkflow(
        ScheduledWorkflow.run,
        "",
        id=unique("scheduled"),
        task_queue="never-polled",
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(text, "action text")]),
        untyped_search_attributes={"ScheduleOwner": ["action owner"]},
    )
    handle = await ns_client.create_schedule(
        unique("sched-sa"),
        Schedule(
            action=action,
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
            state=ScheduleState(paused=True),
        ),
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(keyword, "owner-a"), SearchAttributePair(text, "schedule text")]
        ),
    )
    try:
        described = await handle.describe()
        assert described.typed_search_attributes == TypedSearchAttributes(
            [SearchAttributePair(keyword, "owner-a"), SearchAttributePair(text, "schedule text")]
        )
        got = described.schedule.action.typed_search_attributes
        assert got.get(text) == "action text"
        assert got.get(keyword) == "action owner"

        def change_action(input: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = input.description.schedule
            schedule.action.typed_search_attributes = TypedSearchAttributes(
                [SearchAttributePair(text, "new action text")]
            )
            schedule.action.untyped_search_attributes = {}
            return ScheduleUpdate(schedule)

        await handle.update(change_action)
        described = await handle.describe()
        assert described.schedule.action.typed_search_attributes == TypedSearchAttributes(
            [SearchAttributePair(text, "new action text")]
        )
        # No search attributes in the update: the schedule's stay.
        assert len(described.typed_search_attributes) == 2

        def replace(input: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(
                input.description.schedule,
                search_attributes=TypedSearchAttributes([SearchAttributePair(keyword, "owner-b")]),
            )

        await handle.update(replace)
        # Temporal applies search attributes a moment after the update returns.
        replaced = TypedSearchAttributes([SearchAttributePair(keyword, "owner-b")])
        await wait_until(lambda: _attributes_are(handle, replaced), what="the replaced attributes")

        def clear(input: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(input.description.schedule, search_attributes=TypedSearchAttributes.empty)

        await handle.update(clear)
        await wait_until(lambda: _attributes_are(handle, TypedSearchAttributes.empty), what="no attributes")
    finally:
        await handle.delete()


async def _attributes_are(handle, expected: TypedSearchAttributes) -> bool:
    return (await handle.describe()).typed_search_attributes == expected


async def test_errors_as_temporal_words_them(client: Client) -> None:
    with pytest.raises(RPCError) as bad_spec:
        await client.create_schedule(
            unique("sched-bad"),
            Schedule(action=start_action("q"), spec=ScheduleSpec(cron_expressions=["1 2 3"])),
        )
    assert bad_spec.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert bad_spec.value.message == "Invalid schedule spec: CronString does not have 5-7 fields"
    with pytest.raises(RPCError) as missing:
        await client.get_schedule_handle(unique("sched-none")).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
