"""Records that cross rooms: the screening pipeline makes them, the joiner, rules and alerts read them.

They live here, not beside the code that makes them, so that `rules.py` and `passengers.py` (and the
config check) need not import the screening pipeline, OpenCV and onnxruntime for one dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class TemperatureStatus(StrEnum):
    """The screening's temperature verdict for one passenger (`alert.temperature.status`)."""

    NORMAL = "normal"
    ELEVATED = "elevated"
    INDETERMINATE = "indeterminate"
    RECHECK = "recheck"


class Category(StrEnum):
    """A passenger's outcome (`alert.category`), most urgent first: the outcome is the most urgent category
    any reason asks for. `clear` is never published, only counted."""

    HOLD = "hold"
    MEDICAL_REFERRAL = "medical_referral"
    GUIDE_TO_SERVICE_POINT = "guide_to_service_point"
    RECHECK = "recheck"
    CLEAR = "clear"


@dataclass(frozen=True)
class PassengerMeasurement:
    t_first_mono: float
    t_last_mono: float
    t_wall: float
    frames: int
    skin_c: float | None
    core_c: float | None
    ambient_c: float | None
    status: TemperatureStatus
    reasons: tuple[str, ...]
    threshold_c: float
    snapshot: np.ndarray | None = field(default=None, repr=False, compare=False)
    advice: str = ""  # what the operator tells the passenger: "re-measure", "remove glasses", …
    estimator: str = ""  # "FLIR/sites", "FLIR/face-max", "offset"
    frames_used: int = 0  # the best-K clean frames the estimate rests on
    track_id: int = 0
    face_source: str = ""  # "skin", "thermal-retinaface", "visible-retinaface"
    numbers: dict[str, float] = field(default_factory=dict, compare=False)
    # An indeterminate outcome the lane resolves itself (step closer, wait and re-measure, remove glasses…):
    # counted in statistics, never published as an alert. Lockouts and re-checks are published.
    lane_guidance: bool = False
    # The face in `snapshot` (x0, y0, x1, y1 thermal pixels): an alert's snapshot is cropped around it.
    snapshot_box: tuple[float, float, float, float] | None = None
    # When the temperature was decided (time.monotonic()): before t_last_mono when decided in view.
    verdict_mono: float = 0.0


@dataclass(frozen=True)
class LiveFace:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in thermal pixels
    reading_c: float | None  # the face's hottest skin this frame (blackbody-corrected), °C
    faults: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveView:
    """What a lane's screener saw in its latest frame, published for the technician's live view.

    The screener replaces the whole object after each frame (one reference assignment), so a reader on
    another thread always sees one consistent frame and the lane never waits for it.
    """

    seq: int  # frames processed by this screener
    t_mono: float
    temps_c: np.ndarray = field(repr=False, compare=False)  # corrected frame, °C
    faces: tuple[LiveFace, ...] = ()
    blackbody_roi: tuple[int, int, int, int] | None = None  # None when no blackbody is configured
    blackbody_c: float | None = None  # the ROI's reading this frame
    blackbody_valid: bool = True
    measurement_zone: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # fractions of the frame
    note: str = ""  # e.g. "flat-field correction"
