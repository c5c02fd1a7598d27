"""Structured logs for journald: one JSON object per line on stdout, repeats rate-limited.

Timestamps are ISO 8601 UTC with milliseconds. Under systemd (stdout connected to the journal, which sets
JOURNAL_STREAM) each line starts with the syslog priority `<3>`…`<7>`: journald strips it and files the line
at that priority, so `journalctl -p err -u checkpoint-edge` shows the errors only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def iso_utc(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def syslog_priority(levelno: int) -> int:
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return _SYSLOG_PRIORITY[level]
    return 7


class JsonLineFormatter(logging.Formatter):
    def __init__(self, priority_prefix: bool = False) -> None:
        super().__init__()
        self.priority_prefix = priority_prefix

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False)
        return f"<{syslog_priority(record.levelno)}>{line}" if self.priority_prefix else line


class PlainFormatter(logging.Formatter):
    def __init__(self, priority_prefix: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.priority_prefix = priority_prefix

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_utc(record.created)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return f"<{syslog_priority(record.levelno)}>{line}" if self.priority_prefix else line


class RepeatLimiter(logging.Filter):
    """Lets the same warning/error template through at most once per `interval_s`; counts what it held back.

    Only faults repeat in bursts (a device erroring every read); events such as decisions are one per
    passenger and each one matters, so INFO and below always pass."""

    def __init__(self, interval_s: float = 30.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[tuple[str, int], float] = {}
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        # The first argument is usually the subject (a device, a lane): two devices failing alike are two
        # lines, never one hiding the other.
        first = record.args[0] if isinstance(record.args, tuple) and record.args else None
        key = (record.name, hash((record.msg, str(first))))
        now = time.monotonic()
        if len(self._last) > 4096:  # hostile input with ever-new subjects must not grow this without bound
            self._last.clear()
        if now - self._last.get(key, -1e9) < self.interval_s:
            self.suppressed += 1
            return False
        self._last[key] = now
        return True


def setup_logging(level: str = "INFO", json_lines: bool = True, priority_prefix: bool | None = None) -> None:
    if priority_prefix is None:
        priority_prefix = bool(os.environ.get("JOURNAL_STREAM"))
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonLineFormatter(priority_prefix) if json_lines else PlainFormatter(priority_prefix)
    )
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
