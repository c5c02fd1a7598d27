"""Lane flows end to end: SAM card reads and GY-MCU90640 frames on pseudo-terminals → `Service` → Mosquitto.

Six passengers 1.5 s apart, the fourth (index 3) febrile, one irregular: the febrile passenger's alert carries
their own ID, or none with `identity_ambiguous`; no alert carries another passenger's ID.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from edge.service import Service
from edge.simulation import ScriptedPassenger, script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow

OFFSETS = {"card_then_face": (-1.0, 0.0), "face_then_card": (0.0, 1.0), "card_while_in_view": (-0.3, 0.3)}


def run_scene(
    tmp_path: Path,
    port: int,
    flow: str,
    passengers: list[ScriptedPassenger],
    offsets: tuple[float, float] | None,
) -> tuple[list[dict[str, Any]], SimulatedCheckpoint, dict[str, Any]]:
    rig = SimulatedCheckpoint(tmp_path, port, [passengers], flow=flow, card_offset_s=offsets)
    central = CentralSystem(port, "demo-station")  # validates every message against its schema
    service = Service(rig.config)
    service.start()
    try:
        rig.wait_scene_end(extra_s=3.0)  # face_then_card: the last card, then the flow's horizon
        time.sleep(1.0)
        alerts = central.of_kind("alert")
        lane_status = service.status()["lanes"]["lane-1"]
    finally:
        service.stop()
        central.close()
        rig.close()
    return alerts, rig, lane_status


def scene(flow: str, irregular: dict[int, str]) -> list[ScriptedPassenger]:
    return script_scene(
        count=6,
        febrile=(3,),
        key_region=(),
        spacing_s=1.5,
        dwell_s=0.6,
        flow=flow,
        card_delay_s=0.5,
        irregular=irregular,
    )


@pytest.mark.parametrize(
    ("flow", "irregular"),
    [("card_then_face", "no_card"), ("face_then_card", "no_face"), ("card_while_in_view", "double_read")],
)
def test_the_febrile_passenger_is_named_and_nobody_else(
    tmp_path: Path, mosquitto: Mosquitto, flow: str, irregular: str
) -> None:
    passengers = scene(flow, {1: irregular})
    alerts, rig, lane = run_scene(tmp_path, mosquitto.port, flow, passengers, OFFSETS[flow])
    assert len(alerts) == 1, [(a["category"], a["reasons"], a["identity"]) for a in alerts]
    (alert,) = alerts
    assert alert["category"] == "medical_referral"
    assert alert["identity"]["id_hmac"] == rig.pseudonymiser.pseudonymise(passengers[3].id_number)
    counts = lane["passengers"]
    assert counts["ambiguous"] == 0 and counts["ambiguous_cards"] == 0
    assert counts["joined"] == (6 if irregular == "double_read" else 5)
    assert lane["flow"]["flow"] == flow


def test_a_febrile_tailgater_is_sent_to_the_operator_without_anyone_s_id(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    passengers = scene("card_then_face", {3: "tailgating"})
    alerts, _rig, lane = run_scene(
        tmp_path, mosquitto.port, "card_then_face", passengers, OFFSETS["card_then_face"]
    )
    # Passengers 2 and 3 are seen as one face (one measurement of two people, whatever it reads) with two
    # cards: it goes to the operator, with neither ID.
    (alert,) = [a for a in alerts if a["temperature"] is not None]
    assert alert["identity"] is None
    assert "identity_ambiguous" in {r["code"] for r in alert["reasons"]}
    assert alert["category"] in ("recheck", "medical_referral")
    assert lane["passengers"]["ambiguous"] == 1 and lane["passengers"]["joined"] == 4


def test_auto_names_nobody_before_it_has_learnt(tmp_path: Path, mosquitto: Mosquitto) -> None:
    passengers = scene("card_then_face", {})
    alerts, _rig, lane = run_scene(tmp_path, mosquitto.port, "auto", passengers, None)
    assert all(a["identity"] is None for a in alerts)
    febrile = [a for a in alerts if "fever" in {r["code"] for r in a["reasons"]}]
    assert len(febrile) == 1 and "identity_ambiguous" in {r["code"] for r in febrile[0]["reasons"]}
    assert lane["flow"] == {"flow": "auto", "card_offset_s": [-3.0, 3.0], "learning": True, "samples": 0}
