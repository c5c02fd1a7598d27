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

Group commit: lanes appending at the same moment share one transaction (one fsync); each `append` still
returns only once its own row is committed. Writes go through one connection (serialised by `_write_lock`),
the uplink's reads through a second one, so reading the backlog never waits for an fsync.
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

from edge.contract.kinds import KINDS

log = logging.getLogger(__name__)

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
    Lock order: `_write_lock` (the writer connection, held across a commit) before `_lock` (memory state,
    held briefly); `_read_lock` (the reader connection) is never held with `_write_lock`.
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
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._queue: list[OutboxRow] = []  # stamped, waiting for the next group commit
        self._committed_upto = 0  # every row id ≤ this is on disk, in the spill, or dropped
        self._spill: list[OutboxRow] = []
        self._spill_bytes = 0
        self._acked_undeleted: set[int] = set()
        self.disk_state = "ok"
        self.last_error: str | None = None
        self.durable = True
        try:
            self._db = self._open(str(self.path))
            self._read_db = self._open(str(self.path))
        except (sqlite3.Error, OSError) as error:
            # A read-only or broken disk at boot must not stop screening: run on a RAM database,
            # reported in health() as not durable, until a restart finds the disk usable again.
            self._disk_failed(error)
            log.error("outbox: cannot use %s (%s); messages are kept in memory only", self.path, error)
            self.durable = False
            ram = f"file:outbox-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self._db = self._open(ram)
            self._read_db = self._open(ram)
        self._sizes: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        for kind, count, size in self._db.execute(
            "SELECT kind, COUNT(*), COALESCE(SUM(size_bytes), 0) FROM outbox GROUP BY kind"
        ):
            self._counts[kind] = int(count)
            self._sizes[kind] = int(size)
        max_row = self._db.execute("SELECT COALESCE(MAX(row_id), 0) FROM outbox").fetchone()[0]
        self._next_row_id = int(max_row) + 1
        self._committed_upto = int(max_row)
        self._seq: dict[tuple[str, str], int] = {
            (d, k): int(s) for d, k, s in self._db.execute("SELECT device_id, kind, last_seq FROM sequence")
        }
        for d, k, s in self._db.execute(
            "SELECT device_id, kind, MAX(seq) FROM outbox GROUP BY device_id, kind"
        ):
            self._seq[(d, k)] = max(self._seq.get((d, k), 0), int(s))
        self._counters: dict[str, int] = {
            n: int(v) for n, v in self._db.execute("SELECT name, value FROM counters")
        }

    def _open(self, target: str) -> sqlite3.Connection:
        in_memory = target.startswith("file:outbox-")
        if not in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None, timeout=30.0, uri=in_memory
        )
        try:
            if not in_memory:
                db.execute("PRAGMA journal_mode=WAL")
            # FULL makes every WAL commit an fsync: a returned append survives power loss, not just a crash.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        if not in_memory:
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
            self._queue.append(row)
        self._commit_through(row.row_id)
        self._notify()
        return stamped

    def _commit_through(self, row_id: int) -> None:
        """Group commit: whoever gets the writer commits every queued row, so followers find theirs done."""
        with self._write_lock:
            if self._committed_upto >= row_id:
                return
            with self._lock:
                batch, self._queue = self._queue, []
            if batch:
                self._commit_batch_locked(batch)
                self._committed_upto = batch[-1].row_id

    def stamp(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Give a message that is published directly (status, heartbeat) its id and seq without storing it."""
        if kind not in DROP_PRIORITY:
            raise ValueError(f"unknown outbox kind {kind!r}")
        with self._lock:
            stamped = self._stamp(kind, payload)
        with self._write_lock:
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

    def _commit_batch_locked(self, batch: list[OutboxRow]) -> None:
        """Write spilled rows (oldest) and then `batch` in one transaction; on disk trouble, spill them."""
        oversized = [r for r in batch if r.size_bytes > self.max_bytes]
        for row in oversized:
            log.error(
                "outbox: a %s message of %d bytes exceeds the whole budget; dropped", row.kind, row.size_bytes
            )
            self._add_drops({row.kind: 1})
        batch = [r for r in batch if r.size_bytes <= self.max_bytes]
        with self._lock:
            spilled = [r for r in self._spill if r.row_id not in self._acked_undeleted]
        rows = spilled + batch
        if not rows:
            return
        try:
            outcome = self._insert_rows_locked(rows)
        except sqlite3.Error as error:
            self._disk_failed(error)
            with self._lock:
                for row in batch:
                    self._spill_append(row)
            return
        inserted, dropped_sizes, dropped_counts = outcome
        with self._lock:
            self._acked_undeleted.difference_update(r.row_id for r in self._spill)
            self._spill = []
            self._spill_bytes = 0
            for row in inserted:
                self._counts[row.kind] += 1
                self._sizes[row.kind] += row.size_bytes
            for kind, count in dropped_counts.items():
                self._counts[kind] -= count
                self._sizes[kind] -= dropped_sizes[kind]
                self._counters[f"dropped_{kind}"] = self._counters.get(f"dropped_{kind}", 0) + count
                log.warning("outbox: disk budget reached, dropped %d oldest %s message(s)", count, kind)
            if self.durable:
                if self.disk_state != "ok":
                    log.warning("outbox: disk writable again")
                self.disk_state = "ok"
                self.last_error = None

    def _insert_rows_locked(
        self, rows: list[OutboxRow]
    ) -> tuple[list[OutboxRow], dict[str, int], dict[str, int]]:
        """One transaction: for each row make room within the budget (or drop it), insert, advance its seq."""
        with self._lock:
            sizes = dict(self._sizes)
        dropped_sizes: dict[str, int] = dict.fromkeys(KINDS, 0)
        dropped_counts: dict[str, int] = {}
        inserted: list[OutboxRow] = []
        newcomers_dropped: dict[str, int] = {}
        victim_ids: list[int] = []
        with self._lock:
            acked = list(self._acked_undeleted)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            # Acknowledged rows ride along in this transaction (see `delete(wait=False)`) and free their room.
            removed = self._delete_in_transaction(acked) if acked else {}
            for kind, (_count, size) in removed.items():
                sizes[kind] -= size
            for row in rows:
                victims = self._choose_victims_locked(row, sizes)
                if victims is None:
                    newcomers_dropped[row.kind] = newcomers_dropped.get(row.kind, 0) + 1
                    continue
                for kind, ids, freed in victims:
                    # A victim may have been inserted earlier in this very batch: it then counts as
                    # inserted and dropped, which nets out in the accounting.
                    self._remember_seq_of(ids)
                    self._db.executemany("DELETE FROM outbox WHERE row_id = ?", [(i,) for i in ids])
                    sizes[kind] -= freed
                    dropped_sizes[kind] += freed
                    dropped_counts[kind] = dropped_counts.get(kind, 0) + len(ids)
                    victim_ids.extend(ids)
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
                sizes[row.kind] += row.size_bytes
                inserted.append(row)
            all_drops = dict(dropped_counts)
            for kind, count in newcomers_dropped.items():
                all_drops[kind] = all_drops.get(kind, 0) + count
            for kind, count in all_drops.items():
                name = f"dropped_{kind}"
                self._write_counter(name, self._counters.get(name, 0) + count)
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        with self._lock:
            self._acked_undeleted.difference_update(acked)
            for kind, (count, size) in removed.items():
                self._counts[kind] -= count
                self._sizes[kind] -= size
            for kind, count in newcomers_dropped.items():
                self._counters[f"dropped_{kind}"] = self._counters.get(f"dropped_{kind}", 0) + count
                log.warning("outbox: disk budget reached, a new %s message was dropped", kind)
            self._acked_undeleted.difference_update(victim_ids)
        return inserted, dropped_sizes, dropped_counts

    def _choose_victims_locked(
        self, row: OutboxRow, sizes: dict[str, int]
    ) -> list[tuple[str, list[int], int]] | None:
        """Rows of lower-or-equal priority, oldest first, whose removal makes `row` fit; None if none can."""
        needed = sum(sizes.values()) + row.size_bytes - self.max_bytes
        if needed <= 0:
            return []
        victim_kinds = sorted(
            (k for k in KINDS if DROP_PRIORITY[k] <= DROP_PRIORITY[row.kind]), key=DROP_PRIORITY.__getitem__
        )
        chosen: list[tuple[str, list[int], int]] = []
        freed = 0
        for kind in victim_kinds:
            if freed >= needed:
                break
            ids: list[int] = []
            kind_freed = 0
            cursor = self._db.execute(
                "SELECT row_id, size_bytes FROM outbox WHERE kind = ? ORDER BY row_id", (kind,)
            )
            for row_id, size in cursor:
                if freed + kind_freed >= needed:
                    break
                ids.append(int(row_id))
                kind_freed += int(size)
            cursor.close()
            if ids:
                chosen.append((kind, ids, kind_freed))
                freed += kind_freed
        if freed < needed:
            # Even dropping every allowed victim would not make room: keep them, drop the newcomer.
            return None
        return chosen

    def _write_counter(self, name: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def _add_drops(self, counts: dict[str, int]) -> None:
        """Count drops decided outside an insert transaction (caller holds `_write_lock`)."""
        with self._lock:
            for kind, count in counts.items():
                name = f"dropped_{kind}"
                self._counters[name] = self._counters.get(name, 0) + count
            values = [(f"dropped_{k}", self._counters[f"dropped_{k}"]) for k in counts]
        try:
            for name, value in values:
                self._write_counter(name, value)
        except sqlite3.Error as error:
            self._disk_failed(error)

    # ------------------------------------------------------------------------------------ disk trouble
    def _disk_failed(self, error: BaseException) -> None:
        state = _disk_state_of(error)
        with self._lock:
            if state != self.disk_state:
                log.error("outbox: disk write failed (%s): %s; holding messages in memory", state, error)
            self.disk_state = state
            self.last_error = f"{type(error).__name__}: {error}"

    def _spill_append(self, row: OutboxRow) -> None:
        """Keep a row in RAM (caller holds `_lock`); bounded, dropping by the same priorities as the disk."""
        self._spill.append(row)
        self._spill_bytes += row.size_bytes
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

    def retry_disk(self) -> bool:
        """Try again to persist spilled rows and pending deletions (the uplink calls this periodically)."""
        with self._write_lock:
            with self._lock:
                has_spill = bool(self._spill)
                undeleted = list(self._acked_undeleted)
            if has_spill:
                self._commit_batch_locked([])
            if undeleted:
                self._delete_locked(undeleted)
            with self._lock:
                settled = not self._spill and not self._acked_undeleted
            if settled and self.durable and self.disk_state != "ok":
                # Nothing left to write, so prove the disk takes writes again before reporting it healthy.
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._write_counter("disk_probe_unix_s", int(self._clock()))
                    self._db.execute("COMMIT")
                except sqlite3.Error as error:
                    self._rollback()
                    self._disk_failed(error)
                    return False
                with self._lock:
                    log.warning("outbox: disk writable again")
                    self.disk_state = "ok"
                    self.last_error = None
            return settled

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
        """Rows not yet acknowledged with `row_id > after_row_id`, oldest first (disk rows and spill)."""
        # The spill is read before the disk: a row moving from one to the other in between is then seen
        # twice (de-duplicated below), never zero times.
        with self._lock:
            spilled = [r for r in self._spill if r.row_id > after_row_id]
            skip = set(self._acked_undeleted)
        rows: dict[int, OutboxRow] = {}
        with self._read_lock:
            try:
                cursor = self._read_db.execute(
                    "SELECT row_id, kind, message_id, device_id, seq, created_unix_s, payload, size_bytes "
                    "FROM outbox WHERE row_id > ? ORDER BY row_id LIMIT ?",
                    (after_row_id, limit + len(skip)),
                )
                for r in cursor:
                    rows[r[0]] = OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7])
            except sqlite3.Error as error:
                self._disk_failed(error)
        for row in spilled:
            rows.setdefault(row.row_id, row)
        ordered = [rows[i] for i in sorted(rows) if i not in skip]
        return ordered[:limit]

    def delete(self, row_ids: Iterable[int], wait: bool = True) -> bool:
        """Forget acknowledged rows. False if the disk refused the deletion (it is retried later).

        The rows leave `pending()` at once. With `wait=False` (the uplink's hot path) the deletion is left to
        the append that holds the writer right now, which deletes them in its own transaction: acknowledging
        never queues behind lanes' fsyncs.
        """
        ids = list(row_ids)
        with self._lock:
            self._acked_undeleted.update(ids)
        if not self._write_lock.acquire(blocking=wait):
            return True
        try:
            with self._lock:
                undeleted = list(self._acked_undeleted)
            return self._delete_locked(undeleted)
        finally:
            self._write_lock.release()

    def has_undeleted(self) -> bool:
        """Acknowledged rows still on disk (their deletion was deferred or refused)."""
        with self._lock:
            return bool(self._acked_undeleted)

    def _delete_in_transaction(self, ids: list[int]) -> dict[str, list[int]]:
        """DELETE inside the caller's transaction; returns {kind: [count, bytes]} actually removed."""
        removed: dict[str, list[int]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for kind, count, size in self._db.execute(
                f"SELECT kind, COUNT(*), SUM(size_bytes) FROM outbox WHERE row_id IN ({marks}) GROUP BY kind",
                chunk,
            ).fetchall():
                prev = removed.setdefault(kind, [0, 0])
                prev[0] += int(count)
                prev[1] += int(size)
            self._remember_seq_of(chunk)
            self._db.execute(f"DELETE FROM outbox WHERE row_id IN ({marks})", chunk)
        return removed

    def _remember_seq_of(self, ids: list[int]) -> None:
        """Before rows leave, keep their highest seq in `sequence`: a row's own seq is its durable record
        until then, which spares every append a second write (seq = max(sequence, rows) at start-up)."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            self._db.execute(
                "INSERT INTO sequence (device_id, kind, last_seq) "
                f"SELECT device_id, kind, MAX(seq) FROM outbox WHERE row_id IN ({marks}) GROUP BY device_id, kind "
                "ON CONFLICT (device_id, kind) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
                chunk,
            )

    def _delete_locked(self, ids: list[int]) -> bool:
        with self._lock:
            gone = set(ids)
            in_spill = [r for r in self._spill if r.row_id in gone]
            if in_spill:
                self._spill_bytes -= sum(r.size_bytes for r in in_spill)
                self._spill = [r for r in self._spill if r.row_id not in gone]
        spilled_ids = {r.row_id for r in in_spill}
        ids = [i for i in ids if i not in spilled_ids]
        if not ids:
            return True
        removed: dict[str, list[int]] = {}
        try:
            # A lost deletion only means a re-sent duplicate (same message_id), so deletions skip the fsync;
            # the next append's fsync of the WAL makes them durable anyway.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("BEGIN IMMEDIATE")
            removed = self._delete_in_transaction(ids)
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            self._restore_full_sync()
            self._disk_failed(error)
            # Remember the acknowledgement so the row is not sent again while the disk refuses the delete.
            with self._lock:
                self._acked_undeleted.update(ids)
            return False
        self._restore_full_sync()
        with self._lock:
            self._acked_undeleted.difference_update(ids)
            for kind, (count, size) in removed.items():
                self._counts[kind] -= count
                self._sizes[kind] -= size
        return True

    def _restore_full_sync(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA synchronous=FULL")

    def drop(self, row_ids: Iterable[int], kind: str, reason: str) -> None:
        """Remove rows that will never be delivered (e.g. expired statistics), counted as dropped."""
        ids = list(row_ids)
        if not ids:
            return
        with self._write_lock:
            if self._delete_locked(ids):
                self._add_drops({kind: len(ids)})
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
        oldest: float | None = None
        with self._read_lock:
            try:
                # The first row by primary key is the oldest, found without scanning a large backlog.
                first = self._read_db.execute(
                    "SELECT created_unix_s FROM outbox ORDER BY row_id LIMIT 1"
                ).fetchone()
                oldest = float(first[0]) if first is not None else None
            except sqlite3.Error as error:
                self._disk_failed(error)
        with self._lock:
            if self._spill:
                spill_oldest = self._spill[0].created_unix_s
                oldest = spill_oldest if oldest is None else min(oldest, spill_oldest)
            depth = self.depth()
            return {
                "depth": depth,
                "bytes": sum(self._sizes.values()) + self._spill_bytes,
                "max_bytes": self.max_bytes,
                "oldest_age_s": round(max(0.0, self._clock() - oldest), 3) if oldest is not None else None,
                "dropped": {k: self._counters.get(f"dropped_{k}", 0) for k in KINDS},
                "disk_state": self.disk_state,
                "in_memory_only": len(self._spill) if self.durable else sum(depth.values()),
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
        with self._write_lock, self._read_lock, self._lock:
            self._listeners.clear()
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            with contextlib.suppress(sqlite3.Error):
                self._read_db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
