"""`checkpoint-edge model evaluate --camera {FLIR,ICI} CSV`: shipped estimator + decision on clinical data.

By default each single-pass capture is one passenger (`--unit capture`): every imaging round 1-3 of a
subject is scored on its own, as a lane sees a passenger walking by once. Round 4 of the clinical protocol
(taken right after the oral thermometer: mouth heat) is never used. `--unit subject` scores each subject's
rounds 1-3 together as one passenger's frames. Every passenger goes through the appliance's own
`assess_passenger` (best-K aggregation, cold/warm-skin gates, ONNX estimator, the operating point of the
threshold, decision policy), at 37.5 °C and 38.0 °C and, with `--threshold T`, at T. A passenger counts
as flagged when the decision is anything but "normal" (elevated, re-check or indeterminate all stop the
passenger), which is how the lane treats them. Truth: oral (aveOralM) >= the threshold. Prints one JSON
line: `unit`, `n` (passengers scored), `subjects`, `bias`/`mae`/`rmse` (°C), `se37_5`, `sp37_5`,
`se38_0`, `sp38_0`, `skipped` (rows without a usable subject) and, with `--threshold`, `threshold`,
`se_at_threshold`, `sp_at_threshold`, `flagged_fraction`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.screening.dataset import ParsedDataset, load_csv
from edge.screening.decision import DecisionMaker
from edge.screening.estimator import CAMERAS, CoreEstimator
from edge.screening.measure import SiteReading
from edge.screening.pipeline import FrameRecord, assess_passenger
from edge.screening.settings import ScreeningSettings

THRESHOLDS_C = (37.5, 38.0)
UNITS = ("capture", "subject")


def passengers(dataset: ParsedDataset, unit: str) -> tuple[list[tuple[SiteReading, ...]], np.ndarray]:
    """The frames of each passenger to score, and each passenger's oral truth."""
    frames: list[tuple[SiteReading, ...]] = []
    truth: list[float] = []
    for subject in dataset.subjects:
        single = subject.single_pass_frames()
        groups = [(f,) for f in single] if unit == "capture" else [single] if single else []
        frames += groups
        truth += [subject.oral_c] * len(groups)
    return frames, np.array(truth, dtype=np.float64)


def _flags(
    frames: list[tuple[SiteReading, ...]],
    threshold_c: float,
    base: ScreeningSettings,
    estimator: CoreEstimator,
) -> tuple[np.ndarray, list[float | None]]:
    s = base.model_copy(update={"threshold_c": threshold_c, "estimator": "model"})
    decider = DecisionMaker(s.decision.model_copy(update={"recheck": False}), threshold_c)
    marks, cores = [], []
    for i, readings in enumerate(frames):
        # One second between passengers: no idle reset, no re-check window spanning two passengers.
        now = float(i)
        records = [FrameRecord(now, now, reading, quality=0.0) for reading in readings]
        a = assess_passenger(records, s, estimator, decider, now)
        marks.append(a.status != "normal")
        cores.append(a.core_c)
    return np.array(marks, dtype=bool), cores


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def evaluate(
    dataset: ParsedDataset,
    camera: str,
    settings: ScreeningSettings | None = None,
    *,
    unit: str = "capture",
    threshold_c: float | None = None,
) -> dict[str, object]:
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    base = (settings or ScreeningSettings()).model_copy(update={"estimator_camera": camera})
    estimator = CoreEstimator(camera, Path(base.estimator_path) if base.estimator_path else None)
    if threshold_c is not None:
        estimator.operating_points.margin_c(threshold_c, "sites")  # outside the table: ValueError, with range
    frames, truth = passengers(dataset, unit)
    flagged: dict[float, np.ndarray] = {}
    cores: list[float | None] = []
    for threshold in (*THRESHOLDS_C, *(() if threshold_c is None else (threshold_c,))):
        flagged[threshold], core = _flags(frames, threshold, base, estimator)
        cores = cores or core

    has_core = np.array([c is not None for c in cores], dtype=bool)
    est = np.array([c if c is not None else np.nan for c in cores], dtype=np.float64)
    err = est[has_core] - truth[has_core]
    out: dict[str, object] = {
        "unit": unit,
        "n": len(frames),
        "subjects": sum(1 for s in dataset.subjects if s.single_pass_frames()),
        "bias": round(float(err.mean()), 4) + 0.0 if err.size else None,  # + 0.0: no "-0.0"
        "mae": round(float(np.abs(err).mean()), 4) if err.size else None,
        "rmse": round(float(math.sqrt((err**2).mean())), 4) if err.size else None,
    }
    for threshold in THRESHOLDS_C:
        key = f"{threshold:.1f}".replace(".", "_")
        pos, flag = truth >= threshold, flagged[threshold]
        out[f"se{key}"] = _ratio(int((flag & pos).sum()), int(pos.sum()))
        out[f"sp{key}"] = _ratio(int((~flag & ~pos).sum()), int((~pos).sum()))
    out["skipped"] = dataset.skipped
    if threshold_c is not None:
        pos, flag = truth >= threshold_c, flagged[threshold_c]
        out["threshold"] = threshold_c
        out["se_at_threshold"] = _ratio(int((flag & pos).sum()), int(pos.sum()))
        out["sp_at_threshold"] = _ratio(int((~flag & ~pos).sum()), int((~pos).sum()))
        out["flagged_fraction"] = _ratio(int(flag.sum()), len(flag))
    return out


def _handle_evaluate(args: argparse.Namespace) -> int:
    try:
        dataset = load_csv(args.csv)
        result = evaluate(dataset, args.camera, unit=args.unit, threshold_c=args.threshold)
    except (OSError, ValueError) as exc:
        print(f"model evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    model = subparsers.add_parser("model", help="the core-temperature estimator: evaluate on clinical data")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    ev = model_sub.add_parser(
        "evaluate",
        help="run the shipped estimator and decision on a thermography CSV; print one JSON line",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument("--camera", required=True, choices=CAMERAS, help="which camera's estimator profile")
    ev.add_argument(
        "--unit",
        choices=UNITS,
        default="capture",
        help="capture (default): each imaging round 1-3 is one passenger; subject: rounds 1-3 together",
    )
    ev.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="also report se/sp/flagged fraction at this alarm threshold, °C (a row of the operating-point"
        " table: 36.5-38.0 in 0.1 steps); truth is oral >= it",
    )
    ev.add_argument("csv", help="CSV in the dataset's format (three header lines)")
    ev.set_defaults(func=_handle_evaluate)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="checkpoint-edge")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
