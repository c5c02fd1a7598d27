"""GY-MCU90640 simulator: streams real 1544-byte frames and obeys the module's commands (baud, rate, mode)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from drivers.sim.simulator import Simulator
from drivers.thermal import gy_mcu90640 as proto

# A scene maps simulator time (s since start) to a 24×32 °C image and the ambient temperature.
Scene = Callable[[float], tuple[np.ndarray, float]]

_RATES = {code: hz for hz, code in proto.RATE_CODES.items()}
_BAUDS = {code: baud for baud, code in proto.BAUD_CODES.items()}


class GyMcu90640Simulator(Simulator):
    def __init__(
        self, scene: Scene, rate_hz: float = 8.0, link_path: Path | None = None, *, seed: int | None = None
    ) -> None:
        super().__init__(link_path, seed=seed)
        self.scene = scene
        self.power_on_rate_hz = rate_hz
        self.rate_hz = rate_hz
        self.continuous = True  # the module powers up streaming
        self.emissivity_pct = 95
        self.frames_sent = 0
        self.commands: list[bytes] = []
        self._t0 = time.monotonic()
        self._next_frame = self._t0
        self._cmd_buf = bytearray()
        self._queried = 0

    def power_on(self) -> None:
        super().power_on()
        self.rate_hz, self.continuous, self._queried = self.power_on_rate_hz, True, 0
        self.emissivity_pct = 95  # the factory setting (manual example: 0.95)
        self._cmd_buf.clear()

    def reboot(self, *, baudrate: int | None = None, continuous: bool = True) -> None:
        """The module resets while connected, into a saved mode (another speed, query mode)."""
        self.power_on()
        self.baudrate, self.continuous = baudrate, continuous

    def step(self) -> None:
        self._handle_commands(self.receive(timeout_s=0.005))
        now = time.monotonic()
        if (self.continuous and now >= self._next_frame) or self._queried:
            self._queried = max(0, self._queried - 1)
            # After a stall, resume the schedule instead of bursting the missed frames out.
            self._next_frame = max(self._next_frame + 1.0 / self.rate_hz, now)
            temps_c, ambient_c = self.scene(now - self._t0)
            if self.send(proto.encode_frame(temps_c, ambient_c)):
                self.frames_sent += 1
        else:
            time.sleep(min(0.01, max(0.0, self._next_frame - now)))

    def _handle_commands(self, data: bytes) -> None:
        self._cmd_buf += data
        while len(self._cmd_buf) >= 4:
            start = self._cmd_buf.find(b"\xa5")
            if start < 0:
                self._cmd_buf.clear()
                return
            del self._cmd_buf[:start]
            if len(self._cmd_buf) < 4:
                return
            cmd = bytes(self._cmd_buf[:4])
            if (cmd[0] + cmd[1] + cmd[2]) & 0xFF != cmd[3]:
                del self._cmd_buf[:1]
                continue
            del self._cmd_buf[:4]
            self.commands.append(cmd)
            func, value = cmd[1], cmd[2]
            if func == 0x35:
                self.continuous = value == 0x02
                self._queried += value == 0x01
            elif func == 0x25:
                self.rate_hz = _RATES.get(value, self.rate_hz)
            elif func == 0x15 and value in _BAUDS:
                self.baudrate = _BAUDS[value]
            elif func == 0x45 and value <= 100:
                self.emissivity_pct = value
            elif func == 0x55:  # emissivity query: 5A 5A ee sum8
                e = self.emissivity_pct
                self.send(bytes([0x5A, 0x5A, e, (0x5A + 0x5A + e) & 0xFF]))
