"""Builder of `stats` payloads (schema checkpoint.stats): per-lane counts over one interval."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from edge.contract.kinds import header, utc_iso

Interval = Literal["minute", "hour"]


@dataclass
class LaneCounts:
    """One lane's counts over a statistics interval (what `build_stats` publishes per lane)."""

    lane_id: str
    screened: int = 0
    normal: int = 0
    elevated: int = 0
    indeterminate: int = 0
    rechecks: int = 0
    scans: int = 0
    unmatched: int = 0
    joined: int = 0
    ambiguous: int = 0
    cards_without_face: int = 0
    faces_without_card: int = 0


def build_stats(
    site_id: str,
    device_id: str,
    interval: str,
    interval_start_utc: str,
    interval_end_utc: str,
    lanes: list[LaneCounts],
    clock_stepped: bool = False,
) -> dict[str, Any]:
    """A stats payload ready for `Outbox.append("stats", …)` (which adds message_id and seq)."""
    if interval not in ("minute", "hour"):
        raise ValueError(f"interval must be 'minute' or 'hour', got {interval!r}")
    return {
        **header("stats", site_id, device_id),
        "interval": interval,
        "interval_start_utc": interval_start_utc,
        "interval_end_utc": interval_end_utc,
        "lanes": [asdict(lane) for lane in lanes],
        **({"clock_stepped": True} if clock_stepped else {}),
    }


def interval_utc(unix_s: float) -> str:
    """Interval bounds fall on whole seconds."""
    return utc_iso(unix_s, timespec="seconds")
