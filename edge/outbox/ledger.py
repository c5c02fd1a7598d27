"""The outbox's memory: counts and bytes per kind, drop counters, sequence numbers, acknowledged rows not yet
deleted, and the RAM spill for rows the disk refused. Shared by the writer thread and the readers under one
lock, held briefly and never across I/O."""

from __future__ import annotations

import logging
import threading

from edge.contract.kinds import KINDS
from edge.outbox.budget import spill_victim
from edge.outbox.rows import OutboxRow, disk_state_of
from edge.outbox.store import Store

log = logging.getLogger("edge.outbox")


class Spill:
    """Rows kept in RAM while the disk refuses writes: bounded, dropping by the disk budget's priorities."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.rows: list[OutboxRow] = []
        self.bytes = 0

    def add(self, row: OutboxRow) -> list[OutboxRow]:
        """Keep `row`; returns the rows dropped to stay within `max_bytes`."""
        self.rows.append(row)
        self.bytes += row.size_bytes
        dropped: list[OutboxRow] = []
        while self.bytes > self.max_bytes and self.rows:
            victim = self.rows.pop(spill_victim((r.kind, r.row_id) for r in self.rows))
            self.bytes -= victim.size_bytes
            dropped.append(victim)
        return dropped

    def remove(self, row_ids: set[int]) -> list[OutboxRow]:
        gone = [r for r in self.rows if r.row_id in row_ids]
        if gone:
            self.rows = [r for r in self.rows if r.row_id not in row_ids]
            self.bytes -= sum(r.size_bytes for r in gone)
        return gone


class Ledger:
    """Loaded from the database at start; afterwards changed by the writer as its transactions commit."""

    def __init__(self, store: Store, spill_max_bytes: int, durable: bool) -> None:
        self.lock = threading.RLock()
        totals = store.totals_by_kind()
        self.counts: dict[str, int] = {kind: totals.get(kind, (0, 0))[0] for kind in KINDS}
        self.sizes: dict[str, int] = {kind: totals.get(kind, (0, 0))[1] for kind in KINDS}
        self.next_row_id = store.max_row_id() + 1
        self.seq = store.last_sequences()
        self.counters = store.counters()
        self.unsaved_counters: set[str] = set()
        self.acked_undeleted: set[int] = set()
        self.spill = Spill(spill_max_bytes)
        self.durable = durable
        self.disk_state = "ok"
        self.last_error: str | None = None

    def next_seq(self, device_id: str, kind: str) -> int:
        """Caller holds `lock`."""
        seq = self.seq.get((device_id, kind), 0) + 1
        self.seq[(device_id, kind)] = seq
        return seq

    def count_drops(self, kind: str, count: int) -> None:
        """Caller holds `lock`; the writer persists the counter with its next commit."""
        if count:
            name = f"dropped_{kind}"
            self.counters[name] = self.counters.get(name, 0) + count
            self.unsaved_counters.add(name)

    def dropped(self) -> dict[str, int]:
        with self.lock:
            return {k: self.counters.get(f"dropped_{k}", 0) for k in KINDS}

    def disk_failed(self, error: BaseException) -> None:
        state = disk_state_of(error)
        with self.lock:
            if state != self.disk_state:
                log.error("outbox: disk write failed (%s): %s; holding messages in memory", state, error)
            self.disk_state = state
            self.last_error = f"{type(error).__name__}: {error}"

    def disk_ok(self) -> None:
        with self.lock:
            if not self.durable:
                return
            if self.disk_state != "ok":
                log.warning("outbox: disk writable again")
            self.disk_state = "ok"
            self.last_error = None

    def depth(self) -> dict[str, int]:
        with self.lock:
            counts = dict(self.counts)
            for row in self.spill.rows:
                counts[row.kind] += 1
            return counts
