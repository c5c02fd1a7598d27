"""Turning a non-clear decision into the alert payload of the contract (built by `edge.contract.alert`),
applying the site's privacy policy: ID numbers leave only pseudonymised and masked; name, birth date and
the thermal snapshot only when the policy allows."""

from __future__ import annotations

from typing import Any

from edge.contract import AlertTemperature, build_alert_payload
from edge.passengers import Passenger
from edge.privacy import PrivacySettings, Pseudonymiser, identity_for_alert, snapshot_for_alert
from edge.records import PassengerMeasurement
from edge.rules import Decision
from edge.thermal_view import render_alert_crop


def snapshot_png(m: PassengerMeasurement) -> bytes | None:
    """What a person at the centre can read: the face's colour-mapped crop, its box and reading drawn."""
    if m.snapshot is None:
        return None
    reading = m.core_c if m.core_c is not None else m.skin_c
    label = "--" if reading is None else f"{reading:.1f}C" + (" core" if m.core_c is not None else "")
    return render_alert_crop(m.snapshot, m.snapshot_box, label)


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
            snapshot = snapshot_for_alert(snapshot_png(m), privacy)
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
