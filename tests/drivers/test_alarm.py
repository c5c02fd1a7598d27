"""Lane alarm outputs: the LCUS relay frame, the outcome schedule, the relay device against its simulator on
a real pseudo-terminal (every outcome's pattern, unplug and replug), and GPIO on a fake line."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers.alarm.gpio import GpioAlarmConfig, GpioAlarmDevice
from drivers.alarm.lcus import RelayCommand, RelayFrameParser, encode_relay
from drivers.alarm.output import AlarmOutputDevice
from drivers.alarm.patterns import AlarmOutput, AlarmSchedule
from drivers.alarm.relay import LcusRelayConfig
from drivers.items import Rejected
from drivers.registry import build_device
from drivers.sim.lcus_relay_sim import LcusRelaySimulator

pytestmark = pytest.mark.timeout(60)

# Short durations so the test sees outputs end; channels: 1 red, 2 amber, 3 buzzer.
PATTERNS = {
    "medical_referral": [
        {"channel": 1, "seconds": 20.0, "until_ack": True},
        {"channel": 3, "seconds": 20.0, "until_ack": True},
    ],
    "guide_to_service_point": [{"channel": 2, "seconds": 0.6}],
    "hold": [{"channel": 2, "seconds": 0.6}],
    "recheck": [{"channel": 2, "pattern": "blink", "seconds": 2.5}],
    "lane_fault": [{"channel": 4, "pattern": "slow_blink", "seconds": 0}],
}


def test_lcus_frames_are_start_channel_state_sum() -> None:
    assert encode_relay(1, True) == bytes.fromhex("A00101A2")
    assert encode_relay(1, False) == bytes.fromhex("A00100A1")
    assert encode_relay(2, True) == bytes.fromhex("A00201A3")
    assert encode_relay(8, False) == bytes.fromhex("A00800A8")
    with pytest.raises(ValueError):
        encode_relay(0, True)


def test_relay_parser_resynchronises_after_garbage_and_split_frames() -> None:
    parser = RelayFrameParser()
    stream = b"\x00\xa0\x01" + encode_relay(1, True) + bytes.fromhex("A00101A3") + encode_relay(2, False)
    items = parser.feed(stream[:5]) + parser.feed(stream[5:])
    commands = [i for i in items if isinstance(i, RelayCommand)]
    assert commands == [RelayCommand(1, True), RelayCommand(2, False)]
    assert sum(i.nbytes for i in items if isinstance(i, Rejected)) == 3 + 4


def test_schedule_referral_waits_for_ack_and_a_new_passenger_replaces_transient_outputs() -> None:
    s = AlarmSchedule({k: [AlarmOutput(**o) for o in v] for k, v in PATTERNS.items()})
    s.signal("guide_to_service_point", 0.0)
    assert s.states(0.1)[2] and not s.states(0.1)[1]
    assert not s.states(0.7)[2]  # its 0.6 s are over
    s.signal("medical_referral", 1.0)
    s.signal("clear", 2.0)  # the next passenger is clear: the referral still waits for the operator
    assert s.states(2.1)[1] and s.states(2.1)[3]
    assert s.acknowledge() == 2
    assert not any(s.states(2.2).values())
    s.signal("recheck", 3.0)
    blink = [s.states(3.0 + k * 0.25)[2] for k in range(8)]
    assert blink == [True, True, False, False, True, True, False, False]
    s.set_fault(True, 10.0)
    assert s.states(10.5)[4] and not s.states(11.5)[4] and s.states(12.1)[4]
    s.set_fault(False, 13.0)
    assert not s.states(13.0)[4]


def test_config_refuses_unknown_outcomes_and_gpio_channels_without_a_line() -> None:
    with pytest.raises(ValueError, match="unknown outcome"):
        LcusRelayConfig(type="lcus_relay", port="/dev/ttyUSB0", patterns={"fever": []})
    with pytest.raises(ValueError, match="channel"):
        GpioAlarmConfig(type="gpio", lines=[17])  # the default map uses channels 1..3


@contextmanager
def running(device: AlarmOutputDevice) -> Iterator[AlarmOutputDevice]:
    stop = threading.Event()
    thread = threading.Thread(target=device.run, args=(stop, lambda _item: None), name="alarm-under-test")
    thread.start()
    try:
        yield device
    finally:
        stop.set()
        thread.join(5)


def wait(predicate: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[LcusRelaySimulator]:
    # Behind a stable name, as udev gives one: a replug makes a new pty pair with another number.
    sim = LcusRelaySimulator(tmp_path / "relay").start()
    try:
        yield sim
    finally:
        sim.stop()


def relay_device(sim: LcusRelaySimulator) -> AlarmOutputDevice:
    config = LcusRelayConfig.model_validate({"type": "lcus_relay", "port": sim.port, "patterns": PATTERNS})
    device = build_device("lane-1.alarm", config)
    assert isinstance(device, AlarmOutputDevice)
    return device


def test_relay_simulator_receives_each_outcomes_pattern_over_a_pty(relay: LcusRelaySimulator) -> None:
    device = relay_device(relay)
    with running(device):
        assert wait(lambda: device.status()["state"] == "connected")
        assert wait(lambda: len(relay.commands) >= 4), "every channel is set at connect"
        assert not any(relay.states.values())

        device.signal("medical_referral")
        assert relay.wait_for(1, True, 2.0) and relay.wait_for(3, True, 2.0)
        device.signal("clear")
        time.sleep(0.3)
        assert relay.states[1] and relay.states[3], "a referral stays until acknowledged"
        device.acknowledge()
        assert relay.wait_for(1, False, 2.0) and relay.wait_for(3, False, 2.0)
        assert device.status()["acknowledged"] == 1

        for outcome in ("guide_to_service_point", "hold"):
            device.signal(outcome)
            assert relay.wait_for(2, True, 2.0), outcome
            assert relay.wait_for(2, False, 2.0), f"{outcome}: amber ends after its seconds"

        t = time.monotonic()
        device.signal("recheck")
        time.sleep(2.0)
        changes = relay.history(2, since=t)
        assert len(changes) >= 3, f"recheck blinks amber: {changes}"
        assert not relay.states[1] and not relay.states[3]

        t = time.monotonic()
        device.set_fault(True)
        time.sleep(2.6)
        assert len(relay.history(4, since=t)) >= 2, "a lane fault blinks slowly"
        device.set_fault(False)
        assert relay.wait_for(4, False, 2.0)
    # stopping the service leaves nothing switched on
    assert wait(lambda: not any(relay.states.values()), 2.0)


def test_unplugged_relay_shows_in_status_and_comes_back_showing_the_current_outcome(
    relay: LcusRelaySimulator,
) -> None:
    device = relay_device(relay)
    with running(device):
        assert wait(lambda: device.status()["state"] == "connected")
        relay.unplug()
        assert wait(lambda: device.status()["state"] in ("reconnecting", "failed")), device.status()
        for _ in range(100):  # a flood never blocks the caller: the queue is bounded, the oldest dropped
            device.signal("clear")
        device.signal("medical_referral")  # taken while the board is gone, shown when it is back
        assert device.status()["requests_dropped"] > 0
        relay.replug()
        assert wait(lambda: device.status()["state"] == "connected")
        assert relay.wait_for(1, True, 3.0) and relay.wait_for(3, True, 3.0)
        assert device.status()["outages"] == 1


class FakeLines:
    def __init__(self) -> None:
        self.values: dict[int, bool] = {}
        self.released = 0
        self.fail = False

    def __call__(self, chip: str, offsets: list[int], active_low: bool) -> FakeLines:
        if self.fail:
            from drivers.transport import DeviceGone

            raise DeviceGone(f"cannot open {chip}: No such file or directory")
        self.values.update(dict.fromkeys(offsets, False))
        return self

    def set(self, offset: int, active: bool) -> None:
        if self.fail:
            raise OSError(19, "No such device")
        self.values[offset] = active

    def release(self) -> None:
        self.released += 1


def test_gpio_alarm_drives_the_configured_lines_and_degrades_alone_when_they_fail() -> None:
    lines = FakeLines()
    config = GpioAlarmConfig.model_validate({"type": "gpio", "lines": [17, 27, 22, 23], "patterns": PATTERNS})
    device = GpioAlarmDevice("lane-1.alarm", config, line_factory=lines)
    with running(device):
        assert wait(lambda: device.status()["state"] == "connected")
        device.signal("medical_referral")
        assert wait(lambda: lines.values.get(17) is True and lines.values.get(22) is True)
        assert lines.values[27] is False
        device.acknowledge()
        assert wait(lambda: lines.values[17] is False and lines.values[22] is False)
        lines.fail = True
        device.signal("guide_to_service_point")
        assert wait(lambda: device.status()["state"] in ("reconnecting", "failed"))
        assert "No such" in (device.status()["last_error"] or "")
        lines.fail = False
        assert wait(lambda: device.status()["state"] == "connected")


def test_alarm_test_command_walks_an_outcome_on_the_relay_and_leaves_it_off(
    relay: LcusRelaySimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.cli import main

    t = time.monotonic()
    code = main(["alarm-test", "lcus_relay", relay.port, "--outcome", "medical_referral", "--seconds", "0.6"])
    assert code == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["outcome"] == "medical_referral" and line["outputs"] == {"1": True, "2": False, "3": True}
    assert relay.wait_for(1, False, 2.0) and relay.wait_for(3, False, 2.0)  # everything off at the end
    assert True in [on for _t, on in relay.history(1, since=t)]


def test_alarm_test_command_says_why_when_the_board_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.cli import main

    assert main(["alarm-test", "lcus_relay", str(tmp_path / "no-such-port"), "--seconds", "0.1"]) == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["state"] in ("reconnecting", "failed") and "no-such-port" in out["last_error"]
