"""Must-show 3: measurements on synthetic scenes with known ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from edge.screening.faces import Face
from edge.screening.measure import measure_face
from edge.screening.pipeline import LaneScreener
from edge.screening.scene import Blackbody, Person, Scene, render, walk
from edge.screening.settings import ReferenceSettings, ScreeningSettings
from tests.screening.helpers import run

LEPTON = {"width": 160, "height": 120, "horizontal_fov_deg": 57.0}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("canthus_c", [35.2, 36.4])
def test_canthus_with_detector_landmarks_is_within_0_1_c_at_lepton_resolution(
    seed: int, canthus_c: float
) -> None:
    rendered = render(
        Scene(**LEPTON, people=(Person(canthus_c=canthus_c, x_m=0.03),)), np.random.default_rng(seed)
    )
    truth = rendered.people[0]
    face = Face(truth.box, 0.99, truth.landmarks, source="visible-retinaface")
    m = measure_face(
        rendered.temps_c, face, ambient_c=24.0, horizontal_fov_deg=57.0, face_width_m=0.15, skin_min_c=30.0
    )
    assert m.reading.canthus_max_c == pytest.approx(truth.canthus_c, abs=0.1)
    assert m.reading.face_max_c == pytest.approx(truth.face_max_c, abs=0.1)
    assert m.reading.distance_m == pytest.approx(truth.distance_m, rel=0.1)
    assert m.frontal is True


@pytest.mark.parametrize("seed", [4, 5])
def test_passenger_reading_from_skin_path_is_within_0_1_c_at_lepton_resolution(seed: int) -> None:
    frames = walk(
        Scene(**LEPTON, people=(Person(canthus_c=35.9),)),
        frames=10,
        from_x_m=-0.08,
        to_x_m=0.08,
        rng=np.random.default_rng(seed),
    )
    (m,) = run(LaneScreener(ScreeningSettings()), frames)
    assert m.status == "normal"
    assert m.skin_c == pytest.approx(35.9, abs=0.1)
    assert m.numbers["canthus_max_mean_c"] == pytest.approx(35.9, abs=0.1)
    assert m.estimator == "FLIR/sites"  # a Lepton face at 0.7 m is wide enough for the trained model
    assert m.frames == 10
    assert m.snapshot is not None and m.snapshot.shape == (120, 160)


def _blackbody_settings() -> ScreeningSettings:
    return ScreeningSettings(
        reference=ReferenceSettings(enabled=True, roi=(146, 4, 156, 14), set_point_c=35.0)
    )


@pytest.mark.parametrize("drift_c", [-1.0, 1.0])
def test_blackbody_corrects_camera_drift_of_one_degree_to_within_0_1_c(drift_c: float) -> None:
    scene = Scene(
        **LEPTON,
        people=(Person(canthus_c=35.6),),
        blackbody=Blackbody((146, 4, 156, 14), 35.0),
        sensor_offset_c=drift_c,
    )
    frames = walk(scene, frames=10, from_x_m=-0.05, to_x_m=0.05, rng=np.random.default_rng(9))
    (corrected,) = run(LaneScreener(_blackbody_settings()), frames)
    # Control: the same drifting camera without a blackbody in view reads the drift.
    no_reference = Scene(**{**scene.__dict__, "blackbody": None})
    control = walk(no_reference, frames=10, from_x_m=-0.05, to_x_m=0.05, rng=np.random.default_rng(9))
    (uncorrected,) = run(LaneScreener(ScreeningSettings()), control)
    assert uncorrected.skin_c == pytest.approx(35.6 + drift_c, abs=0.1)  # the drift is really there
    assert corrected.skin_c == pytest.approx(35.6, abs=0.1)
    assert corrected.status == "normal"


def test_blackbody_follows_a_slow_drift_within_a_passenger() -> None:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(12):
        drift = -1.0 + 2.0 * i / 11  # −1 → +1 °C across the passage
        scene = Scene(
            **LEPTON,
            people=(Person(canthus_c=36.0, x_m=0.01 * i),),
            blackbody=Blackbody((146, 4, 156, 14), 35.0),
            sensor_offset_c=drift,
        )
        frames.append(render(scene, rng))
    (m,) = run(LaneScreener(_blackbody_settings()), frames)
    assert m.skin_c == pytest.approx(36.0, abs=0.1)


def test_two_people_in_view_make_the_reading_indeterminate() -> None:
    scene = Scene(**LEPTON, people=(Person(x_m=-0.13), Person(x_m=0.13, canthus_c=37.0)))
    frames = [render(scene, np.random.default_rng(i)) for i in range(8)]
    measurements = run(LaneScreener(ScreeningSettings()), frames)
    assert len(measurements) == 2
    for m in measurements:
        assert m.status == "indeterminate"
        assert any("more than one face" in r for r in m.reasons)
        assert m.advice == "one person at a time"
        assert m.core_c is None


def test_cold_skinned_passenger_is_asked_to_re_measure_not_passed_as_normal() -> None:
    # Off a winter platform: skin several degrees colder than indoors, whatever the core temperature.
    cold = Person(canthus_c=33.0, forehead_c=32.4, face_c=31.6, nose_c=30.5)
    frames = walk(Scene(**LEPTON, people=(cold,)), frames=8, from_x_m=0.0, to_x_m=0.05)
    (m,) = run(LaneScreener(ScreeningSettings()), frames)
    assert m.status == "indeterminate"
    assert m.status != "normal"
    assert m.advice == "wait and re-measure"
    assert any("too cold" in r for r in m.reasons)
    assert m.skin_c == pytest.approx(33.0, abs=0.15)


def test_same_passenger_at_normal_skin_is_measured_normally() -> None:
    """Control for the cold-skin test: the gate, not the scene, made it indeterminate."""
    frames = walk(Scene(**LEPTON, people=(Person(canthus_c=35.5),)), frames=8, from_x_m=0.0, to_x_m=0.05)
    (m,) = run(LaneScreener(ScreeningSettings()), frames)
    assert m.status == "normal"
