"""The exported schema file is current.

The comparison with the public contract (``../shared/contract/schema.graphql``) lives in
``scripts/check_contract.py``, run by ``.ci/run``: that file is outside the repository, and a clone
on its own must still pass the suite.
"""

from __future__ import annotations

from pathlib import Path

from schema import export_schema

ROOT = Path(__file__).resolve().parents[2]


def test_the_exported_schema_file_is_current() -> None:
    exported = (ROOT / "schema.graphql").read_text()
    assert exported == export_schema(), (
        "schema.graphql is stale: run "
        "python -c \"from schema import export_schema; open('schema.graphql','w')"
        '.write(export_schema())"'
    )
