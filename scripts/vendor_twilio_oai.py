"""Copy the parts of Twilio's OpenAPI description that this project uses into the repository.

The upstream files are 2.4 MB; the project needs a handful of operations and the schemas those
refer to. Keeping only those makes the repository self-contained without carrying megabytes
nobody reads. Two copies are written:

* ``tests/fixtures/twilio-oai/``: what the test suite reads (the requests the client makes and
  the examples the test double answers with), every method of each path;
* ``providers/sms/twilio/oai/``: what the Twilio stand-in (``sms-accounts dev-twilio``) reads at
  run time, shipped as package data: only the operations it serves. The product never reads
  ``tests/``; a test checks that this copy is the same trim of the same upstream files.

    .venv/bin/python scripts/vendor_twilio_oai.py ../shared/twilio-oai

Add a path to ``TEST_PATHS`` when the client starts calling a new Twilio endpoint, an operation
to ``STANDIN_OPERATIONS`` when the stand-in starts serving one, then re-run.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS_TARGET = ROOT / "tests" / "fixtures" / "twilio-oai"
STANDIN_TARGET = ROOT / "providers" / "sms" / "twilio" / "oai"
EVERY_METHOD = ("get", "post", "delete")

Operations = Mapping[str, Mapping[str, Collection[str]]]  # file -> path -> methods

TEST_PATHS: Operations = {
    "twilio_api_v2010.json": {
        "/2010-04-01/Accounts/{Sid}.json": EVERY_METHOD,
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json": EVERY_METHOD,
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json": EVERY_METHOD,
        "/2010-04-01/Accounts/{AccountSid}/Messages.json": EVERY_METHOD,
        "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json": EVERY_METHOD,
    },
    "twilio_messaging_v1.json": {
        "/v1/Services/{Sid}": EVERY_METHOD,
    },
}

STANDIN_OPERATIONS: Operations = {
    "twilio_api_v2010.json": {
        "/2010-04-01/Accounts/{Sid}.json": ("get",),
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json": ("get",),
        "/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers/{Sid}.json": ("get", "post"),
        "/2010-04-01/Accounts/{AccountSid}/Messages.json": ("post",),
    },
    "twilio_messaging_v1.json": {
        "/v1/Services/{Sid}": ("get", "post"),
    },
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


def _kept_item(item: dict[str, Any], methods: Collection[str]) -> dict[str, Any]:
    """A path item with only ``methods`` among its operations (its other keys unchanged)."""
    return {
        key: value
        for key, value in item.items()
        if not (isinstance(value, dict) and "responses" in value) or key in methods
    }


def trim(document: dict[str, Any], paths: Mapping[str, Collection[str]]) -> dict[str, Any]:
    """The document with only the given operations of ``paths`` and the components they reach,
    directly or not."""
    kept_paths = {path: _kept_item(document["paths"][path], paths[path]) for path in paths}
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
        if isinstance(operation, dict) and "responses" in operation
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


def write(source: Path, target: Path, operations: Operations) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, paths in operations.items():
        document = json.loads((source / name).read_text())
        text = json.dumps(trim(document, paths), indent=1, ensure_ascii=False)
        (target / name).write_text(text + "\n")
    shutil.copyfile(source / "LICENSE", target / "LICENSE")


def main(source: Path) -> None:
    write(source, TESTS_TARGET, TEST_PATHS)
    write(source, STANDIN_TARGET, STANDIN_OPERATIONS)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
