"""The GraphiQL page and its assets, all served by this server so GraphiQL works with no internet
(air-gapped hosts, corporate proxies). The vendored files, their versions and licences are listed
in ``api/static/graphiql/SOURCE.md``; ``scripts/vendor-graphiql`` refreshes them."""

from __future__ import annotations

import functools
from pathlib import Path

from starlette.routing import BaseRoute

from api.static_files import hashed_url, static_files

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
    return hashed_url(ASSET_DIR, ASSET_URL, name)


@functools.cache
def graphiql_html() -> str:
    """The page: built once per process, since the files it points at only change on upgrade."""
    styles = "\n".join(f'    <link rel="stylesheet" href="{asset_url(n)}">' for n in STYLES)
    scripts = "\n".join(f'    <script src="{asset_url(n)}"></script>' for n in SCRIPTS)
    return _PAGE.format(styles=styles, scripts=scripts)


def asset_routes() -> list[BaseRoute]:
    """The page's scripts and styles, gzipped (GraphiQL is 1.4 MB, 0.4 MB compressed)."""
    return [static_files(ASSET_URL, ASSET_DIR, SCRIPTS + STYLES, gzip_from=1024)]
