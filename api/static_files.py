"""The files a page of this server loads (GraphiQL's, the SMS Accounts page's): each named in its
URL with a hash of its content, so browsers may keep it for good, and gzipped."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# Asset URLs carry a hash of their content, so browsers may keep them for good.
CACHE_FOREVER = "public, max-age=31536000, immutable"


def hashed_url(directory: Path, url: str, name: str) -> str:
    """``url/name?v=<the first 16 hex digits of the file's SHA-256>``."""
    digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()[:16]
    return f"{url}/{name}?v={digest}"


def static_files(url: str, directory: Path, names: Collection[str], *, gzip_from: int) -> Mount:
    """``url/<name>`` for the listed files only (anything else in the folder, licences and
    notes included, is a 404), gzipped from ``gzip_from`` bytes."""

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in names:
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(
            directory / name,
            media_type=CONTENT_TYPES[Path(name).suffix],
            headers={"Cache-Control": CACHE_FOREVER, "X-Content-Type-Options": "nosniff"},
        )

    files = Router(routes=[Route("/{name}", serve, methods=["GET", "HEAD"])])
    return Mount(url, app=GZipMiddleware(files, minimum_size=gzip_from))
