"""The uplink's own report (`Uplink.state()`): connection, broker, last error and counters."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("edge.uplink")


class UplinkReport:
    """Written by the uplink thread, read by anyone (status, health pages, tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {
            "connected": False,
            "broker": None,
            "last_error": None,
            "published": 0,
            "acked": 0,
            "refused": 0,
            "connects": 0,
            "inflight": 0,
        }

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def set(self, **changes: Any) -> None:
        with self._lock:
            self._state.update(changes)

    def bump(self, name: str, by: int = 1) -> None:
        if by:
            with self._lock:
                self._state[name] += by

    def error(self, message: str) -> None:
        """Record the latest problem; logged once per change, not once per retry."""
        with self._lock:
            repeated = self._state["last_error"] == message
            self._state["last_error"] = message
        if not repeated:
            log.warning("uplink: %s", message)
