"""The ``sms-accounts`` command in a process of its own, awaited without blocking the event loop:
an app served by the same test keeps answering (and hearing Redis) while the command runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


async def sms_accounts(*args: str, env: dict[str, str], cwd: Path) -> Finished:
    """Run the CLI with only ``env``'s SMS_* settings (none of the test's own environment)."""
    environment = (
        {key: value for key, value in os.environ.items() if not key.startswith("SMS_")}
        | {"PYTHONPATH": str(ROOT)}
        | env
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        *args,
        env=environment,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "api.cli", *args]
    environment = (
        {key: value for key, value in os.environ.items() if not key.startswith("SMS_")}
        | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        | env
    )
    return subprocess.run(
        command, env=environment, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a supervisor stops a command; killed when it has not ended 10 s later."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
