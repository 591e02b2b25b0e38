"""Campaign workers as processes on PostgreSQL: a worker killed with kill -9 mid-campaign is
replaced by another within 30 s, and the stand-in sees every recipient at most once (the one
in flight UNCONFIRMED, then settled by its delivery reports); two replicas and a worker keep one
sender's pace between them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_URL, phone
from tests.e2e.campaign_processes import (
    Worker,
    started_campaign,
    verified_sender,
    wait_for,
)
from tests.e2e.replicas import require_postgres_and_redis
from tests.e2e.server import NEW_WORKSPACE, Server, environment, free_port, run
from tests.integration.messaging import SEND
from tests.pacing_windows import busiest_window
from tests.redis_server import RedisProcess
from tests.twilio_double import TwilioDouble

RECIPIENTS = sorted(phone(n) for n in range(60))


def _env(port: int, **extra: str) -> dict[str, str]:
    return environment(
        {
            "SMS_ALLOWED_PROVIDER_HOSTS": "127.0.0.1",
            "SMS_PUBLIC_URL": f"http://127.0.0.1:{port}",  # where the reports come back
            "SMS_RETRY_BASE_SECONDS": "0.01",
            "SMS_SERVE_WORKERS": "0",  # the servers only defer: the workers send
            **extra,
        }
    )


def _admin_key(workdir: Path, env: dict[str, str]) -> str:
    made = run("create-api-key", *NEW_WORKSPACE, "acme", "--role", "admin", cwd=workdir, env=env)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


def test_a_worker_killed_mid_campaign_is_replaced_and_nobody_gets_a_message_twice(
    workdir: Path,
) -> None:
    if not PG_URL:
        pytest.skip("workers share PostgreSQL: set SMS_TEST_DATABASE_URL")
    port = free_port()
    # Hand-overs left by the killed worker turn UNCONFIRMED 5 s after they began; reports come
    # 6 s apart, so the last ones arrive after that and settle them.
    env = _env(port, SMS_CAMPAIGN_HANDOVER_LEASE_SECONDS="5")
    with TwilioDouble(callback_delay=6.0, hang_seconds=2.0) as double:
        key = _admin_key(workdir, env)
        server = Server(workdir, env, port=port)
        first = Worker(workdir, env, "first")
        second: Worker | None = None
        try:
            account_id = verified_sender(server, key, double, rate=5)
            campaign_id = started_campaign(server, key, account_id, RECIPIENTS)
            assert _sends_reach(double, 5)
            second = Worker(workdir, env, "second")  # idle: the campaign's job is the first's
            arrived = double.requests
            double.hang = True  # the next send hangs: its answer is lost with the worker
            assert double.wait_for_requests(arrived + 1)
            first.kill()
            killed_at = time.monotonic()
            double.hang = False

            unconfirmed: list[int] = []  # as each look at the campaign saw it

            def completed(found: dict[str, Any]) -> bool:
                unconfirmed.append(found["progress"]["unconfirmed"])
                return bool(found["status"] == "COMPLETED")

            wait_for(server, key, campaign_id, completed, within=30)
            assert time.monotonic() - killed_at < 30

            # Every recipient the stand-in took is SENT once its reports came: the hung one
            # included. Those the dead worker had claimed but not yet sent (waiting for their
            # slot) never reached it: they stay UNCONFIRMED, never sent again.
            def settled_by_reports(found: dict[str, Any]) -> bool:
                taken = len({send.to for send in double.sends})
                progress = found["progress"]
                return bool(
                    progress["sent"] == taken and progress["unconfirmed"] == len(RECIPIENTS) - taken
                )

            settled = wait_for(server, key, campaign_id, settled_by_reports, within=30)
        finally:
            logs = [worker.stop() for worker in (first, second) if worker is not None]
            server.stop()
        sends = Counter(send.to for send in double.sends)

    assert max(sends.values()) == 1, (sends, logs)  # at most once, whatever crashed
    assert set(sends) <= set(RECIPIENTS)
    assert len(RECIPIENTS) - len(sends) <= 5  # at most the look-ahead's few were never sent
    assert max(unconfirmed) >= 1  # its answer was lost with the worker…
    assert settled["progress"]["sent"] == len(sends)  # …and its reports settled it


def test_two_replicas_and_a_worker_keep_one_senders_pace(workdir: Path) -> None:
    require_postgres_and_redis()
    redis = RedisProcess(workdir).start()
    port = free_port()
    rate = 5.0
    env = _env(port, SMS_BROADCAST_URL=redis.url)
    with TwilioDouble(callback_delay=0.5) as double:
        key = _admin_key(workdir, env)
        for name in ("a", "b"):
            (workdir / name).mkdir()
        servers = [Server(workdir / "a", env, port=port), Server(workdir / "b", env)]
        worker = Worker(workdir, env, "worker")
        try:
            account_id = verified_sender(servers[0], key, double, rate=rate)
            started_campaign(servers[0], key, account_id, RECIPIENTS[:25])
            answers = _one_offs(servers, key, account_id, each=6)
        finally:
            worker.stop()
            for server in servers:
                server.stop()
            redis.stop()
        sent = [(send.at, 1) for send in double.sends]

    assert all(code in (None, "TOO_MANY") for code in answers), answers
    assert answers.count(None) >= 2  # one-offs went ahead of the campaign
    assert len(sent) >= 20
    assert busiest_window(sent) <= rate + 1


def _one_offs(servers: list[Server], key: str, account_id: str, each: int) -> list[str | None]:
    """``each`` sendSms on every replica at once, while the campaign sends; their error codes."""
    codes: list[str | None] = []

    def send_from(server: Server, offset: int) -> None:
        for n in range(each):
            to = phone(100 + offset * each + n)
            variables: dict[str, object] = {
                "input": {"accountId": account_id, "to": to, "body": "One-off"}
            }
            errors = server.graphql(key, SEND, variables)["sendSms"]["errors"]
            codes.append(errors[0]["code"] if errors else None)
            time.sleep(0.3)

    threads = [
        threading.Thread(target=send_from, args=(server, index))
        for index, server in enumerate(servers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(2)  # the campaign goes on meanwhile
    return codes


def _sends_reach(double: TwilioDouble, count: int, within: float = 20) -> bool:
    deadline = time.monotonic() + within
    while len(double.sends) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
