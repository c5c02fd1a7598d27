"""Face finders behind one protocol: `find(temps_c, visible=None) -> list[Face]` in thermal-frame pixels.

Three paths:
  * `SkinFinder`: connected regions of skin-warm pixels. Works at any resolution, down to 8×8; the only
    path for 32×24 and smaller, where a face is a few pixels. Eye positions are estimated from face
    proportions when the face is wide enough to hold them (`landmarks_estimated`).
  * `ThermalDetectorFinder`: RetinaFace on a normalised thermal image (white-hot, 3 channels).
  * `VisibleFinder`: RetinaFace on the visible frame, boxes and landmarks mapped into the thermal frame by
    the technician's homography.
`ScheduledFinder` runs an expensive finder every Nth frame and lets boxes follow the skin in between.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from edge.model_files import MODELS_DIR
from edge.screening.registration import map_points

RETINAFACE_PATH = MODELS_DIR / "retinaface_mnet025.onnx"

# Face proportions (hairline-to-chin box): eye line, interpupillary distance, nose tip and mouth.
EYE_FROM_TOP = 0.38
IPD_OF_WIDTH = 0.42
SKIN_HEIGHT_OF_WIDTH = 1.27


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in thermal pixels (x1, y1 exclusive)
    score: float
    # 5×2 (x, y) in thermal pixels: the two eyes (image-left first), nose tip, two mouth corners;
    # None when the finder has no landmarks.
    landmarks: np.ndarray | None = None
    source: str = "skin"
    landmarks_estimated: bool = False  # from face proportions, not seen: search wider around them

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


class FaceFinder(Protocol):
    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]: ...


def proportional_landmarks(box: tuple[float, float, float, float]) -> np.ndarray:
    """Eyes, nose and mouth placed by face proportions from the box's top edge and width. The height is
    implied by the width: a mask or a beard cuts the skin box short without moving the eyes."""
    x0, y0, x1, _ = box
    w = x1 - x0
    h = SKIN_HEIGHT_OF_WIDTH * w
    cx = (x0 + x1) / 2.0 - 0.5  # pixel centres sit at integer coordinates
    top = y0 - 0.5
    ipd = IPD_OF_WIDTH * w
    eye_y = top + EYE_FROM_TOP * h
    return np.array(
        [
            [cx - ipd / 2.0, eye_y],
            [cx + ipd / 2.0, eye_y],
            [cx, top + 0.62 * h],
            [cx - 0.18 * w, top + 0.8 * h],
            [cx + 0.18 * w, top + 0.8 * h],
        ]
    )


class SkinFinder:
    def __init__(
        self,
        *,
        skin_min_c: float,
        min_pixels: int,
        exclude: tuple[int, int, int, int] | None = None,
        landmarks_min_width_px: float = 12.0,
    ) -> None:
        self.skin_min_c = skin_min_c
        self.min_pixels = min_pixels
        self.exclude = exclude
        self.landmarks_min_width_px = landmarks_min_width_px

    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
        h_img, w_img = temps_c.shape
        # Large frames: label a strided view (a face spans far more than the stride), then refine each
        # box at full resolution. Labelling a 640×512 frame costs ~3 ms on one core; the view ~0.2 ms.
        stride = max(1, min(h_img, w_img) // 128)
        mask = (temps_c[::stride, ::stride] >= self.skin_min_c).astype(np.uint8)
        if self.exclude is not None:
            x0, y0, x1, y1 = self.exclude
            # The blackbody is as warm as skin and must never be a face.
            mask[y0 // stride : -(-y1 // stride), x0 // stride : -(-x1 // stride)] = 0
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        faces = []
        for i in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area * stride * stride < self.min_pixels:
                continue
            if stride > 1:
                refined = self._refine(temps_c, x * stride, y * stride, w * stride, h * stride, stride)
                if refined is None:
                    continue
                x, y, w, h = refined
            # A skin region continues into the neck; keep a face-shaped box from the top. Blobs a few
            # pixels wide are left whole: their width is not resolved well enough to crop by.
            if w >= 6:
                h = min(h, round(SKIN_HEIGHT_OF_WIDTH * w + 0.5))
            box = (float(x), float(y), float(x + w), float(y + h))
            landmarks = proportional_landmarks(box) if w >= self.landmarks_min_width_px else None
            faces.append(Face(box, 1.0, landmarks, source="skin", landmarks_estimated=landmarks is not None))
        return _drop_parts_below(faces)

    def _refine(
        self, temps_c: np.ndarray, x: int, y: int, w: int, h: int, stride: int
    ) -> tuple[int, int, int, int] | None:
        """Exact extent of skin pixels in the stride-expanded window of a coarse component."""
        h_img, w_img = temps_c.shape
        xa, ya = max(x - stride, 0), max(y - stride, 0)
        xb, yb = min(x + w + stride, w_img), min(y + h + stride, h_img)
        skin = temps_c[ya:yb, xa:xb] >= self.skin_min_c
        if self.exclude is not None:
            ex0, ey0, ex1, ey1 = self.exclude
            skin[max(ey0 - ya, 0) : max(ey1 - ya, 0), max(ex0 - xa, 0) : max(ex1 - xa, 0)] = False
        cols = np.flatnonzero(skin.any(axis=0))
        rows = np.flatnonzero(skin.any(axis=1))
        if cols.size == 0:
            return None
        return xa + int(cols[0]), ya + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def _drop_parts_below(faces: list[Face]) -> list[Face]:
    """A mask or scarf splits one person's skin into a face and a neck (or chin) below it: a region lying
    under a wider one, within its width and less than a face height below it, is that person, not a
    second face."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.width, reverse=True):
        cx, _ = face.centre
        beneath = any(
            other.box[0] <= cx <= other.box[2]
            and face.box[1] >= other.box[1]
            and face.box[1] - other.box[3] < SKIN_HEIGHT_OF_WIDTH * other.width
            for other in kept
        )
        if not beneath:
            kept.append(face)
    return kept


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray  # 5×2


class RetinaFace:
    """RetinaFace-MobileNet0.25 (models/retinaface_mnet025.onnx): BGR float input minus (104, 117, 123)."""

    STEPS = (8, 16, 32)
    MIN_SIZES = ((16, 32), (64, 128), (256, 512))
    VARIANCES = (0.1, 0.2)

    def __init__(self, path: Path = RETINAFACE_PATH, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._anchors: dict[tuple[int, int], np.ndarray] = {}

    def _priors(self, h: int, w: int) -> np.ndarray:
        key = (h, w)
        if key not in self._anchors:
            rows = []
            for step, sizes in zip(self.STEPS, self.MIN_SIZES, strict=True):
                fh, fw = -(-h // step), -(-w // step)
                ii, jj = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
                cx = ((jj + 0.5) * step / w).reshape(-1, 1)
                cy = ((ii + 0.5) * step / h).reshape(-1, 1)
                per_size = [
                    np.concatenate([cx, cy, np.full_like(cx, m / w), np.full_like(cy, m / h)], axis=1)
                    for m in sizes
                ]
                # Row-major cells, two anchors per cell.
                rows.append(np.stack(per_size, axis=1).reshape(-1, 4))
            self._anchors[key] = np.concatenate(rows).astype(np.float32)
        return self._anchors[key]

    def detect(self, bgr: np.ndarray, min_score: float = 0.8, nms_iou: float = 0.4) -> list[Detection]:
        h, w = bgr.shape[:2]
        blob = (bgr.astype(np.float32) - np.array([104.0, 117.0, 123.0], np.float32)).transpose(2, 0, 1)[None]
        loc, conf, lms = self._session.run(None, {"input": np.ascontiguousarray(blob)})
        scores = conf[0, :, 1]
        keep = scores >= min_score
        if not keep.any():
            return []
        pri = self._priors(h, w)[keep]
        loc, lms, scores = loc[0][keep], lms[0][keep], scores[keep]
        v0, v1 = self.VARIANCES
        centre = pri[:, :2] + loc[:, :2] * v0 * pri[:, 2:]
        size = pri[:, 2:] * np.exp(loc[:, 2:] * v1)
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * np.array([w, h, w, h])
        points = (pri[:, None, :2] + lms.reshape(-1, 5, 2) * v0 * pri[:, None, 2:]) * np.array([w, h])
        xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
        chosen = cv2.dnn.NMSBoxes(xywh, scores.astype(float).tolist(), min_score, nms_iou)
        return [
            Detection(tuple(float(v) for v in boxes[i]), float(scores[i]), points[i])  # type: ignore[arg-type]
            for i in np.asarray(chosen).reshape(-1)
        ]


def normalise_thermal(
    temps_c: np.ndarray, *, black_hot: bool = True, low_c: float | None = None, high_c: float | None = None
) -> np.ndarray:
    """8-bit BGR image of the thermal frame stretched between its 5th percentile and its maximum.

    Black-hot (skin dark) because on our synthetic heads the visible-trained detector fired about twice
    as often on black-hot as on white-hot images (docs/performance.md, Screening).
    """
    lo = float(np.percentile(temps_c, 5)) if low_c is None else low_c
    hi = float(temps_c.max()) if high_c is None else high_c
    scaled = np.clip((temps_c - lo) * (255.0 / max(hi - lo, 1e-3)), 0, 255).astype(np.uint8)
    if black_hot:
        scaled = 255 - scaled
    return cv2.cvtColor(scaled, cv2.COLOR_GRAY2BGR)


class ThermalDetectorFinder:
    def __init__(
        self, detector: RetinaFace, *, max_side: int = 320, min_score: float = 0.8, black_hot: bool = True
    ) -> None:
        self.detector = detector
        self.max_side = max_side
        self.min_score = min_score
        self.black_hot = black_hot

    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
        h, w = temps_c.shape
        # The smallest anchor is 16 px: bring small frames up and large frames down to max_side.
        scale = self.max_side / max(h, w)
        image = normalise_thermal(temps_c, black_hot=self.black_hot)
        if scale != 1.0:
            interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
            image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=interp)
        sx, sy = image.shape[1] / w, image.shape[0] / h
        faces = []
        for d in self.detector.detect(image, self.min_score):
            x0, y0, x1, y1 = d.box
            box = (x0 / sx, y0 / sy, x1 / sx, y1 / sy)
            # Detector outputs are continuous (pixel j spans [j, j+1)); landmarks here are pixel centres.
            landmarks = d.landmarks / np.array([sx, sy]) - 0.5
            faces.append(Face(box, d.score, landmarks, source="thermal-retinaface"))
        return faces


class VisibleFinder:
    def __init__(
        self, detector: RetinaFace, homography: np.ndarray, *, max_side: int = 320, min_score: float = 0.8
    ) -> None:
        self.detector = detector
        self.homography = np.asarray(homography, dtype=np.float64)
        self.max_side = max_side
        self.min_score = min_score

    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
        if visible is None:
            return []
        h, w = temps_c.shape
        vh, vw = visible.shape[:2]
        # Detection cost grows with pixels; a face at a checkpoint is far larger than the 16-px anchor.
        scale = min(1.0, self.max_side / max(vh, vw))
        image = (
            visible
            if scale == 1.0
            else cv2.resize(visible, (round(vw * scale), round(vh * scale)), interpolation=cv2.INTER_AREA)
        )
        sx, sy = image.shape[1] / vw, image.shape[0] / vh
        faces = []
        for d in self.detector.detect(image, self.min_score):
            x0, y0, x1, y1 = d.box[0] / sx, d.box[1] / sy, d.box[2] / sx, d.box[3] / sy
            corners = (
                map_points(self.homography, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) - 0.5) + 0.5
            )
            # The homography maps pixel centres; detector landmarks are continuous coordinates.
            landmarks = map_points(self.homography, d.landmarks / np.array([sx, sy]) - 0.5)
            bx0, by0 = corners.min(axis=0)
            bx1, by1 = corners.max(axis=0)
            bx0, by0, bx1, by1 = max(bx0, 0.0), max(by0, 0.0), min(bx1, float(w)), min(by1, float(h))
            if bx1 - bx0 < 1 or by1 - by0 < 1:
                continue  # a face seen by the visible camera but outside the thermal field of view
            faces.append(Face((bx0, by0, bx1, by1), d.score, landmarks, source="visible-retinaface"))
        return faces


class ScheduledFinder:
    """Run `inner` every `every_n` frames; in between, move the last faces with their skin's centroid.

    Faces move little between frames at 30 Hz, and the skin centroid inside a slightly enlarged box is a
    cheap, robust estimate of that motion. A new face entering between detector runs waits at most
    every_n − 1 frames, which the passenger gap absorbs.
    """

    def __init__(self, inner: FaceFinder, *, every_n: int, skin_min_c: float) -> None:
        self.inner = inner
        self.every_n = every_n
        self.skin_min_c = skin_min_c
        self._count = 0
        self._last: list[tuple[Face, tuple[float, float]]] = []

    def _skin_centroid(
        self, temps_c: np.ndarray, box: tuple[float, float, float, float]
    ) -> tuple[float, float] | None:
        h, w = temps_c.shape
        x0, y0, x1, y1 = box
        pad_x, pad_y = 0.25 * (x1 - x0), 0.25 * (y1 - y0)
        xa, ya = max(int(x0 - pad_x), 0), max(int(y0 - pad_y), 0)
        xb, yb = min(int(x1 + pad_x) + 1, w), min(int(y1 + pad_y) + 1, h)
        if xa >= xb or ya >= yb:
            return None
        skin = temps_c[ya:yb, xa:xb] >= self.skin_min_c
        if not skin.any():
            return None
        ys, xs = np.nonzero(skin)
        return float(xs.mean() + xa), float(ys.mean() + ya)

    def find(self, temps_c: np.ndarray, visible: np.ndarray | None = None) -> list[Face]:
        run = self._count % self.every_n == 0
        self._count += 1
        if run:
            faces = self.inner.find(temps_c, visible)
            self._last = []
            for face in faces:
                c = self._skin_centroid(temps_c, face.box)
                self._last.append((face, c if c is not None else face.centre))
            return faces
        moved = []
        kept = []
        for face, anchor in self._last:
            c = self._skin_centroid(temps_c, face.box)
            if c is None:
                continue  # the face left: forget it until the detector runs again
            dx, dy = c[0] - anchor[0], c[1] - anchor[1]
            x0, y0, x1, y1 = face.box
            shifted = replace(
                face,
                box=(x0 + dx, y0 + dy, x1 + dx, y1 + dy),
                landmarks=None if face.landmarks is None else face.landmarks + np.array([dx, dy]),
            )
            moved.append(shifted)
            kept.append((shifted, c))
        self._last = kept
        return moved
