"""The web UI in a real browser: Debian's Chromium driven by Playwright. A Sundial serves its
UI (`start-dev --ui-port`); the Python SDK runs workflows that complete, fail, and wait (one
with its activity pending, one for a signal); the browser lists them, filters by query and by
status, opens one, expands its events, signals one and terminates another from the UI, and the
SDK sees the server's state change. A second test signs in with a token against a server that
authorizes every call. Screenshots of the main pages go to target/test-artifacts/ui (or
$SUNDIAL_ARTIFACTS/ui), and a console error or a page error fails the test."""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleState,
    WorkflowExecutionStatus,
)

from conftest import REPO_ROOT, ServerProcess, connect_with_retry, dynamic_config_args, sundial_bin
from helpers import free_port, new_worker, unique
from workflows import (
    RELEASED,
    STARTED,
    ActivityCall,
    FailingWorkflow,
    GreetingWorkflow,
    RunActivityWorkflow,
    SignalWorkflow,
    blocking_activity,
    greet,
)

pytestmark = pytest.mark.sundial_only

CHROMIUM = os.environ.get("SUNDIAL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("SUNDIAL_ARTIFACTS", REPO_ROOT / "target" / "test-artifacts")) / "ui"
#: As the machine's notes advise: no background traffic the closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


class Page:
    """A browser tab that records console and page errors (`allowed`: patterns to let by)."""

    def __init__(self, page: Any, allowed: tuple[str, ...] = ()) -> None:
        self.page = page
        self.problems: list[str] = []

        def console(m: Any) -> None:
            if m.type == "error" and not any(re.search(a, m.text) for a in allowed):
                self.problems.append(f"console: {m.text}")

        page.on("console", console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

    async def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def new_page(browser: Any, allowed: tuple[str, ...] = ()) -> tuple[Any, Page]:
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    return context, Page(await context.new_page(), allowed)


@pytest.fixture(scope="module")
async def ui() -> AsyncIterator[tuple[str, Client]]:
    """A Sundial with its UI on a free port: the UI's base URL and an SDK client."""
    port, ui_port = free_port(), free_port()
    argv = [str(sundial_bin()), "start-dev", "--ip", "127.0.0.1", "--port", str(port),
            "--ui-port", str(ui_port), "--log-level", "warn", *dynamic_config_args()]
    server = ServerProcess(argv, "127.0.0.1", port, "sundial-ui")
    server.start()
    try:
        await asyncio.to_thread(server.wait_port)
        await asyncio.to_thread(server.wait_listening, ui_port)
        yield f"http://127.0.0.1:{ui_port}", await connect_with_retry(server.address)
    finally:
        server.kill()


async def rows(page: Any) -> list[str]:
    """The workflow ids the list shows."""
    await page.wait_for_selector("table[aria-label=Workflows], p.empty")
    return await page.locator("table[aria-label=Workflows] tbody tr td:nth-child(2)").all_inner_texts()


async def until(what: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await what():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.1)


async def test_list_filter_open_signal_and_terminate(ui: tuple[str, Client], browser: Any) -> None:
    base, client = ui
    tq = unique("ui")
    ids = {k: unique(f"ui-{k}") for k in ("done", "failed", "pending", "waiting", "cancel")}
    blocker = ids["pending"]
    async with new_worker(client, tq, [GreetingWorkflow, FailingWorkflow, RunActivityWorkflow, SignalWorkflow],
                          [greet, blocking_activity]):
        done = await client.start_workflow(GreetingWorkflow.run, "browser", id=ids["done"], task_queue=tq)
        failed = await client.start_workflow(FailingWorkflow.run, "it broke", id=ids["failed"], task_queue=tq)
        pending = await client.start_workflow(
            RunActivityWorkflow.run,
            ActivityCall("blocking_activity", [blocker], activity_id="held", start_to_close_s=120),
            id=ids["pending"], task_queue=tq)
        waiting = await client.start_workflow(SignalWorkflow.run, id=ids["waiting"], task_queue=tq)
        to_cancel = await client.start_workflow(SignalWorkflow.run, id=ids["cancel"], task_queue=tq)
        assert await done.result() == "Hello, browser!"
        with pytest.raises(Exception):
            await failed.result()
        await until(lambda: asyncio.sleep(0, blocker in STARTED))

        context, tab = await new_page(browser)
        page = tab.page
        try:
            # The list: every run, newest first, with counts by status.
            await page.goto(f"{base}/")
            await page.wait_for_url(re.compile(r"/namespaces/default/workflows$"))
            assert set(await rows(page)) == set(ids.values())
            filters = page.get_by_role("group", name="Filter by status")
            await until(lambda: filters.get_by_role("button", name=re.compile(r"^Running\s*3$")).count())
            assert await filters.get_by_role("button", name=re.compile(r"^Completed\s*1$")).count() == 1
            assert await filters.get_by_role("button", name=re.compile(r"^Failed\s*1$")).count() == 1
            await tab.shot("workflows")

            # A query, typed and submitted: the address carries it, the list obeys it.
            await page.get_by_label("List filter query").fill('WorkflowType = "FailingWorkflow"')
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r"query=WorkflowType"))
            await until(lambda: _only(page, [ids["failed"]]))
            await page.get_by_role("button", name="Clear").click()
            # The status filter.
            await filters.get_by_role("button", name=re.compile(r"^Running")).click()
            await page.wait_for_url(re.compile(r"status=Running"))
            await until(lambda: _only(page, [ids["pending"], ids["waiting"], ids["cancel"]]))
            await page.get_by_role("link", name=ids["pending"]).click()

            # The run: summary, its pending activity, the history, expandable events.
            await page.wait_for_selector("table[aria-label='Pending activities']")
            assert await page.locator("h1").inner_text() == f"{ids['pending']}Running" or \
                ids["pending"] in await page.locator("h1").inner_text()
            activity_row = await page.locator("table[aria-label='Pending activities'] tbody tr").inner_text()
            assert "held" in activity_row and "blocking_activity" in activity_row, activity_row
            first = page.locator("details[data-event-id='1'] > summary")
            assert "Workflow execution started" in await first.inner_text()
            await first.focus()
            await page.keyboard.press("Enter")  # the keyboard opens an event
            detail = page.locator("details[data-event-id='1'] .detail pre")
            await detail.wait_for()
            text = await detail.inner_text()
            assert blocker in text and "blocking_activity" in text, text  # the input, decoded
            await tab.shot("workflow")
            # The address is the view: a reload shows the same run.
            url = page.url
            await page.reload()
            await page.wait_for_selector("table[aria-label='Pending activities']")
            assert page.url == url

            # Terminate, behind a confirmation.
            await page.get_by_role("button", name="Terminate").click()
            dialog = page.get_by_role("dialog")
            await dialog.get_by_label("Reason (optional)").fill("stopped from the browser")
            await tab.shot("terminate-confirmation")
            await dialog.get_by_role("button", name="Terminate").click()
            await page.wait_for_selector("h1 .status.terminated")
            described = await pending.describe()
            assert described.status == WorkflowExecutionStatus.TERMINATED

            # The task queue's pollers (the worker above).
            await page.get_by_role("link", name=tq).first.click()
            await page.wait_for_selector("table[aria-label=Pollers]")
            pollers = await page.locator("table[aria-label=Pollers] tbody").inner_text()
            assert "Workflow" in pollers and "Activity" in pollers, pollers
            await tab.shot("task-queue")

            # Signal the waiting one from its page.
            await page.goto(f"{base}/namespaces/default/workflows/{ids['waiting']}/{waiting.result_run_id}")
            await page.get_by_role("button", name="Signal").click()
            dialog = page.get_by_role("dialog")
            await dialog.get_by_label("Signal name").fill("deliver")
            await dialog.get_by_label("Input (JSON, optional)").fill('"sent from the UI"')
            await dialog.get_by_role("button", name="Send signal").click()
            assert await waiting.result() == "sent from the UI"
            await page.reload()
            await page.wait_for_selector("h1 .status.completed")
            assert "Workflow execution signaled" in await page.locator("ol.timeline").inner_text()
            await tab.shot("workflow-completed")

            # Cancel, behind a confirmation: the workflow's code takes the request and ends.
            await page.goto(f"{base}/namespaces/default/workflows/{ids['cancel']}/{to_cancel.result_run_id}")
            await page.get_by_role("button", name="Cancel", exact=True).click()
            await page.get_by_role("dialog").get_by_role("button", name="Request cancellation").click()
            await until(lambda: _status(to_cancel, WorkflowExecutionStatus.CANCELED))

            # Reset the completed one to its last workflow task: a new run, shown at once.
            await page.goto(f"{base}/namespaces/default/workflows/{ids['done']}/{done.result_run_id}")
            await page.get_by_role("button", name="Reset").click()
            dialog = page.get_by_role("dialog")
            await dialog.get_by_label("Reason (optional)").fill("again, from the UI")
            await dialog.get_by_role("button", name="Reset").click()
            await page.wait_for_url(re.compile(rf"/workflows/{ids['done']}/(?!{done.result_run_id})[0-9a-f-]+$"))
            new_run = page.url.rsplit("/", 1)[1]
            reset_run = client.get_workflow_handle(ids["done"], run_id=new_run)
            assert await reset_run.result() == "Hello, browser!"
            assert (await client.get_workflow_handle(ids["done"]).describe()).run_id == new_run

            # Schedules: the list, and one schedule's page.
            schedule_id = unique("ui-schedule")
            await client.create_schedule(schedule_id, Schedule(
                action=ScheduleActionStartWorkflow(GreetingWorkflow.run, "on time", id=unique("ui-sched-run"),
                                                   task_queue=tq),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(hours=1))]),
                state=ScheduleState(paused=True, note="made by the UI test"),
            ))
            await page.get_by_role("link", name="Schedules").click()
            await page.wait_for_url(re.compile(r"/namespaces/default/schedules$"))
            await until(lambda: page.get_by_role("link", name=schedule_id).count())
            listed = await page.locator("table[aria-label=Schedules] tbody").inner_text()
            assert "GreetingWorkflow" in listed and "every 1 h" in listed and "Paused" in listed, listed
            await page.get_by_role("link", name=schedule_id).click()
            await page.wait_for_selector("h1 .status")
            assert "made by the UI test" in await page.locator("main").inner_text()
            await tab.shot("schedule")
        finally:
            RELEASED.add(blocker)
            await context.close()
    assert not tab.problems, tab.problems


async def _status(handle: Any, status: WorkflowExecutionStatus) -> bool:
    return (await handle.describe()).status == status


async def _only(page: Any, expected: list[str]) -> bool:
    return sorted(await rows(page)) == sorted(expected)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, ServerProcess]]:
    """A Sundial with the JWT claim mapper and the default authorizer, UI on."""
    from test_auth import jwt_server

    with jwt_server(tmp_path_factory.mktemp("ui-auth"), "ui_port") as (server, keys, ui_port):
        yield f"http://127.0.0.1:{ui_port}", keys, server


async def test_sign_in_with_a_token(secured: tuple[str, Any, ServerProcess], browser: Any) -> None:
    from test_auth import token

    base, keys, server = secured
    reader = token(keys, ["orders:read"])
    # The browser reports each refused call (401, 403) as a failed load: expected here.
    context, tab = await new_page(browser, allowed=(r"status of 40[13]",))
    page = tab.page
    try:
        await page.goto(f"{base}/namespaces/orders/workflows")
        notice = page.locator(".notice.sign-in")
        await notice.wait_for()
        assert "sign in" in (await notice.inner_text()).lower()
        await tab.shot("sign-in-needed")
        await notice.get_by_role("button", name="Sign in").click()
        await page.get_by_label("Token").fill(reader)
        await page.locator("#token-dialog").get_by_role("button", name="Sign in").click()
        await page.wait_for_selector("p.empty, table[aria-label=Workflows]")
        assert "No workflows yet." in await page.locator("main").inner_text()
        stored = await page.evaluate("sessionStorage.getItem('sundial.token')")
        assert stored == f"Bearer {reader}"
        # Another namespace is refused with the same token: the page says so.
        await page.goto(f"{base}/namespaces/billing/workflows")
        await page.wait_for_selector(".error")
        assert "refused your token" in await page.locator(".notice.sign-in").inner_text()
    finally:
        await context.close()
    assert reader not in Path(server.log_path).read_text(errors="replace"), "the token was logged"
    assert not tab.problems, tab.problems
