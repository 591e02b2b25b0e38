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
from api.logs import AccessLog
from api.settings import Settings, load_settings
from api.webhooks import webhook_routes
from providers.host_policy import Resolver, system_resolver
from providers.transport import create_http_client
from providers.twilio import RetryPolicy, TwilioClient
from resolvers.bus import create_bus
from resolvers.services import Services
from resolvers.verification import Verifier
from schema import build_schema
from storage.crypto import SecretBox, load_or_create_key_file
from storage.db import create_engine, create_sessionmakers, sqlite_path

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
        bus=create_bus(settings.broadcast_url, queue_size=settings.subscriber_queue_size),
        twilio=twilio,
        verifier=verifier,
        verify_lease_seconds=settings.verify_lease_seconds,
        webhook_token_grace_seconds=settings.webhook_token_grace_seconds,
    )
    authenticator = KeyAuthenticator(reads, writes)
    graphql_app = GraphQLApp(
        build_schema(production=settings.production),
        services,
        graphiql=settings.graphiql_enabled,
        authenticator=authenticator,
        allowed_origins=settings.origin_list,
        key_recheck_seconds=settings.key_recheck_seconds,
    )
    graphql = RequireApiKey(graphql_app, authenticator, graphiql=settings.graphiql_enabled)

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            log.exception("readiness check: database unreachable")
            return JSONResponse({"database": "unreachable"}, status_code=503)
        return JSONResponse({"database": "ok"})

    stopping = asyncio.Event()

    async def sweep_until_stopped() -> None:
        """Pick up checks whose process died: at start, then every sweep interval."""
        while not stopping.is_set():
            try:
                picked = await verifier.sweep(services)
                if picked:
                    log.info("resumed %d verification(s) whose lease had expired", picked)
            except Exception:
                log.exception("verification sweep failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), settings.verify_sweep_seconds)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        stopping.clear()
        sweeper = asyncio.create_task(sweep_until_stopped())
        try:
            yield
        finally:
            # Let a sweep in progress finish its transaction rather than cut it mid-query.
            stopping.set()
            try:
                await asyncio.wait_for(sweeper, 5)
            except TimeoutError:
                log.warning("the verification sweep did not stop in time")
            await verifier.stop()
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
        middleware=[Middleware(AccessLog)],
    )
    app.state.services = services
    app.state.engine = engine
    return app
