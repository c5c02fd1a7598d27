"""RetinaFace-MobileNet0.25 and the two finders built on it: on a normalised thermal image, and on the
visible frame mapped into the thermal frame by the technician's homography."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge.model_files import MODELS_DIR
from edge.screening.face_types import Face
from edge.screening.registration import map_points

RETINAFACE_PATH = MODELS_DIR / "retinaface_mnet025.onnx"


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
