"""Unattended lifecycle: lane isolation on unplug, the systemd watchdog, SIGTERM drain, SIGHUP reload."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.service import Service
from edge.simulation import script_scene
from edge.supervisor import Supervisor, SystemdNotifier
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def all_febrile(count: int, lane: int = 0, spacing_s: float = 1.25) -> list:
    return script_scene(
        count=count,
        febrile=tuple(range(count)),
        key_region=(),
        spacing_s=spacing_s,
        dwell_s=spacing_s * 0.6,
        lane=lane,
    )


def test_unplugged_thermal_sensor_degrades_only_its_lane(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [all_febrile(14, 0), all_febrile(14, 1)])
    central = CentralSystem(mosquitto.port, "demo-station")
    service = Service(rig.config)
    service.start()
    try:
        assert central.wait_until(lambda: len(central.of_kind("alert")) >= 2, timeout_s=15)
        rig.lanes[0].thermal.unplug()
        unplugged_at = time.time()
        deadline = time.monotonic() + 5
        while service.status()["lanes"]["lane-1"]["state"] == "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
        lanes = service.status()["lanes"]
        assert lanes["lane-1"]["state"] == "degraded" and "lane-1.thermal" in lanes["lane-1"]["reason"]
        assert (lanes["lane-2"]["state"], lanes["lane-2"]["reason"]) == ("ok", "")
        # The centre sees it too, in the retained status message.
        assert central.wait_until(
            lambda: any(
                s["devices"].get("lane-1.thermal", {}).get("state") not in (None, "connected")
                for s in central.of_kind("status")
            ),
            timeout_s=10,
        )
        time.sleep(4.0)
        after = [a for a in central.of_kind("alert") if a["time_utc"] > _iso(unplugged_at + 1.0)]
        assert {a["lane_id"] for a in after} == {"lane-2"}, (
            "only lane-2 can publish while lane-1 is unplugged"
        )
        rig.lanes[0].thermal.replug()
        deadline = time.monotonic() + 5
        while service.status()["lanes"]["lane-1"]["state"] != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert service.status()["lanes"]["lane-1"]["state"] == "ok"
    finally:
        service.stop()
        central.close()
        rig.close()


def _iso(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NotifySocket:
    """Stands in for systemd's notification socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def pings_between(self, start: float, end: float) -> int:
        return sum(1 for t, m in self.received if start <= t < end and "WATCHDOG=1" in m)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def test_hung_worker_stops_watchdog_pings(tmp_path: Path, mosquitto: Mosquitto, monkeypatch) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [all_febrile(30)])
    notify = NotifySocket(tmp_path / "notify.sock")
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # ping period 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    supervisor = Supervisor(rig.config_path, SystemdNotifier(str(notify.path)), stall_s=1.0)
    runner = threading.Thread(target=supervisor.run, daemon=True)
    runner.start()
    hang = threading.Event()
    try:
        deadline = time.monotonic() + 10
        while not any("READY=1" in m for _, m in notify.received) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("READY=1" in m for _, m in notify.received)
        time.sleep(1.0)
        now = time.monotonic()
        assert (
            notify.pings_between(now - 1.0, now) >= 2
        )  # healthy: pings flow (period 0.2 s; slack for a busy CI)

        lane = supervisor.service.lanes[0]
        original_step = lane.step
        monkeypatch.setattr(lane, "step", lambda timeout_s: hang.wait(30) and original_step(timeout_s))
        hung_at = time.monotonic()
        time.sleep(3.0)
        assert (
            notify.pings_between(hung_at + 1.5, hung_at + 3.0) == 0
        )  # stall_s plus one period, then silence
        assert "lane-lane-1" in supervisor.last_stale

        hang.set()  # the thread recovers: pings resume
        time.sleep(1.0)
        now = time.monotonic()
        assert notify.pings_between(now - 0.8, now) >= 2
    finally:
        hang.set()
        supervisor.stop_requested.set()
        runner.join(10)
        notify.close()
        rig.close()
    assert any("STOPPING=1" in m for _, m in notify.received)


def _start_service(config_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


class LogReader:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[dict] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                self.lines.append(json.loads(line))
            except json.JSONDecodeError:
                self.lines.append({"msg": line.rstrip()})

    def wait_for(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in entry.get("msg", "") for entry in self.lines):
                return True
            time.sleep(0.05)
        return False

    def join(self) -> None:
        self._thread.join(5)


def test_sigterm_during_a_burst_loses_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = SimulatedCheckpoint(
        tmp_path, mosquitto.port, [all_febrile(40, spacing_s=0.8)], screening_extra="passenger_gap_s = 0.25\n"
    )
    text = rig.config_path.read_text().replace('log_level = "WARNING"', 'log_level = "INFO"')
    rig.config_path.write_text(text)
    central = CentralSystem(mosquitto.port, "demo-station")
    proc = _start_service(rig.config_path)
    logs = LogReader(proc)
    try:
        assert central.wait_until(lambda: len(central.of_kind("alert")) >= 4, timeout_s=20)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = proc.wait(10)
        stop_s = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
        rig.close()
    logs.join()
    time.sleep(0.5)
    central.close()
    assert code == 0
    assert stop_s < 5.0
    decided = [e for e in logs.lines if ": medical_referral (fever)" in e.get("msg", "")]
    delivered = {a["message_id"] for a in central.of_kind("alert")}
    with sqlite3.connect(tmp_path / "state" / "outbox.sqlite3") as db:
        pending = {row[0] for row in db.execute("SELECT message_id FROM outbox WHERE kind = 'alert'")}
    assert len(decided) >= 4
    assert len(delivered | pending) == len(decided), (len(delivered), len(pending), len(decided))


def test_sighup_with_a_broken_config_keeps_the_running_one(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [all_febrile(30)])
    good = rig.config_path.read_text().replace('log_level = "WARNING"', 'log_level = "INFO"')
    rig.config_path.write_text(good)
    central = CentralSystem(mosquitto.port, "demo-station")
    proc = _start_service(rig.config_path)
    logs = LogReader(proc)
    try:
        assert logs.wait_for("started", 15)
        rig.config_path.write_text(good.replace("threshold_c = 37.3", 'threshold_c = "hot"\nbogus = 1'))
        proc.send_signal(signal.SIGHUP)
        assert logs.wait_for("reload refused", 10)
        refused = next(e["msg"] for e in logs.lines if "reload refused" in e.get("msg", ""))
        assert "screening.threshold_c" in refused and "screening.bogus: unknown key" in refused
        before = len(central.of_kind("alert"))
        assert central.wait_until(lambda: len(central.of_kind("alert")) >= before + 2, timeout_s=15)
        assert proc.poll() is None  # still running, still publishing, on the old configuration
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        central.close()
        rig.close()


def test_reload_applies_a_valid_change_and_survives_an_unusable_key_file(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [all_febrile(4)])
    supervisor = Supervisor(rig.config_path, SystemdNotifier(""))
    supervisor.service.start()
    try:
        good = rig.config_path.read_text()
        rig.config_path.write_text(good.replace("threshold_c = 37.3", "threshold_c = 37.8"))
        assert supervisor.reload() is True
        assert supervisor.service.config.screening.threshold_c == 37.8

        missing_key = tmp_path / "missing.key"
        rig.config_path.write_text(good.replace(str(rig.key_file), str(missing_key)))
        assert supervisor.reload() is False  # valid TOML, unusable file: the previous configuration runs on
        assert supervisor.service.config.screening.threshold_c == 37.8
        assert supervisor.service.lanes[0].thermal.status()["state"] != "stopped"
    finally:
        supervisor.service.stop()
        rig.close()
