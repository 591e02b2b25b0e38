"""Helpers of the end-to-end campaign tests: ``sms-accounts worker`` processes, a verified
account and a started campaign on a server process, all against the Twilio stand-in."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from tests.cli_process import stop_process
from tests.e2e.server import Server, cli
from tests.integration.campaign_steps import ADD, CREATE, ONE, START
from tests.integration.documents import ACCOUNT, SET_ENABLED, VERIFY
from tests.integration.documents import ADD as ADD_ACCOUNT
from tests.twilio_double import TwilioDouble


class Worker:
    """``sms-accounts worker --concurrency N``, its output in ``log``; ready once it says so."""

    def __init__(self, cwd: Path, env: dict[str, str], name: str, concurrency: int = 1) -> None:
        self.log = cwd / f"{name}.log"
        self.process = subprocess.Popen(
            cli("worker", "--concurrency", str(concurrency)),
            cwd=cwd,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while "campaign worker started" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no shutdown, no last words."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> str:
        if self.process.poll() is None:
            stop_process(self.process)
        return self.log.read_text()


def verified_sender(server: Server, key: str, double: TwilioDouble, rate: float) -> str:
    """A verified account on the stand-in's number, sending ``rate`` segments a second."""
    server.graphql(key, SET_ENABLED, {"enabled": True})
    fields = {
        "provider": "TWILIO",
        "senderId": double.phone_number,
        "clientId": double.account_sid,
        "authToken": double.auth_token,
        "baseUrl": double.base_url,
        "sendRatePerSecond": rate,
    }
    added = server.graphql(key, ADD_ACCOUNT, {"input": fields})["addSmsAccount"]
    assert added["errors"] == [], added
    account_id: str = added["account"]["id"]
    server.graphql(key, VERIFY, {"id": account_id})
    deadline = time.monotonic() + 15
    while server.graphql(key, ACCOUNT, {"id": account_id})["smsAccount"]["status"] != "VERIFIED":
        assert time.monotonic() < deadline, "the account was never verified"
        time.sleep(0.1)
    return account_id


def started_campaign(server: Server, key: str, account_id: str, tos: list[str]) -> str:
    fields = {"accountId": account_id, "name": "Crash", "body": "Hi", "idempotencyKey": "c1"}
    created = server.graphql(key, CREATE, {"input": fields})["createSmsCampaign"]
    campaign_id: str = created["campaign"]["id"]
    recipients = [{"to": to} for to in tos]
    added = server.graphql(key, ADD, {"id": campaign_id, "recipients": recipients})
    assert added["addSmsCampaignRecipients"]["errors"] == [], added
    server.graphql(key, START, {"id": campaign_id})
    return campaign_id


def campaign(server: Server, key: str, campaign_id: str) -> dict[str, Any]:
    found: dict[str, Any] = server.graphql(key, ONE, {"id": campaign_id})["smsCampaign"]
    return found


def wait_for(server: Server, key: str, campaign_id: str, done: Any, within: float) -> Any:
    """The campaign once ``done(campaign)`` holds, within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = campaign(server, key, campaign_id)
        if done(found):
            return found
        assert time.monotonic() < deadline, f"not within {within} s: {found}"
        time.sleep(0.1)
