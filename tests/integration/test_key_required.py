"""No GraphQL runs without a live key, however the request is spelled: every spelling of a
document an attacker might try (percent-encoding, parameter case and order, Accept headers,
GET or POST, content types) is refused before execution, and the GraphiQL page is served by a
handler that can never execute a document."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import Api, Keys
from tests.integration.documents import INTEGRATION

DOCUMENT = "{ __typename }"
HTML = {"Accept": "text/html"}
JSON = {"content-type": "application/json"}


def get(query_string: str, headers: dict[str, str]) -> Callable[[httpx.AsyncClient], Any]:
    return lambda http: http.get(f"/graphql?{query_string}", headers=headers)


def post(content: bytes, headers: dict[str, str], path: str = "/graphql") -> Any:
    return lambda http: http.post(path, content=content, headers=headers)


BODY = b'{"query": "{ __typename }"}'
ATTACKS: dict[str, Callable[[httpx.AsyncClient], Any]] = {
    "GET, html, percent-encoded name": get("%71uery=%7B__typename%7D", HTML),
    "GET, html, fully percent-encoded name": get("%71%75%65%72%79={__typename}", HTML),
    "GET, html, upper-case name": get("QUERY={__typename}", HTML),
    "GET, html, query after other parameters": get(
        "operationName=&variables={}&query={__typename}", HTML
    ),
    "GET, html, query twice": get("query=&query={__typename}", HTML),
    "GET, html, plus for space": get("query={+__typename+}", HTML),
    "GET, upper-case HTML accept": get("%71uery={__typename}", {"Accept": "TEXT/HTML"}),
    "GET, html among others": get(
        "%71uery={__typename}", {"Accept": "application/json;q=0.9, text/html"}
    ),
    "GET, any accept": get("query={__typename}", {"Accept": "*/*"}),
    "GET, json accept": get("query={__typename}", {"Accept": "application/json"}),
    "GET, no accept": get("query={__typename}", {}),
    "GET, multipart subscription accept": get(
        "query={__typename}", {"Accept": "multipart/mixed;subscriptionSpec=1.0"}
    ),
    "GET, event stream accept": get("query={__typename}", {"Accept": "text/event-stream"}),
    "POST json": post(BODY, JSON),
    "POST json, html accept": post(BODY, JSON | HTML),
    "POST json, query in the URL too": post(BODY, JSON | HTML, "/graphql?query={__typename}"),
    "POST application/graphql": post(b"{ __typename }", {"content-type": "application/graphql"}),
    "POST form": post(b"query={__typename}", {"content-type": "application/x-www-form-urlencoded"}),
    "POST text/plain": post(BODY, {"content-type": "text/plain"}),
    "POST empty key": post(BODY, JSON | {"Authorization": "Bearer "}),
    "POST unknown key": post(BODY, JSON | {"Authorization": "Bearer sms_00000000_nope"}),
    "POST basic scheme": post(BODY, JSON | {"Authorization": "Basic c21zOnNtcw=="}),
    "HEAD": lambda http: http.head("/graphql?query={__typename}", headers=HTML),
}


@pytest.fixture
async def open_api(make_api: Callable[..., Any]) -> AsyncIterator[Api]:
    """The app with a failure limit high enough that every attack is answered 401, not 429."""
    async with make_api(auth_failures_per_second=10_000) as built:
        yield built


@pytest.mark.parametrize("spelling", list(ATTACKS))
async def test_no_spelling_of_a_request_runs_graphql_without_a_key(
    open_api: Api, spelling: str
) -> None:
    response = await ATTACKS[spelling](open_api.http)

    assert response.status_code == 401, (spelling, response.status_code, response.text)
    assert "Query" not in response.text, "the document was executed"


async def test_the_graphiql_page_is_html_that_ran_nothing(open_api: Api) -> None:
    response = await open_api.http.get(
        "/graphql?variables={}&operationName=x&extensions={}", headers=HTML
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '"data"' not in response.text


async def test_with_graphiql_turned_off_a_browser_needs_a_key_too(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(graphiql=False) as api:
        response = await api.http.get("/graphql", headers=HTML)

    assert response.status_code == 401


async def test_a_browser_with_a_key_still_runs_its_query_over_get(
    open_api: Api, keys: Keys
) -> None:
    response = await open_api.http.get(
        "/graphql",
        params={"query": INTEGRATION},
        headers=HTML | {"Authorization": f"Bearer {keys.admin}"},
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"smsIntegration": {"enabled": False}}}
