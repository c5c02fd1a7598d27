"""What the outbox holds: rows, their encoding, and the constants of the disk budget."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from edge.contract.kinds import KINDS

# Lower number = dropped first when the disk budget is reached.
DROP_PRIORITY = {"heartbeat": 0, "stats": 1, "status": 2, "alert": 3}
assert set(DROP_PRIORITY) == set(KINDS)
# SQLite's per-row cost beyond the payload (row id, uuid, indexes, page slack), so the budget tracks the file.
ROW_OVERHEAD_BYTES = 160
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class OutboxRow:
    """One pending message as the uplink reads it back."""

    row_id: int
    kind: str
    message_id: str
    device_id: str
    seq: int
    created_unix_s: float
    payload: bytes
    size_bytes: int = field(default=0, compare=False)


def encode_payload(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: what goes on disk is exactly what goes on the wire."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def disk_state_of(error: BaseException) -> str:
    """`full`, `read_only` or `error`, as `status.outbox.disk_state` reports it."""
    text = str(error).lower()
    if "full" in text:
        return "full"
    if "readonly" in text or "read-only" in text or "read only" in text:
        return "read_only"
    return "error"
