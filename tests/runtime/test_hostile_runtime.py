"""The running service against hostile or broken input: it keeps screening and says what it refused, in status."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow


def run_scene(rig: SimulatedCheckpoint, central: CentralSystem, alerts: int) -> Service:
    service = Service(rig.config)
    service.start()
    try:
        rig.wait_scene_end()
        assert central.wait_until(lambda: len(central.of_kind("alert")) >= alerts, timeout_s=15)
    finally:
        service.stop()
        rig.close()
    return service


def test_a_world_readable_key_is_refused_and_screening_goes_on_with_identity_withheld(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=6, febrile=(2,), key_region=())])
    rig.key_file.chmod(0o644)
    central = CentralSystem(mosquitto.port, "demo-station")
    try:
        service = run_scene(rig, central, alerts=1)
    finally:
        central.close()
    (alert,) = central.of_kind("alert")
    assert (
        alert["category"] == "medical_referral" and alert["identity"] is None
    )  # screened, identity withheld
    privacy = service.status()["privacy"]
    assert privacy["identity"] == "withheld" and "mode 0644" in privacy["problem"]
    published = [s["privacy"] for s in central.of_kind("status") if "privacy" in s]
    assert published and all(p["identity"] == "withheld" and "chmod 600" in p["problem"] for p in published)
    assert any(
        "identity withheld" in r.getMessage() and "mode 0644" in r.getMessage() for r in caplog.records
    )


def test_a_hostile_lists_file_never_stops_screening_and_is_reported(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    lists_file = tmp_path / "lists.json"
    lists_file.write_bytes(b"[" * 100_000 + b"]" * 100_000)  # the RecursionError that used to stop `run`
    scene = script_scene(count=6, febrile=(2,), key_region=())
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [scene], rules_extra=f'lists_file = "{lists_file}"\n')
    central = CentralSystem(mosquitto.port, "demo-station")
    try:
        service = run_scene(rig, central, alerts=1)
    finally:
        central.close()
    assert [a["category"] for a in central.of_kind("alert")] == ["medical_referral"]
    assert service.status()["rule_lists"]["rejected"] == 1
    reported = [s["rule_lists"] for s in central.of_kind("status") if "rule_lists" in s]
    assert reported and reported[0]["rejected"] == 1 and "nested too deeply" in reported[0]["last_rejection"]
    assert reported[0]["version"] == "config"
