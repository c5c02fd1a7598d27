"""`checkpoint-edge selftest`: names each failure and exits non-zero; passes on a healthy setup."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from edge.clock import clock_synchronised
from edge.simulation import script_scene
from tests.fakes.checkpoint import SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _selftest(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "selftest", "--config", str(config), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clock_args() -> tuple[str, ...]:
    # A lab machine without a time source cannot pass the clock check; say so rather than pretend.
    return () if clock_synchronised() else ("--skip", "clock")


def test_healthy_simulated_setup_passes(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=2)])
    try:
        rig.key_file.chmod(0o600)
        result = _selftest(rig.config_path, *_clock_args())
    finally:
        rig.close()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "FAIL" not in out
    for expected in (
        "PASS  secret privacy.hmac_key_file:",
        "PASS  port lanes[0].thermal:",
        "PASS  port lanes[0].id_scanners[0]:",
        "PASS  models: loaded",
        f"PASS  broker: 127.0.0.1:{mosquitto.port} accepts TCP connections",
        "PASS  disk:",
        "selftest: all checks passed",
    ):
        assert expected in out, out
    if clock_synchronised():
        assert "PASS  clock:" in out
    else:
        assert "SKIP  clock" in out


def test_missing_key_missing_port_and_down_broker_are_each_named(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=2)])
    try:
        down = _free_port()
        text = rig.config_path.read_text()
        thermal_port = str(rig.lanes[0].thermal.port)
        text = text.replace(f"port = {mosquitto.port}", f"port = {down}")
        text = text.replace(thermal_port, str(tmp_path / "ttyUSB-unplugged"))
        rig.config_path.write_text(text)
        os.unlink(rig.key_file)
        result = _selftest(rig.config_path, "--skip", "clock")
    finally:
        rig.close()
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert f"FAIL  secret privacy.hmac_key_file: {rig.key_file}: No such file or directory" in out
    assert f"FAIL  port lanes[0].thermal: {tmp_path / 'ttyUSB-unplugged'} does not exist" in out
    assert f"FAIL  broker: 127.0.0.1:{down} unreachable" in out
    assert "PASS  port lanes[0].id_scanners[0]:" in out  # the others still pass
    assert "selftest: 3 check(s) failed" in out


def test_a_world_readable_key_fails(tmp_path: Path) -> None:
    from edge.selftest import check_secret

    key = tmp_path / "site.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    result = check_secret("privacy.hmac_key_file", key)
    assert not result.ok and "mode 0644" in result.detail
    key.chmod(0o600)
    assert check_secret("privacy.hmac_key_file", key).ok


def test_ports_held_by_the_running_service_pass(tmp_path: Path, mosquitto: Mosquitto) -> None:
    from tests.fakes.service_process import RunningService

    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=2)])
    text = rig.config_path.read_text()
    rig.config_path.write_text(text.replace('log_level = "WARNING"', 'log_level = "INFO"'))
    rig.key_file.chmod(0o600)
    service = RunningService(rig.config_path)
    try:
        service.wait_console(1)
        result = _selftest(rig.config_path, *_clock_args())
    finally:
        service.stop()
        rig.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"held by the running service (pid {service.process.pid})" in result.stdout


def test_selftest_fails_without_a_site_key_setting(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """check-config only warns (the service screens, identities withheld); selftest says it is not ready."""
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=2)])
    try:
        text = rig.config_path.read_text().replace(f'hmac_key_file = "{rig.key_file}"', "")
        rig.config_path.write_text(text)
        result = _selftest(rig.config_path, "--skip", "clock", "--skip", "ports")
    finally:
        rig.close()
    assert result.returncode == 1, result.stdout
    assert (
        "FAIL  site key: privacy.hmac_key_file is not set: alerts would withhold identities" in result.stdout
    )


def test_a_short_site_key_fails_with_the_services_own_reason(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=2)])
    try:
        rig.key_file.write_bytes(b"short")
        rig.key_file.chmod(0o600)
        result = _selftest(rig.config_path, "--skip", "clock")
    finally:
        rig.close()
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if "secret privacy.hmac_key_file" in x)
    assert line.startswith("FAIL") and "16" in line, line
