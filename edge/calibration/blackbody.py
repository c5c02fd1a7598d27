"""Find the blackbody: the patch that stays hot, uniform and still while people come and go.

Over N frames, a pixel belongs to the blackbody when its mean is well above the scene's background, its
frame-to-frame standard deviation is at the noise level (a face moves and breathes; a blackbody does not),
and it sits in a compact region. The proposed ROI is that region shrunk by one pixel on each side (edge
pixels mix with the surround), and the proposed set point is the reading rounded to the 0.5 °C steps
blackbodies are set in: the technician confirms it against the blackbody's own display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

MIN_FRAMES = 8
MIN_ABOVE_BACKGROUND_C = 5.0
MAX_TEMPORAL_STD_C = 0.3
MIN_ROI_PIXELS = 4


class BlackbodyNotFound(ValueError):
    pass


@dataclass(frozen=True)
class BlackbodyProposal:
    roi: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive), thermal pixels
    reading_c: float  # median of the ROI over the frames, as the camera reads it
    set_point_c: float  # proposed: the reading rounded to 0.5 °C; the blackbody's display is the truth
    temporal_std_c: float  # frame-to-frame standard deviation of the ROI median
    spread_c: float  # 10–90 % spread inside the ROI
    frames: int

    def describe(self) -> str:
        return (
            f"blackbody ROI x0,y0,x1,y1 = {list(self.roi)}; reads {self.reading_c:.2f} °C "
            f"(frame-to-frame σ {self.temporal_std_c:.3f} °C, spread {self.spread_c:.2f} °C over "
            f"{self.frames} frames); proposed set point {self.set_point_c:.1f} °C"
        )


def _component_box(labels: np.ndarray, index: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(labels == index)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _shrink(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    if x1 - x0 >= 4:
        x0, x1 = x0 + 1, x1 - 1
    if y1 - y0 >= 4:
        y0, y1 = y0 + 1, y1 - 1
    return x0, y0, x1, y1


def find_blackbody(frames: Sequence[np.ndarray]) -> BlackbodyProposal:
    if len(frames) < MIN_FRAMES:
        raise BlackbodyNotFound(f"need at least {MIN_FRAMES} frames, got {len(frames)}")
    stack = np.stack([np.asarray(f, dtype=np.float32) for f in frames])
    mean, std = stack.mean(axis=0), stack.std(axis=0)
    background = float(np.median(mean))
    steady_hot = (mean >= background + MIN_ABOVE_BACKGROUND_C) & (std <= MAX_TEMPORAL_STD_C)
    count, labels, _stats, _ = cv2.connectedComponentsWithStats(steady_hot.astype(np.uint8), connectivity=4)
    candidates = []
    for index in range(1, count):
        box = _shrink(_component_box(labels, index))
        x0, y0, x1, y1 = box
        roi = stack[:, y0:y1, x0:x1]
        if roi[0].size < MIN_ROI_PIXELS or not (labels[y0:y1, x0:x1] == index).all():
            continue  # too small, or not a filled rectangle (a blackbody aperture is)
        per_frame = np.median(roi.reshape(len(stack), -1), axis=1)
        pixels = roi.mean(axis=0)
        spread = float(np.percentile(pixels, 90) - np.percentile(pixels, 10))
        candidates.append((float(per_frame.std()), spread, box, float(np.median(per_frame))))
    if not candidates:
        raise BlackbodyNotFound(
            f"no steady patch ≥ {MIN_ABOVE_BACKGROUND_C:.0f} °C above the background ({background:.1f} °C) "
            f"with frame-to-frame σ ≤ {MAX_TEMPORAL_STD_C} °C: is the blackbody on, warmed up and in view?"
        )
    temporal, spread, box, reading = min(candidates, key=lambda c: (c[0] + c[1], -_area(c[2])))
    return BlackbodyProposal(
        roi=box,
        reading_c=round(reading, 3),
        set_point_c=round(reading * 2.0) / 2.0,
        temporal_std_c=round(temporal, 4),
        spread_c=round(spread, 3),
        frames=len(stack),
    )


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])
