"""Face finders behind one protocol: `find(temps_c, visible=None) -> list[Face]` in thermal-frame pixels.

Three paths, one module each:
  * `SkinFinder` (skin.py): regions of skin-warm pixels that stand out from the learnt background and have
    a face's size and shape. Works at any resolution; the only path for 32×24 and smaller.
  * `ThermalDetectorFinder` (detectors.py): RetinaFace on a normalised thermal image.
  * `VisibleFinder` (detectors.py): RetinaFace on the visible frame, boxes and landmarks mapped into the
    thermal frame by the technician's homography.
`ScheduledFinder` (here) runs an expensive finder every Nth frame and lets boxes follow the skin in between.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edge.screening.detectors import (
    RETINAFACE_PATH,
    Detection,
    RetinaFace,
    ThermalDetectorFinder,
    VisibleFinder,
    normalise_thermal,
)
from edge.screening.face_types import (
    EYE_FROM_TOP,
    IPD_OF_WIDTH,
    SKIN_HEIGHT_OF_WIDTH,
    Face,
    FaceFinder,
    proportional_landmarks,
)
from edge.screening.skin import SkinFinder

__all__ = [
    "EYE_FROM_TOP",
    "IPD_OF_WIDTH",
    "RETINAFACE_PATH",
    "SKIN_HEIGHT_OF_WIDTH",
    "Detection",
    "Face",
    "FaceFinder",
    "RetinaFace",
    "ScheduledFinder",
    "SkinFinder",
    "ThermalDetectorFinder",
    "VisibleFinder",
    "normalise_thermal",
    "proportional_landmarks",
]


class ScheduledFinder:
    """Run `inner` every `every_n` frames; in between, move the last faces with their skin's centroid.

    Faces move little between frames at 30 Hz, and the skin centroid inside a slightly enlarged box is a
    cheap, robust estimate of that motion. A new face entering between detector runs waits at most
    every_n − 1 frames, which the passenger gap absorbs.
    """

    def __init__(self, inner: FaceFinder, *, every_n: int, skin_min_c: float) -> None:
        self.inner = inner
        self.every_n = every_n
        self.skin_min_c = skin_min_c
        self._count = 0
        self._last: list[tuple[Face, tuple[float, float]]] = []

    def _skin_centroid(
        self, temps_c: np.ndarray, box: tuple[float, float, float, float]
    ) -> tuple[float, float] | None:
        h, w = temps_c.shape
        x0, y0, x1, y1 = box
        pad_x, pad_y = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
        xa, ya = max(int(x0 - pad_x), 0), max(int(y0 - pad_y), 0)
        xb, yb = min(int(x1 + pad_x) + 1, w), min(int(y1 + pad_y) + 1, h)
        if xa >= xb or ya >= yb:
            return None
        skin = temps_c[ya:yb, xa:xb] >= self.skin_min_c
        if not skin.any():
            return None
        ys, xs = np.nonzero(skin)
        return float(xs.mean() + xa), float(ys.mean() + ya)

    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
        run = self._count % self.every_n == 0
        self._count += 1
        if run:
            faces = self.inner.find(temps_c, visible)
            self._last = []
            for face in faces:
                c = self._skin_centroid(temps_c, face.box)
                self._last.append((face, c if c is not None else face.centre))
            return faces
        moved = []
        kept = []
        for face, anchor in self._last:
            c = self._skin_centroid(temps_c, face.box)
            if c is None:
                continue  # the face left: forget it until the detector runs again
            dx, dy = c[0] - anchor[0], c[1] - anchor[1]
            x0, y0, x1, y1 = face.box
            shifted = replace(
                face,
                box=(x0 + dx, y0 + dy, x1 + dx, y1 + dy),
                landmarks=None if face.landmarks is None else face.landmarks + np.array([dx, dy]),
            )
            moved.append(shifted)
            kept.append((shifted, c))
        self._last = kept
        return moved
