"""Serial transport: open any pyserial URL exclusively, read with timeouts, reconnect with backoff.

Parsing never happens here; a device feeds what this layer reads into its pure parser.
"""

from __future__ import annotations

import contextlib
import errno
import random
import re
import threading
import time
from typing import Annotated

import serial
from pydantic import AfterValidator

# pyserial's URL handlers (serial/urlhandler/protocol_*.py) that make sense for a device link.
_URL_SCHEMES = ("loop", "socket", "rfc2217", "spy", "hwgrep", "alt", "cp2110")
_URL_RE = re.compile(rf"^({'|'.join(_URL_SCHEMES)})://.*$")
try:
    import termios

    # pyserial lets termios.error (not an OSError) escape from flush()/tcdrain on a vanished tty.
    _LINK_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - not POSIX
    _LINK_ERRORS = (serial.SerialException, OSError)

_SETTING_ERRORS: tuple[type[BaseException], ...] = (*_LINK_ERRORS, ValueError)
# Open failures a retry cannot fix without a technician (wrong permissions, another process owns the port).
_PERMANENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EAGAIN, errno.EBUSY}


def check_serial_port(value: str) -> str:
    """Accept a pyserial URL or an absolute device path; anything else is a config error."""
    if _URL_RE.match(value) or (value.startswith("/") and len(value) > 1) or re.fullmatch(r"COM\d+", value):
        return value
    raise ValueError("not a serial URL or device path")


SerialPortName = Annotated[str, AfterValidator(check_serial_port)]


class DeviceGone(Exception):
    """The link failed (unplugged, I/O error, refused): the device loop closes and reconnects.

    `permanent` marks failures that retrying will not fix on its own (permission denied, port locked by
    another process, a device that answers in a protocol we do not speak); the device reports them as
    "failed" rather than "reconnecting", and keeps retrying at the backoff ceiling.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Backoff:
    """Capped exponential backoff with jitter; cancellable through the stop event.

    The ceiling is short by default (1 s): reopening a missing port costs one failed open(2), and a
    replugged device must be back within ~2 s. Half of each wait is jitter so that several devices
    on one USB hub do not retry in lockstep.
    """

    def __init__(self, floor_s: float = 0.1, ceiling_s: float = 1.0) -> None:
        if not 0 < floor_s <= ceiling_s:
            raise ValueError("need 0 < floor_s <= ceiling_s")
        self.floor_s, self.ceiling_s = floor_s, ceiling_s
        self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0

    def next_delay_s(self) -> float:
        cap = min(self.ceiling_s, self.floor_s * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return cap / 2 + random.uniform(0.0, cap / 2)

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self.next_delay_s())


class SerialLink:
    """One serial connection. Every failure surfaces as DeviceGone so callers have one thing to handle."""

    def __init__(self, port: str, baudrate: int, read_timeout_s: float = 0.05) -> None:
        self.port, self.baudrate, self.read_timeout_s = port, baudrate, read_timeout_s
        self._serial: serial.SerialBase | None = None

    def open(self) -> None:
        kwargs: dict[str, object] = {"baudrate": self.baudrate, "timeout": self.read_timeout_s}
        if "://" not in self.port:
            # exclusive=True: a second process on the same port would silently steal bytes (pyserial #86).
            kwargs["exclusive"] = True
        try:
            self._serial = serial.serial_for_url(self.port, **kwargs)
        except ValueError as exc:
            raise DeviceGone(f"cannot open {self.port}: {exc}", permanent=True) from exc
        except _LINK_ERRORS as exc:
            code = getattr(exc, "errno", None)
            locked = "exclusively lock" in str(exc)
            raise DeviceGone(
                f"cannot open {self.port}: {exc}", permanent=locked or code in _PERMANENT_ERRNOS
            ) from exc

    def close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(*_LINK_ERRORS):
                self._serial.close()
            self._serial = None

    def set_baudrate(self, baudrate: int) -> None:
        """After telling a device to switch speed, follow it."""
        self.baudrate = baudrate
        try:
            self._require().baudrate = baudrate
        except _SETTING_ERRORS as exc:
            raise DeviceGone(f"cannot set {baudrate} baud on {self.port}: {exc}") from exc

    def read(self, max_bytes: int = 4096) -> bytes:
        """Up to max_bytes; blocks at most read_timeout_s when nothing is waiting (no busy loop)."""
        s = self._require()
        try:
            waiting = s.in_waiting
            return bytes(s.read(min(max_bytes, waiting) if waiting else 1))
        except _LINK_ERRORS as exc:
            raise DeviceGone(f"read failed on {self.port}: {exc}") from exc

    def write(self, data: bytes) -> None:
        s = self._require()
        try:
            s.write(data)
            s.flush()
        except _LINK_ERRORS as exc:
            raise DeviceGone(f"write failed on {self.port}: {exc}") from exc

    def reset_input(self) -> None:
        try:
            self._require().reset_input_buffer()
        except _LINK_ERRORS as exc:
            raise DeviceGone(f"flush failed on {self.port}: {exc}") from exc

    def _require(self) -> serial.SerialBase:
        if self._serial is None:
            raise DeviceGone(f"{self.port} is not open")
        return self._serial


def monotonic_now() -> tuple[float, float]:
    return time.monotonic(), time.time()
