"""The items that cross the drivers' border: what a parser decodes and what a device hands to a lane.

Parsers are pure (no clock, no I/O), so they emit payloads (`ThermalImage`, `IdDocument`, `Rejected`);
the device that owns the transport stamps them with its id, a sequence number and the capture time,
producing `ThermalFrame` and `IdScan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ThermalImage:
    """One decoded radiometric image, as the wire carried it (already un-mirrored)."""

    temps_c: np.ndarray  # float32, H×W, °C
    ambient_c: float | None = None  # sensor/ambient temperature when the device reports one
    telemetry: SensorTelemetry | None = None  # what the camera says about itself (Lepton footer rows)


@dataclass(frozen=True)
class SensorTelemetry:
    """A radiometric camera's own state, decoded from its telemetry. None fields: not reported."""

    ffc_state: str | None = None  # "never", "imminent", "in_progress", "complete" (flat-field correction)
    ffc_desired: bool = False
    uptime_s: float | None = None  # since the camera's power-on: the warm-up clock
    frame_counter: int | None = None
    fpa_temp_c: float | None = None
    scene_emissivity: float | None = None  # the camera already applied this emissivity (1.0: none)
    background_temp_c: float | None = None  # reflected temperature the camera applied with it
    shutter_lockout: bool = False  # camera outside its shutter's temperature range: no FFC possible


@dataclass(frozen=True)
class IdDocument:
    """One decoded identity document. Dates are ISO `YYYY-MM-DD` or None when absent/unknown."""

    doc_type: str  # "cn_resident_id", "mrz_td1", "mrz_td2", "mrz_td3", "aamva", "barcode"
    # Personal data stays out of reprs, so a stray log line or traceback cannot leak it.
    number: str = field(repr=False)
    name: str = field(default="", repr=False)
    birth_date: str | None = field(default=None, repr=False)
    sex: str | None = None  # "M", "F" or None
    region: str = ""  # 6-digit region code (resident ID) or ISO 3166 alpha-3 nationality (MRZ)
    expiry: str | None = None
    valid: bool = True
    failed_check: str | None = None  # name of the first failing check when not valid
    extra: dict[str, str] = field(default_factory=dict)  # e.g. {"health_code": "green"}


@dataclass(frozen=True)
class Rejected:
    """Bytes a parser refused, and why. Counted per device; never fatal."""

    reason: str
    nbytes: int


@dataclass(frozen=True)
class ThermalFrame:
    device_id: str
    seq: int
    t_mono: float  # time.monotonic() when the frame's last byte arrived
    t_wall: float  # time.time() at the same moment
    temps_c: np.ndarray
    ambient_c: float | None = None
    telemetry: SensorTelemetry | None = None


@dataclass(frozen=True)
class IdScan:
    device_id: str
    t_mono: float
    t_wall: float
    document: IdDocument


@dataclass(frozen=True)
class VisibleFrame:
    """One picture from a lane's visible-light camera (paired with the thermal sensor for face finding)."""

    device_id: str
    seq: int
    t_mono: float
    t_wall: float
    bgr: np.ndarray  # uint8, H×W×3, OpenCV channel order


ParsedItem = ThermalImage | IdDocument | Rejected


class Parser(Protocol):
    """Incremental, pure decoder: feed bytes split anywhere, get whole items out."""

    def feed(self, chunk: bytes) -> list[ParsedItem]: ...
