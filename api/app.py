"""The ASGI app: the routes over what ``api.bootstrap`` built, and the lifespan that starts and
stops it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.accounts_page import PAGE_PATH, accounts_page_routes
from api.auth import KeyAuthenticator, RequireApiKey, graphiql_page
from api.bootstrap import Runtime, build_services
from api.cors import CrossOrigin
from api.fast_reads import FastReads
from api.graphiql import asset_routes
from api.graphql import GraphQLApp
from api.health import health_routes
from api.limits import LimitRequests
from api.logs import AccessLog
from api.memory_report import MemoryReport
from api.open_sockets import OpenSockets
from api.outages import AnswerOutagesWith503
from api.response_cache import CacheableDocuments, ResponseCache
from api.response_policy import ResponsePolicy
from api.settings import Settings, load_settings
from api.throttle import FailureLimiter
from api.webhooks import webhook_routes
from schema import build_schema
from schema.fanout import SharedSubscriptions
from schema.limits import DocumentLimits


def create_app(runtime: Runtime | None = None) -> Starlette:
    """Mount the routes over ``runtime`` (built from the environment when None) and start and
    stop it with the app."""
    runtime = runtime or build_services(load_settings())
    settings = runtime.settings
    failures = FailureLimiter(settings.auth_failures_per_second, settings.auth_failure_addresses)
    authenticator = KeyAuthenticator(
        runtime.services.reads,
        runtime.services.writes,
        cache_seconds=settings.auth_cache_seconds,
        max_cached=settings.auth_cache_entries,
    )
    graphql_app, graphql = graphql_endpoint(runtime, authenticator, failures)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        revocations = asyncio.create_task(graphql_app.close_revoked_sockets())
        # Everything built so far (the schema, the ORM's metadata, the parsed assets) lives as
        # long as the process: a full garbage collection walking it stalled every request for
        # tens of milliseconds (bench/reads.py's p99). Frozen objects are left out of collections.
        gc.collect()
        gc.freeze()
        report = None
        if settings.debug_memory_report_seconds:
            report = MemoryReport(settings.debug_memory_report_seconds)
            report.start()
        try:
            yield
        finally:
            if report is not None:
                await report.stop()
            gc.unfreeze()
            revocations.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await revocations
            await runtime.stop()

    routes: list[BaseRoute] = [
        *health_routes(runtime, graphql_app),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        *webhook_routes(runtime.services, failures, runtime.batcher),
        *(asset_routes() if settings.graphiql_enabled else []),
        *(accounts_page_routes() if settings.accounts_page_enabled else []),
        *home_route(settings),
    ]
    app = App(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            # Outermost: the access line also records the 503 of an outage.
            Middleware(AccessLog),
            Middleware(ResponsePolicy),
            # Preflights are answered before the key check (browsers send no key with them).
            Middleware(
                CrossOrigin,
                policy=settings.origin_policy,
                path="/graphql",
                max_age_seconds=settings.cors_max_age_seconds,
            ),
            Middleware(AnswerOutagesWith503, retry_after_seconds=settings.db_retry_after_seconds),
        ],
    )
    if runtime.answers is not None:
        app.front = FastReads(
            functools.partial(Starlette.__call__, app),
            authenticator=authenticator,
            answers=runtime.answers,
            origins=settings.origin_policy,
            max_body_bytes=settings.max_body_bytes,
        )
    return app


class App(Starlette):
    """Starlette, with cached reads answered in front of its middleware stack and router
    (``api.fast_reads``: ``front``) when the response cache is on."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)


def home_route(settings: Settings) -> list[BaseRoute]:
    """Where a person lands: the SMS Accounts page, else GraphiQL, where served (a JSON 404
    elsewhere)."""
    if settings.accounts_page_enabled:
        target = PAGE_PATH
    elif settings.graphiql_enabled:
        target = "/graphql"
    else:
        return []

    async def home(_: Request) -> RedirectResponse:
        return RedirectResponse(target)

    return [Route("/", home, methods=["GET"])]


def graphql_endpoint(
    runtime: Runtime, authenticator: KeyAuthenticator, failures: FailureLimiter
) -> tuple[GraphQLApp, ASGIApp]:
    """Strawberry's app, and ``/graphql`` as served: key, request limits, the response cache,
    then Strawberry."""
    settings = runtime.settings
    services = runtime.services
    graphql_app = GraphQLApp(
        build_schema(
            limits=DocumentLimits(
                max_depth=settings.max_query_depth,
                max_introspection_depth=settings.max_introspection_depth,
                max_aliases=settings.max_aliases,
                max_tokens=settings.max_tokens,
                max_fields=settings.max_fields,
                max_field_overlaps=settings.max_field_overlaps,
                document_cache_chars=settings.document_cache_chars,
            ),
            fanout=SharedSubscriptions(settings.subscriber_queue_size),
            production=settings.production,
        ),
        services,
        authenticator=authenticator,
        failures=failures,
        origins=settings.origin_policy,
        key_recheck_seconds=settings.key_recheck_seconds,
        max_message_bytes=settings.ws_max_message_bytes,
        max_subscriptions=settings.ws_max_subscriptions,
        init_timeout_seconds=settings.ws_init_timeout_seconds,
        open_sockets=OpenSockets(
            max_awaiting_init=settings.ws_max_awaiting_init,
            max_per_key=settings.ws_max_sockets_per_key,
        ),
    )
    # A cached read is decided after the key and the limits, before Strawberry parses anything.
    answered: ASGIApp = graphql_app
    if runtime.answers is not None:
        cacheable = CacheableDocuments(settings.document_cache_chars)
        answered = ResponseCache(graphql_app, runtime.answers, cacheable)
    endpoint = RequireApiKey(
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
    return graphql_app, endpoint
