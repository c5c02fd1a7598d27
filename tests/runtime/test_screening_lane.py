"""The screening half of a lane, end to end: a screening lockout is never silent (lane health, the retained
status message, the log), and a re-check is confirmed only by the same passenger (their document)."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import pytest

from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow

# The ROI points at the lane's background (24 °C), not at a 35 °C blackbody: the reference is missing.
MISSING_BLACKBODY = "[screening.reference]\nenabled = true\nroi = [0, 0, 3, 3]\nset_point_c = 35.0\n"


def test_blackbody_lockout_shows_in_lane_health_status_and_log(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    scene = script_scene(count=6, febrile=(1, 3), key_region=())
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [scene], screening_extra=MISSING_BLACKBODY)
    central = CentralSystem(mosquitto.port, "demo-station")
    service = Service(rig.config)
    service.start()
    try:
        deadline = time.monotonic() + 15
        while (
            "screening" not in service.status()["lanes"]["lane-1"]["reason"] and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        health = service.status()["lanes"]["lane-1"]
        assert health["state"] == "degraded"
        assert "screening locked out: blackbody missing" in health["reason"]
        assert health["screening"]["state"] == "locked_out"
        assert central.wait_until(
            lambda: any(
                "screening locked out: blackbody missing"
                in s.get("lanes", {}).get("lane-1", {}).get("reason", "")
                for s in central.of_kind("status")
            ),
            timeout_s=10,
        )
        assert any(
            "lane lane-1: screening locked out: blackbody missing" in r.getMessage() for r in caplog.records
        )
        rig.wait_scene_end()
        time.sleep(1.0)
        # Febrile passengers walked by during the lockout: none was called normal or elevated; the lockout
        # outcome (indeterminate) is published for them, not a referral.
        alerts = central.of_kind("alert")
        assert alerts and all(a["temperature"]["status"] == "indeterminate" for a in alerts)
    finally:
        service.stop()
        central.close()
        rig.close()


def test_a_recheck_is_confirmed_by_the_same_passenger_only(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A elevated, B elevated, A again (same card): A's first and B's readings ask for a re-check; only A's
    second reading, joined with A's document, confirms A; B's never confirms A."""
    base = script_scene(count=5, febrile=(0, 1, 3), key_region=(), spacing_s=1.5, dwell_s=0.8)
    a, b, normal_c, a_again, normal_e = base
    a_again = dataclasses.replace(a_again, id_number=a.id_number, name=a.name)
    scene = [a, b, normal_c, a_again, normal_e]
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [scene], screening_extra="decision.recheck = true\n")
    central = CentralSystem(mosquitto.port, "demo-station")
    service = Service(rig.config)
    service.start()
    try:
        assert central.wait_until(lambda: len(central.of_kind("alert")) >= 3, timeout_s=25)
        rig.wait_scene_end()
        time.sleep(1.0)
        alerts = central.of_kind("alert")
        categories = [x["category"] for x in sorted(alerts, key=lambda x: x["time_utc"])]
        assert categories == ["recheck", "recheck", "medical_referral"], categories
        statuses = [x["temperature"]["status"] for x in sorted(alerts, key=lambda x: x["time_utc"])]
        assert statuses == ["recheck", "recheck", "elevated"]
        last = sorted(alerts, key=lambda x: x["time_utc"])[-1]
        assert any("same document" in r["detail"] for r in last["reasons"])
    finally:
        service.stop()
        central.close()
        rig.close()
