"""The shipped ONNX estimator: loadable, small, reproducible from the training script, used as documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.screening.dataset import load_csv
from edge.screening.estimator import (
    CAMERAS,
    FEATURES,
    MODELS_DIR,
    CoreEstimator,
    model_path,
    passenger_features,
)
from edge.screening.measure import SiteReading

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data" / "thermography"
SAMPLES = REPO / "tests" / "data" / "thermography"


def _train_module():
    spec = importlib.util.spec_from_file_location(
        "train_core_estimator", REPO / "models" / "train_core_estimator.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("camera", CAMERAS)
def test_shipped_model_is_small_and_declares_its_features_and_margins(camera: str) -> None:
    path = model_path(camera)
    assert path.parent == MODELS_DIR and path.is_file()
    assert path.stat().st_size < 4096
    est = CoreEstimator(camera)
    assert all(0.0 <= m <= 0.4 for m in est.margins_c)
    out = est.predict(np.zeros((3, len(FEATURES)), np.float32) + 30.0)
    assert out.shape == (3, 2)


@pytest.mark.parametrize("camera", CAMERAS)
def test_estimates_are_plausible_and_rise_with_skin_temperature(camera: str) -> None:
    est = CoreEstimator(camera)

    def core(face_max_c: float) -> float:
        frames = [SiteReading(face_max_c, face_max_c - 0.2, face_max_c - 0.8, ambient_c=24.0)] * 4
        return est.estimate(passenger_features(frames, 24.0)).core_c

    assert 36.4 < core(35.8) < 37.3
    assert core(37.0) - core(35.8) > 0.6  # a febrile face reads clearly hotter


def test_face_max_column_is_used_when_no_eyes_were_located() -> None:
    est = CoreEstimator("FLIR")
    with_sites = passenger_features([SiteReading(36.0, 35.8, 35.2, ambient_c=23.0)], 24.0)
    face_only = passenger_features([SiteReading(36.0, ambient_c=23.0)], 24.0)
    assert est.estimate(with_sites).model == "FLIR/sites"
    assert est.estimate(face_only).model == "FLIR/face-max"
    assert face_only.vector[4] == pytest.approx(23.0)
    assert passenger_features([SiteReading(36.0)], 21.5).ambient_assumed


@pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason="the full clinical dataset (../shared/data) is not beside the repo"
)
def test_training_script_regenerates_the_shipped_models_within_1e_4_c(tmp_path: Path) -> None:
    train = _train_module()
    train.export(SHARED_DATA, tmp_path)
    for camera in CAMERAS:
        x = train.feature_matrix(load_csv(str(SHARED_DATA / f"{camera}_dev.csv")).subjects)
        shipped = CoreEstimator(camera)
        fresh = CoreEstimator(camera, path=model_path(camera, tmp_path))
        assert np.abs(shipped.predict(x) - fresh.predict(x)).max() <= 1e-4
        assert shipped.margins_c == fresh.margins_c


def test_training_recipe_is_deterministic_on_the_excerpt() -> None:
    train = _train_module()
    subjects = load_csv(str(SAMPLES / "FLIR_sample.csv")).subjects
    x = train.feature_matrix(subjects)
    y = np.array([s.oral_c for s in subjects])
    (m1, margins1), (m2, margins2) = train.train(x, y), train.train(x, y)
    assert np.array_equal(m1.weights, m2.weights) and margins1 == margins2
    blob = train.build_onnx(m1, margins1, "FLIR", "test")
    assert len(blob) < 4096


def test_margin_rule_prefers_sensitivity_but_keeps_a_specificity_floor() -> None:
    train = _train_module()
    y = np.array([37.6] * 10 + [36.8] * 90)
    # Fever under-read by 0.1 °C: a 0.1 °C margin catches all of it at no cost in specificity.
    pred = np.array([37.41] * 10 + [36.8] * 90)
    assert train.choose_margin(pred, y) == pytest.approx(0.09)
    # Half the healthy read 37.2: the margin that would catch fever at 37.2 flags them, so the floor holds.
    pred = np.array([37.2] * 10 + [37.2] * 45 + [36.6] * 45)
    assert train.choose_margin(pred, y) < 0.3


def test_onnx_graph_computes_what_the_training_model_computes(tmp_path: Path) -> None:
    train = _train_module()
    subjects = load_csv(str(SAMPLES / "ICI_sample.csv")).subjects
    x = train.feature_matrix(subjects)
    model, margins = train.train(x, np.array([s.oral_c for s in subjects]))
    target = tmp_path / "core_estimator_ici.onnx"
    target.write_bytes(train.build_onnx(model, margins, "ICI", "test"))
    onnx_out = CoreEstimator("ICI", path=target).predict(x)
    assert np.abs(onnx_out - model.predict(x)).max() < 1e-3  # float32 graph vs float64 numpy


@pytest.mark.parametrize("camera", CAMERAS)
def test_estimate_never_rises_as_the_face_gets_colder(camera: str) -> None:
    est = CoreEstimator(camera)
    grid = np.arange(33.5, 39.0, 0.1)
    x = np.stack([[t, t + 0.1, t - 0.2, t - 0.8, 24.0] for t in grid]).astype(np.float32)
    out = est.predict(x)
    assert (np.diff(out[:, 0]) >= -1e-4).all() and (np.diff(out[:, 1]) >= -1e-4).all()
