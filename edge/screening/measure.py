"""Per-frame, per-face temperature measurement: the sites the estimator uses and the quality facts the
gates judge (face size, distance, frontality, occlusion, cold skin).

Pure functions of a °C array and a `Face`; no state, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.screening.face_types import Face


@dataclass(frozen=True)
class SiteReading:
    """What one frame says about one face, in °C (blackbody-corrected when a reference is configured)."""

    face_max_c: float
    canthus_max_c: float | None = None  # max of both inner-canthus discs; None without eye landmarks
    forehead_max_c: float | None = None
    forehead_centre_c: float | None = None
    ambient_c: float | None = None
    distance_m: float | None = None
    face_width_px: float | None = None


@dataclass(frozen=True)
class FaceMeasurement:
    reading: SiteReading
    face_pixels: int  # pixels of the face box inside the frame
    frontal: bool | None  # None when landmarks are unavailable
    eye_asymmetry_c: float | None  # |left − right canthus|: a lens in front of one eye reads cold
    periocular_drop_c: float | None  # face max − canthus max: glasses hide the canthi entirely
    mouth_region_c: float | None  # mean of the lower face: a mask reads near ambient
    quality: float  # higher is better; ranks a passenger's frames to pick the best K


def distance_from_width_m(
    face_width_px: float, image_width_px: int, horizontal_fov_deg: float, face_width_m: float
) -> float:
    """Pinhole model: a face of known width spanning `face_width_px` of an `image_width_px` sensor."""
    if face_width_px <= 0:
        return math.inf
    focal_px = (image_width_px / 2.0) / math.tan(math.radians(horizontal_fov_deg) / 2.0)
    return face_width_m * focal_px / face_width_px


def _xy(point: np.ndarray) -> tuple[float, float]:
    return float(point[0]), float(point[1])


def _disc_max(temps_c: np.ndarray, cx: float, cy: float, radius: float) -> float | None:
    h, w = temps_c.shape
    r = max(radius, 0.75)  # at Lepton resolution the disc is about one pixel; never let it vanish
    x0, x1 = max(math.floor(cx - r), 0), min(math.ceil(cx + r) + 1, w)
    y0, y1 = max(math.floor(cy - r), 0), min(math.ceil(cy + r) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if not inside.any():
        return None
    return float(temps_c[y0:y1, x0:x1][inside].max())


def _region(temps_c: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    h, w = temps_c.shape
    xa, xb = max(round(x0), 0), min(round(x1), w)
    ya, yb = max(round(y0), 0), min(round(y1), h)
    if xa >= xb or ya >= yb:
        return temps_c[0:0, 0:0]
    return temps_c[ya:yb, xa:xb]


def _inner_face(temps_c: np.ndarray, face: Face) -> np.ndarray:
    """Canthi-and-forehead region: from a hand's width above the eyes to just below them, between the outer
    thirds of the eyes; from face proportions (central 70 % of the width, top 60 % of the height) for faces
    too small for landmarks."""
    x0, y0, x1, y1 = face.box
    if face.landmarks is not None:
        eye_r, eye_l = face.landmarks[0], face.landmarks[1]
        ipd = float(np.hypot(*(eye_l - eye_r)))
        left, right = min(eye_r[0], eye_l[0]) - 0.35 * ipd, max(eye_r[0], eye_l[0]) + 0.35 * ipd
        eye_y = float(eye_r[1] + eye_l[1]) / 2.0
        # Landmarks are pixel centres; _region takes pixel edges.
        return _region(temps_c, left + 0.5, eye_y - 1.0 * ipd + 0.5, right + 1.5, eye_y + 0.45 * ipd + 1.5)
    w = x1 - x0
    if w < 4:
        return _region(temps_c, x0, y0, x1, y1)  # too few pixels to leave any out
    height = min(y1 - y0, 1.27 * w)
    return _region(temps_c, x0 + 0.15 * w, y0, x1 - 0.15 * w, y0 + 0.6 * height)


def measure_face(
    temps_c: np.ndarray,
    face: Face,
    *,
    ambient_c: float | None,
    horizontal_fov_deg: float,
    face_width_m: float,
    skin_min_c: float,
) -> FaceMeasurement:
    x0, y0, x1, y1 = face.box
    box = _region(temps_c, x0, y0, x1, y1)
    if box.size == 0:
        raise ValueError("face box lies outside the frame")
    # The face maximum comes from the inner face only (canthi and forehead): a hot drink at the chin, a
    # phone at the ear or a hand on the cheek must not become the passenger's temperature.
    inner = _inner_face(temps_c, face)
    face_max_c = float(inner.max()) if inner.size else float(box.max())
    # A face is ~1.27× taller than wide; a tall thin blob on a coarse sensor has an under-resolved width.
    width_px = float(max(x1 - x0, (y1 - y0) / 1.27))
    distance_m = distance_from_width_m(width_px, temps_c.shape[1], horizontal_fov_deg, face_width_m)

    canthus_c = asym_c = drop_c = None
    frontal: bool | None = None
    fh_max = fh_centre = mouth_c = None
    if face.landmarks is not None:
        eye_r, eye_l, nose, mouth_r, mouth_l = (face.landmarks[i] for i in range(5))
        ipd = float(np.hypot(*(eye_l - eye_r)))
        # Inner canthus ≈ a quarter of the way from each eye centre toward the other (anthropometry).
        # Eyes placed from face proportions are only roughly right: search twice as wide around them.
        radius = max((0.2 if face.landmarks_estimated else 0.1) * ipd, 0.75)
        c_r = _disc_max(temps_c, *_xy(eye_r + 0.25 * (eye_l - eye_r)), radius)
        c_l = _disc_max(temps_c, *_xy(eye_l + 0.25 * (eye_r - eye_l)), radius)
        sides = [c for c in (c_r, c_l) if c is not None]
        if sides:
            canthus_c = max(sides)
            drop_c = face_max_c - canthus_c
        if c_r is not None and c_l is not None:
            asym_c = abs(c_r - c_l)
        # Frontal when the nose sits near the eyes' midpoint (yaw) and the eyes are level (roll).
        mid = (eye_r + eye_l) / 2.0
        yaw = abs(float(nose[0] - mid[0])) / max(ipd, 1e-6)
        roll = abs(float(eye_l[1] - eye_r[1])) / max(ipd, 1e-6)
        frontal = yaw < 0.25 and roll < 0.3
        # Forehead: a band above the eyes, one IPD wide and ~0.6 IPD tall.
        fh = _region(temps_c, mid[0] - 0.5 * ipd, mid[1] - 1.0 * ipd, mid[0] + 0.5 * ipd, mid[1] - 0.4 * ipd)
        # Skin only: hair and background must not drag forehead statistics down.
        fh_skin = fh[fh >= skin_min_c]
        if fh_skin.size:
            fh_max = float(fh_skin.max())
            centre = _region(
                temps_c, mid[0] - 0.15 * ipd, mid[1] - 0.8 * ipd, mid[0] + 0.15 * ipd, mid[1] - 0.5 * ipd
            )
            fh_centre = float(np.median(centre)) if centre.size else float(np.median(fh_skin))
        mouth_mid = (mouth_r + mouth_l) / 2.0
        mouth = _region(temps_c, mouth_mid[0] - 0.4 * ipd, mouth_mid[1] - 0.2 * ipd,
                        mouth_mid[0] + 0.4 * ipd, mouth_mid[1] + 0.3 * ipd)  # fmt: skip
        mouth_c = float(mouth.mean()) if mouth.size else None

    # Prefer large, frontal, high-confidence views; the estimator is trained on close frontal faces.
    quality = math.log1p(box.size) + face.score + (0.5 if frontal else 0.0)
    reading = SiteReading(
        face_max_c=face_max_c,
        canthus_max_c=canthus_c,
        forehead_max_c=fh_max,
        forehead_centre_c=fh_centre,
        ambient_c=ambient_c,
        distance_m=distance_m,
        face_width_px=width_px,
    )
    return FaceMeasurement(
        reading=reading,
        face_pixels=int(box.size),
        frontal=frontal,
        eye_asymmetry_c=asym_c,
        periocular_drop_c=drop_c,
        mouth_region_c=mouth_c,
        quality=quality,
    )
