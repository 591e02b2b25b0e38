"""The SMS Accounts page in a real headless Chromium against a real ``sms-accounts serve`` and the
Twilio stand-in, with the browser cut off from everything but this machine: what the help article
describes happens live, in two windows at once, with no reload and no internet.

One server and one browser for the whole walk (the suite runs three times in CI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import RECORD_REFUSALS, chromium, needs_browser
from tests.e2e.page_driver import Page
from tests.e2e.server import Server, environment, free_port, run
from tests.twilio_double import AUTH_TOKEN, PHONE, TwilioDouble

pytestmark = needs_browser

WRONG_TOKEN = "0123456789abcdef0123456789abcdef"
TO = "+14155550100"


@pytest.fixture
def standin() -> Iterator[TwilioDouble]:
    with TwilioDouble(reply="Thanks!") as double:
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


def form_of(page: Page, provider: str) -> list[str]:
    """Pick ``provider`` in the open dialog: the names of the fields it then shows, in order."""
    from selenium.webdriver.support.ui import Select

    Select(page.css("dialog select[name=provider]")).select_by_value(provider)
    names: list[str] = page.driver.execute_script(
        "return [...document.querySelectorAll('dialog [name]')].map((field) =>"
        " field.name + (field.tagName === 'SELECT' && field.name !== 'provider' ? ':select' : ''))"
    )
    return names


def run_a_campaign(page: Page) -> dict[str, str]:
    """Create a campaign on the verified sender, paste three lines (one a duplicate), start it and
    wait for its card to reach Completed: every step shown live on the card."""
    page.button("Campaigns").click()
    page.until(lambda: page.all("select[name=campaignSender] option"), "the campaign's sender")
    page.css("input[name=name]").send_keys("Spring sale")
    page.css(".campaign-form textarea[name=body]").send_keys("20% off this week")
    page.button("Create campaign").click()
    page.until(lambda: page.campaign("Spring sale").get("status") == "DRAFT", "a Draft campaign")
    pasted = "+14155550101\n+14155550102\n+14155550101"
    page.css(".campaign textarea[name=recipients]").send_keys(pasted)
    page.button("Add recipients").click()
    page.until(lambda: page.campaign("Spring sale")["added"].startswith("Added"), "the counts")
    added = page.campaign("Spring sale")["added"]
    page.css(".campaign [data-action=start]").click()
    page.until(lambda: page.campaign("Spring sale")["status"] == "COMPLETED", "the campaign done")
    return {**page.campaign("Spring sale"), "added": added}


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
    # Subscribed: what happens from now on arrives without a reload.
    page.shows(".topbar .live", "Live")
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
    msg91_form = form_of(first, "MSG91")
    assert form_of(first, "TWILIO")[-2:] == ["sendRatePerSecond", "wireWebhooks"]
    save = first.button("Save account", "dialog")
    assert not save.is_enabled(), "Save waits for the required fields"
    first.fill({"displayName": "Marketing SMS", "senderId": PHONE, "clientId": "AC123"})
    first.fill({"authToken": AUTH_TOKEN, "baseUrl": standin.base_url})
    first.css("dialog [name=wireWebhooks]").click()  # the stand-in's number gets our inbound URL
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
    first.press("Marketing SMS", "copy")
    first.shows(".toasts", "Inbound URL copied")

    second = open_page(browser, server, key, new_window=True)
    second.until(lambda: second.badge("Marketing SMS") == "○ Draft", "the card in window two")

    first.focus().press("Marketing SMS", "verify")
    first.shows(".toasts", "Verification process started")
    first.until(lambda: first.badge("Marketing SMS") == "✓ Verified", "the verdict")
    assert first.cards()["Marketing SMS"]["verify"] == "no"
    first.until(
        lambda: first.cards()["Marketing SMS"]["wiring"] == "✓ Webhooks wired", "the wiring state"
    )
    assert first.stats() == {"Connected": "1", "Verified": "1", "Awaiting action": "0"}

    second.focus().until(lambda: second.badge("Marketing SMS") == "✓ Verified", "window two")
    second.button("Send").click()
    second.shows("select[name=accountId]", f"Marketing SMS ({PHONE})")
    # An edit that leaves the Auth Token empty keeps it: the account stays Verified.
    first.focus().press("Marketing SMS", "edit")
    first.fill({"displayName": "Marketing texts"})
    first.button("Save account", "dialog").click()
    second.focus().shows("select[name=accountId]", f"Marketing texts ({PHONE})")
    assert first.focus().badge("Marketing texts") == "✓ Verified"
    first.focus().button("Messages").click()
    second.focus().css("input[name=to]").send_keys(TO)
    second.css("textarea[name=body]").send_keys("Hello")
    second.button("Send SMS").click()
    first.focus().until(
        lambda: (
            first.messages()[:2]
            == [
                ["Reply", TO, PHONE, "Thanks!", "received"],
                ["Sent", PHONE, TO, "Hello", "delivered"],
            ]
        ),
        "the delivery and the reply arriving, newest first",
    )
    campaign = run_a_campaign(first)
    first.button("Accounts").click()

    first.focus().press("Marketing texts", "edit")
    first.fill({"authToken": WRONG_TOKEN})
    first.button("Save account", "dialog").click()
    first.until(
        lambda: first.badge("Marketing texts") == "○ Draft", "a new token returning to Draft"
    )
    first.press("Marketing texts", "verify")
    first.until(lambda: first.badge("Marketing texts") == "✕ Failed", "the failed verdict")
    failure = first.cards()["Marketing texts"]["failure"]
    [stored] = server.graphql(key, "{ smsAccounts { nodes { failureMessage } } }")["smsAccounts"][
        "nodes"
    ]
    overflow = overflow_at_360_px(browser)  # the widest card there is: a failure and a URL
    second.focus().until(
        lambda: second.badge("Marketing texts") == "✕ Failed", "window two failing"
    )
    second.until(
        lambda: not second.all("select[name=accountId] option"), "the picker losing the sender"
    )
    assert not second.css("select[name=accountId]").is_enabled()

    first.focus().press("Marketing texts", "remove")
    first.button("Remove account", "dialog").click()
    first.until(lambda: "Marketing texts" not in first.cards(), "the card gone")
    first.until(
        lambda: first.stats() == {"Connected": "0", "Verified": "0", "Awaiting action": "0"},
        "the stat row after the removal",
    )
    same_document = browser.execute_script("return window.__sameDocument")
    refused = browser.execute_script("return window.__refused")
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((entry) => entry.name)"
    )
    console_errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    keyboard = dialog_by_keyboard(first)
    marketer_sees = marketer_view(browser, server)

    assert failure == stored["failureMessage"]
    assert failure
    assert refused == []
    assert console_errors == []
    assert loaded
    assert all(url.startswith(f"{server.url}/") for url in loaded), loaded

    assert msg91_form == [
        "provider", "displayName", "senderId", "dltEntityId", "authToken", "route:select",
        "sendRatePerSecond",
    ]  # fmt: skip
    assert campaign["added"] == "Added 2 recipients, skipped 1."
    assert campaign["badge"] == "✓ Completed"
    assert "3 of 3 recipients. Sent 2," in campaign["counts"]
    assert "skipped 1," in campaign["counts"]
    assert same_document is True
    assert keyboard == {
        "first focus": "provider",
        "tab stays inside": True,
        "escape": "+ Add account",
    }
    assert overflow <= 0
    assert marketer_sees["add buttons"] == 0
    assert marketer_sees["campaign forms"] == 1
    assert marketer_sees["switch enabled"] is False
    assert list(marketer_sees["stored"]) == ["session:sms-accounts:key"]


def dialog_by_keyboard(page: Page) -> dict[str, Any]:
    """Open the Add dialog, Tab round it, close it with Escape: where focus went each time."""
    from selenium.webdriver.common.keys import Keys

    browser = page.driver
    page.button("+ Add account").click()
    page.until(lambda: page.all("dialog[open]"), "the dialog")
    first_focus = browser.switch_to.active_element.get_attribute("name")
    inside = True
    for _ in range(16):  # more stops than the dialog has: Tab must wrap round
        browser.switch_to.active_element.send_keys(Keys.TAB)
        inside &= browser.execute_script("return !!document.activeElement.closest('dialog')")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    page.until(lambda: not page.all("dialog"), "Escape closing the dialog")
    return {
        "first focus": first_focus,
        "tab stays inside": inside,
        "escape": browser.switch_to.active_element.text,
    }


def overflow_at_360_px(browser: Any) -> int:
    """How far the page is wider than a 360 px phone's screen (0: it fits)."""
    browser.set_window_size(360, 760)
    try:
        width: int = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    finally:
        browser.set_window_size(1280, 900)
    return width


def marketer_view(browser: Any, server: Server) -> dict[str, Any]:
    """A new session (the key prompt again) with a marketer's key."""
    browser.execute_script("sessionStorage.clear()")
    browser.get(f"{server.url}/accounts")
    page = Page(browser, browser.current_window_handle)
    page.sign_in("sms_not-a-key", expect_tabs=False)
    page.shows("form.key-prompt [role=alert]", "The API key was refused")
    page.sign_in(marketer_key(server))
    page.shows("main", "Only admins add, verify and change SMS accounts")
    return {
        "add buttons": len([b for b in page.all("button") if "Add account" in b.text]),
        "campaign forms": len(page.all("form.campaign-form")),
        "switch enabled": page.css("input[role=switch]").is_enabled(),
        "stored": page.stored(),
    }
