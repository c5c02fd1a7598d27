"""A lane's alarm relay over a real pseudo-terminal, with the whole service on simulators and a real Mosquitto:
each outcome switches the relay's pattern, the operator's acknowledgement stops the buzzer, and unplugging the
relay degrades only the alarm (status shows it) while screening goes on and alerts keep arriving."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drivers.sim.lcus_relay_sim import LcusRelaySimulator
from edge.service import Service
from edge.simulation import KEY_REGION, script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint, write_lists
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow

NORMAL, FEBRILE, KEY, WATCHED, FEBRILE_AFTER_UNPLUG = 0, 1, 3, 4, 7
RED, AMBER, BUZZER, FAULT = 1, 2, 3, 4
ALARM_TABLE = """
[lanes.alarm]
type = "lcus_relay"
port = "{port}"
[lanes.alarm.patterns]
medical_referral = [{{ channel = 1, seconds = 60.0, until_ack = true }}, {{ channel = 3, seconds = 60.0, until_ack = true }}]
guide_to_service_point = [{{ channel = 2, seconds = 0.5 }}]
hold = [{{ channel = 2, seconds = 0.5 }}]
recheck = [{{ channel = 2, pattern = "blink", seconds = 2.0 }}]
lane_fault = [{{ channel = 4, pattern = "slow_blink", seconds = 0 }}]
"""


def wait(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_relay_follows_outcomes_and_an_unplugged_relay_degrades_only_the_alarm(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    relay = LcusRelaySimulator(tmp_path / "lane-1-relay").start()
    scene = script_scene(count=9, febrile=(FEBRILE, FEBRILE_AFTER_UNPLUG), key_region=(KEY,), start_s=2.0)
    lists_file = tmp_path / "lists.json"
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [scene], rules_extra=f'lists_file = "{lists_file}"\n')
    write_lists(
        lists_file,
        20261202,
        [{"prefix": KEY_REGION, "action": "guide_to_service_point"}],
        [rig.pseudonymiser.pseudonymise(scene[WATCHED].id_number)],
    )
    text = rig.config_path.read_text()
    rig.config_path.write_text(
        text.replace("[screening]", ALARM_TABLE.format(port=relay.port) + "\n[screening]")
    )
    central = CentralSystem(mosquitto.port, "demo-station")
    service = Service(rig.config)
    lane = service.lanes[0]
    assert lane.alarm is not None
    service.start()
    try:
        # Every channel is set at connect; the febrile passenger's verdict turns on red and the buzzer.
        assert wait(lambda: lane.alarm is not None and lane.alarm.status()["state"] == "connected", 10)
        assert relay.wait_for(RED, True, 30) and relay.wait_for(BUZZER, True, 5)
        febrile_on = relay.history(RED)[-1][0] - rig.t0
        # The operator acknowledges on the board (the page's button does exactly this): red and buzzer stop.
        board = service.board
        snap = board.snapshot("lane-1", "zh_CN")
        seq = snap["pending"]["seq"] if snap["pending"] else snap["seq"]
        assert board.acknowledge("lane-1", seq)
        assert relay.wait_for(RED, False, 5) and relay.wait_for(BUZZER, False, 5)

        # Key region, then watch list: amber each time, for its 0.5 s (a hold looks like any guidance).
        assert wait(lambda: rig.clock() > scene[WATCHED].leave_s + 1.0, 30)
        amber_on = [t - rig.t0 for t, on in relay.history(AMBER) if on]
        assert any(scene[KEY].arrive_s < t < scene[WATCHED].arrive_s for t in amber_on), amber_on
        assert any(t > scene[WATCHED].arrive_s for t in amber_on), amber_on
        assert not relay.states[RED] and not relay.states[BUZZER]

        relay.unplug()
        status = lambda: service.status()["devices"]["lane-1.alarm"]  # noqa: E731
        assert wait(lambda: status()["state"] in ("reconnecting", "failed"), 10), status()
        health = service.status()["lanes"]["lane-1"]
        assert "lane-1.alarm" in health["reason"]
        others = {k: v["state"] for k, v in service.status()["devices"].items() if k != "lane-1.alarm"}
        assert set(others.values()) == {"connected"}, others
        assert "alarm" in lane.faults()

        rig.wait_scene_end()
        expected = {scene[i].id_number for i in (FEBRILE, KEY, WATCHED, FEBRILE_AFTER_UNPLUG)}
        hmacs = {rig.pseudonymiser.pseudonymise(n) for n in expected}
        assert central.wait_until(
            lambda: {(a["identity"] or {}).get("id_hmac") for a in central.of_kind("alert")} >= hmacs, 20
        ), [(a["category"], a["identity"]) for a in central.of_kind("alert")]
        assert service.totals["passengers"] == len(scene)
        assert lane.counters["verdicts"] == len(scene)  # one temperature verdict per passenger, never two
        assert status()["requests_dropped"] == 0
    finally:
        service.stop()
        rig.close()
        central.close()
        relay.stop()
    categories = sorted(a["category"] for a in central.of_kind("alert"))
    assert categories == ["guide_to_service_point", "hold", "medical_referral", "medical_referral"]
    assert scene[FEBRILE].arrive_s < febrile_on
