"""A real Mosquitto broker for tests: `mosquitto -c CONF` on a free loopback port, as a subprocess.

Mosquitto run as root drops privileges to the `mosquitto` user, so its working directory, config, certificates
and keys are made readable by everyone (test-only throwaway material) and it logs to stdout, never to a file.
The broker can be stopped (SIGTERM) and restarted on the same port, e.g. to simulate an outage.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def mosquitto_available() -> bool:
    return Path(MOSQUITTO).is_file()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_world_readable(path: Path) -> None:
    """Directories traversable and files readable by the `mosquitto` user (throwaway test material only)."""
    for current in [path, *path.rglob("*")]:
        mode = 0o755 if current.is_dir() else 0o644
        with contextlib.suppress(OSError):
            os.chmod(current, mode)


class Mosquitto:
    """One broker process; `start()`, `stop()`, `restart()` keep the same port and configuration.

    `{workdir}` in the configuration text is replaced by the broker's own directory (for persistence
    files and certificates). That directory is made under the system temp dir rather than pytest's
    `tmp_path`, whose root-only parents the unprivileged `mosquitto` user cannot traverse.
    """

    def __init__(
        self,
        extra_config: str = "",
        port: int | None = None,
        workdir: Path | None = None,
        listener_config: str | None = None,
        full_config: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="mosquitto-", dir="/tmp"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o777)  # persistence files are written by the unprivileged user
        self.config_path = self.workdir / "mosquitto.conf"
        listener = listener_config if listener_config is not None else "allow_anonymous true\n"
        listener = listener.replace("{workdir}", str(self.workdir))
        self.config_text = (
            f"listener {self.port} 127.0.0.1\n"
            f"{listener}"
            "log_dest stdout\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"{extra_config}"
        ).replace("{workdir}", str(self.workdir))
        if full_config is not None:
            # A complete configuration (e.g. the one in docs/mosquitto.md) with {port} and {workdir} filled in.
            self.config_text = (
                full_config.replace("{port}", str(self.port)).replace("{workdir}", str(self.workdir))
                + "\nlog_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
            )
        self.config_path.write_text(self.config_text)
        self.process: subprocess.Popen[bytes] | None = None
        self._log_lines: list[str] = []
        self._log_thread: threading.Thread | None = None

    @property
    def log(self) -> str:
        return "\n".join(self._log_lines)

    def start(self, timeout_s: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        make_world_readable(self.workdir)
        os.chmod(self.workdir, 0o777)
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        self._log_thread = threading.Thread(target=self._pump_log, args=(self.process,), daemon=True)
        self._log_thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                time.sleep(0.1)
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}:\n{self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(
            f"mosquitto did not accept connections on {self.port} within {timeout_s} s:\n{self.log}"
        )

    def _pump_log(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._log_lines.append(raw.decode("utf-8", "replace").rstrip())

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if self._log_thread is not None:
            self._log_thread.join(2)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def running_mosquitto(extra_config: str = "", **kwargs: object) -> Iterator[Mosquitto]:
    broker = Mosquitto(extra_config, **kwargs)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
