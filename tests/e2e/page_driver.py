"""Driving the SMS Accounts page in Chromium as a person does: by labels, buttons and what the
page shows, never by calling its code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.browser import EVERYTHING_STORED

# Generous bounds for a shared machine: they only stop a hung test, they measure nothing.
WAIT_SECONDS = 60
CARDS = """
const cards = {};
for (const card of document.querySelectorAll(".card")) {
  cards[card.querySelector("h3").textContent] = {
    badge: card.querySelector(".badge").textContent.trim(),
    failure: card.querySelector(".failure")?.textContent ?? "",
    inbound: card.querySelector(".inbound input")?.value ?? "",
    wiring: card.querySelector(".wiring-status")?.textContent.trim() ?? "",
    verify: card.querySelector("[data-action=verify]:not([disabled])") ? "yes" : "no",
  };
}
return cards;
"""


class Page:
    """One browser window on ``/accounts``."""

    def __init__(self, driver: Any, handle: str) -> None:
        self.driver = driver
        self.handle = handle

    def focus(self) -> Page:
        self.driver.switch_to.window(self.handle)
        return self

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def button(self, text: str, within: str = "body") -> Any:
        """The visible button whose text is ``text``."""
        from selenium.common.exceptions import StaleElementReferenceException

        found: list[Any] = []
        for _ in range(5):
            try:
                found = [
                    button
                    for button in self.all(f"{within} button")
                    if button.text.strip() == text and button.is_displayed()
                ]
                break
            except StaleElementReferenceException:
                continue  # a card redrawn by an event while the buttons were read: read again
        assert found, f"no button {text!r} in {within}: {self.css(within).text}"
        return found[0]

    def until(self, condition: Callable[[], Any], what: str) -> Any:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, WAIT_SECONDS, poll_frequency=0.1).until(
                lambda _: condition()
            )
        except TimeoutException:
            shown = self.css("body").text
            raise AssertionError(f"{what} never happened; the page shows:\n{shown}") from None

    def text(self, selector: str) -> str:
        return " ".join(element.text for element in self.all(selector))

    def shows(self, selector: str, text: str) -> None:
        self.until(lambda: text in self.text(selector), f"{text!r} in {selector}")

    def sign_in(self, key: str, *, expect_tabs: bool = True) -> None:
        """Type the key into the prompt, as a person pastes it."""
        prompt = self.until(lambda: self.all("form.key-prompt input"), "the key prompt")[0]
        prompt.send_keys(key)
        self.button("Continue").click()
        if expect_tabs:
            self.until(lambda: self.all("[role=tablist]"), "the tabs")

    def stats(self) -> dict[str, str]:
        names = [element.text for element in self.all(".stats dt")]
        values = [element.text for element in self.all(".stats dd")]
        return dict(zip(names, values, strict=True))

    def cards(self) -> dict[str, dict[str, str]]:
        """Each card by its title: its badge, failure sentence, inbound URL and wiring state, read
        at once (the cards are redrawn as events arrive)."""
        cards: dict[str, dict[str, str]] = self.driver.execute_script(CARDS)
        return cards

    def badge(self, name: str) -> str:
        return self.cards().get(name, {}).get("badge", "")

    def press(self, name: str, action: str) -> None:
        """Click the button ``action`` (edit, verify, remove) of the card titled ``name``."""
        from selenium.common.exceptions import StaleElementReferenceException

        def click() -> bool:
            try:
                for card in self.all(".card"):
                    if card.find_element("css selector", "h3").text == name:
                        card.find_element("css selector", f"[data-action={action}]").click()
                        return True
            except StaleElementReferenceException:
                pass  # redrawn meanwhile: look again
            return False

        self.until(click, f"pressing {action} on {name}")

    def messages(self) -> list[list[str]]:
        """The Messages tab's rows without their time: direction, from, to, text, status."""
        rows: list[list[str]] = self.driver.execute_script(
            "return [...document.querySelectorAll('table.messages tbody tr')].map((row) =>"
            " [...row.cells].slice(1).map((cell) => cell.textContent))"
        )
        return rows

    def fill(self, values: dict[str, str]) -> None:
        """Type into the open dialog's fields, by their names."""
        from selenium.webdriver.common.keys import Keys

        for name, value in values.items():
            field = self.css(f"dialog [name={name}]")
            field.send_keys(Keys.CONTROL, "a")  # typed over what is there
            field.send_keys(Keys.BACKSPACE)
            field.send_keys(value)

    def campaign(self, name: str) -> dict[str, str]:
        """The campaign card titled ``name``: its status (as the page shows it) and counters."""
        found: dict[str, str] = self.driver.execute_script(
            "const card = [...document.querySelectorAll('.campaign')]"
            ".find((c) => c.querySelector('h3').textContent === arguments[0]);"
            "return card ? { status: card.dataset.status,"
            " badge: card.querySelector('.badge').textContent.trim(),"
            " counts: card.querySelector('.counts').textContent,"
            " added: card.querySelector('[data-role=added]')?.textContent ?? '' } : {};",
            name,
        )
        return found

    def stored(self) -> dict[str, str]:
        entries: dict[str, str] = self.driver.execute_script(EVERYTHING_STORED)
        return entries
