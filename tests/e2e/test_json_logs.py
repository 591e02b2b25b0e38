"""SMS_LOG_FORMAT=json over a real server process: every line is one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import AUTH_TOKEN
from tests.e2e.server import Server, environment


def test_json_logs_are_one_object_a_line_with_the_request_id_and_no_query_string(
    workdir: Path,
) -> None:
    server = Server(workdir, environment({"SMS_LOG_FORMAT": "json"}))
    try:
        answer = httpx.get(f"{server.url}/healthz", params={"authToken": AUTH_TOKEN})
    finally:
        log = server.stop()

    entries = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [entry for entry in entries if entry["logger"] == "sms_accounts.access"]
    rid = answer.headers["x-request-id"]
    [line] = [entry for entry in access if entry.get("request_id") == rid]
    assert '"GET /healthz" 200' in line["message"]
    assert line["level"] == "INFO"
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)
    assert AUTH_TOKEN not in log
