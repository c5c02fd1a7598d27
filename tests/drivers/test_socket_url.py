"""Any pyserial URL: a GY-MCU90640 behind a serial-to-TCP bridge (socket://), including the bridge dropping the
connection and coming back."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from drivers.thermal import gy_mcu90640 as proto
from tests.drivers.test_pty_devices import _check_90640, make_device, running, thermal_scene

pytestmark = pytest.mark.timeout(60)


class Bridge:
    """A TCP server streaming frames to whoever connects, the way a ser2net port would."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.port = self.server.getsockname()[1]
        self.drop = threading.Event()
        self.stop = threading.Event()
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, name="bridge")
        self.thread.start()

    def _serve(self) -> None:
        frame = proto.encode_frame(*thermal_scene(0.0))
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                while not self.stop.is_set() and not self.drop.is_set():
                    try:
                        conn.sendall(frame)
                    except OSError:
                        break
                    time.sleep(0.125)
            self.drop.clear()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.server.close()


def test_socket_url_round_trip_and_reconnect() -> None:
    bridge = Bridge()
    try:
        device = make_device("gy_mcu90640", f"socket://127.0.0.1:{bridge.port}", baudrate=460800, rate_hz=8.0)
        with running(device) as got:
            assert got.wait_for(3, 5.0), device.status()
            _check_90640(got.items[-1])
            bridge.drop.set()  # the bridge closes the TCP connection
            n = got.count()
            assert got.wait_for(n + 3, 5.0), device.status()
        assert bridge.connections >= 2
        assert device.outages == 1 and device.errors["read_failed"] == 1
    finally:
        bridge.close()
