"""A screening lockout is never silent: lane health, the retained status message and the log all say it."""

from __future__ import annotations

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
