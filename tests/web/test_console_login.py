"""The console needs a login: no default password, wrong passwords refused, every data route guarded."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edge.web.auth import MAX_FAILURES_PER_MINUTE, ConsoleAuth, hash_password, verify_password
from tests.fakes.browser import Browser
from tests.web.conftest import CONSOLE_PASSWORD, WebRig


def test_password_hash_verifies_only_the_right_password() -> None:
    stored = hash_password("s3cret")
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)
    assert not verify_password("s3cret", "garbage")
    assert hash_password("s3cret") != stored  # salted


def test_no_credential_file_means_no_login_at_all(tmp_path: Path) -> None:
    auth = ConsoleAuth(None, idle_s=60)
    assert auth.login("") is None
    assert auth.login("admin") is None


def test_sessions_expire_and_failures_are_braked(tmp_path: Path) -> None:
    now = [0.0]
    path = tmp_path / "pw"
    path.write_text(hash_password("pw") + "\n")
    auth = ConsoleAuth(path, idle_s=60, clock=lambda: now[0])
    token = auth.login("pw")
    assert token and auth.check(token)
    now[0] = 61.0
    assert not auth.check(token)
    for _ in range(MAX_FAILURES_PER_MINUTE):
        assert auth.login("wrong") is None
    assert auth.login("pw") is None  # braked, even with the right password
    assert auth.counters["logins_throttled"] == 1
    now[0] = 122.0
    assert auth.login("pw") is not None


def _status_code(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_console_refuses_access_without_login(web_rig: WebRig, browser: Browser) -> None:
    console = web_rig.url("console")
    assert _status_code(f"{console}/api/status") == 401
    assert _status_code(f"{console}/lane/lane-1/live.jpg") == 401
    for path in ("/lane/lane-1/calibrate/offset", "/calibrate/apply"):
        request = urllib.request.Request(console + path, data=b"token=x", method="POST")
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError(f"{path} answered without a login")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401, path

    browser.get(console + "/")
    browser.wait_for("#password")  # sent to the login form, nothing of the console shown
    assert "/login" in browser.driver.current_url
    browser.screenshot("login-form")

    browser.find("#password").send_keys("admin")
    browser.find("#login").click()
    browser.wait_for("#login-failed")
    browser.screenshot("login-refused")
    browser.get(console + "/")
    assert "/login" in browser.driver.current_url

    browser.find("#password").send_keys(CONSOLE_PASSWORD)
    browser.find("#login").click()
    browser.wait_for("#devices tr", text="lane-1.thermal")
    browser.screenshot("console")
    browser.find("#logout").click()
    browser.wait_for("#password")
    browser.get(console + "/")
    assert "/login" in browser.driver.current_url
