"""Operating points of the core-temperature estimator: one decision margin per alarm threshold.

A least-squares estimate regresses toward the population mean, so at a fixed threshold it under-reads
fever. How much to lower the alarm point depends on the threshold: a margin tuned at 37.5 °C and
subtracted at 37.3 °C flags a third of healthy passengers. So each estimator ships a table beside its
`.onnx` file (`core_estimator_<camera>.operating_points.json`), produced by
`models/train_core_estimator.py`: for every threshold 36.5-38.0 °C in 0.1 °C steps and for each output
column, the margin chosen by subject-grouped cross-validation with a stated rule (see the file's "rule").
A passenger is flagged when `core_c >= threshold_c - margin_c`.

Plain JSON, read without onnxruntime, so `checkpoint-edge check-config` can reject a threshold the table
does not cover without loading the model.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

from edge.model_files import MODELS_DIR

COLUMNS = ("sites", "face-max")  # the estimator's output columns, in graph order
STEP_C = 0.1


def model_file(camera: str, directory: Path | None = None) -> Path:
    return (directory or MODELS_DIR) / f"core_estimator_{camera.lower()}.onnx"


def table_path(model: Path) -> Path:
    """The table that belongs to an estimator file: same directory, same stem."""
    return model.with_name(model.name.removesuffix(".onnx") + ".operating_points.json")


def _tenths(value_c: float) -> int | None:
    """The threshold in tenths of a degree, or None when it is not on the 0.1 °C grid."""
    tenths = round(value_c / STEP_C)
    return tenths if math.isclose(tenths * STEP_C, value_c, abs_tol=1e-6) else None


@dataclass(frozen=True)
class OperatingPoints:
    camera: str
    thresholds_c: tuple[float, ...]  # ascending, 0.1 °C apart
    margins_c: dict[str, tuple[float, ...]]  # per output column, parallel to thresholds_c
    rule: str
    model_sha256: str

    @property
    def range_text(self) -> str:
        return f"{self.thresholds_c[0]:.1f}-{self.thresholds_c[-1]:.1f} °C in {STEP_C:.1f} °C steps"

    def covers(self, threshold_c: float) -> bool:
        tenths = _tenths(threshold_c)
        return tenths is not None and tenths in {_tenths(t) for t in self.thresholds_c}

    def margin_c(self, threshold_c: float, column: str) -> float:
        if column not in self.margins_c:
            raise ValueError(f"no operating points for estimator column {column!r}")
        if not self.covers(threshold_c):
            raise ValueError(
                f"threshold {threshold_c} °C is outside the {self.camera} estimator's operating-point"
                f" table: valid {self.range_text}"
            )
        i = [_tenths(t) for t in self.thresholds_c].index(_tenths(threshold_c))
        return self.margins_c[column][i]


def parse_table(data: object, source: str) -> OperatingPoints:
    """Validate the whole table: a half-written or hand-edited file must not decide passengers."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: not an operating-point table (expected a JSON object)")
    try:
        thresholds = tuple(float(t) for t in data["thresholds_c"])
        margins = {c: tuple(float(m) for m in data["margin_c"][c]) for c in COLUMNS}
        camera, rule = str(data["camera"]), str(data["rule"])
        sha = str(data.get("model_sha256", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: malformed operating-point table ({exc!r})") from None
    tenths = [_tenths(t) for t in thresholds]
    steps = [None if a is None or b is None else b - a for a, b in itertools.pairwise(tenths)]
    if not thresholds or None in tenths or any(step != 1 for step in steps):
        raise ValueError(f"{source}: thresholds must be ascending and {STEP_C} °C apart")
    for column, values in margins.items():
        if len(values) != len(thresholds) or not all(math.isfinite(m) and abs(m) <= 2.0 for m in values):
            raise ValueError(f"{source}: margins for {column!r} must be one finite value per threshold")
    return OperatingPoints(camera, thresholds, margins, rule, sha)


def load_table(path: Path) -> OperatingPoints:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"estimator operating-point table {path} cannot be read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    return parse_table(data, str(path))


def check_threshold(threshold_c: float, camera: str, estimator_path: str | None) -> None:
    """Config validation: the threshold must be a row of the estimator's table (ValueError naming the range)."""
    model = Path(estimator_path) if estimator_path else model_file(camera)
    table = load_table(table_path(model))
    if not table.covers(threshold_c):
        raise ValueError(
            f"threshold_c {threshold_c} °C has no operating point in the {table.camera} estimator's table:"
            f' valid {table.range_text} (or estimator = "offset")'
        )
