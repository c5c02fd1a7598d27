"""What every face finder returns (`Face`), the finder protocol, and face proportions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

# Face proportions (hairline-to-chin box): eye line, interpupillary distance, nose tip and mouth.
EYE_FROM_TOP = 0.38
IPD_OF_WIDTH = 0.42
SKIN_HEIGHT_OF_WIDTH = 1.27


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in thermal pixels (x1, y1 exclusive)
    score: float
    # 5×2 (x, y) in thermal pixels: the two eyes (image-left first), nose tip, two mouth corners;
    # None when the finder has no landmarks.
    landmarks: np.ndarray | None = None
    source: str = "skin"
    landmarks_estimated: bool = False  # from face proportions, not seen: search wider around them

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


class FaceFinder(Protocol):
    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]: ...


def proportional_landmarks(box: tuple[float, float, float, float]) -> np.ndarray:
    """Eyes, nose and mouth placed by face proportions from the box's top edge and width. The height is
    implied by the width: a mask or a beard cuts the skin box short without moving the eyes."""
    x0, y0, x1, _ = box
    w = x1 - x0
    h = SKIN_HEIGHT_OF_WIDTH * w
    cx = (x0 + x1) / 2.0 - 0.5  # pixel centres sit at integer coordinates
    top = y0 - 0.5
    ipd = IPD_OF_WIDTH * w
    eye_y = top + EYE_FROM_TOP * h
    return np.array(
        [
            [cx - ipd / 2.0, eye_y],
            [cx + ipd / 2.0, eye_y],
            [cx, top + 0.62 * h],
            [cx - 0.18 * w, top + 0.8 * h],
            [cx + 0.18 * w, top + 0.8 * h],
        ]
    )
