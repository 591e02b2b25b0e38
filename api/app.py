"""The one place that wires dependencies: ``create_app`` builds everything a request needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from api.auth import KeyAuthenticator, RequireApiKey
from api.graphql import GraphQLApp
from api.outages import AnswerOutagesWith503
from api.settings import Settings, load_settings
from api.webhooks import webhook_routes
from providers.bus import EventBus, MemoryBus
from providers.host_policy import Resolver, system_resolver
from providers.redis_bus import RedisBus
from providers.transport import create_http_client
from providers.twilio import RetryPolicy, TwilioClient
from resolvers.services import Services
from resolvers.verification import Verifier
from resolvers.wire import EVENTS
from schema import build_schema
from storage.crypto import SecretBox, load_or_create_key_file
from storage.db import create_engine, create_sessionmakers, is_outage, sqlite_path

log = logging.getLogger("sms_accounts")


class ConfigurationError(Exception):
    """The app cannot start with these settings; the message says what to set."""


def key_file_for(settings: Settings) -> Path | None:
    """Where the embedded default keeps its generated key: beside the SQLite database."""
    path = sqlite_path(settings.database_url)
    return None if path is None else path.with_name(path.stem + ".key")


def secret_box(settings: Settings) -> SecretBox:
    keys = settings.encryption_key_list
    if keys:
        return SecretBox(keys)
    key_file = key_file_for(settings)
    if key_file is None:
        raise ConfigurationError(
            "SMS_ENCRYPTION_KEYS is required with this database: set it to a base64 32-byte key "
            '(python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())")'
        )
    key, created = load_or_create_key_file(key_file)
    if created:
        log.warning(
            "Generated an encryption key for Auth Tokens at %s (mode 0600). Back it up with the "
            "database, or set SMS_ENCRYPTION_KEYS.",
            key_file,
        )
    return SecretBox([key])


def event_bus(settings: Settings) -> EventBus:
    """The bus named by ``SMS_BROADCAST_URL``: in-process, or Redis pub/sub across replicas."""
    if settings.broadcast_url == "memory://":
        return MemoryBus(settings.subscriber_queue_size)
    return RedisBus(
        settings.broadcast_url,
        EVENTS,
        queue_size=settings.subscriber_queue_size,
        outbox_size=settings.bus_outbox_size,
        reconnect_min_seconds=settings.bus_reconnect_min_seconds,
        reconnect_max_seconds=settings.bus_reconnect_max_seconds,
    )


def create_app(
    settings: Settings | None = None,
    *,
    twilio_transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver | None = None,
) -> Starlette:
    """Build the ASGI app. Tests pass their own settings, a Twilio transport (respx) and a DNS
    resolver; nothing here reads the environment unless ``settings`` is None."""
    settings = settings or load_settings()
    resolver = resolver or system_resolver
    engine = create_engine(settings.database_url, echo=settings.log_sql)
    reads, writes = create_sessionmakers(engine)
    policy = settings.host_policy
    http = create_http_client(policy, resolver, transport=twilio_transport)
    twilio = TwilioClient(http, RetryPolicy(base_seconds=settings.retry_base_seconds))
    verifier = Verifier(twilio, max_in_flight=settings.max_concurrent_checks)
    services = Services(
        reads=reads,
        writes=writes,
        secrets=secret_box(settings),
        host_policy=policy,
        resolver=resolver,
        public_url=settings.public_url,
        bus=event_bus(settings),
        twilio=twilio,
        verifier=verifier,
        verify_lease_seconds=settings.verify_lease_seconds,
        webhook_token_grace_seconds=settings.webhook_token_grace_seconds,
    )
    authenticator = KeyAuthenticator(reads)
    graphql_app = GraphQLApp(
        build_schema(),
        services,
        graphiql=settings.graphiql,
        authenticator=authenticator,
        allowed_origins=settings.origin_list,
        key_recheck_seconds=settings.key_recheck_seconds,
    )
    graphql = RequireApiKey(graphql_app, authenticator, graphiql=settings.graphiql)

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            log.warning("readiness check: database unreachable")
            return JSONResponse(
                {"database": "unreachable", **bus_state()},
                status_code=503,
                headers={"Retry-After": str(settings.db_retry_after_seconds)},
            )
        return JSONResponse({"database": "ok", **bus_state()})

    def bus_state() -> dict[str, str]:
        """Shown, not judged: without Redis a replica still serves (the database is the truth)."""
        bus = services.bus
        if not isinstance(bus, RedisBus):
            return {}
        return {"bus": "ok" if bus.connected.is_set() else "reconnecting"}

    stopping = asyncio.Event()

    async def sweep_until_stopped() -> None:
        """Pick up checks whose process died: at start, then every sweep interval."""
        interval = settings.verify_sweep_seconds
        delay = interval
        while not stopping.is_set():
            try:
                picked = await verifier.sweep(services)
                if picked:
                    log.info("resumed %d verification(s) whose lease had expired", picked)
                delay = interval
            except Exception as exc:
                # A database outage is waited out, more patiently each time (up to 4 intervals).
                if not is_outage(exc):
                    log.exception("verification sweep failed; trying again later")
                elif delay == interval:
                    log.warning("verification sweep: database unavailable; backing off")
                delay = min(delay * 2, interval * 4)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stopping.clear()
        await services.bus.start()
        sweeper = asyncio.create_task(sweep_until_stopped())
        revocations = asyncio.create_task(graphql_app.close_revoked_sockets())
        try:
            yield
        finally:
            revocations.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await revocations
            # Let a sweep in progress finish its transaction rather than cut it mid-query.
            stopping.set()
            try:
                await asyncio.wait_for(sweeper, 5)
            except TimeoutError:
                log.warning("the verification sweep did not stop in time")
            await verifier.stop()
            await services.bus.stop()
            await http.aclose()
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *webhook_routes(services),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(AnswerOutagesWith503, retry_after_seconds=settings.db_retry_after_seconds)
        ],
    )
    app.state.services = services
    app.state.engine = engine
    return app
