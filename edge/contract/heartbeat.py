"""Builder of `heartbeat` payloads (schema checkpoint.heartbeat): liveness and outbox backlog, QoS 0."""

from __future__ import annotations

import time
from typing import Any

from edge.contract.kinds import header, utc_now_iso


def build_heartbeat(
    site_id: str,
    device_id: str,
    *,
    boot_id: str,
    started_mono: float,
    outbox_health: dict[str, Any],
) -> dict[str, Any]:
    """A heartbeat payload ready to be stamped; `outbox_health` is `Outbox.health()`."""
    now_mono = time.monotonic()
    return {
        **header("heartbeat", site_id, device_id),
        "time_utc": utc_now_iso(),
        "monotonic_s": round(now_mono, 3),
        "uptime_s": round(now_mono - started_mono, 3),
        "boot_id": boot_id,
        "outbox_depth": outbox_health["depth"],
        "outbox_oldest_age_s": outbox_health["oldest_age_s"],
        "disk_state": outbox_health["disk_state"],
    }
