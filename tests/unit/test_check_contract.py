"""``scripts/check_contract.py``, as ``.ci/run`` runs it: a real process on real SDL files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from schema import export_schema

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_contract.py"


def run_check(contract: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(contract)], capture_output=True, text=True, check=False
    )


def test_the_contract_check_passes_when_the_schema_keeps_the_contract(tmp_path: Path) -> None:
    contract = tmp_path / "schema.graphql"
    contract.write_text(export_schema())

    result = run_check(contract)

    assert result.returncode == 0, result.stdout
    assert "no breaking change" in result.stdout


def test_the_contract_check_fails_on_a_field_the_schema_dropped(tmp_path: Path) -> None:
    contract = tmp_path / "schema.graphql"
    contract.write_text(
        export_schema().replace("type Query {", "type Query {\n  aFieldWeDropped: Int")
    )

    result = run_check(contract)

    assert result.returncode == 1
    assert "Field Query.aFieldWeDropped was removed." in result.stdout


def test_the_contract_check_says_it_skipped_when_there_is_no_contract(tmp_path: Path) -> None:
    result = run_check(tmp_path / "missing.graphql")

    assert result.returncode == 0
    assert result.stdout.startswith("contract check skipped:")
