"""CORS for single-page apps on their own origin: preflights answered without a key, answers
readable by allowed pages only, the development default and production's none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Keys
from tests.integration.documents import INTEGRATION

APP = "https://app.example"
VITE = "http://127.0.0.1:5173"
EVIL = "https://evil.example"


async def preflight(http: httpx.AsyncClient, origin: str) -> httpx.Response:
    return await http.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


async def query_from(http: httpx.AsyncClient, origin: str, key: str | None) -> httpx.Response:
    headers = {"Origin": origin} | ({} if key is None else {"Authorization": f"Bearer {key}"})
    return await http.post("/graphql", json={"query": INTEGRATION}, headers=headers)


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    }


async def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(allowed_origins=APP) as api:
        response = await preflight(api.http, APP)

    assert response.status_code == 204
    assert cors_headers(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": "Authorization, Content-Type, X-Request-Id",
        "access-control-max-age": "600",
    }
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers


async def test_preflights_are_not_failed_authentications(make_api: Callable[..., Any]) -> None:
    async with make_api(allowed_origins=APP, auth_failures_per_second=1) as api:
        for _ in range(5):
            assert (await preflight(api.http, APP)).status_code == 204

        # One failure a second is allowed: the first wrong key is a 401, not a 429.
        first_failure = await query_from(api.http, APP, "sms_wrong_key")

    assert first_failure.status_code == 401


async def test_an_allowed_page_reads_answers_errors_and_the_request_id(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    async with make_api(allowed_origins=f"{EVIL}x, {APP}") as api:
        answered = await query_from(api.http, APP, keys.sales)
        refused = await query_from(api.http, APP, None)

    for response in (answered, refused):
        assert response.headers["access-control-allow-origin"] == APP
        assert response.headers["access-control-expose-headers"] == "X-Request-Id"
        assert response.headers["vary"] == "Origin"
        assert response.headers["x-request-id"]
    assert answered.json() == {"data": {"smsIntegration": {"enabled": False}}}
    assert refused.status_code == 401


async def test_another_origin_gets_no_cors_headers(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    async with make_api(allowed_origins=APP) as api:
        asked = await preflight(api.http, EVIL)
        answered = await query_from(api.http, EVIL, keys.sales)
        same_origin = await api.http.post(
            "/graphql",
            json={"query": INTEGRATION},
            headers={"Authorization": f"Bearer {keys.sales}"},
        )

    assert asked.status_code == 403
    assert asked.json()["errors"][0]["message"] == (
        "Cross-origin requests from this page's origin are not allowed: add the origin to "
        "SMS_ALLOWED_ORIGINS."
    )
    for response in (asked, answered, same_origin):
        assert cors_headers(response) == {}
        assert response.headers["vary"] == "Origin"


async def test_development_allows_pages_on_this_machine_by_default(
    make_api: Callable[..., Any],
) -> None:
    async with make_api() as api:
        allowed = [
            (await preflight(api.http, origin)).status_code
            for origin in (VITE, "http://localhost:3000", "http://[::1]:8080", "http://localhost")
        ]
        refused = [
            (await preflight(api.http, origin)).status_code
            for origin in ("http://192.168.1.20:5173", "http://localhost.evil.example", "null")
        ]

    assert allowed == [204, 204, 204, 204]
    assert refused == [403, 403, 403]


async def test_production_allows_no_other_origin_unless_listed(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(env="production") as api:
        assert (await preflight(api.http, VITE)).status_code == 403
    async with make_api(env="production", allowed_origins=APP) as api:
        assert (await preflight(api.http, APP)).status_code == 204
        assert (await preflight(api.http, VITE)).status_code == 403


async def test_listed_origins_replace_the_development_default(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(allowed_origins=APP) as api:
        assert (await preflight(api.http, VITE)).status_code == 403


async def test_a_star_allows_any_page_but_never_credentials(
    make_api: Callable[..., Any], keys: Keys
) -> None:
    async with make_api(env="production", allowed_origins="*") as api:
        asked = await preflight(api.http, EVIL)
        answered = await query_from(api.http, EVIL, keys.sales)
        from_a_file = await preflight(api.http, "null")

    assert asked.status_code == 204
    assert answered.headers["access-control-allow-origin"] == EVIL
    assert "access-control-allow-credentials" not in answered.headers
    assert from_a_file.status_code == 403


async def test_the_preflight_max_age_is_a_setting(make_api: Callable[..., Any]) -> None:
    async with make_api(allowed_origins=APP, cors_max_age_seconds=60) as api:
        response = await preflight(api.http, APP)

    assert response.headers["access-control-max-age"] == "60"
