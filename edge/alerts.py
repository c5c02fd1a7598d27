"""Turning a non-clear decision into the alert payload of the contract (built by `edge.contract.alert`),
applying the site's privacy policy: ID numbers leave only pseudonymised and masked; name, birth date and
the thermal snapshot only when the policy allows."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from edge.contract import AlertTemperature, build_alert_payload
from edge.passengers import Passenger
from edge.privacy import PrivacySettings, Pseudonymiser, identity_for_alert, snapshot_for_alert
from edge.rules import Decision


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
    temperature: AlertTemperature | None = None
    snapshot: str | None = None
    if m is not None:
        temperature = AlertTemperature(m.status, m.skin_c, m.core_c, m.threshold_c, m.ambient_c, m.frames)
        if privacy.publish_snapshot and m.snapshot is not None:
            snapshot = snapshot_for_alert(thermal_png(m.snapshot), privacy)
    return build_alert_payload(
        site_id,
        device_id,
        passenger.lane_id,
        passenger.t_wall,
        passenger.t_mono,
        decision.category,
        [(r.code, r.detail) for r in decision.reasons],
        temperature,
        identity_for_alert(scan.document if scan else None, pseudonymiser, privacy),
        snapshot,
    )
