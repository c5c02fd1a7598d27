"""Offset against a clinical thermometer: N ≥ 10 passengers measured by both, the mean difference and its
95 % confidence interval (Student's t), plus the 95 % limits of agreement a clinician will ask for.

The offset is clinical − appliance (core °C): added to every core estimate (`core_offset_c`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.calibration.number_rows import parse_number_rows

MIN_PAIRS = 10
MAX_PAIRS = 10_000
MAX_ABS_OFFSET_C = 3.0  # the setting's own bound: a larger bias is a broken camera, not a calibration

# Two-sided 97.5 % quantiles of Student's t for 1–30 degrees of freedom; beyond, the 1/df expansion.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    if df < 1:
        raise ValueError("need at least one degree of freedom")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    # Cornish–Fisher expansion of t in 1/df: within 0.001 of the exact quantile for df > 30.
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


class OffsetRefused(ValueError):
    pass


@dataclass(frozen=True)
class OffsetResult:
    offset_c: float  # clinical − appliance, mean
    ci95_c: tuple[float, float]
    sd_c: float
    limits_of_agreement_c: tuple[float, float]
    pairs: int

    def describe(self) -> str:
        lo, hi = self.ci95_c
        la, lb = self.limits_of_agreement_c
        return (
            f"offset {self.offset_c:+.2f} °C (clinical − appliance, {self.pairs} pairs), "
            f"95 % CI [{lo:+.2f}, {hi:+.2f}] °C, SD {self.sd_c:.2f} °C, "
            f"95 % limits of agreement [{la:+.2f}, {lb:+.2f}] °C"
        )


def read_readings(path: Path) -> np.ndarray:
    return parse_readings(path.read_text(encoding="utf-8"), str(path))


def parse_readings(text: str, source: str) -> np.ndarray:
    """CSV lines `appliance_c, clinical_c` (a header line and # comments allowed)."""
    return parse_number_rows(
        text,
        source,
        2,
        "readings",
        MAX_PAIRS,
        lambda row: all(math.isfinite(v) and 25.0 <= v <= 45.0 for v in row),
        "temperatures in 25–45 °C",
    )


def calibrate_offset(readings: np.ndarray) -> OffsetResult:
    readings = np.asarray(readings, dtype=np.float64).reshape(-1, 2)
    n = len(readings)
    if n < MIN_PAIRS:
        raise OffsetRefused(f"need at least {MIN_PAIRS} paired readings, got {n}")
    diff = readings[:, 1] - readings[:, 0]
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    half = t975(n - 1) * sd / math.sqrt(n)
    if abs(mean) > MAX_ABS_OFFSET_C:
        raise OffsetRefused(
            f"offset {mean:+.2f} °C is beyond ±{MAX_ABS_OFFSET_C} °C: the camera or the pairing is wrong"
        )
    return OffsetResult(
        offset_c=round(mean, 3),
        ci95_c=(round(mean - half, 3), round(mean + half, 3)),
        sd_c=round(sd, 3),
        limits_of_agreement_c=(round(mean - 1.96 * sd, 3), round(mean + 1.96 * sd, 3)),
        pairs=n,
    )
