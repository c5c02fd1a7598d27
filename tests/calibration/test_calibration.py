"""Calibration: blackbody finder, registration from point pairs, offset from paired readings."""

from __future__ import annotations

import numpy as np
import pytest

from edge.calibration.blackbody import BlackbodyNotFound, find_blackbody
from edge.calibration.offset import OffsetRefused, calibrate_offset, t975
from edge.calibration.registration import RegistrationRefused, calibrate_registration
from edge.screening.registration import map_points
from edge.screening.scene import Blackbody, Person, Scene, walk

TRUE_ROI = (148, 4, 156, 12)


def _scene_frames(blackbody: Blackbody | None, sensor_offset_c: float = 0.7) -> list[np.ndarray]:
    scene = Scene(
        people=(Person(distance_m=0.8), Person(x_m=-0.25, distance_m=1.6)),
        blackbody=blackbody,
        sensor_offset_c=sensor_offset_c,
        noise_c=0.05,
    )
    return [r.temps_c for r in walk(scene, frames=12, from_x_m=-0.2, to_x_m=0.2)]


def test_blackbody_found_among_walking_people() -> None:
    proposal = find_blackbody(_scene_frames(Blackbody(TRUE_ROI, temp_c=35.0)))
    x0, y0, x1, y1 = proposal.roi
    tx0, ty0, tx1, ty1 = TRUE_ROI
    assert tx0 <= x0 < x1 <= tx1 and ty0 <= y0 < y1 <= ty1  # inside the aperture, edges left out
    assert (x1 - x0) * (y1 - y0) >= 0.5 * (tx1 - tx0) * (ty1 - ty0)
    assert proposal.reading_c == pytest.approx(35.7, abs=0.05)  # as the drifting camera reads it
    assert proposal.set_point_c == 35.5  # a proposal the technician confirms against the display
    assert proposal.temporal_std_c < 0.05 and proposal.spread_c < 0.3


def test_no_blackbody_is_said_not_invented() -> None:
    with pytest.raises(BlackbodyNotFound, match="no steady patch"):
        find_blackbody(_scene_frames(None))


KNOWN_H = np.array([[0.21, 0.004, -3.0], [-0.003, 0.205, 1.5], [1e-5, -2e-5, 1.0]])


def _pairs(noise_px: float, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    visible = np.stack(np.meshgrid(np.linspace(60, 580, 4), np.linspace(50, 420, 3)), -1).reshape(-1, 2)
    thermal = map_points(KNOWN_H, visible) + rng.normal(0, noise_px, visible.shape)
    return np.hstack([visible, thermal])


def test_registration_recovers_a_known_homography_with_its_residual() -> None:
    result = calibrate_registration(_pairs(noise_px=0.1))
    assert result.pairs == 12
    assert 0.02 < result.rms_residual_px < 0.3  # noise of 0.1 px per axis shows as a residual
    probe = np.array([[320.0, 240.0], [100.0, 400.0]])
    assert np.allclose(map_points(np.array(result.homography), probe), map_points(KNOWN_H, probe), atol=0.3)
    assert "RMS residual" in result.describe()


def test_registration_with_a_mistyped_pair_is_refused() -> None:
    pairs = _pairs(noise_px=0.05)
    pairs[5, 2] += 6.0  # one thermal x off by 6 px
    with pytest.raises(RegistrationRefused, match=r"RMS residual .* exceeds the limit 1.000 px"):
        calibrate_registration(pairs)
    with pytest.raises(RegistrationRefused, match="at least 6"):
        calibrate_registration(_pairs(0.05)[:5])


def test_offset_from_paired_readings_with_its_interval() -> None:
    rng = np.random.default_rng(7)
    clinical = rng.uniform(36.2, 38.5, 24)
    appliance = clinical - 0.40 + rng.normal(0.0, 0.15, clinical.size)
    result = calibrate_offset(np.column_stack([appliance, clinical]))
    lo, hi = result.ci95_c
    assert lo < 0.40 < hi and hi - lo < 0.2
    assert result.offset_c == pytest.approx(0.40, abs=0.08)
    assert result.limits_of_agreement_c[0] < result.offset_c < result.limits_of_agreement_c[1]
    with pytest.raises(OffsetRefused, match="at least 10"):
        calibrate_offset(np.column_stack([appliance[:9], clinical[:9]]))


def test_t_quantiles() -> None:
    assert t975(9) == 2.262
    for df, exact in ((40, 2.021), (60, 2.000), (120, 1.980), (1000, 1.962)):
        assert t975(df) == pytest.approx(exact, abs=0.001)
