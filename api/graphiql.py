"""The GraphiQL page and its assets, all served by this server so GraphiQL works with no internet
(air-gapped hosts, corporate proxies). The vendored files, their versions and licences are listed
in ``api/static/graphiql/SOURCE.md``; ``scripts/vendor-graphiql`` refreshes them."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, Router

ASSET_DIR = Path(__file__).parent / "static" / "graphiql"
ASSET_URL = "/static/graphiql"
# In load order: React first, GraphiQL (which the explorer plugin extends), then our page.
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql-explorer.umd.js",
    "page.js",
)
STYLES = ("graphiql.min.css", "graphiql-explorer.css")
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Asset URLs carry a hash of their content, so browsers may keep them for good.
_CACHE_FOREVER = "public, max-age=31536000, immutable"
# The browser itself refuses anything not from this origin; GraphiQL's editors inject styles and
# its fonts and icons are data: URLs. Subscriptions connect to the same origin over websockets.
# No site may frame the page (a <meta> policy cannot say so: it is sent as a header).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>sms-accounts GraphiQL</title>
    <link rel="icon" href="data:,">
{styles}
    <style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
{scripts}
  </body>
</html>
"""


def asset_url(name: str) -> str:
    digest = hashlib.sha256((ASSET_DIR / name).read_bytes()).hexdigest()[:16]
    return f"{ASSET_URL}/{name}?v={digest}"


@functools.cache
def graphiql_html() -> str:
    """The page: built once per process, since the files it points at only change on upgrade."""
    styles = "\n".join(f'    <link rel="stylesheet" href="{asset_url(n)}">' for n in STYLES)
    scripts = "\n".join(f'    <script src="{asset_url(n)}"></script>' for n in SCRIPTS)
    return _PAGE.format(styles=styles, scripts=scripts)


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in SCRIPTS and name not in STYLES:
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(
        ASSET_DIR / name,
        media_type=_CONTENT_TYPES[Path(name).suffix],
        headers={"Cache-Control": _CACHE_FOREVER, "X-Content-Type-Options": "nosniff"},
    )


def asset_routes() -> list[BaseRoute]:
    """The page's scripts and styles, gzipped (GraphiQL is 1.4 MB, 0.4 MB compressed)."""
    files = Router(routes=[Route("/{name}", _asset, methods=["GET", "HEAD"])])
    return [Mount(ASSET_URL, app=GZipMiddleware(files, minimum_size=1024))]
