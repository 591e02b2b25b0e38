"""The two hot reads against their ceiling and their floor, driven by wrk.

Measures, with ``wrk`` (32 connections) over loopback, requests/s and p50/p99 of

* ``smsSenders`` (the sender picker, 10 senders) and ``smsAccounts`` (the SMS Accounts page, 20
  accounts and stats), ``POST /graphql`` with the documents of ``tests/integration/documents.py``,
  against the product started exactly as ``sms-accounts serve`` runs by default: the CLI, default
  settings (SQLite in ``./data``, ``memory://``, the response cache on), access log included
  (written to a file in the scratch folder);
* the same documents with the cache *cold*: a wrk Lua script varies an unused JSON member of each
  body (``"n": <counter>``), so every body hashes differently and misses the response cache while
  Strawberry's parser and validation caches still see the same query string (checked: no
  ``x-cache: hit`` answer);
* the CEILING: a bare Starlette app (``ceiling_app``) in the same venv under uvicorn, without an
  access log, answering the very same response bytes from memory (looked up by request body);
* the FLOOR: the same SQL without GraphQL (``floor_app``: ``create_app`` plus ``GET
  /floor/senders`` and ``/floor/accounts``, each a key lookup and the resolver's query answered
  as JSON), under uvicorn without an access log. Its bodies are checked equal to GraphQL's.

Every side gets ``--rounds`` rounds of ``--seconds`` seconds, sides alternating (ABBA) within one
run so that noise hits them alike. p50/p99 are the medians of the rounds' wrk percentiles. Goals:
picker >= 0.8x the ceiling, accounts >= 0.75x; cache cold >= 0.8x the floor; a warm read's
p99 within 3x the ceiling's p99.

``--replicas-pg URL --redis URL`` adds the same measurement for two replicas of ``sms-accounts
serve`` on PostgreSQL with ``SMS_BROADCAST_URL=redis://...`` (one wrk per replica, 16 connections
each, at the same time; goal >= 0.5x), the floor on the same PostgreSQL, and what the
cross-replica version check costs: the replicas' server CPU per cache hit (versions in Redis)
minus the embedded run's (versions in a dictionary), and the round trip of one GET timed from
here. (On PostgreSQL with ``memory://`` the product turns its cache off, so there is no
same-database comparison without Redis.)

Run from the project root (installs Debian's ``wrk`` with apt-get when missing)::

    .venv/bin/python bench/reads.py [--seconds 5] [--rounds 4]
        [--replicas-pg postgresql+asyncpg://... --redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only bench/ is on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from api.auth import bearer_key  # noqa: E402
from api.bootstrap import Runtime  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench import common  # noqa: E402
from domain.vocabulary import AccountStatus, Role, SenderKind, SmsProvider  # noqa: E402
from resolvers.account_rows import to_account  # noqa: E402
from resolvers.api_keys import hash_key  # noqa: E402
from resolvers.errors import api_name  # noqa: E402
from resolvers.permissions import may  # noqa: E402
from resolvers.wire import to_json  # noqa: E402
from storage import queries  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.models import SmsAccountRow  # noqa: E402
from storage.types import utcnow  # noqa: E402
from tests.integration.documents import ACCOUNTS, SENDERS  # noqa: E402

SEEDED = 20
VERIFIED = SEEDED // 2
CONNECTIONS = 32
GOALS = {"smsSenders": 0.8, "smsAccounts": 0.75}  # product / ceiling
COLD_GOAL = 0.8  # cache cold / floor
REPLICAS_GOAL = 0.5
P99_GOAL = 3.0  # a warm (cached) read's p99 / the ceiling's p99, at most
CEILING_FILE = "BENCH_CEILING_BODIES"  # env: JSON {request body: response body} for the ceiling
FLOOR_PATHS = {"smsSenders": "/floor/senders", "smsAccounts": "/floor/accounts"}
DOCUMENTS = {"smsSenders": SENDERS, "smsAccounts": ACCOUNTS}


# --- The ceiling and the floor: server side, imported by uvicorn in their processes -------------


def ceiling_app() -> Starlette:
    """Answers each known request body with its recorded response bytes; nothing else."""
    answers = {
        request.encode(): response.encode()
        for request, response in json.loads(Path(os.environ[CEILING_FILE]).read_text()).items()
    }

    async def graphql(request: Request) -> Response:
        answer = answers.get(await request.body())
        if answer is None:
            return Response(status_code=404)
        return Response(answer, media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


def floor_app() -> Starlette:
    """``create_app`` from the environment's settings, plus the two floor routes."""
    return common.app_with(add_floor_routes)


Query = Callable[[AsyncSession, str], Awaitable[Sequence[Any]]]


def add_floor_routes(app: Starlette, runtime: Runtime) -> None:
    services = runtime.services
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
                found = await queries.key_owner(session, hash_key(key), utcnow())
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
                "provider": SmsProvider(row.provider).name,
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
            Route(FLOOR_PATHS["smsSenders"], senders, methods=["GET"]),
            Route(FLOOR_PATHS["smsAccounts"], accounts, methods=["GET"]),
        ]
    )


def _account_json(row: SmsAccountRow, public_url: str | None) -> dict[str, Any]:
    """The fields of ``documents.ACCOUNT_FIELDS``, serialized as GraphQL serializes them: the
    card's view (``to_account``), its field names camelCased."""
    shown: dict[str, Any] = to_json(to_account(row, public_url))
    return {api_name(name): value for name, value in shown.items()}


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


def graphql_body(operation: str) -> str:
    return json.dumps({"query": DOCUMENTS[operation]})


# --- Servers ------------------------------------------------------------------------------------


async def ready_ceiling(port: int, process: subprocess.Popen[bytes]) -> None:
    """The ceiling has no /healthz: any HTTP answer means it listens."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=common.local_url(port)) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the ceiling exited with code {process.returncode}")
            try:
                await client.get("/")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError("the ceiling did not answer within 30 s")


# --- Checks before measuring --------------------------------------------------------------------


async def recorded_answers(key: str, port: int, floor_port: int) -> tuple[dict[str, str], str]:
    """Each GraphQL body's response bytes as the product answers them (the ceiling's answers),
    after checking that a repeat is a cache hit, a varied body is not, and the floor answers
    the same JSON. Returns the answers and a problem ('' when none)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    answers: dict[str, str] = {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        for operation in DOCUMENTS:
            body = graphql_body(operation)
            url = common.local_url(port) + "/graphql"
            first = await client.post(url, content=body)
            repeat = await client.post(url, content=body)
            varied = await client.post(url, content=body[:-1] + ', "n": 1}')
            floor = await client.get(common.local_url(floor_port) + FLOOR_PATHS[operation])
            if first.status_code != 200 or "errors" in first.json():
                return {}, f"{operation}: {first.status_code} {first.text[:300]}"
            if repeat.headers.get("x-cache") != "hit":
                return {}, f"{operation}: a repeated body was not a cache hit"
            if varied.headers.get("x-cache") == "hit" or varied.json() != first.json():
                return {}, f"{operation}: a varied body was a hit or answered differently"
            if floor.json() != first.json():
                return {}, f"{operation}: the floor answers differently:\n{floor.text[:400]}"
            answers[body] = repeat.text
    return answers, ""


# --- wrk ----------------------------------------------------------------------------------------

# Counts answers that are not 200 and answers marked as cache hits, and prints wrk's summary as
# one JSON line; ``VARY`` (set by the side) makes every body differ in an unused member.
WRK_SCRIPT = """
local threads = {}
local counter = 0
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  bad = 0; hits = 0
  tag = args[1] or "0"
end
if VARY then
  request = function()
    counter = counter + 1
    local n = tag .. "-" .. tid .. "-" .. counter
    return wrk.format(nil, nil, nil, PREFIX .. ', "n": "' .. n .. '"}')
  end
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  if headers["x-cache"] == "hit" or headers["X-Cache"] == "hit" then hits = hits + 1 end
end
function done(summary, latency, requests)
  local b, h = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); h = h + t:get("hits") end
  io.write(string.format(
    'WRK {"requests": %d, "us": %d, "errors": %d, "bad": %d, "hits": %d, "p50": %d, "p99": %d}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    b, h, latency:percentile(50), latency:percentile(99)))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    subprocess.run([*prefix, "apt-get", "install", "-y", "-q", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is still missing after apt-get install wrk")
    return found


@dataclass(frozen=True)
class Target:
    """One thing wrk loads: a URL, its method and body, whether bodies vary, the server pids."""

    url: str
    method: str
    body: str | None
    vary: bool
    pids: tuple[int, ...]


def lua_for(target: Target, key: str) -> str:
    """The wrk script of ``target``: method, headers and body, then the shared script."""
    lines = [
        f"wrk.method = {json.dumps(target.method)}",
        f'wrk.headers["Authorization"] = "Bearer {key}"',
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if target.body is not None:
        lines.append(f"wrk.body = {json.dumps(target.body)}")
    if target.vary and target.body is not None:
        lines += ["VARY = true", f"PREFIX = {json.dumps(target.body[:-1])}"]
    return "\n".join(lines) + WRK_SCRIPT


@dataclass
class Rounds:
    """What wrk reported over the rounds of one side, and the servers' CPU meanwhile."""

    requests: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    errors: int = 0
    hits: int = 0
    p50s: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.p50s) if self.p50s else 0.0

    @property
    def p99(self) -> float:
        return statistics.median(self.p99s) if self.p99s else 0.0

    @property
    def cost(self) -> float:
        return self.server_cpu / self.requests if self.requests else 0.0


def run_wrk(
    wrk: str, targets: Sequence[Target], key: str, seconds: int, scratch: Path, into: Rounds
) -> None:
    """One round: one wrk per target at the same time, ``CONNECTIONS`` split among them."""
    per = CONNECTIONS // len(targets)
    pids = [pid for target in targets for pid in target.pids]
    cpu_before = sum(common.cpu_seconds(pid) for pid in pids)
    processes = []
    for number, target in enumerate(targets):
        script = scratch / f"wrk-{number}.lua"
        script.write_text(lua_for(target, key))
        command = [wrk, "-t2", f"-c{per}", f"-d{seconds}s", "-s", str(script), target.url]
        command += ["--", f"{number}-{time.monotonic_ns()}"]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    outputs = [process.communicate()[0] for process in processes]
    into.server_cpu += sum(common.cpu_seconds(pid) for pid in pids) - cpu_before
    durations = []
    for output in outputs:
        line = next((ln for ln in output.splitlines() if ln.startswith("WRK ")), None)
        if line is None:
            raise RuntimeError(f"wrk printed no summary:\n{output}")
        found = json.loads(line[4:])
        into.requests += found["requests"]
        into.errors += found["errors"] + found["bad"]
        into.hits += found["hits"]
        into.p50s.append(found["p50"] / 1e6)
        into.p99s.append(found["p99"] / 1e6)
        durations.append(found["us"] / 1e6)
    into.seconds += max(durations)


def alternate(
    wrk: str,
    sides: Mapping[str, Sequence[Target]],
    key: str,
    options: Options,
    scratch: Path,
) -> dict[str, Rounds]:
    """A warm-up round per side, then ``options.rounds`` measured rounds, sides in ABBA order."""
    names = list(sides)
    for name in names:
        run_wrk(wrk, sides[name], key, 1, scratch, Rounds())
    rounds = {name: Rounds() for name in names}
    for number in range(options.rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            run_wrk(wrk, sides[name], key, options.seconds, scratch, rounds[name])
    return rounds


# --- One measurement: product variants, ceiling and floor ---------------------------------------


@dataclass(frozen=True)
class Options:
    seconds: int
    rounds: int


@dataclass(frozen=True)
class Servers:
    """Where each side listens: product variants (name -> [(port, pid)]), ceiling, floor."""

    variants: dict[str, list[tuple[int, int]]]
    cold: str  # the variant also measured with the cache cold
    ceiling: tuple[int, int]
    floor: tuple[int, int]


def sides_of(operation: str, servers: Servers) -> dict[str, list[Target]]:
    body = graphql_body(operation)

    def graphql(at: Sequence[tuple[int, int]], vary: bool) -> list[Target]:
        return [
            Target(f"{common.local_url(port)}/graphql", "POST", body, vary, (pid,))
            for port, pid in at
        ]

    sides = {name: graphql(at, False) for name, at in servers.variants.items()}
    sides["cold"] = graphql(servers.variants[servers.cold], True)
    sides["ceiling"] = graphql([servers.ceiling], False)
    port, pid = servers.floor
    sides["floor"] = [
        Target(f"{common.local_url(port)}{FLOOR_PATHS[operation]}", "GET", None, False, (pid,))
    ]
    return sides


def measure(
    wrk: str, key: str, servers: Servers, options: Options, scratch: Path
) -> dict[str, dict[str, Rounds]]:
    return {
        operation: alternate(wrk, sides_of(operation, servers), key, options, scratch)
        for operation in DOCUMENTS
    }


def report(
    title: str, figures: dict[str, dict[str, Rounds]], servers: Servers, goals: dict[str, float]
) -> list[str]:
    """The table and the ratios with their goals; the problems (errors, hit counts) found."""
    problems: list[str] = []
    print(f"\n=== {title} ===")
    header = (
        f"{'operation':<12} {'side':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'srv CPU ms/req':>14} {'hits':>6} {'errors':>6}"
    )
    print(header + "\n" + "-" * len(header))
    for operation, sides in figures.items():
        for side, rounds in sides.items():
            hits = f"{rounds.hits / rounds.requests:.0%}" if rounds.requests else "n/a"
            print(
                f"{operation:<12} {side:<16} {rounds.rate:>8.0f} {rounds.p50 * 1e3:>8.2f} "
                f"{rounds.p99 * 1e3:>8.2f} {rounds.cost * 1e3:>14.3f} {hits:>6} "
                f"{rounds.errors:>6}"
            )
            if rounds.errors:
                problems.append(f"{operation} {side}: {rounds.errors} failed request(s)")
        if sides["cold"].hits:
            problems.append(f"{operation} cold: {sides['cold'].hits} cache hit(s); all must miss")
        if sides[servers.cold].hits < sides[servers.cold].requests * 0.99:
            problems.append(f"{operation} {servers.cold}: fewer than 99 % cache hits")
    print()
    for operation, sides in figures.items():
        ceiling, floor = sides["ceiling"].rate, sides["floor"].rate
        for name in servers.variants:
            print(
                _ratio_line(
                    operation, f"{name}/ceiling", sides[name].rate, ceiling, goals[operation]
                )
            )
        print(_ratio_line(operation, "cold/floor", sides["cold"].rate, floor, goals["cold"]))
        for name in servers.variants:
            print(_p99_line(operation, name, sides[name].p99, sides["ceiling"].p99))
    return problems


def _p99_line(operation: str, name: str, p99: float, ceiling: float) -> str:
    """A warm read's stalls against the ceiling's, in the same run."""
    met = ceiling > 0 and p99 / ceiling <= P99_GOAL
    return (
        f"{operation:<12} {name + ' p99/ceiling p99':<26} {common.ratio(p99, ceiling):>6}  "
        f"({p99 * 1e3:.2f} ms / {ceiling * 1e3:.2f} ms; goal <= {P99_GOAL:g}: "
        f"{'met' if met else 'NOT met'})"
    )


def _ratio_line(operation: str, what: str, value: float, base: float, goal: float) -> str:
    met = base > 0 and value / base >= goal
    return (
        f"{operation:<12} {what:<26} {common.ratio(value, base):>6}  "
        f"(goal >= {goal}: {'met' if met else 'NOT met'})"
    )


def header(options: Options) -> None:
    stack = common.versions("strawberry-graphql", "starlette", "uvicorn", "sqlalchemy")
    print(
        f"machine: {common.machine()}, load average {common.load_average()}\n"
        f"stack:   {stack}; wrk, {CONNECTIONS} connections, 2 threads\n"
        f"params:  {options.rounds} rounds x {options.seconds:g} s per side (ABBA), "
        f"1 s warm-up per side; {SEEDED} accounts ({VERIFIED} VERIFIED); p50/p99 = median of "
        "the rounds'"
    )


# --- Runs ---------------------------------------------------------------------------------------


def run_embedded(
    wrk: str, options: Options, scratch: Path
) -> tuple[list[str], dict[str, dict[str, Rounds]]]:
    """The embedded default: one ``sms-accounts serve`` on SQLite + memory://."""
    database_url = f"sqlite+aiosqlite:///{scratch}/data/sms.db"  # serve's default, from scratch
    migrate(database_url)
    key = common.run_async(seed(Settings(database_url=database_url)))
    with ExitStack() as stack:
        port, floor_port = common.free_port(), common.free_port()
        served = stack.enter_context(common.cli_server(scratch, port))
        floor = stack.enter_context(
            common.server("bench.reads:floor_app", floor_port, database_url, encryption_keys="")
        )
        common.run_async(common.ready(port, served))
        common.run_async(common.ready(floor_port, floor))
        answers, problem = common.run_async(recorded_answers(key, port, floor_port))
        if problem:
            return [problem], {}
        ceiling = start_ceiling(stack, answers, scratch, database_url)
        servers = Servers(
            {"product": [(port, served.pid)]}, "product", ceiling, (floor_port, floor.pid)
        )
        figures = measure(wrk, key, servers, options, scratch)
    title = "embedded default: sms-accounts serve (SQLite, memory://)"
    return report(title, figures, servers, {**GOALS, "cold": COLD_GOAL}), figures


def start_ceiling(
    stack: ExitStack, answers: dict[str, str], scratch: Path, database_url: str
) -> tuple[int, int]:
    bodies = scratch / f"ceiling-{len(answers)}-{time.monotonic_ns()}.json"
    bodies.write_text(json.dumps(answers))
    port = common.free_port()
    process = stack.enter_context(
        common.server("bench.reads:ceiling_app", port, database_url, **{CEILING_FILE: str(bodies)})
    )
    common.run_async(ready_ceiling(port, process))
    return port, process.pid


def run_replicas(
    wrk: str,
    options: Options,
    scratch: Path,
    urls: tuple[str, str],
    embedded: dict[str, dict[str, Rounds]],
) -> list[str]:
    """Two replicas on PostgreSQL (``urls[0]``) with Redis (``urls[1]``) beside the ceiling and a
    floor on the same database; the version check's cost against the ``embedded`` run's hits."""
    pg_url, redis_url = urls
    migrate(pg_url)
    key = common.run_async(seed(Settings(database_url=pg_url, encryption_keys=common.TEST_KEY)))
    environment = {
        "SMS_DATABASE_URL": pg_url,
        "SMS_ENCRYPTION_KEYS": common.TEST_KEY,
        "SMS_BROADCAST_URL": redis_url,
    }
    with ExitStack() as stack:
        replicas = []
        for _ in range(2):
            port = common.free_port()
            process = stack.enter_context(common.cli_server(scratch, port, environment))
            try:
                common.run_async(common.ready(port, process))
            except RuntimeError as exc:
                said = (scratch / f"access-{port}.log").read_text()[-600:]
                print(
                    f"\nreplicas mode: sms-accounts serve with SMS_BROADCAST_URL={redis_url}: "
                    f"{exc}\n{said}\nThis mode awaits the Redis-bus branch's merge."
                )
                return []
            replicas.append((port, process.pid))
        floor_port = common.free_port()
        floor = stack.enter_context(common.server("bench.reads:floor_app", floor_port, pg_url))
        common.run_async(common.ready(floor_port, floor))
        answers, problem = common.run_async(recorded_answers(key, replicas[0][0], floor_port))
        if problem:
            return [problem]
        ceiling = start_ceiling(stack, answers, scratch, pg_url)
        servers = Servers({"replicas": replicas}, "replicas", ceiling, (floor_port, floor.pid))
        figures = measure(wrk, key, servers, options, scratch)
    goals = {operation: REPLICAS_GOAL for operation in DOCUMENTS} | {"cold": REPLICAS_GOAL}
    problems = report("two replicas: PostgreSQL + Redis", figures, servers, goals)
    # A hit does the same work on both but for where the version comes from: Redis (one GET)
    # here, a dictionary in the embedded run. (On PostgreSQL without Redis the cache is off.)
    for operation, sides in figures.items():
        extra = sides["replicas"].cost - embedded[operation]["product"].cost
        print(
            f"{operation:<12} version check: {extra * 1e3:+.3f} ms server CPU per cache hit "
            "(replicas with Redis - embedded with memory versions)"
        )
    get = common.run_async(get_round_trip(redis_url))
    print(f"one GET from this process: {get * 1e3:.3f} ms median round trip")
    return problems


async def get_round_trip(redis_url: str, times: int = 2000) -> float:
    """The median wall time of the version check's GET (a workspace's version)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    took = []
    try:
        for _ in range(times):
            started = time.perf_counter()
            await client.get("sms:cache:v:bench")
            took.append(time.perf_counter() - started)
    finally:
        await client.aclose()
    return statistics.median(took)


# --- Entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="per round (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="measured rounds per side (default 4)"
    )
    parser.add_argument(
        "--replicas-pg", help="also run two replicas on this postgresql+asyncpg:// URL"
    )
    parser.add_argument("--redis", help="with --replicas-pg: redis://... for SMS_BROADCAST_URL")
    args = parser.parse_args(argv)
    common.require_positive(parser, args, ("seconds", "rounds"))
    if bool(args.replicas_pg) != bool(args.redis):
        parser.error("--replicas-pg and --redis go together")
    if args.replicas_pg and not args.replicas_pg.startswith("postgresql+asyncpg://"):
        parser.error("--replicas-pg must start with postgresql+asyncpg://")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(args.seconds, args.rounds)
    wrk = ensure_wrk()
    began = time.perf_counter()
    header(options)
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as folder:
        scratch = Path(folder)
        problems, embedded = run_embedded(wrk, options, scratch)
        if args.replicas_pg and embedded:
            urls = (args.replicas_pg, args.redis)
            problems += run_replicas(wrk, options, scratch, urls, embedded)
    print(
        f"\nload average at the end {common.load_average()}; "
        f"total time {time.perf_counter() - began:.0f} s"
    )
    if problems:
        return common.report_failure("FAILED:", problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
