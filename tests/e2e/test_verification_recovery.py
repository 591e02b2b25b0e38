"""Recovery after the server process is killed mid-check (a real uvicorn subprocess on the same
database): the check's lease expires and the next process finishes it."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import account_input
from tests.e2e.test_server_process import Server, environment, run
from tests.integration.documents import ACCOUNT, ADD, SET_ENABLED, VERIFY
from tests.twilio_double import TwilioDouble

ROUND = 2  # one check: the account and the phone number, concurrently
SETTINGS = {
    "SMS_ALLOWED_PROVIDER_HOSTS": "127.0.0.1",
    "SMS_VERIFY_LEASE_SECONDS": "2",
    "SMS_VERIFY_SWEEP_SECONDS": "0.5",
    "SMS_RETRY_BASE_SECONDS": "0.01",
}


def test_a_check_lost_with_its_killed_process_is_finished_by_the_next_one(workdir: Path) -> None:
    double = TwilioDouble().start()
    double.hang = True
    env = environment(SETTINGS)
    servers: list[Server] = []
    try:
        made = run("create-api-key", "--workspace", "acme", "--role", "admin", cwd=workdir, env=env)
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip().splitlines()[-1]
        first = Server(workdir, env)
        servers.append(first)
        first.graphql(key, SET_ENABLED, {"enabled": True})
        fields = account_input(
            baseUrl=double.base_url,
            clientId=double.account_sid,
            authToken=double.auth_token,
            senderId=double.phone_number,
        )
        added = first.graphql(key, ADD, {"input": fields})["addSmsAccount"]
        assert added["errors"] == [], added
        account_id = added["account"]["id"]

        started = first.graphql(key, VERIFY, {"id": account_id})["verifySmsAccount"]
        assert started["errors"] == [], started
        assert started["account"]["status"] == "VERIFYING"
        # The check is in flight: both of its requests reached Twilio, which does not answer.
        assert double.wait_for_requests(ROUND, timeout=10), double.paths
        first.process.kill()
        first.process.wait(timeout=10)
        lost = double.requests

        double.hang = False
        second = Server(workdir, env)
        servers.append(second)
        deadline = time.monotonic() + 20
        account = second.graphql(key, ACCOUNT, {"id": account_id})["smsAccount"]
        while account["status"] == "VERIFYING" and time.monotonic() < deadline:
            time.sleep(0.2)
            account = second.graphql(key, ACCOUNT, {"id": account_id})["smsAccount"]
        log = second.stop()
    finally:
        for server in servers:
            server.stop()
        double.stop()

    assert account["status"] == "VERIFIED", (account, log)
    assert account["failure"] is None
    assert account["trial"] is False
    assert account["verifiedAt"] is not None
    assert lost == ROUND, double.paths
    resumed = double.paths[lost:]
    assert len(resumed) >= ROUND, double.paths
    assert {path.rsplit("/", 1)[-1] for path in resumed} >= {
        f"{double.account_sid}.json",
        "IncomingPhoneNumbers.json",
    }
    assert "resumed 1 verification(s) whose lease had expired" in log
    assert double.auth_token not in log
