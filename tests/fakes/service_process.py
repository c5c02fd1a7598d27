"""`checkpoint-edge run` in a child process, as systemd runs it, with its log read on a thread: for tests of
the pid file, SIGHUP reloads and listeners on free ports (their addresses come from the INFO log)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def info_logging(config_path: Path) -> None:
    """The simulated checkpoint logs at WARNING; the listeners' addresses are INFO lines."""
    text = config_path.read_text()
    config_path.write_text(text.replace('log_level = "WARNING"', 'log_level = "INFO"'))


class RunningService:
    """`checkpoint-edge run` as systemd would run it, its log read on a thread."""

    def __init__(self, config_path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(config_path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def console_urls(self) -> list[str]:
        return re.findall(r"web console: listening on (http://[0-9.:]+)", "".join(self.lines))

    def wait_console(self, count: int, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            urls = self.console_urls()
            if len(urls) >= count:
                return urls[count - 1]
            assert self.process.poll() is None, "".join(self.lines)
            time.sleep(0.1)
        raise AssertionError("console did not (re)start:\n" + "".join(self.lines[-30:]))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
