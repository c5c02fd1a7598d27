"""Quality gates: readings that cannot be trusted are indeterminate, with the reason and the advice."""

from __future__ import annotations

import numpy as np

from edge.screening.faces import Detection
from edge.screening.pipeline import LaneScreener
from edge.screening.scene import Person, Scene, walk
from edge.screening.settings import ScreeningSettings
from tests.screening.helpers import frame, run

LEPTON = {"width": 160, "height": 120, "horizontal_fov_deg": 57.0}


def test_glasses_hiding_the_canthi_ask_to_remove_them() -> None:
    frames = walk(Scene(**LEPTON, people=(Person(glasses=True),)), frames=8, from_x_m=0.0, to_x_m=0.05)
    (m,) = run(LaneScreener(ScreeningSettings()), frames)
    assert m.status == "indeterminate"
    assert m.advice == "remove glasses"
    assert any("glasses" in r for r in m.reasons)


def test_a_mask_is_one_face_noted_but_still_measured_at_the_canthi() -> None:
    frames = walk(
        Scene(**LEPTON, people=(Person(mask=True, canthus_c=35.7),)), frames=8, from_x_m=0.0, to_x_m=0.05
    )
    (m,) = run(LaneScreener(ScreeningSettings()), frames)
    assert m.status == "normal"  # not "more than one face": the neck below the mask is the same person
    assert "face covering detected" in m.reasons
    assert abs(m.numbers["canthus_max_mean_c"] - 35.7) < 0.1


def test_a_face_too_far_away_is_not_measured() -> None:
    far = Person(distance_m=3.6)
    frames = walk(Scene(**LEPTON, people=(far,)), frames=6, from_x_m=0.0, to_x_m=0.05)
    (m,) = run(LaneScreener(ScreeningSettings()), frames)
    assert m.status == "indeterminate"
    assert m.advice == "step closer"
    assert any("too far" in r for r in m.reasons)


class TruthDetector:
    """Stands in for RetinaFace on the visible frame: returns the scene's true face (identity homography)."""

    def __init__(self, truths: list) -> None:
        self.truths = truths
        self.index = 0

    def detect(self, bgr: np.ndarray, min_score: float = 0.8, nms_iou: float = 0.4) -> list[Detection]:
        t = self.truths[min(self.index, len(self.truths) - 1)]
        self.index += 1
        return [Detection(t.box, 0.99, t.landmarks + 0.5)]


def _through_visible_path(person: Person) -> list:
    frames = walk(Scene(**LEPTON, people=(person,)), frames=6, from_x_m=0.0, to_x_m=0.03)
    detector = TruthDetector([f.people[0] for f in frames])
    settings = ScreeningSettings(face_finder="visible", detector_every_n=1)
    screener = LaneScreener(settings, detector=detector)  # type: ignore[arg-type]
    visible = np.zeros((120, 160, 3), np.uint8)  # same size as the thermal frame: identity mapping
    out = []
    for i, f in enumerate(frames):
        out += screener.process(frame(f.temps_c, i, i / 9), visible)
    return out + screener.flush(100.0)


def test_a_turned_head_is_not_frontal_and_is_not_measured() -> None:
    (m,) = _through_visible_path(Person(yaw=0.8))
    assert m.status == "indeterminate"
    assert m.advice == "face the camera"
    assert m.face_source == "visible-retinaface"


def test_a_frontal_face_through_the_visible_path_is_measured() -> None:
    (m,) = _through_visible_path(Person(canthus_c=35.9))
    assert m.status == "normal"
    assert abs(m.numbers["canthus_max_mean_c"] - 35.9) < 0.1
