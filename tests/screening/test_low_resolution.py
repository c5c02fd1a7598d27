"""The lane's contract for low-resolution sensors (MLX90640 32×24, AMG8833 8×8): skin segmentation,
a warm blob is a face, a passenger is the run of frames with a face, ended by passenger_gap_s."""

from __future__ import annotations

import numpy as np
import pytest

from edge.screening.pipeline import LaneScreener
from edge.screening.settings import ScreeningSettings
from tests.screening.helpers import frame


def lane_frame(
    skin_max_c: float | None, rng: np.random.Generator, shape: tuple[int, int] = (24, 32)
) -> np.ndarray:
    """Like the lead's demo scene: ambient background, a warm ellipse with one canthus hot pixel."""
    h, w = shape
    img = 24.0 + rng.normal(0.0, 0.08, shape)
    if skin_max_c is not None:
        yy, xx = np.mgrid[0:h, 0:w]
        r2 = ((yy - h * 0.46) / (h * 0.19)) ** 2 + ((xx - w / 2) / (w * 0.11)) ** 2
        face = r2 <= 1.0
        falloff = np.clip(1.0 - r2, 0.0, 1.0)
        img = np.where(face, skin_max_c - 1.2 + 1.2 * falloff, img)
        img[int(h * 0.46), w // 2] = skin_max_c
    return img.astype(np.float32)


def screen(skins: list[float | None], shape: tuple[int, int] = (24, 32), rate_hz: float = 8.0):
    rng = np.random.default_rng(0)
    screener = LaneScreener(ScreeningSettings())
    out = []
    t = 0.0
    for i, skin in enumerate(skins):
        t = i / rate_hz
        out += screener.process(frame(lane_frame(skin, rng, shape), i, t, ambient_c=30.5))
    return out + screener.flush(t + 5.0)


def test_normal_and_febrile_passengers_at_32x24() -> None:
    gap = [None] * 6
    out = screen([35.5] * 6 + gap + [36.8] * 6 + gap)
    assert [m.status for m in out] == ["normal", "elevated"]
    normal, febrile = out
    assert normal.skin_c == pytest.approx(35.5, abs=0.05)
    assert normal.core_c == pytest.approx(
        35.5 + 1.3, abs=0.05
    )  # constant offset: face too small for the model
    assert normal.estimator == "offset"
    assert febrile.core_c is not None and febrile.core_c >= 37.3
    assert normal.frames == 6 and febrile.frames == 6
    assert normal.t_first_mono == 0.0 and normal.t_last_mono == pytest.approx(5 / 8)
    assert normal.threshold_c == 37.3
    assert normal.ambient_c == 24.0  # the configured room temperature, not the thermopile's die temperature


def test_a_passenger_ends_only_after_the_gap() -> None:
    screener = LaneScreener(ScreeningSettings(passenger_gap_s=0.4))
    rng = np.random.default_rng(1)
    assert screener.process(frame(lane_frame(35.4, rng), 0, 0.0)) == []
    assert screener.process(frame(lane_frame(None, rng), 1, 0.2)) == []  # absent 0.2 s: still the same person
    assert screener.process(frame(lane_frame(35.4, rng), 2, 0.3)) == []
    assert screener.flush(0.6) == []
    (m,) = screener.flush(0.75)
    assert m.frames == 2


def test_small_warm_blob_is_a_face() -> None:
    rng = np.random.default_rng(2)
    screener = LaneScreener(ScreeningSettings())
    img = (24.0 + rng.normal(0, 0.05, (24, 32))).astype(np.float32)
    img[10:12, 15:17] = 35.0  # 2×2 = 4 px
    screener.process(frame(img, 0, 0.0))
    (m,) = screener.flush(1.0)
    assert m.status == "normal"
    assert m.skin_c == pytest.approx(35.0, abs=0.01)


def test_three_warm_pixels_are_not_a_face() -> None:
    screener = LaneScreener(ScreeningSettings())
    img = np.full((24, 32), 24.0, np.float32)
    img[10, 15:18] = 35.0
    screener.process(frame(img, 0, 0.0))
    assert screener.flush(1.0) == []


def test_amg8833_8x8_works_through_skin_segmentation() -> None:
    rng = np.random.default_rng(3)
    screener = LaneScreener(ScreeningSettings())
    out = []
    for i, skin in enumerate([35.6] * 5 + [None] * 5 + [36.9] * 5 + [None] * 5):
        img = (24.0 + rng.normal(0, 0.1, (8, 8))).astype(np.float32)
        if skin is not None:
            img[3:6, 3:5] = skin - 0.8  # a face of 3×2 pixels at about a metre
            img[3, 3] = skin
        out += screener.process(frame(img, i, i / 10))
    out += screener.flush(100.0)
    assert [m.status for m in out] == ["normal", "elevated"]
    assert out[0].face_source == "skin"
    assert out[0].skin_c == pytest.approx(35.6, abs=0.01)
