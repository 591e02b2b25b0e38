"""The JSON body of a request refused before GraphQL runs, shaped like a GraphQL error."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response


def refusal(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers)
