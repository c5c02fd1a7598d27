"""The temperature verdict is made while the passenger is still in view, once per track, and the passenger's
final record (for the join and the alert) keeps that decision."""

from __future__ import annotations

from edge.screening.pipeline import LaneScreener
from edge.screening.scene import Person, Scene, walk
from edge.screening.settings import ScreeningSettings
from tests.screening.helpers import frame

RATE_HZ = 8.0


def test_verdict_comes_after_verdict_frames_clean_frames_and_only_once() -> None:
    frames = walk(Scene(people=(Person(canthus_c=37.6),)), frames=8, from_x_m=-0.1, to_x_m=0.1)
    screener = LaneScreener(ScreeningSettings(verdict_frames=3))
    verdicts_at: list[int] = []
    verdicts = []
    finals = []
    for i, r in enumerate(frames):
        finals += screener.process(frame(r.temps_c, i, i / RATE_HZ))
        new = screener.take_verdicts()
        verdicts += new
        verdicts_at += [i] * len(new)
    assert verdicts_at == [2], "decided on the third clean frame, while the face is still in view"
    assert not finals, "the passenger's record waits for the track to end (the card join needs the gap)"
    finals += screener.flush(len(frames) / RATE_HZ + 5.0)
    assert screener.take_verdicts() == [], "the same person is never decided twice"
    assert len(finals) == 1
    verdict, final = verdicts[0], finals[0]
    assert verdict.verdict_mono == 2 / RATE_HZ < final.t_last_mono
    assert (final.status, final.core_c, final.reasons) == (verdict.status, verdict.core_c, verdict.reasons)
    assert final.frames == 8 and final.verdict_mono == verdict.verdict_mono


def test_a_passenger_with_too_few_clean_frames_is_decided_when_the_track_ends() -> None:
    frames = walk(Scene(people=(Person(),)), frames=2, from_x_m=-0.02, to_x_m=0.02)
    screener = LaneScreener(ScreeningSettings(verdict_frames=3))
    for i, r in enumerate(frames):
        assert screener.process(frame(r.temps_c, i, i / RATE_HZ)) == []
        assert screener.take_verdicts() == []
    finals = screener.flush(10.0)
    late = screener.take_verdicts()
    assert len(finals) == 1 and late == finals
    assert late[0].verdict_mono == late[0].t_last_mono


def test_verdict_frames_zero_waits_for_the_face_to_go() -> None:
    frames = walk(Scene(people=(Person(),)), frames=6, from_x_m=-0.05, to_x_m=0.05)
    screener = LaneScreener(ScreeningSettings(verdict_frames=0))
    for i, r in enumerate(frames):
        screener.process(frame(r.temps_c, i, i / RATE_HZ))
        assert screener.take_verdicts() == []
    assert len(screener.flush(10.0)) == 1 and len(screener.take_verdicts()) == 1
