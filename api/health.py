"""``/healthz`` (the process is alive), ``/readyz`` (it can serve: the database answers) and
``/statusz`` (counts only: open websockets and asyncio tasks)."""

from __future__ import annotations

import asyncio
import logging
import math

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from api.bootstrap import Runtime
from api.graphql import GraphQLApp
from providers.cache_versions import RedisVersions
from providers.redis_bus import RedisBus

log = logging.getLogger("sms_accounts")


def health_routes(runtime: Runtime, graphql_app: GraphQLApp) -> list[Route]:
    carrier = runtime.bus

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
        if isinstance(carrier, RedisBus) and not carrier.connected.is_set():
            # Not ready while deaf to the bus: its subscriptions would miss the other replicas'
            # events. It still answers what reaches it (the database is the truth).
            return JSONResponse(
                {"database": "ok", **bus_state()},
                status_code=503,
                headers={"Retry-After": str(math.ceil(runtime.settings.bus_reconnect_max_seconds))},
            )
        return JSONResponse({"database": "ok", **bus_state()})

    def bus_state() -> dict[str, str]:
        if not isinstance(carrier, RedisBus):
            return {}
        return {"bus": "ok" if carrier.connected.is_set() else "reconnecting"}

    async def statusz(_: Request) -> JSONResponse:
        """Counts only (no names, no keys): lets an operator, and the e2e tests, see that
        closed websockets leave no task behind."""
        counts: dict[str, object] = {
            "websockets": graphql_app.open_websockets,
            "tasks": len(asyncio.all_tasks()),
        }
        fanout = getattr(graphql_app.schema, "fanout", None)
        if fanout is not None:
            # Events serialized once for all the subscribers of a shared subscription.
            counts["shared_serializations"] = fanout.serializations
        # What was read from Redis and refused (forged, replayed, malformed), by reason.
        if isinstance(carrier, RedisBus):
            counts["bus_refused"] = dict(carrier.refused.counts)
        versions = None if runtime.answers is None else runtime.answers.versions
        if isinstance(versions, RedisVersions):
            counts["cache_versions_refused"] = dict(versions.refused.counts)
        return JSONResponse(counts)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/statusz", statusz, methods=["GET"]),
    ]
