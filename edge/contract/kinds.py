"""The contract's message kinds (one topic and one schema each), its version, and the header every payload
starts with. Nothing here imports anything heavy: the outbox, the uplink and the config check all use it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

SCHEMA_VERSION = 2  # 2: the topic layout of edge/contract/topics.py (docs/contract.md, migration)
Kind = Literal["alert", "stats", "status", "heartbeat"]
KINDS: tuple[Kind, ...] = ("alert", "stats", "status", "heartbeat")
SCHEMA_NAMES: dict[str, str] = {kind: f"checkpoint.{kind}" for kind in KINDS}


def header(kind: Kind, site_id: str, device_id: str) -> dict[str, Any]:
    """The fields every payload begins with; the outbox adds `message_id` and `seq`."""
    return {
        "schema": SCHEMA_NAMES[kind],
        "schema_version": SCHEMA_VERSION,
        "site_id": site_id,
        "device_id": device_id,
    }


def utc_iso(unix_s: float, timespec: Literal["seconds", "milliseconds"] = "milliseconds") -> str:
    """The contract's time format: UTC, ISO 8601, a trailing Z (milliseconds unless asked for seconds)."""
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now_iso() -> str:
    return utc_iso(time.time())
