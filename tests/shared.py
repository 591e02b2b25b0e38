"""Where ``../shared`` (the contract, Twilio's spec) is, from a checkout or a clone of it."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@cache
def shared_dir() -> Path:
    """``../shared`` beside the checkout, or beside the repository it was cloned from."""
    candidates = [ROOT.parent / "shared"]
    origin = subprocess.run(
        ["git", "config", "--get", "remote.origin.url"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if origin and "://" not in origin:
        candidates.append(Path(origin).resolve().parent / "shared")
    for candidate in candidates:
        if (candidate / "contract" / "schema.graphql").exists():
            return candidate
    raise AssertionError(f"the shared folder is missing; looked in {candidates}")
