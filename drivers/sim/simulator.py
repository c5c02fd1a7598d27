"""The common shape of a device simulator: a thread serving one PtyLink until stopped, with fault injection.

Faults, as field devices show them:
- corrupt: flip one random bit in an outgoing write (noise on the line);
- drop: lose a random run of bytes from an outgoing write (overrun, loose contact);
- stall: send nothing for a while (a hung MCU);
- unplug / replug: close the pty master (the driver's read fails exactly as on a USB unplug) and bring a new
  pair back behind the same symlink, with the device powered up fresh;
- reboot into another mode: e.g. a different baud rate. A pty shares its termios with the driver, so a
  simulator at another speed than the driver's port sends garbage and cannot understand commands, as a UART
  would.
"""

from __future__ import annotations

import random
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from drivers.sim.pty_link import PtyLink


@dataclass
class Faults:
    corrupt_probability: float = 0.0  # per write: flip one bit
    drop_probability: float = 0.0  # per write: lose a run of 1..16 bytes


class Simulator(ABC):
    def __init__(self, link_path: Path | None = None, *, seed: int | None = None) -> None:
        self.link = PtyLink(link_path)
        self.faults = Faults()
        # None: the device talks at whatever speed the driver's port is set to.
        self.baudrate: int | None = None
        self.writes_corrupted = 0
        self.writes_dropped = 0
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # unplug/replug never cut a step in half
        self._stall_until = 0.0
        self._replug_at: float | None = None

    @property
    def port(self) -> str:
        return self.link.port

    def start(self) -> Simulator:
        self._thread = threading.Thread(target=self._serve, name=f"sim-{type(self).__name__}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.link.close()

    # -- fault injection -------------------------------------------------------------------------------

    def stall(self, seconds: float) -> None:
        self._stall_until = time.monotonic() + seconds

    def unplug(self, replug_after_s: float | None = None) -> None:
        with self._lock:
            self.link.unplug()
            self._replug_at = None if replug_after_s is None else time.monotonic() + replug_after_s

    def replug(self) -> None:
        with self._lock:
            self._replug_at = None
            self.link.plug()
            self.power_on()

    def power_on(self) -> None:
        """Return to the device's power-up state (subclasses reset their mode)."""
        self.baudrate = None

    # -- for subclasses --------------------------------------------------------------------------------

    def speeds_match(self) -> bool:
        return self.baudrate is None or self.link.host_baudrate() in (None, self.baudrate)

    def send(self, data: bytes) -> bool:
        """Write as the device would: through the configured faults and the speed (mis)match."""
        if time.monotonic() < self._stall_until:
            return False
        if not self.speeds_match():
            # A UART at the wrong speed sees framing garbage, roughly one byte per byte sent.
            data = bytes(self.rng.getrandbits(8) for _ in range(len(data)))
        elif data and self.rng.random() < self.faults.corrupt_probability:
            buf = bytearray(data)
            buf[self.rng.randrange(len(buf))] ^= 1 << self.rng.randrange(8)
            data = bytes(buf)
            self.writes_corrupted += 1
        elif data and self.rng.random() < self.faults.drop_probability:
            at = self.rng.randrange(len(data))
            data = data[:at] + data[at + self.rng.randint(1, 16) :]
            self.writes_dropped += 1
        return self.link.write(data)

    def receive(self, timeout_s: float) -> bytes:
        """Bytes from the driver; unintelligible (dropped) when the speeds disagree."""
        data = self.link.read(timeout_s)
        return data if self.speeds_match() else b""

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self._replug_at is not None and time.monotonic() >= self._replug_at:
                self.replug()
            if not self.link.plugged:
                self._stop.wait(0.01)
                continue
            with self._lock:
                if self.link.plugged:
                    self.step()

    @abstractmethod
    def step(self) -> None:
        """One bounded unit of work (at most ~50 ms) so stop() is prompt."""


class QueuedSimulator(Simulator):
    """A device that speaks when something happens (a document is swiped, a code is scanned).

    `present()` queues one read; `repeat` (with `repeat_every_s`) replays reads forever, for demos and the
    `simulate` command. A read is sent in one write, the way a reader's MCU flushes its buffer.
    """

    def __init__(self, link_path: Path | None = None, *, seed: int | None = None) -> None:
        super().__init__(link_path, seed=seed)
        self.repeat: list[bytes] = []
        self.repeat_every_s = 2.0
        self.reads_sent = 0
        self.min_gap_s = 0.0  # silence kept between two reads
        self._quiet_until = 0.0
        self._queue: list[bytes] = []
        self._queue_lock = threading.Lock()
        self._next_repeat = time.monotonic()
        self._repeat_index = 0

    def present_raw(self, wire_bytes: bytes) -> None:
        with self._queue_lock:
            self._queue.append(wire_bytes)

    def step(self) -> None:
        self.receive(timeout_s=0.0)
        now = time.monotonic()
        if now < self._quiet_until:
            time.sleep(min(0.01, self._quiet_until - now))
            return
        with self._queue_lock:
            item = self._queue.pop(0) if self._queue else None
        if item is None and self.repeat and now >= self._next_repeat:
            item = self.repeat[self._repeat_index % len(self.repeat)]
            self._repeat_index += 1
            self._next_repeat = now + self.repeat_every_s
        if item is None:
            time.sleep(0.01)
            return
        if self.send(item):
            self.reads_sent += 1
        self._quiet_until = time.monotonic() + self.min_gap_s
