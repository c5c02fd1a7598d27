"""`checkpoint-edge watch` as a separate process, as a technician runs it; parsed from its --json lines."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class WatchProcess:
    process: subprocess.Popen[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    _reader: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = json.loads(line)
            self.events.append(event)
            if event.get("event") == "ready":
                self._ready.set()

    def stop(self, timeout_s: float = 30.0) -> tuple[int, dict[str, Any]]:
        """SIGTERM (as systemd or Ctrl-C would), then the exit status and the summary it printed."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout_s)
        if self._reader is not None:
            self._reader.join(5)
        summaries = [e for e in self.events if e.get("event") == "summary"]
        assert summaries, f"watch printed no summary: {self.events[-5:]}"
        return code, summaries[-1]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]


def start_watch(port: int, topic: str, *extra: str, timeout_s: float = 20.0) -> WatchProcess:
    command = [sys.executable, "-m", "edge.cli", "watch", "--port", str(port), "--topic", topic, "--json"]
    process = subprocess.Popen(
        [*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    watch = WatchProcess(process)
    watch._reader = threading.Thread(target=watch._read, name="watch-reader", daemon=True)
    watch._reader.start()
    if not watch._ready.wait(timeout_s):
        process.kill()
        process.wait(5)
        stderr = process.stderr.read() if process.stderr else ""
        raise RuntimeError(f"watch did not subscribe within {timeout_s} s: {stderr}")
    return watch
