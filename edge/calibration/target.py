"""Registration from a heated target: a symmetric grid of dots that both cameras see (dark dots on a light
board for the visible camera, the same dots heated for the thermal one). Each camera's dot centres are found
with OpenCV's circle-grid finder, in the same row-major order, so they pair up without anyone clicking.

The thermal frame is stretched to 8 bits (hot dots dark, as the finder expects) and enlarged first: at
160×120 a dot is a few pixels across, below the blob detector's smallest area.
"""

from __future__ import annotations

import cv2
import numpy as np

THERMAL_UPSCALE = 4


class TargetNotFound(ValueError):
    pass


def _find_grid(gray: np.ndarray, grid: tuple[int, int], what: str) -> np.ndarray:
    found, centres = cv2.findCirclesGrid(gray, grid, flags=cv2.CALIB_CB_SYMMETRIC_GRID)
    if not found or centres is None:
        raise TargetNotFound(
            f"no {grid[0]}×{grid[1]} dot grid found in the {what} image: is the whole target in view?"
        )
    return np.asarray(centres, dtype=np.float64).reshape(-1, 2)


def visible_dots(bgr: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    return _find_grid(gray, grid, "visible")


def thermal_dots(temps_c: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    lo, hi = np.percentile(temps_c, (1, 99.9))
    if hi - lo < 1.0:
        raise TargetNotFound("the thermal frame has no contrast: is the target heated?")
    inverted = np.clip((hi - temps_c) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    k = THERMAL_UPSCALE
    big = cv2.resize(inverted, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC)
    centres = _find_grid(big, grid, "thermal")
    return (centres + 0.5) / k - 0.5  # back to thermal pixel centres


def target_pairs(visible_bgr: np.ndarray, temps_c: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """N×4 `visible_x, visible_y, thermal_x, thermal_y`, ready for calibrate_registration."""
    return np.hstack([visible_dots(visible_bgr, grid), thermal_dots(temps_c, grid)])
