"""Temperature decision policies: a passenger's core estimate in, a status with its reasons and numbers out.

Statuses: "normal", "elevated" (refer to a clinical thermometer), "recheck" (a first elevated reading;
measure again before referring), "indeterminate" (the reading cannot be trusted: quality gate, cold skin,
blackbody fault). The estimator's margin is the operating point of the configured threshold (the table
beside the model): it lowers the alarm point at high thresholds, where a regression estimate under-reads
the febrile tail, and raises it below ~37.2 °C, where false alarms are bounded; the configured threshold
stays what the operator set.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from drivers.strict import StrictModel


class DecisionSettings(StrictModel):
    policy: Literal["absolute", "adaptive"] = Field(
        default="absolute",
        description="absolute: fixed threshold; adaptive: recent normal readings + allowed deviation.",
    )
    recheck: bool = Field(
        default=False,
        description="A first elevated reading asks for a second measurement before referral.",
    )
    recheck_window_s: float = Field(
        default=30.0, gt=0.0, le=600.0, description="The second measurement must come within this time, s."
    )
    adaptive_window: int = Field(
        default=10, ge=3, le=100, description="Normal readings kept for the adaptive baseline."
    )
    adaptive_trim: int = Field(
        default=1,
        ge=0,
        le=10,
        description="Highest and lowest readings dropped (each) before averaging the baseline.",
    )
    adaptive_deviation_c: float = Field(
        default=1.0, ge=0.1, le=3.0, description="Alarm when core exceeds the baseline by this much, °C."
    )
    adaptive_idle_reset_s: float = Field(
        default=1800.0, gt=0.0, description="The baseline restarts after this long without a passenger, s."
    )
    adaptive_min_readings: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Until this many normals are seen, the absolute threshold decides.",
    )


@dataclass(frozen=True)
class TemperatureVerdict:
    status: str
    reasons: tuple[str, ...]
    alarm_at_c: float  # the core temperature at or above which this passenger would be flagged
    numbers: dict[str, float] = field(default_factory=dict)


class DecisionMaker:
    """Stateful per lane: the adaptive baseline and pending re-checks live here."""

    def __init__(self, settings: DecisionSettings, threshold_c: float) -> None:
        self._s = settings
        self._threshold_c = threshold_c
        self._normals: deque[float] = deque(maxlen=settings.adaptive_window)
        self._last_seen_mono: float | None = None
        self._recheck_since_mono: float | None = None

    @property
    def threshold_c(self) -> float:
        return self._threshold_c

    def _baseline_c(self) -> float | None:
        if len(self._normals) < self._s.adaptive_min_readings:
            return None
        values = sorted(self._normals)
        trim = self._s.adaptive_trim
        if len(values) > 2 * trim:
            values = values[trim : len(values) - trim]
        return sum(values) / len(values)

    def indeterminate(self, reasons: tuple[str, ...], now_mono: float) -> TemperatureVerdict:
        self._last_seen_mono = now_mono
        return TemperatureVerdict("indeterminate", reasons, self._threshold_c)

    def decide(self, core_c: float, margin_c: float, now_mono: float) -> TemperatureVerdict:
        s = self._s
        if (
            self._last_seen_mono is not None
            and now_mono - self._last_seen_mono > s.adaptive_idle_reset_s
            and self._normals
        ):
            self._normals.clear()  # a different crowd after a long pause: do not judge it by the old one
        self._last_seen_mono = now_mono

        numbers = {
            "core_c": round(core_c, 3),
            "margin_c": round(margin_c, 3),
            "threshold_c": self._threshold_c,
        }
        baseline = self._baseline_c() if s.policy == "adaptive" else None
        if baseline is not None:
            # Never alarm later than the absolute threshold: the baseline may only make screening stricter.
            alarm_at = min(baseline + s.adaptive_deviation_c, self._threshold_c) - margin_c
            numbers["baseline_c"] = round(baseline, 3)
            basis = (
                f"baseline {baseline:.2f} °C + {s.adaptive_deviation_c:.2f} °C"
                f" (capped at {self._threshold_c:.2f})"
            )
        else:
            alarm_at = self._threshold_c - margin_c
            basis = f"threshold {self._threshold_c:.2f} °C"
        numbers["alarm_at_c"] = round(alarm_at, 3)
        # The operating point of a low threshold can sit above it (negative margin): say which way it moved.
        if margin_c > 0:
            margin_note = f" less safety margin {margin_c:.2f} °C"
        elif margin_c < 0:
            margin_note = f" plus operating-point margin {-margin_c:.2f} °C"
        else:
            margin_note = ""
        elevated = core_c >= alarm_at

        pending = self._recheck_since_mono
        recheck_open = pending is not None and now_mono - pending <= s.recheck_window_s
        if not elevated:
            self._normals.append(core_c)
            self._recheck_since_mono = None
            reasons = [f"core {core_c:.2f} °C below {basis}{margin_note}"]
            if recheck_open:
                reasons.append("re-measurement after an elevated first reading is normal")
            return TemperatureVerdict("normal", tuple(reasons), alarm_at, numbers)

        reason = f"core {core_c:.2f} °C at or above {basis}{margin_note}"
        if s.recheck and not recheck_open:
            self._recheck_since_mono = now_mono
            return TemperatureVerdict(
                "recheck", (reason, "first elevated reading: measure again"), alarm_at, numbers
            )
        self._recheck_since_mono = None
        reasons_out = (reason, "confirmed by re-measurement") if s.recheck else (reason,)
        return TemperatureVerdict("elevated", reasons_out, alarm_at, numbers)
