"""Per-device stream bookkeeping for the centre: gaps, duplicates and out-of-order arrivals by `seq`.

The contract gives every message a `message_id` (uuid, repeated when the appliance re-sends after a lost
acknowledgement) and a `seq` counting one device's messages on one topic kind. So a consumer can:

* drop duplicates by `message_id` (at-least-once delivery re-sends after every broker or link failure);
* see a gap when `seq` jumps past the next expected number; a gap that fills later was an out-of-order
  arrival, not a loss;
* see a sequence restart (a `seq` already passed, under a new id): the appliance's outbox was replaced.

Pure bookkeeping, no I/O: `checkpoint-edge watch`, the fleet tests and bench/fleet.py share it. Memory is
bounded: each stream remembers its most recent `ids_per_stream` ids and `max_missing` open gaps.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

# Alerts and statistics must arrive gap-free; status and heartbeats are sent directly (not from the outbox)
# and heartbeats at QoS 0, so their gaps are information, not loss.
LOSSLESS_KINDS = ("alert", "stats")


@dataclass(frozen=True)
class Finding:
    """Something a consumer should know about a stream, with a stable machine-readable code."""

    code: str  # "gap", "duplicate", "out_of_order", "sequence_restart", "schema"
    device: str  # "site/device"
    kind: str
    seq: int | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "device": self.device,
            "kind": self.kind,
            "seq": self.seq,
            "detail": self.detail,
        }


@dataclass
class StreamState:
    """One device's messages of one kind."""

    received: int = 0
    unique: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    restarts: int = 0
    highest_seq: int = 0
    missing: set[int] = field(default_factory=set)
    recent_ids: OrderedDict[str, int] = field(default_factory=OrderedDict)


class StreamTracker:
    def __init__(self, ids_per_stream: int = 100_000, max_missing: int = 100_000) -> None:
        self.ids_per_stream = ids_per_stream
        self.max_missing = max_missing
        self.streams: dict[tuple[str, str], StreamState] = {}
        self.schema_failures: dict[str, int] = {}

    def observe(self, device: str, kind: str, seq: int, message_id: str) -> list[Finding]:
        """Account for one received message; returns what it revealed (empty for the normal case)."""
        state = self.streams.setdefault((device, kind), StreamState())
        state.received += 1
        if message_id in state.recent_ids:
            state.duplicates += 1
            state.recent_ids.move_to_end(message_id)
            return [Finding("duplicate", device, kind, seq, f"message_id {message_id} already received")]
        state.recent_ids[message_id] = seq
        if len(state.recent_ids) > self.ids_per_stream:
            state.recent_ids.popitem(last=False)
        state.unique += 1
        if seq > state.highest_seq:
            findings = []
            if state.highest_seq and seq > state.highest_seq + 1:
                first, last = state.highest_seq + 1, seq - 1
                room = max(0, self.max_missing - len(state.missing))
                state.missing.update(range(first, min(last, first + room - 1) + 1))
                span = f"seq {first}" if first == last else f"seq {first}..{last} ({last - first + 1})"
                findings.append(Finding("gap", device, kind, seq, f"{span} missing (got {seq})"))
            state.highest_seq = seq
            return findings
        if seq in state.missing:
            state.missing.discard(seq)
            state.out_of_order += 1
            return [
                Finding("out_of_order", device, kind, seq, f"seq {seq} arrived after {state.highest_seq}")
            ]
        state.restarts += 1
        state.highest_seq = seq
        state.missing = {s for s in state.missing if s < seq}
        return [
            Finding(
                "sequence_restart", device, kind, seq, f"seq {seq} under a new id: the sequence started again"
            )
        ]

    def schema_failure(self, device: str) -> None:
        self.schema_failures[device] = self.schema_failures.get(device, 0) + 1

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        """{device: {kind: counts and the still-missing seqs}}, devices and kinds sorted."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (device, kind), state in sorted(self.streams.items()):
            missing = sorted(state.missing)
            out.setdefault(device, {})[kind] = {
                "received": state.received,
                "unique": state.unique,
                "duplicates": state.duplicates,
                "out_of_order": state.out_of_order,
                "sequence_restarts": state.restarts,
                "highest_seq": state.highest_seq,
                "missing": len(missing),
                "missing_seqs": missing[:50],
            }
        for device, count in sorted(self.schema_failures.items()):
            out.setdefault(device, {}).setdefault("schema_failures", {"count": 0})["count"] = count
        return out

    def losses(self) -> int:
        """Messages of the lossless kinds still missing: the number a centre must investigate."""
        return sum(len(s.missing) for (_d, kind), s in self.streams.items() if kind in LOSSLESS_KINDS)


def order_violations(seqs_in_arrival_order: list[int]) -> int:
    """Arrivals whose seq is below an earlier one (after de-duplication): 0 means order held."""
    violations = 0
    highest = 0
    for seq in seqs_in_arrival_order:
        if seq < highest:
            violations += 1
        highest = max(highest, seq)
    return violations
