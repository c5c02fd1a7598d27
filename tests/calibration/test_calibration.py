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


def _heated_target(homography: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 5×4 dot grid: black dots on white for the visible camera, the same dots at 45 °C in a 25 °C room
    for a 160×120 thermal camera looking through `homography` (supersampled, with sensor noise)."""
    import cv2

    visible = np.full((480, 640, 3), 255, np.uint8)
    dots = [(150 + 80 * c, 110 + 80 * r) for r in range(4) for c in range(5)]
    for x, y in dots:
        cv2.circle(visible, (x, y), 14, (0, 0, 0), -1, cv2.LINE_AA)
    s, width, height = 4, 160, 120
    xs, ys = np.meshgrid((np.arange(width * s) + 0.5) / s - 0.5, (np.arange(height * s) + 0.5) / s - 0.5)
    back = map_points(np.linalg.inv(homography), np.column_stack([xs.ravel(), ys.ravel()]))
    hot = np.zeros(len(back), bool)
    for x, y in dots:
        hot |= (back[:, 0] - x) ** 2 + (back[:, 1] - y) ** 2 <= 14**2
    temps = np.where(hot, 45.0, 25.0).reshape(height, s, width, s).mean(axis=(1, 3))
    temps += np.random.default_rng(0).normal(0.0, 0.05, temps.shape)
    return visible, temps.astype(np.float32)


def test_registration_from_a_heated_target_without_clicking_points() -> None:
    from edge.calibration.target import TargetNotFound, target_pairs

    truth = np.array([[0.24, 0.006, -8.0], [-0.004, 0.235, -6.0], [2e-5, 1e-5, 1.0]])
    visible, thermal = _heated_target(truth)
    result = calibrate_registration(target_pairs(visible, thermal, (5, 4)))
    assert result.pairs == 20 and result.rms_residual_px < 0.2
    probe = np.array([[320.0, 240.0], [600.0, 60.0]])
    assert np.allclose(map_points(np.array(result.homography), probe), map_points(truth, probe), atol=0.2)
    with pytest.raises(TargetNotFound, match="no contrast"):
        target_pairs(visible, np.full_like(thermal, 25.0), (5, 4))


def test_calibrate_registration_command_from_target_images(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from edge.cli import main
    from edge.config import load_config_with_dropins

    truth = np.array([[0.25, 0.0, -10.0], [0.0, 0.25, -8.0], [0.0, 0.0, 1.0]])
    visible, thermal = _heated_target(truth)
    cv2.imwrite(str(tmp_path / "target.png"), visible)
    np.save(tmp_path / "target.npy", thermal)
    config = tmp_path / "checkpoint-edge.toml"
    config.write_text(
        'site_id = "s"\ndevice_id = "d"\n[[lanes]]\nid = "lane-1"\n'
        '[lanes.thermal]\ntype = "gy_mcu90640"\nport = "/dev/ttyUSB7"\n'
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    args = ["calibrate", "registration", "--config", str(config), "--lane", "lane-1", "--yes"]
    args += [
        "--target-visible",
        str(tmp_path / "target.png"),
        "--target-thermal",
        str(tmp_path / "target.npy"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "homography from 20 point pairs: RMS residual" in out and "check-config: OK" in out
    assert "the service is not running here" in out
    merged, dropins = load_config_with_dropins(config)
    assert [p.name for p in dropins] == ["50-registration-lane-1.toml"]
    fitted = np.array(merged.screening_for("lane-1").registration.homography)
    assert np.allclose(fitted, truth, atol=5e-3)
