"""The durable outbox in front of the MQTT client: a message exists once its row is committed here.

paho-mqtt keeps unacknowledged messages in memory only, so the outbox is the source of truth: a row is
committed (SQLite WAL, `synchronous=FULL`, so the commit is fsync'd) before `append` returns, and it is
removed only after the broker's PUBACK for it. Rows are read back in `row_id` order, which is the order
they were appended, so delivery order is preserved per device.

Every row carries a unique `message_id` (uuid4) and a `seq` that counts the messages of one device on one
topic (device + kind), so the centre de-duplicates by id and detects gaps per topic: a gap in the alert
stream means a lost alert, never a dropped statistic.

The disk budget (`max_bytes`) counts each row's payload plus a fixed per-row overhead. When an append would
exceed it, rows are dropped by priority (heartbeat, then stats, then status, then alerts), oldest first;
a row never evicts a row of a more important kind (a new statistic is dropped instead of an old alert).
Every drop is counted per kind, persisted, and reported by `health()`.

A full, read-only or failing disk is never fatal: the row is kept in a bounded in-memory spill (not
durable, reported as such by `health()`), the uplink can still publish it, and the spill is written to
disk as soon as a write succeeds again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KINDS = ("alert", "stats", "status", "heartbeat")
# Lower number = dropped first when the disk budget is reached.
DROP_PRIORITY = {"heartbeat": 0, "stats": 1, "status": 2, "alert": 3}
# SQLite's per-row cost beyond the payload (row id, uuid, indexes, page slack), so the budget tracks the file.
ROW_OVERHEAD_BYTES = 160
DEFAULT_MAX_BYTES = 256 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    row_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_unix_s REAL NOT NULL,
    size_bytes INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind_row ON outbox (kind, row_id);
CREATE TABLE IF NOT EXISTS sequence (
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (device_id, kind)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


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


def _disk_state_of(error: BaseException) -> str:
    text = str(error).lower()
    if "full" in text:
        return "full"
    if "readonly" in text or "read-only" in text or "read only" in text:
        return "read_only"
    return "error"


class Outbox:
    """Durable, ordered, size-bounded queue of messages waiting for the broker's acknowledgement.

    Thread-safe: lanes append from their threads; the uplink's single worker reads and deletes.
    """

    def __init__(
        self,
        path: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        spill_max_bytes: int = 16 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1024:
            raise ValueError(f"outbox max_bytes must be at least 1024, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.spill_max_bytes = min(spill_max_bytes, max_bytes)
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._spill: list[OutboxRow] = []
        self._spill_bytes = 0
        self._acked_undeleted: set[int] = set()
        self.disk_state = "ok"
        self.last_error: str | None = None
        self.durable = True
        try:
            self._db = self._open(str(self.path))
        except (sqlite3.Error, OSError) as error:
            # A read-only or broken disk at boot must not stop screening: run on a RAM database,
            # reported in health() as not durable, until a restart finds the disk usable again.
            self._disk_failed(error)
            log.error("outbox: cannot use %s (%s); messages are kept in memory only", self.path, error)
            self.durable = False
            self._db = self._open(":memory:")
        self._sizes: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        for kind, count, size in self._db.execute(
            "SELECT kind, COUNT(*), COALESCE(SUM(size_bytes), 0) FROM outbox GROUP BY kind"
        ):
            self._counts[kind] = int(count)
            self._sizes[kind] = int(size)
        max_row = self._db.execute("SELECT COALESCE(MAX(row_id), 0) FROM outbox").fetchone()[0]
        self._next_row_id = int(max_row) + 1
        self._seq: dict[tuple[str, str], int] = {
            (d, k): int(s) for d, k, s in self._db.execute("SELECT device_id, kind, last_seq FROM sequence")
        }
        self._counters: dict[str, int] = {
            n: int(v) for n, v in self._db.execute("SELECT name, value FROM counters")
        }

    def _open(self, target: str) -> sqlite3.Connection:
        if target != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL makes every WAL commit an fsync: a returned append survives power loss, not just a crash.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        if target != ":memory:":
            self._fsync_dir()
        return db

    # ----------------------------------------------------------------------------------------- writing
    def append(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Stamp `message_id` and `seq` into a copy of `payload`, commit it durably, return the copy.

        Never raises for disk trouble: the row then waits in memory (see `health()`), never lost silently.
        """
        if kind not in DROP_PRIORITY:
            raise ValueError(f"unknown outbox kind {kind!r}; expected one of {', '.join(KINDS)}")
        with self._lock:
            stamped = self._stamp(kind, payload)
            body = encode_payload(stamped)
            row = OutboxRow(
                row_id=self._next_row_id,
                kind=kind,
                message_id=stamped["message_id"],
                device_id=str(stamped.get("device_id", "")),
                seq=stamped["seq"],
                created_unix_s=self._clock(),
                payload=body,
                size_bytes=len(body) + ROW_OVERHEAD_BYTES,
            )
            self._next_row_id += 1
            if row.size_bytes > self.max_bytes:
                self._count_drop(kind, 1)
                log.error(
                    "outbox: a %s message of %d bytes exceeds the whole budget; dropped", kind, len(body)
                )
                return stamped
            if self._spill and not self._flush_spill_locked():
                self._spill_append(row)
            else:
                try:
                    self._insert_locked(row)
                except sqlite3.Error as error:
                    self._disk_failed(error)
                    self._spill_append(row)
        self._notify()
        return stamped

    def stamp(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Give a message that is published directly (status, heartbeat) its id and seq without storing it."""
        if kind not in DROP_PRIORITY:
            raise ValueError(f"unknown outbox kind {kind!r}")
        with self._lock:
            stamped = self._stamp(kind, payload)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._persist_seq(str(stamped.get("device_id", "")), kind, stamped["seq"])
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                self._disk_failed(error)
            return stamped

    def _stamp(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        device_id = str(payload.get("device_id", ""))
        seq = self._seq.get((device_id, kind), 0) + 1
        self._seq[(device_id, kind)] = seq
        stamped = dict(payload)
        stamped["message_id"] = str(uuid.uuid4())
        stamped["seq"] = seq
        return stamped

    def _persist_seq(self, device_id: str, kind: str, seq: int) -> None:
        self._db.execute(
            "INSERT INTO sequence (device_id, kind, last_seq) VALUES (?, ?, ?) "
            "ON CONFLICT (device_id, kind) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
            (device_id, kind, seq),
        )

    def _insert_locked(self, row: OutboxRow) -> None:
        """One transaction: make room within the budget, insert the row, advance its sequence."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            drops = self._make_room_locked(row)
            if drops is None:
                self._db.execute("ROLLBACK")
                self._count_drop(row.kind, 1)
                return
            self._db.execute(
                "INSERT INTO outbox (row_id, kind, message_id, device_id, seq, created_unix_s, size_bytes,"
                " payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.row_id,
                    row.kind,
                    row.message_id,
                    row.device_id,
                    row.seq,
                    row.created_unix_s,
                    row.size_bytes,
                    row.payload,
                ),
            )
            self._persist_seq(row.device_id, row.kind, row.seq)
            for kind, (count, _size) in drops.items():
                self._write_counter(f"dropped_{kind}", self._counters.get(f"dropped_{kind}", 0) + count)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        # Only after the commit: in-memory accounting mirrors what is on disk.
        for kind, (count, size) in drops.items():
            self._counts[kind] -= count
            self._sizes[kind] -= size
            self._counters[f"dropped_{kind}"] = self._counters.get(f"dropped_{kind}", 0) + count
            log.warning("outbox: disk budget reached, dropped %d oldest %s message(s)", count, kind)
        self._counts[row.kind] += 1
        self._sizes[row.kind] += row.size_bytes
        if self.durable:
            if self.disk_state != "ok":
                log.warning("outbox: disk writable again")
            self.disk_state = "ok"
            self.last_error = None

    def _make_room_locked(self, row: OutboxRow) -> dict[str, tuple[int, int]] | None:
        """Delete lower-or-equal priority rows, oldest first, until `row` fits; None if it cannot fit."""
        needed = sum(self._sizes.values()) + row.size_bytes - self.max_bytes
        drops: dict[str, tuple[int, int]] = {}
        if needed <= 0:
            return drops
        victim_kinds = sorted(
            (k for k in KINDS if DROP_PRIORITY[k] <= DROP_PRIORITY[row.kind]), key=DROP_PRIORITY.__getitem__
        )
        doomed: dict[str, list[tuple[int, int]]] = {}
        freed = 0
        for kind in victim_kinds:
            if freed >= needed:
                break
            cursor = self._db.execute(
                "SELECT row_id, size_bytes FROM outbox WHERE kind = ? ORDER BY row_id", (kind,)
            )
            for row_id, size in cursor:
                if freed >= needed:
                    break
                doomed.setdefault(kind, []).append((int(row_id), int(size)))
                freed += int(size)
            cursor.close()
        if freed < needed:
            # Even dropping every allowed victim would not make room: keep them, drop the newcomer.
            return None
        for kind, victims in doomed.items():
            ids = [r for r, _ in victims]
            self._db.executemany("DELETE FROM outbox WHERE row_id = ?", [(r,) for r in ids])
            self._acked_undeleted.difference_update(ids)
            drops[kind] = (len(ids), sum(size for _, size in victims))
        return drops

    def _write_counter(self, name: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def _count_drop(self, kind: str, count: int) -> None:
        name = f"dropped_{kind}"
        self._counters[name] = self._counters.get(name, 0) + count
        try:
            self._write_counter(name, self._counters[name])
        except sqlite3.Error as error:
            self._disk_failed(error)

    # ------------------------------------------------------------------------------------ disk trouble
    def _disk_failed(self, error: BaseException) -> None:
        state = _disk_state_of(error)
        if state != self.disk_state:
            log.error("outbox: disk write failed (%s): %s; holding messages in memory", state, error)
        self.disk_state = state
        self.last_error = f"{type(error).__name__}: {error}"

    def _spill_append(self, row: OutboxRow) -> None:
        self._spill.append(row)
        self._spill_bytes += row.size_bytes
        self._counters["spilled"] = self._counters.get("spilled", 0) + 1
        while self._spill_bytes > self.spill_max_bytes and self._spill:
            victim_index = min(
                range(len(self._spill)),
                key=lambda i: (DROP_PRIORITY[self._spill[i].kind], self._spill[i].row_id),
            )
            victim = self._spill.pop(victim_index)
            self._spill_bytes -= victim.size_bytes
            name = f"dropped_{victim.kind}"
            self._counters[name] = self._counters.get(name, 0) + 1
            log.error(
                "outbox: memory spill full while the disk is unusable; dropped a %s message", victim.kind
            )

    def _flush_spill_locked(self) -> bool:
        """Write spilled rows to disk, oldest first; True when the spill is empty afterwards."""
        while self._spill:
            row = self._spill[0]
            if row.row_id in self._acked_undeleted:
                self._acked_undeleted.discard(row.row_id)
                self._spill.pop(0)
                self._spill_bytes -= row.size_bytes
                continue
            try:
                self._insert_locked(row)
            except sqlite3.Error as error:
                self._disk_failed(error)
                return False
            self._spill.pop(0)
            self._spill_bytes -= row.size_bytes
        return True

    def retry_disk(self) -> bool:
        """Try again to persist spilled rows and pending deletions (the uplink calls this periodically)."""
        with self._lock:
            ok = self._flush_spill_locked()
            if ok and self._acked_undeleted:
                ok = self._delete_locked(list(self._acked_undeleted))
            return ok

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _fsync_dir(self) -> None:
        # A new database file is only durable once its directory entry is.
        try:
            fd = os.open(str(self.path.parent), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    # ----------------------------------------------------------------------------------------- reading
    def pending(self, after_row_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Rows not yet acknowledged with `row_id > after_row_id`, oldest first (disk rows, then spill)."""
        with self._lock:
            rows: list[OutboxRow] = []
            try:
                cursor = self._db.execute(
                    "SELECT row_id, kind, message_id, device_id, seq, created_unix_s, payload, size_bytes "
                    "FROM outbox WHERE row_id > ? ORDER BY row_id LIMIT ?",
                    (after_row_id, limit + len(self._acked_undeleted)),
                )
                for r in cursor:
                    if r[0] in self._acked_undeleted:
                        continue
                    rows.append(OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7]))
                    if len(rows) >= limit:
                        break
            except sqlite3.Error as error:
                self._disk_failed(error)
            if len(rows) < limit:
                rows.extend(
                    r
                    for r in self._spill
                    if r.row_id > after_row_id and r.row_id not in self._acked_undeleted
                )
                rows.sort(key=lambda r: r.row_id)
                del rows[limit:]
            return rows

    def delete(self, row_ids: Iterable[int]) -> bool:
        """Forget acknowledged rows (one transaction). False if the disk refused; retried later."""
        ids = list(row_ids)
        if not ids:
            return True
        with self._lock:
            in_spill = {r.row_id for r in self._spill}
            spilled = [i for i in ids if i in in_spill]
            if spilled:
                gone = set(spilled)
                self._spill_bytes -= sum(r.size_bytes for r in self._spill if r.row_id in gone)
                self._spill = [r for r in self._spill if r.row_id not in gone]
            return self._delete_locked([i for i in ids if i not in in_spill])

    def _delete_locked(self, ids: list[int]) -> bool:
        if not ids:
            return True
        try:
            self._db.execute("BEGIN IMMEDIATE")
            removed: dict[str, list[int]] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for kind, count, size in self._db.execute(
                    "SELECT kind, COUNT(*), SUM(size_bytes) FROM outbox"
                    f" WHERE row_id IN ({marks}) GROUP BY kind",
                    chunk,
                ).fetchall():
                    prev = removed.setdefault(kind, [0, 0])
                    prev[0] += int(count)
                    prev[1] += int(size)
                self._db.execute(f"DELETE FROM outbox WHERE row_id IN ({marks})", chunk)
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            self._disk_failed(error)
            # Remember the acknowledgement so the row is not sent again while the disk refuses the delete.
            self._acked_undeleted.update(ids)
            return False
        self._acked_undeleted.difference_update(ids)
        for kind, (count, size) in removed.items():
            self._counts[kind] -= count
            self._sizes[kind] -= size
        return True

    def drop(self, row_ids: Iterable[int], kind: str, reason: str) -> None:
        """Remove rows that will never be delivered (e.g. expired statistics), counted as dropped."""
        ids = list(row_ids)
        if ids and self.delete(ids):
            with self._lock:
                self._count_drop(kind, len(ids))
            log.info("outbox: dropped %d %s message(s): %s", len(ids), kind, reason)

    # ----------------------------------------------------------------------------------------- reporting
    def last_seq(self, device_id: str, kind: str) -> int:
        """The last sequence number handed out for this device's `kind` topic (0 if none yet)."""
        with self._lock:
            return self._seq.get((device_id, kind), 0)

    def depth(self) -> dict[str, int]:
        """Pending rows by kind (disk and memory spill), acknowledged rows excluded."""
        with self._lock:
            counts = dict(self._counts)
            for row in self._spill:
                counts[row.kind] += 1
            return counts

    def health(self) -> dict[str, Any]:
        """What the status message reports about the outbox."""
        with self._lock:
            oldest: float | None = None
            try:
                first = self._db.execute("SELECT MIN(created_unix_s) FROM outbox").fetchone()[0]
                oldest = float(first) if first is not None else None
            except sqlite3.Error as error:
                self._disk_failed(error)
            if self._spill:
                spill_oldest = self._spill[0].created_unix_s
                oldest = spill_oldest if oldest is None else min(oldest, spill_oldest)
            return {
                "depth": self.depth(),
                "bytes": sum(self._sizes.values()) + self._spill_bytes,
                "max_bytes": self.max_bytes,
                "oldest_age_s": round(max(0.0, self._clock() - oldest), 3) if oldest is not None else None,
                "dropped": {k: self._counters.get(f"dropped_{k}", 0) for k in KINDS},
                "disk_state": self.disk_state,
                "in_memory_only": len(self._spill) if self.durable else sum(self.depth().values()),
                "last_error": self.last_error,
            }

    def add_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after each append (in the appending thread); it must only signal, never block."""
        with self._lock:
            self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("outbox: listener failed")

    def close(self) -> None:
        with self._lock:
            self._listeners.clear()
            with contextlib.suppress(sqlite3.Error):
                self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
