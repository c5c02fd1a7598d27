"""Blackbody (ETRS) reference: per-frame offset correction and the lock-out when the reference fails.

The blackbody radiates a known set temperature inside a fixed ROI. Whatever the camera reads there
minus the set point is the camera's current error, removed from every pixel of that frame. Slow camera
drift is exactly what this corrects; what it cannot correct is a reference that is missing (reading far
from the set point), moved or occluded (non-uniform ROI) or unstable (jumping between frames), and then
screening is locked out rather than silently uncorrected.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.screening.settings import ReferenceSettings


@dataclass(frozen=True)
class ReferenceState:
    valid: bool
    offset_c: float  # add to the frame to correct it (0 when disabled or invalid)
    reason: str  # empty when valid
    roi_c: float | None = None  # median reading inside the ROI this frame


class BlackbodyReference:
    def __init__(self, settings: ReferenceSettings) -> None:
        self.settings = settings
        self._history: deque[float] = deque(maxlen=settings.window_frames)

    def roi_slice(self) -> tuple[slice, slice]:
        x0, y0, x1, y1 = self.settings.roi
        return slice(y0, y1), slice(x0, x1)

    def update(self, temps_c: np.ndarray) -> ReferenceState:
        s = self.settings
        if not s.enabled:
            return ReferenceState(True, 0.0, "")
        ys, xs = self.roi_slice()
        roi = temps_c[ys, xs]
        if roi.size == 0:
            return ReferenceState(False, 0.0, "blackbody ROI lies outside the frame")
        # Median: robust to a dead pixel; the spread test catches anything bigger.
        reading = float(np.median(roi))
        spread = float(np.percentile(roi, 90) - np.percentile(roi, 10))
        previous = self._history[-1] if self._history else None
        self._history.append(reading)
        offset = s.set_point_c - reading
        if abs(offset) > s.max_offset_c:
            self._history.clear()
            return ReferenceState(
                False,
                0.0,
                f"blackbody missing: ROI reads {reading:.2f} °C, set point {s.set_point_c:.2f} °C",
                reading,
            )
        if spread > s.max_spread_c:
            self._history.clear()
            return ReferenceState(
                False, 0.0, f"blackbody moved or occluded: ROI spread {spread:.2f} °C", reading
            )
        if previous is not None and abs(reading - previous) > s.max_step_c:
            self._history.clear()
            self._history.append(reading)
            return ReferenceState(
                False, 0.0, f"blackbody unstable: jumped {reading - previous:+.2f} °C between frames", reading
            )
        if len(self._history) < min(3, s.window_frames):
            return ReferenceState(False, 0.0, "blackbody settling", reading)
        steps = np.diff(np.asarray(self._history))
        jitter = float(steps.std()) if steps.size > 1 else 0.0
        if jitter > s.max_jitter_c:
            return ReferenceState(
                False, 0.0, f"blackbody unstable: frame-to-frame jitter {jitter:.2f} °C", reading
            )
        return ReferenceState(True, offset, "", reading)
