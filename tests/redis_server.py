"""A Redis server of the test's own: its own free port, nothing persisted, stoppable and
startable again on that port (a Redis restart as clients see it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server")
NOTHING_PERSISTED = ("--save", "", "--appendonly", "no")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], failure: str, timeout: float = 30.0) -> None:
    """Poll ``condition`` (a generous bound: the machine is shared; this is no speed test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


class RedisProcess:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir  # where a stray dump would land, not the test's cwd
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        assert REDIS_SERVER is not None, "no redis-server on PATH"
        self._process = subprocess.Popen(
            [REDIS_SERVER, *self._options(), *NOTHING_PERSISTED],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, f"redis-server on port {self.port} did not start")
        return self

    def _options(self) -> list[str]:
        return ["--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self._workdir)]

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1) as probe:
                probe.sendall(b"PING\r\n")
                return probe.recv(16).startswith(b"+PONG")
        except OSError:
            return False
