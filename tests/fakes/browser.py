"""Headless Chromium for browser tests: Debian's `chromium` and `chromium-driver` packages driven by
Selenium, never a browser download (scripts/test.sh installs both when absent).

Use the `browser` fixture (tests/conftest.py): `browser.get(url)`, `browser.driver` (a Selenium WebDriver),
`browser.wait_for(css, text=...)` and `browser.screenshot("name")`, which keeps a PNG under
test-artifacts/screenshots/ (gitignored; CI can collect it).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# No network beyond the page under test, no first-run or sync machinery, no GPU (CI has none).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)


def chromium_available() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


class Browser:
    def __init__(self, test_name: str, lang: str = "zh-CN") -> None:
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--lang={lang}")
        # Selenium Manager must not look for (or download) a driver: the distribution's is named explicitly.
        os.environ.setdefault("SE_OFFLINE", "true")
        self.driver = webdriver.Chrome(options=options, service=ChromeService(str(CHROMEDRIVER)))
        self.driver.set_page_load_timeout(30)
        self.shots: list[Path] = []

    def get(self, url: str) -> None:
        self.driver.get(url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait_for(self, css: str, text: str | None = None, timeout_s: float = 30.0) -> WebElement:
        """The element, once present (and containing `text`, when given)."""

        def ready(driver: webdriver.Chrome) -> WebElement | bool:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            if found and (text is None or text in found[0].text):
                return found[0]
            return False

        element: WebElement = WebDriverWait(self.driver, timeout_s, poll_frequency=0.1).until(ready)
        return element

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        return path

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
