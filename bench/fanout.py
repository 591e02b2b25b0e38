"""How fast an event made on one replica reaches subscribers on another, beside the same on one
replica and beside a bare Redis pub/sub round trip, and how 1,000 subscribers on one replica
fare beside a bare websocket fan-out, all in one run.

Everything runs on this machine over real sockets: two uvicorn server processes (one worker
each, ``create_app`` from the environment; A also serves the bare websocket fan-out routes of
``bench/verify.py``) on one PostgreSQL database and a Redis server this script starts on a free
port (nothing persisted), as ``SMS_BROADCAST_URL``. One key holds all of a side's subscribers, so
``SMS_WS_MAX_SOCKETS_PER_KEY`` and ``SMS_WS_MAX_AWAITING_INIT`` are raised to fit them.

* Across replicas: ``--subscribers`` websocket clients (``graphql-transport-ws``) subscribe to
  ``smsAccountChanged`` on replica B; ``--events`` times ``updateSmsAccount`` renames an account
  on replica A, and for every subscriber the time from just before sending the mutation to
  receiving the event is recorded (so it includes the mutation's commit and the Redis hop).
* One replica: the same with as many subscribers on A itself, in another workspace (so neither
  side's events reach the other's sockets). The two sides alternate, so noise hits both.
* Bare Redis: a redis-py client publishes to a channel another redis-py client is subscribed to,
  ``--events`` × 10 times; publish → message received.
* Fan-out at scale, one replica: ``--fanout-subscribers`` (1,000) websocket clients subscribe to
  ``smsAccountChanged`` on A, in a third workspace, and as many plain websocket clients connect
  to A's bare websocket fan-out (``/floor/ws``, ``bench/verify.py``: a Starlette endpoint that
  sends a posted frame of the same size to every socket in turn); ``--events`` times each,
  alternating, a rename (resp. ``POST /floor/publish``) → every client received it. The push
  p99 is printed beside the bare fan-out's p99 of the same run, with their ratio.

The goals are p99 < 100 ms across replicas, and a push p99 at 1,000 subscribers within 2× the
bare websocket fan-out's. Run from the project root, on a PostgreSQL database
(the script adds its own workspaces and leaves the rest alone)::

    .venv/bin/python bench/fanout.py --database-url postgresql+asyncpg://root@127.0.0.1:5432/DB
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only bench/ is on the path
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bench import common  # noqa: E402
from bench.verify import (  # noqa: E402
    EVENT_TIMEOUT,
    TEST_KEY,
    Client,
    FanoutResult,
    Fleet,
    add_account,
    measure_fanout,
    ms,
)
from storage.migrate import migrate  # noqa: E402
from tests.integration.documents import SET_ENABLED, UPDATE  # noqa: E402
from tests.redis_server import RedisProcess  # noqa: E402

GOAL = 0.100  # seconds, p99 across replicas
FANOUT_GOAL = 2.0  # push p99 at most this many times the bare websocket fan-out's p99


@dataclass
class Side:
    """One measured path: a fleet of subscribers, and the mutation that triggers their event."""

    label: str
    http: httpx.AsyncClient  # the replica the mutation goes to, with this side's key
    account_id: str
    fleet: Fleet = field(default_factory=Fleet)
    latencies: list[float] = field(default_factory=list)
    round_trips: list[float] = field(default_factory=list)
    missed: int = 0

    def rename(self, name: str) -> Callable[[], Awaitable[httpx.Response]]:
        variables = {"id": self.account_id, "input": {"displayName": name}}
        return lambda: self.http.post("/graphql", json={"query": UPDATE, "variables": variables})

    async def subscribe(self, ws_url: str, key: str, count: int) -> None:
        self.fleet.clients = list(
            await asyncio.gather(
                *(Client.subscriber(ws_url, key, self.fleet.handler(i)) for i in range(count))
            )
        )

    async def warm_up(self) -> None:
        """Until every subscription is live (subscribing is not acknowledged), then a few more."""
        for attempt in range(50):
            _, _, got = await self.fleet.run(
                f"warm-up {attempt}", self.rename(f"warm-up {attempt}")
            )
            if len(got) == len(self.fleet.clients):
                break
        else:
            raise RuntimeError(f"{self.label}: not every subscriber received the warm-up events")
        for attempt in range(3):
            await self.fleet.run(f"again {attempt}", self.rename(f"again {attempt}"))

    async def measure(self, number: int) -> None:
        name = f"{self.label} event {number}"
        sent, round_trip, got = await self.fleet.run(name, self.rename(name))
        self.latencies += [received - sent for received in got]
        self.round_trips.append(round_trip)
        self.missed += len(self.fleet.clients) - len(got)


async def bare_redis(url: str, count: int) -> list[float]:
    """publish → received, for one redis-py subscriber."""
    async with Redis.from_url(url) as publisher, Redis.from_url(url) as listener:
        pubsub = listener.pubsub()
        await pubsub.subscribe("bench")
        await pubsub.get_message(timeout=EVENT_TIMEOUT)  # the subscribe confirmation
        latencies = []
        for number in range(count):
            sent = time.perf_counter()
            await publisher.publish("bench", str(number))
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=EVENT_TIMEOUT
            )
            if message is None or message["data"] != str(number).encode():
                raise RuntimeError(f"bare Redis: expected message {number}, got {message}")
            latencies.append(time.perf_counter() - sent)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        return latencies


async def wait_for_bus(http: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 30
    while (await http.get("/readyz")).json().get("bus") != "ok":
        if time.monotonic() > deadline:
            raise RuntimeError("a replica's Redis bus never connected")
        await asyncio.sleep(0.05)


async def drive(
    args: argparse.Namespace, ports: tuple[int, int], processes: list[subprocess.Popen[bytes]]
) -> tuple[Side, Side, FanoutResult]:
    keys = [
        await common.admin_key(args.database_url, f"bench-fanout-{secrets.token_hex(4)}")
        for _ in range(3)
    ]
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=common.local_url(port),
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=httpx.Timeout(30.0),
                    trust_env=False,
                )
            )
            for port, key in ((ports[0], keys[0]), (ports[0], keys[1]), (ports[1], keys[0]))
        ]
        for client, process in zip(
            clients, (processes[0], processes[0], processes[1]), strict=True
        ):
            await common.wait_ready(client, process)
            await wait_for_bus(client)
        sides = []
        for label, client, key, ws_port in (
            ("across", clients[0], keys[0], ports[1]),
            ("one replica", clients[1], keys[1], ports[0]),
        ):
            await common.graphql(client, SET_ENABLED, {"enabled": True})
            account_id = await add_account(
                client,
                displayName=f"Fan-out {label}",
                senderId="+14155550199",
                clientId="AC" + "1" * 32,
                authToken="0" * 32,
                baseUrl="https://api.twilio.com/",
            )
            side = Side(label, client, account_id)
            await side.subscribe(f"ws://{common.HOST}:{ws_port}/graphql", key, args.subscribers)
            sides.append(side)
        try:
            for side in sides:
                await side.warm_up()
            for number in range(args.events):
                for side in sides if number % 2 == 0 else sides[::-1]:
                    await side.measure(number)
        finally:
            for side in sides:
                await side.fleet.close()
        at_scale = await fan_out_at_scale(args, ports[0], keys[2])
        return sides[0], sides[1], at_scale


async def fan_out_at_scale(args: argparse.Namespace, port: int, key: str) -> FanoutResult:
    """``--fanout-subscribers`` subscribers on A beside as many bare websockets on A."""
    async with httpx.AsyncClient(
        base_url=common.local_url(port),
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(30.0),
        trust_env=False,
    ) as http:
        await common.graphql(http, SET_ENABLED, {"enabled": True})
        return await measure_fanout(
            http,
            f"ws://{common.HOST}:{port}",
            key,
            "https://api.twilio.com/",
            args.fanout_subscribers,
            args.events,
        )


def report(
    args: argparse.Namespace,
    across: Side,
    single: Side,
    bare: list[float],
    at_scale: FanoutResult,
) -> bool:
    stack = common.versions("strawberry-graphql", "uvicorn", "websockets", "redis")
    print(
        f"machine: {common.machine(implementation=False)}\n"
        f"stack:   {stack}; 2 servers: uvicorn 1 worker each, PostgreSQL, Redis pub/sub\n"
        f"params:  subscribers={args.subscribers}, events={args.events} per side; at scale "
        f"{args.fanout_subscribers} subscribers beside as many bare websockets\n"
        f"load:    {os.getloadavg()[0]:.2f} (1-minute load average at the end; noise)\n"
        f"\n{'sent → received':48}{'p50':>11}{'p99':>11}"
    )
    rows = [
        (f"updateSmsAccount on A → {args.subscribers} on B", across.latencies),
        (f"updateSmsAccount on A → {args.subscribers} on A", single.latencies),
        ("bare Redis pub/sub round trip (1 subscriber)", bare),
        (f"updateSmsAccount on A → {args.fanout_subscribers} on A", at_scale.graphql),
        (f"bare websocket fan-out → {args.fanout_subscribers} on A", at_scale.floor),
    ]
    for label, values in rows:
        p50, p99 = common.percentile(values, 50), common.percentile(values, 99)
        print(f"    {label:<44}{ms(p50)} {ms(p99)}")
    for side in (across, single):
        print(
            f"    {'mutation round trip, ' + side.label:<44}"
            f"{ms(common.percentile(side.round_trips, 50))}  (p50)"
        )
    push, floor = at_scale.graphql, at_scale.floor
    p99 = common.percentile(across.latencies, 99)
    met = p99 < GOAL
    print(f"\ngoal: p99 across replicas < {GOAL * 1e3:g} ms: {'met' if met else 'MISSED'}")
    ratio = common.percentile(push, 99) / common.percentile(floor, 99)
    scale_met = ratio <= FANOUT_GOAL
    print(
        f"goal: push p99 at {args.fanout_subscribers} subscribers ≤ {FANOUT_GOAL:g} × the bare "
        f"websocket fan-out's p99: {ratio:.2f} ×, {'met' if scale_met else 'MISSED'}"
    )
    missed = across.missed + single.missed + at_scale.missed_graphql + at_scale.missed_floor
    if missed:
        print(
            f"MISSED deliveries (none within {EVENT_TIMEOUT:g} s): across {across.missed}, "
            f"one replica {single.missed}, at scale {at_scale.missed_graphql} "
            f"(bare {at_scale.missed_floor})"
        )
    return met and scale_met and not missed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = common.argument_parser(__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SMS_TEST_DATABASE_URL"),
        help="a postgresql+asyncpg:// URL (default: SMS_TEST_DATABASE_URL)",
    )
    parser.add_argument("--subscribers", type=int, default=200, help="per side (default 200)")
    parser.add_argument("--events", type=int, default=30, help="per side (default 30)")
    parser.add_argument(
        "--fanout-subscribers",
        type=int,
        default=1000,
        help="subscribers (and bare websockets) of the fan-out at scale (default 1000)",
    )
    args = parser.parse_args(argv)
    if not (args.database_url or "").startswith("postgresql+asyncpg://"):
        parser.error("--database-url must be a postgresql+asyncpg:// URL (replicas share it)")
    common.require_positive(parser, args, ("subscribers", "events", "fanout_subscribers"))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    migrate(args.database_url)
    with tempfile.TemporaryDirectory(prefix="sms-fanout-bench-") as scratch:
        redis = RedisProcess(Path(scratch)).start()
        try:
            ports = (common.free_port(), common.free_port())
            # One key holds every subscriber of a side: the per-key limit must let them in.
            room = str(max(args.subscribers, args.fanout_subscribers) + 10)
            settings = {
                "SMS_BROADCAST_URL": redis.url,
                "SMS_SUBSCRIBER_QUEUE_SIZE": "256",
                "SMS_WS_MAX_SOCKETS_PER_KEY": room,
                "SMS_WS_MAX_AWAITING_INIT": room,
            }
            with (
                common.server(
                    "bench.verify:bench_app", ports[0], args.database_url, TEST_KEY, **settings
                ) as a,
                common.server(
                    "api.app:create_app", ports[1], args.database_url, TEST_KEY, **settings
                ) as b,
            ):
                across, single, at_scale = asyncio.run(drive(args, ports, [a, b]))
            bare = asyncio.run(bare_redis(redis.url, args.events * 10))
        finally:
            redis.stop()
    met = report(args, across, single, bare, at_scale)
    print(f"\ntotal time {time.perf_counter() - began:.1f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
