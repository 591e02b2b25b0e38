"""The one place that wires dependencies: ``create_app`` builds everything a request needs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute, request_response
from starlette.types import ASGIApp

from api.auth import KeyAuthenticator, RequireApiKey, graphiql_page
from api.cors import CrossOrigin
from api.graphiql import asset_routes
from api.graphql import GraphQLApp
from api.limits import LimitRequests
from api.logs import AccessLog
from api.outages import AnswerOutagesWith503
from api.response_cache import BumpingBus, ResponseCache, ResponseStore, invalidate
from api.settings import Settings, load_settings
from api.throttle import FailureLimiter
from api.webhooks import webhook_routes
from providers.bus import EventBus, MemoryBus
from providers.cache_versions import Versions, create_versions
from providers.host_policy import Resolver, system_resolver
from providers.redis_bus import RedisBus
from providers.transport import create_http_client
from providers.twilio import RetryPolicy, TwilioClient
from resolvers import events
from resolvers.domain import Account
from resolvers.key_rotation import missing_key_ids
from resolvers.messages import publish_message, to_message
from resolvers.services import Services
from resolvers.status_batches import StatusBatcher
from resolvers.verification import Verifier
from resolvers.wire import EVENTS
from schema import build_schema
from schema.fanout import SharedSubscriptions
from schema.limits import DocumentLimits
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


async def check_keys_cover_secrets(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, box: SecretBox
) -> None:
    """Refuse to start when stored secrets were written with keys that are not configured:
    every account using them would fail at its first call, long after the start."""
    missing = await missing_key_ids(sessions, box)
    if not missing:
        return
    source = (
        "SMS_ENCRYPTION_KEYS"
        if settings.encryption_key_list
        else f"the key file {key_file_for(settings)}"
    )
    raise ConfigurationError(
        f"stored Auth Tokens were encrypted with key id(s) {', '.join(missing)}, which "
        f"{source} does not hold (configured: {', '.join(sorted(box.key_ids))}). "
        "Put the missing key(s) back in SMS_ENCRYPTION_KEYS after the first key and start "
        "again; `sms-accounts rotate-keys` then re-encrypts everything with the first key and "
        "the old keys can go. If a key is lost for good, run `sms-accounts rotate-keys "
        "--forget-unreadable`: its accounts turn Failed until their Auth Token is entered again."
    )


def cache_versions(settings: Settings) -> Versions | None:
    """The response cache's versions, or None when the cache is off.

    Several replicas on PostgreSQL with the in-process bus could not see each other's changes, so
    the cache needs Redis there; SQLite is one process, whose own versions are enough.
    """
    if settings.response_cache_bytes == 0:
        return None
    shared = settings.broadcast_url.startswith(("redis://", "rediss://"))
    if not shared and sqlite_path(settings.database_url) is None:
        log.info("response cache off: several replicas need SMS_BROADCAST_URL=redis://…")
        return None
    return create_versions(
        settings.broadcast_url, timeout_seconds=settings.cache_version_timeout_seconds
    )


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
    twilio = TwilioClient(
        http, RetryPolicy(base_seconds=settings.retry_base_seconds), policy=policy
    )
    box = secret_box(settings)

    async def publish(workspace_id: str, account: Account, before: Account | None) -> None:
        # Bound late: the publisher reads the picker and the bus through the services below.
        await events.account_changed(services, workspace_id, account, before=before)

    carrier = event_bus(settings)
    versions = cache_versions(settings)
    bus = carrier if versions is None else BumpingBus(carrier, versions)
    verifier = Verifier(
        reads=reads,
        writes=writes,
        secrets=box,
        twilio=twilio,
        publish=publish,
        touched=None if versions is None else functools.partial(invalidate, versions),
        public_url=settings.public_url,
        lease_seconds=settings.verify_lease_seconds,
        recheck_seconds=settings.recheck_seconds,
        max_in_flight=settings.max_concurrent_checks,
    )
    services = Services(
        reads=reads,
        writes=writes,
        secrets=box,
        host_policy=policy,
        resolver=resolver,
        public_url=settings.public_url,
        bus=bus,
        twilio=twilio,
        verifier=verifier,
        verify_lease_seconds=settings.verify_lease_seconds,
        webhook_token_grace_seconds=settings.webhook_token_grace_seconds,
    )
    batcher = StatusBatcher(
        writes,
        functools.partial(publish_message, services),
        to_message,
        max_batch=settings.status_batch_size,
        linger_seconds=settings.status_batch_linger_seconds,
    )
    authenticator = KeyAuthenticator(reads, writes, cache_seconds=settings.auth_cache_seconds)
    limits = DocumentLimits(
        max_depth=settings.max_query_depth,
        max_introspection_depth=settings.max_introspection_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_fields=settings.max_fields,
        max_field_overlaps=settings.max_field_overlaps,
        document_cache_chars=settings.document_cache_chars,
    )
    failures = FailureLimiter(settings.auth_failures_per_second, settings.auth_failure_addresses)
    origins = settings.origin_policy
    graphql_app = GraphQLApp(
        build_schema(
            limits=limits,
            fanout=SharedSubscriptions(settings.subscriber_queue_size),
            production=settings.production,
        ),
        services,
        authenticator=authenticator,
        failures=failures,
        origins=origins,
        key_recheck_seconds=settings.key_recheck_seconds,
        max_message_bytes=settings.ws_max_message_bytes,
        max_subscriptions=settings.ws_max_subscriptions,
    )
    # A cached read is decided after the key and the limits, before Strawberry parses anything.
    answered: ASGIApp = graphql_app
    if versions is not None:
        answered = ResponseCache(
            graphql_app, ResponseStore(settings.response_cache_bytes), versions
        )
    graphql = RequireApiKey(
        LimitRequests(
            answered,
            max_body_bytes=settings.max_body_bytes,
            max_json_depth=settings.max_json_depth,
            max_tokens=settings.max_tokens,
        ),
        authenticator,
        failures,
        page=request_response(graphiql_page) if settings.graphiql_enabled else None,
    )

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
        bus = carrier
        if not isinstance(bus, RedisBus):
            return {}
        return {"bus": "ok" if bus.connected.is_set() else "reconnecting"}

    async def statusz(_: Request) -> JSONResponse:
        """Counts only (no names, no keys): lets an operator, and the e2e tests, see that
        closed websockets leave no task behind."""
        return JSONResponse(
            {"websockets": graphql_app.open_websockets, "tasks": len(asyncio.all_tasks())}
        )

    stopping = asyncio.Event()

    async def sweep_until_stopped() -> None:
        """Pick up checks whose process died, and due health checks: at start, then every
        sweep interval."""
        interval = settings.verify_sweep_seconds
        delay = interval
        while not stopping.is_set():
            try:
                resumed, health_checks = await verifier.sweep()
                if resumed:
                    log.info("resumed %d verification(s) whose lease had expired", resumed)
                if health_checks:
                    log.info("started %d health check(s) of verified accounts", health_checks)
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
        try:
            await check_keys_cover_secrets(reads, settings, box)
        except ConfigurationError:
            await http.aclose()
            await engine.dispose()
            raise
        stopping.clear()
        await services.bus.start()
        sweeper = asyncio.create_task(sweep_until_stopped())
        batcher.start()
        revocations = asyncio.create_task(graphql_app.close_revoked_sockets())
        # Everything built so far (the schema, the ORM's metadata, the parsed assets) lives as
        # long as the process: a full garbage collection walking it stalled every request for
        # tens of milliseconds (bench/reads.py's p99). Frozen objects are left out of collections.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            revocations.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await revocations
            # Let a sweep in progress finish its transaction rather than cut it mid-query.
            stopping.set()
            try:
                await asyncio.wait_for(sweeper, 5)
            except TimeoutError:
                log.warning("the verification sweep did not stop in time")
            await batcher.stop()
            await verifier.stop()
            await services.bus.stop()
            await http.aclose()
            if versions is not None:
                await versions.aclose()
            await engine.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/statusz", statusz, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *webhook_routes(services, failures, batcher),
            *(asset_routes() if settings.graphiql_enabled else []),
        ],
        lifespan=lifespan,
        middleware=[
            # Outermost: the access line also records the 503 of an outage.
            Middleware(AccessLog),
            # Preflights are answered before the key check (browsers send no key with them).
            Middleware(
                CrossOrigin,
                policy=origins,
                path="/graphql",
                max_age_seconds=settings.cors_max_age_seconds,
            ),
            Middleware(AnswerOutagesWith503, retry_after_seconds=settings.db_retry_after_seconds),
        ],
    )
    app.state.services = services
    app.state.verifier = verifier
    app.state.engine = engine
    return app
