"""A passenger's frames in, one temperature assessment out: best K clean frames, the cold/warm-skin gate,
the core estimate (ONNX model, or constant offset for faces too small for it) and the decision.

Shared by the lane (`LaneScreener`) and `checkpoint-edge model evaluate`, so the clinical evaluation runs
exactly the appliance's aggregation, gates, estimator and decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.screening.decision import DecisionMaker
from edge.screening.estimator import CoreEstimator, passenger_features
from edge.screening.measure import SiteReading
from edge.screening.outcome import ADVICE
from edge.screening.settings import ScreeningSettings


@dataclass(frozen=True)
class FrameRecord:
    t_mono: float
    t_wall: float
    reading: SiteReading | None  # None for frames with no usable face (flat-field correction)
    quality: float = 0.0
    faults: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # observations that do not invalidate the frame (e.g. a mask)


@dataclass(frozen=True)
class Assessment:
    status: str
    reasons: tuple[str, ...]
    skin_c: float | None
    core_c: float | None
    advice: str
    estimator: str
    frames_used: int
    ambient_c: float | None
    numbers: dict[str, float]
    alarm_at_c: float | None = None


def choose_estimator(settings: ScreeningSettings, readings: Sequence[SiteReading]) -> str:
    if settings.estimator != "auto":
        return settings.estimator
    widths = [r.face_width_px for r in readings if r.face_width_px is not None]
    if not widths:
        return "model"  # readings without geometry come from a research camera (the clinical data)
    return "model" if float(np.median(widths)) >= settings.model_min_face_px else "offset"


def assess_passenger(
    records: Sequence[FrameRecord],
    settings: ScreeningSettings,
    estimator: CoreEstimator | None,
    decider: DecisionMaker,
    now_mono: float,
) -> Assessment:
    clean = [r for r in records if not r.faults and r.reading is not None]
    if not clean:
        counts = Counter(f for r in records for f in r.faults)
        reasons = tuple(f"{fault} ({n} of {len(records)} frames)" for fault, n in counts.most_common())
        top = counts.most_common(1)[0][0] if counts else ""
        advice = next((a for fault, a in ADVICE.items() if top.startswith(fault)), "re-measure")
        d = decider.indeterminate(reasons or ("no usable frame",), now_mono)
        return Assessment(d.status, d.reasons, None, None, advice, "", 0, None, {})

    best = sorted(clean, key=lambda r: r.quality, reverse=True)[: settings.best_k_frames]
    readings = [r.reading for r in best if r.reading is not None]
    face_max = float(np.mean([r.face_max_c for r in readings]))
    ambients = [r.ambient_c for r in readings if r.ambient_c is not None]
    ambient_c = float(np.median(ambients)) if ambients else settings.ambient_c
    notes = tuple(sorted({n for r in best for n in r.notes}))
    numbers = {"face_max_c": round(face_max, 3), "ambient_c": round(ambient_c, 2)}

    if face_max < settings.cold_skin_c or face_max > settings.warm_skin_c:
        cold = face_max < settings.cold_skin_c
        limit = settings.cold_skin_c if cold else settings.warm_skin_c
        reason = (
            f"skin too {'cold' if cold else 'warm'} to judge: face max {face_max:.2f} °C "
            f"{'<' if cold else '>'} {limit:.2f} °C; wait and re-measure"
        )
        d = decider.indeterminate((reason, *notes), now_mono)
        return Assessment(
            d.status,
            d.reasons,
            round(face_max, 2),
            None,
            "wait and re-measure",
            "",
            len(best),
            ambient_c,
            numbers,
        )

    kind = choose_estimator(settings, readings)
    if kind == "model":
        if estimator is None:
            raise ValueError("the trained estimator was requested but not loaded")
        features = passenger_features(readings, settings.ambient_c)
        est = estimator.estimate(features, settings.threshold_c)
        core_c, margin_c, label = est.core_c, est.margin_c, est.model
        numbers.update({k: round(v, 3) for k, v in est.features.items()})
    else:
        core_c, margin_c, label = face_max + settings.skin_to_core_offset_c, 0.0, "offset"
        numbers["offset_c"] = settings.skin_to_core_offset_c
    if settings.core_offset_c:  # the site's calibration against a clinical thermometer
        core_c += settings.core_offset_c
        numbers["core_offset_c"] = settings.core_offset_c
    d = decider.decide(core_c, margin_c, now_mono)
    numbers.update(d.numbers)
    advice = {"elevated": "refer to a clinical thermometer", "recheck": "measure again"}.get(d.status, "")
    return Assessment(
        d.status,
        (*d.reasons, f"estimator {label} on {len(best)} frame(s)", *notes),
        round(face_max, 2),
        round(core_c, 2),
        advice,
        label,
        len(best),
        ambient_c,
        numbers,
        d.alarm_at_c,
    )
