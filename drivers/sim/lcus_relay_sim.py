"""LCUS relay board simulator: decodes the 4-byte commands it receives and keeps each relay's state and
history, so tests (and `checkpoint-edge simulate lcus_relay`) see exactly what the board would do."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from drivers.alarm.lcus import RelayCommand, RelayFrameParser
from drivers.sim.simulator import Simulator


class LcusRelaySimulator(Simulator):
    def __init__(self, link_path: Path | None = None, *, seed: int | None = None, channels: int = 4) -> None:
        super().__init__(link_path, seed=seed)
        self.baudrate = 9600
        self.channels = channels
        self.parser = RelayFrameParser()
        self.rejected_bytes = 0
        # (time.monotonic(), channel, on) for every command received, in order
        self.commands: list[tuple[float, int, bool]] = []
        self.states: dict[int, bool] = dict.fromkeys(range(1, channels + 1), False)
        self.changed = threading.Condition()

    def power_on(self) -> None:
        super().power_on()
        self.baudrate = 9600
        self.parser = RelayFrameParser()
        with self.changed:
            self.states = dict.fromkeys(range(1, self.channels + 1), False)  # relays drop out unpowered

    def step(self) -> None:
        data = self.receive(timeout_s=0.02)
        if not data:
            return
        now = time.monotonic()
        with self.changed:
            for item in self.parser.feed(data):
                if isinstance(item, RelayCommand):
                    if item.channel <= self.channels:
                        self.commands.append((now, item.channel, item.on))
                        self.states[item.channel] = item.on
                else:
                    self.rejected_bytes += item.nbytes
            self.changed.notify_all()

    def history(self, channel: int, since: float = 0.0) -> list[tuple[float, bool]]:
        """The state changes of one channel after `since` (repeated identical commands collapsed)."""
        out: list[tuple[float, bool]] = []
        with self.changed:
            for t, ch, on in self.commands:
                if ch == channel and t >= since and (not out or out[-1][1] != on):
                    out.append((t, on))
        return out

    def wait_for(self, channel: int, on: bool, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while self.states.get(channel) != on:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
            return True
