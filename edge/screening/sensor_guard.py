"""Whether the thermal sensor may measure right now, and the corrections applied to each frame before faces
are looked for.

Order of corrections (each applied once, docs/screening.md "Order of corrections"):

  1. emissivity and reflected temperature: radiometric cameras only, and only when the camera did not apply
     them itself (a Lepton echoes its scene emissivity in telemetry; 1.0 means uncorrected);
  2. blackbody offset: the ETRS radiates as a near-perfect black body, so its ROI is left out of the skin
     emissivity correction and the offset it gives is the camera's own error;
  3. site offset (the technician's calibration), 4. the estimator: downstream, in the pipeline.

Lockouts: warm-up after power-on (per sensor type, configurable), flat-field correction (a closed shutter
seen as a flat frame, or the Lepton's telemetry saying "imminent"/"in progress", then ffc_settle_s), and an
invalid blackbody. During any of them frames keep passengers alive but are never measured.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from drivers.items import ThermalFrame
from edge.screening.envelope import SensorEnvelope
from edge.screening.reference import BlackbodyReference, ReferenceState
from edge.screening.settings import ScreeningSettings

log = logging.getLogger(__name__)

KELVIN = 273.15
FAULT_FFC = "camera in flat-field correction"
FAULT_BLACKBODY = "blackbody not valid"
FAULT_WARM_UP = "sensor warming up"
FAULT_SHUTTER_LOCKOUT = "camera shutter locked out"
# A frame gap this long means the device was gone (unplugged, power cycled): its warm-up starts again.
POWER_GAP_S = 10.0
RADIOMETRIC_SENSORS = ("lepton_uvc",)


def emissivity_corrected(
    temps_c: np.ndarray, emissivity: float, reflected_c: float, exclude: tuple[int, int, int, int] | None
) -> np.ndarray:
    """Object temperature from an ε = 1 reading (total-radiation form):
    T_obj = [(T_app⁴ − (1 − ε)·T_refl⁴) / ε]^¼ in kelvin. ε 0.98 and 24 °C reflected add ~0.21 °C at 35 °C."""
    t_app = temps_c.astype(np.float64) + KELVIN
    t_refl4 = (reflected_c + KELVIN) ** 4
    out = ((t_app**4 - (1.0 - emissivity) * t_refl4) / emissivity) ** 0.25 - KELVIN
    if exclude is not None:
        x0, y0, x1, y1 = exclude
        out[y0:y1, x0:x1] = temps_c[y0:y1, x0:x1]  # the blackbody is not skin
    return out.astype(np.float32)


@dataclass(frozen=True)
class FrameCheck:
    shutter: bool  # the frame shows the closed shutter: no scene at all
    temps_c: np.ndarray  # corrected frame (emissivity, blackbody)
    faults: tuple[str, ...] = ()  # every face in this frame carries these


@dataclass
class _Drift:
    first_offset_c: float | None = None
    offset_c: float | None = None
    logged_drift_c: float = 0.0
    numbers: dict[str, float] = field(default_factory=dict)


class SensorGuard:
    def __init__(
        self, settings: ScreeningSettings, envelope: SensorEnvelope | None, sensor: str | None
    ) -> None:
        self._s = settings
        self._reference = BlackbodyReference(settings.reference)
        self._reference_state = ReferenceState(True, 0.0, "")
        self._radiometric = sensor in RADIOMETRIC_SENSORS
        default_warm_up = envelope.warm_up_s if envelope is not None else 0.0
        self.warm_up_s = default_warm_up if settings.warm_up_s is None else settings.warm_up_s
        self._powered_mono: float | None = None
        self._last_frame_mono: float | None = None
        self._uptime_s: float | None = None
        self._ffc_until_mono = -math.inf
        self._flat_since_mono: float | None = None
        self._shutter_lockout = False
        self._drift = _Drift()

    # ---- state shown by the lane ---------------------------------------------------------------------

    @property
    def reference_state(self) -> ReferenceState:
        return self._reference_state

    def warm_up_left_s(self, now_mono: float | None = None) -> float:
        if self.warm_up_s <= 0:
            return 0.0
        if self._uptime_s is not None:
            return max(0.0, self.warm_up_s - self._uptime_s)
        if self._powered_mono is None or self._last_frame_mono is None:
            return self.warm_up_s
        now = self._last_frame_mono if now_mono is None else now_mono
        return max(0.0, self.warm_up_s - (now - self._powered_mono))

    @property
    def lockout(self) -> str:
        """Why screening is locked out ("" when it is not): shown in lane health, status and the log."""
        if not self._reference_state.valid:
            return self._reference_state.reason
        if self._shutter_lockout:
            return "camera outside its shutter's temperature range (no flat-field correction possible)"
        left = self.warm_up_left_s()
        if left > 0 and self._last_frame_mono is not None:
            return f"sensor warming up ({self.warm_up_s:.0f} s after power-on)"  # stable text: status compares it
        return ""

    def details(self) -> dict[str, float]:
        """Numbers for the status message: blackbody offset and its drift since the reference was found."""
        d = self._drift
        out: dict[str, float] = {}
        if d.offset_c is not None and d.first_offset_c is not None:
            out["blackbody_offset_c"] = round(d.offset_c, 2)
            out["blackbody_drift_c"] = round(d.offset_c - d.first_offset_c, 2)
        return out

    # ---- per frame -----------------------------------------------------------------------------------

    def _clock(self, frame: ThermalFrame) -> None:
        now = frame.t_mono
        if self._last_frame_mono is None or now - self._last_frame_mono >= POWER_GAP_S:
            self._powered_mono = now
        self._last_frame_mono = now
        telemetry = frame.telemetry
        self._uptime_s = telemetry.uptime_s if telemetry is not None else None
        # Lepton status bit 15: outside −10…+80 °C the shutter is locked and the camera drifts uncorrected.
        self._shutter_lockout = telemetry is not None and telemetry.shutter_lockout

    def _shutter(self, frame: ThermalFrame) -> bool:
        """Closed shutter: the camera says so (telemetry), or the frame is flat for at most ffc_max_s."""
        s, now, temps = self._s, frame.t_mono, frame.temps_c
        telemetry = frame.telemetry
        if telemetry is not None and telemetry.ffc_state in ("imminent", "in_progress"):
            # "Imminent" precedes the shutter by ~2 s: the scene is still seen (faces keep their tracks) but
            # the reading is about to jump; the camera's own word is better evidence than a flat frame.
            self._ffc_until_mono = now + s.ffc_settle_s
        step = max(1, min(temps.shape) // 64)  # a closed shutter is flat everywhere: a sparse grid shows it
        flat = float(temps[::step, ::step].std()) <= s.ffc_uniform_std_c
        if not flat:
            self._flat_since_mono = None
            return False
        if self._flat_since_mono is None:
            self._flat_since_mono = now
        # A shutter closes for a second or so; a frame that stays flat longer is a noiseless simulator or a
        # dead sensor, and must not keep passengers alive for ever.
        if now - self._flat_since_mono <= s.ffc_max_s:
            self._ffc_until_mono = now + s.ffc_settle_s
            return True
        return False

    def _blackbody(self, temps: np.ndarray) -> np.ndarray:
        ref = self._reference.update(temps)
        was_valid = self._reference_state.valid
        self._reference_state = ref
        if was_valid and not ref.valid:
            log.warning("screening locked out: %s", ref.reason)
        elif ref.valid and not was_valid:
            log.warning("screening resumed: blackbody valid again (offset %+.2f °C)", ref.offset_c)
        if not (ref.valid and self._s.reference.enabled):
            return temps
        d = self._drift
        if d.first_offset_c is None:
            d.first_offset_c = ref.offset_c
        d.offset_c = ref.offset_c
        drift = ref.offset_c - d.first_offset_c
        if abs(drift - d.logged_drift_c) >= self._s.reference.drift_log_step_c:
            d.logged_drift_c = drift
            log.warning(
                "blackbody offset drift: %+.2f °C since the reference was found (offset now %+.2f °C)",
                drift,
                ref.offset_c,
            )
        # Correct before finding faces too: the skin threshold is a true temperature.
        return temps + np.float32(ref.offset_c)

    def check(self, frame: ThermalFrame, ambient_c: float) -> FrameCheck:
        s = self._s
        self._clock(frame)
        if self._shutter(frame):
            return FrameCheck(True, frame.temps_c, (FAULT_FFC,))
        temps = frame.temps_c
        telemetry = frame.telemetry
        camera_eps = telemetry.scene_emissivity if telemetry is not None else None
        bb_roi = s.reference.roi if s.reference.enabled else None
        if self._radiometric and s.emissivity < 1.0 and (camera_eps is None or camera_eps >= 0.999):
            reflected = s.reflected_c if s.reflected_c is not None else ambient_c
            temps = emissivity_corrected(temps, s.emissivity, reflected, bb_roi)
        corrected = self._blackbody(temps)
        faults = []
        if frame.t_mono < self._ffc_until_mono:
            faults.append(FAULT_FFC)
        if not self._reference_state.valid:
            # The kind only ("blackbody missing"): per-frame numbers would make every frame's fault distinct.
            faults.append(f"{FAULT_BLACKBODY}: {self._reference_state.reason.split(':')[0]}")
        if self._shutter_lockout:
            faults.append(FAULT_SHUTTER_LOCKOUT)
        left = self.warm_up_left_s(frame.t_mono)
        if left > 0:
            # Constant text: a countdown would make every frame's fault distinct (and the reasons endless).
            faults.append(f"{FAULT_WARM_UP} ({self.warm_up_s:.0f} s after power-on)")
        return FrameCheck(False, corrected, tuple(faults))
