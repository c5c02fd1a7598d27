"""Serial transport: open any pyserial URL exclusively, read with timeouts, and report the link's state.

Parsing never happens here; a device feeds what this layer reads into its pure parser.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Annotated

import serial
from pydantic import AfterValidator

log = logging.getLogger(__name__)

# pyserial's URL handlers (serial/urlhandler/protocol_*.py) that make sense for a device link.
_URL_SCHEMES = ("loop", "socket", "rfc2217", "spy", "hwgrep", "alt", "cp2110")
_URL_RE = re.compile(rf"^({'|'.join(_URL_SCHEMES)})://.*$")


def check_serial_port(value: str) -> str:
    """Accept a pyserial URL or an absolute device path; anything else is a config error."""
    if _URL_RE.match(value) or (value.startswith("/") and len(value) > 1) or re.fullmatch(r"COM\d+", value):
        return value
    raise ValueError("not a serial URL or device path")


SerialPortName = Annotated[str, AfterValidator(check_serial_port)]


class DeviceGone(Exception):
    """The link failed (unplugged, I/O error, refused): the device loop closes and reconnects."""


@dataclass(frozen=True)
class LinkState:
    state: str  # "connecting" | "connected" | "reconnecting" | "stopped"
    since_wall: float
    last_error: str | None = None


class Backoff:
    """Capped exponential backoff with full jitter; cancellable through the stop event."""

    def __init__(self, floor_s: float = 0.2, ceiling_s: float = 10.0) -> None:
        self.floor_s, self.ceiling_s = floor_s, ceiling_s
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    def wait(self, stop: threading.Event) -> None:
        cap = min(self.ceiling_s, self.floor_s * (2**self._attempt))
        self._attempt += 1
        stop.wait(random.uniform(self.floor_s, max(self.floor_s, cap)))


class SerialLink:
    """One serial connection. Every failure surfaces as DeviceGone so callers have one thing to handle."""

    def __init__(self, port: str, baudrate: int, read_timeout_s: float = 0.05) -> None:
        self.port, self.baudrate, self.read_timeout_s = port, baudrate, read_timeout_s
        self._serial: serial.SerialBase | None = None

    def open(self) -> None:
        try:
            # exclusive=True: a second process on the same port would silently steal bytes (pyserial #86).
            kwargs: dict[str, object] = {"baudrate": self.baudrate, "timeout": self.read_timeout_s}
            if "://" not in self.port:
                kwargs["exclusive"] = True
            self._serial = serial.serial_for_url(self.port, **kwargs)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceGone(f"cannot open {self.port}: {exc}") from exc

    def close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None

    def read(self, max_bytes: int = 4096) -> bytes:
        """Up to max_bytes; blocks at most read_timeout_s when nothing is waiting."""
        s = self._require()
        try:
            waiting = s.in_waiting
            return bytes(s.read(min(max_bytes, waiting) if waiting else 1))
        except (serial.SerialException, OSError) as exc:
            raise DeviceGone(f"read failed on {self.port}: {exc}") from exc

    def write(self, data: bytes) -> None:
        s = self._require()
        try:
            s.write(data)
            s.flush()
        except (serial.SerialException, OSError) as exc:
            raise DeviceGone(f"write failed on {self.port}: {exc}") from exc

    def reset_input(self) -> None:
        try:
            self._require().reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise DeviceGone(f"flush failed on {self.port}: {exc}") from exc

    def _require(self) -> serial.SerialBase:
        if self._serial is None:
            raise DeviceGone(f"{self.port} is not open")
        return self._serial


def monotonic_now() -> tuple[float, float]:
    return time.monotonic(), time.time()
