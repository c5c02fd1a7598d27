"""Skin segmentation: faces as regions of skin-warm pixels, at any resolution (down to 8×8)."""

from __future__ import annotations

import cv2
import numpy as np

from edge.screening.face_types import SKIN_HEIGHT_OF_WIDTH, Face, proportional_landmarks


class SkinFinder:
    def __init__(
        self,
        *,
        skin_min_c: float,
        min_pixels: int,
        exclude: tuple[int, int, int, int] | None = None,
        landmarks_min_width_px: float = 12.0,
    ) -> None:
        self.skin_min_c = skin_min_c
        self.min_pixels = min_pixels
        self.exclude = exclude
        self.landmarks_min_width_px = landmarks_min_width_px

    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
        h_img, w_img = temps_c.shape
        # Large frames: label a strided view (a face spans far more than the stride), then refine each
        # box at full resolution. Labelling a 640×512 frame costs ~3 ms on one core; the view ~0.2 ms.
        stride = max(1, min(h_img, w_img) // 128)
        mask = (temps_c[::stride, ::stride] >= self.skin_min_c).astype(np.uint8)
        if self.exclude is not None:
            x0, y0, x1, y1 = self.exclude
            # The blackbody is as warm as skin and must never be a face.
            mask[y0 // stride : -(-y1 // stride), x0 // stride : -(-x1 // stride)] = 0
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        faces = []
        for i in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area * stride * stride < self.min_pixels:
                continue
            if stride > 1:
                refined = self._refine(temps_c, x * stride, y * stride, w * stride, h * stride, stride)
                if refined is None:
                    continue
                x, y, w, h = refined
            # A skin region continues into the neck; keep a face-shaped box from the top. Blobs a few
            # pixels wide are left whole: their width is not resolved well enough to crop by.
            if w >= 6:
                h = min(h, round(SKIN_HEIGHT_OF_WIDTH * w + 0.5))
            box = (float(x), float(y), float(x + w), float(y + h))
            landmarks = proportional_landmarks(box) if w >= self.landmarks_min_width_px else None
            faces.append(Face(box, 1.0, landmarks, source="skin", landmarks_estimated=landmarks is not None))
        return _drop_parts_below(faces)

    def _refine(
        self, temps_c: np.ndarray, x: int, y: int, w: int, h: int, stride: int
    ) -> tuple[int, int, int, int] | None:
        """Exact extent of skin pixels in the stride-expanded window of a coarse component."""
        h_img, w_img = temps_c.shape
        xa, ya = max(x - stride, 0), max(y - stride, 0)
        xb, yb = min(x + w + stride, w_img), min(y + h + stride, h_img)
        skin = temps_c[ya:yb, xa:xb] >= self.skin_min_c
        if self.exclude is not None:
            ex0, ey0, ex1, ey1 = self.exclude
            skin[max(ey0 - ya, 0) : max(ey1 - ya, 0), max(ex0 - xa, 0) : max(ex1 - xa, 0)] = False
        cols = np.flatnonzero(skin.any(axis=0))
        rows = np.flatnonzero(skin.any(axis=1))
        if cols.size == 0:
            return None
        return xa + int(cols[0]), ya + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _drop_parts_below(faces: list[Face]) -> list[Face]:
    """A mask or scarf splits one person's skin into a face and a neck (or chin) below it: a region lying
    under a wider one, within its width and less than a face height below it, is that person, not a
    second face."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.width, reverse=True):
        cx, _ = face.centre
        beneath = any(
            other.box[0] <= cx <= other.box[2]
            and face.box[1] >= other.box[1]
            and face.box[1] - other.box[3] < SKIN_HEIGHT_OF_WIDTH * other.width
            for other in kept
        )
        if not beneath:
            kept.append(face)
    return kept
