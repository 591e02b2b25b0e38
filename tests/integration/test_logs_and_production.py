"""What the logs may hold, and production mode, tried from outside over the ASGI app."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from api.cli import main
from api.logs import JsonFormatter, TextFormatter
from tests.conftest import AUTH_TOKEN, Api, Keys

INTROSPECTION = "query { __schema { types { name } } }"
MISSPELLED = "query { smsAcounts { stats { connected } } }"


async def test_a_query_string_carrying_a_token_never_reaches_the_access_log(
    api: Api, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await api.http.get(
        "/graphql",
        params={"query": "{ smsIntegration { enabled } }", "authToken": AUTH_TOKEN},
        headers={"Authorization": f"Bearer {keys.admin}"},
    )

    assert response.status_code == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "sms_accounts.access"]
    assert '"GET /graphql" 200' in line
    # The test's own client (logger "httpx") logs the URL it sent; the server must not.
    server_lines = "\n".join(r.getMessage() for r in caplog.records if r.name != "httpx")
    assert AUTH_TOKEN not in server_lines
    assert "authToken" not in server_lines


async def test_every_response_carries_a_request_id_that_the_log_lines_share(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = await api.http.get("/healthz")
    second = await api.http.get("/healthz")

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert len(ids[0]) == 32
    assert ids[0] != ids[1]


@contextmanager
def access_lines(formatter: logging.Formatter) -> Iterator[io.StringIO]:
    """The access log as ``formatter`` writes it (SMS_LOG_FORMAT's text or json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    access = logging.getLogger("sms_accounts.access")
    level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        access.removeHandler(handler)
        access.setLevel(level)


async def test_an_incoming_request_id_is_only_a_parent_beside_our_own_unique_id(
    api: Api,
) -> None:
    with access_lines(TextFormatter("%(message)s")) as text, access_lines(JsonFormatter()) as js:
        earlier = await api.http.get("/healthz")
        theirs = earlier.headers["x-request-id"]  # a client reusing another request's id
        reused = await api.http.get("/healthz", headers={"X-Request-Id": theirs})
        plain = await api.http.get("/healthz", headers={"X-Request-Id": "lb-7f3a.2:9"})
        forged = await api.http.get("/healthz", headers={"X-Request-Id": 'x" 200\nfake line'})

    ours = [response.headers["x-request-id"] for response in (earlier, reused, plain, forged)]
    assert len(set(ours)) == 4
    assert all(len(rid) == 32 for rid in ours)
    lines = text.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith(f"[request {ours[0]}]")
    assert lines[1].endswith(f"[request {ours[1]} parent {theirs}]")
    assert lines[2].endswith(f"[request {ours[2]} parent lb-7f3a.2:9]")
    assert lines[3].endswith(f"[request {ours[3]}]")  # not plain: dropped
    entries = [json.loads(line) for line in js.getvalue().splitlines()]
    assert [entry.get("parent_request_id") for entry in entries] == [
        None,
        theirs,
        "lb-7f3a.2:9",
        None,
    ]
    assert [entry["request_id"] for entry in entries] == ours


async def graphiql_page(api: Api) -> Any:
    return await api.http.get("/graphql", headers={"Accept": "text/html"})


async def test_development_serves_graphiql_introspection_and_suggestions(
    api: Api, keys: Keys
) -> None:
    assert (await graphiql_page(api)).status_code == 200
    assert "errors" not in await api.run(keys.admin, INTROSPECTION)
    misspelled = await api.run(keys.admin, MISSPELLED)
    assert "Did you mean" in misspelled["errors"][0]["message"]


async def test_production_turns_off_graphiql_introspection_and_suggestions(
    make_api: Any, keys: Keys
) -> None:
    async with make_api(env="production") as api:
        page = await graphiql_page(api)
        introspection = await api.run(keys.admin, INTROSPECTION)
        misspelled = await api.run(keys.admin, MISSPELLED)
        still_works = await api.data(keys.admin, "{ smsIntegration { enabled } }")

    assert page.status_code == 401
    assert "graphiql" not in page.text.lower()
    assert introspection["data"] is None
    assert "introspection" in introspection["errors"][0]["message"].lower()
    message = misspelled["errors"][0]["message"]
    assert message == "Cannot query field 'smsAcounts' on type 'Query'."
    assert still_works == {"smsIntegration": {"enabled": False}}


@pytest.mark.parametrize(
    ("env", "graphiql", "served"), [("production", True, True), ("development", False, False)]
)
async def test_sms_graphiql_overrides_the_environment_when_set(
    make_api: Any, env: str, graphiql: bool, served: bool
) -> None:
    async with make_api(env=env, graphiql=graphiql) as api:
        page = await graphiql_page(api)
    assert (page.status_code == 200) is served


def test_production_refuses_to_start_without_encryption_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    monkeypatch.setenv("SMS_ENV", "production")
    monkeypatch.setenv("SMS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/sms.db")
    monkeypatch.delenv("SMS_ENCRYPTION_KEYS", raising=False)

    assert main(["migrate"]) == 2

    error = capsys.readouterr().err
    assert "SMS_ENV=production needs SMS_ENCRYPTION_KEYS" in error
    assert not (tmp_path / "sms.db").exists()


async def test_an_encoded_newline_in_the_path_cannot_forge_an_access_line(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await api.http.get("/healthz%0A127.0.0.1%20%22GET%20/admin%22%20200")

    [line] = [r.getMessage() for r in caplog.records if r.name == "sms_accounts.access"]
    assert "\n" not in line
    assert "%0A" in line
