"""The web UI with many runs in a namespace: how long each main view takes in a real browser.

Starts `sundial start` on a SQLite file (the HTTP API and UI on), fills the `default`
namespace with `--workflows` runs through the Python SDK (once: a file that holds them already
is reused), then opens each view in Debian's Chromium with Playwright, `--repeats` times, and
reports the median milliseconds from navigation until the view's data is drawn (the list's
rows and its counts by status, or the workflow page's history).

    .venv/bin/python bench/python/ui_bench.py --binary target/release/sundial \\
        --db /tmp/ui-bench.db --workflows 100000 --json bench/results/ui-100k.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from temporalio.client import Client

from ports import free_port, wait_port
from server_process import Server

TYPES = [f"Order{i}" for i in range(10)]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def fill(client: Client, total: int, concurrency: int) -> None:
    have = (await client.count_workflows()).count
    if have >= total:
        print(f"the namespace holds {have} runs already")
        return
    began, todo = time.monotonic(), iter(range(have, total))

    async def lane() -> None:
        for i in todo:
            await client.start_workflow(TYPES[i % len(TYPES)], f"input {i}", id=f"ui-bench-{i}",
                                        task_queue=f"q{i % 4}")
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    rate = (total - have) / (time.monotonic() - began)
    print(f"filled {total - have} runs at {rate:.0f}/s")


async def timed(page, url: str, ready: list[str]) -> float:
    began = time.monotonic()
    await page.goto(url)
    for selector in ready:
        await page.wait_for_selector(selector, timeout=120_000)
    return (time.monotonic() - began) * 1000


async def measure(base: str, repeats: int, chromium: str, one: str) -> dict[str, float]:
    from playwright.async_api import async_playwright

    listed = ["table[aria-label=Workflows] tbody tr", ".filters button .n"]
    views = {
        "list, first page": (f"{base}/namespaces/default/workflows", listed),
        "list, Running": (f"{base}/namespaces/default/workflows?status=Running", listed),
        "list, WorkflowType query": (f"{base}/namespaces/default/workflows?query=WorkflowType%3D%22Order3%22", listed),
        "list, WorkflowId query": (f"{base}/namespaces/default/workflows?query=WorkflowId%3D%22{one}%22", listed),
    }
    out: dict[str, float] = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        # The workflow page needs the run id: read it from the list.
        await page.goto(views["list, WorkflowId query"][0])
        link = page.locator("table[aria-label=Workflows] tbody tr td:nth-child(2) a")
        await link.wait_for()
        views["workflow page"] = (await link.evaluate("a => a.href"), ["ol.timeline"])
        # The second page: the Older button's address, from the first page.
        await page.goto(views["list, first page"][0])
        await page.locator("table[aria-label=Workflows] tbody tr").first.wait_for()
        await page.get_by_role("button", name="Older →").click()
        await page.wait_for_url("**page=**")
        views["list, second page"] = (page.url, listed[:1])
        for name, (url, ready) in views.items():
            times = [await timed(page, url, ready) for _ in range(repeats)]
            out[name] = statistics.median(times)
            print(f"{name:28} {out[name]:8.1f} ms  (runs: {', '.join(f'{t:.0f}' for t in times)})")
        await browser.close()
    return out


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", type=Path, required=True)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--workflows", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    port, ui = free_port(), free_port()
    config = Path(tempfile.mkdtemp(prefix="ui-bench-")) / "sundial.yaml"
    config.write_text(json.dumps({
        "server": {"ip": "127.0.0.1", "port": port, "ui_port": ui},
        "persistence": {"url": f"sqlite://{args.db}?mode=rwc"},
        "namespaces": [{"name": "default", "retention": "30days"}],
        "log": {"level": "warn"},
    }))
    server = Server(args.binary, config, port)
    server.start()
    try:
        wait_port(ui)
        client = await Client.connect(f"127.0.0.1:{port}")
        await fill(client, args.workflows, args.concurrency)
        result = await measure(f"http://127.0.0.1:{ui}", args.repeats, args.chromium,
                               f"ui-bench-{args.workflows // 2}")
    finally:
        server.stop()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"workflows": args.workflows, "median_ms": result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
