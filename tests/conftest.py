"""Fixtures shared by every test room: a real Mosquitto broker on a free loopback port, headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.browser import Browser, chromium_available
from tests.fakes.mosquitto import Mosquitto, mosquitto_available


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    if not mosquitto_available():
        pytest.fail(
            "mosquitto is not installed: the README's test command installs it (apt-get install mosquitto)"
        )
    broker = Mosquitto()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def persistent_mosquitto() -> Iterator[Mosquitto]:
    """A broker that keeps sessions and queued messages across a restart (like a production broker)."""
    if not mosquitto_available():
        pytest.fail("mosquitto is not installed")
    broker = Mosquitto()
    broker.config_text += f"persistence true\npersistence_location {broker.workdir}/\n"
    broker.config_path.write_text(broker.config_text)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Headless Chromium (Debian's package) with a fresh profile; screenshots go to test-artifacts/."""
    if not chromium_available():
        pytest.fail(
            "chromium and chromedriver are not installed: the README's test command installs them "
            "(apt-get install chromium chromium-driver)"
        )
    session = Browser(request.node.name)
    try:
        yield session
    finally:
        session.close()
