"""Per-lane screening: thermal frames in, one measurement and temperature decision per passenger out.

Walking-skeleton version: the warm region's maximum plus a constant skin→core offset; a passenger is
the run of consecutive frames that contain a face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drivers.items import ThermalFrame
from edge.screening.settings import ScreeningSettings


@dataclass(frozen=True)
class PassengerMeasurement:
    t_first_mono: float
    t_last_mono: float
    t_wall: float
    frames: int
    skin_c: float | None
    core_c: float | None
    ambient_c: float | None
    status: str  # "normal" | "elevated" | "indeterminate" | "recheck"
    reasons: tuple[str, ...]
    threshold_c: float
    snapshot: np.ndarray | None = field(default=None, repr=False, compare=False)


class LaneScreener:
    def __init__(self, settings: ScreeningSettings) -> None:
        self._settings = settings
        self._frames: list[ThermalFrame] = []
        self._face_max_c: list[float] = []

    def process(self, frame: ThermalFrame) -> list[PassengerMeasurement]:
        face_max_c = self._warm_region_max_c(frame.temps_c)
        if face_max_c is None:
            return self.flush(frame.t_mono)
        self._frames.append(frame)
        self._face_max_c.append(face_max_c)
        return []

    def flush(self, now_mono: float) -> list[PassengerMeasurement]:
        if not self._frames or now_mono - self._frames[-1].t_mono < self._settings.passenger_gap_s:
            return []
        measurement = self._measure()
        self._frames, self._face_max_c = [], []
        return [measurement]

    def _warm_region_max_c(self, temps_c: np.ndarray) -> float | None:
        warm = temps_c >= self._settings.face_min_c
        if int(warm.sum()) < self._settings.face_min_pixels:
            return None
        return float(temps_c[warm].max())

    def _measure(self) -> PassengerMeasurement:
        s = self._settings
        # The median of per-frame maxima resists a single noisy frame without needing tracking.
        skin_c = float(np.median(self._face_max_c))
        core_c = skin_c + s.skin_to_core_offset_c
        elevated = core_c >= s.threshold_c
        last = self._frames[-1]
        best = self._frames[int(np.argmax(self._face_max_c))]
        return PassengerMeasurement(
            t_first_mono=self._frames[0].t_mono,
            t_last_mono=last.t_mono,
            t_wall=last.t_wall,
            frames=len(self._frames),
            skin_c=round(skin_c, 2),
            core_c=round(core_c, 2),
            ambient_c=last.ambient_c,
            status="elevated" if elevated else "normal",
            reasons=(f"core {core_c:.2f} °C {'≥' if elevated else '<'} threshold {s.threshold_c:.2f} °C",),
            threshold_c=s.threshold_c,
            snapshot=best.temps_c,
        )
