"""Headless Chromium for the browser tests: Debian's ``chromium`` and ``chromium-driver`` with the
``selenium`` package, cut off from everything but this machine. Without them a browser test is
skipped, unless ``SMS_TEST_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MISSING = [
    name
    for name, present in (
        ("chromium", CHROMIUM),
        ("chromium-driver", CHROMEDRIVER),
        ("selenium", importlib.util.find_spec("selenium")),
    )
    if not present
]
REQUIRED = os.environ.get("SMS_TEST_REQUIRE_BROWSER") == "1"
# Run before each page's own scripts: records Content-Security-Policy refusals, which would mean
# the page tried to load from elsewhere (read back as window.__refused).
RECORD_REFUSALS = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__refused.push(event.violatedDirective + " " + event.blockedURI);
});
"""
# Every entry of a page's localStorage and sessionStorage, as {"local:<name>": value, …}.
EVERYTHING_STORED = """
const stored = {};
for (const [name, area] of [["local", localStorage], ["session", sessionStorage]]) {
  for (let index = 0; index < area.length; index++) {
    const key = area.key(index);
    stored[name + ":" + key] = area.getItem(key);
  }
}
return stored;
"""
needs_browser = pytest.mark.skipif(
    bool(MISSING) and not REQUIRED,
    reason=f"headless browser test needs {', '.join(MISSING)} (apt-get install chromium "
    "chromium-driver; pip install -e '.[dev]')",
)


@contextmanager
def chromium(profile: Path, *, window_size: str | None = None) -> Iterator[Any]:
    """A headless Chromium whose pages reach 127.0.0.1 only: every other name fails to resolve.
    ``window_size`` ("width,height") replaces headless Chromium's default."""
    if MISSING:
        pytest.fail(f"SMS_TEST_REQUIRE_BROWSER=1 but missing: {', '.join(MISSING)}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        *([f"--window-size={window_size}"] if window_size else []),
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
