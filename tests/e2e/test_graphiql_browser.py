"""GraphiQL in a real headless Chromium against a real `sms-accounts serve`, with the browser cut
off from everything but this machine: the page must work with no internet.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; without them the
test is skipped, unless ``SMS_TEST_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import account_input
from tests.e2e.browser import EVERYTHING_STORED, RECORD_REFUSALS, chromium, needs_browser
from tests.e2e.server import Server, environment
from tests.integration.documents import ADD, SET_ENABLED

pytestmark = needs_browser

HEADERS_PANE = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
# Named like the page's example query: GraphiQL picks up a new operation name from the editor a
# moment after a change, and a run in between would send the old name with the new text.
STATS = "query Accounts { smsAccounts { stats { connected verified awaitingAction } } }"
ENABLED = "query Accounts { smsIntegration { enabled } }"  # the same name, as above
# Generous bounds for a shared machine: they only stop a hung test, they measure nothing.
WAIT_SECONDS = 90


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path / "chromium-profile", window_size="1400,900") as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_REFUSALS})
        yield driver


def editor(driver: Any, css: str) -> str:
    """The CodeMirror instance under ``css``, as a JavaScript expression."""
    return f"document.querySelector({css!r} + ' .CodeMirror').CodeMirror"


def wait_for_text(driver: Any, css: str, text: str) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    condition = expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
    try:
        WebDriverWait(driver, WAIT_SECONDS).until(condition)
    except TimeoutException:
        shown = [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]
        raise AssertionError(f"{text!r} never appeared in {css}; it shows {shown}") from None


# What this page stored before it kept headers out of storage: one history entry with its key.
PLANTED_KEY = "sms_0badc0de_planted-by-an-older-page"
OLDER_HISTORY = json.dumps(
    {
        "queries": [
            {
                "query": "{ smsIntegration { enabled } }",
                "variables": "",
                "headers": json.dumps({"Authorization": f"Bearer {PLANTED_KEY}"}),
                "operationName": "",
            }
        ]
    }
)


TABS = "local:graphiql:tabState"


def stored(driver: Any) -> dict[str, str]:
    """Every entry of the page's localStorage and sessionStorage."""
    entries: dict[str, str] = driver.execute_script(EVERYTHING_STORED)
    return entries


def wait_until(driver: Any, condition: Callable[[], bool]) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_SECONDS).until(lambda _: condition())


def test_a_pasted_key_loads_the_schema_and_runs_a_query_with_no_internet(
    workdir: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    server = Server(workdir, environment({}))
    try:
        key = server.first_key()
        server.graphql(key, SET_ENABLED, {"enabled": True})
        server.graphql(key, ADD, {"input": account_input()})

        browser.get(f"{server.url}/graphql")
        browser.execute_script(
            "localStorage.setItem('graphiql:queries', arguments[0])", OLDER_HISTORY
        )
        browser.refresh()
        cleaned = stored(browser)
        headers = editor(browser, HEADERS_PANE)
        wait_for_text(browser, HEADERS_PANE, "Bearer <paste your key>")
        browser.find_element(By.CSS_SELECTOR, "[aria-label='Show Documentation Explorer']").click()
        wait_for_text(browser, ".graphiql-doc-explorer", "No GraphQL schema available")

        # The user selects the placeholder and pastes the key over it.
        browser.execute_script(
            f"const cm = {headers}; const at = cm.getValue().indexOf(arguments[1]);"
            "const [from, to] = [cm.posFromIndex(at), cm.posFromIndex(at + arguments[1].length)];"
            "cm.replaceRange(arguments[0], from, to, 'paste');",
            key,
            "<paste your key>",
        )
        wait_for_text(browser, ".graphiql-doc-explorer", "Mutation")

        query = editor(browser, ".graphiql-query-editor")
        browser.execute_script(f"{query}.setValue(arguments[0])", STATS)
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        wait_for_text(browser, ".graphiql-response", '"awaitingAction": 1')
        result = browser.find_element(By.CSS_SELECTOR, ".graphiql-response").text
        # A second query: history holds both, the tab state the last.
        browser.execute_script(f"{query}.setValue(arguments[0])", ENABLED)
        browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()
        wait_for_text(browser, ".graphiql-response", '"enabled": true')
        # GraphiQL writes its tab state half a second after a change.
        wait_until(browser, lambda: "smsIntegration" in stored(browser).get(TABS, ""))
        after = stored(browser)
        browser.save_screenshot(str(workdir / "graphiql.png"))
        loaded = browser.execute_script(
            "return performance.getEntriesByType('resource').map((entry) => entry.name)"
        )
        refused = browser.execute_script("return window.__refused")
    finally:
        server.stop()

    assert '"connected": 1' in result
    assert '"verified": 0' in result
    # No key in the browser's storage: what an older page left is cleaned, nothing new is kept.
    assert PLANTED_KEY not in str(cleaned)
    assert "local:graphiql:queries" in after
    assert "awaitingAction" in after["local:graphiql:queries"]
    assert "smsIntegration" in after["local:graphiql:queries"]
    for name, value in after.items():
        assert key not in value, name
        assert PLANTED_KEY not in value, name
        assert "Bearer" not in value, name
    assert refused == []
    assert loaded
    assert all(url.startswith(f"{server.url}/") for url in loaded), loaded
