"""The GraphiQL page and every file it loads come from this server (it must work offline)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.conftest import Api

HTML = {"Accept": "text/html"}


async def page_references(api: Api) -> list[str]:
    page = await api.http.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)


async def test_every_file_the_page_loads_is_served_with_its_type_and_kept_by_browsers(
    api: Api,
) -> None:
    references = await page_references(api)

    assert len(references) == 7
    for reference in references:
        response = await api.http.get(reference, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, reference
        kind = "text/css" if ".css?" in reference else "text/javascript"
        assert response.headers["content-type"] == f"{kind}; charset=utf-8"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.content


async def test_graphiql_itself_travels_compressed(api: Api) -> None:
    script = next(ref for ref in await page_references(api) if "/graphiql.min.js" in ref)

    response = await api.http.get(script, headers={"Accept-Encoding": "gzip"})

    assert response.headers["content-encoding"] == "gzip"
    assert response.num_bytes_downloaded < len(response.content) / 2


async def test_only_the_files_of_the_page_are_served_from_the_static_folder(api: Api) -> None:
    for path in ("SOURCE.md", "LICENSE.react", "..%2F..%2Fsettings.py", "nothing.js"):
        response = await api.http.get(f"/static/graphiql/{path}")
        assert response.status_code == 404, path


async def test_with_graphiql_switched_off_its_files_are_not_served(
    make_api: Callable[..., Any],
) -> None:
    async with make_api(graphiql=False) as api:
        page = await api.http.get("/graphql", headers=HTML)
        script = await api.http.get("/static/graphiql/graphiql.min.js")

    assert "static/graphiql" not in page.text
    assert script.status_code == 404
