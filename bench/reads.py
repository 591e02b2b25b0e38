"""What GraphQL costs on the two hot reads, against a floor that does the same work without it.

Measures, over real HTTP against a real uvicorn server (one worker), the throughput and latency of

* ``smsSenders`` (the sender picker) and ``smsAccounts`` (the SMS Accounts page, 20 cards), sent
  as ``POST /graphql`` with the documents of ``tests/integration/documents.py``;
* their *floor*: ``GET /floor/senders`` and ``GET /floor/accounts``, bare Starlette endpoints added
  only in the benchmark's server (``floor_app``). Per request they do what the GraphQL path does
  minus GraphQL: look the bearer key's hash up in ``api_keys`` (``storage.queries.key_owner``),
  check the role, run the resolver's SQL (``storage.queries.senders`` / ``live_accounts``) on the
  app's own engine and read sessionmaker, and answer the same JSON body with ``JSONResponse``.
  The floor runs both statements in one session; the GraphQL path opens one for the key and one
  for the resolver.

Setup: a fresh temporary SQLite database (or ``--database-url``), migrated; an admin key for a
new workspace; the SMS integration enabled and 20 accounts added through ``addSmsAccount``, then
half of them set VERIFIED directly in the table (the benchmark never talks to Twilio). Before
measuring, each endpoint is warmed up and the floor's body is checked equal to GraphQL's.

Load comes from this process (httpx.AsyncClient, HTTP/1.1 keep-alive, ``--concurrency``
connections, closed loop). GraphQL and floor rounds alternate (ABBA order) so that noise hits both
alike; every response must be 200 with data and no errors, or the run exits 1. The table gives
requests/s, p50/p99 latency, the ratios GraphQL/floor, and the CPU used meanwhile by the server,
by this load generator and by everything else on the machine (a busy neighbour shows up there).

Run from the project root::

    .venv/bin/python bench/reads.py [--requests 3000] [--concurrency 16] [--database-url URL]

A default run sends 4 x (200 + 3000) requests; its length is set by the slowest endpoint
(GraphQL smsAccounts: ~50 req/s on a 2-vCPU VM, i.e. ~3 minutes in all there; use
``--requests 1000`` for a quicker look).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only bench/ is on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from api.auth import bearer_key  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench import common  # noqa: E402
from resolvers.api_keys import hash_key  # noqa: E402
from resolvers.domain import (  # noqa: E402
    FAILURE_MESSAGES,
    AccountStatus,
    Provider,
    Role,
    SenderKind,
    VerificationFailure,
)
from resolvers.permissions import may  # noqa: E402
from resolvers.services import Services  # noqa: E402
from storage import queries  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.models import SmsAccountRow  # noqa: E402
from tests.integration.documents import ACCOUNTS, SENDERS  # noqa: E402

SEEDED = 20
VERIFIED = SEEDED // 2


# --- The floor: the server side, imported by uvicorn in the server process ----------------------


def floor_app() -> Starlette:
    """``create_app`` from the environment's settings, plus the two floor routes."""
    return common.app_with(add_floor_routes)


Query = Callable[[AsyncSession, str], Awaitable[Sequence[Any]]]


def add_floor_routes(app: Starlette) -> None:
    services: Services = app.state.services
    reads = services.reads
    public_url = services.public_url

    async def rows_for(
        request: Request, operation: str, query: Query
    ) -> Sequence[Any] | JSONResponse:
        """``query``'s rows for the bearer key's workspace, or the refusal of a key that may not
        run ``operation``."""
        async with reads() as session:
            key = bearer_key(request.headers.get("authorization"))
            found = None
            if key is not None and key.startswith("sms_") and len(key) <= 200:
                found = await queries.key_owner(session, hash_key(key))
            if found is None:
                return _refusal(401, "UNAUTHENTICATED")
            if not may(Role(found[2]), operation):
                return _refusal(403, "FORBIDDEN")
            return await query(session, found[1])

    async def senders(request: Request) -> JSONResponse:
        rows = await rows_for(request, "smsSenders", queries.senders)
        if isinstance(rows, JSONResponse):
            return rows
        nodes = [
            {
                "accountId": row.id,
                "displayName": row.display_name,
                "provider": Provider(row.provider).name,
                "senderId": row.sender_id,
                "senderKind": SenderKind(row.sender_kind).name,
            }
            for row in rows
        ]
        return JSONResponse({"data": {"smsSenders": nodes}})

    async def accounts(request: Request) -> JSONResponse:
        rows = await rows_for(request, "smsAccounts", queries.live_accounts)
        if isinstance(rows, JSONResponse):
            return rows
        nodes = [_account_json(row, public_url) for row in rows]
        verified = sum(1 for node in nodes if node["status"] == AccountStatus.VERIFIED.name)
        stats = {
            "connected": len(nodes),
            "verified": verified,
            "awaitingAction": len(nodes) - verified,
        }
        return JSONResponse({"data": {"smsAccounts": {"stats": stats, "nodes": nodes}}})

    app.router.routes.extend(
        [
            Route("/floor/senders", senders, methods=["GET"]),
            Route("/floor/accounts", accounts, methods=["GET"]),
        ]
    )


def _account_json(row: SmsAccountRow, public_url: str | None) -> dict[str, Any]:
    """The fields of ``documents.ACCOUNT_FIELDS``, serialized as GraphQL serializes them."""
    failure = VerificationFailure(row.failure) if row.failure else None
    return {
        "id": row.id,
        "provider": Provider(row.provider).name,
        "displayName": row.display_name,
        "senderId": row.sender_id,
        "senderKind": SenderKind(row.sender_kind).name if row.sender_kind else None,
        "dltEntityId": row.dlt_entity_id,
        "clientId": row.client_id,
        "authTokenHint": "••••" + row.auth_token_hint,
        "baseUrl": row.base_url,
        "status": AccountStatus(row.status).name,
        "failure": failure.name if failure else None,
        "failureMessage": FAILURE_MESSAGES[failure] if failure else None,
        "trial": row.trial,
        "inboundWebhookUrl": (
            f"{public_url}/webhooks/twilio/{row.id}/inbound" if public_url else None
        ),
        "verifiedAt": row.verified_at.isoformat() if row.verified_at else None,
        "createdAt": row.created_at.isoformat(),
        "updatedAt": row.updated_at.isoformat(),
    }


def _refusal(status: int, code: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": code.lower(), "extensions": {"code": code}}]},
        status_code=status,
    )


# --- Setup: database, key, seed -----------------------------------------------------------------


async def seed(settings: Settings) -> str:
    """Admin key of a new workspace with the integration on and 20 accounts, half VERIFIED."""
    ids: list[str] = []
    async with common.seeding(settings) as seeded:
        for number in range(SEEDED):
            sender = f"+1415555{number:04d}" if number % 4 else f"MG{number:032x}"
            fields: dict[str, Any] = {
                "provider": "TWILIO",
                "senderId": sender,
                "clientId": common.ACCOUNT_SID,
                "authToken": common.AUTH_TOKEN,
                "displayName": f"{'Sales' if number % 2 else 'Marketing'} line {number:02d}",
            }
            if number % 3 == 0:
                fields["dltEntityId"] = f"12011591432147{number:05d}"
            ids.append((await seeded.add_account(fields))["id"])
        async with seeded.services.writes() as session:
            await common.mark_verified(session, ids[::2])
            await session.commit()
    return seeded.key


# --- Load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    operation: str  # the GraphQL root field, also the key under "data"
    side: str  # "graphql" or "floor"
    method: str
    path: str
    body: bytes | None
    expected: int  # how many senders / account nodes the body must hold

    def count(self, data: Any) -> int:
        value = data[self.operation]
        return len(value if self.operation == "smsSenders" else value["nodes"])


def endpoints() -> list[Endpoint]:
    def graphql(query: str) -> bytes:
        return json.dumps({"query": query}).encode()

    return [
        Endpoint("smsSenders", "graphql", "POST", "/graphql", graphql(SENDERS), VERIFIED),
        Endpoint("smsSenders", "floor", "GET", "/floor/senders", None, VERIFIED),
        Endpoint("smsAccounts", "graphql", "POST", "/graphql", graphql(ACCOUNTS), SEEDED),
        Endpoint("smsAccounts", "floor", "GET", "/floor/accounts", None, SEEDED),
    ]


def problem_of(endpoint: Endpoint, response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return f"{endpoint.path}: HTTP {response.status_code}: {response.text[:200]}"
    try:
        body = response.json()
        if body.get("errors"):
            return f"{endpoint.path}: errors {body['errors']}"
        found = endpoint.count(body["data"])
    except (ValueError, KeyError, TypeError) as exc:
        return f"{endpoint.path}: unexpected body ({exc!r}): {response.text[:200]}"
    if found != endpoint.expected:
        return f"{endpoint.path}: {found} items, expected {endpoint.expected}"
    return None


async def send(client: httpx.AsyncClient, endpoint: Endpoint) -> httpx.Response:
    return await client.request(endpoint.method, endpoint.path, content=endpoint.body)


async def run_round(
    client: httpx.AsyncClient, endpoint: Endpoint, requests: int, concurrency: int, pid: int
) -> common.Tally:
    """``requests`` requests over ``concurrency`` closed-loop workers."""
    tally = common.Tally()
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            response = await tally.timed(endpoint.path, send(client, endpoint))
            if response is not None and (problem := problem_of(endpoint, response)) is not None:
                tally.fail(problem)

    return await tally.run(worker, min(concurrency, requests), pid)


async def check_same_body(client: httpx.AsyncClient, pair: list[Endpoint]) -> str | None:
    """The floor must answer what GraphQL answers, or the comparison means nothing."""
    graphql, floor = [(await send(client, endpoint)).json() for endpoint in pair]
    if graphql == floor:
        return None
    return (
        f"{pair[0].operation}: the floor's body differs from GraphQL's:\n"
        f"  graphql: {json.dumps(graphql)[:600]}\n  floor:   {json.dumps(floor)[:600]}"
    )


@dataclass(frozen=True)
class Options:
    requests: int
    concurrency: int
    round_size: int
    warmup: int


async def drive(
    key: str, port: int, process: subprocess.Popen[bytes], options: Options
) -> tuple[dict[Endpoint, common.Tally], list[str]]:
    """Warm up, check the bodies, then measure in alternating rounds. Returns tallies, problems."""
    async with common.load_client(
        common.local_url(port),
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        options.concurrency,
    ) as client:
        await common.wait_ready(client, process)
        all_endpoints = endpoints()

        def measure(endpoint: Endpoint, first: int, size: int) -> Awaitable[common.Tally]:
            return run_round(client, endpoint, size, options.concurrency, process.pid)

        problems = await common.warm_up(all_endpoints, measure, options.warmup)
        if problems:
            return {}, problems
        pairs = [all_endpoints[0:2], all_endpoints[2:4]]
        for pair in pairs:
            mismatch = await check_same_body(client, pair)
            if mismatch is not None:
                return {}, [mismatch]
        return await common.measure_rounds(
            pairs, measure, 0, options.requests, options.round_size, process
        )


# --- Report -------------------------------------------------------------------------------------


def report(tallies: dict[Endpoint, common.Tally], options: Options, database_url: str) -> None:
    stack = common.versions(
        "strawberry-graphql", "graphql-core", "starlette", "uvicorn", "sqlalchemy"
    )
    driver = database_url.split(":", 1)[0]
    print(
        f"\nmachine: {common.machine()}\n"
        f"stack:   {stack}\n"
        f"params:  requests={options.requests} per endpoint, concurrency={options.concurrency}, "
        f"rounds of {options.round_size} (alternating), warm-up {options.warmup}, "
        f"database {driver},\n         {SEEDED} accounts ({VERIFIED} VERIFIED), "
        f"graphql = POST /graphql, floor = GET /floor/senders and /floor/accounts, "
        f"uvicorn 1 worker, loop {common.event_loop_name()}\n"
    )
    figures = common.print_table(
        f"{'operation':<12} {'endpoint':<8}",
        [
            (
                (endpoint.operation, endpoint.side),
                f"{endpoint.operation:<12} {endpoint.side:<8}",
                tally,
            )
            for endpoint, tally in tallies.items()
        ],
        "req/s",
        8,
        "srv CPU ms/req",
        2,
    )
    print()
    print(
        f"{'operation':<12} {'req/s graphql/floor':>20} {'p50 floor/graphql':>18} "
        f"{'srv CPU/req graphql/floor':>26}"
    )
    for operation in ("smsSenders", "smsAccounts"):
        graphql, floor = figures[(operation, "graphql")], figures[(operation, "floor")]
        print(
            f"{operation:<12} {common.ratio(graphql.rate, floor.rate):>20} "
            f"{common.ratio(floor.p50, graphql.p50):>18} "
            f"{common.ratio(graphql.cost, floor.cost):>26}"
        )
    common.print_cpu_note(
        "srv CPU ms/req: the server process's CPU time per request (threads included), the "
        "figure least moved by noise."
    )


# --- Entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="per endpoint (default 3000)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections (default 16)")
    parser.add_argument("--round-size", type=int, default=500, help="requests per round")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per endpoint")
    parser.add_argument(
        "--database-url",
        help="migrate and seed this database instead of a fresh temporary SQLite file "
        "(a new workspace is created on each run)",
    )
    args = parser.parse_args(argv)
    common.require_positive(parser, args, ("requests", "concurrency", "round_size", "warmup"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(args.requests, args.concurrency, args.round_size, args.warmup)
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as scratch:
        database_url = args.database_url or common.sqlite_url(scratch)
        settings = Settings(database_url=database_url, encryption_keys=common.TEST_KEY)
        began = time.perf_counter()
        migrate(database_url)
        key = common.run_async(seed(settings))
        port = common.free_port()
        with common.server("bench.reads:floor_app", port, database_url) as process:
            tallies, problems = common.run_async(drive(key, port, process, options))
        if tallies:
            report(tallies, options, database_url)
        failed = sum(tally.failures for tally in tallies.values())
        print(f"\ntotal time {time.perf_counter() - began:.1f} s")
    if problems or failed:
        return common.report_failure(f"FAILED ({failed} failed request(s) measured):", problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
