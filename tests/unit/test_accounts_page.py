"""The SMS Accounts page loads nothing from another origin and runs no inline code but its import
map, whose hash the Content-Security-Policy names; every module it imports is one the server
serves under a content hash. (The browser test checks the same in Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser

from api.accounts_page import (
    ASSET_DIR,
    ASSET_URL,
    MODULES,
    SCRIPTS,
    STYLES,
    accounts_html,
    content_security_policy,
)

ABSOLUTE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|(?<![:\w])//[\w.-]+\.[a-z]")
# ``import … from "./x.js"``, ``export … from "./x.js"`` and a bare ``import "./x.js"`` (a module
# run for its effect, such as a card extension).
IMPORTS = re.compile(r"""(?m)^\s*(?:(?:import|export)\b[^'"]*?from\s+|import\s+)['"]([^'"]+)['"]""")
CSS_TARGETS = re.compile(r"""(?i)url\(\s*['"]?([^'")\s]*)|@import\s+['"]([^'"]*)""")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline: list[tuple[str, str]] = []  # (type, text)
        self._script_type: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.references += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "script" and not dict(attrs).get("src"):
            self._script_type = dict(attrs).get("type") or "text/javascript"

    def handle_endtag(self, tag: str) -> None:
        self._script_type = None

    def handle_data(self, data: str) -> None:
        if self._script_type is not None:
            self.inline.append((self._script_type, data))


def parsed() -> _Page:
    page = _Page()
    page.feed(accounts_html())
    return page


def test_the_page_refers_only_to_files_on_this_server() -> None:
    page = parsed()

    served = [reference for reference in page.references if reference != "data:,"]
    names = sorted(reference.split("?")[0].removeprefix(ASSET_URL + "/") for reference in served)
    assert names == sorted([*SCRIPTS, MODULES[0], *STYLES])
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in served), served
    assert not ABSOLUTE.search(accounts_html())


def test_the_only_inline_script_is_the_import_map_and_the_policy_allows_it_by_its_hash() -> None:
    [(kind, text)] = parsed().inline
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert kind == "importmap"
    assert f"script-src 'self' 'sha256-{digest}';" in content_security_policy()
    mapped = json.loads(text)["imports"]
    assert sorted(mapped) == sorted(f"{ASSET_URL}/{name}" for name in MODULES)
    assert all(re.fullmatch(rf"{key}\?v=[0-9a-f]{{16}}", url) for key, url in mapped.items())


def test_every_module_imported_is_served_and_every_module_served_is_used() -> None:
    imported = {"main.js"}
    for name in MODULES:
        for target in IMPORTS.findall((ASSET_DIR / name).read_text()):
            assert target.startswith("./"), (name, target)  # relative, so the map applies
            imported.add(target.removeprefix("./"))

    assert imported == set(MODULES)


def test_the_page_code_names_no_other_host_and_keeps_the_key_out_of_lasting_storage() -> None:
    for name in MODULES:
        code = (ASSET_DIR / name).read_text()
        assert not ABSOLUTE.search(code), name
        assert not re.search(r"\b(localStorage|document\.cookie)\b\s*[.\[=]", code), name


def test_the_stylesheet_loads_nothing_and_no_file_points_at_a_missing_source_map() -> None:
    for name in STYLES:
        css = (ASSET_DIR / name).read_text()
        targets = [url or imported for url, imported in CSS_TARGETS.findall(css)]
        assert all(target.startswith("data:") for target in targets), (name, targets)
    for name in SCRIPTS + MODULES + STYLES:
        assert "sourceMappingURL" not in (ASSET_DIR / name).read_text(), name
