"""Colour-mapped pictures of thermal frames for people: the console's live view and alert snapshots.

Pure functions (array in, encoded image out) so the lane never renders anything: the web server renders on
its own threads from the LiveView a screener published, and an alert's snapshot is rendered only when the
privacy policy attaches one.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.records import LiveView

# The colour scale spans at least room-to-fever temperatures, so an empty lane is dark, not noise stretched
# to full brightness, and a face looks the same whoever else is in view.
DISPLAY_LO_C, DISPLAY_HI_C = 22.0, 38.0
WHITE, RED, GREEN, CYAN, AMBER = (255, 255, 255), (60, 60, 255), (80, 220, 80), (255, 220, 0), (0, 190, 255)


def colourise(
    temps_c: np.ndarray, scale: int, lo_c: float | None = None, hi_c: float | None = None
) -> np.ndarray:
    """BGR image, `scale` times larger (nearest neighbour: each sensor pixel stays a visible square)."""
    lo = min(float(np.percentile(temps_c, 1)), DISPLAY_LO_C) if lo_c is None else lo_c
    hi = max(float(np.max(temps_c)), DISPLAY_HI_C) if hi_c is None else hi_c
    grey = np.clip((temps_c - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)
    return cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def _label(img: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    y = max(y, 14)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def _box(
    img: np.ndarray, box: tuple[float, ...], scale: int, colour: tuple[int, int, int]
) -> tuple[int, int]:
    x0, y0, x1, y1 = (round(v * scale) for v in box)
    cv2.rectangle(img, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), colour, 2)
    return x0, y0


def scale_for(shape: tuple[int, ...], target_width: int = 480) -> int:
    return max(1, target_width // max(1, shape[1]))


def render_live(view: LiveView, target_width: int = 480) -> bytes:
    """JPEG: colour-mapped frame, measurement zone, blackbody ROI with its reading, faces with °C."""
    temps = view.temps_c
    scale = scale_for(temps.shape, target_width)
    img = colourise(temps, scale)
    h, w = temps.shape[:2]
    zx0, zy0, zx1, zy1 = view.measurement_zone
    _box(img, (zx0 * w, zy0 * h, zx1 * w, zy1 * h), scale, CYAN)
    if view.blackbody_roi is not None:
        colour = GREEN if view.blackbody_valid else RED
        x, y = _box(img, view.blackbody_roi, scale, colour)
        reading = "–" if view.blackbody_c is None else f"{view.blackbody_c:.1f}C"
        _label(img, f"BB {reading}", x, y - 4, colour)
    for face in view.faces:
        colour = AMBER if face.faults else WHITE
        x, y = _box(img, face.box, scale, colour)
        _label(img, "--" if face.reading_c is None else f"{face.reading_c:.1f}C", x, y - 4, colour)
    footer = f"#{view.seq}" + (f"  {view.note}" if view.note else "")
    _label(img, footer, 4, img.shape[0] - 6, WHITE)
    ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()


def render_alert_crop(
    temps_c: np.ndarray, box: tuple[float, float, float, float] | None, label: str, margin: float = 0.6
) -> bytes | None:
    """PNG: the face (and `margin` of its size around it) colour-mapped, its box and reading drawn.

    Without a box (a passenger measured before boxes were kept) the whole frame is rendered.
    """
    h, w = temps_c.shape[:2]
    crop, local_box = temps_c, box
    if box is not None:
        x0, y0, x1, y1 = box
        mx, my = (x1 - x0) * margin, (y1 - y0) * margin
        cx0, cy0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
        cx1, cy1 = min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my)))
        if cx1 > cx0 and cy1 > cy0:
            crop = temps_c[cy0:cy1, cx0:cx1]
            local_box = (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)
    scale = scale_for(crop.shape, 160)
    img = colourise(crop, scale)
    if local_box is not None:
        x, y = _box(img, local_box, scale, WHITE)
        _label(img, label, x, y - 4, WHITE)
    else:
        _label(img, label, 4, 14, WHITE)
    ok, png = cv2.imencode(".png", img)
    return png.tobytes() if ok else None
