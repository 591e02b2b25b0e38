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

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from api.static_files import hashed_url, static_files

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
    "wiring.js",
    "campaigns.js",
)
STYLES = ("accounts.css",)
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


def asset_url(name: str) -> str:
    return hashed_url(ASSET_DIR, ASSET_URL, name)


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


def accounts_page_routes() -> list[BaseRoute]:
    """``/accounts`` and its files."""
    return [
        Route(PAGE_PATH, _page, methods=["GET", "HEAD"]),
        static_files(ASSET_URL, ASSET_DIR, SCRIPTS + MODULES + STYLES, gzip_from=_GZIP_FROM_BYTES),
    ]
