"""Visible↔thermal registration: a 3×3 homography a technician calibrates (e.g. with a heated
checkerboard seen by both cameras), mapping visible pixel centres to thermal pixel centres."""

from __future__ import annotations

import cv2
import numpy as np


def map_points(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map N×2 points through a homography; returns N×2 float64."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, np.asarray(homography, dtype=np.float64)).reshape(-1, 2)


def fit_homography(visible_points: np.ndarray, thermal_points: np.ndarray) -> np.ndarray:
    """Least-squares homography from ≥ 4 matched calibration points (visible → thermal)."""
    src = np.asarray(visible_points, dtype=np.float64)
    dst = np.asarray(thermal_points, dtype=np.float64)
    if len(src) < 4 or len(src) != len(dst):
        raise ValueError("need at least four matched point pairs")
    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None:
        raise ValueError("points are degenerate (collinear?)")
    return matrix


def scale_homography(visible_size: tuple[int, int], thermal_size: tuple[int, int]) -> np.ndarray:
    """The homography of two co-axial cameras with the same field of view: a pure scale (w, h sizes)."""
    sx = thermal_size[0] / visible_size[0]
    sy = thermal_size[1] / visible_size[1]
    # Pixel centres: thermal = (visible + 0.5)·s − 0.5.
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
