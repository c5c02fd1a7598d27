"""A throwaway MQTT broker on 127.0.0.1 for the demo and the benchmarks: Mosquitto when it is installed,
else amqtt (pure Python) in a background thread. Never used by the service itself."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"no broker listening on 127.0.0.1:{port} after {timeout_s} s")


class LocalBroker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.kind = "mosquitto" if shutil.which("mosquitto") else "amqtt"
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="checkpoint-broker-")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    def start(self) -> LocalBroker:
        if self.kind == "mosquitto":
            conf = Path(self._tmp.name) / "mosquitto.conf"
            conf.write_text(
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "log_dest stdout\nmax_queued_messages 100000\n"
            )
            conf.chmod(0o644)
            Path(self._tmp.name).chmod(0o755)  # mosquitto drops to its own user when started as root
            self._proc = subprocess.Popen(
                ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            self._start_amqtt()
        wait_for_port(self.port)
        return self

    def _start_amqtt(self) -> None:
        import logging

        from amqtt.broker import Broker  # only needed where Mosquitto is missing

        logging.getLogger("amqtt").setLevel(logging.CRITICAL)  # it logs every client disconnect as a warning
        logging.getLogger("transitions").setLevel(logging.ERROR)

        ready = threading.Event()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True},
        }

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopped = asyncio.Event()
            broker = Broker(config)
            await broker.start()
            ready.set()
            await self._stopped.wait()
            await broker.shutdown()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), name="amqtt-broker", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self._loop is not None:
            stopped = self._stopped
            if stopped is not None:
                self._loop.call_soon_threadsafe(stopped.set)
            if self._thread is not None:
                self._thread.join(5)
            self._loop = None
        self._tmp.cleanup()
