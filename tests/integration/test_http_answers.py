"""What a browser or a client meets outside GraphQL's own answers: where `/` leads, errors that
are JSON whoever wrote them, HTML that no other site may frame, and page sizes that are refused
rather than quietly changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api, Keys
from tests.integration.messaging import MESSAGES

HTML = {"Accept": "text/html"}


async def test_the_root_leads_to_the_accounts_page_in_development(api: Api) -> None:
    response = await api.http.get("/", headers=HTML)

    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/accounts"


async def test_the_root_leads_to_graphiql_when_the_accounts_page_is_off(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(accounts_page=False) as api:
        response = await api.http.get("/", headers=HTML)

    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/graphql"


async def test_the_root_is_a_json_404_in_production(make_api: Callable[..., Any]) -> None:
    async with make_api(env="production") as api:
        response = await api.http.get("/", headers=HTML)

    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def error_of(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/json", response.text
    [error] = response.json()["errors"]
    assert error["message"]
    return error  # type: ignore[no-any-return]


async def test_refusals_outside_graphql_are_json_too(api: Api, keys: Keys) -> None:
    key = {"Authorization": f"Bearer {keys.admin}"}
    form = {"Content-Type": "text/plain"}
    answers = {
        "PUT /graphql": await api.http.put("/graphql", headers=key, json={"query": "{ x }"}),
        "POST /healthz": await api.http.post("/healthz"),
        "GET webhook": await api.http.get("/webhooks/twilio/x/status"),
        "webhook as text": await api.http.post("/webhooks/twilio/x/status", headers=form),
        "GET /nowhere": await api.http.get("/nowhere"),
        "unknown asset": await api.http.get("/static/graphiql/nothing.js"),
        "GET without a document": await api.http.get("/graphql", headers=key),
        "GET with an empty document": await api.http.get("/graphql?query=", headers=key),
        "POST without a document": await api.http.post("/graphql", headers=key, json={}),
    }

    codes = {
        what: (r.status_code, error_of(r)["extensions"]["code"]) for what, r in answers.items()
    }
    assert codes == {
        "PUT /graphql": (405, "METHOD_NOT_ALLOWED"),
        "POST /healthz": (405, "METHOD_NOT_ALLOWED"),
        "GET webhook": (405, "METHOD_NOT_ALLOWED"),
        "webhook as text": (415, "UNSUPPORTED_MEDIA_TYPE"),
        "GET /nowhere": (404, "NOT_FOUND"),
        "unknown asset": (404, "NOT_FOUND"),
        "GET without a document": (404, "NOT_FOUND"),
        "GET with an empty document": (400, "BAD_REQUEST"),
        "POST without a document": (400, "BAD_REQUEST"),
    }
    assert "POST" in error_of(answers["GET webhook"])["message"]
    assert "/graphql" in error_of(answers["GET /nowhere"])["message"]
    assert answers["PUT /graphql"].headers["allow"]


async def test_no_other_site_may_frame_the_graphiql_page(api: Api) -> None:
    page = await api.http.get("/graphql", headers=HTML)

    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    policy = [part.strip() for part in page.headers["content-security-policy"].split(";")]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "http-equiv" not in page.text  # one policy, in the header


@pytest.mark.parametrize("first", [-1, 101, 1_000_000])
async def test_a_page_size_out_of_range_is_refused_as_bad_input(
    api: Api, keys: Keys, first: int
) -> None:
    result = await api.run(keys.sales, MESSAGES, {"first": first})

    assert result["data"] is None
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == f"first must be from 0 to 100; got {first}."
