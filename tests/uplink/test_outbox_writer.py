"""The outbox's single writer: lanes hand over and go on; rows are offered only once committed; seq at commit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from edge.outbox import Outbox
from tests.uplink.conftest import DEVICE, alert_payload

REPO = Path(__file__).resolve().parents[2]


def test_submit_returns_while_the_commit_stalls_and_rows_appear_only_once_committed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    release = threading.Event()
    entered = threading.Event()

    def stalled_commit() -> None:
        entered.set()
        release.wait(10)

    box.commit_hook = stalled_commit
    try:
        started = time.monotonic()
        for n in range(20):
            box.submit("alert", alert_payload(n))
        handed_over_s = time.monotonic() - started
        assert entered.wait(5), "the writer never started a commit"
        # The commit is held inside its transaction: nothing is offered to the uplink, nothing counted.
        assert box.pending(limit=100) == []
        assert box.depth()["alert"] == 0
        assert handed_over_s < 1.0
    finally:
        release.set()
    box.flush()
    rows = box.pending(limit=100)
    assert [r.seq for r in rows] == list(range(1, 21))
    box.close()


def test_close_commits_everything_handed_over(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    box.commit_hook = lambda: time.sleep(0.05)
    ids = [box.submit("alert", alert_payload(n)) for n in range(200)]
    box.close()
    with Outbox(path) as reopened:
        assert [r.message_id for r in reopened.pending(limit=1000)] == ids
        assert reopened.last_seq(DEVICE, "alert") == 200


def test_a_kill_during_a_commit_leaves_no_gap_in_seq(tmp_path: Path) -> None:
    """Rows handed over but not committed when the power goes never got a seq: the next ones continue."""
    path = tmp_path / "o.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from edge.outbox import Outbox
        from tests.uplink.conftest import alert_payload
        box = Outbox({str(path)!r})
        for n in range(10):
            box.append("alert", alert_payload(n))
        box.commit_hook = lambda: (print("in commit", flush=True), time.sleep(30))
        for n in range(10, 30):
            box.submit("alert", alert_payload(n))
        time.sleep(30)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "in commit"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    with Outbox(path) as box:
        assert [r.seq for r in box.pending(limit=100)] == list(range(1, 11))
        assert box.append("alert", alert_payload(99))["seq"] == 11
