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
import asyncio
import base64
import importlib.util
import json
import math
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only bench/ is on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth import bearer_key  # noqa: E402
from api.settings import Settings, load_settings  # noqa: E402
from resolvers.api_keys import create_api_key, hash_key  # noqa: E402
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
from storage.db import create_engine, create_sessionmakers  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.models import SmsAccountRow  # noqa: E402
from storage.types import utcnow  # noqa: E402
from tests.integration.documents import ACCOUNTS, ADD, SENDERS, SET_ENABLED  # noqa: E402

TEST_KEY = base64.b64encode(b"b" * 32).decode()  # fixed, like the test suite's
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f1e2d3c4b5a6978812345678abcdef90"
T = TypeVar("T")
SEEDED = 20
VERIFIED = SEEDED // 2


# --- The floor: the server side, imported by uvicorn in the server process ----------------------


def floor_app() -> Starlette:
    """``create_app`` from the environment's settings, plus the two floor routes."""
    app = create_app(load_settings())
    add_floor_routes(app)
    return app


def add_floor_routes(app: Starlette) -> None:
    services: Services = app.state.services
    reads = services.reads
    public_url = services.public_url

    async def owner(session: AsyncSession, request: Request) -> tuple[str, str, str] | None:
        key = bearer_key(request.headers.get("authorization"))
        if key is None or not key.startswith("sms_") or len(key) > 200:
            return None
        return await queries.key_owner(session, hash_key(key))

    async def senders(request: Request) -> JSONResponse:
        async with reads() as session:
            found = await owner(session, request)
            if found is None:
                return _refusal(401, "UNAUTHENTICATED")
            if not may(Role(found[2]), "smsSenders"):
                return _refusal(403, "FORBIDDEN")
            rows = await queries.senders(session, found[1])
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
        async with reads() as session:
            found = await owner(session, request)
            if found is None:
                return _refusal(401, "UNAUTHENTICATED")
            if not may(Role(found[2]), "smsAccounts"):
                return _refusal(403, "FORBIDDEN")
            rows = await queries.live_accounts(session, found[1])
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


async def _offline_resolver(host: str) -> list[str]:
    """No DNS while seeding: a name that does not resolve passes the Base URL check."""
    raise OSError(f"{host}: no DNS in the benchmark")


async def seed(settings: Settings) -> str:
    """Admin key of a new workspace with the integration on and 20 accounts, half VERIFIED."""
    engine = create_engine(settings.database_url)
    _, writes = create_sessionmakers(engine)
    try:
        issued = await create_api_key(writes, f"bench-{secrets.token_hex(4)}", Role.ADMIN)
    finally:
        await engine.dispose()

    app = create_app(settings, resolver=_offline_resolver)
    headers = {"Authorization": f"Bearer {issued.key}"}
    ids: list[str] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://seed", headers=headers
        ) as http:
            await _graphql(http, SET_ENABLED, {"enabled": True})
            for number in range(SEEDED):
                sender = f"+1415555{number:04d}" if number % 4 else f"MG{number:032x}"
                fields: dict[str, Any] = {
                    "provider": "TWILIO",
                    "senderId": sender,
                    "clientId": ACCOUNT_SID,
                    "authToken": AUTH_TOKEN,
                    "displayName": f"{'Sales' if number % 2 else 'Marketing'} line {number:02d}",
                }
                if number % 3 == 0:
                    fields["dltEntityId"] = f"12011591432147{number:05d}"
                data = await _graphql(http, ADD, {"input": fields})
                payload = data["addSmsAccount"]
                if payload["errors"]:
                    raise RuntimeError(f"addSmsAccount refused the seed: {payload['errors']}")
                ids.append(payload["account"]["id"])
        async with app.state.services.writes() as session:
            await session.execute(
                update(SmsAccountRow)
                .where(SmsAccountRow.id.in_(ids[::2]))  # type: ignore[attr-defined]
                .values(status=AccountStatus.VERIFIED.value, verified_at=utcnow(), trial=False)
            )
            await session.commit()
    return issued.key


async def _graphql(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"seed request failed ({response.status_code}): {response.text}")
    return body["data"]


# --- The server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


@contextmanager
def server(settings: Settings, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """uvicorn with ``floor_app``, one worker; terminated (then killed) on the way out."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMS_")}
    env.update(SMS_DATABASE_URL=settings.database_url, SMS_ENCRYPTION_KEYS=TEST_KEY)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.reads:floor_app",
        "--factory",
        "--app-dir",
        str(ROOT),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        event_loop_name(),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux); 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (Linux); 0 where /proc is missing."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(value) for value in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the server did not answer /healthz within 30 s")


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


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    other_cpu: float = 0.0  # every other process on the machine: noise
    failures: int = 0
    samples: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.failures += 1
        if len(self.samples) < 5:
            self.samples.append(problem)


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
) -> Tally:
    """``requests`` requests over ``concurrency`` closed-loop workers."""
    tally = Tally()
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            try:
                response = await send(client, endpoint)
            except httpx.HTTPError as exc:
                tally.latencies.append(time.perf_counter() - started)
                tally.fail(f"{endpoint.path}: {type(exc).__name__}: {exc}")
                continue
            tally.latencies.append(time.perf_counter() - started)
            problem = problem_of(endpoint, response)
            if problem is not None:
                tally.fail(problem)

    server_before, client_before = cpu_seconds(pid), time.process_time()
    busy_before, started = busy_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    tally.wall = time.perf_counter() - started
    tally.server_cpu = max(0.0, cpu_seconds(pid) - server_before)
    tally.client_cpu = time.process_time() - client_before
    tally.other_cpu = max(0.0, busy_seconds() - busy_before - tally.server_cpu - tally.client_cpu)
    return tally


def merge(into: Tally, part: Tally) -> None:
    into.latencies += part.latencies
    into.wall += part.wall
    into.server_cpu += part.server_cpu
    into.client_cpu += part.client_cpu
    into.other_cpu += part.other_cpu
    into.failures += part.failures
    into.samples += part.samples[: 5 - len(into.samples)]


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
) -> tuple[dict[Endpoint, Tally], list[str]]:
    """Warm up, check the bodies, then measure in alternating rounds. Returns tallies, problems."""
    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        limits=limits,
        timeout=httpx.Timeout(30.0),
        http1=True,
        http2=False,
    ) as client:
        await wait_ready(client, process)
        all_endpoints = endpoints()
        problems: list[str] = []
        for endpoint in all_endpoints:
            warm = await run_round(
                client, endpoint, options.warmup, options.concurrency, process.pid
            )
            problems += warm.samples
        if problems:
            return {}, problems
        for pair in (all_endpoints[0:2], all_endpoints[2:4]):
            mismatch = await check_same_body(client, pair)
            if mismatch is not None:
                return {}, [mismatch]

        tallies = {endpoint: Tally() for endpoint in all_endpoints}
        for pair in (all_endpoints[0:2], all_endpoints[2:4]):
            done = 0
            for number in range(math.ceil(options.requests / options.round_size)):
                size = min(options.round_size, options.requests - done)
                done += size
                for endpoint in pair if number % 2 == 0 else pair[::-1]:
                    part = await run_round(client, endpoint, size, options.concurrency, process.pid)
                    merge(tallies[endpoint], part)
                    if process.poll() is not None:
                        problems.append(f"the server exited with code {process.returncode}")
                        return tallies, problems + part.samples
        for tally in tallies.values():
            problems += tally.samples
        return tallies, problems


# --- Report -------------------------------------------------------------------------------------


def percentile(values: list[float], rank: float) -> float:
    """Nearest-rank percentile of ``values`` (seconds)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if numerator > 0 and denominator > 0 else "n/a"


def report(tallies: dict[Endpoint, Tally], options: Options, database_url: str) -> None:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "sqlalchemy")
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    driver = database_url.split(":", 1)[0]
    print(
        f"\nmachine: nproc={cores}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.machine()}\n"
        f"stack:   {versions}\n"
        f"params:  requests={options.requests} per endpoint, concurrency={options.concurrency}, "
        f"rounds of {options.round_size} (alternating), warm-up {options.warmup}, "
        f"database {driver},\n         {SEEDED} accounts ({VERIFIED} VERIFIED), "
        f"graphql = POST /graphql, floor = GET /floor/senders and /floor/accounts, "
        f"uvicorn 1 worker, loop {event_loop_name()}\n"
    )
    header = (
        f"{'operation':<12} {'endpoint':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv CPU ms/req':>14} {'server CPU':>10} {'client CPU':>10} {'other CPU':>9}"
    )
    print(header)
    print("-" * len(header))
    rows: dict[tuple[str, str], tuple[float, float, float]] = {}
    for endpoint, tally in tallies.items():
        count = len(tally.latencies)
        if count == 0 or tally.wall <= 0:
            print(f"{endpoint.operation:<12} {endpoint.side:<8} (not measured)")
            rows[(endpoint.operation, endpoint.side)] = (0.0, 0.0, 0.0)
            continue
        rate, cost = count / tally.wall, tally.server_cpu / count
        p50, p99 = percentile(tally.latencies, 50), percentile(tally.latencies, 99)
        rows[(endpoint.operation, endpoint.side)] = (rate, p50, cost)
        print(
            f"{endpoint.operation:<12} {endpoint.side:<8} {rate:>8.0f} {p50 * 1e3:>8.2f} "
            f"{p99 * 1e3:>8.2f} {cost * 1e3:>14.2f} {tally.server_cpu / tally.wall:>10.0%} "
            f"{tally.client_cpu / tally.wall:>10.0%} {tally.other_cpu / tally.wall:>9.0%}"
        )
    print()
    print(
        f"{'operation':<12} {'req/s graphql/floor':>20} {'p50 floor/graphql':>18} "
        f"{'srv CPU/req graphql/floor':>26}"
    )
    for operation in ("smsSenders", "smsAccounts"):
        (g_rate, g_p50, g_cost) = rows[(operation, "graphql")]
        (f_rate, f_p50, f_cost) = rows[(operation, "floor")]
        print(
            f"{operation:<12} {ratio(g_rate, f_rate):>20} {ratio(f_p50, g_p50):>18} "
            f"{ratio(g_cost, f_cost):>26}"
        )
    print(
        "\nsrv CPU ms/req: the server process's CPU time per request (threads included), the "
        "figure\nleast moved by noise. CPU columns: CPU seconds per wall second during the rounds "
        "(100% = one\ncore): the server process, this load generator, and everything else on the "
        "machine (noise)."
    )


# --- Entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
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
    for name in ("requests", "concurrency", "round_size", "warmup"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """On uvloop when installed, so the load generator spends less of its CPU on the loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coroutine)


def record_missing_sniffio() -> None:
    """Make the load generator cheaper without changing what it does.

    httpcore runs ``import sniffio`` on every lock it sets up (several per request) and falls back
    to asyncio when the module is missing, as it is in this venv. A failed import is not cached:
    each one searches every ``sys.path`` entry again (~0.3 ms a time on a small VM). Recording the
    absence once turns those into a dictionary lookup. This process only; not the server.
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record_missing_sniffio()
    options = Options(args.requests, args.concurrency, args.round_size, args.warmup)
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as scratch:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(scratch) / 'bench.db'}"
        settings = Settings(database_url=database_url, encryption_keys=TEST_KEY)
        began = time.perf_counter()
        migrate(database_url)
        key = run_async(seed(settings))
        port = free_port()
        with server(settings, port) as process:
            tallies, problems = run_async(drive(key, port, process, options))
        if tallies:
            report(tallies, options, database_url)
        failed = sum(tally.failures for tally in tallies.values())
        print(f"\ntotal time {time.perf_counter() - began:.1f} s")
    if problems or failed:
        print(f"FAILED ({failed} failed request(s) measured):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
