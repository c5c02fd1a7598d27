"""What a lane tells its display and alarm: the verdict at once, a joined decision only when it asks for more,
and faults when they change."""

from __future__ import annotations

from typing import Any

from drivers.items import IdDocument, IdScan
from edge.operator.board import OperatorBoard
from edge.operator.signals import LaneSignals
from edge.passengers import Passenger
from edge.records import PassengerMeasurement
from edge.rules import Decision, Reason
from edge.screening.envelope import ADVICE_PRESENCE_ONLY


class FakeAlarm:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def signal(self, outcome: str) -> None:
        self.calls.append(("signal", outcome))

    def acknowledge(self) -> None:
        self.calls.append(("ack", None))

    def set_fault(self, fault: bool) -> None:
        self.calls.append(("fault", fault))


def measurement(
    status: str, track_id: int, advice: str = "", core_c: float | None = 37.9
) -> PassengerMeasurement:
    return PassengerMeasurement(
        0.0, 1.0, 1.0, 8, 36.5, core_c, 24.0, status, (), 37.3, advice=advice, track_id=track_id
    )


def signals() -> tuple[LaneSignals, FakeAlarm, OperatorBoard]:
    alarm, board = FakeAlarm(), OperatorBoard(["lane-1"])
    return LaneSignals("lane-1", alarm, board), alarm, board  # type: ignore[arg-type]


def test_verdicts_reach_the_alarm_and_the_board_at_once() -> None:
    s, alarm, board = signals()
    s.verdict(measurement("elevated", 1, "refer to a clinical thermometer"), 5.0)
    assert alarm.calls == [("signal", "medical_referral")]
    snap = board.snapshot("lane-1", "zh_CN", now_mono=5.1)
    assert snap["style"] == "alarm" and snap["verdict_mono"] == 5.0
    s.verdict(measurement("indeterminate", 2, "remove glasses", core_c=None), 6.0)
    assert alarm.calls[-1] == ("signal", "recheck")
    snap = board.snapshot("lane-1", "zh_CN", now_mono=6.1)
    assert (snap["headline"], snap["guidance"], snap["temperature"]) == ("请重新测温", "请摘下眼镜", "")


def test_a_presence_only_lane_never_asks_to_re_measure() -> None:
    s, alarm, board = signals()
    s.verdict(measurement("indeterminate", 1, ADVICE_PRESENCE_ONLY, core_c=None), 1.0)
    assert alarm.calls == [("signal", "clear")]
    snap = board.snapshot("lane-1", "zh_CN", now_mono=1.1)
    assert (snap["headline"], snap["guidance"]) == ("请通行", "本通道不测体温")


def test_the_joined_decision_raises_the_outcome_only_when_more_urgent() -> None:
    s, alarm, board = signals()
    m = measurement("normal", 7, core_c=36.6)
    s.verdict(m, 1.0)
    doc = IdDocument("cn_resident_id", number="990100195001010011", region="990100")
    p = Passenger("lane-1", m, IdScan("lane-1.idscan0", 1.0, 1.0, doc))
    s.decision(p, Decision("guide_to_service_point", (Reason("key_region", "x", "guide_to_service_point"),)))
    assert alarm.calls == [("signal", "clear"), ("signal", "guide_to_service_point")]
    assert board.snapshot("lane-1", "zh_CN", now_mono=1.2)["headline"] == "请前往服务台"
    febrile = measurement("elevated", 8)
    s.verdict(febrile, 2.0)
    s.decision(Passenger("lane-1", febrile, None), Decision("medical_referral", ()))
    assert alarm.calls[-1] == ("signal", "medical_referral") and len(alarm.calls) == 3, "not signalled twice"


def test_faults_show_at_once_and_switch_the_alarm_only_once_they_last() -> None:
    s, alarm, board = signals()
    s.faults(("alarm",), 0.0)
    assert board.snapshot("lane-1", "en")["faults"] == ["Alarm lamp not working"]
    s.faults(("alarm", "thermal"), 1.0)
    assert board.snapshot("lane-1", "en")["faults"] == [
        "Alarm lamp not working",
        "Thermal camera not connected",
    ]
    s.faults(("alarm", "thermal"), 3.9)
    assert alarm.calls == [], "a camera still opening (or replugged within seconds) clicks no relay"
    s.faults(("alarm", "thermal"), 4.0)
    assert alarm.calls == [("fault", True)]
    s.faults(("alarm", "thermal"), 5.0)
    s.faults(("alarm",), 6.0)
    assert alarm.calls == [("fault", True), ("fault", False)]
    s.faults(("thermal",), 7.0)
    s.faults((), 8.0)  # a short outage: shown on the page, never on the alarm
    assert len(alarm.calls) == 2 and board.snapshot("lane-1", "en")["faults"] == []


def test_a_document_that_failed_its_checks_asks_for_the_document_not_the_temperature() -> None:
    s, alarm, board = signals()
    m = measurement("normal", 3, core_c=36.6)
    s.verdict(m, 1.0)
    doc = IdDocument("cn_resident_id", number="990000200001020019", valid=False, failed_check="check_digit")
    p = Passenger("lane-1", m, IdScan("lane-1.idscan0", 1.0, 1.0, doc))
    s.decision(p, Decision("recheck", (Reason("invalid_document", "failed check: check_digit", "recheck"),)))
    assert alarm.calls[-1] == ("signal", "recheck")
    assert board.snapshot("lane-1", "zh_CN", now_mono=1.1)["headline"] == "请重新刷证件"
