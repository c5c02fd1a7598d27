"""Logs: ISO timestamps, journald priority prefixes under systemd, and every missing device named."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.edge.test_config import MINIMAL, REPO, write


def test_run_logs_every_missing_device_with_iso_time_and_journald_priority(tmp_path: Path) -> None:
    config = write(tmp_path, MINIMAL + f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    env = {**os.environ, "JOURNAL_STREAM": "8:12345"}  # what systemd sets when stdout is the journal
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(6.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert "Traceback" not in out + err
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines
    entries = []
    for line in lines:
        match = re.fullmatch(r"<([2-7])>(\{.*\})", line)
        assert match, line
        entry = json.loads(match.group(2))
        priority = {"ERROR": "3", "WARNING": "4", "INFO": "6", "DEBUG": "7", "CRITICAL": "2"}[entry["level"]]
        assert match.group(1) == priority, line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["ts"]), entry["ts"]
        entries.append(entry)
    warnings = " ".join(e["msg"] for e in entries if e["level"] in ("WARNING", "ERROR"))
    for device in ("lane-1.thermal", "lane-1.idscan0"):  # both missing: both named, not only the first
        assert device in warnings, warnings
    assert "site key" in warnings  # no key configured: said at every start
