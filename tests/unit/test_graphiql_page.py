"""The GraphiQL page loads nothing from another origin, so it works with no internet.

"Loads" means what a browser fetches: the page's ``src``/``href`` attributes, the URLs in our own
page code, the ``url()``/``@import`` targets of the stylesheets, and, as a backstop for anything
the vendored JavaScript might try, the page's Content-Security-Policy (a header). URL strings inside
the vendored JavaScript (licence links, error-message links, the SVG namespace) are not loads; the
browser test checks in Chromium that every resource the page fetched came from this server.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from api.graphiql import ASSET_DIR, ASSET_URL, PAGE_HEADERS, SCRIPTS, STYLES, graphiql_html

ABSOLUTE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|(?<![:\w])//[\w.-]+\.[a-z]")
CSS_TARGETS = re.compile(r"""(?i)url\(\s*['"]?([^'")\s]*)|@import\s+['"]([^'"]*)""")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.references += [value for name, value in attrs if name in ("src", "href") and value]
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def parse_page() -> _Page:
    page = _Page()
    page.feed(graphiql_html())
    return page


def same_origin(reference: str) -> bool:
    return reference.startswith("/") and not reference.startswith("//")


def test_the_page_refers_only_to_files_on_this_server() -> None:
    page = parse_page()

    served = [reference for reference in page.references if reference != "data:,"]
    assert sorted(ref.split("?")[0].removeprefix(ASSET_URL + "/") for ref in served) == sorted(
        SCRIPTS + STYLES
    )
    assert all(same_origin(reference) for reference in served), served
    assert not ABSOLUTE.search(graphiql_html())


def test_the_page_has_no_inline_code_and_its_own_code_names_no_other_host() -> None:
    page = parse_page()

    assert page.inline_scripts == []
    assert not ABSOLUTE.search((ASSET_DIR / "page.js").read_text())


def test_the_stylesheets_load_nothing_but_inline_data() -> None:
    for name in STYLES:
        css = (ASSET_DIR / name).read_text()
        targets = [url or imported for url, imported in CSS_TARGETS.findall(css)]
        assert all(target.startswith("data:") for target in targets), (name, targets)
        assert "sourceMappingURL" not in css


def test_the_browser_may_fetch_from_this_server_and_data_urls_only() -> None:
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in PAGE_HEADERS["Content-Security-Policy"].split(";")
        if directive.strip()
    }

    assert policy["default-src"] == ["'none'"]
    for sources in policy.values():
        assert set(sources) <= {"'self'", "'none'", "data:", "'unsafe-inline'"}, sources
    assert "'unsafe-inline'" not in policy["script-src"]


def test_the_scripts_point_at_no_source_map_the_server_does_not_have() -> None:
    for name in SCRIPTS:
        assert "sourceMappingURL" not in (ASSET_DIR / name).read_text(), name
