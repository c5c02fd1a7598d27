#!/usr/bin/env python3
"""Train, cross-validate and export the core-temperature estimator (models/core_estimator_<camera>.onnx).

    python models/train_core_estimator.py --cv        # subject-level 10-fold CV report, both cameras
    python models/train_core_estimator.py --export    # regenerate the shipped .onnx files
    python models/train_core_estimator.py --check     # exported graphs reproduce the shipped ones (1e-4 °C)

Needs numpy + onnx (+ onnxruntime to verify). Deterministic: closed-form ridge least squares, fixed folds.

Method (chosen by the CV below, see MODEL_CARD.md):
  * features: the appliance's own per-passenger aggregation of its per-frame readings
    (edge.screening.estimator);
  * model: ridge least squares on standardised features plus the squared excess of the mean face maximum
    over the training median, two output columns (all sites; face max + ambient);
  * decision margin: least squares regresses toward the mean and under-reads fever, so the appliance lowers
    its alarm point by a margin. The margin is the smallest one (0.01 °C grid) whose out-of-fold sensitivity
    at 37.5 °C reaches MARGIN_SENSITIVITY on the training data. In the CV report it is chosen by an inner CV
    inside each outer training fold, so the outer test fold never influences it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.screening.dataset import Subject, load_csv  # noqa: E402
from edge.screening.estimator import FEATURES, model_path, passenger_features  # noqa: E402

DATA_DIR = REPO.parent / "shared" / "data" / "thermography"
CAMERAS = ("FLIR", "ICI")
DEFAULT_AMBIENT_C = 24.0  # used only when a subject has no ambient reading (none in the dev files)
RIDGE = 1.0  # on standardised features; small, only to keep the near-collinear site temperatures stable
FACE_MAX_ONLY = (0, 1, 4, 5)  # augmented-feature indices of the fallback column (5: squared excess)
MARGIN_SENSITIVITY = 0.95  # aim above the 0.92 target: the held-out subjects will not be this data
SPECIFICITY_FLOOR = 0.93
MARGIN_GRID_C = np.round(np.arange(0.0, 0.401, 0.01), 2)
FEVER_C = 37.5
FOLDS = 10
SEED = 20261123


def feature_matrix(subjects: tuple[Subject, ...]) -> np.ndarray:
    return np.stack([passenger_features(s.frames, DEFAULT_AMBIENT_C).vector for s in subjects]).astype(
        np.float64
    )


def augment(x: np.ndarray, knot_c: float) -> np.ndarray:
    """Append the squared excess of the mean face maximum over the knot (the training median).

    Above a typical face the oral temperature climbs faster than the skin (CV: MAE 0.204 → 0.19 °C on
    both cameras). One-sided and squared, so the estimate never rises as a face gets colder.
    """
    excess = np.maximum(x[:, 0] - knot_c, 0.0)
    return np.c_[x, excess**2]


@dataclass(frozen=True)
class LinearModel:
    knot_c: float  # median mean-face-maximum of the training subjects
    mean: np.ndarray  # [F + 1] of the augmented features
    weights: np.ndarray  # [F + 1, 2]: column 0 all sites, column 1 face max + ambient only
    bias: np.ndarray  # [2]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (augment(x, self.knot_c) - self.mean) @ self.weights + self.bias


def _ridge(x: np.ndarray, y: np.ndarray, columns: tuple[int, ...]) -> tuple[np.ndarray, float]:
    xs = x[:, columns]
    mu, sd = xs.mean(0), xs.std(0)
    sd[sd == 0] = 1.0
    z = (xs - mu) / sd
    w = np.linalg.solve(z.T @ z + RIDGE * np.eye(len(columns)), z.T @ (y - y.mean()))
    weights = np.zeros(x.shape[1])
    weights[list(columns)] = w / sd
    return weights, float(y.mean() - (mu / sd) @ w)  # prediction = x·weights + intercept


def fit(x: np.ndarray, y: np.ndarray) -> LinearModel:
    knot_c = float(np.median(x[:, 0]))
    xa = augment(x, knot_c)
    mean = xa.mean(0)
    w_all, b_all = _ridge(xa, y, tuple(range(xa.shape[1])))
    w_fm, b_fm = _ridge(xa, y, FACE_MAX_ONLY)
    # The graph centres its input first (float32 keeps more digits near zero): (x − mean)·w + bias.
    return LinearModel(
        knot_c=knot_c,
        mean=mean,
        weights=np.stack([w_all, w_fm], axis=1),
        bias=np.array([b_all + mean @ w_all, b_fm + mean @ w_fm]),
    )


def folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    # Each row of the dataset is one subject (SubjectIDs are unique), so row folds are subject folds.
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def out_of_fold(x: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    pred = np.zeros((len(y), 2))
    for test in folds(len(y), k, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        pred[test] = fit(x[train], y[train]).predict(x[test])
    return pred


def choose_margin(pred: np.ndarray, y: np.ndarray) -> float:
    """Smallest margin reaching MARGIN_SENSITIVITY, unless that costs specificity below SPECIFICITY_FLOOR:
    then the largest margin that keeps the floor (a screener that flags too many is switched off)."""
    fever = y >= FEVER_C
    best_within_floor = 0.0
    for m in MARGIN_GRID_C:
        flagged = pred >= FEVER_C - m
        specificity = float(np.mean(~flagged[~fever]))
        if specificity < SPECIFICITY_FLOOR:
            return best_within_floor
        best_within_floor = float(m)
        if np.mean(flagged[fever]) >= MARGIN_SENSITIVITY:
            return float(m)
    return best_within_floor


def train(x: np.ndarray, y: np.ndarray) -> tuple[LinearModel, tuple[float, float]]:
    """The shipped recipe: fit on everything, margins from a 5-fold out-of-fold pass on the same data."""
    oof = out_of_fold(x, y, 5, SEED + 1)
    return fit(x, y), (choose_margin(oof[:, 0], y), choose_margin(oof[:, 1], y))


def metrics(est: np.ndarray, flag_at: dict[float, np.ndarray], y: np.ndarray) -> dict[str, float]:
    err = est - y
    out = {
        "n": len(y),
        "bias": float(err.mean()),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
    }
    for thr, flagged in flag_at.items():
        pos = y >= thr
        key = f"{thr:.1f}".replace(".", "_")
        out[f"se{key}"] = float(flagged[pos].mean()) if pos.any() else float("nan")
        out[f"sp{key}"] = float((~flagged[~pos]).mean()) if (~pos).any() else float("nan")
    return out


def cross_validate(camera: str, data_dir: Path) -> list[tuple[str, dict[str, float]]]:
    subjects = load_csv(str(data_dir / f"{camera}_dev.csv")).subjects
    x, y = feature_matrix(subjects), np.array([s.oral_c for s in subjects])
    face_mean = x[:, 0]
    est = {name: np.zeros(len(y)) for name in ("offset", "sites", "face-max")}
    margin = {name: np.zeros(len(y)) for name in est}
    for test in folds(len(y), FOLDS, SEED):
        train_idx = np.setdiff1d(np.arange(len(y)), test)
        offset = float(np.mean(y[train_idx] - face_mean[train_idx]))
        est["offset"][test] = face_mean[test] + offset
        # Same margin rule for the baseline, so the comparison is not margin against no margin.
        oof_off = np.zeros(len(train_idx))
        for inner in folds(len(train_idx), 5, SEED + 1):
            rest = np.setdiff1d(np.arange(len(train_idx)), inner)
            oof_off[inner] = face_mean[train_idx][inner] + np.mean(
                y[train_idx][rest] - face_mean[train_idx][rest]
            )
        margin["offset"][test] = choose_margin(oof_off, y[train_idx])
        model, (m_sites, m_fm) = train(x[train_idx], y[train_idx])
        pred = model.predict(x[test])
        est["sites"][test], est["face-max"][test] = pred[:, 0], pred[:, 1]
        margin["sites"][test], margin["face-max"][test] = m_sites, m_fm
    rows = []
    for name in ("offset", "sites", "face-max"):
        flag_none = {t: est[name] >= t for t in (37.5, 38.0)}
        flag_margin = {t: est[name] >= t - margin[name] for t in (37.5, 38.0)}
        label = {"offset": "constant offset on mean face max", "sites": "estimator (all sites)",
                 "face-max": "estimator (face max + ambient)"}[name]  # fmt: skip
        rows.append((f"{label}, no margin", metrics(est[name], flag_none, y)))
        m = metrics(est[name], flag_margin, y)
        m["margin_mean_c"] = float(margin[name].mean())
        rows.append((f"{label}, CV-chosen margin", m))
    return rows


def print_cv(data_dir: Path) -> None:
    print(
        f"# subject-level {FOLDS}-fold CV (seed {SEED});"
        " margins chosen by inner 5-fold CV on each training fold"
    )
    header = f"{'camera':6} {'method':52} {'n':>4} {'bias':>7} {'MAE':>6} {'RMSE':>6} " + " ".join(
        f"{k:>7}" for k in ("se37.5", "sp37.5", "se38.0", "sp38.0", "margin")
    )
    print(header)
    for camera in CAMERAS:
        for label, m in cross_validate(camera, data_dir):
            print(
                f"{camera:6} {label:52} {m['n']:>4} {m['bias']:>+7.3f} {m['mae']:>6.3f} {m['rmse']:>6.3f} "
                f"{m['se37_5']:>7.3f} {m['sp37_5']:>7.3f} {m['se38_0']:>7.3f} {m['sp38_0']:>7.3f} "
                f"{m.get('margin_mean_c', 0.0):>7.3f}"
            )


def build_onnx(model: LinearModel, margins: tuple[float, float], camera: str, data_sha256: str) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    f = len(FEATURES)
    graph = helper.make_graph(
        nodes=[
            helper.make_node("Gather", ["features", "face_max_index"], ["face_max"], axis=1),
            helper.make_node("Sub", ["face_max", "knot_c"], ["above_knot"]),
            helper.make_node("Relu", ["above_knot"], ["excess"]),
            helper.make_node("Mul", ["excess", "excess"], ["excess_sq"]),
            helper.make_node("Concat", ["features", "excess_sq"], ["augmented"], axis=1),
            helper.make_node("Sub", ["augmented", "feature_mean"], ["centred"]),
            helper.make_node("MatMul", ["centred", "weights"], ["projected"]),
            helper.make_node("Add", ["projected", "bias"], ["core_c"]),
        ],
        name=f"core_estimator_{camera.lower()}",
        inputs=[helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", f])],
        outputs=[helper.make_tensor_value_info("core_c", TensorProto.FLOAT, ["N", 2])],
        initializer=[
            numpy_helper.from_array(np.array([0], dtype=np.int64), "face_max_index"),
            numpy_helper.from_array(np.array(model.knot_c, dtype=np.float32), "knot_c"),
            numpy_helper.from_array(model.mean.astype(np.float32), "feature_mean"),
            numpy_helper.from_array(model.weights.astype(np.float32), "weights"),
            numpy_helper.from_array(model.bias.astype(np.float32), "bias"),
        ],
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="checkpoint-edge train_core_estimator",
    )
    proto.ir_version = 8  # loadable by onnxruntime ≥ 1.14
    meta = {
        "features": json.dumps(list(FEATURES)),
        "face_max_knot_c": f"{model.knot_c:.4f}",
        "outputs": json.dumps(["sites", "face-max"]),
        "decision_margin_c": json.dumps(list(margins)),
        "camera": camera,
        "training_data_sha256": data_sha256,
        "target": "aveOralM (oral, monitor mode), °C",
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export(data_dir: Path, out_dir: Path) -> list[Path]:
    written = []
    for camera in CAMERAS:
        path = data_dir / f"{camera}_dev.csv"
        subjects = load_csv(str(path)).subjects
        x, y = feature_matrix(subjects), np.array([s.oral_c for s in subjects])
        model, margins = train(x, y)
        blob = build_onnx(model, margins, camera, hashlib.sha256(path.read_bytes()).hexdigest())
        target = model_path(camera, out_dir)
        target.write_bytes(blob)
        written.append(target)
        print(f"{camera}: wrote {target} ({len(blob)} bytes), margins sites/face-max {margins} °C")
    return written


def check(data_dir: Path, tmp_dir: Path) -> float:
    """Largest |regenerated − shipped| prediction over both cameras' dev subjects, °C."""
    from edge.screening.estimator import CoreEstimator

    export(data_dir, tmp_dir)
    worst = 0.0
    for camera in CAMERAS:
        subjects = load_csv(str(data_dir / f"{camera}_dev.csv")).subjects
        x = feature_matrix(subjects)
        shipped = CoreEstimator(camera).predict(x)
        fresh = CoreEstimator(camera, path=model_path(camera, tmp_dir))
        worst = max(worst, float(np.abs(shipped - fresh.predict(x)).max()))
        if CoreEstimator(camera).margins_c != fresh.margins_c:
            raise SystemExit(
                f"{camera}: margins differ: {CoreEstimator(camera).margins_c} vs {fresh.margins_c}"
            )
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--cv", action="store_true", help="print the cross-validation report")
    parser.add_argument("--export", action="store_true", help="write models/core_estimator_<camera>.onnx")
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    parser.add_argument("--out-dir", type=Path, default=REPO / "models")
    args = parser.parse_args(argv)
    if not (args.cv or args.export or args.check):
        parser.error("choose --cv, --export and/or --check")
    if args.cv:
        print_cv(args.data_dir)
    if args.export:
        export(args.data_dir, args.out_dir)
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            worst = check(args.data_dir, Path(tmp))
        print(f"max |regenerated − shipped| = {worst:.2e} °C")
        return 0 if worst <= 1e-4 else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
