"""The layers import one way: ``api → schema → resolvers → storage, providers → domain``.

Schema never imports storage; resolvers never import schema or api; storage and providers
import only domain (and themselves); domain imports nothing of ours. Only the Twilio adapter
(``providers/sms/twilio/``) knows Twilio: no other module imports it but the one registry of
adapters, and the use cases, the schema and the app never spell a Twilio form field, status
word, error code or header. No module of resolvers/ reaches itself through the others (type-only
imports count: a cycle there is the same design knot).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "schema", "resolvers", "storage", "providers", "domain")
# What each layer may import besides itself.
MAY_IMPORT = {
    "api": {"schema", "resolvers", "storage", "providers", "domain"},
    "schema": {"resolvers", "domain"},
    "resolvers": {"storage", "providers", "domain"},
    "storage": {"domain"},
    "providers": {"domain"},
    "domain": set(),
}
TWILIO = "providers.sms.twilio"
MSG91 = "providers.sms.msg91"
ADAPTERS = (TWILIO, MSG91)
# The one place that names every adapter, for the bootstrap to build them.
ADAPTER_REGISTRY = "providers.sms.adapters"
# Twilio's own words: webhook form fields, REST fields, the signature header, status words, and
# the error codes the adapter reads. None may appear in the use cases, the schema or the app.
TWILIO_WORDS = re.compile(
    # Form fields and REST fields, as code reads or writes them: quoted (a GraphQL type's
    # ``name="MessageStatus"`` is ours).
    r"(?<!name=)[\"'](MessageSid|SmsSid|MessageStatus|SmsStatus|AccountSid|OptOutType|NumSegments|ErrorCode"
    r"|StatusCallback|MessagingServiceSid|SmsUrl|SmsMethod|SmsApplicationSid|InboundRequestUrl"
    r"|UseInboundWebhookOnNumber|PhoneNumber|num_segments|error_code|account_sid"
    r"|incoming_phone_numbers|(?i:x-twilio-signature))[\"']"
    # Status words, quoted.
    r"|[\"'](queued|accepted|scheduled|sending|sent|delivered|partially_delivered|undelivered"
    r"|failed|receiving|received|read|canceled)[\"']"
    # The error codes the adapter reads, and Twilio's markup.
    r"|\b(20003|20404|20429|21211|21212|21408|21606|21608|21610|21614|21659|21712|3000[3-8])\b"
    r"|(?i:twiml)"
)
# MSG91's own words: its JSON and form fields as code reads or writes them (quoted), its error
# codes and the delivery-report status numbers it sends beyond 1 and 2 (as numbers, or quoted).
MSG91_WORDS = re.compile(
    r"[\"'](DLT_TE_ID|PE_ID|authkey|requestId|msgType|campaignName|failedReason)[\"']"
    r"|\b(106|203|207|301|302|303|306|310|311|418)\b(?!\.)"
    r"|[\"'](9|16|17|25)[\"']"
)


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> dict[str, Path]:
    return {
        module_of(path): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the import statement sits."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in PACKAGES else None


def wrong_way_imports() -> list[str]:
    wrong = []
    for module, path in sorted(product_modules().items()):
        layer = layer_of(module)
        assert layer is not None
        for imported in sorted(imports_of(path)):
            other = layer_of(imported)
            if other is not None and other != layer and other not in MAY_IMPORT[layer]:
                wrong.append(f"{module} imports {imported}")
    return wrong


def test_each_layer_imports_only_the_layers_below_it() -> None:
    assert wrong_way_imports() == []


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_only_each_adapter_and_the_registry_import_its_code(adapter: str) -> None:
    importers = {
        module
        for module, path in product_modules().items()
        if any(name == adapter or name.startswith(adapter + ".") for name in imports_of(path))
        and not (module == adapter or module.startswith(adapter + "."))
    }
    assert importers == {ADAPTER_REGISTRY}


@pytest.mark.parametrize("package", ["resolvers", "schema", "api"])
def test_the_use_cases_the_schema_and_the_app_never_spell_twilios_words(package: str) -> None:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in TWILIO_WORDS.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert found == []


@pytest.mark.parametrize(
    "package", ["resolvers", "schema", "api", "domain", "storage", "providers"]
)
def test_no_module_outside_the_msg91_adapter_spells_msg91s_words(package: str) -> None:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if module_of(path).startswith(MSG91) or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in MSG91_WORDS.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    assert found == []


def test_the_word_check_finds_msg91s_words() -> None:
    spelled = [
        'payload["DLT_TE_ID"] = template',
        'headers = {"authkey": key}',
        'entry.get("requestId")',
        "if code == 418:",
        'if status in ("16", "25"):',
    ]
    assert all(MSG91_WORDS.search(line) for line in spelled)
    assert not MSG91_WORDS.search("MSG91 sends it as DLT_TE_ID, with an API Key (authkey).")
    assert not MSG91_WORDS.search('ipaddress.IPv4Network("203.0.113.0/24")')


def test_the_word_check_finds_twilios_words() -> None:
    spelled = [
        'form.get("MessageSid")',
        'if status == "delivered":',
        "if code == 21610:",
        'headers.get("X-Twilio-Signature")',
    ]
    assert all(TWILIO_WORDS.search(line) for line in spelled)
    assert not TWILIO_WORDS.search("The message was delivered to the carrier.")


def test_the_layer_check_finds_a_wrong_way_import(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text("from schema.types import SmsAccount\nimport storage.queries\n")
    assert imports_of(source) == {"schema.types", "schema.types.SmsAccount", "storage.queries"}
    assert "schema" not in MAY_IMPORT["resolvers"]
    assert "storage" not in MAY_IMPORT["schema"]


def test_no_module_imports_a_test_module() -> None:
    """Helpers live in helper modules: a test module imported by another would run its tests
    twice and tie the two together."""
    importers = []
    for path in sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        for name in imports_of(path):
            parts = name.split(".")
            ours = parts[0] in ("tests", "bench")
            if ours and any(part.startswith("test_") for part in parts[1:]):
                importers.append(f"{path.relative_to(ROOT)} imports {name}")
    assert importers == []


def resolvers_graph() -> dict[str, set[str]]:
    modules = {
        name: path for name, path in product_modules().items() if layer_of(name) == "resolvers"
    }
    return {name: imports_of(path) & modules.keys() for name, path in modules.items()}


def a_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for imported in sorted(edges[name]):
            cycle = visit(imported, [*path, name])
            if cycle is not None:
                return cycle
        done.add(name)
        return None

    for start in sorted(edges):
        cycle = visit(start, [])
        if cycle is not None:
            return cycle
    return None


def test_the_resolvers_modules_import_each_other_without_a_cycle() -> None:
    cycle = a_cycle(resolvers_graph())
    assert cycle is None, " → ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
