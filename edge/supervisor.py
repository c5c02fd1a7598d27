"""Process lifecycle under systemd: start-up, READY/STATUS/WATCHDOG notifications, SIGTERM drain, SIGHUP reload.

WATCHDOG=1 is sent only while every worker thread (lane workers, device loops, the uplink) has turned its
loop recently, so a hung driver or pipeline thread stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

from edge.calibration.dropins import write_pid_file
from edge.config import AppConfig, ConfigError, config_hash, load_config
from edge.privacy import KeyFileError, site_key_problem
from edge.service import Service
from edge.uplink import UplinkConfigError

log = logging.getLogger(__name__)

# A device loop may legitimately block for a response timeout (SAM read: ~2.5 s); this is far beyond that.
STALL_S = 15.0
READY_WAIT_S = 10.0


class SystemdNotifier:
    """The sd_notify datagram protocol: a few lines of socket code, a no-op outside systemd."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address = "\0" + address[1:] if address and address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, message: str) -> None:
        if self._socket is None or self._address is None:
            return
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)


def watchdog_period_s() -> float | None:
    """Half of WatchdogSec (as systemd advises), or None when the watchdog is off."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


class Supervisor:
    def __init__(
        self,
        config_path: Path,
        notifier: SystemdNotifier | None = None,
        stall_s: float = STALL_S,
        *,
        config: AppConfig | None = None,
    ) -> None:
        self.config_path = config_path
        self.notifier = notifier or SystemdNotifier()
        self.stall_s = stall_s
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.service = Service(config if config is not None else load_config(config_path), config_path)
        self.watchdog_pings = 0
        self.last_stale: list[str] = []

    def install_signal_handlers(self) -> None:
        def on_stop(signum: int, _frame: object) -> None:
            log.info("received %s: draining and stopping", signal.Signals(signum).name)
            self.stop_requested.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

    def run(self) -> int:
        # `checkpoint-edge calibrate` finds the running service here to SIGHUP it after writing a drop-in.
        pid_file = write_pid_file(self.service.config.storage.state_dir)
        self.service.start()
        self._wait_for_devices()
        self.notifier.notify(f"READY=1\nSTATUS={self.service.summary_line()}")
        period_s = watchdog_period_s() or 5.0
        next_ping = 0.0
        last_status = ""
        while not self.stop_requested.wait(min(0.5, period_s)):
            try:
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.reload()
                self.service.tick()
            except Exception:  # one bad item must not end the loop that keeps systemd's watchdog fed
                self.service.supervisor_errors += 1
                log.exception("supervisor: housekeeping failed; continuing")
            now = time.monotonic()
            if now >= next_ping:
                next_ping = now + period_s
                self._watchdog()
            status = self.service.summary_line()
            if status != last_status:
                self.notifier.notify(f"STATUS={status}")
                last_status = status
        self.notifier.notify("STOPPING=1")
        self.service.stop(timeout_s=4.5)
        pid_file.unlink(missing_ok=True)
        log.info("stopped cleanly")
        return 0

    def _watchdog(self) -> None:
        stale = self.service.stale_workers(self.stall_s)
        if stale:
            if stale != self.last_stale:
                log.error(
                    "no progress from %s for %.0f s: withholding the watchdog ping",
                    ", ".join(stale),
                    self.stall_s,
                )
        else:
            self.notifier.notify("WATCHDOG=1")
            self.watchdog_pings += 1
        self.last_stale = stale

    def _wait_for_devices(self) -> None:
        """READY means every device was opened or reported failed, not merely that threads exist."""
        deadline = time.monotonic() + READY_WAIT_S
        while time.monotonic() < deadline and not self.stop_requested.is_set():
            states = [d.status().get("state") for lane in self.service.lanes for d in lane.devices]
            if all(state not in (None, "connecting", "starting") for state in states):
                return
            time.sleep(0.05)

    def reload(self) -> bool:
        """SIGHUP: validate the file first; on any error keep running the old configuration."""
        try:
            new_config = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", "; ".join(exc.errors))
            self.notifier.notify(f"STATUS=reload refused: {exc.errors[0]}")
            return False
        key_problem = site_key_problem(new_config.privacy)
        if key_problem and self.service.site_key.problem is None:
            # Never trade a working site key for none: the running configuration keeps identities usable.
            log.error("reload refused, keeping the running configuration: %s", key_problem)
            self.notifier.notify(f"STATUS=reload refused: {key_problem}")
            return False
        if config_hash(new_config) == config_hash(self.service.config):
            log.info("reload: configuration unchanged")
            return True
        self.notifier.notify("RELOADING=1")
        log.info("reload: applying the new configuration")
        old_config = self.service.config
        self.service.stop(timeout_s=4.5)  # lanes turn what they hold into decisions; the outbox keeps them
        applied = True
        try:
            self.service = Service(new_config, self.config_path)
        except (KeyFileError, UplinkConfigError, OSError) as exc:
            # Valid TOML that names an unusable file: never end up with no service at all.
            log.error("reload failed (%s): restarting with the previous configuration", exc)
            self.service = Service(old_config, self.config_path)
            applied = False
        self.service.start()
        self._wait_for_devices()
        self.notifier.notify(f"READY=1\nSTATUS={self.service.summary_line()}")
        return applied
