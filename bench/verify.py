"""How fast a verdict and an event reach a live subscriber, each beside a floor measured in the run.

Everything runs on this machine over real sockets: a uvicorn server process (one worker) serving
``create_app`` from the environment plus two floor routes (``bench_app``), a fresh temporary
SQLite database, and the loopback Twilio stand-in of ``tests/twilio_double.py`` answering every
request after a fixed latency L (``--latency-ms``, default 200 ms).

(a) Verdict latency. One websocket client (protocol ``graphql-transport-ws``, admin key)
    subscribes to ``smsAccountChanged``; then, ``--runs`` times, ``verifySmsAccount`` is sent for
    an account whose sender is a phone number, and the time from just before sending it to the
    subscriber receiving the event with status VERIFIED is divided by L. The service checks the
    account and the sender concurrently, so the goal is one L plus a push: ratio ≤ 1.3. Its
    floor: a bare HTTP client doing one keep-alive GET of the stand-in's account endpoint
    (``--runs`` times, median), printed with the ratio of the verdict latency to it.

(b) Event push latency. ``--subscribers`` websocket clients subscribe to ``smsAccountChanged``
    (admin key, same workspace); ``--events`` times, ``updateSmsAccount`` renames an account, and
    for every subscriber the time from just before sending the mutation to receiving the event
    is recorded: p50 / p99 over all subscribers and events, and the mutation's own round trip p50.
    Its floor: a bare Starlette websocket endpoint in the same server process (``/floor/ws``) to
    which as many plain websocket clients connect; ``POST /floor/publish`` sends the posted text
    to every one of them in turn. The posted text is a GraphQL event frame of the same size, and
    the clients parse both alike. GraphQL and floor events alternate, so noise hits both.

Run from the project root (it starts and stops everything itself)::

    .venv/bin/python bench/verify.py [--latency-ms 200] [--subscribers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only bench/ is on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from api.bootstrap import Runtime  # noqa: E402
from bench import common  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from tests.integration.documents import ACCOUNT_FIELDS, ADD, SET_ENABLED, UPDATE  # noqa: E402
from tests.twilio_double import TwilioDouble  # noqa: E402

TEST_KEY = base64.b64encode(b"v" * 32).decode()
VERIFY = f"""
mutation Verify($id: ID!) {{
  verifySmsAccount(id: $id) {{ account {{ {ACCOUNT_FIELDS} }} message errors {{ code }} }}
}}
"""
SUBSCRIBE = f"""
subscription Changes {{
  smsAccountChanged {{
    kind previousStatus
    account {{ {ACCOUNT_FIELDS} }}
    stats {{ connected verified awaitingAction }}
  }}
}}
"""
EVENT_TIMEOUT = 10.0
GOAL = 1.3  # (a): verdict seen within 1.3 L


# --- The server side, imported by uvicorn in the server process ---------------------------------


def bench_app() -> Starlette:
    """``create_app`` from the environment's settings, plus the fan-out floor routes."""
    return common.app_with(add_floor_routes)


def add_floor_routes(app: Starlette, runtime: Runtime) -> None:
    """``/floor/ws``: plain websockets, kept open. ``POST /floor/publish``: send the body's text
    to every connected one, in turn, then answer how many got it."""
    sockets: set[WebSocket] = set()

    async def floor_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    async def publish(request: Request) -> JSONResponse:
        text = (await request.body()).decode()
        sent = 0
        for websocket in tuple(sockets):
            with suppress(Exception):  # a client gone meanwhile
                await websocket.send_text(text)
                sent += 1
        return JSONResponse({"sent": sent})

    app.router.routes.extend(
        [
            WebSocketRoute("/floor/ws", floor_socket),
            Route("/floor/publish", publish, methods=["POST"]),
        ]
    )


# --- Setup ----------------------------------------------------------------------------------------


def payload_of(data: Any) -> dict[str, Any]:
    """The one payload of a mutation's data; its ``errors`` must be empty."""
    (payload,) = data.values()
    if payload.get("errors"):
        raise RuntimeError(f"the mutation was refused: {payload['errors']}")
    return payload  # type: ignore[no-any-return]


async def add_account(http: httpx.AsyncClient, **fields: str) -> str:
    """``addSmsAccount`` of a Twilio account with these fields; the new account's id."""
    added = payload_of(await common.graphql(http, ADD, {"input": {"provider": "TWILIO", **fields}}))
    account_id: str = added["account"]["id"]
    return account_id


# --- Websocket clients ----------------------------------------------------------------------------

Handler = Callable[[float, dict[str, Any]], None]


class Client:
    """One websocket client. Every event it receives goes to ``handler(received_at, event)``:
    the ``smsAccountChanged`` object, timed the moment the frame was read."""

    def __init__(self, websocket: ClientConnection, handler: Handler) -> None:
        self.websocket = websocket
        self.handler = handler
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def subscriber(cls, url: str, key: str, handler: Handler) -> Client:
        """``graphql-transport-ws``: init with the key, wait for the ack, subscribe."""
        websocket = await connect(
            url, subprotocols=[Subprotocol("graphql-transport-ws")], proxy=None, ping_interval=None
        )
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
        await websocket.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(websocket.recv(), EVENT_TIMEOUT))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"the server did not acknowledge the connection: {ack}")
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}
        await websocket.send(json.dumps(subscribe))
        return cls(websocket, handler)

    @classmethod
    async def plain(cls, url: str, handler: Handler) -> Client:
        return cls(await connect(url, proxy=None, ping_interval=None), handler)

    async def _read(self) -> None:
        with suppress(ConnectionClosed):
            async for frame in self.websocket:
                received = time.perf_counter()
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "ping":
                    await self.websocket.send(json.dumps({"type": "pong"}))
                elif kind == "next":
                    self.handler(received, message["payload"]["data"]["smsAccountChanged"])
                elif kind in ("error", "complete"):
                    print(f"a subscription ended: {message}", file=sys.stderr)
                    return

    async def close(self) -> None:
        await self.websocket.close()
        self.reader.cancel()
        with suppress(asyncio.CancelledError):
            await self.reader


@dataclass
class Round:
    """The event one round waits for (an account renamed to ``name``), per client."""

    name: str
    expected: int
    received: dict[int, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def handler(self, index: int) -> Handler:
        def seen(received: float, event: dict[str, Any]) -> None:
            if event["account"]["displayName"] == self.name and index not in self.received:
                self.received[index] = received
                if len(self.received) >= self.expected:
                    self.done.set()

        return seen


class Fleet:
    """Clients whose handler is routed to the current round."""

    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.round: Round | None = None
        self.last_event: dict[str, Any] | None = None

    def handler(self, index: int) -> Handler:
        def seen(received: float, event: dict[str, Any]) -> None:
            self.last_event = event
            if self.round is not None:
                self.round.handler(index)(received, event)

        return seen

    async def run(
        self, name: str, trigger: Callable[[], Awaitable[httpx.Response]]
    ) -> tuple[float, float, list[float]]:
        """Trigger once; (sent at, response round trip, receive times of those that got it)."""
        self.round = Round(name, len(self.clients))
        sent = time.perf_counter()
        response = await trigger()
        round_trip = time.perf_counter() - sent
        if response.status_code != 200:
            raise RuntimeError(f"trigger failed ({response.status_code}): {response.text}")
        with suppress(TimeoutError):
            await asyncio.wait_for(self.round.done.wait(), EVENT_TIMEOUT)
        received = list(self.round.received.values())
        self.round = None
        return sent, round_trip, received

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.clients))


# --- Measurements -----------------------------------------------------------------------------


@dataclass
class VerdictResult:
    verdict: list[float]  # seconds, verifySmsAccount sent → VERIFIED received
    answer: list[float]  # seconds, verifySmsAccount round trip (VERIFYING)
    floor: list[float]  # seconds, one bare GET of the stand-in's account endpoint
    cpu: common.Cpu | None = None


async def measure_verdicts(
    http: httpx.AsyncClient, ws_url: str, key: str, double: TwilioDouble, runs: int
) -> VerdictResult:
    account_id = await add_account(
        http,
        displayName="Verdict bench",
        senderId=double.phone_number,
        clientId=double.account_sid,
        authToken=double.auth_token,
        baseUrl=double.base_url,
    )
    verdicts: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()

    def seen(received: float, event: dict[str, Any]) -> None:
        if event["account"]["id"] == account_id:
            verdicts.put_nowait((received, event))

    client = await Client.subscriber(ws_url, key, seen)
    result = VerdictResult([], [], [])
    url = f"{double.base_url}2010-04-01/Accounts/{double.account_sid}.json"
    auth = (double.account_sid, double.auth_token)
    try:
        await _wait_subscribed(http, account_id, verdicts)
        async with httpx.AsyncClient(trust_env=False) as bare:
            for number in range(runs + 1):  # the first of each warms up (and connects)
                while not verdicts.empty():
                    verdicts.get_nowait()
                sent = time.perf_counter()
                response = await http.post(
                    "/graphql", json={"query": VERIFY, "variables": {"id": account_id}}
                )
                answered = time.perf_counter()
                started = payload_of(response.json()["data"])
                if started["account"]["status"] != "VERIFYING":
                    raise RuntimeError(f"verifySmsAccount did not start a check: {started}")
                received, event = await _verdict(verdicts)
                if event["account"]["status"] != "VERIFIED":
                    raise RuntimeError(f"the verdict is not VERIFIED: {event['account']}")

                floor_sent = time.perf_counter()
                floor = await bare.get(url, auth=auth)
                floor_elapsed = time.perf_counter() - floor_sent
                floor.raise_for_status()
                if number > 0:
                    result.verdict.append(received - sent)
                    result.answer.append(answered - sent)
                    result.floor.append(floor_elapsed)
    finally:
        await client.close()
    return result


async def _verdict(
    verdicts: asyncio.Queue[tuple[float, dict[str, Any]]],
) -> tuple[float, dict[str, Any]]:
    """The next event carrying a verdict (VERIFIED or FAILED), skipping VERIFYING."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        received, event = await asyncio.wait_for(verdicts.get(), deadline - time.monotonic())
        if event["account"]["status"] in ("VERIFIED", "FAILED"):
            return received, event


async def _wait_subscribed(
    http: httpx.AsyncClient, account_id: str, verdicts: asyncio.Queue[Any]
) -> None:
    """Rename the account until the subscriber sees it: its subscription is then live."""
    for attempt in range(50):
        name = f"Verdict bench {attempt}"
        await common.graphql(http, UPDATE, {"id": account_id, "input": {"displayName": name}})
        with suppress(TimeoutError):
            while True:
                _, event = await asyncio.wait_for(verdicts.get(), 0.2)
                if event["account"]["displayName"] == name:
                    return
    raise RuntimeError("the subscriber never received an event")


@dataclass
class FanoutResult:
    graphql: list[float] = field(default_factory=list)  # sent → received, per subscriber
    floor: list[float] = field(default_factory=list)
    graphql_round_trip: list[float] = field(default_factory=list)
    floor_round_trip: list[float] = field(default_factory=list)
    missed_graphql: int = 0
    missed_floor: int = 0
    cpu: common.Cpu | None = None


async def measure_fanout(
    http: httpx.AsyncClient,
    base_ws: str,
    key: str,
    base_url: str,
    subscribers: int,
    events: int,
) -> FanoutResult:
    account_id = await add_account(
        http,
        displayName="Fan-out bench",
        senderId="+14155550199",
        clientId="AC" + "1" * 32,
        authToken="0" * 32,
        baseUrl=base_url,
    )
    subscribed, plain = Fleet(), Fleet()
    try:
        subscribed.clients = list(
            await asyncio.gather(
                *(
                    Client.subscriber(f"{base_ws}/graphql", key, subscribed.handler(index))
                    for index in range(subscribers)
                )
            )
        )
        plain.clients = list(
            await asyncio.gather(
                *(
                    Client.plain(f"{base_ws}/floor/ws", plain.handler(index))
                    for index in range(subscribers)
                )
            )
        )

        def rename(name: str) -> Callable[[], Awaitable[httpx.Response]]:
            variables = {"id": account_id, "input": {"displayName": name}}
            return lambda: http.post("/graphql", json={"query": UPDATE, "variables": variables})

        def publish(name: str) -> Callable[[], Awaitable[httpx.Response]]:
            assert subscribed.last_event is not None
            event = {**subscribed.last_event}
            event["account"] = {**event["account"], "displayName": name}
            frame = {"id": "1", "type": "next", "payload": {"data": {"smsAccountChanged": event}}}
            body = json.dumps(frame, separators=(",", ":"))
            return lambda: http.post("/floor/publish", content=body)

        # Warm-up: until every subscription is live (subscribe has no acknowledgement), then a few.
        for attempt in range(50):
            _, _, got = await subscribed.run(f"warm-up {attempt}", rename(f"warm-up {attempt}"))
            if len(got) == subscribers:
                break
        else:
            raise RuntimeError("not every subscriber received the warm-up events")
        for attempt in range(3):
            await subscribed.run(f"warm-up again {attempt}", rename(f"warm-up again {attempt}"))
            await plain.run(f"warm-up floor {attempt}", publish(f"warm-up floor {attempt}"))

        result = FanoutResult()
        for number in range(events):
            sides = [("graphql", subscribed, rename), ("floor", plain, publish)]
            for side, fleet, trigger in sides if number % 2 == 0 else sides[::-1]:
                name = f"{side} event {number}"
                sent, round_trip, got = await fleet.run(name, trigger(name))
                latencies = [received - sent for received in got]
                if side == "graphql":
                    result.graphql += latencies
                    result.graphql_round_trip.append(round_trip)
                    result.missed_graphql += subscribers - len(got)
                else:
                    result.floor += latencies
                    result.floor_round_trip.append(round_trip)
                    result.missed_floor += subscribers - len(got)
        return result
    finally:
        await subscribed.close()
        await plain.close()


# --- Report -------------------------------------------------------------------------------------


def cpu_line(cpu: common.Cpu) -> str:
    return (
        f"    CPU (1.00 = one core busy): server {cpu.server:.2f}, this client {cpu.client:.2f}, "
        f"other processes {cpu.other:.2f} (noise)"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f} ms"


def report_header(args: argparse.Namespace) -> None:
    stack = common.versions("strawberry-graphql", "starlette", "uvicorn", "websockets")
    print(
        f"machine: {common.machine(implementation=False)}\n"
        f"stack:   {stack}; server: uvicorn 1 worker, loop {common.event_loop_name()}, SQLite\n"
        f"params:  L = {args.latency_ms:g} ms (Twilio stand-in latency), runs={args.runs}, "
        f"subscribers={args.subscribers}, events={args.events}\n"
        f"load:    {load_average()} (1-minute load average at the end; other processes add noise)"
    )


def load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def report_verdicts(result: VerdictResult, latency: float) -> bool:
    verdict_median, verdict_max = statistics.median(result.verdict), max(result.verdict)
    floor_median, floor_max = statistics.median(result.floor), max(result.floor)
    median_met, max_met = verdict_median / latency <= GOAL, verdict_max / latency <= GOAL
    print(
        f"\n(a) verifySmsAccount sent → subscriber sees VERIFIED ({len(result.verdict)} runs)\n"
        f"{'':36}{'median':>11}{'max':>11}\n"
        f"    {'verdict seen':<32}{ms(verdict_median)} {ms(verdict_max)}\n"
        f"    {'floor: one bare GET (≈ L)':<32}{ms(floor_median)} {ms(floor_max)}\n"
        f"    {'verdict ÷ L':<32}{verdict_median / latency:8.3f}    "
        f"{verdict_max / latency:8.3f}      goal ≤ {GOAL:g}: median {_met(median_met)}, "
        f"max {_met(max_met)}\n"
        f"    {'verdict ÷ floor median':<32}{verdict_median / floor_median:8.3f}    "
        f"{verdict_max / floor_median:8.3f}\n"
        f"    {'verifySmsAccount round trip':<32}{ms(statistics.median(result.answer))} "
        f"{ms(max(result.answer))}"
    )
    if result.cpu is not None:
        print(cpu_line(result.cpu))
    return median_met


def _met(met: bool) -> str:
    return "met" if met else "MISSED"


def report_fanout(result: FanoutResult, subscribers: int) -> None:
    g50, g99 = common.percentile(result.graphql, 50), common.percentile(result.graphql, 99)
    f50, f99 = common.percentile(result.floor, 50), common.percentile(result.floor, 99)
    events = len(result.graphql_round_trip)
    print(
        f"\n(b) event push to {subscribers} subscribers, sent → received "
        f"({events} events × {subscribers} subscribers per side)\n"
        f"{'':36}{'p50':>11}{'p99':>11}\n"
        f"    {'updateSmsAccount → event':<32}{ms(g50)} {ms(g99)}\n"
        f"    {'floor: POST → bare ws message':<32}{ms(f50)} {ms(f99)}\n"
        f"    {'ratio to floor':<32}{g50 / f50:8.2f}    {g99 / f99:8.2f}\n"
        f"    {'updateSmsAccount round trip':<32}"
        f"{ms(common.percentile(result.graphql_round_trip, 50))}  (p50)\n"
        f"    {'floor POST round trip':<32}"
        f"{ms(common.percentile(result.floor_round_trip, 50))}  (p50)"
    )
    if result.missed_graphql or result.missed_floor:
        print(
            f"    MISSED deliveries (not received within {EVENT_TIMEOUT:g} s): "
            f"graphql {result.missed_graphql}, floor {result.missed_floor}"
        )
    if result.cpu is not None:
        print(cpu_line(result.cpu))


# --- Entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(__doc__)
    parser.add_argument("--latency-ms", type=float, default=200.0, help="L (default 200)")
    parser.add_argument("--subscribers", type=int, default=100, help="for (b) (default 100)")
    parser.add_argument("--runs", type=int, default=20, help="verifications in (a) (default 20)")
    parser.add_argument("--events", type=int, default=30, help="events in (b) (default 30)")
    args = parser.parse_args(argv)
    if args.latency_ms <= 0:
        parser.error("--latency-ms must be positive")
    common.require_positive(parser, args, ("subscribers", "runs", "events"))
    return args


async def drive(
    args: argparse.Namespace, key: str, port: int, process: subprocess.Popen[bytes]
) -> tuple[VerdictResult, FanoutResult]:
    double = TwilioDouble(latency=args.latency_ms / 1e3).start()
    try:
        async with httpx.AsyncClient(
            base_url=common.local_url(port),
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(30.0),
            trust_env=False,
        ) as http:
            await common.wait_ready(http, process)
            payload_of(await common.graphql(http, SET_ENABLED, {"enabled": True}))
            base_ws = f"ws://{common.HOST}:{port}"
            with common.CpuMeter(process.pid) as meter:
                verdicts = await measure_verdicts(
                    http, f"{base_ws}/graphql", key, double, args.runs
                )
            verdicts.cpu = meter.cpu
            with common.CpuMeter(process.pid) as meter:
                fanout = await measure_fanout(
                    http, base_ws, key, double.base_url, args.subscribers, args.events
                )
            fanout.cpu = meter.cpu
            return verdicts, fanout
    finally:
        double.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sms-verify-bench-") as scratch:
        database_url = common.sqlite_url(scratch)
        migrate(database_url)
        key = asyncio.run(common.admin_key(database_url, "bench"))
        port = common.free_port()
        with common.server(
            "bench.verify:bench_app",
            port,
            database_url,
            TEST_KEY,
            SMS_ALLOWED_PROVIDER_HOSTS=common.HOST,
        ) as process:
            verdicts, fanout = asyncio.run(drive(args, key, port, process))
    report_header(args)
    report_verdicts(verdicts, args.latency_ms / 1e3)
    report_fanout(fanout, args.subscribers)
    print(f"\ntotal time {time.perf_counter() - began:.1f} s")
    if fanout.missed_graphql or fanout.missed_floor:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
