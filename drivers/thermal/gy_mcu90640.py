"""GY-MCU90640: an MLX90640 32×24 thermopile array behind an STM32 that streams frames over a UART.

Wire format (vendor manual §IV): 1544-byte frames
`5A 5A 02 06` + 768 pixels int16 LE (°C×100) + Ta int16 LE + uint16 LE sum of the first 771 LE words.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from drivers.device import Emit, StreamDevice
from drivers.items import ParsedItem, ThermalImage
from drivers.strict import StrictModel
from drivers.thermal.fixed_frames import FixedFrameParser
from drivers.transport import DeviceGone, SerialPortName, monotonic_now

log = logging.getLogger(__name__)

ROWS, COLS = 24, 32
FRAME_LEN = 1544
# Sync on all four header bytes: 0x5A5A alone is a legal pixel value (231.30 °C).
HEADER = b"\x5a\x5a\x02\x06"


def frame_checksum(frame_head: bytes) -> int:
    return sum(struct.unpack("<771H", frame_head[:1542])) & 0xFFFF


def encode_frame(temps_c: np.ndarray, ambient_c: float) -> bytes:
    """The bytes the module sends for an image as a viewer sees it (the module's columns are mirrored)."""
    if temps_c.shape != (ROWS, COLS):
        raise ValueError(f"expected a {ROWS}×{COLS} image, got {temps_c.shape}")
    wire = np.fliplr(temps_c)
    centi = np.clip(np.round(wire * 100.0), -32768, 32767).astype("<i2")
    ta = int(np.clip(round(ambient_c * 100.0), -32768, 32767))
    head = HEADER + centi.tobytes() + struct.pack("<h", ta)
    return head + struct.pack("<H", frame_checksum(head))


def command(func: int, value: int) -> bytes:
    """Host→module command `A5 func val sum8`."""
    return bytes([0xA5, func, value, (0xA5 + func + value) & 0xFF])


BAUD_CODES = {9600: 0x01, 115200: 0x02, 460800: 0x03}
RATE_CODES = {0.5: 0x00, 1.0: 0x01, 2.0: 0x02, 4.0: 0x03, 8.0: 0x04}
CMD_CONTINUOUS = command(0x35, 0x02)
CMD_QUERY_MODE = command(0x35, 0x01)


BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop


def wire_time_s(baudrate: int) -> float:
    """How long one frame occupies the line: 33.5 ms at 460800 baud, 134 ms at 115200."""
    return FRAME_LEN * BITS_PER_BYTE / baudrate


def cmd_baud(baudrate: int) -> bytes:
    return command(0x15, BAUD_CODES[baudrate])


def cmd_rate(rate_hz: float) -> bytes:
    return command(0x25, RATE_CODES[rate_hz])


def cmd_emissivity(emissivity: float) -> bytes:
    return command(0x45, round(emissivity * 100))


class GyMcu90640Parser(FixedFrameParser):
    """Frames behind the 4-byte header, verified by their 16-bit word sum."""

    header = HEADER
    frame_len = FRAME_LEN

    def frame_ok(self, frame: bytes) -> bool:
        (stored,) = struct.unpack_from("<H", frame, 1542)
        return int(np.frombuffer(frame, dtype="<u2", count=771).sum()) & 0xFFFF == stored

    def decode(self, frame: bytes) -> ThermalImage:
        pixels = np.frombuffer(frame, dtype="<i2", count=ROWS * COLS, offset=4)
        temps_c = np.fliplr(pixels.reshape(ROWS, COLS)).astype(np.float32) / np.float32(100.0)
        (ta_centi,) = struct.unpack_from("<h", frame, 1540)
        return ThermalImage(temps_c=temps_c, ambient_c=ta_centi / 100.0)


class GyMcu90640Config(StrictModel):
    type: Literal["gy_mcu90640"]
    port: SerialPortName = Field(description="pyserial URL or device path, e.g. /dev/serial/by-path/…")
    baudrate: Literal[9600, 115200, 460800] = Field(
        default=115200, description="UART speed; the module is switched to it after every connect."
    )
    rate_hz: float = Field(default=4.0, description="Requested refresh rate, Hz: one of 0.5, 1, 2, 4, 8.")
    emissivity: float = Field(
        default=0.98, ge=0.1, le=1.0, description="Skin emissivity (IEC 80601-2-59: 0.98)."
    )
    mode: Literal["continuous", "query"] = Field(
        default="continuous", description="continuous: the module streams; query: one frame per request."
    )

    @field_validator("rate_hz")
    @classmethod
    def _known_rate(cls, value: float) -> float:
        if value not in RATE_CODES:
            raise ValueError(f"must be one of {sorted(RATE_CODES)}")
        return value

    @model_validator(mode="after")
    def _fits_the_wire(self) -> GyMcu90640Config:
        if self.rate_hz * wire_time_s(self.baudrate) > 1.0:
            fastest = max(b for b in BAUD_CODES if self.rate_hz * wire_time_s(b) <= 1.0)
            raise ValueError(
                f"{self.rate_hz} Hz does not fit {self.baudrate} baud "
                f"({wire_time_s(self.baudrate) * 1000:.0f} ms per frame); use baudrate {fastest}"
            )
        return self


class GyMcu90640Device(StreamDevice):
    kind = "thermal"
    # Frames further apart than this many nominal intervals are an outage or a stall, not a rate sample.
    _GAP_FACTOR = 4.0

    def __init__(self, device_id: str, config: GyMcu90640Config) -> None:
        self.config = config
        super().__init__(device_id, config.port, config.baudrate)
        self.silence_timeout_s = max(2.0, 3.0 / config.rate_hz) + wire_time_s(config.baudrate)
        self.frame_interval_s: float | None = None  # measured (EWMA), not taken from the rate table
        self.baud_corrections = 0
        self._last_frame_mono: float | None = None
        self._interval_samples = 0
        self._rate_warned = False
        self._last_query_mono = 0.0
        self._pending: list[ParsedItem] = []

    def new_parser(self) -> GyMcu90640Parser:
        return GyMcu90640Parser()

    def configure(self) -> None:
        """Re-send baud, rate, emissivity and mode after every (re)connect, then prove a frame arrives.

        The module may have rebooted into a saved baud rate or query mode. If nothing valid arrives at the
        configured speed, try the other speeds and command the module back to ours.
        """
        self._last_frame_mono = None
        self._pending = []
        target = self.config.baudrate
        self._send_mode()
        if self._frame_arrives():
            return
        for other in (b for b in (115200, 460800, 9600) if b != target):
            self.link.set_baudrate(other)
            self.link.write(cmd_baud(target))
            time.sleep(0.1)  # tcdrain returned; give a slow module time to act before our speed changes
            self.link.set_baudrate(target)
            self.link.reset_input()
            self.parser = self.new_parser()
            self._send_mode()
            if self._frame_arrives():
                self.baud_corrections += 1
                return
        raise DeviceGone(
            f"wrong mode: no valid frame at {target} baud, nor after switching from 9600/115200/460800"
        )

    def _send_mode(self) -> None:
        mode = CMD_QUERY_MODE if self.config.mode == "query" else CMD_CONTINUOUS
        for cmd in (cmd_rate(self.config.rate_hz), cmd_emissivity(self.config.emissivity), mode):
            self.link.write(cmd)
        self._last_query_mono = time.monotonic()

    def _frame_arrives(self) -> bool:
        # Long enough for one frame at the slowest rate the firmware might really be running.
        deadline = time.monotonic() + max(1.0, 1.5 / self.config.rate_hz) + wire_time_s(self.link.baudrate)
        while time.monotonic() < deadline:
            self.last_loop_mono = time.monotonic()  # a long baud search is progress, not a hang
            chunk = self.link.read()
            if not chunk:
                continue
            items = self.parser.feed(chunk)
            self._pending.extend(items)
            if any(isinstance(x, ThermalImage) for x in items):
                return True
        return False

    def serve(self, emit: Emit) -> None:
        if self._pending:
            items, self._pending = self._pending, []
            self.handle(items, *monotonic_now(), emit)
        if self.config.mode == "query":
            now = time.monotonic()
            waited = now - self._last_query_mono
            due = 1.0 / self.config.rate_hz
            answered = self._last_frame_mono is not None and self._last_frame_mono >= self._last_query_mono
            lost = waited >= due + 2 * wire_time_s(self.link.baudrate) + 0.5
            # Ask for the next frame on schedule; ask again if a request or its answer was lost.
            if (answered and waited >= due) or lost:
                self.link.write(CMD_QUERY_MODE)
                self._last_query_mono = now
        super().serve(emit)

    def after_frame(self, t_mono: float) -> None:
        last, self._last_frame_mono = self._last_frame_mono, t_mono
        if last is None:
            return
        interval = t_mono - last
        if interval > self._GAP_FACTOR * max(1.0 / self.config.rate_hz, self.frame_interval_s or 0.0):
            return
        self._interval_samples += 1
        alpha = 0.1 if self._interval_samples > 10 else 1.0 / self._interval_samples
        previous = self.frame_interval_s
        self.frame_interval_s = interval if previous is None else previous + alpha * (interval - previous)
        if self._interval_samples == 32 and not self._rate_warned:
            measured_hz = 1.0 / self.frame_interval_s
            if abs(measured_hz - self.config.rate_hz) > 0.3 * self.config.rate_hz:
                # protocols.md §1.1: firmware variants disagree on the refresh-rate codes.
                self._rate_warned = True
                log.warning(
                    "device %s: requested %.1f Hz but frames arrive at %.2f Hz (firmware rate table differs)",
                    self.device_id,
                    self.config.rate_hz,
                    measured_hz,
                )

    def extra_status(self) -> dict[str, object]:
        interval = self.frame_interval_s
        return {
            "requested_rate_hz": self.config.rate_hz,
            "measured_rate_hz": round(1.0 / interval, 3) if interval else None,
            "frame_interval_s": round(interval, 4) if interval else None,
            "baud_corrections": self.baud_corrections,
        }
