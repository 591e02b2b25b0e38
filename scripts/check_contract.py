"""The schema keeps the public GraphQL contract: no breaking change against it.

    .venv/bin/python scripts/check_contract.py [CONTRACT]

CONTRACT defaults to ``../shared/contract/schema.graphql`` beside the checkout. That file is not
part of the repository: when it is missing the check says it skipped and succeeds, so a clone on
its own still passes CI. Exits 1 and lists the breaking changes otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import build_schema, find_breaking_changes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the project's packages are beside scripts/

from schema import export_schema  # noqa: E402

DEFAULT_CONTRACT = ROOT.parent / "shared" / "contract" / "schema.graphql"


def breaking_changes(contract_sdl: str) -> list[str]:
    ours = build_schema(export_schema())
    return [
        change.description for change in find_breaking_changes(build_schema(contract_sdl), ours)
    ]


def main(argv: list[str]) -> int:
    contract = Path(argv[1]) if len(argv) > 1 else DEFAULT_CONTRACT
    if not contract.is_file():
        print(f"contract check skipped: {contract} does not exist")
        return 0
    breaking = breaking_changes(contract.read_text())
    for description in breaking:
        print(f"breaking change against {contract}: {description}")
    if not breaking:
        print(f"contract check passed: no breaking change against {contract}")
    return 1 if breaking else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
