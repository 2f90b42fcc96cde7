"""Logs for log shippers: `--log-format json` writes one JSON object a line."""

from __future__ import annotations

import json

import pytest

from conftest import ServerProcess, connect_with_retry, suite_starts_sundial, sundial_bin
from helpers import free_port

pytestmark = pytest.mark.skipif(not suite_starts_sundial(), reason="starts a Sundial of its own")


async def test_json_logs_are_one_object_a_line() -> None:
    port = free_port()
    server = ServerProcess(
        [str(sundial_bin()), "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port), "--log-format", "json",
         "--dynamic-config-value", "some.unknownKey=1"],
        "127.0.0.1", port, "sundial-json-logs",
    )
    server.start()
    try:
        server.wait_port()
        await connect_with_retry(server.address)
        lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]  # every line is JSON
        ready = [r for r in records if r.get("message") == "Sundial is ready"]
        assert ready and ready[0]["level"] == "INFO", records
        # Fields sit beside the message, where shippers index them.
        ignored = [r for r in records if r.get("key") == "some.unknownKey"]
        assert ignored and ignored[0]["level"] == "WARN", records
    finally:
        server.kill()
