"""``sms-accounts dev-twilio`` as a newcomer without a Twilio account uses it: it prints what to
paste and what to set, and the README's walk through GraphiQL then reaches VERIFIED, DELIVERED
and a reply against it, over a real ``sms-accounts serve``."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers.host_policy import DEFAULT_ALLOWED_HOSTS, HostPolicy, HostPolicyError
from tests.cli_process import stop_process
from tests.conftest import TEST_KEY
from tests.e2e.server import Server, cli, environment, free_port, run
from tests.integration.documents import ACCOUNT, SET_ENABLED

# The README's documents (the GraphiQL walk), as a newcomer pastes them.
ADD = """
mutation Add($input: AddSmsAccountInput!) {
  addSmsAccount(input: $input) {
    message
    account { id displayName status senderKind authTokenHint baseUrl inboundWebhookUrl }
    errors { field code message }
  }
}
"""
VERIFY = """
mutation Verify($id: ID!) {
  verifySmsAccount(id: $id) { message account { status } errors { code message } }
}
"""
SEND = """
mutation Send($input: SendSmsInput!) {
  sendSms(input: $input) {
    message { id status providerMessageId segments } errors { field code message }
  }
}
"""
MESSAGES = """
{ smsMessages(first: 20) {
    edges { node { direction from to body status } } pageInfo { hasNextPage endCursor } } }
"""
TO = "+14155550100"
LAST_LINE = "UseInboundWebhookOnNumber=false)"


class DevTwilio:
    """``sms-accounts dev-twilio`` in a process of its own, and what it printed."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.log = cwd / "dev-twilio.log"
        self.process = subprocess.Popen(
            cli("dev-twilio", *args),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        printed: list[str] = []
        while not printed or LAST_LINE not in printed[-1]:
            try:
                printed.append(lines.get(timeout=30))
            except queue.Empty:
                self.stop()
                message = f"dev-twilio printed {printed}: {self.log.read_text()}"
                raise AssertionError(message) from None
        self.printed = "".join(printed)

    @property
    def input(self) -> dict[str, str]:
        """addSmsAccount's variables, as printed."""
        [line] = [line for line in self.printed.splitlines() if line.strip().startswith("{")]
        values: dict[str, str] = json.loads(line)["input"]
        return values

    @property
    def number_url(self) -> str:
        """The number's URL in the printed curl line."""
        found = re.search(r"http://\S+/IncomingPhoneNumbers/PN[0-9a-f]{32}\.json", self.printed)
        assert found is not None, self.printed
        return found.group(0)

    def stop(self) -> str:
        stop_process(self.process)
        return self.log.read_text()


@pytest.fixture
def dev_twilio(workdir: Path) -> Iterator[DevTwilio]:
    standin = DevTwilio(workdir, environment({}), "--port", "0")
    yield standin
    standin.stop()


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], within: float = 15) -> Any:
    deadline = time.monotonic() + within
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def test_dev_twilio_prints_what_to_paste_and_answers_with_it(dev_twilio: DevTwilio) -> None:
    values = dev_twilio.input
    auth = (values["clientId"], values["authToken"])
    account_url = f"{values['baseUrl']}2010-04-01/Accounts/{values['clientId']}.json"

    account = httpx.get(account_url, auth=auth)
    wrong = httpx.get(account_url, auth=(values["clientId"], "0" * 32))
    number = httpx.get(dev_twilio.number_url, auth=auth)

    assert "SMS_ALLOWED_PROVIDER_HOSTS=127.0.0.1 SMS_PUBLIC_URL=" in dev_twilio.printed
    assert (account.status_code, account.json()["sid"]) == (200, values["clientId"])
    assert account.json()["status"] == "active"
    assert wrong.status_code == 401
    assert number.json()["phone_number"] == values["senderId"]
    assert number.json()["capabilities"]["sms"] is True
    # The setting it prints admits the Base URL it prints; the default list does not.
    assert HostPolicy.parse("127.0.0.1").check_url(values["baseUrl"]) == values["baseUrl"]
    with pytest.raises(HostPolicyError):
        HostPolicy.parse(DEFAULT_ALLOWED_HOSTS).check_url(values["baseUrl"])


def test_dev_twilio_refuses_to_run_in_production(workdir: Path) -> None:
    env = environment({"SMS_ENV": "production", "SMS_ENCRYPTION_KEYS": TEST_KEY})

    result = run("dev-twilio", "--port", str(free_port()), cwd=workdir, env=env)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "sms-accounts: dev-twilio is a development tool and does not run with "
        "SMS_ENV=production; run it without SMS_ENV (or with SMS_ENV=development)."
    ]


def test_the_readme_walk_reaches_verified_delivered_and_a_reply_without_twilio(
    workdir: Path, dev_twilio: DevTwilio
) -> None:
    port = free_port()
    settings = {
        "SMS_ALLOWED_PROVIDER_HOSTS": "127.0.0.1",
        "SMS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    server = Server(workdir, environment(settings), port=port)
    try:
        key = server.first_key()
        server.graphql(key, SET_ENABLED, {"enabled": True})
        added = server.graphql(key, ADD, {"input": dev_twilio.input})["addSmsAccount"]
        account = added["account"]
        started = server.graphql(key, VERIFY, {"id": account["id"]})["verifySmsAccount"]
        verdict = eventually(
            lambda: server.graphql(key, ACCOUNT, {"id": account["id"]})["smsAccount"],
            lambda found: found["status"] != "VERIFYING",
        )
        wired = httpx.post(
            dev_twilio.number_url,
            auth=(dev_twilio.input["clientId"], dev_twilio.input["authToken"]),
            data={"SmsMethod": "POST", "SmsUrl": account["inboundWebhookUrl"]},
        )
        fields = {"accountId": account["id"], "to": TO, "body": "Hello"}
        sent = server.graphql(key, SEND, {"input": fields})["sendSms"]
        messages = eventually(
            lambda: [
                edge["node"] for edge in server.graphql(key, MESSAGES)["smsMessages"]["edges"]
            ],
            lambda nodes: len(nodes) == 2 and nodes[-1]["status"] == "DELIVERED",
        )
    finally:
        log = server.stop()

    assert added["errors"] == [], added
    assert account["status"] == "DRAFT"
    assert started["message"] == "Verification process started"
    assert verdict["status"] == "VERIFIED", (verdict, log)
    assert wired.status_code == 200
    assert sent["errors"] == []
    assert sent["message"]["status"] == "QUEUED"
    assert sent["message"]["providerMessageId"].startswith("SM")
    assert messages == [
        {
            "direction": "INBOUND",
            "from": TO,
            "to": dev_twilio.input["senderId"],
            "body": "Thanks!",
            "status": "RECEIVED",
        },
        {
            "direction": "OUTBOUND",
            "from": dev_twilio.input["senderId"],
            "to": TO,
            "body": "Hello",
            "status": "DELIVERED",
        },
    ], log
    assert dev_twilio.input["authToken"] not in log
    # Every callback and the reply passed the server's signature check.
    answers = re.findall(r"(status \w+|reply) .*→ \S+: (\d+)$", dev_twilio.stop(), re.M)
    assert answers == [
        ("status queued", "204"),
        ("status sent", "204"),
        ("status delivered", "204"),
        ("reply", "200"),
    ]
