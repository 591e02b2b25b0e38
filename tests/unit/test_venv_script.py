"""``scripts/venv.sh``, sourced by scripts/serve, scripts/test and .ci/run: which Python, and when
an existing virtualenv has to go. Each test runs the real shell functions on a throwaway folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
OURS = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_SUPPORTED = "3.12" if OURS != "3.12" else "3.13"


def fake_python(folder: Path, version: str) -> Path:
    """An executable that answers like a Python of ``version`` to the version probe."""
    python = folder / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f"#!/bin/sh\necho {version}\n")
    python.chmod(0o755)
    return python


def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"source {SCRIPTS / 'venv.sh'}; {script}"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_a_venv_made_by_an_unsupported_python_is_removed_saying_so(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    fake_python(venv, "3.10")

    result = run(f"drop_mismatched_venv {venv} {sys.executable}")

    assert not venv.exists()
    assert (
        f"it was made by Python 3.10, which this project does not support; using Python {OURS}"
        in (result.stderr)
    )


def test_a_venv_made_by_another_supported_python_is_rebuilt_for_the_chosen_one(
    tmp_path: Path,
) -> None:
    venv = tmp_path / ".venv"
    fake_python(venv, OTHER_SUPPORTED)

    result = run(f"drop_mismatched_venv {venv} {sys.executable}")

    assert not venv.exists()
    assert f"made by Python {OTHER_SUPPORTED}, this run uses Python {OURS}" in result.stderr


def test_a_venv_made_by_the_chosen_python_is_kept_quietly(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    fake_python(venv, OURS)

    result = run(f"drop_mismatched_venv {venv} {sys.executable}")

    assert venv.exists()
    assert result.stderr == ""


def test_an_unsupported_python_chosen_by_the_user_is_refused_with_the_supported_list(
    tmp_path: Path,
) -> None:
    python = fake_python(tmp_path, "3.10")

    result = run("choose_python", PYTHON=str(python))

    assert result.returncode == 1
    assert result.stderr == (
        f"PYTHON={python} is Python 3.10: this project supports Python 3.11 3.12 3.13.\n"
    )


def test_a_supported_python_chosen_by_the_user_is_used() -> None:
    result = run("choose_python", PYTHON=sys.executable)

    assert result.returncode == 0
    assert result.stdout == sys.executable + "\n"
