"""Turning a non-clear decision into the alert payload of the contract (schema checkpoint.alert v1),
applying the site's privacy policy: ID numbers leave only pseudonymised and masked; name, birth date and
the thermal snapshot only when the policy allows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cv2
import numpy as np

from edge.passengers import Passenger
from edge.privacy import PrivacySettings, Pseudonymiser, identity_for_alert, snapshot_for_alert
from edge.rules import Decision

ALERT_SCHEMA_VERSION = 1


def utc_iso(t_wall: float) -> str:
    return dt.datetime.fromtimestamp(t_wall, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def thermal_png(temps_c: np.ndarray) -> bytes | None:
    """An 8-bit grey rendering, min..max stretched (the privacy policy decides whether it may leave)."""
    lo, hi = float(np.min(temps_c)), float(np.max(temps_c))
    gray = (
        np.zeros(temps_c.shape, np.uint8)
        if hi <= lo
        else np.round((temps_c - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    )
    ok, png = cv2.imencode(".png", gray)
    return png.tobytes() if ok else None


def build_alert(
    site_id: str,
    device_id: str,
    passenger: Passenger,
    decision: Decision,
    privacy: PrivacySettings,
    pseudonymiser: Pseudonymiser,
) -> dict[str, Any]:
    m, scan = passenger.measurement, passenger.scan
    payload: dict[str, Any] = {
        "schema": "checkpoint.alert",
        "schema_version": ALERT_SCHEMA_VERSION,
        "site_id": site_id,
        "device_id": device_id,
        "lane_id": passenger.lane_id,
        "time_utc": utc_iso(passenger.t_wall),
        "monotonic_s": round(passenger.t_mono, 3),
        "category": decision.category,
        "reasons": [{"code": r.code, "detail": r.detail} for r in decision.reasons],
        "temperature": None,
        "identity": None,
    }
    if m is not None:
        payload["temperature"] = {
            "status": m.status,
            "skin_c": m.skin_c,
            "core_c": m.core_c,
            "threshold_c": m.threshold_c,
            "ambient_c": None if m.ambient_c is None else round(m.ambient_c, 2),
            "frames": m.frames,
        }
        if privacy.publish_snapshot and m.snapshot is not None:
            snapshot = snapshot_for_alert(thermal_png(m.snapshot), privacy)
            if snapshot is not None:
                payload["snapshot_png_b64"] = snapshot
    payload["identity"] = identity_for_alert(scan.document if scan else None, pseudonymiser, privacy)
    return payload
