"""The shipped ONNX estimator and its operating points: single-pass, reproducible, used as documented."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.model_files import MODELS_DIR
from edge.screening.dataset import SINGLE_PASS_ROUNDS, captures, load_csv, parse_csv_text
from edge.screening.estimator import CAMERAS, FEATURES, CoreEstimator, model_path, passenger_features
from edge.screening.measure import SiteReading
from edge.screening.operating_points import load_table, table_path

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


def _sample_captures(train, name: str = "FLIR_sample.csv"):
    return train.load_captures(SAMPLES / name)


@pytest.mark.parametrize("camera", CAMERAS)
def test_shipped_model_is_small_and_has_a_complete_monotone_operating_point_table(camera: str) -> None:
    path = model_path(camera)
    assert path.parent == MODELS_DIR and path.is_file() and path.stat().st_size < 4096
    table = load_table(table_path(path))
    assert table.thresholds_c == tuple(round(36.5 + 0.1 * i, 1) for i in range(16))  # 36.5 … 38.0, all
    for column in ("sites", "face-max"):
        margins = np.array(table.margins_c[column])
        alarm = np.array(table.thresholds_c) - margins
        assert (np.diff(alarm) >= -1e-9).all(), f"{column}: a higher threshold must never alarm earlier"
        assert (np.abs(margins) <= 1.0).all()
    est = CoreEstimator(camera)  # also checks the table belongs to this very .onnx (sha256)
    assert est.predict(np.zeros((3, len(FEATURES)), np.float32) + 30.0).shape == (3, 2)


@pytest.mark.parametrize("camera", CAMERAS)
def test_estimates_are_plausible_and_rise_with_skin_temperature(camera: str) -> None:
    est = CoreEstimator(camera)

    def core(face_max_c: float) -> float:
        frames = [SiteReading(face_max_c, face_max_c - 0.2, face_max_c - 0.8, face_max_c - 1.2, 24.0)]
        return est.estimate(passenger_features(frames, 24.0), 37.5).core_c

    assert 36.4 < core(35.8) < 37.3
    assert core(37.0) - core(35.8) > 0.6  # a febrile face reads clearly hotter


def test_the_margin_is_the_operating_point_of_the_configured_threshold() -> None:
    est = CoreEstimator("FLIR")
    table = est.operating_points
    features = passenger_features([SiteReading(36.0, 35.8, 35.2, 34.9, ambient_c=23.0)], 24.0)
    for threshold in (36.5, 37.3, 37.5, 38.0):
        assert est.estimate(features, threshold).margin_c == table.margin_c(threshold, "sites")
    # Not one margin subtracted from every threshold: 37.3 and 37.5 have their own rows.
    assert est.estimate(features, 37.3).margin_c != est.estimate(features, 37.5).margin_c
    with pytest.raises(ValueError, match=r"36\.5-38\.0 °C in 0\.1 °C steps"):
        est.estimate(features, 37.25)
    with pytest.raises(ValueError, match=r"36\.5-38\.0"):
        est.estimate(features, 38.5)


def test_face_max_column_is_used_when_no_eyes_were_located() -> None:
    est = CoreEstimator("FLIR")
    with_sites = passenger_features([SiteReading(36.0, 35.8, 35.2, 34.9, ambient_c=23.0)], 24.0)
    face_only = passenger_features([SiteReading(36.0, ambient_c=23.0)], 24.0)
    assert est.estimate(with_sites, 37.3).model == "FLIR/sites"
    assert est.estimate(face_only, 37.3).model == "FLIR/face-max"
    assert est.estimate(face_only, 37.3).margin_c == est.operating_points.margin_c(37.3, "face-max")
    assert face_only.vector[FEATURES.index("ambient_c")] == pytest.approx(23.0)
    assert passenger_features([SiteReading(36.0)], 21.5).ambient_assumed


def test_captures_are_single_rounds_and_never_the_post_oral_round() -> None:
    parsed = load_csv(str(SAMPLES / "FLIR_sample.csv"))
    caps = captures(parsed)
    assert {c.round for c in caps} == set(SINGLE_PASS_ROUNDS) and 4 not in SINGLE_PASS_ROUNDS
    first = [c for c in caps if c.subject_index == 0]
    assert [c.round for c in first] == [1, 2, 3]
    assert [c.reading for c in first] == list(parsed.subjects[0].frames[:3])


def test_round_four_cannot_influence_the_trained_model() -> None:
    """Rewrite every round-4 temperature to something absurd: the recipe must produce the same model."""
    train = _train_module()
    text = (SAMPLES / "FLIR_sample.csv").read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    header = lines[2].split(",")
    round4 = [i for i, name in enumerate(header) if name.endswith("4") and name.startswith(("T_", "canthi"))]
    assert header.index("T_Max4") in round4
    rows = []
    for line in lines[3:]:
        cells = line.split(",")
        for i in round4:
            if i < len(cells) and cells[i].strip():
                cells[i] = "39.9"
        rows.append(",".join(cells))
    hot = parse_csv_text("\n".join([*lines[:3], *rows]))
    assert all(s.frames[s.rounds.index(4)].face_max_c == 39.9 for s in hot.subjects if 4 in s.rounds)
    normal = _sample_captures(train)
    tampered_caps = captures(hot)
    assert len(tampered_caps) == len(normal.y)
    m1, t1 = train.train(normal)
    x = np.stack([passenger_features([c.reading], 24.0).vector for c in tampered_caps]).astype(np.float64)
    tampered = train.Captures(x, normal.y, normal.groups, normal.rounds, normal.has_sites)
    m2, t2 = train.train(tampered)
    assert np.array_equal(m1.weights, m2.weights) and np.array_equal(t1, t2)


def test_cross_validation_folds_keep_each_subject_on_one_side() -> None:
    train = _train_module()
    data = _sample_captures(train)
    folds = train.group_folds(data.groups, 10, 7)
    assert np.array_equal(np.sum(folds, axis=0), np.ones(len(data.y)))  # every capture tested exactly once
    for test in folds:
        assert not set(data.groups[test]) & set(data.groups[~test])


def test_margin_rule_bounds_false_alarms_then_maximises_sensitivity() -> None:
    train = _train_module()
    i = train.THRESHOLDS_C.index(37.5)
    # Fever under-read by 0.1 °C, the healthy well below: catching all of it costs no specificity.
    y = np.array([37.6] * 10 + [36.8] * 90)
    margins = train.choose_margins(np.array([37.41] * 10 + [36.8] * 90), y)
    assert margins[i] == pytest.approx(0.09)  # the smallest margin reaching full sensitivity
    # Healthy and febrile readings overlap: the chosen margin keeps specificity >= 0.95 and no other margin
    # that keeps it catches more fever.
    pred = np.r_[np.linspace(37.2, 37.8, 10), np.linspace(36.6, 37.5, 90)]
    margins = train.choose_margins(pred, y)

    def se_sp(m: float) -> tuple[float, float]:
        flagged = pred >= 37.5 - m
        return float(flagged[y >= 37.5].mean()), float((~flagged[y < 37.5]).mean())

    se, sp = se_sp(margins[i])
    assert sp >= 0.95
    assert all(se_sp(m)[0] <= se for m in np.arange(-1.0, 1.0, 0.01) if se_sp(m)[1] >= 0.95)
    assert (np.diff(np.array(train.THRESHOLDS_C) - margins) >= -1e-9).all()


@pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason="the full clinical dataset (../shared/data) is not beside the repo"
)
def test_training_script_regenerates_the_shipped_models_and_tables(tmp_path: Path) -> None:
    train = _train_module()
    train.export(SHARED_DATA, tmp_path)
    for camera in CAMERAS:
        x = train.load_captures(SHARED_DATA / f"{camera}_dev.csv").x
        shipped = CoreEstimator(camera)
        fresh = CoreEstimator(camera, path=model_path(camera, tmp_path))
        assert np.abs(shipped.predict(x) - fresh.predict(x)).max() <= 1e-4
        assert shipped.operating_points.margins_c == fresh.operating_points.margins_c


def test_training_recipe_is_deterministic_and_exports_a_small_graph() -> None:
    train = _train_module()
    data = _sample_captures(train)
    (m1, t1), (m2, t2) = train.train(data), train.train(data)
    assert np.array_equal(m1.weights, m2.weights) and np.array_equal(t1, t2)
    assert t1.shape == (16, 2)
    assert len(train.build_onnx(m1, "FLIR", "test")) < 4096


def test_onnx_graph_computes_what_the_training_model_computes(tmp_path: Path) -> None:
    train = _train_module()
    data = _sample_captures(train, "ICI_sample.csv")
    model, margins = train.train(data)
    target = tmp_path / "core_estimator_ici.onnx"
    blob = train.build_onnx(model, "ICI", "test")
    target.write_bytes(blob)
    table_path(target).write_text(train.table_json("ICI", margins, blob, data), encoding="utf-8")
    onnx_out = CoreEstimator("ICI", path=target).predict(data.x)
    assert np.abs(onnx_out - model.predict(data.x)).max() < 1e-3  # float32 graph vs float64 numpy


def test_a_table_from_another_model_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "core_estimator_flir.onnx"
    target.write_bytes(model_path("FLIR").read_bytes())
    table = json.loads(table_path(model_path("ICI")).read_text(encoding="utf-8"))
    table_path(target).write_text(json.dumps(table), encoding="utf-8")
    with pytest.raises(ValueError, match="was not produced for"):
        CoreEstimator("FLIR", path=target)


@pytest.mark.parametrize("camera", CAMERAS)
def test_estimate_never_rises_as_the_face_gets_colder(camera: str) -> None:
    est = CoreEstimator(camera)
    grid = np.arange(33.5, 39.0, 0.1)
    x = np.stack([[t, t - 0.2, t - 0.8, t - 1.2, 24.0] for t in grid]).astype(np.float32)
    out = est.predict(x)
    assert (np.diff(out[:, 0]) >= -1e-4).all() and (np.diff(out[:, 1]) >= -1e-4).all()


def test_config_validation_reads_the_table_without_onnxruntime() -> None:
    code = (
        "import sys\n"
        "from edge.screening.settings import ScreeningSettings\n"
        "ScreeningSettings(threshold_c=37.3)\n"
        "assert 'onnxruntime' not in sys.modules, 'check-config must stay light'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)


@pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason="the full clinical dataset (../shared/data) is not beside the repo"
)
def test_model_card_carries_the_cv_report_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    train = _train_module()
    train.print_cv(SHARED_DATA)
    report = capsys.readouterr().out.rstrip("\n")
    assert "single-pass" in report.lower() and "bootstrap" in report and "36.5" in report
    card = (REPO / "models" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert report in card, "re-run `python models/train_core_estimator.py --cv` and paste it into the card"
