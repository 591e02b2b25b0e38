"""Copy the parts of Twilio's OpenAPI description that the test suite uses into the repository.

The upstream files are 2.4 MB; the suite needs a handful of paths (the requests the client makes
and the examples the Twilio double answers with) and the schemas those refer to. Keeping only
those makes the repository self-contained without carrying megabytes nobody reads.

    .venv/bin/python scripts/vendor_twilio_oai.py ../shared/twilio-oai

Add a path to ``PATHS`` when the client starts calling a new Twilio endpoint, then re-run.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

TARGET = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "twilio-oai"

PATHS = {
    "twilio_api_v2010.json": [
        "/2010-04-01/Accounts/{Sid}.json",
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json",
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json",
        "/2010-04-01/Accounts/{AccountSid}/Messages.json",
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json",
    ],
    "twilio_messaging_v1.json": [
        "/v1/Services/{Sid}",
    ],
}


def _references(node: Any) -> set[str]:
    """Every ``$ref`` target inside ``node``, e.g. ``#/components/schemas/account_enum_status``."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _references(value)
        return found
    if isinstance(node, list):
        return set().union(*(_references(value) for value in node))
    return set()


def _resolve(document: dict[str, Any], reference: str) -> Any:
    node: Any = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def trim(document: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The document with only ``paths`` and the components they reach, directly or not."""
    kept_paths = {path: document["paths"][path] for path in paths}
    pending = _references(kept_paths)
    seen: set[str] = set()
    while pending:
        reference = pending.pop()
        seen.add(reference)
        pending |= _references(_resolve(document, reference)) - seen
    components: dict[str, Any] = {"securitySchemes": document["components"]["securitySchemes"]}
    for reference in sorted(seen):
        _, _, section, name = reference.split("/")
        components.setdefault(section, {})[name] = document["components"][section][name]
    tags = {
        operation.get("tags", [None])[0]
        for item in kept_paths.values()
        for operation in item.values()
        if isinstance(operation, dict)
    }
    return {
        "openapi": document["openapi"],
        "info": document["info"],
        "servers": document["servers"],
        "security": document["security"],
        "tags": [tag for tag in document.get("tags", []) if tag["name"] in tags],
        "components": components,
        "paths": kept_paths,
    }


def main(source: Path) -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, paths in PATHS.items():
        document = json.loads((source / name).read_text())
        text = json.dumps(trim(document, paths), indent=1, ensure_ascii=False)
        (TARGET / name).write_text(text + "\n")
    shutil.copyfile(source / "LICENSE", TARGET / "LICENSE")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
