"""Signed Twilio status callbacks per second through the server, beside a floor doing the same work.

Measures, over real HTTP against a real uvicorn server (one worker, i.e. one core for Python),
the throughput (callbacks/s) and latency (p50, p99) of

* the app: ``POST /webhooks/twilio/{accountId}/status?mid={messageId}`` (``api/webhooks.py``),
  each request form-encoded and signed as Twilio signs it (``X-Twilio-Signature``, HMAC-SHA1
  with the account's Auth Token over ``SMS_PUBLIC_URL`` + path + query + sorted parameters);
* its *floor*: ``POST /floor/twilio/{accountId}/status?mid={messageId}``, a bare Starlette
  endpoint added only in the benchmark's server (``floor_app``). Per request it reads the form
  body, loads the account's token ciphertext (one SELECT of the columns of
  ``storage.queries.signing_secrets``, on the app's engine), decrypts it with the app's
  ``SecretBox``, checks the signature with Twilio's ``is_valid_signature`` over the same kind
  of URL, and runs the UPDATE of ``storage.message_queries.advance`` (the same SQL:
  conditional on the current status, ``RETURNING`` every column; then by our id when the SID
  matched nothing, as the app does) in a write transaction of the app's writer engine
  (``BEGIN IMMEDIATE`` on SQLite), answering 204. It builds its two statements once (with bound
  parameters), runs them with SQLAlchemy Core on connections rather than ORM sessions, and skips
  what the app does with the returned row (model, event publish). The floor commits each
  callback in its own transaction; the app groups the callbacks that arrive together into one
  transaction per short batch (``SMS_STATUS_BATCH_SIZE``, ``SMS_STATUS_BATCH_LINGER_SECONDS``,
  ``resolvers/status_batches.py``) and answers each only after its batch committed, so with
  enough callbacks in flight the app may beat its floor.

Setup: a fresh temporary SQLite database, migrated; a new workspace with the SMS integration on
and one Twilio account added through ``addSmsAccount`` (so its Auth Token is encrypted by the
app), then set VERIFIED directly in the table (the benchmark never talks to Twilio); 2 x
(``--messages`` + ``--warmup``) outbound messages inserted directly with status QUEUED and
distinct Twilio SIDs, half for the app and half for the floor, so both sides really update.

Load comes from this process (httpx.AsyncClient, HTTP/1.1 keep-alive, ``--concurrency``
connections, closed loop; 64 by default, so that a batch can hold many callbacks: a closed loop
of N connections never has more than N callbacks waiting). Each message gets Twilio's sequence
of callbacks, ``queued``, ``sent``, ``delivered`` (3 per message), posted in that order by one
connection; messages interleave across connections. App and floor rounds alternate (ABBA order)
so that noise hits both alike. Every response must be 204, and at the end every message of both
sides must be DELIVERED (counted in the database), or the run exits 1.

The report gives callbacks/s, p50/p99, the server's CPU per callback, the ratio app/floor of the
throughput (goal >= 0.8), the app's callbacks per second of server CPU (what one core absorbs
when the server has it to itself; goal >= 1,000/s) and how long a 100,000-message campaign
(300,000 callbacks) takes at the measured rate and on one core (goal: under 5 minutes).

Run from the project root::

    .venv/bin/python bench/webhooks.py [--messages 1000] [--concurrency 64]
        [--database-url postgresql+asyncpg://USER:PASS@HOST/DB [--pg-messages 500]]

A default run sends 2 x 3 x (1000 + 50) callbacks.
With ``--database-url`` (default: ``SMS_TEST_DATABASE_URL``), a second, shorter run
(``--pg-messages`` per side) follows against that database (migrated; a new workspace each run),
with its own server and table. The run ends with a summary: per database, the app's callbacks/s
beside its floor's, and the callbacks one core absorbs beside the goal (1,000/s).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only bench/ is on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import Update, and_, bindparam, func, insert, or_, select, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import PlainTextResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from api.bootstrap import Runtime  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench import common  # noqa: E402
from domain.messages import statuses_that_may_become  # noqa: E402
from domain.vocabulary import MessageDirection, MessageStatus  # noqa: E402
from providers.sms.twilio.signature import compute_signature, is_valid_signature  # noqa: E402
from providers.sms.twilio.words import STATUS_WORDS, message_status  # noqa: E402
from resolvers.account_rows import previous_secret_binding, secret_binding  # noqa: E402
from storage.db import create_engine  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.models import SmsAccountRow, SmsMessageRow, new_id  # noqa: E402
from storage.types import utcnow  # noqa: E402

SENDER = "+14155550100"
TWILIO_SEQUENCE = ("queued", "sent", "delivered")  # the callbacks of one delivered message
CAMPAIGN_MESSAGES = 100_000
CAMPAIGN_CALLBACKS = CAMPAIGN_MESSAGES * len(TWILIO_SEQUENCE)
GOAL = 0.8
ONE_CORE_GOAL = 1000.0  # callbacks per second of server CPU
CAMPAIGN_GOAL_SECONDS = 300.0
MAX_BODY = 64 * 1024
SIDES = ("app", "floor")

_M = SmsMessageRow.__table__.c  # type: ignore[attr-defined]
_A = SmsAccountRow.__table__.c  # type: ignore[attr-defined]


# --- The floor: the server side, imported by uvicorn in the server process ----------------------


def floor_app() -> Starlette:
    """``create_app`` from the environment's settings, plus the floor route."""
    return common.app_with(add_floor_routes)


def _advance_statement(*, by_id: bool, with_error: bool) -> Update:
    """``message_queries.advance``'s UPDATE, with its values as bound parameters."""
    values: dict[str, Any] = {
        "status": bindparam("b_status"),
        "updated_at": bindparam("b_now"),
        "provider_message_id": bindparam("b_sid"),
    }
    if with_error:
        values["error_code"] = bindparam("b_error_code")
    if by_id:
        which = and_(
            _M.id == bindparam("b_message_id"),
            or_(_M.provider_message_id.is_(None), _M.provider_message_id == bindparam("b_sid")),
        )
    else:
        which = _M.provider_message_id == bindparam("b_sid")
    return (
        update(SmsMessageRow)
        .where(
            which,
            _M.account_id == bindparam("b_account_id"),
            _M.direction == MessageDirection.OUTBOUND,
            _M.status.in_(bindparam("b_allowed", expanding=True)),
        )
        .values(**values)
        .returning(*SmsMessageRow.__table__.c)  # type: ignore[attr-defined]
    )


def add_floor_routes(app: Starlette, runtime: Runtime) -> None:
    services = runtime.services
    reader: AsyncEngine = services.reads.kw["bind"]  # the app's engine
    writer: AsyncEngine = services.writes.kw["bind"]  # ... with the writer option (BEGIN IMMEDIATE)
    box = services.secrets
    public_url = services.public_url
    signing = select(
        _A.workspace_id,
        _A.auth_token_ciphertext,
        _A.previous_auth_token_ciphertext,
        _A.previous_auth_token_until,
    ).where(
        _A.id == bindparam("b_account_id"), _A.removed_at.is_(None), _A.auth_token_ciphertext != ""
    )
    statements = {
        (by_id, with_error): _advance_statement(by_id=by_id, with_error=with_error)
        for by_id in (False, True)
        for with_error in (False, True)
    }
    # Twilio's word -> (status, may replace)
    moves: dict[str, tuple[MessageStatus, list[MessageStatus]]] = {}
    for word in STATUS_WORDS:
        new = message_status(word)
        if new is not None:
            moves[word] = (new, list(statuses_that_may_become(new)))

    async def status(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("Request body too large", status_code=413)
        if public_url is None:
            return PlainTextResponse("Forbidden", status_code=403)
        params = parse_qsl(body.decode(), keep_blank_values=True)
        account_id: str = request.path_params["account_id"]
        query = request.scope["query_string"].decode()
        url = public_url + request.scope["path"] + (f"?{query}" if query else "")
        async with reader.connect() as connection:
            row = (await connection.execute(signing, {"b_account_id": account_id})).first()
        if row is None:
            return PlainTextResponse("Forbidden", status_code=403)
        tokens = [box.decrypt(row[1], bound_to=secret_binding(account_id))]
        until: datetime | None = row[3]
        if row[2] and until is not None and until > utcnow():
            tokens.append(box.decrypt(row[2], bound_to=previous_secret_binding(account_id)))
        if not is_valid_signature(url, params, request.headers.get("x-twilio-signature"), tokens):
            return PlainTextResponse("Forbidden", status_code=403)

        fields = dict(params)
        word = fields.get("MessageStatus") or fields.get("SmsStatus") or ""
        move = moves.get(word.strip().lower())
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if move is None or not sid:
            return Response(status_code=204)
        error = fields.get("ErrorCode", "")
        values: dict[str, Any] = {
            "b_status": move[0],
            "b_now": utcnow(),
            "b_sid": sid,
            "b_account_id": account_id,
            "b_allowed": move[1],
        }
        if error.isdigit():
            values["b_error_code"] = int(error)
        mid = request.query_params.get("mid")
        async with writer.begin() as connection:
            moved = (await connection.execute(statements[(False, error.isdigit())], values)).first()
            if moved is None and mid:
                values["b_message_id"] = mid
                await connection.execute(statements[(True, error.isdigit())], values)
        return Response(status_code=204)

    app.router.routes.append(
        Route("/floor/twilio/{account_id}/status", status, methods=["POST"]),
    )


# --- Setup: database, account, messages ---------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    account_id: str
    sids: dict[str, list[tuple[str, str]]]  # side -> [(our message id, Twilio's SID)]


def _body_of(side: str) -> str:
    return f"bench webhooks: {side}"


async def seed(settings: Settings, per_side: int) -> Seeded:
    """A workspace with the integration on, one VERIFIED account, ``per_side`` QUEUED messages
    for the app and as many for the floor."""
    sids: dict[str, list[tuple[str, str]]] = {}
    async with common.seeding(settings) as seeded:
        fields = {
            "provider": "TWILIO",
            "senderId": SENDER,
            "clientId": common.ACCOUNT_SID,
            "authToken": common.AUTH_TOKEN,
            "displayName": "Campaign line",
        }
        account_id: str = (await seeded.add_account(fields))["id"]
        async with seeded.services.writes() as session:
            await common.mark_verified(session, [account_id])
            workspace_id = (
                await session.execute(select(_A.workspace_id).where(_A.id == account_id))
            ).scalar_one()
            now = utcnow()
            rows: list[dict[str, Any]] = []
            for side in SIDES:
                sids[side] = [(new_id(), "SM" + secrets.token_hex(16)) for _ in range(per_side)]
                rows += [
                    {
                        "id": message_id,
                        "workspace_id": workspace_id,
                        "account_id": account_id,
                        "direction": MessageDirection.OUTBOUND,
                        "from_number": SENDER,
                        "to_number": f"+1415556{number % 10_000:04d}",
                        "body": _body_of(side),
                        "status": MessageStatus.QUEUED,
                        "provider_message_id": sid,
                        "segments": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for number, (message_id, sid) in enumerate(sids[side])
                ]
            await session.execute(insert(SmsMessageRow), rows)
            await session.commit()
    return Seeded(account_id, sids)


async def delivered_counts(database_url: str, account_id: str) -> dict[str, tuple[int, int]]:
    """side -> (messages DELIVERED, messages) of this account, read from the database."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                select(
                    _M.body,
                    func.count(),
                    func.count().filter(_M.status == MessageStatus.DELIVERED),
                )
                .where(_M.account_id == account_id)
                .group_by(_M.body)
            )
            by_body = {row[0]: (int(row[2]), int(row[1])) for row in found}
    finally:
        await engine.dispose()
    return {side: by_body.get(_body_of(side), (0, 0)) for side in SIDES}


# --- Load ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Callback:
    path: str
    body: bytes
    headers: dict[str, str]


Message = tuple[Callback, ...]  # one message's callbacks, in Twilio's order


def callbacks_of(
    side: str, account_id: str, messages: list[tuple[str, str]], public_url: str
) -> list[Message]:
    """Each message's status callbacks, signed as Twilio signs them, built before measuring."""
    prefix = "/webhooks/twilio" if side == "app" else "/floor/twilio"
    built: list[Message] = []
    for number, (message_id, sid) in enumerate(messages):
        path = f"{prefix}/{account_id}/status?mid={message_id}"
        sequence = []
        for status in TWILIO_SEQUENCE:
            params = {
                "AccountSid": common.ACCOUNT_SID,
                "MessageSid": sid,
                "SmsSid": sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "From": SENDER,
                "To": f"+1415556{number % 10_000:04d}",
                "ApiVersion": "2010-04-01",
            }
            signature = compute_signature(
                public_url + path, list(params.items()), common.AUTH_TOKEN
            )
            sequence.append(
                Callback(path, urlencode(params).encode(), {"X-Twilio-Signature": signature})
            )
        built.append(tuple(sequence))
    return built


async def run_round(
    client: httpx.AsyncClient, messages: list[Message], concurrency: int, pid: int
) -> common.Tally:
    """Post every message's callbacks over ``concurrency`` closed-loop connections; one message's
    callbacks go in order over one connection."""
    tally = common.Tally()
    pending = deque(messages)

    async def worker() -> None:
        while pending:
            for callback in pending.popleft():
                response = await tally.timed(
                    callback.path,
                    client.post(callback.path, content=callback.body, headers=callback.headers),
                )
                if response is not None and response.status_code != 204:
                    tally.fail(
                        f"{callback.path}: HTTP {response.status_code}: {response.text[:200]}"
                    )

    return await tally.run(worker, min(concurrency, len(messages)), pid)


@dataclass(frozen=True)
class Options:
    messages: int  # per side, measured
    concurrency: int
    round_size: int  # messages per round
    warmup: int  # messages per side, not measured


async def drive(
    seeded: Seeded, port: int, process: subprocess.Popen[bytes], options: Options
) -> tuple[dict[str, common.Tally], list[str]]:
    """Warm up both sides, then measure in alternating rounds. Returns tallies, problems."""
    public_url = common.local_url(port)
    work = {
        side: callbacks_of(side, seeded.account_id, seeded.sids[side], public_url) for side in SIDES
    }
    async with common.load_client(
        public_url, {"Content-Type": "application/x-www-form-urlencoded"}, options.concurrency
    ) as client:
        await common.wait_ready(client, process)

        def measure(side: str, first: int, size: int) -> Awaitable[common.Tally]:
            part = work[side][first : first + size]
            return run_round(client, part, options.concurrency, process.pid)

        problems = await common.warm_up(SIDES, measure, options.warmup)
        if problems:
            return {}, problems
        return await common.measure_rounds(
            [SIDES], measure, options.warmup, options.messages, options.round_size, process
        )


# --- Report -------------------------------------------------------------------------------------


def report(
    tallies: dict[str, common.Tally], options: Options, database_url: str
) -> dict[str, common.Figures]:
    stack = common.versions("starlette", "uvicorn", "sqlalchemy", "aiosqlite", "asyncpg", "httpx")
    driver = database_url.split(":", 1)[0]
    per_side = options.messages * len(TWILIO_SEQUENCE)
    print(
        f"\nmachine: {common.machine()}\n"
        f"stack:   {stack}\n"
        f"params:  {options.messages} messages x {len(TWILIO_SEQUENCE)} callbacks "
        f"({'/'.join(TWILIO_SEQUENCE)}) = {per_side} measured callbacks per side, "
        f"concurrency={options.concurrency},\n         rounds of {options.round_size} messages "
        f"(alternating), warm-up {options.warmup} messages per side, database {driver}, "
        f"uvicorn 1 worker, loop {common.event_loop_name()}\n"
        f"         app = POST /webhooks/twilio/{{id}}/status, floor = POST "
        f"/floor/twilio/{{id}}/status (same signature check, same UPDATE, Core, no ORM)\n"
    )
    figures = common.print_table(
        f"{'endpoint':<8}",
        [(side, f"{side:<8}", tally) for side, tally in tallies.items()],
        "callbacks/s",
        11,
        "srv CPU ms/cb",
        3,
    )
    app, floor = figures["app"], figures["floor"]
    met = floor.rate > 0 and app.rate / floor.rate >= GOAL
    print(
        f"\napp/floor: callbacks/s {common.ratio(app.rate, floor.rate)} "
        f"(goal >= {GOAL}: {_met(met)}), "
        f"p99 floor/app {common.ratio(floor.p99, app.p99)}, "
        f"server CPU per callback app/floor {common.ratio(app.cost, floor.cost)}"
    )
    if app.rate > 0 and app.cost > 0:
        seconds, one_core = CAMPAIGN_CALLBACKS / app.rate, 1 / app.cost
        at_floor = f"{CAMPAIGN_CALLBACKS / floor.rate:.0f} s" if floor.rate > 0 else "n/a"
        print(
            f"one core: {one_core:.0f} callbacks per second of server CPU "
            f"(goal >= {ONE_CORE_GOAL:.0f}: {_met(one_core >= ONE_CORE_GOAL)})\n"
            f"campaign: {CAMPAIGN_MESSAGES:,} messages -> {CAMPAIGN_CALLBACKS:,} callbacks take "
            f"≈ {seconds:.0f} s ({seconds / 60:.1f} min) at the measured rate, "
            f"{CAMPAIGN_CALLBACKS / one_core:.0f} s on one core to itself\n"
            f"          (goal < {CAMPAIGN_GOAL_SECONDS:.0f} s: "
            f"{_met(CAMPAIGN_CALLBACKS / one_core < CAMPAIGN_GOAL_SECONDS)} on one core, "
            f"{_met(seconds < CAMPAIGN_GOAL_SECONDS)} as measured; at the floor's rate ≈ "
            f"{at_floor})"
        )
    common.print_cpu_note(
        "srv CPU ms/cb: the server process's CPU time per callback (its SQLite threads included)."
    )
    return figures


def summary(results: list[tuple[str, dict[str, common.Figures]]]) -> None:
    """One line per database: the app's callbacks/s beside its floor's, and what one core
    absorbs beside the goal."""
    print(
        f"\n=== Summary ===\n{'database':<11}{'app cb/s':>9}{'floor cb/s':>11}{'app/floor':>10}"
        f"{'one core cb/s':>14}  goal >= {ONE_CORE_GOAL:.0f} on one core"
    )
    for name, figures in results:
        app, floor = figures["app"], figures["floor"]
        one_core = 1 / app.cost if app.cost > 0 else 0.0
        print(
            f"{name:<11}{app.rate:>9.0f}{floor.rate:>11.0f}"
            f"{common.ratio(app.rate, floor.rate):>10}{one_core:>14.0f}  "
            f"{_met(one_core >= ONE_CORE_GOAL)}"
        )


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


# --- Entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(__doc__)
    parser.add_argument(
        "--messages", type=int, default=1000, help="measured messages per side (default 1000)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="connections (default 64)")
    parser.add_argument(
        "--round-size", type=int, default=100, help="messages per round (default 100)"
    )
    parser.add_argument(
        "--warmup", type=int, default=50, help="warm-up messages per side (default 50)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SMS_TEST_DATABASE_URL"),
        help="after the SQLite run, also run against this database (postgresql+asyncpg://...; "
        "migrated, a new workspace each run; default: SMS_TEST_DATABASE_URL)",
    )
    parser.add_argument(
        "--pg-messages",
        type=int,
        default=500,
        help="measured messages per side on --database-url (default 500)",
    )
    args = parser.parse_args(argv)
    common.require_positive(
        parser, args, ("messages", "concurrency", "round_size", "warmup", "pg_messages")
    )
    if args.database_url and not args.database_url.startswith("postgresql+asyncpg://"):
        parser.error("--database-url must start with postgresql+asyncpg://")
    return args


def measure(
    database_url: str, options: Options
) -> tuple[list[str], dict[str, common.Figures] | None]:
    """Migrate, seed, serve, drive, check, report. Returns the problems found (none: passed)
    and the figures."""
    settings = Settings(database_url=database_url, encryption_keys=common.TEST_KEY)
    began = time.perf_counter()
    migrate(database_url)
    seeded = common.run_async(seed(settings, options.warmup + options.messages))
    seeded_in = time.perf_counter() - began
    port = common.free_port()
    public_url = common.local_url(port)
    with common.server(
        "bench.webhooks:floor_app", port, database_url, SMS_PUBLIC_URL=public_url
    ) as process:
        tallies, problems = common.run_async(drive(seeded, port, process, options))
    figures = report(tallies, options, database_url) if tallies else None
    failed = sum(tally.failures for tally in tallies.values())
    if failed:
        problems.insert(0, f"{failed} measured callback(s) were not answered 204")
    counts = common.run_async(delivered_counts(database_url, seeded.account_id))
    for side, (delivered, total) in counts.items():
        if delivered != total or total != options.warmup + options.messages:
            problems.append(
                f"{side}: {delivered} of {total} messages DELIVERED "
                f"(expected all {options.warmup + options.messages})"
            )
    print(
        "check:   "
        + ", ".join(
            f"{side} {delivered}/{total} DELIVERED" for side, (delivered, total) in counts.items()
        )
        + f"; seeding {seeded_in:.1f} s, total {time.perf_counter() - began:.1f} s"
    )
    return problems, figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(args.messages, args.concurrency, args.round_size, args.warmup)
    results = []
    with tempfile.TemporaryDirectory(prefix="sms-bench-") as scratch:
        problems, figures = measure(common.sqlite_url(scratch), options)
    if figures:
        results.append(("SQLite", figures))
    if args.database_url:
        print("\n=== PostgreSQL (a shorter run) ===")
        pg_options = Options(args.pg_messages, args.concurrency, args.round_size, args.warmup)
        pg_problems, figures = measure(args.database_url, pg_options)
        problems += pg_problems
        if figures:
            results.append(("PostgreSQL", figures))
    else:
        print("\n(PostgreSQL skipped: give --database-url or set SMS_TEST_DATABASE_URL)")
    summary(results)
    if problems:
        return common.report_failure("FAILED:", problems)
    return 0


if __name__ == "__main__":
    sys.exit(main())
