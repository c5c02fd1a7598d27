"""Core-temperature estimator: a passenger's per-frame site readings in, an oral-equivalent °C out.

The model is a linear map trained by `models/train_core_estimator.py` on the clinical dataset and shipped
as a tiny ONNX graph (`models/core_estimator_<camera>.onnx`) that onnxruntime runs here. Features are
computed in this module only, so training, cross-validation, `model evaluate` and the lane all see the
same numbers.

Where the model files live: the source of truth is the repository's `models/` directory, found relative
to this file (the project is installed editable on the appliance). `estimator_path` in the settings
overrides it for a packaged install.

Each graph has two outputs: column 0 uses every site (face max, canthi, forehead, ambient); column 1 uses
only the face maximum and ambient, for passengers whose eyes could not be located (low-resolution
sensors, no landmarks). Each column carries its own decision margin in the ONNX metadata: the amount by
which the appliance lowers its alarm threshold to keep sensitivity, because a least-squares estimate
regresses toward the population mean and under-reads fever.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.model_files import MODELS_DIR
from edge.screening.measure import SiteReading

CAMERAS = ("FLIR", "ICI")
FEATURES = (
    "face_max_mean_c",  # mean over the passenger's frames of the full-face maximum
    "face_max_peak_c",  # the highest single-frame face maximum
    "canthus_max_mean_c",  # mean inner-canthus maximum (face max where eyes were not located)
    "forehead_max_mean_c",  # mean forehead maximum (face max where the forehead was not located)
    "ambient_c",  # room temperature: warmer rooms shrink the skin→core gap
)
SITES_COLUMN = 0
FACE_MAX_COLUMN = 1


def model_path(camera: str, directory: Path | None = None) -> Path:
    return (directory or MODELS_DIR) / f"core_estimator_{camera.lower()}.onnx"


@dataclass(frozen=True)
class PassengerFeatures:
    vector: np.ndarray  # float32, len(FEATURES)
    has_sites: bool  # canthus and forehead were measured in at least one frame
    ambient_assumed: bool  # no frame carried an ambient reading; the configured value was used


def passenger_features(frames: Sequence[SiteReading], default_ambient_c: float) -> PassengerFeatures:
    if not frames:
        raise ValueError("a passenger needs at least one frame")
    face = np.array([f.face_max_c for f in frames], dtype=np.float64)
    canthus = [f.canthus_max_c for f in frames if f.canthus_max_c is not None]
    forehead = [f.forehead_max_c for f in frames if f.forehead_max_c is not None]
    ambients = [f.ambient_c for f in frames if f.ambient_c is not None]
    face_mean = float(face.mean())
    vector = np.array(
        [
            face_mean,
            float(face.max()),
            float(np.mean(canthus)) if canthus else face_mean,
            float(np.mean(forehead)) if forehead else face_mean,
            float(np.median(ambients)) if ambients else default_ambient_c,
        ],
        dtype=np.float32,
    )
    return PassengerFeatures(
        vector=vector, has_sites=bool(canthus) and bool(forehead), ambient_assumed=not ambients
    )


@dataclass(frozen=True)
class CoreEstimate:
    core_c: float
    margin_c: float  # subtract from the alarm threshold when deciding
    model: str  # e.g. "FLIR/sites" — which camera profile and which output column
    features: dict[str, float]


class CoreEstimator:
    """Runs the shipped ONNX estimator with one intra-op thread (the lane must not steal other cores)."""

    def __init__(self, camera: str = "FLIR", path: Path | None = None) -> None:
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")
        self.camera = camera
        self.path = path or model_path(camera)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        meta = self._session.get_modelmeta().custom_metadata_map
        features = tuple(json.loads(meta["features"]))
        if features != FEATURES:
            raise ValueError(f"{self.path}: model features {features} differ from this code's {FEATURES}")
        sites_margin_c, face_max_margin_c = json.loads(meta["decision_margin_c"])
        self.margins_c: tuple[float, float] = (float(sites_margin_c), float(face_max_margin_c))
        self._input = self._session.get_inputs()[0].name

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """Raw model output, shape [N, 2] (sites column, face-max column)."""
        batch = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, len(FEATURES))
        (out,) = self._session.run(None, {self._input: batch})
        return np.asarray(out, dtype=np.float64)

    def estimate(self, features: PassengerFeatures) -> CoreEstimate:
        column = SITES_COLUMN if features.has_sites else FACE_MAX_COLUMN
        core_c = float(self.predict(features.vector)[0, column])
        return CoreEstimate(
            core_c=core_c,
            margin_c=float(self.margins_c[column]),
            model=f"{self.camera}/{'sites' if column == SITES_COLUMN else 'face-max'}",
            features={name: float(v) for name, v in zip(FEATURES, features.vector, strict=True)},
        )
