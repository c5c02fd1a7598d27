#!/usr/bin/env python3
"""Train, cross-validate and export the core-temperature estimator and its operating-point tables.

    python models/train_core_estimator.py --cv        # single-pass nested CV report + threshold tables
    python models/train_core_estimator.py --explore   # the recipes compared before choosing (evidence)
    python models/train_core_estimator.py --export    # regenerate models/core_estimator_<camera>.onnx + tables
    python models/train_core_estimator.py --check     # regenerated files reproduce the shipped ones

Needs numpy + onnx (+ onnxruntime to verify). Deterministic: closed-form ridge least squares, fixed folds.

Unit: the single-pass capture. A lane sees each passenger once, so each imaging round 1-3 of a subject is
one sample, with its own features (nothing spans rounds). Round 4 of the clinical protocol follows the
oral thermometer (mouth heat) and is excluded (edge.screening.dataset.SINGLE_PASS_ROUNDS). Every fold
split is by subject, so no subject's rounds sit on both sides of a split.

Method (chosen by --explore and --cv, see MODEL_CARD.md):
  * features: edge.screening.estimator.passenger_features of one capture;
  * model: ridge least squares on standardised features plus the squared excess of the face maximum over
    the training median; two output columns (all sites; face max + ambient);
  * operating points: for each threshold T (36.5-38.0 °C, 0.1 °C steps) and column, a margin m (alarm at
    core >= T - m) chosen on out-of-fold estimates of the training data by RULE below. In the --cv report
    the margins are chosen by an inner CV inside each outer training fold (nested), so the outer test
    subjects never influence their own operating point.
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

from edge.screening.dataset import POST_ORAL_ROUND, SINGLE_PASS_ROUNDS, captures, load_csv  # noqa: E402
from edge.screening.estimator import FEATURES, model_path, passenger_features  # noqa: E402
from edge.screening.operating_points import COLUMNS, table_path  # noqa: E402

DATA_DIR = REPO.parent / "shared" / "data" / "thermography"
CAMERAS = ("FLIR", "ICI")
DEFAULT_AMBIENT_C = 24.0  # used only when a capture has no ambient reading (none in the dev files)
RIDGE = 1.0  # on standardised features; small, only to keep the near-collinear site temperatures stable
FACE_MAX_ONLY = (0, 4, 5)  # augmented-feature indices of the fallback column (5: squared excess)
THRESHOLDS_C = tuple(round(36.5 + 0.1 * i, 1) for i in range(16))  # 36.5 … 38.0
MIN_SPECIFICITY = 0.95
RULE = (
    f"for each threshold T: among margins m (alarm at core >= T - m, 0.01 °C grid, -1.00..+1.00) whose"
    f" out-of-fold specificity against oral >= T is at least {MIN_SPECIFICITY:.2f}, the one with the"
    " highest sensitivity, the smallest such m on ties; then alarm points T - m made non-decreasing in T"
    " (a margin is only ever lowered by that step, so specificity stays at or above the bound)"
)
MARGIN_GRID_C = np.round(np.arange(-1.0, 1.0001, 0.01), 2)
TARGETS = {"mae": 0.22, "abs_bias": 0.05, "se37_5": 0.90, "sp37_5": 0.95, "sp37_3": 0.93}
OUTER_FOLDS, INNER_FOLDS = 10, 5
SEED = 20261202
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Captures:
    x: np.ndarray  # [N, F] features of each capture
    y: np.ndarray  # [N] oral truth (aveOralM) of the capture's subject
    groups: np.ndarray  # [N] subject index: the unit of every fold split and bootstrap draw
    rounds: np.ndarray  # [N] imaging round (1-3)
    has_sites: np.ndarray  # [N] bool: the runtime would use the all-sites column

    def take(self, mask: np.ndarray) -> Captures:
        return Captures(
            self.x[mask], self.y[mask], self.groups[mask], self.rounds[mask], self.has_sites[mask]
        )


def load_captures(path: Path) -> Captures:
    parsed = load_csv(str(path))
    caps = captures(parsed)
    feats = [passenger_features([c.reading], DEFAULT_AMBIENT_C) for c in caps]
    return Captures(
        x=np.stack([f.vector for f in feats]).astype(np.float64),
        y=np.array([c.oral_c for c in caps]),
        groups=np.array([c.subject_index for c in caps]),
        rounds=np.array([c.round for c in caps]),
        has_sites=np.array([f.has_sites for f in feats], dtype=bool),
    )


def augment(x: np.ndarray, knot_c: float) -> np.ndarray:
    """Append the squared excess of the face maximum over the knot (the training median).

    Above a typical face the oral temperature climbs faster than the skin (--explore: MAE 0.23 → 0.21 °C
    on both cameras). One-sided and squared, so the estimate never rises as a face gets colder.
    """
    excess = np.maximum(x[:, 0] - knot_c, 0.0)
    return np.c_[x, excess**2]


@dataclass(frozen=True)
class LinearModel:
    knot_c: float  # median face maximum of the training captures
    mean: np.ndarray  # [F + 1] of the augmented features
    weights: np.ndarray  # [F + 1, 2]: column 0 all sites, column 1 face max + ambient only
    bias: np.ndarray  # [2]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (augment(x, self.knot_c) - self.mean) @ self.weights + self.bias


def runtime_column(pred: np.ndarray, has_sites: np.ndarray) -> np.ndarray:
    """What the lane uses: the all-sites column where eyes and forehead were located."""
    return np.where(has_sites, pred[:, 0], pred[:, 1])


def _ridge(x: np.ndarray, y: np.ndarray, columns: tuple[int, ...]) -> tuple[np.ndarray, float]:
    xs = x[:, columns]
    mu, sd = xs.mean(0), xs.std(0)
    sd[sd == 0] = 1.0
    z = (xs - mu) / sd
    w = np.linalg.solve(z.T @ z + RIDGE * np.eye(len(columns)), z.T @ (y - y.mean()))
    weights = np.zeros(x.shape[1])
    weights[list(columns)] = w / sd
    return weights, float(y.mean() - (mu / sd) @ w)  # prediction = x·weights + intercept


def fit(data: Captures) -> LinearModel:
    knot_c = float(np.median(data.x[:, 0]))
    xa = augment(data.x, knot_c)
    mean = xa.mean(0)
    sites = data.has_sites
    w_all, b_all = _ridge(xa[sites], data.y[sites], tuple(range(xa.shape[1])))
    w_fm, b_fm = _ridge(xa, data.y, FACE_MAX_ONLY)
    # The graph centres its input first (float32 keeps more digits near zero): (x − mean)·w + bias.
    return LinearModel(
        knot_c=knot_c,
        mean=mean,
        weights=np.stack([w_all, w_fm], axis=1),
        bias=np.array([b_all + mean @ w_all, b_fm + mean @ w_fm]),
    )


def group_folds(groups: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Test masks of k folds; a subject's captures always fall in the same fold."""
    subjects = np.random.default_rng(seed).permutation(np.unique(groups))
    return [np.isin(groups, subjects[i::k]) for i in range(k)]


def out_of_fold(data: Captures, k: int, seed: int) -> np.ndarray:
    pred = np.zeros((len(data.y), 2))
    for test in group_folds(data.groups, k, seed):
        pred[test] = fit(data.take(~test)).predict(data.x[test])
    return pred


def choose_margins(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RULE, one margin per THRESHOLDS_C entry."""
    margins = []
    for t in THRESHOLDS_C:
        pos, neg = y >= t, y < t
        if not pos.any() or not neg.any():
            margins.append(0.0)
            continue
        flagged = pred[None, :] >= (t - MARGIN_GRID_C)[:, None]  # [grid, N]
        sp = (~flagged[:, neg]).mean(1)
        se = flagged[:, pos].mean(1)
        ok = sp >= MIN_SPECIFICITY - 1e-12
        if not ok.any():
            margins.append(float(MARGIN_GRID_C[0]))
            continue
        best = se[ok].max()
        margins.append(float(MARGIN_GRID_C[ok & (se >= best - 1e-12)].min()))
    alarm = np.maximum.accumulate(np.array(THRESHOLDS_C) - np.array(margins))
    return np.round(np.array(THRESHOLDS_C) - alarm, 2)


def train(data: Captures) -> tuple[LinearModel, np.ndarray]:
    """The shipped recipe: fit on everything; margins [thresholds, 2 columns] from an inner OOF pass."""
    oof = out_of_fold(data, INNER_FOLDS, SEED + 1)
    sites = data.has_sites
    margins = np.stack(
        [choose_margins(oof[sites, 0], data.y[sites]), choose_margins(oof[:, 1], data.y)], axis=1
    )
    return fit(data), margins


def offset_train(data: Captures) -> tuple[float, np.ndarray]:
    """The published baseline (face max + constant), with the same margin rule."""
    oof = np.zeros(len(data.y))
    for test in group_folds(data.groups, INNER_FOLDS, SEED + 1):
        oof[test] = data.x[test, 0] + np.mean(data.y[~test] - data.x[~test, 0])
    return float(np.mean(data.y - data.x[:, 0])), choose_margins(oof, data.y)


@dataclass(frozen=True)
class Nested:
    est: np.ndarray  # [N] outer out-of-fold estimate
    margin: np.ndarray  # [N, thresholds] margin the outer-training recipe chose for that capture


def nested_cv(data: Captures) -> dict[str, Nested]:
    n, nt = len(data.y), len(THRESHOLDS_C)
    out = {name: (np.zeros(n), np.zeros((n, nt))) for name in ("offset", "estimator", "face-max")}
    for test in group_folds(data.groups, OUTER_FOLDS, SEED):
        inner = data.take(~test)
        offset, m_off = offset_train(inner)
        out["offset"][0][test] = data.x[test, 0] + offset
        out["offset"][1][test] = m_off
        model, margins = train(inner)
        pred = model.predict(data.x[test])
        sites = data.has_sites[test]
        out["estimator"][0][test] = runtime_column(pred, sites)
        out["estimator"][1][test] = np.where(sites[:, None], margins[:, 0], margins[:, 1])
        out["face-max"][0][test] = pred[:, 1]
        out["face-max"][1][test] = margins[:, 1]
    return {name: Nested(est, margin) for name, (est, margin) in out.items()}


class Bootstrap:
    """Subject bootstrap: resample subjects with replacement, each drawn subject brings all its captures."""

    def __init__(self, groups: np.ndarray, reps: int = BOOTSTRAP, seed: int = SEED + 2) -> None:
        subjects, index = np.unique(groups, return_inverse=True)
        draws = np.random.default_rng(seed).integers(0, len(subjects), (reps, len(subjects)))
        counts = np.stack([np.bincount(d, minlength=len(subjects)) for d in draws]).astype(np.float64)
        self.weights = np.c_[np.ones(len(groups))].T  # row 0: the point estimate (every capture once)
        self.weights = np.vstack([self.weights, counts[:, index]])  # [1 + reps, N]

    def ratio(self, num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
        """Point value and 95 % percentile interval of sum(w·num) / sum(w·den)."""
        n, d = self.weights @ num.astype(np.float64), self.weights @ den.astype(np.float64)
        vals = np.divide(n, d, out=np.full_like(n, np.nan), where=d > 0)
        lo, hi = np.nanpercentile(vals[1:], [2.5, 97.5])
        return float(vals[0]), float(lo), float(hi)


def screening_figures(
    boot: Bootstrap, y: np.ndarray, est: np.ndarray, margin: np.ndarray, t_index: int
) -> dict[str, tuple[float, float, float]]:
    t = THRESHOLDS_C[t_index]
    flagged = est >= t - margin[:, t_index]
    pos = y >= t
    ones = np.ones(len(y))
    return {
        "se": boot.ratio(flagged & pos, pos),
        "sp": boot.ratio(~flagged & ~pos, ~pos),
        "flagged": boot.ratio(flagged, ones),
    }


def _ci(v: tuple[float, float, float], fmt: str = ".3f") -> str:
    return f"{v[0]:{fmt}} [{v[1]:{fmt}}, {v[2]:{fmt}}]"


def ceiling_se(est: np.ndarray, y: np.ndarray, t: float, min_sp: float) -> float:
    """Best sensitivity at specificity >= min_sp with the cut chosen on these very estimates (optimistic)."""
    neg = np.sort(est[y < t])
    cut = neg[int(np.ceil(min_sp * len(neg))) - 1]  # flag strictly above: at least min_sp of negatives below
    return float(np.mean(est[y >= t] > cut))


def ceiling_sp(est: np.ndarray, y: np.ndarray, t: float, min_se: float) -> float:
    """Best specificity at sensitivity >= min_se, the cut chosen on these very estimates (optimistic)."""
    pos = np.sort(est[y >= t])[::-1]
    cut = pos[int(np.ceil(min_se * len(pos))) - 1]  # flag at or above: at least min_se of positives
    return float(np.mean(est[y < t] < cut))


LABELS = {
    "offset": "constant offset on the face maximum (published baseline), same margin rule",
    "estimator": "estimator as the lane runs it (all-sites column; face max + ambient without sites)",
    "face-max": "estimator, face max + ambient column only",
}


def cv_report(camera: str, data_dir: Path) -> list[str]:
    data = load_captures(data_dir / f"{camera}_dev.csv")
    nested = nested_cv(data)
    boot = Bootstrap(data.groups)
    y = data.y
    subjects_febrile = len(np.unique(data.groups[y >= 37.5]))
    lines = [
        f"{camera}: {len(y)} captures (rounds {','.join(map(str, SINGLE_PASS_ROUNDS))}) of"
        f" {len(np.unique(data.groups))} subjects; oral >= 37.5 °C: {int((y >= 37.5).sum())} captures of"
        f" {subjects_febrile} subjects"
    ]
    i373, i375, i380 = (THRESHOLDS_C.index(t) for t in (37.3, 37.5, 38.0))
    verdict: dict[str, float] = {}
    for name, res in nested.items():
        err = res.est - y
        ones = np.ones(len(y))
        bias, mae = boot.ratio(err, ones), boot.ratio(np.abs(err), ones)
        rmse = float(np.sqrt(np.mean(err**2)))
        lines.append(f"  {LABELS[name]}")
        lines.append(f"    bias {_ci(bias, '+.3f')} °C   MAE {_ci(mae)} °C   RMSE {rmse:.3f} °C")
        for ti in (i373, i375, i380):
            f = screening_figures(boot, y, res.est, res.margin, ti)
            lines.append(
                f"    at {THRESHOLDS_C[ti]:.1f} °C: se {_ci(f['se'])}  sp {_ci(f['sp'])}"
                f"  flagged {_ci(f['flagged'])}  (margin mean {res.margin[:, ti].mean():+.3f} °C)"
            )
            if name == "estimator":
                key = f"{THRESHOLDS_C[ti]:.1f}".replace(".", "_")
                verdict[f"se{key}"], verdict[f"sp{key}"] = f["se"][0], f["sp"][0]
        if name == "estimator":
            verdict["mae"], verdict["abs_bias"] = mae[0], abs(bias[0])
            per_round = "  ".join(
                f"round {r}: bias {np.mean(err[data.rounds == r]):+.3f} MAE {np.mean(np.abs(err[data.rounds == r])):.3f}"
                for r in SINGLE_PASS_ROUNDS
            )
            lines.append(f"    per round (°C): {per_round}")
            lines.append(
                "    ceiling (cut chosen on these out-of-fold estimates themselves, optimistic):"
                f" se at sp >= 0.95, 37.5 °C: {ceiling_se(res.est, y, 37.5, 0.95):.3f};"
                f" se at sp >= 0.93, 37.3 °C: {ceiling_se(res.est, y, 37.3, 0.93):.3f};"
                f" sp at se >= 0.90, 37.5 °C: {ceiling_sp(res.est, y, 37.5, 0.90):.3f}"
            )
            missed = (y >= 37.5) & (res.est < 37.5 - res.margin[:, i375])
            lines.append(
                f"    missed at 37.5 °C: {int(missed.sum())} febrile captures of"
                f" {len(np.unique(data.groups[missed]))} subjects; oral of the missed: median"
                f" {np.median(y[missed]):.2f} °C, {np.mean(y[missed] < 37.7):.0%} below 37.7 °C"
            )
    met = {
        "MAE <= 0.22": verdict["mae"] <= TARGETS["mae"],
        "|bias| <= 0.05": verdict["abs_bias"] <= TARGETS["abs_bias"],
        "se37.5 >= 0.90": verdict["se37_5"] >= TARGETS["se37_5"],
        "sp37.5 >= 0.95": verdict["sp37_5"] >= TARGETS["sp37_5"],
        "sp37.3 >= 0.93": verdict["sp37_3"] >= TARGETS["sp37_3"],
    }
    lines.append("  targets (estimator, point values): " + ", ".join(
        f"{k} {'met' if ok else 'NOT met'}" for k, ok in met.items()
    ))  # fmt: skip
    lines += table_report(camera, data, nested["estimator"], boot)
    return lines


def table_report(camera: str, data: Captures, res: Nested, boot: Bootstrap) -> list[str]:
    _, shipped = train(data)
    lines = [
        f"  {camera} operating points: shipped margins (all data, inner {INNER_FOLDS}-fold OOF) and what the"
        " rule gave on held-out subjects (nested, estimator as the lane runs it)",
        "    T °C  margin sites  margin face-max  alarm at (sites)  |  se [95 % CI]           sp [95 % CI]"
        "           flagged",
    ]
    for ti, t in enumerate(THRESHOLDS_C):
        f = screening_figures(boot, data.y, res.est, res.margin, ti)
        lines.append(
            f"    {t:.1f}  {shipped[ti, 0]:+12.2f}  {shipped[ti, 1]:+15.2f}  {t - shipped[ti, 0]:16.2f}  |"
            f"  {_ci(f['se'])}  {_ci(f['sp'])}  {f['flagged'][0]:.3f}"
        )
    return lines


def print_cv(data_dir: Path) -> None:
    print(
        "# Single-pass captures: each imaging round 1-3 of a subject is one passenger with its own features;"
        f" round {POST_ORAL_ROUND} (taken right after the oral thermometer) is excluded.\n"
        f"# Nested subject-grouped CV: outer {OUTER_FOLDS} folds (seed {SEED}); in each outer training fold"
        f" the model is fitted and the margins chosen from an inner {INNER_FOLDS}-fold out-of-fold pass.\n"
        f"# 95 % intervals: subject bootstrap ({BOOTSTRAP} resamples of subjects with all their captures)."
        " Truth: aveOralM >= T.\n"
        f"# Margin rule: {RULE}."
    )
    for camera in CAMERAS:
        print("\n".join(cv_report(camera, data_dir)))


# Recipes compared by `explore` (module level so that each reads on its own).
def _ridge_recipe(cols: list[int], sq: bool) -> object:
    def fitter(tr: Captures) -> object:
        knot = float(np.median(tr.x[:, 0]))
        xa = augment(tr.x, knot) if sq else tr.x
        use = [*cols, xa.shape[1] - 1] if sq else cols
        w, b = _ridge(xa, tr.y, tuple(use))
        return lambda x: (augment(x, knot) if sq else x) @ w + b

    return fitter


def _huber_recipe(cols: list[int], delta: float = 0.3) -> object:
    def fitter(tr: Captures) -> object:
        z = np.c_[np.ones(len(tr.y)), tr.x[:, cols]]
        wts = np.ones(len(tr.y))
        for _ in range(50):  # iteratively reweighted least squares
            beta = np.linalg.lstsq(z * np.sqrt(wts)[:, None], tr.y * np.sqrt(wts), rcond=None)[0]
            r = np.abs(tr.y - z @ beta)
            wts = np.where(r <= delta, 1.0, delta / np.maximum(r, 1e-9))
        return lambda x: np.c_[np.ones(len(x)), x[:, cols]] @ beta

    return fitter


def _logistic_recipe(cols: list[int]) -> object:
    """A classifier for oral >= 37.5 (ranking only; its score is not a temperature): does a loss aimed
    at the 37.5 °C decision rank febrile captures better than least squares does?"""

    def fitter(tr: Captures) -> object:
        knot = float(np.median(tr.x[:, 0]))
        xa = augment(tr.x, knot)[:, [*cols, tr.x.shape[1]]]
        mu, sd = xa.mean(0), xa.std(0)
        z = np.c_[np.ones(len(xa)), (xa - mu) / sd]
        target, beta = (tr.y >= 37.5).astype(np.float64), np.zeros(z.shape[1])
        penalty = np.eye(len(beta)) * RIDGE
        penalty[0, 0] = 0.0
        for _ in range(50):  # Newton steps
            p = 1.0 / (1.0 + np.exp(-z @ beta))
            hess = z.T @ (z * (p * (1 - p))[:, None]) + penalty
            beta += np.linalg.solve(hess, z.T @ (target - p) - penalty @ beta)
        return lambda x: np.c_[np.ones(len(x)), (augment(x, knot)[:, [*cols, x.shape[1]]] - mu) / sd] @ beta

    return fitter


def _offset_recipe(tr: Captures) -> object:
    c = float(np.mean(tr.y - tr.x[:, 0]))
    return lambda x: x[:, 0] + c


def explore(data_dir: Path) -> None:
    """Recipes compared on single-pass captures (10-fold subject-grouped OOF, no margin): evidence only."""

    recipes = {
        "constant offset on face max": _offset_recipe,
        "ridge: face max + ambient": _ridge_recipe([0, 4], False),
        "ridge: face max, canthus, forehead max, ambient": _ridge_recipe([0, 1, 2, 4], False),
        "ridge: all five features": _ridge_recipe([0, 1, 2, 3, 4], False),
        "Huber (delta 0.3): all five features": _huber_recipe([0, 1, 2, 3, 4]),
        "ridge: face max + ambient + squared excess": _ridge_recipe([0, 4], True),
        "ridge: all five + squared excess (shipped)": _ridge_recipe([0, 1, 2, 3, 4], True),
        "logistic for oral >= 37.5 (ranking only): all five": _logistic_recipe([0, 1, 2, 3, 4]),
    }
    print("# 10-fold subject-grouped out-of-fold, single-pass captures, no margin; 'ceiling' = best se at")
    print("# sp >= 0.95 (37.5 °C) with the cut chosen on the same estimates (an optimistic upper bound).")
    both = {c: load_captures(data_dir / f"{c}_dev.csv") for c in CAMERAS}
    for camera, data in both.items():
        for label, fitter in recipes.items():
            est = np.zeros(len(data.y))
            for test in group_folds(data.groups, OUTER_FOLDS, SEED):
                est[test] = fitter(data.take(~test))(data.x[test])  # type: ignore[operator]
            err = est - data.y
            figures = (
                ""
                if label.startswith("logistic")
                else f"bias {err.mean():+.3f}  MAE {np.abs(err).mean():.3f}"
            )
            print(
                f"{camera:5} {label:52} {figures:26}  ceiling se37.5 {ceiling_se(est, data.y, 37.5, 0.95):.3f}"
            )
    # Pooled: one model for both cameras (subjects are different people, groups kept apart).
    pooled = Captures(
        np.vstack([d.x for d in both.values()]),
        np.concatenate([d.y for d in both.values()]),
        np.concatenate([d.groups + 10_000 * i for i, d in enumerate(both.values())]),
        np.concatenate([d.rounds for d in both.values()]),
        np.concatenate([d.has_sites for d in both.values()]),
    )
    est = runtime_column(out_of_fold(pooled, OUTER_FOLDS, SEED), pooled.has_sites)
    for i, (camera, data) in enumerate(both.items()):
        mask = (pooled.groups >= 10_000 * i) & (pooled.groups < 10_000 * (i + 1))
        err = est[mask] - data.y
        figures = f"bias {err.mean():+.3f}  MAE {np.abs(err).mean():.3f}"
        label = "pooled FLIR+ICI model, shipped recipe"
        print(
            f"{camera:5} {label:52} {figures:26}  ceiling se37.5 {ceiling_se(est[mask], data.y, 37.5, 0.95):.3f}"
        )


def build_onnx(model: LinearModel, camera: str, data_sha256: str) -> bytes:
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
        "outputs": json.dumps(list(COLUMNS)),
        "unit": "single-pass capture (one imaging round; post-oral round excluded)",
        "operating_points": "beside this file: <stem>.operating_points.json",
        "camera": camera,
        "training_data_sha256": data_sha256,
        "target": "aveOralM (oral, monitor mode), °C",
    }
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def table_json(camera: str, margins: np.ndarray, model_blob: bytes, data: Captures) -> str:
    table = {
        "camera": camera,
        "model": f"core_estimator_{camera.lower()}.onnx",
        "model_sha256": hashlib.sha256(model_blob).hexdigest(),
        "alarm": "flag when core_c >= threshold_c - margin_c",
        "rule": RULE,
        "truth": "aveOralM >= threshold_c",
        "training": {
            "unit": "single-pass capture",
            "rounds": list(SINGLE_PASS_ROUNDS),
            "captures": len(data.y),
            "subjects": len(np.unique(data.groups)),
            "inner_folds": INNER_FOLDS,
            "seed": SEED + 1,
        },
        "thresholds_c": list(THRESHOLDS_C),
        "margin_c": {col: [float(m) for m in margins[:, i]] for i, col in enumerate(COLUMNS)},
    }
    return json.dumps(table, indent=1, ensure_ascii=False) + "\n"


def export(data_dir: Path, out_dir: Path) -> list[Path]:
    written = []
    for camera in CAMERAS:
        path = data_dir / f"{camera}_dev.csv"
        data = load_captures(path)
        model, margins = train(data)
        blob = build_onnx(model, camera, hashlib.sha256(path.read_bytes()).hexdigest())
        target = model_path(camera, out_dir)
        target.write_bytes(blob)
        table_path(target).write_text(table_json(camera, margins, blob, data), encoding="utf-8")
        written += [target, table_path(target)]
        print(f"{camera}: wrote {target} ({len(blob)} bytes) and {table_path(target).name}")
    return written


def check(data_dir: Path, tmp_dir: Path) -> float:
    """Largest |regenerated − shipped| prediction over both cameras' captures, °C; tables must be equal."""
    from edge.screening.estimator import CoreEstimator

    export(data_dir, tmp_dir)
    worst = 0.0
    for camera in CAMERAS:
        x = load_captures(data_dir / f"{camera}_dev.csv").x
        shipped, fresh = CoreEstimator(camera), CoreEstimator(camera, path=model_path(camera, tmp_dir))
        worst = max(worst, float(np.abs(shipped.predict(x) - fresh.predict(x)).max()))
        if shipped.operating_points.margins_c != fresh.operating_points.margins_c:
            raise SystemExit(f"{camera}: the regenerated operating-point table differs from the shipped one")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--cv", action="store_true", help="print the nested cross-validation report")
    parser.add_argument("--explore", action="store_true", help="print the recipe comparison")
    parser.add_argument("--export", action="store_true", help="write the .onnx files and their tables")
    parser.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    parser.add_argument("--out-dir", type=Path, default=REPO / "models")
    args = parser.parse_args(argv)
    if not (args.cv or args.explore or args.export or args.check):
        parser.error("choose --cv, --explore, --export and/or --check")
    if args.explore:
        explore(args.data_dir)
    if args.cv:
        print_cv(args.data_dir)
    if args.export:
        export(args.data_dir, args.out_dir)
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            worst = check(args.data_dir, Path(tmp))
        print(f"max |regenerated − shipped| = {worst:.2e} °C; operating-point tables identical")
        return 0 if worst <= 1e-4 else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
