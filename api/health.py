"""``/healthz`` (the process is alive), ``/readyz`` (it can serve: the database answers) and
``/statusz`` (counts only: open websockets and asyncio tasks)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from api.bootstrap import Runtime
from api.graphql import GraphQLApp
from providers.redis_bus import RedisBus

log = logging.getLogger("sms_accounts")


def health_routes(runtime: Runtime, graphql_app: GraphQLApp) -> list[Route]:
    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with runtime.database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            log.warning("readiness check: database unreachable")
            return JSONResponse(
                {"database": "unreachable", **bus_state()},
                status_code=503,
                headers={"Retry-After": str(runtime.settings.db_retry_after_seconds)},
            )
        return JSONResponse({"database": "ok", **bus_state()})

    def bus_state() -> dict[str, str]:
        """Shown, not judged: without Redis a replica still serves (the database is the truth)."""
        bus = runtime.bus
        if not isinstance(bus, RedisBus):
            return {}
        return {"bus": "ok" if bus.connected.is_set() else "reconnecting"}

    async def statusz(_: Request) -> JSONResponse:
        """Counts only (no names, no keys): lets an operator, and the e2e tests, see that
        closed websockets leave no task behind."""
        return JSONResponse(
            {"websockets": graphql_app.open_websockets, "tasks": len(asyncio.all_tasks())}
        )

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/statusz", statusz, methods=["GET"]),
    ]
