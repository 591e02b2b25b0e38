"""Two replicas (real `sms-accounts serve` processes) on one database: a check runs on exactly one
of them, and a check whose replica is killed is finished by the other within 30 seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import PHONE, account_input, phone
from tests.e2e.server import NEW_WORKSPACE, Server, environment, run
from tests.integration.documents import ACCOUNT, ADD, SET_ENABLED, VERIFY
from tests.twilio_double import TwilioDouble

ROUND = 2  # one check: the account and the phone number, concurrently
FAST_RETRIES = {"SMS_ALLOWED_PROVIDER_HOSTS": "127.0.0.1", "SMS_RETRY_BASE_SECONDS": "0.01"}


@contextmanager
def two_replicas(
    workdir: Path, double: TwilioDouble, settings: dict[str, str]
) -> Iterator[tuple[Server, Server, str]]:
    """Replicas A and B on the same database, and an admin key of a workspace with SMS on."""
    env = environment(FAST_RETRIES | settings)
    made = run("create-api-key", *NEW_WORKSPACE, "acme", "--role", "admin", cwd=workdir, env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    servers: list[Server] = []
    try:
        servers.append(Server(workdir, env, log="a.log"))
        servers.append(Server(workdir, env, log="b.log"))
        servers[0].graphql(key, SET_ENABLED, {"enabled": True})
        yield servers[0], servers[1], key
    finally:
        for server in servers:
            server.stop()
        double.stop()


def add_account(
    server: Server, key: str, double: TwilioDouble, name: str, sender: str | None = None
) -> str:
    fields = account_input(
        displayName=name,
        baseUrl=double.base_url,
        clientId=double.account_sid,
        authToken=double.auth_token,
        senderId=sender or double.phone_number,
    )
    added = server.graphql(key, ADD, {"input": fields})["addSmsAccount"]
    assert added["errors"] == [], added
    account_id: str = added["account"]["id"]
    return account_id


def start_check(server: Server, key: str, account_id: str) -> None:
    started = server.graphql(key, VERIFY, {"id": account_id})["verifySmsAccount"]
    assert started["errors"] == [], started
    assert started["account"]["status"] == "VERIFYING"


def verdict_on(server: Server, key: str, account_id: str, within: float) -> dict[str, Any]:
    """The account once its check has finished, read on ``server``; fails after ``within`` s."""
    deadline = time.monotonic() + within
    account: dict[str, Any] = server.graphql(key, ACCOUNT, {"id": account_id})["smsAccount"]
    while account["status"] == "VERIFYING" and time.monotonic() < deadline:
        time.sleep(0.2)
        account = server.graphql(key, ACCOUNT, {"id": account_id})["smsAccount"]
    return account


def test_a_check_lost_with_its_killed_replica_is_finished_by_the_other_within_30_seconds(
    workdir: Path,
) -> None:
    double = TwilioDouble().start()
    double.hang = True
    # The default lease and sweep: the bound of 30 seconds is the product's promise.
    with two_replicas(workdir, double, {}) as (a, b, key):
        account_id = add_account(a, key, double, "Crash")
        start_check(a, key, account_id)
        # The check is in flight on A: both of its requests reached Twilio, which does not answer.
        assert double.wait_for_requests(ROUND, timeout=10), double.paths
        a.process.kill()
        a.process.wait(timeout=10)
        killed_at = time.monotonic()
        double.hang = False

        account = verdict_on(b, key, account_id, within=30)
        took = time.monotonic() - killed_at
        log_b = b.stop()

    assert account["status"] == "VERIFIED", (account, log_b)
    assert took <= 30
    assert account["verifiedAt"] is not None
    # A's lost round, then exactly one round from B.
    assert double.requests == 2 * ROUND, double.paths
    assert "resumed 1 verification(s) whose lease had expired" in log_b
    assert double.auth_token not in log_b


def test_a_check_slower_than_its_lease_still_calls_twilio_once_with_two_replicas(
    workdir: Path,
) -> None:
    # Twilio answers after three leases: only the renewal keeps B's sweeps off the check.
    # Two numbers: one Account SID and sender is connected once per workspace.
    double = TwilioDouble(latency=4.5, numbers=((PHONE, True), (phone(1), True))).start()
    fast = {"SMS_VERIFY_LEASE_SECONDS": "1.5", "SMS_VERIFY_SWEEP_SECONDS": "0.2"}
    with two_replicas(workdir, double, fast) as (a, b, key):
        on_a = add_account(a, key, double, "Started on A")
        on_b = add_account(b, key, double, "Started on B", sender=phone(1))
        start_check(a, key, on_a)
        start_check(b, key, on_b)

        finished = [verdict_on(b, key, on_a, within=60), verdict_on(a, key, on_b, within=60)]

    assert [account["status"] for account in finished] == ["VERIFIED", "VERIFIED"]
    assert double.requests == 2 * ROUND, double.paths
