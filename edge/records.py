"""Records that cross rooms: the screening pipeline makes them, the joiner, rules and alerts read them.

They live here, not beside the code that makes them, so that `rules.py` and `passengers.py` (and the
config check) need not import the screening pipeline, OpenCV and onnxruntime for one dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


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
    advice: str = ""  # what the operator tells the passenger: "re-measure", "remove glasses", …
    estimator: str = ""  # "FLIR/sites", "FLIR/face-max", "offset"
    frames_used: int = 0  # the best-K clean frames the estimate rests on
    track_id: int = 0
    face_source: str = ""  # "skin", "thermal-retinaface", "visible-retinaface"
    numbers: dict[str, float] = field(default_factory=dict, compare=False)
