"""Where the shipped ONNX models are: `models/` in a checkout (the source of truth, next to their
provenance and training script), or `edge/models/` inside an installed wheel, which packages that folder."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _models_dir() -> Path:
    for candidate in (_HERE.parent / "models", _HERE / "models"):
        if (candidate / "retinaface_mnet025.onnx").is_file():
            return candidate
    return _HERE.parent / "models"  # reported in the error of whoever opens a model from it


MODELS_DIR = _models_dir()
