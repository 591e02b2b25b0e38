"""The SMS Accounts page in a real headless Chromium against a real ``sms-accounts serve`` and the
Twilio stand-in, with the browser cut off from everything but this machine: what the help article
describes happens live, in two windows at once, with no reload and no internet.

One server and one browser for the whole walk (the suite runs three times in CI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import chromium, needs_browser
from tests.e2e.page_driver import RECORD_REFUSALS, Page
from tests.e2e.server import Server, environment, free_port, run
from tests.twilio_double import AUTH_TOKEN, PHONE, TwilioDouble

pytestmark = needs_browser

WRONG_TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def standin() -> Iterator[TwilioDouble]:
    with TwilioDouble() as double:
        yield double


@pytest.fixture
def server(workdir: Path, standin: TwilioDouble) -> Iterator[Server]:
    port = free_port()
    settings = {
        "SMS_ALLOWED_PROVIDER_HOSTS": "127.0.0.1",
        "SMS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    started = Server(workdir, environment(settings), port=port)
    yield started
    started.stop()


@pytest.fixture
def browser(workdir: Path) -> Iterator[Any]:
    with chromium(workdir / "chromium-profile") as driver:
        driver.set_window_size(1280, 900)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_REFUSALS})
        yield driver


def marketer_key(server: Server) -> str:
    """As the README says: the CLI, run in the server's folder."""
    made = run("create-api-key", "--workspace", "default", "--role", "marketer",
               cwd=server.cwd, env=environment({}))  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


def open_page(browser: Any, server: Server, key: str, *, new_window: bool) -> Page:
    if new_window:
        browser.switch_to.new_window("window")
    page = Page(browser, browser.current_window_handle)
    browser.get(f"{server.url}/accounts")
    page.sign_in(key)
    return page


def test_an_admin_adds_verifies_edits_and_removes_an_account_seen_live_in_two_windows(
    server: Server, standin: TwilioDouble, browser: Any
) -> None:
    key = server.first_key()
    first = open_page(browser, server, key, new_window=False)
    # Nothing the page does from here on reloads it: this mark would be gone.
    browser.execute_script("window.__sameDocument = true")
    assert first.stored() == {"session:sms-accounts:key": key}

    first.css("input[role=switch]").click()
    first.until(lambda: first.all(".toolbar button"), "the Add button once the integration is on")
    first.button("+ Add account").click()
    save = first.button("Save account", "dialog")
    assert not save.is_enabled(), "Save waits for the required fields"
    first.fill({"displayName": "Marketing SMS", "senderId": PHONE, "clientId": "AC123"})
    first.fill({"authToken": AUTH_TOKEN, "baseUrl": standin.base_url})
    secret = first.css("dialog [name=authToken]")
    assert secret.get_attribute("type") == "password"
    first.css("dialog .eye").click()
    assert secret.get_attribute("type") == "text"
    save.click()
    first.shows("dialog .field-error", "Client ID")  # beside its field, the dialog still open
    first.fill({"clientId": standin.account_sid})
    save.click()

    first.shows(".toasts", "SMS Account added successfully")
    first.until(lambda: first.badge("Marketing SMS") == "○ Draft", "a Draft card")
    first.until(
        lambda: first.stats() == {"Connected": "1", "Verified": "0", "Awaiting action": "1"},
        "the stat row moving",
    )
    assert first.cards()["Marketing SMS"]["inbound"].endswith("/inbound")

    second = open_page(browser, server, key, new_window=True)
    second.until(lambda: second.badge("Marketing SMS") == "○ Draft", "the card in window two")

    first.focus().press("Marketing SMS", "verify")
    first.shows(".toasts", "Verification process started")
    first.until(lambda: first.badge("Marketing SMS") == "✓ Verified", "the verdict")
    assert first.cards()["Marketing SMS"]["verify"] == "no"
    assert first.stats() == {"Connected": "1", "Verified": "1", "Awaiting action": "0"}

    second.focus().until(lambda: second.badge("Marketing SMS") == "✓ Verified", "live in window two")
    second.button("Send").click()
    second.shows("select[name=accountId]", f"Marketing SMS ({PHONE})")

    first.focus().press("Marketing SMS", "edit")
    first.fill({"authToken": WRONG_TOKEN})
    first.button("Save account", "dialog").click()
    first.until(lambda: first.badge("Marketing SMS") == "○ Draft", "a new token returning to Draft")
    first.press("Marketing SMS", "verify")
    first.until(lambda: first.badge("Marketing SMS") == "✕ Failed", "the failed verdict")
    failure = first.cards()["Marketing SMS"]["failure"]
    second.focus().until(lambda: second.badge("Marketing SMS") == "✕ Failed", "window two failing")
    second.shows("select[name=accountId]", "")
    picker = second.css("select[name=accountId]")
    assert picker.text == "" and not picker.is_enabled(), "a failed account leaves the picker"

    first.focus().press("Marketing SMS", "remove")
    first.button("Remove account", "dialog").click()
    first.until(lambda: "Marketing SMS" not in first.cards(), "the card gone")
    first.until(
        lambda: first.stats() == {"Connected": "0", "Verified": "0", "Awaiting action": "0"},
        "the stat row after the removal",
    )
    assert browser.execute_script("return window.__sameDocument") is True
    refused = browser.execute_script("return window.__refused")
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((entry) => entry.name)"
    )

    assert "Auth Token" in failure or "credentials" in failure.lower(), failure
    assert refused == []
    assert loaded
    assert all(url.startswith(f"{server.url}/") for url in loaded), loaded


def test_a_marketer_sees_no_add_button_and_the_page_fits_a_phone_and_the_keyboard(
    server: Server, browser: Any
) -> None:
    admin = open_page(browser, server, server.first_key(), new_window=False)
    admin.css("input[role=switch]").click()
    add = admin.until(lambda: admin.all(".toolbar button"), "the Add button")[0]
    add.click()
    admin.until(lambda: admin.all("dialog[open]"), "the dialog")
    from selenium.webdriver.common.keys import Keys

    assert browser.switch_to.active_element.get_attribute("name") == "provider"
    for _ in range(12):  # Tab keeps going round inside the dialog
        browser.switch_to.active_element.send_keys(Keys.TAB)
        assert browser.execute_script("return !!document.activeElement.closest('dialog')")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    admin.until(lambda: not admin.all("dialog"), "Escape closing the dialog")
    assert browser.switch_to.active_element.text == "+ Add account", "focus back on the opener"

    browser.set_window_size(360, 760)
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )

    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{server.url}/accounts")
    marketer = Page(browser, browser.current_window_handle)
    marketer.sign_in(marketer_key(server))
    marketer.shows("main", "Only admins add, verify and change SMS accounts")

    assert overflow <= 0
    assert not [b for b in marketer.all("button") if "Add account" in b.text]
    assert marketer.css("input[role=switch]").is_enabled() is False
