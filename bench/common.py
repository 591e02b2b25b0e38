"""What the benchmarks of this folder share: the uvicorn server they measure, the seeding of its
database, the closed-loop load, the CPU accounting and the report's helpers.

Imported as ``bench.common``: each script puts the project root on ``sys.path`` first, and the
server process (``uvicorn --app-dir ROOT``) has it there already.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import math
import os
import platform
import secrets
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from api.app import create_app
from api.bootstrap import Runtime, build_services
from api.settings import Settings, load_settings
from domain.vocabulary import AccountStatus, Role
from resolvers.api_keys import create_api_key
from resolvers.services import Services
from storage.db import create_engine, create_sessionmakers
from storage.models import SmsAccountRow
from storage.types import utcnow
from tests.integration.documents import ADD, SET_ENABLED

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
TEST_KEY = base64.b64encode(b"b" * 32).decode()  # fixed, like the test suite's
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f1e2d3c4b5a6978812345678abcdef90"
T = TypeVar("T")
K = TypeVar("K")


# --- The server ---------------------------------------------------------------------------------


def app_with(add_routes: Callable[[Starlette, Runtime], None]) -> Starlette:
    """``create_app`` from the environment's settings, plus the routes ``add_routes`` adds over
    what the app runs on."""
    runtime = build_services(load_settings())
    app = create_app(runtime)
    add_routes(app, runtime)
    return app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def local_url(port: int) -> str:
    return f"http://{HOST}:{port}"


def sqlite_url(folder: str) -> str:
    """A fresh SQLite database file in ``folder``."""
    return f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"


def event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


@contextmanager
def server(
    app: str, port: int, database_url: str, encryption_keys: str = TEST_KEY, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    """uvicorn with the factory ``app`` (``module:function``), one worker, on this database, in
    the environment minus every ``SMS_`` variable plus ``settings`` (``SMS_...`` names);
    terminated (then killed) on the way out."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMS_")}
    env.update(SMS_DATABASE_URL=database_url, SMS_ENCRYPTION_KEYS=encryption_keys, **settings)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--app-dir",
        str(ROOT),
        "--host",
        HOST,
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
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server we started, killing it if it has not exited within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        with suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.05)
    raise RuntimeError("the server did not answer /healthz within 30 s")


@contextmanager
def cli_server(
    scratch: Path, port: int, environment: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``sms-accounts serve --port PORT`` in ``scratch`` (its ``./data`` holds the database), the
    environment minus every ``SMS_`` variable plus ``environment``; the access log (uvicorn's
    stdout) and its other logs go to a file there, ``access-PORT.log``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMS_")}
    env.update(environment or {})
    command = [str(Path(sys.executable).with_name("sms-accounts")), "serve", "--port", str(port)]
    with open(scratch / f"access-{port}.log", "wb") as log:
        process = subprocess.Popen(command, cwd=scratch, env=env, stdout=log, stderr=log)
        try:
            yield process
        finally:
            stop(process)


async def ready(port: int, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=local_url(port)) as client:
        await wait_ready(client, process)


# --- Setup: key, workspace, accounts ------------------------------------------------------------


async def admin_key(database_url: str, name: str) -> str:
    """A new admin API key (of a new workspace), written straight to the database."""
    engine = create_engine(database_url)
    _, writes = create_sessionmakers(engine)
    try:
        return (await create_api_key(writes, name, Role.ADMIN)).key
    finally:
        await engine.dispose()


async def graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any],
    *,
    what: str = "GraphQL request",
) -> Any:
    """The ``data`` of a ``POST /graphql``, which must answer 200 without errors."""
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{what} failed ({response.status_code}): {response.text}")
    return body["data"]


async def _offline_resolver(host: str) -> list[str]:
    """No DNS while seeding: a name that does not resolve passes the Base URL check."""
    raise OSError(f"{host}: no DNS in the benchmark")


@dataclass(frozen=True)
class Seeding:
    key: str  # the admin key of the new workspace
    http: httpx.AsyncClient  # the app in this process (over ASGI), with that key
    services: Services  # the app's

    async def add_account(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``addSmsAccount`` with ``fields``; the account it answers."""
        data = await graphql(self.http, ADD, {"input": fields}, what="seed request")
        payload = data["addSmsAccount"]
        if payload["errors"]:
            raise RuntimeError(f"addSmsAccount refused the seed: {payload['errors']}")
        account: dict[str, Any] = payload["account"]
        return account


@asynccontextmanager
async def seeding(settings: Settings) -> AsyncIterator[Seeding]:
    """A new workspace with the SMS integration enabled, its admin key, and the app in this
    process (no DNS) to seed it through."""
    key = await admin_key(settings.database_url, f"bench-{secrets.token_hex(4)}")
    runtime = build_services(settings, resolver=_offline_resolver)
    app = create_app(runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://seed", headers={"Authorization": f"Bearer {key}"}
        ) as http:
            await graphql(http, SET_ENABLED, {"enabled": True}, what="seed request")
            yield Seeding(key, http, runtime.services)


async def mark_verified(session: AsyncSession, account_ids: Sequence[str]) -> None:
    """Set these accounts VERIFIED directly in the table (the benchmarks never talk to Twilio)."""
    await session.execute(
        update(SmsAccountRow)
        .where(SmsAccountRow.id.in_(account_ids))  # type: ignore[attr-defined]
        .values(status=AccountStatus.VERIFIED, verified_at=utcnow(), trial=False)
    )


# --- CPU accounting (Linux /proc; zeros elsewhere) ----------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its threads included (Linux); 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (Linux); 0 where /proc is missing."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    """CPU seconds per wall second while a part ran (1.0 = one core busy)."""

    server: float
    client: float  # this process
    other: float  # every other process on the machine: the noise


class CpuMeter:
    """``with CpuMeter(server_pid) as meter: ...``, then the wall time and CPU seconds it took:
    ``meter.wall``, ``meter.server``, ``meter.client`` (this process), ``meter.other`` (every
    other process on the machine: the noise); or ``meter.cpu``, those per wall second."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.wall = self.server = self.client = self.other = 0.0

    def _sample(self) -> tuple[float, float, float, float]:
        return (
            time.perf_counter(),
            busy_seconds(),
            cpu_seconds(self.server_pid),
            time.process_time(),
        )

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, busy, server, self.client = (
            end - start for end, start in zip(self._sample(), self._start, strict=True)
        )
        self.server = max(0.0, server)
        self.other = max(0.0, busy - self.server - self.client)

    @property
    def cpu(self) -> Cpu:
        if self.wall <= 0:
            return Cpu(0.0, 0.0, 0.0)
        return Cpu(self.server / self.wall, self.client / self.wall, self.other / self.wall)


# --- Load ---------------------------------------------------------------------------------------


def load_client(base_url: str, headers: dict[str, str], concurrency: int) -> httpx.AsyncClient:
    """The load generator's client: HTTP/1.1 keep-alive, ``concurrency`` connections."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        # Idle connections are dropped after 2 s, before uvicorn's 5 s keep-alive timeout: with
        # both at 5 s, a request sent on a connection the server is closing dies as a ReadError
        # (seen when a side's connections idle through the other side's round on a busy machine).
        limits=httpx.Limits(
            max_connections=concurrency,
            max_keepalive_connections=concurrency,
            keepalive_expiry=2.0,
        ),
        timeout=httpx.Timeout(30.0),
        http1=True,
        http2=False,
    )


@dataclass
class Tally:
    """The requests of one or more rounds: latencies, failures, wall time and CPU seconds."""

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

    def add(self, part: Tally) -> None:
        self.latencies += part.latencies
        self.wall += part.wall
        self.server_cpu += part.server_cpu
        self.client_cpu += part.client_cpu
        self.other_cpu += part.other_cpu
        self.failures += part.failures
        self.samples += part.samples[: 5 - len(self.samples)]

    async def timed(self, label: str, request: Awaitable[httpx.Response]) -> httpx.Response | None:
        """``request``'s response, its latency recorded; None, a failure recorded, when it raised
        an HTTP error."""
        started = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            self.latencies.append(time.perf_counter() - started)
            self.fail(f"{label}: {type(exc).__name__}: {exc}")
            return None
        self.latencies.append(time.perf_counter() - started)
        return response

    async def run(
        self, worker: Callable[[], Coroutine[Any, Any, None]], workers: int, pid: int
    ) -> Tally:
        """Run ``workers`` copies of ``worker`` together; record the wall time and the CPU used
        meanwhile by the server (``pid``), by this process and by everything else."""
        with CpuMeter(pid) as meter:
            await asyncio.gather(*(worker() for _ in range(workers)))
        self.wall, self.server_cpu = meter.wall, meter.server
        self.client_cpu, self.other_cpu = meter.client, meter.other
        return self

    @property
    def measured(self) -> bool:
        return bool(self.latencies) and self.wall > 0

    @property
    def rate(self) -> float:
        """Requests per wall second."""
        return len(self.latencies) / self.wall

    @property
    def cost(self) -> float:
        """Server CPU seconds per request."""
        return self.server_cpu / len(self.latencies)

    def percentile(self, rank: float) -> float:
        return percentile(self.latencies, rank)

    def cpu_columns(self) -> str:
        """The three columns under ``CPU_HEADER``."""
        return (
            f"{self.server_cpu / self.wall:>10.0%} {self.client_cpu / self.wall:>10.0%} "
            f"{self.other_cpu / self.wall:>9.0%}"
        )


CPU_HEADER = f"{'server CPU':>10} {'client CPU':>10} {'other CPU':>9}"


Measure = Callable[[K, int, int], Awaitable[Tally]]  # (side, first unit, units) -> one round


async def warm_up(sides: Sequence[K], measure: Measure[K], size: int) -> list[str]:
    """One round of ``size`` units per side, not measured; the problems it met."""
    problems: list[str] = []
    for side in sides:
        problems += (await measure(side, 0, size)).samples
    return problems


async def measure_rounds(
    groups: Sequence[Sequence[K]],
    measure: Measure[K],
    first: int,
    total: int,
    round_size: int,
    process: subprocess.Popen[bytes],
) -> tuple[dict[K, Tally], list[str]]:
    """Measure, group after group, ``total`` units of work per side (from unit ``first``) in
    rounds of at most ``round_size``, the sides of a group taking turns in ABBA order so that
    noise hits them alike. Returns a tally per side and the problems met (stopping early when
    the server exits)."""
    tallies = {side: Tally() for group in groups for side in group}
    for group in groups:
        done = 0
        for number in range(math.ceil(total / round_size)):
            size = min(round_size, total - done)
            for side in group if number % 2 == 0 else group[::-1]:
                part = await measure(side, first + done, size)
                tallies[side].add(part)
                if process.poll() is not None:
                    problem = f"the server exited with code {process.returncode}"
                    return tallies, [problem, *part.samples]
            done += size
    return tallies, [sample for tally in tallies.values() for sample in tally.samples]


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """On uvloop when installed, so the load generator spends less of its CPU on the loop; and
    without searching for sniffio again and again (``record_missing_sniffio``)."""
    record_missing_sniffio()
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


# --- Command line and report --------------------------------------------------------------------


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of a script's docstring."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)


def require_positive(
    parser: argparse.ArgumentParser, args: argparse.Namespace, names: Sequence[str]
) -> None:
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")


def report_failure(heading: str, problems: Sequence[str]) -> int:
    """Print ``heading`` and the problems to stderr; the exit code of a failed run."""
    print(heading, file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def machine(*, implementation: bool = True) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    python = platform.python_version()
    if implementation:
        python += f" ({platform.python_implementation()})"
    return f"nproc={cores}, Python {python}, {platform.system()} {platform.machine()}"


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (Linux): how busy the shared machine was."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def versions(*names: str) -> str:
    return ", ".join(f"{name} {metadata.version(name)}" for name in names)


@dataclass(frozen=True)
class Figures:
    """What the table shows of a tally (zeros where nothing was measured)."""

    rate: float  # requests per second
    p50: float  # seconds
    p99: float  # seconds
    cost: float  # server CPU seconds per request


def print_table(
    label_header: str,
    rows: Sequence[tuple[K, str, Tally]],
    rate_header: str,
    rate_width: int,
    cost_header: str,
    cost_digits: int,
) -> dict[K, Figures]:
    """A table of throughput, latency and CPU, a line per ``(key, label, tally)``; each key's
    figures. Labels are padded to the width of ``label_header``."""
    header = (
        f"{label_header} {rate_header:>{rate_width}} {'p50 ms':>8} {'p99 ms':>8} "
        f"{cost_header} {CPU_HEADER}"
    )
    print(header)
    print("-" * len(header))
    figures: dict[K, Figures] = {}
    for key, label, tally in rows:
        if not tally.measured:
            print(f"{label} (not measured)")
            figures[key] = Figures(0.0, 0.0, 0.0, 0.0)
            continue
        row = figures[key] = Figures(
            tally.rate, tally.percentile(50), tally.percentile(99), tally.cost
        )
        print(
            f"{label} {row.rate:>{rate_width}.0f} {row.p50 * 1e3:>8.2f} {row.p99 * 1e3:>8.2f} "
            f"{row.cost * 1e3:>{len(cost_header)}.{cost_digits}f} {tally.cpu_columns()}"
        )
    return figures


def print_cpu_note(cost_note: str) -> None:
    """The note under the report: ``cost_note`` on the cost column, then the CPU columns'."""
    note = (
        f"{cost_note} CPU columns: CPU seconds per wall second during the rounds (100% = one "
        "core): the server process, this load generator, and everything else on the machine "
        "(noise)."
    )
    print("\n" + textwrap.fill(note, 93))


def percentile(values: list[float], rank: float) -> float:
    """Nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if numerator > 0 and denominator > 0 else "n/a"
