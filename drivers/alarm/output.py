"""The alarm device loop: its own thread, a bounded request queue, reconnect with backoff.

The lane never waits for an alarm: `signal`, `acknowledge` and `set_fault` put a request on a bounded
queue and return (when full, the oldest request is dropped and counted: the newest outcome matters most).
The loop applies requests to the pure schedule even while the device is gone, so a replugged board comes
back showing what it should show now; every connect re-sends every channel (a relay board forgets its
state when unplugged), and the state is re-sent every `refresh_s` in case the board was power-cycled.
A failing alarm marks itself reconnecting/failed in status() and nothing else.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import abstractmethod
from typing import Any

from drivers.alarm.patterns import AlarmOutput, AlarmSchedule
from drivers.device import Device, DeviceState, Emit
from drivers.transport import Backoff, DeviceGone

log = logging.getLogger(__name__)

REQUEST_QUEUE_LEN = 32
TICK_S = 0.05


class AlarmOutputDevice(Device):
    kind = "alarm"
    refresh_s = 5.0

    def __init__(
        self, device_id: str, patterns: dict[str, list[AlarmOutput]], *, backoff: Backoff | None = None
    ) -> None:
        super().__init__(device_id)
        self.schedule = AlarmSchedule(patterns)
        self.backoff = backoff or Backoff()
        self.requests: queue.Queue[tuple[str, Any, float]] = queue.Queue(maxsize=REQUEST_QUEUE_LEN)
        self.requests_dropped = 0
        self.acknowledged = 0
        self._sent: dict[int, bool] = {}
        self._sent_mono = 0.0

    # -- called from other threads: never block ------------------------------------------------------------

    def signal(self, outcome: str) -> None:
        self._request("signal", outcome)

    def acknowledge(self) -> None:
        self._request("ack", None)

    def set_fault(self, fault: bool) -> None:
        self._request("fault", fault)

    def _request(self, kind: str, value: Any) -> None:
        item = (kind, value, time.monotonic())
        try:
            self.requests.put_nowait(item)
        except queue.Full:
            try:
                self.requests.get_nowait()
                self.requests_dropped += 1
            except queue.Empty:
                pass
            try:
                self.requests.put_nowait(item)
            except queue.Full:
                self.requests_dropped += 1

    # -- for subclasses -----------------------------------------------------------------------------------

    @abstractmethod
    def open_output(self) -> None:
        """Open the board or line; raise DeviceGone when it is not there."""

    @abstractmethod
    def close_output(self) -> None: ...

    @abstractmethod
    def write_channel(self, channel: int, on: bool) -> None:
        """Switch one output; raise DeviceGone on failure."""

    def poll_output(self) -> None:
        """Notice a vanished device between writes (a relay board never talks back); at most TICK_S."""
        time.sleep(TICK_S)

    # -- the loop ------------------------------------------------------------------------------------------

    def extra_status(self) -> dict[str, Any]:
        return {
            "outputs": {str(c): on for c, on in sorted(self._sent.items())},
            "last_outcome": self.schedule.last_outcome,
            "awaiting_ack": self.schedule.awaiting_ack,
            "acknowledged": self.acknowledged,
            "requests_dropped": self.requests_dropped,
        }

    def _drain(self) -> None:
        while True:
            try:
                kind, value, t = self.requests.get_nowait()
            except queue.Empty:
                return
            if kind == "signal":
                self.schedule.signal(value, t)
            elif kind == "fault":
                self.schedule.set_fault(bool(value), t)
            elif kind == "ack" and self.schedule.acknowledge():
                self.acknowledged += 1

    def _apply(self, force: bool) -> None:
        now = time.monotonic()
        force = force or now - self._sent_mono >= self.refresh_s
        for channel, on in self.schedule.states(now).items():
            if force or self._sent.get(channel) != on:
                self.write_channel(channel, on)
                self._sent[channel] = on
                self._count_item()
        if force:
            self._sent_mono = now

    def _wait(self, stop: threading.Event, seconds: float) -> None:
        """Back off between attempts, still taking requests so the queue never fills while the device is gone."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            self.last_loop_mono = time.monotonic()
            self._drain()
            stop.wait(min(TICK_S * 2, max(0.0, deadline - time.monotonic())))

    def run(self, stop: threading.Event, emit: Emit) -> None:
        del emit  # an output: nothing to hand to the lane
        outage_since: float | None = None
        while not stop.is_set():
            permanent = False
            try:
                self.open_output()
                self._drain()
                self._apply(force=True)
                self._set_state(DeviceState.CONNECTED)
                outage_since = None
                self.backoff.reset()
                while not stop.is_set():
                    self.last_loop_mono = time.monotonic()
                    self._drain()
                    self._apply(force=False)
                    self.poll_output()
            except DeviceGone as exc:
                permanent = exc.permanent
                outage_since = self._record_failure("link", str(exc), permanent, outage_since)
            except Exception as exc:
                permanent = True
                outage_since = self._record_failure(
                    "internal", f"internal error: {exc!r}", True, outage_since
                )
            finally:
                self._sent.clear()
                self.close_output()
            if not stop.is_set():
                self._wait(stop, self.backoff.ceiling_s if permanent else self.backoff.next_delay_s())
        self._switch_off_at_stop()
        self._set_state(DeviceState.STOPPED)

    def _switch_off_at_stop(self) -> None:
        """A stopped service must not leave a buzzer sounding: one best-effort attempt to open everything."""
        try:
            self.open_output()
            for channel in self.schedule.channels:
                self.write_channel(channel, False)
        except Exception as exc:  # best effort only: the device may be the reason we stop
            log.debug("alarm %s: could not switch off at stop: %s", self.device_id, exc)
        finally:
            self.close_output()
