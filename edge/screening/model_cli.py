"""`checkpoint-edge model evaluate --camera {FLIR,ICI} CSV`: shipped estimator + decision on clinical data.

Each subject's imaging rounds are that passenger's frames; they go through the appliance's own
`assess_passenger` (best-K aggregation, cold/warm-skin gates, ONNX estimator, decision policy with its
safety margin), once with the threshold at 37.5 °C and once at 38.0 °C. A passenger counts as flagged
when the decision is anything but "normal" (elevated, re-check or indeterminate all stop the passenger),
which is how the lane treats them. Prints one JSON line.
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
from edge.screening.pipeline import FrameRecord, assess_passenger
from edge.screening.settings import ScreeningSettings

THRESHOLDS_C = (37.5, 38.0)


def evaluate(
    dataset: ParsedDataset, camera: str, settings: ScreeningSettings | None = None
) -> dict[str, object]:
    base = settings or ScreeningSettings()
    estimator = CoreEstimator(camera, Path(base.estimator_path) if base.estimator_path else None)
    truth = np.array([s.oral_c for s in dataset.subjects])
    flagged: dict[float, np.ndarray] = {}
    core_at_first: list[float | None] = []
    for threshold in THRESHOLDS_C:
        s = base.model_copy(
            update={"threshold_c": threshold, "estimator": "model", "estimator_camera": camera}
        )
        decider = DecisionMaker(s.decision.model_copy(update={"recheck": False}), threshold)
        marks = []
        for i, subject in enumerate(dataset.subjects):
            # One second between passengers: no idle reset, no re-check window spanning two subjects.
            now = float(i)
            records = [FrameRecord(now, now, reading, quality=0.0) for reading in subject.frames]
            a = assess_passenger(records, s, estimator, decider, now)
            marks.append(a.status != "normal")
            if threshold == THRESHOLDS_C[0]:
                core_at_first.append(a.core_c)
        flagged[threshold] = np.array(marks, dtype=bool)

    has_core = np.array([c is not None for c in core_at_first], dtype=bool)
    est = np.array([c if c is not None else np.nan for c in core_at_first], dtype=np.float64)
    err = est[has_core] - truth[has_core]

    def ratio(num: int, den: int) -> float | None:
        return round(num / den, 4) if den else None

    out: dict[str, object] = {
        "n": len(dataset.subjects),
        "bias": round(float(err.mean()), 4) + 0.0 if err.size else None,  # + 0.0: no "-0.0"
        "mae": round(float(np.abs(err).mean()), 4) if err.size else None,
        "rmse": round(float(math.sqrt((err**2).mean())), 4) if err.size else None,
    }
    for threshold in THRESHOLDS_C:
        key = f"{threshold:.1f}".replace(".", "_")
        pos = truth >= threshold
        flag = flagged[threshold]
        out[f"se{key}"] = ratio(int((flag & pos).sum()), int(pos.sum()))
        out[f"sp{key}"] = ratio(int((~flag & ~pos).sum()), int((~pos).sum()))
    out["skipped"] = dataset.skipped
    return out


def _handle_evaluate(args: argparse.Namespace) -> int:
    try:
        dataset = load_csv(args.csv)
    except (OSError, ValueError) as exc:
        print(f"model evaluate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(evaluate(dataset, args.camera), ensure_ascii=False))
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
