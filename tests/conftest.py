"""Fixtures shared by every test room: a real Mosquitto broker on a free loopback port, headless Chromium,
and the check that no test leaves a thread or a process behind."""

from __future__ import annotations

import os
import sys
import threading
import time
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


# ---- nothing left behind ------------------------------------------------------------------------------------
LEFTOVER_GRACE_S = 5.0  # threads and processes told to stop get this long to finish


def _descendants() -> dict[int, str]:
    """Live (non-zombie) descendants of this process: {pid: command name}, read from /proc."""
    parents: dict[int, tuple[int, str, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        state, ppid = stat[stat.rfind(")") + 2 :].split()[:2]
        parents[int(entry)] = (int(ppid), state, name)
    found: dict[int, str] = {}
    frontier = [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, state, name) in parents.items():
            if ppid == parent and pid not in found:
                frontier.append(pid)
                if state != "Z":
                    found[pid] = name
    return found


def _leftovers(threads_before: set[threading.Thread], processes_before: dict[int, str]) -> list[str]:
    threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    # A session-wide service may restart one of its own processes (a cluster node killed by a test comes back
    # under a new pid): a new process named like one already running before the test is counted as theirs.
    session_names = set(processes_before.values())
    processes = {
        pid: name
        for pid, name in _descendants().items()
        if pid not in processes_before and name not in session_names
    }
    frames = sys._current_frames()

    def where(t: threading.Thread) -> str:
        frame = frames.get(t.ident or 0)
        return f" at {frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""

    return [f"thread {t.name!r}{where(t)}" for t in threads] + [
        f"process {pid} ({name})" for pid, name in processes.items()
    ]


@pytest.fixture(autouse=True)
def _nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves threads or processes running. Session- and module-wide fixtures (brokers,
    clusters, browsers) are set up before this one, so what they keep running is part of the baseline."""
    threads_before = set(threading.enumerate())
    processes_before = _descendants()
    yield
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    left = _leftovers(threads_before, processes_before)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = _leftovers(threads_before, processes_before)
    if left:
        pytest.fail(f"{request.node.nodeid} left running: {', '.join(sorted(left))}", pytrace=False)
