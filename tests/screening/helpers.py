"""Running a LaneScreener over rendered scenes, as the lane would."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from drivers.items import ThermalFrame
from edge.screening.pipeline import LaneScreener, PassengerMeasurement
from edge.screening.scene import Rendered


def frame(temps_c: np.ndarray, seq: int, t_mono: float, ambient_c: float | None = None) -> ThermalFrame:
    return ThermalFrame("thermal-test", seq, t_mono, 1_700_000_000.0 + t_mono, temps_c, ambient_c)


def run(
    screener: LaneScreener, rendered: Sequence[Rendered], rate_hz: float = 9.0, start_s: float = 0.0
) -> list[PassengerMeasurement]:
    """Feed the frames, then an empty frame stream long enough to end every passenger."""
    out: list[PassengerMeasurement] = []
    t = start_s
    for i, r in enumerate(rendered):
        t = start_s + i / rate_hz
        out += screener.process(frame(r.temps_c, i, t))
    out += screener.flush(t + 10.0)
    return out
