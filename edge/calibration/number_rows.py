"""Technician-pasted CSV of numbers (point pairs, paired readings): one parser, bounded, errors with line numbers."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def _all_finite(row: list[float]) -> bool:
    return all(math.isfinite(v) for v in row)


def parse_number_rows(
    text: str,
    source: str,
    columns: int,
    what: str,
    max_rows: int,
    row_ok: Callable[[list[float]], bool] = _all_finite,
    row_rule: str = "finite numbers",
) -> np.ndarray:
    """CSV lines of `columns` numbers; a header line and # comments allowed. Raises ValueError naming the line."""
    rows: list[list[float]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            values = [float(f.strip()) for f in line.split(",")]
        except ValueError:
            if not rows and number == 1:
                continue  # a header line
            raise ValueError(f"{source}:{number}: expected {columns} numbers, got {line!r}") from None
        if len(values) != columns or not row_ok(values):
            raise ValueError(f"{source}:{number}: expected {columns} {row_rule}, got {line!r}")
        rows.append(values)
        if len(rows) > max_rows:
            raise ValueError(f"{source}: more than {max_rows} {what}")
    return np.asarray(rows, dtype=np.float64).reshape(-1, columns)
