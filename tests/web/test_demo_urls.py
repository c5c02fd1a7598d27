"""`checkpoint-edge demo --hold 30`: the three URLs, and during the hold /metrics counts the demo's alerts."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.web.test_metrics import scrape, total

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _read_until(process: subprocess.Popen[str], marker: str, lines: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} in the demo's output:\n" + "\n".join(lines))


def test_demo_hold_prints_urls_and_metrics_count_the_expected_alerts() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "demo", "--hold", "30"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        _read_until(process, "holding for 30 s", lines, timeout_s=180)
        output = "\n".join(lines)
        urls = dict(re.findall(r"^(operator|console|metrics): (\S+)", output, re.M))
        assert set(urls) == {"operator", "console", "metrics"}, output
        assert re.search(r"^console: \S+ \(one-time password: \S{12,}\)$", output, re.M), output
        expected = int(re.search(r"scene: \d+ passengers, (\d+) expected alerts", output).group(1))  # type: ignore[union-attr]
        assert "DEMO PASSED" in output

        samples = scrape(urls["metrics"].removesuffix("/metrics"))
        assert total(samples, "checkpoint_edge_alerts_total") == expected == 4
        # The operator pages are Chinese by default: the index and the lane page's title.
        for path in ("", "lane/lane-1"):
            with urllib.request.urlopen(urls["operator"] + path, timeout=10) as response:
                body = response.read().decode("utf-8")
            assert 'lang="zh-CN"' in body, body[:300]
            assert re.search(r"<title>[^<]*[\u4e00-\u9fff]", body), body[:300]
        with urllib.request.urlopen(urls["operator"], timeout=10) as response:
            assert "操作员显示屏" in response.read().decode()  # the operator pages speak Chinese by default
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # the demo stops its broker and simulators on Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0, "\n".join(lines)
