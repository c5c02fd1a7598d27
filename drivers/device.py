"""The device base: one loop per device that connects, initialises, reads, and reconnects on any failure.

A device never raises out of `run`; it reports its state through `status()` and keeps trying until the
stop event is set. Items leave through the `emit` callback, already stamped with device id and time.

State, as a technician sees it: "connected since T", "reconnecting since T: <last error>", or
"failed since T: <reason>" when retrying alone will not fix it (permissions, a port locked by another
process, a device answering in another protocol). One log line per outage, never one per attempt.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

from drivers.items import IdDocument, IdScan, ParsedItem, Rejected, ThermalFrame, ThermalImage, VisibleFrame
from drivers.transport import Backoff, DeviceGone, SerialLink, monotonic_now


class DeviceState(StrEnum):
    """A device thread's state, as `status()["state"]`, the lane's health and the status message show it."""

    CONNECTING = "connecting"  # first attempt since start
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # lost; retrying with backoff
    FAILED = "failed"  # a permanent fault (wrong mode, bad settings): retried slowly, needs a technician
    STOPPED = "stopped"


log = logging.getLogger(__name__)

DeviceItem = ThermalFrame | IdScan | VisibleFrame
Emit = Callable[[DeviceItem], None]

RATE_WINDOW_S = 5.0


class Device(ABC):
    kind: str = "device"  # "thermal", "idscan" or "camera"

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.state: DeviceState = DeviceState.CONNECTING
        self.state_since_wall = time.time()
        self.last_error: str | None = None
        self.last_rejected: str | None = None
        self.items_total = 0
        self.outages = 0
        self.rejected: Counter[str] = Counter()  # parser refusals by reason
        self.errors: Counter[str] = Counter()  # link/device failures by kind
        self.invalid: Counter[str] = Counter()  # scans handed up as invalid, by failing check
        # Updated on every loop turn, items or not: the supervisor's evidence that this thread is not hung.
        self.last_loop_mono = time.monotonic()
        self._rate_window: deque[float] = deque()
        self._lock = threading.Lock()  # status() runs on other threads
        # Optional observer of every refusal (the technician `read` command prints them); never per-frame logs.
        self.on_rejected: Callable[[Rejected], None] | None = None

    @abstractmethod
    def run(self, stop: threading.Event, emit: Emit) -> None: ...

    def extra_status(self) -> dict[str, Any]:
        """Device-specific figures (e.g. a measured frame interval) merged into status()."""
        return {}

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            while self._rate_window and now - self._rate_window[0] > RATE_WINDOW_S:
                self._rate_window.popleft()
            recent = len(self._rate_window)
            # Over the window, or since the first item when the device has not been up that long.
            span_s = min(RATE_WINDOW_S, now - self._rate_window[0]) if recent else RATE_WINDOW_S
            counters = {
                "rejected": dict(self.rejected),
                "errors": dict(self.errors),
                "invalid": dict(self.invalid),
            }
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "state": self.state,
            "since": round(self.state_since_wall, 3),
            "summary": self.state_summary(),
            "last_error": self.last_error,
            "last_rejected": self.last_rejected,
            "items": self.items_total,
            "items_per_s": round(recent / max(span_s, 1.0), 2),
            "outages": self.outages,
            **counters,
            **self.extra_status(),
        }

    def state_summary(self) -> str:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.state_since_wall))
        if self.state in (DeviceState.RECONNECTING, DeviceState.FAILED):
            return f"{self.state} since {since}: {self.last_error}"
        return f"{self.state} since {since}"

    def _record_failure(self, kind: str, message: str, permanent: bool, outage_since: float | None) -> float:
        """Count a failure and report it; an outage is logged once, when it starts, not on every retry."""
        self._count(self.errors, kind)
        self._set_state(DeviceState.FAILED if permanent else DeviceState.RECONNECTING, message)
        if outage_since is not None:
            return outage_since
        self.outages += 1
        if kind == "internal":
            log.exception("device %s failed; retrying", self.device_id)
        else:
            log.warning("device %s unavailable: %s; retrying", self.device_id, message)
        return time.monotonic()

    def _set_state(self, state: DeviceState, error: str | None = None) -> None:
        if state != self.state:
            self.state, self.state_since_wall = state, time.time()
        if error is not None:
            self.last_error = error

    def _count_item(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.items_total += 1
            self._rate_window.append(now)
            while self._rate_window and now - self._rate_window[0] > RATE_WINDOW_S:
                self._rate_window.popleft()

    def _count(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def _reject(self, item: Rejected) -> None:
        self.last_rejected = item.reason
        self._count(self.rejected, item.reason)
        if self.on_rejected is not None:
            self.on_rejected(item)


class BurstParser(Protocol):
    def feed(self, chunk: bytes) -> list[ParsedItem]: ...

    def end_of_burst(self) -> list[ParsedItem]: ...


class SerialDevice(Device):
    """A device on a serial link: subclasses implement `initialise` and `serve` (one read/poll step)."""

    def __init__(self, device_id: str, port: str, baudrate: int, *, backoff: Backoff | None = None) -> None:
        super().__init__(device_id)
        self.link = SerialLink(port, baudrate)
        self.backoff = backoff or Backoff()
        # Set by run(): lets polling devices wait between polls without delaying shutdown.
        self.stop_event = threading.Event()

    @abstractmethod
    def initialise(self) -> None:
        """Bring a freshly (re)connected device into the mode we need: never assume it kept its state."""

    @abstractmethod
    def serve(self, emit: Emit) -> None:
        """One bounded step of reading/polling; raises DeviceGone when the link fails."""

    def run(self, stop: threading.Event, emit: Emit) -> None:
        self.stop_event = stop
        outage_since: float | None = None
        while not stop.is_set():
            permanent = False
            try:
                self.link.open()
                self.initialise()
                self._set_state(DeviceState.CONNECTED)
                if outage_since is not None:
                    # The outage already has its one line; its end is visible in status() and at DEBUG.
                    log.debug(
                        "device %s back on %s after %.1f s",
                        self.device_id,
                        self.link.port,
                        time.monotonic() - outage_since,
                    )
                outage_since = None
                self.backoff.reset()
                while not stop.is_set():
                    self.last_loop_mono = time.monotonic()
                    self.serve(emit)
            except DeviceGone as exc:
                permanent = exc.permanent
                outage_since = self._record_failure(_error_kind(str(exc)), str(exc), permanent, outage_since)
            except Exception as exc:
                # A driver bug must degrade one device, not kill its thread for good.
                permanent = True
                outage_since = self._record_failure(
                    "internal", f"internal error: {exc!r}", True, outage_since
                )
            finally:
                self.link.close()
            if not stop.is_set():
                self.last_loop_mono = time.monotonic()
                stop.wait(self.backoff.ceiling_s if permanent else self.backoff.next_delay_s())
        self._set_state(DeviceState.STOPPED)


def _error_kind(message: str) -> str:
    for kind in ("cannot open", "read failed", "write failed", "no response", "wrong mode"):
        if message.startswith(kind):
            return kind.replace(" ", "_")
    return "link"


class StreamDevice(SerialDevice):
    """A device that sends on its own: read, feed the pure parser, stamp and emit what comes out.

    When `idle_gap_s` is set, silence of that length calls the parser's `end_of_burst()`: scanners
    without a terminator are framed by it, and stale partial reads are dropped by it.
    """

    idle_gap_s: float | None = None
    # A streaming sensor silent (or sending only garbage) this long is treated as gone and re-initialised:
    # it may have rebooted into another mode while the port stayed open.
    silence_timeout_s: float | None = None
    # ID scanners set this from their config: a document left on the scanner is read again and again.
    repeat_suppress_s: float | None = None

    def __init__(self, device_id: str, port: str, baudrate: int, *, backoff: Backoff | None = None) -> None:
        super().__init__(device_id, port, baudrate, backoff=backoff)
        # Subclasses set their config before calling this: new_parser() may depend on it.
        self.parser: BurstParser | Any = self.new_parser()
        self.seq = 0
        self._last_document: tuple[tuple[str, str, str], float] | None = None
        self.repeats_suppressed = 0
        self._last_rx_mono = time.monotonic()
        self._last_item_mono = time.monotonic()
        self._burst_open = False

    @abstractmethod
    def new_parser(self) -> Any:
        """A fresh parser: partial bytes from before a reconnect must never join bytes after it."""

    def configure(self) -> None:
        """Commands that put a (re)connected device into the configured mode; none by default."""

    def initialise(self) -> None:
        self.parser = self.new_parser()
        self._burst_open = False
        self.configure()
        self._last_item_mono = time.monotonic()

    def serve(self, emit: Emit) -> None:
        chunk = self.link.read()
        t_mono, t_wall = monotonic_now()
        if chunk:
            self._last_rx_mono = t_mono
            self._burst_open = True
            items = self.parser.feed(chunk)
        elif (
            self.idle_gap_s is not None
            and self._burst_open
            and t_mono - self._last_rx_mono >= self.idle_gap_s
            and hasattr(self.parser, "end_of_burst")
        ):
            self._burst_open = False
            items = self.parser.end_of_burst()
        else:
            items = []
        self.handle(items, t_mono, t_wall, emit)
        if self.silence_timeout_s is not None and t_mono - self._last_item_mono > self.silence_timeout_s:
            raise DeviceGone(f"no response: no valid frame for {self.silence_timeout_s:.1f} s")

    def handle(self, items: list[ParsedItem], t_mono: float, t_wall: float, emit: Emit) -> None:
        for item in items:
            if isinstance(item, Rejected):
                self._reject(item)
            elif isinstance(item, ThermalImage):
                self._last_item_mono = t_mono
                self.seq += 1
                self._count_item()
                emit(
                    ThermalFrame(
                        self.device_id, self.seq, t_mono, t_wall, item.temps_c, item.ambient_c, item.telemetry
                    )
                )
                self.after_frame(t_mono)
            elif isinstance(item, IdDocument):
                self._last_item_mono = t_mono
                if self._is_repeat(item, t_mono):
                    continue
                if not item.valid:
                    self._count(self.invalid, item.failed_check or "unknown")
                self._count_item()
                emit(IdScan(self.device_id, t_mono, t_wall, item))

    def _is_repeat(self, document: IdDocument, t_mono: float) -> bool:
        """The same document again within `repeat_suppress_s` (a scanner re-reading a card left on it) is one read."""
        if not self.repeat_suppress_s:
            return False
        key = (document.doc_type, document.number, repr(sorted(document.extra.items())))
        last = self._last_document
        self._last_document = (key, t_mono)
        if last is not None and last[0] == key and t_mono - last[1] < self.repeat_suppress_s:
            self._last_document = last  # the window runs from the reported read, as the SAM reader's does
            self.repeats_suppressed += 1
            return True
        return False

    def after_frame(self, t_mono: float) -> None:
        """Hook for thermal devices that measure their actual frame interval."""


class CaptureGone(Exception):
    """A camera failed to open or to deliver a frame. `permanent` as for DeviceGone."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Capture(Protocol):
    """The part of cv2.VideoCapture a camera device uses (a fake in tests)."""

    def read(self) -> tuple[bool, Any]: ...

    def release(self) -> None: ...


class CaptureDevice(Device):
    """A camera read through OpenCV: open, check the format, read frames, reopen with backoff on failure."""

    # Reads failing in a row before the camera counts as gone (a UVC stream hiccups now and then).
    max_failed_reads = 10

    def __init__(self, device_id: str, *, backoff: Backoff | None = None) -> None:
        super().__init__(device_id)
        self.backoff = backoff or Backoff(floor_s=0.2, ceiling_s=2.0)
        self.seq = 0

    @abstractmethod
    def open_capture(self) -> Capture:
        """Open and configure the camera; raise CaptureGone when it cannot deliver what we need."""

    @abstractmethod
    def to_item(self, frame: Any, t_mono: float, t_wall: float) -> DeviceItem:
        """Convert one frame; raise CaptureGone(permanent=True) for a stream of the wrong kind."""

    def run(self, stop: threading.Event, emit: Emit) -> None:
        outage_since: float | None = None
        while not stop.is_set():
            permanent = False
            capture: Capture | None = None
            try:
                capture = self.open_capture()
                failed_reads = 0
                while not stop.is_set():
                    self.last_loop_mono = time.monotonic()
                    ok, frame = capture.read()
                    if not ok or frame is None:
                        failed_reads += 1
                        if failed_reads >= self.max_failed_reads:
                            raise CaptureGone(f"read failed {failed_reads} times in a row")
                        stop.wait(0.02)
                        continue
                    failed_reads = 0
                    item = self.to_item(frame, *monotonic_now())
                    if self.state != DeviceState.CONNECTED:
                        self._set_state(DeviceState.CONNECTED)
                        outage_since = None
                        self.backoff.reset()
                    self._count_item()
                    emit(item)
            except CaptureGone as exc:
                permanent = exc.permanent
                outage_since = self._record_failure("capture", str(exc), permanent, outage_since)
            except Exception as exc:
                permanent = True
                outage_since = self._record_failure(
                    "internal", f"internal error: {exc!r}", True, outage_since
                )
            finally:
                if capture is not None:
                    capture.release()
            if not stop.is_set():
                stop.wait(self.backoff.ceiling_s if permanent else self.backoff.next_delay_s())
        self._set_state(DeviceState.STOPPED)
