"""Four lanes through pseudo-terminals and a real Mosquitto: a scripted crowd with known ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.service import Service
from edge.simulation import KEY_REGION, script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint, write_lists
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow

# Per lane: 0 scan without reading, 1 normal, 2 febrile, 3 key region, 4 watch-listed, 5 anonymous febrile.
# The scan-only passenger comes first so that its scan expires (join window 5 s) before the anonymous
# passenger is measured: a scan within the window would rightly be joined to them.
SCAN_ONLY, NORMAL, FEBRILE, KEY, WATCHED, ANONYMOUS = range(6)


def crowd(lane: int) -> list:
    return script_scene(
        count=6,
        febrile=(FEBRILE, ANONYMOUS),
        key_region=(KEY,),
        no_card=(ANONYMOUS,),
        no_face=(SCAN_ONLY,),
        start_s=0.5 + 0.2 * lane,
        lane=lane,
    )


def test_four_lane_crowd_gives_exactly_the_expected_alerts_and_statistics(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    scenes = [crowd(i) for i in range(4)]
    lists_file = tmp_path / "lists.json"
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, scenes, rules_extra=f'lists_file = "{lists_file}"\n')
    watched = [scene[WATCHED].id_number for scene in scenes]
    write_lists(
        lists_file,
        20261123,
        [{"prefix": KEY_REGION, "action": "guide_to_service_point"}],
        [rig.pseudonymiser.pseudonymise(n) for n in watched],
    )
    central = CentralSystem(mosquitto.port, "demo-station")
    service = Service(rig.config)
    service.start()
    try:
        rig.wait_scene_end()
        assert central.wait_until(lambda: len(central.of_kind("alert")) >= 16, timeout_s=20)
    finally:
        service.stop()
        rig.close()
    assert central.wait_until(lambda: any(s["interval"] == "minute" for s in central.of_kind("stats")), 10)
    central.close()

    alerts = central.of_kind("alert")
    assert len(alerts) == 16, [(a["lane_id"], a["category"]) for a in alerts]
    hmac = rig.pseudonymiser.pseudonymise
    for lane_no, scene in enumerate(scenes):
        lane_id = f"lane-{lane_no + 1}"
        got = {
            (a["identity"] or {}).get("id_hmac"): (a["category"], [r["code"] for r in a["reasons"]])
            for a in alerts
            if a["lane_id"] == lane_id
        }
        assert got == {
            hmac(scene[FEBRILE].id_number): ("medical_referral", ["fever"]),
            hmac(scene[KEY].id_number): ("guide_to_service_point", ["key_region"]),
            hmac(scene[WATCHED].id_number): ("hold", ["watch_list"]),
            None: ("medical_referral", ["fever"]),  # the anonymous febrile passenger
        }, lane_id

    minute = [s for s in central.of_kind("stats") if s["interval"] == "minute"]
    totals: dict[str, dict[str, int]] = {}
    for message in minute:
        for lane in message["lanes"]:
            acc = totals.setdefault(lane["lane_id"], {})
            for key, value in lane.items():
                if key != "lane_id":
                    acc[key] = acc.get(key, 0) + value
    for lane_no in range(4):
        counts = totals[f"lane-{lane_no + 1}"]
        assert counts["screened"] == 5  # everyone who passed the camera
        assert counts["elevated"] == 2 and counts["normal"] == 3
        assert counts["scans"] == 5 and counts["unmatched"] == 1
    assert service.rule_lists.status()["version"] == "20261123"
