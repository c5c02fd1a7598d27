"""End to end: simulators on real pseudo-terminals → drivers → screening → outbox → real Mosquitto →
a subscriber standing in for the central system."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow


def test_febrile_passengers_alerted_with_their_id_and_nobody_else(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    passengers = script_scene(count=8, febrile=(2, 5), key_region=())
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [passengers])
    central = CentralSystem(mosquitto.port, "demo-station")  # validates every message against its schema
    service = Service(rig.config)
    service.start()
    try:
        rig.wait_scene_end()
        central.wait_until(lambda: len(central.of_kind("alert")) >= 2, timeout_s=15)
        time.sleep(1.5)  # any unexpected alert would arrive by now
        alerts = central.of_kind("alert")
    finally:
        service.stop()
        central.close()
        rig.close()

    assert len(alerts) == 2, [a["identity"] for a in alerts]
    by_hmac = {a["identity"]["id_hmac"]: a for a in alerts}
    for p in (passengers[2], passengers[5]):
        alert = by_hmac[rig.pseudonymiser.pseudonymise(p.id_number)]
        assert alert["category"] == "medical_referral"
        assert [r["code"] for r in alert["reasons"]] == ["fever"]
        assert alert["temperature"]["status"] == "elevated"
        assert alert["temperature"]["core_c"] >= 37.3
        assert alert["temperature"]["skin_c"] == pytest.approx(p.skin_max_c, abs=0.1)
        identity = alert["identity"]
        assert identity["doc_type"] == "cn_resident_id" and identity["valid"] is True
        assert identity["region"] == p.id_number[:6]
        assert identity["id_masked"] == p.id_number[:6] + "*" * 12
        assert p.id_number not in json.dumps(alert)  # the number never leaves in clear
        assert "name" not in identity  # not allowed by the default policy
    assert service.totals["screened"] == 8
    assert sorted(a["seq"] for a in alerts) == [1, 2]


def test_alerts_survive_a_broker_outage(tmp_path: Path, persistent_mosquitto: Mosquitto) -> None:
    passengers = script_scene(count=10, febrile=tuple(range(10)), key_region=())
    rig = SimulatedCheckpoint(tmp_path, persistent_mosquitto.port, [passengers])
    central = CentralSystem(persistent_mosquitto.port, "demo-station", persistent=True)
    service = Service(rig.config)
    service.start()
    try:
        central.wait_until(lambda: len(central.of_kind("alert")) >= 1, timeout_s=15)
        persistent_mosquitto.stop()
        outage_started = rig.clock()
        time.sleep(4.0)  # about three passengers are screened while the broker is down
        produced_during_outage = service.totals["alerts"]
        persistent_mosquitto.start()
        rig.wait_scene_end()
        central.wait_until(
            lambda: len({a["message_id"] for a in central.of_kind("alert")}) >= 10, timeout_s=30
        )
        alerts = central.of_kind("alert")
    finally:
        service.stop()
        central.close()
        rig.close()

    assert outage_started < passengers[-1].arrive_s
    assert produced_during_outage >= 3
    ids = {a["message_id"] for a in alerts}
    assert len(ids) == 10, f"received {len(ids)} distinct alerts of 10"
    expected = {rig.pseudonymiser.pseudonymise(p.id_number) for p in passengers}
    assert {a["identity"]["id_hmac"] for a in alerts} == expected
