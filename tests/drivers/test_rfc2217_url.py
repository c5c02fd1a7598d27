"""rfc2217:// — a remote serial port server (as on a terminal server) in front of a GY-MCU90640 whose module
was saved at 9600 baud: the driver's baud commands and speed changes travel over RFC 2217."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
import serial
import serial.rfc2217

from drivers.sim.gy_mcu90640_sim import GyMcu90640Simulator
from tests.drivers.test_pty_devices import _check_90640, make_device, running, simulated, thermal_scene

# pyserial 3.5's RFC 2217 client still calls Thread.setDaemon()/setName().
pytestmark = [pytest.mark.timeout(60), pytest.mark.filterwarnings("ignore::DeprecationWarning")]


class PtyPort(serial.Serial):
    """A pty has no modem lines (TIOCMGET/TIOCMBIS fail); a terminal server's port reports them idle."""

    cts = dsr = ri = cd = property(lambda self: False)  # type: ignore[assignment]

    def _update_dtr_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass


class Rfc2217Server:
    """One client at a time, bridging TCP (RFC 2217) and a local serial port, after pyserial's example."""

    def __init__(self, device_path: str) -> None:
        self.device_path = device_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, name="rfc2217-accept")]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        port = PtyPort(self.device_path, 115200, timeout=0.05)
        write_lock = threading.Lock()

        class Connection:
            def write(self, data: bytes) -> None:
                with write_lock:
                    conn.sendall(data)

        manager = serial.rfc2217.PortManager(port, Connection())
        done = threading.Event()

        def serial_to_net() -> None:
            while not done.is_set() and not self.stop.is_set():
                try:
                    data = port.read(port.in_waiting or 1)
                    if data:
                        Connection().write(b"".join(manager.escape(data)))
                except (OSError, serial.SerialException):
                    break
            done.set()

        pump = threading.Thread(target=serial_to_net, name="rfc2217-pump")
        pump.start()
        conn.settimeout(0.1)
        try:
            while not done.is_set() and not self.stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    break
                port.write(b"".join(manager.filter(data)))
        except OSError:
            pass
        finally:
            done.set()
            pump.join(timeout=5)
            port.close()
            conn.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        self.listener.close()


def test_rfc2217_url_carries_baud_changes_to_a_module_at_another_speed(tmp_path: Path) -> None:
    sim = GyMcu90640Simulator(thermal_scene, rate_hz=8.0, link_path=tmp_path / "port")
    with simulated(sim):
        assert isinstance(sim, GyMcu90640Simulator)
        sim.baudrate = 115200  # the module's saved speed; the driver wants 460800
        server = Rfc2217Server(sim.port)
        try:
            device = make_device(
                "gy_mcu90640", f"rfc2217://127.0.0.1:{server.port}", baudrate=460800, rate_hz=8.0
            )
            with running(device) as got:
                assert got.wait_for(3, 15.0), device.status()
                _check_90640(got.items[-1])
            assert sim.baudrate == 460800 and device.baud_corrections == 1  # type: ignore[attr-defined]
        finally:
            server.close()
