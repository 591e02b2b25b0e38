"""The SMS Accounts page at ``/accounts``: the reference client of this API, served by this server
like GraphiQL so it works with no internet. Plain JavaScript modules, no build step: the files in
``api/static/accounts/`` are what the browser runs (``SOURCE.md`` there lists the one vendored
file, the stock ``graphql-ws`` client, which ``scripts/vendor-accounts-page`` reproduces)."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

ASSET_DIR = Path(__file__).parent / "static" / "accounts"
ASSET_URL = "/static/accounts"
PAGE_PATH = "/accounts"
# graphql-ws's browser build is a classic script (it sets window.graphqlWs); it runs before the
# modules, which are deferred and run in document order after it.
SCRIPTS = ("graphql-ws.min.js",)
# The page's own modules; main.js imports the others by relative path ("./api.js").
MODULES = (
    "main.js",
    "api.js",
    "dom.js",
    "session.js",
    "accounts.js",
    "account-dialog.js",
    "senders.js",
    "messages.js",
)
STYLES = ("accounts.css",)
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Asset URLs carry a hash of their content, so browsers may keep them for good.
_CACHE_FOREVER = "public, max-age=31536000, immutable"
# Gzip what is larger than about one packet: below that it saves nothing on the wire.
_GZIP_FROM_BYTES = 1400

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>SMS Accounts</title>
    <link rel="icon" href="data:,">
{styles}
    <script type="importmap">{import_map}</script>
{scripts}
  </head>
  <body>
    <main id="app" aria-busy="true"><p>Loading the SMS Accounts page…</p></main>
    <noscript>This page needs JavaScript.</noscript>
  </body>
</html>
"""


def _digest(name: str) -> str:
    return hashlib.sha256((ASSET_DIR / name).read_bytes()).hexdigest()[:16]


def asset_url(name: str) -> str:
    return f"{ASSET_URL}/{name}?v={_digest(name)}"


@functools.cache
def import_map() -> str:
    """Every module's plain URL mapped to its hashed one: a module imports "./api.js" and the
    browser fetches ``api.js?v=<hash>``, so every file, not only the entry point, is cached for
    good and replaced when it changes."""
    imports = {f"{ASSET_URL}/{name}": asset_url(name) for name in MODULES}
    return json.dumps({"imports": imports}, separators=(",", ":"))


@functools.cache
def content_security_policy() -> str:
    """Scripts from this server only, plus the one inline import map, allowed by its hash (the
    browser runs no other inline script); connections (fetch, websocket) to this origin only."""
    digest = base64.b64encode(hashlib.sha256(import_map().encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # The HTML names the current hashes: always ask again, so an upgrade shows at once.
        "Cache-Control": "no-cache",
    }


@functools.cache
def accounts_html() -> str:
    """The page: built once per process, since the files it points at only change on upgrade."""
    styles = "\n".join(f'    <link rel="stylesheet" href="{asset_url(n)}">' for n in STYLES)
    classic = [f'    <script defer src="{asset_url(n)}"></script>' for n in SCRIPTS]
    entry = f'    <script type="module" src="{asset_url(MODULES[0])}"></script>'
    return _PAGE.format(
        styles=styles, import_map=import_map(), scripts="\n".join([*classic, entry])
    )


async def _page(_: Request) -> Response:
    return HTMLResponse(accounts_html(), headers=page_headers())


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in SCRIPTS + MODULES + STYLES:
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(
        ASSET_DIR / name,
        media_type=_CONTENT_TYPES[Path(name).suffix],
        headers={"Cache-Control": _CACHE_FOREVER, "X-Content-Type-Options": "nosniff"},
    )


def accounts_page_routes() -> list[BaseRoute]:
    """``/accounts`` and its files, gzipped."""
    files = Router(routes=[Route("/{name}", _asset, methods=["GET", "HEAD"])])
    return [
        Route(PAGE_PATH, _page, methods=["GET", "HEAD"]),
        Mount(ASSET_URL, app=GZipMiddleware(files, minimum_size=_GZIP_FROM_BYTES)),
    ]
