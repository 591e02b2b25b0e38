"""The SMS Accounts page and every file it loads come from this server, content-hashed, gzipped
and under a policy that lets the browser run and reach nothing else; it is off in production
unless SMS_ACCOUNTS_PAGE turns it on."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api

HTML = {"Accept": "text/html"}


async def page_references(api: Api) -> list[str]:
    page = await api.http.get("/accounts", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    found = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    found += re.findall(r'"(/static/accounts/[^"]+\?v=[0-9a-f]+)"', page.text)  # the import map
    return sorted(set(found))


async def test_every_file_the_page_loads_is_served_hashed_with_its_type_and_kept_by_browsers(
    api: Api,
) -> None:
    references = await page_references(api)

    names = {reference.split("?")[0].rsplit("/", 1)[1] for reference in references}
    assert names >= {"main.js", "api.js", "account-dialog.js", "graphql-ws.min.js", "accounts.css"}
    for reference in references:
        assert re.search(r"\?v=[0-9a-f]{16}$", reference), reference
        response = await api.http.get(reference, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, reference
        kind = "text/css" if ".css?" in reference else "text/javascript"
        assert response.headers["content-type"] == f"{kind}; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_files_travel_gzipped_from_about_one_packet(api: Api) -> None:
    references = await page_references(api)
    client = next(ref for ref in references if "/graphql-ws.min.js" in ref)

    response = await api.http.get(client, headers={"Accept-Encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"
    assert response.num_bytes_downloaded < len(response.content) / 2


async def test_the_page_may_run_scripts_and_connect_only_to_this_server_and_is_never_framed(
    api: Api,
) -> None:
    page = await api.http.get("/accounts", headers=HTML)

    policy = {
        part.split()[0]: part.split()[1:]
        for part in page.headers["content-security-policy"].split(";")
        if part.strip()
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    [self_, import_map] = policy["script-src"]
    assert self_ == "'self'"
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", import_map)
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-cache"


async def test_only_the_files_of_the_page_are_served_from_its_folder(api: Api) -> None:
    for path in ("SOURCE.md", "LICENSE.graphql-ws", "..%2F..%2Fsettings.py", "nothing.js"):
        response = await api.http.get(f"/static/accounts/{path}")
        assert response.status_code == 404, path


@pytest.mark.parametrize(
    ("overrides", "served"),
    [
        ({"accounts_page": False}, False),
        ({"env": "production"}, False),
        ({"env": "production", "accounts_page": True}, True),
    ],
)
async def test_sms_accounts_page_turns_the_page_and_its_files_on_or_off(
    make_api: Callable[..., Any], overrides: dict[str, Any], served: bool
) -> None:
    async with make_api(**overrides) as api:
        page = await api.http.get("/accounts", headers=HTML)
        script = await api.http.get("/static/accounts/main.js")

    assert (page.status_code, script.status_code) == ((200, 200) if served else (404, 404))
