"""End to end over a real `sms-accounts serve` process, as a newcomer meets it."""

from __future__ import annotations

import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.conftest import PG_URL, TEST_KEY, account_input
from tests.e2e.server import EVERY_INTERFACE, NEW_WORKSPACE, Server, environment, run
from tests.integration.documents import ACCOUNTS, ADD, INTEGRATION, SET_ENABLED


def test_a_newcomer_starts_the_server_and_walks_through_graphiql(workdir: Path) -> None:
    env = environment({})
    server = Server(workdir, env)
    data = workdir / "data"
    try:
        key = server.first_key()
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert httpx.get(f"{server.url}/readyz").json() == {"database": "ok"}

        server.graphql(key, SET_ENABLED, {"enabled": True})
        added = server.graphql(key, ADD, {"input": account_input()})["addSmsAccount"]
        listing = server.graphql(key, ACCOUNTS)["smsAccounts"]
        # While it runs: the database, SQLite's -wal and -shm files, the key files.
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data.iterdir()}
    finally:
        log = server.stop()

    assert added["message"] == "SMS Account added successfully"
    assert listing["stats"] == {"connected": 1, "verified": 0, "awaitingAction": 1}
    assert listing["nodes"][0]["status"] == "DRAFT"
    assert account_input()["authToken"] not in log
    # The key is in a file of its own, which the log names, and nowhere in the log.
    assert key not in log
    assert f"saved to {(data / 'first-admin-key').resolve()} (mode 0600)" in log
    assert f"Open {server.url}/graphql and put it in the header" in log
    assert f"open {server.url}/accounts and paste it" in log
    expected = {"first-admin-key"}
    if not PG_URL:
        expected |= {"sms.db", "sms.db-wal", "sms.db-shm", "sms.key"}
        assert "Generated an encryption key" in log
    assert modes == dict.fromkeys(expected, 0o600)
    # A second start makes no new key and leaves the file as it was.
    again = Server(workdir, env)
    assert "First start" not in again.stop()
    assert again.first_key() == key


def test_on_a_terminal_the_first_key_is_shown_there_with_an_address_that_opens(
    workdir: Path,
) -> None:
    """As in Docker: listening on every interface, in production mode (GraphiQL off)."""
    env = environment(
        {
            "SMS_ENV": "production",
            "SMS_ENCRYPTION_KEYS": TEST_KEY,
            "SMS_FIRST_KEY_TTL_SECONDS": "3600",
        }
    )
    server = Server(workdir, env, host=EVERY_INTERFACE, terminal=True)
    started = datetime.now(UTC)
    try:
        key = server.first_key()
        screen = server.screen()
        assert server.graphql(key, INTEGRATION) == {"smsIntegration": {"enabled": False}}
    finally:
        log = server.stop()

    assert key in screen
    assert key not in log
    [first_start] = [line for line in log.splitlines() if "First start" in line]
    assert EVERY_INTERFACE not in first_start
    assert "GraphiQL is off here" in first_start
    assert f"with each request to http://127.0.0.1:{server.port}/graphql." in first_start
    due = first_start.split("refused unless used by ")[1].split(" UTC")[0]
    deadline = datetime.strptime(due, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert abs(deadline - (started + timedelta(hours=1))) < timedelta(minutes=2)


def test_keys_made_on_the_command_line_work_until_revoked(workdir: Path) -> None:
    env = environment({})
    made = run("create-api-key", *NEW_WORKSPACE, "acme", "--role", "marketer", cwd=workdir, env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    prefix = "_".join(key.split("_")[:2])
    server = Server(workdir, env)
    try:
        assert server.graphql(key, INTEGRATION) == {"smsIntegration": {"enabled": False}}
        revoked = run("revoke-api-key", prefix, cwd=workdir, env=env)
        assert revoked.returncode == 0, revoked.stderr
        # A live key's caller is remembered for SMS_AUTH_CACHE_SECONDS (2 s, at most 5): the
        # revocation is refused within that bound.
        deadline = time.monotonic() + 5
        while True:
            response = httpx.post(
                f"{server.url}/graphql",
                json={"query": INTEGRATION},
                headers={"Authorization": f"Bearer {key}"},
            )
            if response.status_code == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert response.status_code == 401
    finally:
        server.stop()
    unknown = run("revoke-api-key", "sms_ffffffff", cwd=workdir, env=env)
    assert unknown.returncode == 1
    assert "no API key" in unknown.stderr


def test_an_unknown_setting_stops_the_start_with_a_clear_message(workdir: Path) -> None:
    env = environment({"SMS_DATABSE_URL": "sqlite+aiosqlite:///x.db"})
    result = run("serve", cwd=workdir, env=env)
    assert result.returncode == 2
    assert "SMS_DATABSE_URL" in result.stderr
