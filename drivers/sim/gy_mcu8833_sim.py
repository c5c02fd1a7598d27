"""GY-MCU8833 simulator: streams 71-byte frames (no command set is known, so it only talks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from drivers.sim.simulator import Simulator
from drivers.thermal import gy_mcu8833 as proto

# Simulator time (s since start) -> an 8×8 °C image.
Scene8x8 = Callable[[float], np.ndarray]


class GyMcu8833Simulator(Simulator):
    def __init__(
        self,
        scene: Scene8x8,
        rate_hz: float = 10.0,
        link_path: Path | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        super().__init__(link_path, seed=seed)
        self.scene, self.rate_hz = scene, rate_hz
        self.frames_sent = 0
        self._t0 = time.monotonic()
        self._next_frame = self._t0

    def step(self) -> None:
        self.receive(timeout_s=0.0)  # the module ignores whatever the host sends
        now = time.monotonic()
        if now < self._next_frame:
            time.sleep(min(0.01, self._next_frame - now))
            return
        self._next_frame = max(self._next_frame + 1.0 / self.rate_hz, now)
        # The four unknown header bytes change every frame on the real module.
        header = self.frames_sent.to_bytes(2, "little") + bytes([0x0C, 0xB8])
        if self.send(proto.encode_frame(self.scene(now - self._t0), header)):
            self.frames_sent += 1
