"""The systemd unit: `systemd-analyze verify` must print nothing (it exits 0 on some parse errors), and the
hardening exposure must stay at or below 2.0 (a bare unit scores 9.6)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "checkpoint-edge.service"
INSTALLED_BINARY = "/opt/checkpoint-edge/bin/checkpoint-edge"


def _analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze missing: scripts/test.sh installs the systemd package")
        pytest.skip("systemd-analyze not installed")
    return tool


def unit_as_installed(tmp_path: Path) -> Path:
    """The unit with its ExecStart pointing at this checkout's console script (verify checks it exists)."""
    binary = Path(sys.executable).parent / "checkpoint-edge"
    assert binary.exists(), f"{binary} missing: install the project (pip install -e .)"
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))
    return unit


def test_unit_verifies_without_any_output(tmp_path: Path) -> None:
    result = subprocess.run(
        [_analyze(), "verify", str(unit_as_installed(tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


def test_unit_security_exposure_at_most_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [_analyze(), "security", "--offline=true", str(unit_as_installed(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= 2.0


def test_unit_keeps_the_appliance_alive() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "Restart=always",
        "StartLimitIntervalSec=0",
        "RestartPreventExitStatus=78",
        "WatchdogSec=30s",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "DeviceAllow=char-ttyUSB rw",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert "check-config" in text  # ExecStartPre validates before start


def test_a_broken_config_stops_the_unit_instead_of_looping() -> None:
    """RestartPreventExitStatus= applies to the main process only (systemd compares main_exec_status): a 78 from
    an ExecStartPre= would be restarted for ever. So every ExecStartPre= ignores its failure ("-") and the 78
    that stops the unit comes from ExecStart=, whose `run` refuses a broken configuration itself
    (tests/edge/test_config.py: run exits 78 naming every error)."""
    lines = [line for line in UNIT.read_text().splitlines() if not line.startswith("#")]
    pre = [line for line in lines if line.startswith("ExecStartPre=")]
    assert pre and all(line.startswith("ExecStartPre=-") for line in pre), pre
    assert "RestartPreventExitStatus=78" in lines
    assert any(line.startswith("ExecStart=") and " run --config " in line for line in lines)


def test_device_access_is_limited_to_the_classes_the_drivers_open() -> None:
    allowed = re.findall(r"^DeviceAllow=(\S+)", UNIT.read_text(), re.M)
    assert sorted(allowed) == ["char-ttyACM", "char-ttyUSB", "char-video4linux"]
    assert re.search(r"^DevicePolicy=closed$", UNIT.read_text(), re.M)
