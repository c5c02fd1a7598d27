"""The running service against hostile or broken input: it keeps screening and says what it refused, in status."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto
from tests.uplink.conftest import small_tmpfs as mounted_tmpfs

pytestmark = pytest.mark.slow
small_tmpfs = mounted_tmpfs  # a real 1 MiB tmpfs that can be remounted read-only


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


def test_a_damaged_outbox_is_moved_aside_and_screening_goes_on(tmp_path: Path, mosquitto: Mosquitto) -> None:
    from edge.outbox import Outbox
    from tests.uplink.conftest import alert_payload
    from tests.uplink.test_outbox_recovery import damage_pages

    state = tmp_path / "state"
    with Outbox(state / "outbox.sqlite3") as box:
        for n in range(200):
            box.append("alert", alert_payload(n, device_id="other"))
    damage_pages(state / "outbox.sqlite3")  # used to make `run` exit 1: "database disk image is malformed"
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=6, febrile=(2,), key_region=())])
    central = CentralSystem(mosquitto.port, "demo-station")
    try:
        service = run_scene(rig, central, alerts=1)
    finally:
        central.close()
    assert [a["category"] for a in central.of_kind("alert")] == ["medical_referral"]
    assert list(state.glob("outbox.sqlite3.damaged-*Z"))
    reported = [s["counters"] for s in central.of_kind("status") if "counters" in s]
    assert reported and reported[0]["outbox_damaged_files"] == 1
    assert service.status()["counters"]["outbox_damaged_files"] == 1


def test_a_read_only_state_directory_never_stops_screening(
    tmp_path: Path, mosquitto: Mosquitto, small_tmpfs: Path
) -> None:  # small_tmpfs: the fixture imported above
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    try:
        rig = SimulatedCheckpoint(
            tmp_path, mosquitto.port, [script_scene(count=6, febrile=(2,), key_region=())]
        )
        text = rig.config_path.read_text().replace(str(tmp_path / "state"), str(small_tmpfs / "state"))
        rig.config_path.write_text(text)
        central = CentralSystem(mosquitto.port, "demo-station")
        try:
            run_scene(rig, central, alerts=1)
        finally:
            central.close()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    assert [a["category"] for a in central.of_kind("alert")] == ["medical_referral"]
    outbox = [s["outbox"] for s in central.of_kind("status")]
    assert outbox and outbox[0]["disk_state"] in ("read_only", "error")
