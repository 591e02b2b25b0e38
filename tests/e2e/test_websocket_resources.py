"""Closed websockets leave nothing behind, measured from outside a real `sms-accounts serve`
process: its memory (/proc), its CPU time (/proc) and its own counts (GET /statusz)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import httpx

from tests.e2e.server import Server, environment, run
from tests.ws_client import LEGACY_WS, TRANSPORT_WS, GraphQLSocket, open_socket

WARM_UP = 500
MORE = 3_000
PARALLEL = 16
MEGABYTE = 1024 * 1024
SUBSCRIPTION = "subscription { smsAccountChanged { kind } }"
TOO_BIG = "x" * (64 * 1024 + 1)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def cpu_seconds(pid: int) -> float:
    # Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): user and system time.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def subscribed(ws: GraphQLSocket, key: str) -> None:
    """Acknowledged, subscribed, and the server has read the subscribe (its pong follows it)."""
    await ws.init({"Authorization": f"Bearer {key}"})
    await ws.subscribe(SUBSCRIPTION)
    await ws.send({"type": "ping"})
    assert (await ws.receive())["type"] == "pong"


async def connect_and_close(url: str, key: str, number: int) -> None:
    """One connection that ends one of six ways: the client closes it, the server closes it
    (a message over the size limit), the network drops it without a closing handshake, a
    legacy graphql-ws client closes it, the server refuses its key, or the client drops it
    before it ever sent ``connection_init``."""
    if number % 6 == 3:
        async with open_socket(url, protocol=LEGACY_WS) as legacy:
            await legacy.init({"Authorization": f"Bearer {key}"})
            await legacy.start(SUBSCRIPTION)
        return
    async with open_socket(url) as ws:
        if number % 6 == 4:
            await ws.send({"type": "connection_init", "payload": {"Authorization": "Bearer x"}})
            assert await ws.close_code() in (4401, 4429)  # 4429: failures are throttled
            return
        if number % 6 == 5:
            ws.connection.transport.abort()
            return
        await subscribed(ws, key)
        if number % 6 == 1:
            await ws.connection.send(TOO_BIG)
            assert await ws.close_code() == 1009
        elif number % 6 == 2:
            transport = ws.connection.transport
            transport.abort()


async def connections(url: str, key: str, count: int) -> None:
    numbers = iter(range(count))

    async def worker() -> None:
        for number in numbers:
            with contextlib.suppress(ConnectionError):
                await connect_and_close(url, key, number)

    await asyncio.gather(*(worker() for _ in range(PARALLEL)))


def status(server: Server) -> dict[str, int]:
    counts: dict[str, int] = httpx.get(f"{server.url}/statusz", timeout=10).json()
    return counts


def settled(server: Server) -> dict[str, int]:
    """The server's counts once every socket it knew of is closed."""
    deadline = time.monotonic() + 30
    while (counts := status(server))["websockets"] != 0:
        assert time.monotonic() < deadline, f"sockets still open: {counts}"
        time.sleep(0.1)
    return counts


def test_thousands_of_closed_websockets_leave_no_task_memory_or_cpu_behind(
    workdir: Path,
) -> None:
    # Rechecks every half second: a leaked watcher per socket would keep the server busy.
    server = Server(workdir, environment({"SMS_KEY_RECHECK_SECONDS": "0.5"}))
    try:
        key = server.first_key()
        url = server.url.replace("http", "ws", 1) + "/graphql"
        pid = server.process.pid

        asyncio.run(connections(url, key, WARM_UP))
        before = settled(server)
        memory_before = rss_bytes(pid)

        asyncio.run(connections(url, key, MORE))
        after = settled(server)
        memory_after = rss_bytes(pid)

        time.sleep(1)  # let the last closes finish their bookkeeping
        cpu_before = cpu_seconds(pid)
        time.sleep(3)
        idle_cpu = cpu_seconds(pid) - cpu_before
    finally:
        server.stop()

    assert after["tasks"] <= before["tasks"], (before, after)
    grown = (memory_after - memory_before) / MEGABYTE
    assert grown < 30, f"{MORE} more connections grew the process by {grown:.1f} MB"
    assert idle_cpu < 0.3, f"an idle server used {idle_cpu:.2f} s of CPU in 3 s"


INIT_TIMEOUT = 2
MAX_AWAITING_INIT = 40
MAX_SOCKETS_PER_KEY = 10


def issue_key(workdir: Path, env: dict[str, str]) -> str:
    created = run(
        "create-api-key", "--workspace", "default", "--role", "admin", cwd=workdir, env=env
    )
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


async def silent_sockets_time_out(url: str) -> None:
    """The most sockets allowed wait for connection_init, one more is refused, and each is closed
    when its time is up."""
    async with contextlib.AsyncExitStack() as stack:
        # Opened together, well within the timeout even on a busy machine.
        silent = await asyncio.gather(
            *(
                stack.enter_async_context(
                    open_socket(url, protocol=(TRANSPORT_WS, LEGACY_WS)[n % 2])
                )
                for n in range(MAX_AWAITING_INIT)
            )
        )
        async with open_socket(url) as one_more:
            assert (await one_more.close_code()) == 4429
        assert await asyncio.gather(*(ws.close_code() for ws in silent)) == [4408] * len(silent)


async def a_key_holds_its_most(url: str, key: str) -> None:
    """The most sockets allowed for one key are acknowledged and one more is refused; then half
    are dropped by the network and the others closed by the client."""
    async with contextlib.AsyncExitStack() as stack:
        held = []
        for _ in range(MAX_SOCKETS_PER_KEY):
            ws = await stack.enter_async_context(open_socket(url))
            await ws.init({"Authorization": f"Bearer {key}"})
            held.append(ws)
        async with open_socket(url) as one_more:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
            await one_more.send(init)
            assert (await one_more.close_code()) == 4429
        for ws in held[::2]:
            ws.connection.transport.abort()


def test_silent_sockets_time_out_and_the_caps_hold_exactly_on_a_real_server(
    workdir: Path,
) -> None:
    env = environment(
        {
            "SMS_WS_INIT_TIMEOUT_SECONDS": str(INIT_TIMEOUT),
            "SMS_WS_MAX_AWAITING_INIT": str(MAX_AWAITING_INIT),
            "SMS_WS_MAX_SOCKETS_PER_KEY": str(MAX_SOCKETS_PER_KEY),
        }
    )
    server = Server(workdir, env)
    try:
        key = issue_key(workdir, env)
        url = server.url.replace("http", "ws", 1) + "/graphql"
        before = settled(server)
        for _ in range(2):  # after every socket ended, exactly as many fit again
            asyncio.run(silent_sockets_time_out(url))
            settled(server)
            asyncio.run(a_key_holds_its_most(url, key))
            after = settled(server)
    finally:
        server.stop()
    assert after["tasks"] <= before["tasks"], (before, after)
