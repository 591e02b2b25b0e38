"""Two replicas on one PostgreSQL database and one Redis bus, as a deployment runs them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import account_input, phone
from tests.e2e.replicas import (
    call,
    ready,
    require_postgres_and_redis,
    wait_for_bus,
    ws_url,
)
from tests.e2e.server import NEW_WORKSPACE, Server, environment, run
from tests.integration.documents import ACCOUNT, ADD, SET_ENABLED, UPDATE, VERIFY
from tests.integration.live import ACCOUNT_CHANGED
from tests.redis_server import RedisProcess
from tests.twilio_double import TwilioDouble
from tests.ws_client import GraphQLSocket, open_socket

SENDERS = 50


class Replicas:
    def __init__(self, workdir: Path) -> None:
        self.redis = RedisProcess(workdir).start()
        # One Account SID and sender is connected once per workspace: each account gets its own.
        self.double = TwilioDouble(numbers=[(phone(n), True) for n in range(SENDERS)]).start()
        self._senders = iter(phone(n) for n in range(SENDERS))
        self.env = environment(
            {
                "SMS_BROADCAST_URL": self.redis.url,
                "SMS_ALLOWED_PROVIDER_HOSTS": "127.0.0.1",
                "SMS_RETRY_BASE_SECONDS": "0.01",
                "SMS_BUS_RECONNECT_MIN_SECONDS": "0.1",
                "SMS_BUS_RECONNECT_MAX_SECONDS": "0.5",
            }
        )
        made = run(
            "create-api-key", *NEW_WORKSPACE, "acme", "--role", "admin", cwd=workdir, env=self.env
        )
        assert made.returncode == 0, made.stderr
        self.key = made.stdout.strip().splitlines()[-1]
        self.prefix = made.stdout.split("Prefix (for revoke-api-key): ")[1].split()[0]
        self.workdir = workdir
        self.a = Server(self._dir("a"), self.env)
        self.b = Server(self._dir("b"), self.env)
        wait_for_bus([self.a, self.b], "ok")
        self.a.graphql(self.key, SET_ENABLED, {"enabled": True})

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir()
        return path

    def fields(self, name: str) -> dict[str, Any]:
        return account_input(
            displayName=name,
            baseUrl=self.double.base_url,
            clientId=self.double.account_sid,
            authToken=self.double.auth_token,
            senderId=next(self._senders),
        )

    async def add(self, server: Server, name: str) -> str:
        added = (await call(server, self.key, ADD, {"input": self.fields(name)}))["addSmsAccount"]
        assert added["errors"] == [], added
        account_id: str = added["account"]["id"]
        return account_id

    async def subscribe(self, ws: GraphQLSocket, server: Server) -> str:
        """Subscribe on ``ws`` (a socket to ``server``) and return once it is known to listen:
        the protocol acknowledges nothing, so a change made on that same replica is awaited."""
        await ws.init({"Authorization": f"Bearer {self.key}"})
        op = await ws.subscribe(ACCOUNT_CHANGED)
        probe = await self.add(server, "probe")
        while (await next_event(ws, op))["account"]["id"] != probe:
            pass
        return op

    def stop(self) -> None:
        self.a.stop()
        self.b.stop()
        self.double.stop()
        self.redis.stop()


@pytest.fixture
def replicas(workdir: Path) -> Iterator[Replicas]:
    require_postgres_and_redis()
    built = Replicas(workdir)
    try:
        yield built
    finally:
        built.stop()


async def next_event(ws: GraphQLSocket, op: str) -> dict[str, Any]:
    event: dict[str, Any] = (await ws.next_data(op))["smsAccountChanged"]
    return event


async def test_a_subscriber_on_one_replica_sees_an_add_and_a_verify_made_on_the_other(
    replicas: Replicas,
) -> None:
    async with open_socket(ws_url(replicas.b)) as ws:
        op = await replicas.subscribe(ws, replicas.b)

        account_id = await replicas.add(replicas.a, "Made on A")
        # Acknowledged on A, so B reads it (no replica caches what the database answers).
        read_on_b = await call(replicas.b, replicas.key, ACCOUNT, {"id": account_id})
        added = await next_event(ws, op)
        assert (added["kind"], added["account"]["id"]) == ("ADDED", account_id)
        assert added["account"]["displayName"] == "Made on A"

        started = await call(replicas.a, replicas.key, VERIFY, {"id": account_id})
        assert started["verifySmsAccount"]["errors"] == [], started
        verifying = await next_event(ws, op)
        verified = await next_event(ws, op)

    assert read_on_b["smsAccount"]["displayName"] == "Made on A"
    assert (verifying["kind"], verifying["account"]["status"]) == ("STATUS_CHANGED", "VERIFYING")
    assert verified["account"]["id"] == account_id
    assert (verified["previousStatus"], verified["account"]["status"]) == ("VERIFYING", "VERIFIED")
    assert verified["stats"]["verified"] == 1


async def test_events_flow_again_after_redis_restarts_and_writes_went_on_meanwhile(
    replicas: Replicas,
) -> None:
    async with open_socket(ws_url(replicas.b)) as ws:
        op = await replicas.subscribe(ws, replicas.b)
        before = await replicas.add(replicas.a, "Before the outage")
        assert (await next_event(ws, op))["account"]["id"] == before

        replicas.redis.stop()
        wait_for_bus([replicas.a, replicas.b], "reconnecting")
        # Not ready (a load balancer prefers a replica that hears the bus), yet it still serves.
        assert not await asyncio.to_thread(ready, replicas.a)
        during = await replicas.add(replicas.a, "During the outage")
        renamed = await call(
            replicas.b, replicas.key, UPDATE, {"id": during, "input": {"displayName": "Renamed"}}
        )
        assert renamed["updateSmsAccount"]["errors"] == [], renamed

        replicas.redis.start()
        wait_for_bus([replicas.a, replicas.b], "ok")
        # A's events of the outage are gone (B's own reached B): the subscription must refetch.
        while "errors" not in (told := await ws.next_payload(op)):
            assert told["data"]["smsAccountChanged"]["account"]["id"] == during, told
        assert told["errors"][0]["extensions"]["code"] == "RESYNC_REQUIRED", told

    async with open_socket(ws_url(replicas.b)) as ws:
        op = await replicas.subscribe(ws, replicas.b)
        after = await replicas.add(replicas.a, "After the outage")
        event = await next_event(ws, op)

    assert (event["kind"], event["account"]["id"]) == ("ADDED", after)
    for server in (replicas.a, replicas.b):
        log = server.log.read_text()
        assert log.count("event bus lost") == 1, log
        assert log.count("event bus back") == 1, log


async def test_revoking_a_key_from_the_cli_closes_its_websockets_on_every_replica(
    replicas: Replicas,
) -> None:
    async with open_socket(ws_url(replicas.b)) as on_b, open_socket(ws_url(replicas.a)) as on_a:
        for ws in (on_a, on_b):
            await ws.init({"Authorization": f"Bearer {replicas.key}"})
        revoked = run("revoke-api-key", replicas.prefix, cwd=replicas.workdir, env=replicas.env)
        assert revoked.returncode == 0, revoked.stderr
        assert "not announced" not in revoked.stderr, revoked.stderr
        # ws_client waits 5 s for the close: the bound of the requirement.
        assert await on_b.close_code() == 4403
        assert await on_a.close_code() == 4403
    # Over HTTP the bound is 5 s too (a live key's caller is remembered for a moment); the
    # announcement makes it immediate in practice.
    async with httpx.AsyncClient() as http:
        for server in (replicas.a, replicas.b):
            deadline = asyncio.get_running_loop().time() + 5
            while True:
                refused = await http.post(
                    f"{server.url}/graphql",
                    json={"query": "{ smsIntegration { enabled } }"},
                    headers={"Authorization": f"Bearer {replicas.key}"},
                )
                if refused.status_code == 401 or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert refused.status_code == 401
