"""FLIR Lepton 2.5 / 3.5 on a PureThermal board (USB UVC, VID:PID 1e4e:0100), read as radiometric Y16.

Recipe (from flirpy and OpenCV PRs #7293/#12454): open with OpenCV's V4L2
backend, FOURCC `Y16 `, CAP_PROP_CONVERT_RGB off, so each frame is 16-bit single-channel. With TLinear on,
a pixel is Kelvin × 100 (0.01 K; 0.1 K in low-gain mode). A 160×122 frame carries two telemetry rows at
the bottom (footer mode, which the PureThermal firmware selects for that frame size): row 120 holds telemetry
lines A (words 0–79) and B (80–159), row 121 line C. They are decoded (`parse_telemetry`) and stripped from
the image: the flat-field-correction state gates measurement, the uptime is the warm-up clock, the
emissivity echo says whether the camera already corrected for skin, and line C's TLinear resolution
overrides the configured one.

Only radiometric streams are accepted: colour/8-bit video (CONVERT_RGB left on, a UYVY/Y8 mode) and 16-bit
values that cannot be Kelvin (TLinear off, or a Lepton 3.0, which is not radiometric) are refused with an
error that says what to fix, never turned into temperatures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from drivers.device import Capture, CaptureDevice, CaptureGone, DeviceItem
from drivers.items import SensorTelemetry, ThermalFrame, ThermalImage
from drivers.strict import StrictModel

PURETHERMAL_VID_PID = ("1e4e", "0100")
KELVIN_OFFSET_C = 273.15
# Y16 frame shapes PureThermal firmware offers -> telemetry rows at the bottom of each.
FRAME_SHAPES = {(120, 160): 0, (122, 160): 2, (60, 80): 0}
# A scene in front of a checkpoint camera lies within these bounds, in Kelvin (-73 °C … 227 °C);
# a median outside them means the numbers are not Kelvin×100.
PLAUSIBLE_MEDIAN_K = (200.0, 500.0)


FFC_STATES = ("never", "imminent", "in_progress", "complete")  # status bits 4–5, in the SDK's order
FRACTION_ONE = 8192.0  # 3.13 fixed point


def _u32(words: np.ndarray, at: int) -> int:
    return int(words[at]) | (int(words[at + 1]) << 16)  # low word first


def parse_telemetry(rows: np.ndarray) -> tuple[SensorTelemetry, float | None]:
    """The two footer rows of a 160×122 Lepton 3.x frame -> (telemetry, TLinear K/count or None).

    Row A: 1–2 uptime ms, 3–4 status (bit 3 FFC desired, bits 4–5 FFC state, bit 15 shutter lockout),
    20–21 frame counter, 24 FPA temperature K×100. Row B: 19 scene emissivity ×8192, 20 background
    temperature K×100. Row C: 48 TLinear enabled, 49 TLinear resolution (0 → 0.1 K, 1 → 0.01 K).
    """
    words = np.asarray(rows, dtype=np.uint16).reshape(-1)
    a, b, c = words[0:80], words[80:160], words[160:240]
    status = _u32(a, 3)
    emissivity = int(b[19]) / FRACTION_ONE if b[19] else None
    background_c = int(b[20]) / 100.0 - KELVIN_OFFSET_C if b[20] else None
    telemetry = SensorTelemetry(
        ffc_state=FFC_STATES[(status >> 4) & 0b11],
        ffc_desired=bool((status >> 3) & 1),
        uptime_s=_u32(a, 1) / 1000.0,
        frame_counter=_u32(a, 20),
        fpa_temp_c=int(a[24]) / 100.0 - KELVIN_OFFSET_C if a[24] else None,
        scene_emissivity=emissivity,
        background_temp_c=background_c,
        shutter_lockout=bool((status >> 15) & 1),
    )
    resolution = None
    if int(c[48]) == 1:  # TLinear on: the pixel step is known from the camera itself
        resolution = 0.01 if int(c[49]) == 1 else 0.1
    return telemetry, resolution


def encode_telemetry(t: SensorTelemetry, resolution_k: float = 0.01) -> np.ndarray:
    """The inverse of `parse_telemetry`: two 160-word footer rows, for simulators and tests."""
    words = np.zeros(320, dtype=np.uint16)
    a, b, c = words[0:80], words[80:160], words[160:240]

    def put32(row: np.ndarray, at: int, value: int) -> None:
        row[at], row[at + 1] = value & 0xFFFF, (value >> 16) & 0xFFFF

    status = (FFC_STATES.index(t.ffc_state or "never") << 4) | (int(t.ffc_desired) << 3)
    status |= int(t.shutter_lockout) << 15
    put32(a, 3, status)
    put32(a, 1, round((t.uptime_s or 0.0) * 1000.0))
    put32(a, 20, t.frame_counter or 0)
    if t.fpa_temp_c is not None:
        a[24] = round((t.fpa_temp_c + KELVIN_OFFSET_C) * 100.0)
    if t.scene_emissivity is not None:
        b[19] = round(t.scene_emissivity * FRACTION_ONE)
    if t.background_temp_c is not None:
        b[20] = round((t.background_temp_c + KELVIN_OFFSET_C) * 100.0)
    c[48], c[49] = 1, 1 if resolution_k == 0.01 else 0
    return words.reshape(2, 160)


class NotRadiometric(ValueError):
    """The stream is not radiometric 16-bit data; the message says what to change."""


def decode_y16(frame: np.ndarray, *, resolution_k: float = 0.01) -> ThermalImage:
    """One OpenCV frame -> °C image. Pure: testable without a camera."""
    array = np.asarray(frame)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3:
        raise NotRadiometric(
            f"the camera delivers {array.shape[2]}-channel {array.dtype} video, not Y16: set FOURCC 'Y16 ' "
            "and CAP_PROP_CONVERT_RGB=0 (and check the camera is a PureThermal, 1e4e:0100)"
        )
    if array.dtype == np.uint8 and array.ndim == 2 and array.shape[0] == 1:
        # Some OpenCV builds hand unconverted frames over as one row of raw bytes.
        raw = array.reshape(-1)
        shapes = [s for s in FRAME_SHAPES if s[0] * s[1] * 2 == raw.size]
        if not shapes:
            raise NotRadiometric(f"a raw buffer of {raw.size} bytes matches no Y16 frame size")
        array = raw.view("<u2").reshape(shapes[0])
    if array.dtype != np.uint16:
        raise NotRadiometric(f"the camera delivers {array.dtype} pixels, not 16-bit Y16 (8-bit AGC video?)")
    shape = (int(array.shape[0]), int(array.shape[1]))
    if shape not in FRAME_SHAPES:
        raise NotRadiometric(
            f"unexpected Y16 frame size {shape[1]}×{shape[0]} (a Lepton gives 160×120, 160×122 or 80×60)"
        )
    telemetry_rows = FRAME_SHAPES[shape]
    image = array[: shape[0] - telemetry_rows] if telemetry_rows else array
    telemetry = None
    if telemetry_rows:
        telemetry, camera_resolution = parse_telemetry(array[shape[0] - telemetry_rows :])
        resolution_k = camera_resolution or resolution_k
    median_k = float(np.median(image)) * resolution_k
    low, high = PLAUSIBLE_MEDIAN_K
    if not low <= median_k <= high:
        raise NotRadiometric(
            f"pixel values (median {median_k:.1f} K at {resolution_k} K/count) are not Kelvin: TLinear is "
            "off, the resolution setting is wrong, or the module is a non-radiometric Lepton 3.0"
        )
    temps_c = image.astype(np.float32) * np.float32(resolution_k) - np.float32(KELVIN_OFFSET_C)
    return ThermalImage(temps_c=temps_c, telemetry=telemetry)


def find_purethermal(sysfs: Path = Path("/sys/class/video4linux")) -> str | None:
    """The capture node (/dev/videoN) of the first PureThermal board, matched by VID:PID, not by number."""
    if not sysfs.is_dir():
        return None
    for node in sorted(sysfs.iterdir(), key=lambda p: (len(p.name), p.name)):
        index_file = node / "index"
        # Each UVC camera has a capture node (index 0) and a metadata node.
        if index_file.exists() and index_file.read_text().strip() != "0":
            continue
        usb = (node / "device").resolve()
        for parent in (usb, *usb.parents):
            vid, pid = parent / "idVendor", parent / "idProduct"
            if vid.exists() and pid.exists():
                if (vid.read_text().strip(), pid.read_text().strip()) == PURETHERMAL_VID_PID:
                    return f"/dev/{node.name}"
                break
    return None


class LeptonUvcConfig(StrictModel):
    type: Literal["lepton_uvc"]
    port: str = Field(
        default="auto",
        min_length=1,
        description='V4L2 node (/dev/videoN or a udev symlink), or "auto": the first PureThermal by VID:PID.',
    )
    resolution_k: float = Field(
        default=0.01, description="TLinear resolution: 0.01 K/count (high gain) or 0.1 K/count (low gain)."
    )

    @field_validator("resolution_k")
    @classmethod
    def _tlinear_step(cls, value: float) -> float:
        if value not in (0.01, 0.1):
            raise ValueError("must be 0.01 (high gain) or 0.1 (low gain)")
        return value


def _open_v4l2_y16(port: str) -> Capture:
    import cv2  # deferred: OpenCV is heavy, and nothing else in a serial-only appliance needs it

    capture = cv2.VideoCapture(port, cv2.CAP_V4L2)
    if not capture.isOpened():
        raise CaptureGone(f"cannot open {port} with V4L2")
    capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc("Y", "1", "6", " "))
    capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    return capture


class LeptonUvcDevice(CaptureDevice):
    kind = "thermal"

    def __init__(
        self,
        device_id: str,
        config: LeptonUvcConfig,
        *,
        opener: Any = _open_v4l2_y16,
        locate: Any = find_purethermal,
    ) -> None:
        super().__init__(device_id)
        self.config = config
        self._opener, self._locate = opener, locate

    def open_capture(self) -> Capture:
        port = self.config.port
        if port == "auto":
            found = self._locate()
            if found is None:
                raise CaptureGone("no PureThermal camera (USB 1e4e:0100) is attached")
            port = found
        elif not os.path.exists(port):
            raise CaptureGone(f"{port} does not exist")
        capture: Capture = self._opener(port)
        return capture

    def to_item(self, frame: Any, t_mono: float, t_wall: float) -> DeviceItem:
        try:
            image = decode_y16(frame, resolution_k=self.config.resolution_k)
        except NotRadiometric as exc:
            raise CaptureGone(f"refused: {exc}", permanent=True) from exc
        self.seq += 1
        return ThermalFrame(
            self.device_id, self.seq, t_mono, t_wall, image.temps_c, image.ambient_c, image.telemetry
        )
