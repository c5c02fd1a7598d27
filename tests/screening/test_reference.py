"""Blackbody lock-out: screening stops with a clear status when the reference is missing, moved or unstable."""

from __future__ import annotations

import numpy as np

from edge.screening.pipeline import LaneScreener
from edge.screening.reference import BlackbodyReference
from edge.screening.scene import Blackbody, Person, Scene, render
from edge.screening.settings import ReferenceSettings, ScreeningSettings
from tests.screening.helpers import frame

ROI = (146, 4, 156, 14)
SETTINGS = ReferenceSettings(enabled=True, roi=ROI, set_point_c=35.0)


def frames_with(
    blackbody: Blackbody | None, n: int, seed: int = 0, offset_c: float = 0.0
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    scene = Scene(people=(), blackbody=blackbody, sensor_offset_c=offset_c)
    return [render(scene, rng).temps_c for _ in range(n)]


def test_valid_reference_reports_the_offset() -> None:
    ref = BlackbodyReference(SETTINGS)
    states = [ref.update(t) for t in frames_with(Blackbody(ROI, 35.0), 5, offset_c=-0.8)]
    assert states[-1].valid
    assert abs(states[-1].offset_c - 0.8) < 0.05


def test_missing_reference_locks_out() -> None:
    ref = BlackbodyReference(SETTINGS)
    state = ref.update(frames_with(None, 1)[0])
    assert not state.valid and "missing" in state.reason


def test_moved_reference_locks_out() -> None:
    ref = BlackbodyReference(SETTINGS)
    moved = Blackbody((150, 4, 160, 14), 35.0)  # half of the ROI now sees the wall
    state = ref.update(frames_with(moved, 1)[0])
    assert not state.valid and "moved" in state.reason


def test_jumping_reference_is_unstable_then_recovers() -> None:
    ref = BlackbodyReference(SETTINGS)
    good = frames_with(Blackbody(ROI, 35.0), 6)
    for t in good[:4]:
        ref.update(t)
    jumped = good[4].copy()
    jumped[4:14, 146:156] += 1.5
    state = ref.update(jumped)
    assert not state.valid and "unstable" in state.reason
    assert not ref.update(good[5]).valid  # jumping back is another jump
    later = [ref.update(t) for t in frames_with(Blackbody(ROI, 35.0), 4, seed=3)]
    assert later[-1].valid


def test_passenger_during_lock_out_is_indeterminate_and_lane_status_says_why() -> None:
    screener = LaneScreener(ScreeningSettings(reference=SETTINGS))
    rng = np.random.default_rng(5)
    scene = Scene(people=(Person(canthus_c=36.0),))  # no blackbody in view
    for i in range(6):
        screener.process(frame(render(scene, rng).temps_c, i, i / 9))
    assert screener.status.startswith("locked out: blackbody missing")
    (m,) = screener.flush(100.0)
    assert m.status == "indeterminate"
    assert any("blackbody not valid" in r for r in m.reasons)
    assert m.advice == "screening locked out: check the blackbody"
