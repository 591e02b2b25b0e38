"""The exported schema is current, and it keeps the public contract for every part built."""

from __future__ import annotations

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes

from schema import export_schema
from tests.shared import ROOT, shared_dir

CONTRACT = shared_dir() / "contract" / "schema.graphql"


def test_the_exported_schema_file_is_current() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    assert exported == export_schema(), (
        "schema.graphql is stale: run "
        "python -c \"from schema import export_schema; open('schema.graphql','w')"
        '.write(export_schema())"'
    )


def test_the_schema_has_no_breaking_change_against_the_contract() -> None:
    contract = parse_sdl(CONTRACT.read_text())
    ours = parse_sdl(export_schema())

    breaking = [change.description for change in find_breaking_changes(contract, ours)]

    assert breaking == []
