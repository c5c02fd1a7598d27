"""The serial transport: port names, backoff, and how link failures are classified."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import serial

from drivers.transport import Backoff, DeviceGone, SerialLink, check_serial_port


@pytest.mark.parametrize(
    "port",
    [
        "/dev/ttyUSB0",
        "/dev/serial/by-path/platform-xhci-hcd.0-usb-0:1.3:1.0-port0",
        "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0",
        "loop://",
        "socket://10.0.0.5:4001",
        "rfc2217://10.0.0.5:2217",
    ],
)
def test_accepted_port_names(port: str) -> None:
    assert check_serial_port(port) == port


@pytest.mark.parametrize("port", ["ttyUSB0", "", "http://x", "/"])
def test_refused_port_names(port: str) -> None:
    with pytest.raises(ValueError):
        check_serial_port(port)


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(floor_s=0.1, ceiling_s=1.0)
    delays = [backoff.next_delay_s() for _ in range(12)]
    assert 0.05 <= delays[0] <= 0.1
    assert all(d <= 1.0 for d in delays)
    assert all(d >= 0.5 for d in delays[4:])  # capped: at least half the ceiling once there
    assert len({round(d, 6) for d in delays[4:]}) > 1  # jitter: not in lockstep
    backoff.reset()
    assert backoff.next_delay_s() <= 0.1


def test_backoff_wait_is_cancelled_by_the_stop_event() -> None:
    stop = threading.Event()
    backoff = Backoff(floor_s=5.0, ceiling_s=5.0)
    stop.set()
    started = time.monotonic()
    backoff.wait(stop)
    assert time.monotonic() - started < 0.1


def test_loop_url_round_trip() -> None:
    link = SerialLink("loop://", 115200, read_timeout_s=0.05)
    link.open()
    try:
        link.write(b"\xaa\xaa\xaa\x96\x69")
        got = b""
        deadline = time.monotonic() + 1.0
        while len(got) < 5 and time.monotonic() < deadline:
            got += link.read()
        assert got == b"\xaa\xaa\xaa\x96\x69"
        started = time.monotonic()
        assert link.read() == b""  # nothing waiting: returns after the read timeout, no busy loop
        assert 0.03 <= time.monotonic() - started < 0.5
    finally:
        link.close()


def test_missing_port_is_transient_and_a_locked_port_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(DeviceGone) as missing:
        SerialLink(str(tmp_path / "ttyUSB9"), 9600).open()
    assert not missing.value.permanent

    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    holder = serial.Serial(os.ttyname(slave), 9600, exclusive=True)
    try:
        with pytest.raises(DeviceGone) as locked:
            SerialLink(os.ttyname(slave), 9600).open()
        assert locked.value.permanent and "exclusively lock" in str(locked.value)
    finally:
        holder.close()
        os.close(master)
        os.close(slave)


def test_closed_link_raises_device_gone() -> None:
    with pytest.raises(DeviceGone, match="not open"):
        SerialLink("loop://", 9600).read()
