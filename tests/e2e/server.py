"""The ``sms-accounts`` command and a real server process, for the end-to-end tests."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.cli_process import stop_process
from tests.conftest import PG_URL, TEST_KEY

COMMAND = Path(sys.executable).with_name("sms-accounts")
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 (what a container listens on)
# create-api-key's arguments for a workspace (and, on SQLite, a database) that is new.
NEW_WORKSPACE = ("--init", "--create-workspace", "--workspace")


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
    """``sms-accounts serve`` with its output in ``log``; with ``terminal``, its stdout is a
    terminal (a pseudo-terminal this test reads) and only stderr goes to ``log``."""

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        *,
        log: str = "server.log",
        host: str = "127.0.0.1",
        terminal: bool = False,
        port: int | None = None,
    ) -> None:
        self.cwd = cwd
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / log
        self.terminal: int | None = None
        stdout: Any = self.log.open("w")
        stderr: Any = subprocess.STDOUT
        if terminal:
            self.terminal, screen = pty.openpty()
            stdout, stderr = screen, stdout
        self.process = subprocess.Popen(
            cli("serve", "--host", host, "--port", str(self.port)),
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
        if terminal:
            os.close(screen)
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
        if self.terminal is not None:
            os.close(self.terminal)
        return self.log.read_text()

    def first_key(self) -> str:
        """The first start's admin key, from the file it is written to."""
        return (self.cwd / "data" / "first-admin-key").read_text().strip()

    def screen(self) -> str:
        """What the server has written to its terminal so far."""
        assert self.terminal is not None
        chunks = []
        while select.select([self.terminal], [], [], 0.2)[0]:
            chunks.append(os.read(self.terminal, 65536))
        return b"".join(chunks).decode()

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
