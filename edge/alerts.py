"""Turning a non-clear decision into the alert payload of the contract (schema checkpoint.alert v1),
applying the site's privacy policy: ID numbers leave only pseudonymised and masked; name, birth date and
the thermal snapshot only when the policy allows."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import cv2
import numpy as np

from edge.passengers import Passenger
from edge.privacy import PrivacySettings, Pseudonymiser, mask_id_number
from edge.rules import Decision

ALERT_SCHEMA_VERSION = 1


def utc_iso(t_wall: float) -> str:
    return dt.datetime.fromtimestamp(t_wall, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def thermal_png(temps_c: np.ndarray, max_bytes: int) -> bytes | None:
    """A false-colour-free 8-bit rendering (min..max stretched); None when it would exceed the cap."""
    lo, hi = float(np.min(temps_c)), float(np.max(temps_c))
    gray = (
        np.zeros(temps_c.shape, np.uint8)
        if hi <= lo
        else ((temps_c - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    )
    ok, png = cv2.imencode(".png", gray)
    return png.tobytes() if ok and png.nbytes <= max_bytes else None


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
            png = thermal_png(m.snapshot, privacy.snapshot_max_bytes)
            if png is not None:
                payload["snapshot_png_b64"] = base64.b64encode(png).decode("ascii")
    if scan is not None:
        doc = scan.document
        identity: dict[str, Any] = {
            "doc_type": doc.doc_type,
            "id_hmac": pseudonymiser.pseudonymise(doc.number) if doc.number else None,
            "id_masked": mask_id_number(doc.number) if doc.number else None,
            "region": doc.region or None,
            "valid": doc.valid,
        }
        if privacy.publish_name and doc.name:
            identity["name"] = doc.name
        if privacy.publish_birth_date and doc.birth_date:
            identity["birth_date"] = doc.birth_date
        payload["identity"] = identity
    return payload
