"""Per-sensor measurement envelope: where a thermal device type may call a passenger normal or elevated.

Pixel mixing is the limit. A face a few pixels wide averages the inner canthus (a hot spot ~12 mm across)
with cooler cheeks, hair and background, so the face maximum reads low, and by how much depends on where
the canthus falls on the pixel grid, not only on the face width. Measured on the scene generator
(`python bench/scenes.py --mixing`, docs/performance.md "Sensor envelopes"), five face profiles × three
sub-pixel positions, face maximum below the true canthus:

    face width 15.4 px: 0.01–0.02 °C      14.7 px: 0.03–0.09 °C      13.2 px: 0.17–0.59 °C
    11.5 px: 0.09–0.56 °C    9.2 px: 0.13–1.32 °C    6.6 px: 0.45–1.98 °C    4.6 px: about 1–2 °C

The spread at a given width is as large as the mean, so a distance compensation cannot be validated: it
would over-read some passengers by as much as it under-reads others. The envelope instead admits only faces
wide enough that mixing costs ≤ 0.1 °C: at least 14 px. Outside it (narrower, or farther than the sensor's
maximum distance) a passenger is "step closer" (indeterminate, guidance at the lane), never normal.

    GY-MCU90640 (32×24, 55°):  ≥ 14 px ⇒ within about 0.33 m: a kiosk where the passenger leans in.
    Lepton 3.5 (160×120, 57°): ≥ 14 px ⇒ within about 1.6 m.
    GY-MCU8833 (8×8, 60°): a face is 1–3 px at any usable distance and the sensor reads ±2.5 °C: presence
      and guidance only, never a temperature decision.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SensorEnvelope:
    sensor: str
    min_face_px: float  # narrower faces read low by more than the tolerance: "step closer"
    max_distance_m: float  # farther faces are "step closer" whatever their pixel width
    decides: bool = True  # False: presence and guidance only, never normal/elevated
    warm_up_s: float = 0.0  # default lockout after power-on (the lane's device settings may override)
    note: str = ""


# Mixing costs ≤ 0.1 °C from this width on (see the module docstring).
MIN_FACE_PX = 14.0

ENVELOPES: dict[str, SensorEnvelope] = {
    "gy_mcu90640": SensorEnvelope(
        "gy_mcu90640",
        MIN_FACE_PX,
        0.4,
        warm_up_s=300.0,
        note="MLX90640 32×24: faces ≥ 14 px, within ~0.33 m at 55°",
    ),
    "lepton_uvc": SensorEnvelope(
        "lepton_uvc",
        MIN_FACE_PX,
        1.6,
        warm_up_s=900.0,
        note="Lepton 3.5 160×120: faces ≥ 14 px, within ~1.6 m at 57°",
    ),
    "gy_mcu8833": SensorEnvelope(
        "gy_mcu8833",
        MIN_FACE_PX,
        0.0,
        decides=False,
        warm_up_s=60.0,
        note="AMG8833 8×8: presence and guidance only",
    ),
}

REASON_PRESENCE_ONLY = "presence and guidance only: this sensor makes no temperature decision"
ADVICE_PRESENCE_ONLY = "temperature not screened at this lane"


def envelope_for(sensor: str | None) -> SensorEnvelope | None:
    """The envelope of a thermal device type; None for unknown types and for callers without a device
    (the clinical evaluation, unit tests): then only the configured gates apply."""
    if sensor is None:
        return None
    return ENVELOPES.get(sensor)
