"""One febrile passenger's alert, built by the contract's own builder: the payload the uplink, fleet and
bench tests push through the outbox (the outbox adds message_id and seq)."""

from __future__ import annotations

from typing import Any

from edge.contract import AlertTemperature, build_alert_payload

FEVER = AlertTemperature(
    status="elevated", skin_c=36.8, core_c=38.1, threshold_c=37.3, ambient_c=24.0, frames=9
)


def fever_alert(site: str, device: str, lane: str, t_wall: float, t_mono: float) -> dict[str, Any]:
    return build_alert_payload(
        site,
        device,
        lane,
        t_wall,
        t_mono,
        "medical_referral",
        [("fever", "core 38.10 °C ≥ threshold 37.30 °C")],
        FEVER,
        None,
    )
