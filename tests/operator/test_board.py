"""The lane display's state: what a snapshot shows for each outcome, acknowledgement, idling and faults."""

from __future__ import annotations

import asyncio
import json

from edge.operator.board import OperatorBoard


def show(board: OperatorBoard, outcome: str, t: float = 0.0, **kw: object) -> int:
    args: dict[str, object] = {"temperature_c": 37.9, "guidance": "", "track_id": 1, "verdict_mono": t}
    args.update(kw)
    return board.show("lane-1", outcome, **args)  # type: ignore[arg-type]


def test_referral_shows_red_chinese_text_and_temperature_until_acknowledged() -> None:
    board = OperatorBoard(["lane-1"], idle_after_s=5.0)
    acked: list[str] = []
    board.on_acknowledge = acked.append
    seq = show(board, "medical_referral", guidance="refer to a clinical thermometer")
    snap = board.snapshot("lane-1", "zh_CN", now_mono=1.0)
    assert snap["style"] == "alarm" and snap["needs_ack"]
    assert snap["headline"] == "体温异常，请配合医务人员复测"
    assert snap["temperature"] == "37.9 ℃" and snap["guidance"] == "请用体温计复测"
    english = board.snapshot("lane-1", "en", now_mono=1.0)
    assert (
        english["headline"].startswith("Temperature above the limit") and english["temperature"] == "37.9 °C"
    )
    # Unacknowledged, it never goes idle; a newer passenger takes the screen and the alarm stays as a banner.
    assert not board.snapshot("lane-1", "zh_CN", now_mono=100.0)["idle"]
    show(board, "clear", t=2.0, track_id=2, temperature_c=36.4)
    snap = board.snapshot("lane-1", "zh_CN", now_mono=2.5)
    assert snap["style"] == "clear" and snap["pending"]["seq"] == seq
    assert not board.acknowledge("lane-1", seq + 99)
    assert board.acknowledge("lane-1", seq) and acked == ["lane-1"]
    assert board.snapshot("lane-1", "zh_CN", now_mono=2.6)["pending"] is None
    assert board.snapshot("lane-1", "zh_CN", now_mono=10.0)["idle"]


def test_a_hold_shows_only_the_neutral_text() -> None:
    board = OperatorBoard(["lane-1"])
    show(board, "hold", temperature_c=None)
    snap = board.snapshot("lane-1", "zh_CN", now_mono=0.5)
    assert snap["headline"] == "请稍候，等待工作人员" and snap["style"] == "wait"
    assert snap["style"] == board.snapshot("lane-1", "zh_CN", now_mono=0.5)["style"]
    body = json.dumps(snap, ensure_ascii=False).lower()
    assert "hold" not in body and "watch" not in body and "名单" not in body


def test_a_joined_decision_raises_the_outcome_of_the_passenger_on_screen_only() -> None:
    board = OperatorBoard(["lane-1"])
    show(board, "clear", track_id=7)
    assert board.update_outcome("lane-1", 7, "guide_to_service_point")
    assert board.snapshot("lane-1", "en", now_mono=0.1)["headline"] == "Please go to the service point"
    show(board, "clear", track_id=8)
    assert not board.update_outcome("lane-1", 7, "hold"), "passenger 7 has left the screen"


def test_faults_are_listed_in_the_viewers_language_and_watchers_are_woken() -> None:
    board = OperatorBoard(["lane-1"])

    async def watch() -> bool:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        board.watch("lane-1", loop, event)
        await loop.run_in_executor(None, board.set_faults, "lane-1", ("lockout", "thermal"))
        await asyncio.wait_for(event.wait(), 2.0)
        board.unwatch("lane-1", event)
        return event.is_set()

    assert asyncio.run(watch())
    assert board.snapshot("lane-1", "zh_CN")["faults"] == ["测温暂停：请检查黑体", "热成像仪未连接"]
    version = board.version("lane-1")
    board.set_faults("lane-1", ("lockout", "thermal"))
    assert board.version("lane-1") == version, "an unchanged fault list wakes nobody"
