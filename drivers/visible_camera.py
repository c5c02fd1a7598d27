"""A visible-light camera for lanes that pair one with the thermal sensor: any OpenCV source.

`/dev/videoN` (or a udev symlink) opens with the V4L2 backend, `rtsp://…`/`http://…` URLs and video files
with FFmpeg, a bare number as a camera index. Frames are handed up as BGR `VisibleFrame`s.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

import numpy as np
from pydantic import Field

from drivers.device import Capture, CaptureDevice, CaptureGone, DeviceItem
from drivers.items import VisibleFrame
from drivers.strict import StrictModel

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class VisibleCameraConfig(StrictModel):
    type: Literal["visible_camera"]
    port: str = Field(
        min_length=1, description="OpenCV source: /dev/videoN, a camera index, an rtsp:// URL, a video file."
    )
    width: int | None = Field(default=None, ge=16, le=7680, description="Requested frame width, pixels.")
    height: int | None = Field(default=None, ge=16, le=4320, description="Requested frame height, pixels.")
    fps: float | None = Field(default=None, gt=0.0, le=240.0, description="Requested frame rate, Hz.")
    loop_file: bool = Field(default=False, description="Restart a video file at its end (demos, tests).")


def backend_for(source: str) -> Literal["v4l2", "ffmpeg", "index"]:
    if source.isdigit():
        return "index"
    if source.startswith("/dev/"):
        return "v4l2"
    return "ffmpeg"


def open_source(config: VisibleCameraConfig) -> Capture:
    import cv2  # deferred: only lanes with a visible camera pay for OpenCV

    source = config.port
    kind = backend_for(source)
    if kind != "index" and not _URL.match(source) and not os.path.exists(source):
        raise CaptureGone(f"{source} does not exist")
    if kind == "index":
        capture = cv2.VideoCapture(int(source))
    elif kind == "v4l2":
        capture = cv2.VideoCapture(source, cv2.CAP_V4L2)
    else:
        capture = cv2.VideoCapture(source, cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise CaptureGone(f"cannot open {source}")
    for prop, value in (
        (cv2.CAP_PROP_FRAME_WIDTH, config.width),
        (cv2.CAP_PROP_FRAME_HEIGHT, config.height),
        (cv2.CAP_PROP_FPS, config.fps),
    ):
        if value is not None:
            capture.set(prop, float(value))
    if config.loop_file and kind == "ffmpeg" and not _URL.match(source):
        return _LoopingFile(capture, cv2.CAP_PROP_POS_FRAMES)
    return capture


class _LoopingFile:
    def __init__(self, capture: Any, pos_prop: int) -> None:
        self._capture, self._pos_prop = capture, pos_prop

    def read(self) -> tuple[bool, Any]:
        ok, frame = self._capture.read()
        if not ok:
            self._capture.set(self._pos_prop, 0)
            ok, frame = self._capture.read()
        return ok, frame

    def release(self) -> None:
        self._capture.release()


class VisibleCameraDevice(CaptureDevice):
    kind = "camera"

    def __init__(self, device_id: str, config: VisibleCameraConfig, *, opener: Any = open_source) -> None:
        super().__init__(device_id)
        self.config = config
        self._opener = opener

    def open_capture(self) -> Capture:
        capture: Capture = self._opener(self.config)
        return capture

    def to_item(self, frame: Any, t_mono: float, t_wall: float) -> DeviceItem:
        array = np.asarray(frame)
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)  # a monochrome source still pairs with thermal
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise CaptureGone(f"expected 8-bit BGR frames, got {array.dtype} {array.shape}", permanent=True)
        self.seq += 1
        return VisibleFrame(self.device_id, self.seq, t_mono, t_wall, array)
