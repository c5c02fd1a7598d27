"""Core-temperature estimator: one passenger's single-pass site readings in, an oral-equivalent °C out.

The model is a linear map trained by `models/train_core_estimator.py` on the clinical dataset and shipped
as a tiny ONNX graph (`models/core_estimator_<camera>.onnx`) that onnxruntime runs here. Features are
computed in this module only, so training, cross-validation, `model evaluate` and the lane all see the
same numbers.

Trained on single-pass captures: each clinical imaging round is one passenger seen once (the round taken
after the oral thermometer excluded). Every feature describes one pass: the lane averages a site over the
best frames of that one walk-by, never across separate visits.

Where the model files live: the source of truth is the repository's `models/` directory, found relative
to this file (the project is installed editable on the appliance). `estimator_path` in the settings
overrides it for a packaged install; the operating-point table is read from beside that file.

Each graph has two outputs: column 0 uses every site (face max, canthi, forehead, ambient); column 1 uses
only the face maximum and ambient, for passengers whose eyes could not be located (low-resolution
sensors, no landmarks). Each column has its own decision margin per alarm threshold
(`edge.screening.operating_points`): a least-squares estimate regresses toward the population mean and
under-reads fever, and how much to lower the alarm point depends on where the alarm is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.screening.measure import SiteReading
from edge.screening.operating_points import COLUMNS, OperatingPoints, load_table, table_path
from edge.screening.operating_points import model_file as model_path

CAMERAS = ("FLIR", "ICI")
# Each a mean over the frames of ONE pass (a walk-by), never across separate visits.
FEATURES = (
    "face_max_mean_c",  # full-face maximum
    "canthus_max_mean_c",  # inner-canthus maximum (face max where eyes were not located)
    "forehead_max_mean_c",  # forehead maximum (face max where the forehead was not located)
    "forehead_centre_mean_c",  # forehead centre (forehead max where not located)
    "ambient_c",  # room temperature (median): warmer rooms shrink the skin→core gap
)
SITES_COLUMN = 0
FACE_MAX_COLUMN = 1

__all__ = ["CAMERAS", "FEATURES", "CoreEstimate", "CoreEstimator", "model_path", "passenger_features"]


@dataclass(frozen=True)
class PassengerFeatures:
    vector: np.ndarray  # float32, len(FEATURES)
    has_sites: bool  # canthus and forehead were measured in at least one frame
    ambient_assumed: bool  # no frame carried an ambient reading; the configured value was used


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def passenger_features(frames: Sequence[SiteReading], default_ambient_c: float) -> PassengerFeatures:
    """Features of one pass. The frames must all come from the same walk-by (one track)."""
    if not frames:
        raise ValueError("a passenger needs at least one frame")
    face_mean = float(np.mean([f.face_max_c for f in frames]))
    canthus = _mean([f.canthus_max_c for f in frames])
    forehead = _mean([f.forehead_max_c for f in frames])
    centre = _mean([f.forehead_centre_c for f in frames])
    ambients = [f.ambient_c for f in frames if f.ambient_c is not None]
    vector = np.array(
        [
            face_mean,
            canthus if canthus is not None else face_mean,
            forehead if forehead is not None else face_mean,
            centre if centre is not None else (forehead if forehead is not None else face_mean),
            float(np.median(ambients)) if ambients else default_ambient_c,
        ],
        dtype=np.float32,
    )
    return PassengerFeatures(
        vector=vector,
        has_sites=canthus is not None and forehead is not None and centre is not None,
        ambient_assumed=not ambients,
    )


@dataclass(frozen=True)
class CoreEstimate:
    core_c: float
    margin_c: float  # subtract from the alarm threshold when deciding (from the operating-point table)
    model: str  # e.g. "FLIR/sites" — which camera profile and which output column
    features: dict[str, float]


class CoreEstimator:
    """Runs the shipped ONNX estimator with one intra-op thread (the lane must not steal other cores)."""

    def __init__(self, camera: str = "FLIR", path: Path | None = None) -> None:
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")
        self.camera = camera
        self.path = path or model_path(camera)
        blob = self.path.read_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        features = tuple(json.loads(meta["features"]))
        if features != FEATURES:
            raise ValueError(f"{self.path}: model features {features} differ from this code's {FEATURES}")
        self.operating_points: OperatingPoints = load_table(table_path(self.path))
        if self.operating_points.model_sha256 != hashlib.sha256(blob).hexdigest():
            raise ValueError(
                f"{table_path(self.path)} was not produced for {self.path} (model sha256 differs)"
            )
        self._input = self._session.get_inputs()[0].name

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """Raw model output, shape [N, 2] (sites column, face-max column)."""
        batch = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, len(FEATURES))
        (out,) = self._session.run(None, {self._input: batch})
        return np.asarray(out, dtype=np.float64)

    def estimate(self, features: PassengerFeatures, threshold_c: float) -> CoreEstimate:
        """The estimate and the margin of the operating point for `threshold_c` (must be in the table)."""
        column = SITES_COLUMN if features.has_sites else FACE_MAX_COLUMN
        core_c = float(self.predict(features.vector)[0, column])
        return CoreEstimate(
            core_c=core_c,
            margin_c=self.operating_points.margin_c(threshold_c, COLUMNS[column]),
            model=f"{self.camera}/{COLUMNS[column]}",
            features={name: float(v) for name, v in zip(FEATURES, features.vector, strict=True)},
        )
