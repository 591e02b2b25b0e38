"""End to end over a real `sms-accounts serve` process, as a newcomer meets it."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli_process import stop_process
from tests.conftest import PG_URL, TEST_KEY, account_input
from tests.integration.documents import ACCOUNTS, ADD, INTEGRATION, SET_ENABLED

COMMAND = Path(sys.executable).with_name("sms-accounts")


def cli(*args: str) -> list[str]:
    """The installed ``sms-accounts`` command (the module when not installed)."""
    command = [str(COMMAND)] if COMMAND.exists() else [sys.executable, "-m", "api.cli"]
    return [*command, *args]


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def environment(extra: dict[str, str]) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("SMS_")}
    if PG_URL:
        base |= {"SMS_DATABASE_URL": PG_URL, "SMS_ENCRYPTION_KEYS": TEST_KEY}
    return base | extra


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    def __init__(
        self, cwd: Path, env: dict[str, str], *, log: str = "server.log", port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / log
        self.process = subprocess.Popen(
            cli("serve", "--port", str(self.port)),
            cwd=cwd,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log.read_text()}")

    def stop(self) -> str:
        stop_process(self.process)
        return self.log.read_text()

    def graphql(self, key: str, query: str, variables: dict[str, object] | None = None) -> dict:  # type: ignore[type-arg]
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body: dict = response.json()  # type: ignore[type-arg]
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]


def test_a_newcomer_starts_the_server_and_walks_through_graphiql(workdir: Path) -> None:
    env = environment({})
    server = Server(workdir, env)
    try:
        log = server.log.read_text()
        key = log.split("Bearer ")[1].split('"')[0]
        page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert httpx.get(f"{server.url}/readyz").json() == {"database": "ok"}

        server.graphql(key, SET_ENABLED, {"enabled": True})
        added = server.graphql(key, ADD, {"input": account_input()})["addSmsAccount"]
        listing = server.graphql(key, ACCOUNTS)["smsAccounts"]
    finally:
        log = server.stop()

    assert added["message"] == "SMS Account added successfully"
    assert listing["stats"] == {"connected": 1, "verified": 0, "awaitingAction": 1}
    assert listing["nodes"][0]["status"] == "DRAFT"
    assert account_input()["authToken"] not in log
    if not PG_URL:
        key_file = workdir / "data" / "sms.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert "Generated an encryption key" in log
    # A second start prints no new key.
    again = Server(workdir, env)
    assert "Bearer " not in again.stop()


def test_keys_made_on_the_command_line_work_until_revoked(workdir: Path) -> None:
    env = environment({})
    made = run("create-api-key", "--workspace", "acme", "--role", "marketer", cwd=workdir, env=env)
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
