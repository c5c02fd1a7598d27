"""Face finders behind one protocol: `find(frame) -> list[Face]` in thermal-frame pixel coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in thermal pixels (x1, y1 exclusive)
    score: float
    # 5×2 (x, y) in thermal pixels: right eye, left eye, nose tip, right and left mouth corner
    # (image left/right as the detector reports them); None when the finder has no landmarks.
    landmarks: np.ndarray | None = None
    source: str = "skin"
