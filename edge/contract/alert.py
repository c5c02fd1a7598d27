"""Builder of `alert` payloads (schema checkpoint.alert): one flagged passenger.

It takes plain values; turning a passenger and a decision into them, under the site's privacy policy, is
`edge/alerts.py`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edge.contract.kinds import header, utc_iso

# The schema's bound on `reasons[].detail`: a longer text (a screener's fault message carrying numbers) is cut,
# never allowed to make the alert invalid.
REASON_DETAIL_MAX = 300


@dataclass(frozen=True)
class AlertTemperature:
    status: str
    skin_c: float | None
    core_c: float | None
    threshold_c: float
    ambient_c: float | None
    frames: int

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "skin_c": self.skin_c,
            "core_c": self.core_c,
            "threshold_c": self.threshold_c,
            "ambient_c": None if self.ambient_c is None else round(self.ambient_c, 2),
            "frames": self.frames,
        }


def build_alert_payload(
    site_id: str,
    device_id: str,
    lane_id: str,
    t_wall: float,
    t_mono: float,
    category: str,
    reasons: Iterable[tuple[str, str]],
    temperature: AlertTemperature | None,
    identity: dict[str, Any] | None,
    snapshot_png_b64: str | None = None,
) -> dict[str, Any]:
    """An alert payload ready for the outbox (which adds message_id and seq). `reasons`: (code, detail)."""
    payload: dict[str, Any] = {
        **header("alert", site_id, device_id),
        "lane_id": lane_id,
        "time_utc": utc_iso(t_wall),
        "monotonic_s": round(t_mono, 3),
        "category": category,
        "reasons": [{"code": code, "detail": detail[:REASON_DETAIL_MAX]} for code, detail in reasons],
        "temperature": None if temperature is None else temperature.as_json(),
        "identity": identity,
    }
    if snapshot_png_b64 is not None:
        payload["snapshot_png_b64"] = snapshot_png_b64
    return payload
