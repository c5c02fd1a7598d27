"""GY-MCU90640: an MLX90640 32×24 thermopile array behind an STM32 that streams frames over a UART.

Wire format (vendor manual §IV, re-derived in shared/docs/protocols.md §1.1): 1544-byte frames
`5A 5A 02 06` + 768 pixels int16 LE (°C×100) + Ta int16 LE + uint16 LE sum of the first 771 LE words.
"""

from __future__ import annotations

import struct
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from drivers.device import Emit, SerialDevice
from drivers.items import ParsedItem, Rejected, ThermalFrame, ThermalImage
from drivers.transport import SerialPortName, monotonic_now
from edge.strict import StrictModel

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


def cmd_rate(rate_hz: float) -> bytes:
    return command(0x25, RATE_CODES[rate_hz])


def cmd_emissivity(emissivity: float) -> bytes:
    return command(0x45, round(emissivity * 100))


class GyMcu90640Parser:
    """Incremental frame decoder. Garbage is skipped up to the next 4-byte header and counted."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[ParsedItem]:
        self._buf += chunk
        out: list[ParsedItem] = []
        while True:
            start = self._buf.find(HEADER)
            if start < 0:
                # Keep a tail that could be the start of a header split across chunks.
                keep = 3
                if len(self._buf) > keep:
                    out.append(Rejected("no_header", len(self._buf) - keep))
                    del self._buf[: len(self._buf) - keep]
                return out
            if start > 0:
                out.append(Rejected("no_header", start))
                del self._buf[:start]
            if len(self._buf) < FRAME_LEN:
                return out
            frame = bytes(self._buf[:FRAME_LEN])
            (stored,) = struct.unpack_from("<H", frame, 1542)
            if frame_checksum(frame) != stored:
                # A false header inside noise: skip past it and search again rather than dropping 1544 bytes.
                out.append(Rejected("checksum", len(HEADER)))
                del self._buf[: len(HEADER)]
                continue
            del self._buf[:FRAME_LEN]
            pixels = np.frombuffer(frame, dtype="<i2", count=ROWS * COLS, offset=4)
            temps_c = np.fliplr(pixels.reshape(ROWS, COLS)).astype(np.float32) / np.float32(100.0)
            (ta_centi,) = struct.unpack_from("<h", frame, 1540)
            out.append(ThermalImage(temps_c=temps_c, ambient_c=ta_centi / 100.0))


class GyMcu90640Config(StrictModel):
    type: Literal["gy_mcu90640"]
    port: SerialPortName = Field(description="pyserial URL or device path, e.g. /dev/serial/by-path/…")
    baudrate: Literal[9600, 115200, 460800] = Field(115200, description="UART speed; 8 Hz needs 460800.")
    rate_hz: float = Field(4.0, description="Requested refresh rate, Hz: one of 0.5, 1, 2, 4, 8.")
    emissivity: float = Field(0.98, ge=0.1, le=1.0, description="Skin emissivity (IEC 80601-2-59: 0.98).")


    @field_validator("rate_hz")
    @classmethod
    def _known_rate(cls, value: float) -> float:
        if value not in RATE_CODES:
            raise ValueError(f"must be one of {sorted(RATE_CODES)}")
        return value


class GyMcu90640Device(SerialDevice):
    kind = "thermal"

    def __init__(self, device_id: str, config: GyMcu90640Config) -> None:
        super().__init__(device_id, config.port, config.baudrate)
        self.config = config
        self.parser = GyMcu90640Parser()
        self.seq = 0

    def initialise(self) -> None:
        # The module may have rebooted into a saved mode: re-send everything after every (re)connect.
        self.parser = GyMcu90640Parser()
        for cmd in (cmd_rate(self.config.rate_hz), cmd_emissivity(self.config.emissivity), CMD_CONTINUOUS):
            self.link.write(cmd)

    def serve(self, emit: Emit) -> None:
        chunk = self.link.read()
        if not chunk:
            return
        t_mono, t_wall = monotonic_now()
        for item in self.parser.feed(chunk):
            if isinstance(item, Rejected):
                self.rejected[item.reason] += 1
            elif isinstance(item, ThermalImage):
                self.seq += 1
                self._count_item()
                emit(ThermalFrame(self.device_id, self.seq, t_mono, t_wall, item.temps_c, item.ambient_c))
