"""GY-MCU8833: a Panasonic AMG8833 8×8 thermopile array behind an MCU that streams over a 9600-baud UART.

Wire format (reverse-engineered by sevengivings/gy-mcu8833, ⚠️ one source):
71-byte frames `A4 03` + 4 unknown bytes (they change every frame) + 64 pixels, one signed byte each in
whole °C + sum8 of bytes 0..69. No command set is known, so the device is only read. One-degree steps are
too coarse to screen for fever on their own; the sensor suits presence/coarse screening lanes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from drivers.device import StreamDevice
from drivers.items import ParsedItem, ThermalImage
from drivers.strict import StrictModel
from drivers.thermal.fixed_frames import FixedFrameParser
from drivers.transport import SerialPortName

ROWS, COLS = 8, 8
FRAME_LEN = 71
HEADER = b"\xa4\x03"
PIXELS_AT = 6
SAMPLE_HEADER_BYTES = b"\x09\x42\x0c\xb8"  # the four unknown bytes of the public sample frame


def sum8(data: bytes) -> int:
    return sum(data) & 0xFF


def encode_frame(temps_c: np.ndarray, header_bytes: bytes = SAMPLE_HEADER_BYTES) -> bytes:
    """The bytes the module sends for an 8×8 image (°C, rounded to whole degrees, clipped to int8)."""
    if temps_c.shape != (ROWS, COLS):
        raise ValueError(f"expected a {ROWS}×{COLS} image, got {temps_c.shape}")
    if len(header_bytes) != 4:
        raise ValueError("the unknown header field is 4 bytes")
    pixels = np.clip(np.round(temps_c), -128, 127).astype(np.int8).tobytes()
    head = HEADER + header_bytes + pixels
    return head + bytes([sum8(head)])


class GyMcu8833Parser(FixedFrameParser):
    """Frames behind `A4 03`, verified by sum8 (weak: `A4 03` also occurs in pixel data)."""

    header = HEADER
    frame_len = FRAME_LEN

    def frame_ok(self, frame: bytes) -> bool:
        return sum8(frame[: FRAME_LEN - 1]) == frame[FRAME_LEN - 1]

    def decode(self, frame: bytes) -> ThermalImage:
        pixels = np.frombuffer(frame, dtype=np.int8, count=ROWS * COLS, offset=PIXELS_AT)
        return ThermalImage(temps_c=pixels.reshape(ROWS, COLS).astype(np.float32))


class GyMcu8833Config(StrictModel):
    type: Literal["gy_mcu8833"]
    port: SerialPortName = Field(description="pyserial URL or device path, e.g. /dev/serial/by-path/…")
    baudrate: int = Field(default=9600, ge=1200, le=921600, description="UART speed; the module sends 9600.")
    mirror: bool = Field(
        default=False,
        description="Flip columns: the pixel order on the wire is unconfirmed; check with a warm hand.",
    )


class GyMcu8833Device(StreamDevice):
    kind = "thermal"

    def __init__(self, device_id: str, config: GyMcu8833Config) -> None:
        self.config = config
        super().__init__(device_id, config.port, config.baudrate)
        self.silence_timeout_s = 3.0  # the module streams ~10 frames/s; three silent seconds is a fault

    def new_parser(self) -> _MirroringParser | GyMcu8833Parser:
        return _MirroringParser() if self.config.mirror else GyMcu8833Parser()


class _MirroringParser(GyMcu8833Parser):
    def feed(self, chunk: bytes) -> list[ParsedItem]:
        return [
            ThermalImage(np.ascontiguousarray(np.fliplr(x.temps_c)), x.ambient_c)
            if isinstance(x, ThermalImage)
            else x
            for x in super().feed(chunk)
        ]
