"""A load test: the real server under a realistic mix, its latency, errors, memory and descriptors.

Drives ``sms-accounts serve`` (the CLI, default settings: SQLite in ``./data`` of a scratch
folder, ``memory://``, access log on), plus ``SMS_ALLOWED_PROVIDER_HOSTS=127.0.0.1`` so that it
may dial the loopback Twilio stand-in (``providers/sms/twilio/standin.py``, its own callbacks
dropped: the mix posts them) and ``SMS_PUBLIC_URL`` so that status callbacks can be signed. For
``--seconds`` (default 60) it keeps ``--clients`` (default 50) closed-loop clients busy with a
weighted mix of

* ``picker``: ``smsSenders``; ``accounts``: ``smsAccounts`` with stats; ``history``: a page of
  ``smsMessages`` (20);
* ``send``: ``sendSms`` through a VERIFIED account whose Base URL is the stand-in;
* ``callback``: the next signed status callback (queued, sent, delivered) of a sent message;
* ``verify``: ``verifySmsAccount`` of an account checked against the stand-in;

while campaigns send (part 9): each of ``CAMPAIGN_ACCOUNTS`` verified senders, paced at
``CAMPAIGN_RATE`` segments a second, runs one campaign of ``CAMPAIGN_SIZE`` recipients after
another (created, recipients added, started, then read every 2 s as a page would until every
recipient is handed over and reported delivered), through a second stand-in that posts each
message's status callbacks (queued, sent, delivered) back to the server, signed; and while 200
websockets hold subscriptions (accounts, senders and messages, in turn) and another task opens
and closes websockets at ``--churn`` per second (default 20), each subscribing and closing about
a second later. Loops are bounded in count and in time; everything is loopback.

It prints requests/s, p50/p95/p99 and errors per operation (goal: zero errors; ``campaign`` is
one whole campaign, its time from create to the last delivery report), the campaigns' messages
and status callbacks (goal: every callback answered 204), the server's RSS
(sampled every second: peak and final, goal flat within 10 % after the warm-up, the first sixth
of the run), its open file descriptors and its asyncio tasks (``/statusz``). ``--soak-minutes N``
then runs the same mix paced at half the measured rate for N minutes (30 and 60 are the issues'
soaks) and checks that after its warm-up (its first sixth) RSS stays within 5 % and rises less
than 0.1 MiB a minute by a linear fit, and that descriptors and tasks do not grow (the mean of
the last tenth of the samples against the first tenth's, with room for the churn in flight).

``--diagnose-memory SECONDS`` hunts growth: the server traces its allocations
(``SMS_DEBUG_MEMORY_REPORT_SECONDS``, api/memory_report.py) and its reports (RSS against traced
memory, the allocation sites and object types that grew most) are printed at the end. Traced
memory flat while RSS climbs points at the C allocator; a climbing site points at the code.

Run from the project root::

    .venv/bin/python bench/load.py [--seconds 60] [--clients 50] [--soak-minutes 30]
        [--diagnose-memory 120]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only bench/ is on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from api.settings import Settings  # noqa: E402
from bench import common  # noqa: E402
from providers.sms.twilio.signature import compute_signature  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from tests.conftest import phone  # noqa: E402
from tests.integration.documents import ACCOUNTS, SENDERS, VERIFY  # noqa: E402
from tests.twilio_double import AUTH_TOKEN, TwilioDouble  # noqa: E402
from tests.twilio_fixtures import ACCOUNT_SID  # noqa: E402

SEND = """
mutation Send($input: SendSmsInput!) {
  sendSms(input: $input) { message { id providerMessageId status } errors { field code message } }
}
"""
CREATE_CAMPAIGN = """
mutation Create($input: CreateSmsCampaignInput!) {
  createSmsCampaign(input: $input) { campaign { id } errors { field code message } }
}
"""
ADD_RECIPIENTS = """
mutation Add($id: ID!, $recipients: [SmsCampaignRecipientInput!]!) {
  addSmsCampaignRecipients(id: $id, recipients: $recipients) { errors { field code message } }
}
"""
START_CAMPAIGN = """
mutation Start($id: ID!) { startSmsCampaign(id: $id) { errors { field code message } } }
"""
CAMPAIGN = """
query Campaign($id: ID!) {
  smsCampaign(id: $id) { status progress { total pending sent delivered failed unconfirmed } }
}
"""
HISTORY = """
query History($first: Int) {
  smsMessages(first: $first) {
    edges { cursor node { id direction from to body status providerMessageId errorCode } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
SUBSCRIPTIONS = (
    "subscription { smsAccountChanged { kind account { id status } } }",
    "subscription { smsSendersChanged { accountId senderId } }",
    "subscription { smsMessageUpdated { id status } }",
)
MIX = {"picker": 30, "accounts": 20, "history": 15, "send": 12, "callback": 20, "verify": 3}
STATUSES = ("queued", "sent", "delivered")
SENDING_ACCOUNTS = 5
VERIFY_ACCOUNTS = 20
# The product's answer to a verify of an account whose check still runs: expected under load (a
# user clicking again), counted apart from errors.
EXPECTED_CODES = frozenset({"VERIFICATION_IN_PROGRESS"})
SUBSCRIBERS = 200
SEND_RATE = 500  # segments a second allowed to each of the mix's sending accounts
CAMPAIGN_ACCOUNTS = 2
CAMPAIGN_RATE = 5  # segments a second per campaign sender
CAMPAIGN_SIZE = 100  # recipients per campaign: 20 s of sending at CAMPAIGN_RATE
CAMPAIGN_GRACE = 60.0  # seconds past its expected time before a campaign counts as stuck
CAMPAIGN_POLL = 2.0  # how often a campaign's progress is read
CAMPAIGN_FIRST = SENDING_ACCOUNTS + VERIFY_ACCOUNTS  # the first campaign sender's number
RSS_GOAL = 0.10  # the load phase: closed loop, its caches still filling
SOAK_RSS_GOAL = 0.05  # the soak: RSS after the warm-up within 5 % ...
SLOPE_GOAL = 0.1  # ... and rising less than this many MiB a minute (a linear fit)
TASK_SLACK = 40  # tasks the churn's sockets in flight may hold at one sample but not another
REFUSED = "refused"  # a problem that is an expected answer
FD_SLACK = 40  # sockets the churn and the clients may hold open at one sample but not another


# --- The Twilio stand-in -------------------------------------------------------------------------


def twilio() -> TwilioDouble:
    """The product's Twilio stand-in, answering sends with a new SID each. Its own status
    callbacks are dropped: the mix posts them (the ``callback`` operation), so that they are
    measured like every other operation."""
    double = TwilioDouble(
        numbers=[(phone(n), True) for n in range(SENDING_ACCOUNTS + VERIFY_ACCOUNTS)]
    )
    double.drop_callbacks = True
    return double.start()


def campaign_twilio(seconds: float) -> TwilioDouble:
    """A second stand-in, for the campaigns' senders: like Twilio it posts each message's status
    callbacks (queued, sent, delivered) back to the server, signed, and it keeps them all for the
    run so that every answer is counted."""
    numbers = [(phone(CAMPAIGN_FIRST + n), True) for n in range(CAMPAIGN_ACCOUNTS)]
    callbacks = int(seconds * CAMPAIGN_ACCOUNTS * CAMPAIGN_RATE * len(STATUSES) * 1.5) + 10_000
    return TwilioDouble(numbers=numbers, recorded=callbacks).start()


# --- Setup --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    key: str
    sending: list[str]  # VERIFIED accounts on the stand-in
    verifying: list[str]  # accounts the mix verifies again and again
    campaigning: list[str]  # VERIFIED accounts on the campaigns' stand-in, at CAMPAIGN_RATE


async def seed(settings: Settings, base_url: str, campaign_base_url: str) -> Seeded:
    """A workspace with the integration on and accounts on the stand-ins, the sending and the
    campaign ones set VERIFIED in the table."""
    async with common.seeding(settings) as seeded:
        ids = []
        for number in range(CAMPAIGN_FIRST + CAMPAIGN_ACCOUNTS):
            campaign = number >= CAMPAIGN_FIRST
            fields: dict[str, Any] = {
                "provider": "TWILIO",
                "senderId": phone(number),  # one Account SID and sender is connected once
                "clientId": ACCOUNT_SID,
                "authToken": AUTH_TOKEN,
                "baseUrl": campaign_base_url if campaign else base_url,
                "displayName": f"{'Campaign' if campaign else 'Load'} line {number:02d}",
            }
            if campaign:
                fields["sendRatePerSecond"] = CAMPAIGN_RATE
            elif number < SENDING_ACCOUNTS:
                # The mix's sends go as fast as its clients ask: the pace is the campaigns' test.
                fields["sendRatePerSecond"] = SEND_RATE
            ids.append((await seeded.add_account(fields))["id"])
        async with seeded.services.writes() as session:
            await common.mark_verified(session, ids[:SENDING_ACCOUNTS] + ids[CAMPAIGN_FIRST:])
            await session.commit()
    sending, verifying = ids[:SENDING_ACCOUNTS], ids[SENDING_ACCOUNTS:CAMPAIGN_FIRST]
    return Seeded(seeded.key, sending, verifying, ids[CAMPAIGN_FIRST:])


# --- The mix ------------------------------------------------------------------------------------


@dataclass
class Operation:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    refused: int = 0  # answers with an expected error code (EXPECTED_CODES)


@dataclass
class Load:
    """What the clients share: the server, the work in flight and what was measured."""

    http: httpx.AsyncClient
    seeded: Seeded
    public_url: str
    operations: dict[str, Operation] = field(default_factory=dict)
    callbacks: deque[tuple[str, str, str, int]] = field(default_factory=deque)
    samples: list[str] = field(default_factory=list)
    turn: itertools.count[int] = field(default_factory=itertools.count)

    def record(self, name: str, took: float, problem: str | None) -> None:
        operation = self.operations.setdefault(name, Operation())
        operation.latencies.append(took)
        if problem == REFUSED:
            operation.refused += 1
        elif problem is not None:
            operation.errors += 1
            if len(self.samples) < 10:
                self.samples.append(f"{name}: {problem}")

    async def graphql(self, query: str, variables: dict[str, Any]) -> tuple[Any, str | None]:
        """The data of a POST /graphql, or the problem: not 200, errors, or a payload's errors."""
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            return None, f"HTTP {response.status_code}: {response.text[:200]}"
        for payload in body["data"].values():
            if isinstance(payload, dict) and payload.get("errors"):
                if {error["code"] for error in payload["errors"]} <= EXPECTED_CODES:
                    return None, REFUSED
                return None, f"payload errors {payload['errors']}"
        return body["data"], None

    async def picker(self) -> str | None:
        return (await self.graphql(SENDERS, {}))[1]

    async def accounts(self) -> str | None:
        return (await self.graphql(ACCOUNTS, {}))[1]

    async def history(self) -> str | None:
        return (await self.graphql(HISTORY, {"first": 20}))[1]

    async def send(self) -> str | None:
        account = self.seeded.sending[next(self.turn) % len(self.seeded.sending)]
        to = f"+1415555{random.randrange(10_000):04d}"
        fields = {"accountId": account, "to": to, "body": "Your code is 1234"}
        data, problem = await self.graphql(SEND, {"input": fields})
        if problem is None:
            message = data["sendSms"]["message"]
            self.callbacks.append((account, message["id"], message["providerMessageId"], 0))
        return problem

    async def verify(self) -> str | None:
        account = self.seeded.verifying[next(self.turn) % len(self.seeded.verifying)]
        return (await self.graphql(VERIFY, {"id": account}))[1]

    async def callback(self) -> str | None:
        """The next status of a sent message, signed as Twilio signs it."""
        account, message_id, sid, step = self.callbacks.popleft()
        path = f"/webhooks/twilio/{account}/status?mid={message_id}"
        status = STATUSES[step]
        params = {"AccountSid": ACCOUNT_SID, "MessageSid": sid, "MessageStatus": status}
        signature = compute_signature(self.public_url + path, list(params.items()), AUTH_TOKEN)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        response = await self.http.post(path, content=urlencode(params), headers=headers)
        if step + 1 < len(STATUSES):
            self.callbacks.append((account, message_id, sid, step + 1))
        return None if response.status_code == 204 else f"HTTP {response.status_code}"

    async def one(self, name: str) -> None:
        """Run and record one operation (a callback waits for a sent message: a picker then)."""
        if name == "callback" and not self.callbacks:
            name = "picker"
        run: Callable[[], Awaitable[str | None]] = getattr(self, name)
        started = time.perf_counter()
        try:
            problem = await run()
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        self.record(name, time.perf_counter() - started, problem)


@dataclass
class Campaigns:
    """On each campaign sender, one campaign after another until cancelled; each is recorded as
    the operation ``campaign`` (from its create to its last delivery report)."""

    load: Load
    made: itertools.count[int] = field(default_factory=itertools.count)

    async def run(self) -> None:
        await asyncio.gather(*(self._in_turn(account) for account in self.load.seeded.campaigning))

    async def _in_turn(self, account: str) -> None:
        while True:
            started = time.perf_counter()
            try:
                problem = await self._campaign(account)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self.load.record("campaign", time.perf_counter() - started, problem)
            if problem is not None:
                await asyncio.sleep(CAMPAIGN_POLL)  # a refused create is not retried in a loop

    async def _campaign(self, account: str) -> str | None:
        """Create, add the recipients, start; then wait for every delivery report."""
        number = next(self.made)
        fields = {
            "accountId": account,
            "name": f"Load campaign {number}",
            "body": "Your table is ready",
            "idempotencyKey": f"load-{number}",
        }
        data, problem = await self.load.graphql(CREATE_CAMPAIGN, {"input": fields})
        if problem is not None:
            return problem
        campaign_id = data["createSmsCampaign"]["campaign"]["id"]
        recipients = [{"to": f"+1628555{n:04d}"} for n in range(CAMPAIGN_SIZE)]
        for query, variables in (
            (ADD_RECIPIENTS, {"id": campaign_id, "recipients": recipients}),
            (START_CAMPAIGN, {"id": campaign_id}),
        ):
            problem = (await self.load.graphql(query, variables))[1]
            if problem is not None:
                return problem
        return await self._delivered(campaign_id)

    async def _delivered(self, campaign_id: str) -> str | None:
        """Read the campaign every ``CAMPAIGN_POLL`` s, as its page would, until it is completed
        and every recipient reported delivered; a problem past its time and ``CAMPAIGN_GRACE``."""
        deadline = time.monotonic() + CAMPAIGN_SIZE / CAMPAIGN_RATE + CAMPAIGN_GRACE
        found: dict[str, Any] = {}
        while time.monotonic() < deadline:
            await asyncio.sleep(CAMPAIGN_POLL)
            data, problem = await self.load.graphql(CAMPAIGN, {"id": campaign_id})
            if problem is not None:
                return problem
            found = data["smsCampaign"]
            progress = found["progress"]
            if found["status"] == "COMPLETED" and progress["delivered"] == progress["total"]:
                return None
        return f"campaign {campaign_id} not done in time: {found}"


def campaign_callbacks(standin: TwilioDouble) -> tuple[int, int, int]:
    """The campaigns' stand-in so far: sends accepted, status callbacks answered 204, others."""
    answers = [hook.status_code for hook in standin.webhooks if hook.kind == "status"]
    taken = sum(1 for code in answers if code == 204)
    return len(standin.sends), taken, len(answers) - taken


class Pacer:
    """Spaces the clients' operations at ``rate`` per second in all (None: as fast as they go)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.next = time.monotonic()

    async def wait(self) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        slot = max(self.next, now)
        self.next = slot + 1 / self.rate
        await asyncio.sleep(slot - now)


async def client(
    load: Load, plan: Plan, until: float, pacer: Pacer, budget: int, seed: int
) -> None:
    """A closed-loop client: weighted random operations until ``until`` or ``budget`` done."""
    chooser = random.Random(seed)
    names, weights = list(plan.mix), list(plan.mix.values())
    for _ in range(budget):
        if time.monotonic() >= until:
            return
        await pacer.wait()
        await load.one(chooser.choices(names, weights)[0])


# --- Websockets ---------------------------------------------------------------------------------


async def subscribe(url: str, key: str, query: str) -> ClientConnection:
    """A websocket speaking ``graphql-transport-ws``, acknowledged and subscribed to ``query``."""
    socket = await connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        proxy=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=2,
    )
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
    await socket.send(json.dumps(init))
    ack = json.loads(await asyncio.wait_for(socket.recv(), 10))
    if ack.get("type") != "connection_ack":
        await socket.close()
        raise RuntimeError(f"no connection_ack: {ack}")
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
    return socket


@dataclass
class Sockets:
    """The held subscriptions and the churn: events received, problems met."""

    url: str
    key: str
    load: Load
    events: int = 0
    expected: int = 0  # held subscriptions to open
    held: int = 0  # ... opened
    failed: int = 0  # ... that could not be opened
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # every one opened or failed
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def _count(self, opened: bool) -> None:
        if opened:
            self.held += 1
        else:
            self.failed += 1
        if self.held + self.failed >= self.expected:
            self.settled.set()

    async def hold(self, number: int) -> None:
        """One of the long-lived subscribers, from its opening to ``stop``."""
        started = time.perf_counter()
        try:
            socket = await subscribe(self.url, self.key, SUBSCRIPTIONS[number % 3])
        except (OSError, InvalidHandshake, RuntimeError, TimeoutError, ConnectionClosed) as exc:
            self._count(opened=False)
            self.load.record("ws subscribe", time.perf_counter() - started, repr(exc))
            return
        self._count(opened=True)
        self.load.record("ws subscribe", time.perf_counter() - started, None)
        reader = asyncio.create_task(self._read(socket))
        await self.stop.wait()
        reader.cancel()
        with suppress(asyncio.CancelledError):
            await reader
        await socket.close()

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for frame in socket:
                message = json.loads(frame)
                if message.get("type") == "next" and "errors" not in message["payload"]:
                    self.events += 1
                elif message.get("type") == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                else:
                    self.load.record("ws event", 0.0, f"unexpected frame {str(message)[:200]}")
        except ConnectionClosed as closed:
            self.load.record("ws event", 0.0, f"a held socket closed: {closed}")

    async def churn(self, per_second: float, until: float) -> None:
        """Open a socket every 1/``per_second`` s (each subscribes, closes a second later)."""
        tasks: set[asyncio.Task[None]] = set()
        number = itertools.count()
        due = time.monotonic()
        while due < until:
            task = asyncio.create_task(self._brief(next(number)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            due += 1 / per_second  # on a schedule: a slow loop catches up instead of drifting
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await asyncio.gather(*tasks)

    async def _brief(self, number: int) -> None:
        started = time.perf_counter()
        try:
            socket = await subscribe(self.url, self.key, SUBSCRIPTIONS[number % 3])
            self.load.record("ws open+close", time.perf_counter() - started, None)
            await asyncio.sleep(1)
            await socket.close()
        except (OSError, InvalidHandshake, RuntimeError, TimeoutError, ConnectionClosed) as exc:
            self.load.record("ws open+close", time.perf_counter() - started, repr(exc))


# --- The server's memory and descriptors --------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


@dataclass
class Watch:
    """The server's RSS and descriptor count, sampled every second, and its asyncio tasks
    (``/statusz``)."""

    pid: int
    http: httpx.AsyncClient
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (time, rss, fds)
    tasks: list[tuple[float, int]] = field(default_factory=list)  # (time, asyncio tasks)

    async def run(self, until: float) -> None:
        while time.monotonic() < until:
            with suppress(OSError):
                self.samples.append((time.monotonic(), rss_bytes(self.pid), open_fds(self.pid)))
            with suppress(httpx.HTTPError, ValueError, KeyError):
                answer = await self.http.get("/statusz")
                self.tasks.append((time.monotonic(), int(answer.json()["tasks"])))
            await asyncio.sleep(1)

    def after(self, since: float) -> list[tuple[float, int, int]]:
        return [sample for sample in self.samples if sample[0] >= since] or self.samples[-1:]

    def tasks_after(self, since: float) -> list[int]:
        return [count for at, count in self.tasks if at >= since] or [0]


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of ``(seconds, value)`` points, per minute."""
    if len(points) < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return 0.0
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


# --- Phases -------------------------------------------------------------------------------------

WS_OPERATIONS = ("ws subscribe", "ws open+close", "ws event")
NOT_PACED = (*WS_OPERATIONS, "campaign")  # not the mix's: left out of its rate


@dataclass(frozen=True)
class Phase:
    name: str
    wall: float
    operations: dict[str, Operation]
    watch: Watch
    warmed: float  # monotonic time the warm-up ended
    campaigns: tuple[int, int, int]  # campaign_callbacks() during the phase

    @property
    def http_rate(self) -> float:
        done = sum(
            len(op.latencies) for name, op in self.operations.items() if name not in NOT_PACED
        )
        return done / self.wall


@dataclass(frozen=True)
class Plan:
    seconds: float
    clients: int
    churn: float
    rate: float | None  # operations per second in all; None: closed loop, as fast as it goes
    mix: dict[str, int]  # operation -> weight


async def phase(
    name: str, load: Load, sockets: Sockets, pid: int, plan: Plan, standin: TwilioDouble
) -> Phase:
    """The mix for ``plan.seconds``, with the churn and the server watched meanwhile (the
    campaigns send throughout, started by ``drive``)."""
    load.operations = {}
    before = campaign_callbacks(standin)
    began = time.monotonic()
    until = began + plan.seconds
    watch = Watch(pid, load.http)
    pacer = Pacer(plan.rate)
    budget = int(plan.seconds * 1000) + 1  # more than a client can do: the time bounds the loop
    started = time.perf_counter()
    await asyncio.gather(
        *(client(load, plan, until, pacer, budget, number) for number in range(plan.clients)),
        sockets.churn(plan.churn, until),
        watch.run(until),
    )
    after = campaign_callbacks(standin)
    return Phase(
        name,
        time.perf_counter() - started,
        load.operations,
        watch,
        began + plan.seconds / 6,
        (after[0] - before[0], after[1] - before[1], after[2] - before[2]),
    )


async def drive(
    seeded: Seeded, port: int, process: Any, standin: TwilioDouble, args: argparse.Namespace
) -> tuple[list[Phase], int, list[str]]:
    """Open the held subscriptions, run the load (and the soak); the phases, the events the held
    sockets received, and the problems."""
    public_url = common.local_url(port)
    headers = {"Authorization": f"Bearer {seeded.key}"}
    async with common.load_client(public_url, headers, args.clients) as http:
        await common.wait_ready(http, process)
        load = Load(http, seeded, public_url)
        sockets = Sockets(
            f"ws://{common.HOST}:{port}/graphql", seeded.key, load, expected=args.subscribers
        )
        holders = []
        for number in range(args.subscribers):
            holders.append(asyncio.create_task(sockets.hold(number)))
            await asyncio.sleep(0.005)
        with suppress(TimeoutError):
            await asyncio.wait_for(sockets.settled.wait(), 60)
        opened = load.operations.pop("ws subscribe", Operation())
        print(
            f"held subscriptions: {sockets.held} open, {sockets.failed} failed; opening p50 "
            f"{common.percentile(opened.latencies or [0.0], 50) * 1e3:.0f} ms"
        )
        if sockets.failed:
            load.samples.append(f"{sockets.failed} held subscription(s) could not be opened")
        campaigns = Campaigns(load)
        sending = asyncio.create_task(campaigns.run())
        plan = Plan(args.seconds, args.clients, args.churn, None, args.mix)
        phases = [await phase("load", load, sockets, process.pid, plan, standin)]
        if args.soak_minutes:
            rate = phases[0].http_rate / 2
            soak = Plan(args.soak_minutes * 60, args.clients, args.churn, rate, args.mix)
            phases.append(await phase("soak", load, sockets, process.pid, soak, standin))
        sending.cancel()  # the campaign in flight ends with the run, unrecorded
        with suppress(asyncio.CancelledError):
            await sending
        sockets.stop.set()
        await asyncio.gather(*holders)
    return phases, sockets.events, load.samples


# --- Report -------------------------------------------------------------------------------------


def report(phase: Phase, events: int) -> list[str]:
    """The phase's table and its memory and descriptor checks; the goals it missed."""
    problems = []
    print(f"\n=== {phase.name}: {phase.wall:.0f} s, HTTP {phase.http_rate:.0f} requests/s ===")
    header = (
        f"{'operation':<14} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'errors':>6} {'refused':>7}"
    )
    print(header + "\n" + "-" * len(header))
    for name, operation in sorted(phase.operations.items()):
        lat = operation.latencies
        print(
            f"{name:<14} {len(lat):>7} {len(lat) / phase.wall:>7.1f} "
            f"{common.percentile(lat, 50) * 1e3:>8.2f} {common.percentile(lat, 95) * 1e3:>8.2f} "
            f"{common.percentile(lat, 99) * 1e3:>8.2f} {operation.errors:>6} "
            f"{operation.refused:>7}"
        )
        if operation.errors:
            problems.append(f"{phase.name} {name}: {operation.errors} error(s)")
    print(f"events received by the held subscriptions (whole run): {events}")
    sends, taken, refused = phase.campaigns
    print(
        f"campaigns: {sends} messages handed to the stand-in ({sends / phase.wall:.1f}/s), "
        f"{taken} status callbacks answered 204 ({taken / phase.wall:.1f}/s), {refused} not"
    )
    if refused:
        problems.append(f"{phase.name}: {refused} campaign status callback(s) not answered 204")
    if not phase.operations.get("campaign"):
        problems.append(f"{phase.name}: no campaign completed")
    problems += memory_checks(phase)
    return problems


def memory_checks(phase: Phase) -> list[str]:
    """RSS after the warm-up (peak over its start, and the slope of a linear fit), descriptors
    and asyncio tasks; the goals missed. A soak holds RSS within 5 % and under 0.1 MiB a minute;
    the closed-loop load phase, whose caches are still filling, within 10 %."""
    soak = phase.name == "soak"
    goal = SOAK_RSS_GOAL if soak else RSS_GOAL
    warm = phase.watch.after(phase.warmed)
    base, peak, final = warm[0][1], max(s[1] for s in warm), phase.watch.samples[-1][1]
    grew = peak / base - 1 if base else 0.0
    slope = slope_per_minute([(at, rss / 2**20) for at, rss, _ in warm])
    flat = grew <= goal and (not soak or slope < SLOPE_GOAL)
    print(
        f"server RSS: after warm-up {base / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB, "
        f"final {final / 2**20:.1f} MiB: peak {grew:+.1%} over the warm-up's end, slope "
        f"{slope:+.3f} MiB/min (linear fit after warm-up; goal within {goal:.0%}"
        + (f" and under {SLOPE_GOAL} MiB/min" if soak else "")
        + f": {'met' if flat else 'NOT met'})"
    )
    start, step = phase.watch.samples[0][0], max(1, len(phase.watch.samples) // 12)
    timeline = ", ".join(
        f"{(at - start) / 60:.1f}m {rss / 2**20:.1f}" for at, rss, _ in phase.watch.samples[::step]
    )
    print(f"server RSS MiB over time: {timeline}")
    fds = [s[2] for s in warm]
    fds_first, fds_final = _tenth_mean(fds, first=True), _tenth_mean(fds, first=False)
    steady = fds_final <= fds_first + FD_SLACK
    print(
        f"server open descriptors after warm-up: first tenth {fds_first:.0f}, last tenth "
        f"{fds_final:.0f}, peak {max(fds)}, slope "
        f"{slope_per_minute([(at, n) for at, _, n in warm]):+.2f}/min (flat within {FD_SLACK}: "
        f"{'met' if steady else 'NOT met'})"
    )
    tasks = phase.watch.tasks_after(phase.warmed)
    tasks_first, tasks_final = _tenth_mean(tasks, first=True), _tenth_mean(tasks, first=False)
    # The closed-loop phase's churn backs up as it likes: the tasks are held flat in the soak.
    tasks_flat = tasks_final <= tasks_first + TASK_SLACK or not soak
    warm_tasks = [(at, n) for at, n in phase.watch.tasks if at >= phase.warmed]
    print(
        f"server asyncio tasks after warm-up: first tenth {tasks_first:.0f}, last tenth "
        f"{tasks_final:.0f}, peak {max(tasks)}, slope {slope_per_minute(warm_tasks):+.2f}/min "
        f"(flat within {TASK_SLACK}: {'met' if tasks_flat else 'NOT met'})"
    )
    problems = []
    if not flat:
        problems.append(f"{phase.name}: RSS grew {grew:.1%} after warm-up, {slope:+.3f} MiB/min")
    if not steady:
        problems.append(f"{phase.name}: descriptors grew from {fds_first:.0f} to {fds_final:.0f}")
    if not tasks_flat:
        problems.append(f"{phase.name}: tasks grew from {tasks_first:.0f} to {tasks_final:.0f}")
    return problems


def _tenth_mean(values: list[int], *, first: bool) -> float:
    """The mean of the first or last tenth of the samples: one sample is noise (a churned socket
    in flight), a tenth is the level."""
    tenth = max(1, len(values) // 10)
    part = values[:tenth] if first else values[-tenth:]
    return sum(part) / len(part)


# --- Entry point --------------------------------------------------------------------------------


def print_memory_reports(log: Path) -> None:
    """The server's memory reports (``api/memory_report.py``), from its log."""
    print("\n=== the server's memory reports ===")
    for line in log.read_text(errors="replace").splitlines():
        if "sms_accounts.memory" in line:
            print(line)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="load phase (default 60)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS, help="held (default 200)")
    parser.add_argument("--churn", type=float, default=20.0, help="websockets opened per second")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="soak at half the rate")
    parser.add_argument(
        "--diagnose-memory",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="trace the server's allocations and print, every SECONDS, what grew (slow: "
        "SMS_DEBUG_MEMORY_REPORT_SECONDS)",
    )
    parser.add_argument(
        "--mix",
        type=_mix,
        default=MIX,
        help="operation=weight,... to run part of the mix, e.g. picker=1 (to find what grows)",
    )
    args = parser.parse_args(argv)
    common.require_positive(parser, args, ("seconds", "clients", "subscribers", "churn"))
    if args.soak_minutes < 0:
        parser.error("--soak-minutes must not be negative")
    return args


def _mix(text: str) -> dict[str, int]:
    mix = {}
    for item in text.split(","):
        name, _, weight = item.partition("=")
        if name.strip() not in MIX or not weight.strip().isdigit() or int(weight) < 1:
            raise argparse.ArgumentTypeError(f"{item!r}: expected one of {list(MIX)}=<weight>")
        mix[name.strip()] = int(weight)
    return mix


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    print(f"machine: {common.machine()}, load average {common.load_average()}")
    print(
        f"params:  {args.clients} clients, mix {args.mix}, {args.subscribers} held subscriptions, "
        f"{args.churn:g} websockets opened/s, {args.seconds:g} s"
        + (f", soak {args.soak_minutes:g} min at half the rate" if args.soak_minutes else "")
    )
    double = twilio()
    campaigning = campaign_twilio(args.seconds + args.soak_minutes * 60)
    try:
        with tempfile.TemporaryDirectory(prefix="sms-load-") as folder:
            scratch = Path(folder)
            database_url = f"sqlite+aiosqlite:///{scratch}/data/sms.db"  # serve's default there
            migrate(database_url)
            settings = Settings(database_url=database_url, allowed_provider_hosts=common.HOST)
            seeded = common.run_async(seed(settings, double.base_url, campaigning.base_url))
            port = common.free_port()
            environment = {
                "SMS_ALLOWED_PROVIDER_HOSTS": common.HOST,
                "SMS_PUBLIC_URL": common.local_url(port),
            }
            if args.diagnose_memory:
                environment["SMS_DEBUG_MEMORY_REPORT_SECONDS"] = f"{args.diagnose_memory:g}"
            with common.cli_server(scratch, port, environment) as process:
                phases, events, samples = common.run_async(
                    drive(seeded, port, process, campaigning, args)
                )
                campaigning.drop_callbacks = True  # the server stops next: nobody to answer
            if args.diagnose_memory:
                print_memory_reports(scratch / f"access-{port}.log")
    finally:
        double.stop()
        campaigning.stop()
    problems = [problem for found in phases for problem in report(found, events)]
    print(
        f"\nload average at the end {common.load_average()}; "
        f"total {time.perf_counter() - began:.0f} s"
    )
    if problems or samples:
        return common.report_failure("FAILED:", problems + samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
