"""The device base: one loop per device that connects, initialises, reads, and reconnects on any failure.

A device never raises out of `run`; it reports its state through `status()` and keeps trying until the
stop event is set. Items leave through the `emit` callback, already stamped with device id and time.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from typing import Any

from drivers.items import IdScan, ThermalFrame
from drivers.transport import Backoff, DeviceGone, SerialLink

log = logging.getLogger(__name__)

DeviceItem = ThermalFrame | IdScan
Emit = Callable[[DeviceItem], None]


class Device(ABC):
    kind: str = "device"  # "thermal" or "idscan"

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.state = "connecting"
        self.state_since_wall = time.time()
        self.last_error: str | None = None
        self.items_total = 0
        self.rejected: Counter[str] = Counter()
        self.last_progress_mono = time.monotonic()
        # Updated on every loop turn, items or not: the supervisor's evidence that this thread is not hung.
        self.last_loop_mono = time.monotonic()
        self._rate_window: list[float] = []

    @abstractmethod
    def run(self, stop: threading.Event, emit: Emit) -> None: ...

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        recent = [t for t in self._rate_window if now - t <= 5.0]
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "state": self.state,
            "since": round(self.state_since_wall, 3),
            "last_error": self.last_error,
            "items": self.items_total,
            "items_per_s": round(len(recent) / 5.0, 2),
            "rejected": dict(self.rejected),
        }

    def _set_state(self, state: str, error: str | None = None) -> None:
        if state != self.state:
            self.state, self.state_since_wall = state, time.time()
        if error is not None:
            self.last_error = error

    def _count_item(self) -> None:
        now = time.monotonic()
        self.items_total += 1
        self.last_progress_mono = now
        self._rate_window.append(now)
        if len(self._rate_window) > 256:
            self._rate_window = [t for t in self._rate_window if now - t <= 5.0]


class SerialDevice(Device):
    """A device on a serial link: subclasses implement `initialise` and `serve` (one read/poll step)."""

    def __init__(self, device_id: str, port: str, baudrate: int) -> None:
        super().__init__(device_id)
        self.link = SerialLink(port, baudrate)
        self.backoff = Backoff()

    @abstractmethod
    def initialise(self) -> None:
        """Bring a freshly (re)connected device into the mode we need: never assume it kept its state."""

    @abstractmethod
    def serve(self, emit: Emit) -> None:
        """One bounded step of reading/polling; raises DeviceGone when the link fails."""

    def run(self, stop: threading.Event, emit: Emit) -> None:
        outage_logged = False
        while not stop.is_set():
            try:
                self.link.open()
                self.initialise()
                self._set_state("connected")
                if outage_logged:
                    log.info("device %s reconnected on %s", self.device_id, self.link.port)
                outage_logged = False
                self.backoff.reset()
                while not stop.is_set():
                    self.last_loop_mono = time.monotonic()
                    self.serve(emit)
            except DeviceGone as exc:
                self._set_state("reconnecting", str(exc))
                if not outage_logged:  # one line per outage, not per attempt
                    log.warning("device %s lost: %s; reconnecting", self.device_id, exc)
                    outage_logged = True
            finally:
                self.link.close()
            if not stop.is_set():
                self.last_loop_mono = time.monotonic()
                self.backoff.wait(stop)
        self._set_state("stopped")
