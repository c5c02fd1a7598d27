from __future__ import annotations

import numpy as np
import pytest

from drivers.items import ThermalFrame
from edge.screening.faces import (
    Detection,
    Face,
    RetinaFace,
    ScheduledFinder,
    SkinFinder,
    ThermalDetectorFinder,
    VisibleFinder,
)
from edge.screening.pipeline import LaneScreener
from edge.screening.registration import fit_homography, map_points, scale_homography
from edge.screening.scene import Person, Scene, render, walk
from edge.screening.settings import ScreeningSettings
from tests.screening.helpers import run


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_skin_finder_boxes_the_face_not_the_neck_and_ignores_the_blackbody() -> None:
    rendered = render(Scene(people=(Person(),)), np.random.default_rng(0))
    rendered.temps_c[4:14, 146:156] = 35.0
    faces = SkinFinder(skin_min_c=30.0, min_pixels=4, exclude=(146, 4, 156, 14)).find(rendered.temps_c)
    assert len(faces) == 1
    assert iou(faces[0].box, rendered.people[0].box) > 0.7
    assert faces[0].landmarks is not None and faces[0].landmarks_estimated
    assert np.abs(faces[0].landmarks[:2] - rendered.people[0].landmarks[:2]).max() < 2.0


def test_retinaface_decodes_boxes_where_the_face_is() -> None:
    # A scene on which the visible-light detector does fire (black-hot, upscaled): the decoded box must
    # sit on the face, which checks anchors, variances and the coordinate mapping end to end.
    rendered = render(
        Scene(width=80, height=60, people=(Person(distance_m=0.6, x_m=-0.1),)), np.random.default_rng(0)
    )
    faces = ThermalDetectorFinder(RetinaFace(), max_side=640, min_score=0.5).find(rendered.temps_c)
    assert faces, "the detector found nothing on the reference scene"
    best = max(faces, key=lambda f: f.score)
    assert iou(best.box, rendered.people[0].box) > 0.5
    assert best.landmarks is not None
    eyes_truth = rendered.people[0].landmarks[:2]
    assert np.abs(best.landmarks[:2] - eyes_truth).max() < 3.0


class StubDetector:
    def __init__(self, detections: list[Detection]) -> None:
        self.detections = detections
        self.calls = 0

    def detect(self, bgr: np.ndarray, min_score: float = 0.8, nms_iou: float = 0.4) -> list[Detection]:
        self.calls += 1
        return self.detections


def test_visible_faces_are_mapped_into_the_thermal_frame_by_the_homography() -> None:
    h = scale_homography((640, 480), (160, 120))
    landmarks = np.array([[302.0, 202.0], [342.0, 202.0], [322.0, 222.0], [306.0, 242.0], [338.0, 242.0]])
    stub = StubDetector([Detection((280.0, 160.0, 360.0, 260.0), 0.99, landmarks)])
    finder = VisibleFinder(stub, h, max_side=640)  # type: ignore[arg-type]
    (face,) = finder.find(np.zeros((120, 160), np.float32), np.zeros((480, 640, 3), np.uint8))
    assert face.box == pytest.approx((70.0, 40.0, 90.0, 65.0))
    assert face.landmarks is not None
    # Continuous 302 in the visible frame is the centre of thermal pixel 75 (it covers visible 300–304).
    assert face.landmarks[0] == pytest.approx((75.0, 50.0))
    assert finder.find(np.zeros((120, 160), np.float32), None) == []


def test_homography_fit_recovers_a_calibration() -> None:
    truth = np.array([[0.25, 0.01, 3.0], [-0.005, 0.26, -2.0], [0.0, 0.0, 1.0]])
    visible = np.array([[50, 40], [600, 30], [620, 450], [40, 460], [320, 240], [200, 100]], float)
    fitted = fit_homography(visible, map_points(truth, visible))
    probe = np.array([[100.0, 300.0], [500.0, 120.0]])
    assert map_points(fitted, probe) == pytest.approx(map_points(truth, probe), abs=1e-4)


def test_scheduled_finder_runs_the_detector_every_nth_frame_and_follows_the_skin() -> None:
    rng = np.random.default_rng(1)
    frames = walk(Scene(people=(Person(),)), frames=4, from_x_m=-0.04, to_x_m=0.02, rng=rng)
    truth = frames[0].people[0]
    stub = StubDetector([Detection(truth.box, 0.99, truth.landmarks + 0.5)])

    class Passthrough:
        def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
            return [Face(d.box, d.score, d.landmarks - 0.5, "stub") for d in stub.detect(temps_c)]

    finder = ScheduledFinder(Passthrough(), every_n=4, skin_min_c=30.0)
    found = [finder.find(f.temps_c) for f in frames]
    assert stub.calls == 1
    # The last frame's face moved 0.06 m ≈ 13 px; the followed box moved with it.
    moved = found[-1][0]
    assert iou(moved.box, frames[-1].people[0].box) > 0.8


def test_a_passenger_walking_through_is_measured_once() -> None:
    frames = walk(Scene(people=(Person(),)), frames=15, from_x_m=-0.15, to_x_m=0.15)
    measurements = run(LaneScreener(ScreeningSettings()), frames)
    assert len(measurements) == 1
    # Decided in view, on the first verdict_frames clean frames (3), and reported over the whole track.
    assert measurements[0].frames == 15 and measurements[0].frames_used == 3
    waited = run(LaneScreener(ScreeningSettings(verdict_frames=0)), frames)
    assert waited[0].frames == 15 and waited[0].frames_used == 5


def test_consecutive_passengers_are_measured_separately() -> None:
    first = walk(Scene(people=(Person(canthus_c=35.5),)), frames=6, from_x_m=-0.05, to_x_m=0.05)
    second = walk(Scene(people=(Person(canthus_c=36.8),)), frames=6, from_x_m=-0.05, to_x_m=0.05)
    empty = [render(Scene(people=()), np.random.default_rng(i)) for i in range(6)]
    measurements = run(LaneScreener(ScreeningSettings()), first + empty + second)
    assert [m.status for m in measurements] == ["normal", "elevated"]
    assert measurements[0].track_id != measurements[1].track_id


def test_flat_field_correction_frames_neither_split_nor_measure_a_passenger() -> None:
    frames = walk(Scene(people=(Person(),)), frames=12, from_x_m=-0.05, to_x_m=0.05)
    shutter = render(Scene(people=(), noise_c=0.0, ambient_c=30.0))  # uniform: the shutter is closed
    sequence = frames[:4] + [shutter] * 6 + frames[4:]  # 0.67 s of FFC, longer than the passenger gap
    settings = ScreeningSettings(ffc_settle_s=0.3)
    (m,) = run(LaneScreener(settings), sequence)
    assert m.status == "normal"
    assert m.frames == 12

    # A passenger seen only while the camera settles after FFC is not measured but asked to re-measure.
    (m,) = run(LaneScreener(ScreeningSettings(ffc_settle_s=5.0)), [shutter, *frames[:5]])
    assert m.status == "indeterminate"
    assert any("flat-field" in r for r in m.reasons)


def test_skin_finder_on_a_640x512_frame_labels_coarsely_but_boxes_exactly() -> None:
    scene = Scene(width=640, height=512, horizontal_fov_deg=50.0, people=(Person(x_m=0.05),), supersample=2)
    rendered = render(scene, np.random.default_rng(2))
    rendered.temps_c[10:40, 590:630] = 35.0  # blackbody
    (face,) = SkinFinder(skin_min_c=30.0, min_pixels=4, exclude=(590, 10, 630, 40)).find(rendered.temps_c)
    truth = rendered.people[0]
    assert iou(face.box, truth.box) > 0.9
    assert np.abs(np.array(face.box) - np.array(truth.box)).max() < 3.0


def test_lane_scene_for_simulators_yields_one_measurement_per_passage() -> None:
    from edge.screening.scene import LaneScene, Passage

    lane = LaneScene(
        Scene(width=32, height=24, horizontal_fov_deg=55.0),
        [
            Passage(0.5, 1.5, Person(canthus_c=35.4, distance_m=0.5)),
            Passage(2.5, 3.5, Person(canthus_c=37.0, distance_m=0.5)),
        ],
    )
    screener = LaneScreener(ScreeningSettings())
    out = []
    for i in range(40):
        t = i / 8
        temps, ambient = lane(t)
        assert temps.shape == (24, 32) and ambient == 24.0
        out += screener.process(ThermalFrame("sim", i, t, t, temps, ambient))
    out += screener.flush(100.0)
    assert len(out) == 2
    assert out[0].skin_c is not None and out[1].skin_c is not None and out[1].skin_c > out[0].skin_c + 1.0


def test_thermal_detector_path_measures_a_passenger_end_to_end() -> None:
    scene = Scene(width=80, height=60, people=(Person(distance_m=0.6, x_m=-0.1, canthus_c=35.9),))
    frames = [render(scene, np.random.default_rng(0)) for _ in range(3)]
    settings = ScreeningSettings(face_finder="thermal-detector", detector_every_n=1, detector_max_side=640)
    (m,) = run(LaneScreener(settings), frames)
    assert m.face_source == "thermal-retinaface"
    assert m.status == "normal"
    assert m.skin_c is not None and abs(m.skin_c - 35.9) < 0.15


def test_a_frame_that_stays_flat_is_not_a_shutter_and_ends_passengers() -> None:
    """A noiseless source (some simulators) shows a perfectly flat empty scene: after ffc_max_s it must
    not keep the last passenger alive."""
    screener = LaneScreener(ScreeningSettings(ffc_max_s=1.0))
    face = np.full((24, 32), 24.0, np.float32)
    # A face has structure (a uniform warm patch is an object): cooler towards the chin.
    face[8:14, 14:19] = np.linspace(35.5, 34.0, 6, dtype=np.float32)[:, None]
    empty = np.full((24, 32), 24.0, np.float32)
    out = []
    for i in range(4):
        out += screener.process(ThermalFrame("sim", i, i / 8, 0.0, face))
    for i in range(4, 40):
        out += screener.process(ThermalFrame("sim", i, i / 8, 0.0, empty))
    assert len(out) == 1 and out[0].status == "normal"
