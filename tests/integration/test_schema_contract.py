"""The exported schema is current, and it keeps the public contract for every part built."""

from __future__ import annotations

import subprocess
from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes

from schema import export_schema

ROOT = Path(__file__).resolve().parents[2]


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
    raise AssertionError(f"the shared contract is missing; looked in {candidates}")


CONTRACT = shared_dir() / "contract" / "schema.graphql"

# What the contract has that a later issue builds (4: sending and messages).
# Nothing else may differ in a breaking way.
NOT_BUILT_YET = {
    "Field Mutation.sendSms was removed.",
    "Field Query.smsMessages was removed.",
    "Field Subscription.smsMessageUpdated was removed.",
    *(
        f"{name} was removed."
        for name in (
            "MessageDirection",
            "MessageStatus",
            "SmsMessage",
            "PageInfo",
            "SmsMessageEdge",
            "SmsMessageConnection",
            "SendSmsInput",
            "SendSmsPayload",
        )
    ),
}


def test_the_exported_schema_file_is_current() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    assert exported == export_schema(), (
        "schema.graphql is stale: run "
        "python -c \"from schema import export_schema; open('schema.graphql','w')"
        '.write(export_schema())"'
    )


def test_the_built_parts_have_no_breaking_change_against_the_contract() -> None:
    contract = parse_sdl(CONTRACT.read_text())
    ours = parse_sdl(export_schema())

    breaking = {change.description for change in find_breaking_changes(contract, ours)}

    assert breaking - NOT_BUILT_YET == set()
