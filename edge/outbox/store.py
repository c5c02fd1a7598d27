"""Every SQL statement of the outbox, shared by the service's writer and reader and `checkpoint-edge outbox`.

One table of pending rows, one of the last sequence number per (device, kind), one of persistent counters.
SQLite in WAL mode with `synchronous=FULL`: every commit is an fsync of the WAL.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from edge.outbox.rows import OutboxRow

SCHEMA = """
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

BUSY_TIMEOUT_S = 30.0  # how long a connection waits for another's lock before "database is locked"
_ROW_COLUMNS = "row_id, kind, message_id, device_id, seq, created_unix_s, payload, size_bytes"
_CHUNK = 500  # ids per IN (...) list, below SQLite's variable limit


def _chunks(ids: list[int]) -> Iterator[tuple[list[int], str]]:
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def _row(r: tuple) -> OutboxRow:
    return OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7])


class Store:
    """One connection to the outbox database."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    # ------------------------------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls._connect(str(path), uri=False, wal=True)
        fsync_directory(path.parent)  # a new database file is only durable once its directory entry is
        return store

    @classmethod
    def open_memory(cls, name: str) -> Store:
        """A RAM database shared by name between connections (when the disk is unusable at start-up)."""
        return cls._connect(f"file:{name}?mode=memory&cache=shared", uri=True, wal=False)

    @classmethod
    def open_read_only(cls, path: Path) -> Store:
        if not path.is_file():
            raise FileNotFoundError(f"no outbox database at {path}")
        return cls(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0))

    @classmethod
    def _connect(cls, target: str, uri: bool, wal: bool) -> Store:
        db = sqlite3.connect(
            target, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S, uri=uri
        )
        try:
            if wal:
                db.execute("PRAGMA journal_mode=WAL")
            # FULL makes every WAL commit an fsync: a committed row survives power loss, not just a crash.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return cls(db)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()

    # -------------------------------------------------------------------------------------- transactions
    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")

    def full_sync(self, full: bool) -> None:
        """NORMAL skips the fsync of a commit; only for deletions, whose loss means a duplicate, not a loss."""
        with contextlib.suppress(sqlite3.Error):
            self.db.execute(f"PRAGMA synchronous={'FULL' if full else 'NORMAL'}")

    # ------------------------------------------------------------------------------------------ reading
    def totals_by_kind(self) -> dict[str, tuple[int, int]]:
        """{kind: (rows, bytes)} of the pending rows."""
        query = "SELECT kind, COUNT(*), COALESCE(SUM(size_bytes), 0) FROM outbox GROUP BY kind"
        return {kind: (int(count), int(size)) for kind, count, size in self.db.execute(query)}

    def max_row_id(self) -> int:
        return int(self.db.execute("SELECT COALESCE(MAX(row_id), 0) FROM outbox").fetchone()[0])

    def last_sequences(self) -> dict[tuple[str, str], int]:
        """{(device, kind): last seq}: the `sequence` table, or a pending row's seq where that is higher
        (a row's own seq is its durable record until it leaves, see `remember_seq_of`)."""
        seqs = {
            (d, k): int(s) for d, k, s in self.db.execute("SELECT device_id, kind, last_seq FROM sequence")
        }
        for d, k, s in self.db.execute(
            "SELECT device_id, kind, MAX(seq) FROM outbox GROUP BY device_id, kind"
        ):
            seqs[(d, k)] = max(seqs.get((d, k), 0), int(s))
        return seqs

    def counters(self) -> dict[str, int]:
        return {str(n): int(v) for n, v in self.db.execute("SELECT name, value FROM counters")}

    def pending(self, after_row_id: int, limit: int) -> list[OutboxRow]:
        cursor = self.db.execute(
            f"SELECT {_ROW_COLUMNS} FROM outbox WHERE row_id > ? ORDER BY row_id LIMIT ?",
            (after_row_id, limit),
        )
        return [_row(r) for r in cursor]

    def rows(self, kind: str | None = None) -> Iterator[OutboxRow]:
        """Every pending row (of `kind`), oldest first."""
        where, params = ("WHERE kind = ?", (kind,)) if kind is not None else ("", ())
        for r in self.db.execute(f"SELECT {_ROW_COLUMNS} FROM outbox {where} ORDER BY row_id", params):
            yield _row(r)

    def oldest_created_unix_s(self) -> float | None:
        # The first row by primary key is the oldest, found without scanning a large backlog.
        first = self.db.execute("SELECT created_unix_s FROM outbox ORDER BY row_id LIMIT 1").fetchone()
        return float(first[0]) if first is not None else None

    def oldest_first(self, kind: str) -> Iterator[tuple[int, int]]:
        """(row_id, size_bytes) of one kind's rows, oldest first; read lazily by the budget."""
        cursor = self.db.execute(
            "SELECT row_id, size_bytes FROM outbox WHERE kind = ? ORDER BY row_id", (kind,)
        )
        try:
            for row_id, size in cursor:
                yield int(row_id), int(size)
        finally:
            cursor.close()

    # ------------------------------------------------------------------------------------------ writing
    def insert(self, row: OutboxRow) -> None:
        self.db.execute(
            f"INSERT INTO outbox ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.row_id,
                row.kind,
                row.message_id,
                row.device_id,
                row.seq,
                row.created_unix_s,
                row.payload,
                row.size_bytes,
            ),
        )

    def insert_many(self, rows: list[OutboxRow]) -> None:
        self.db.executemany(
            f"INSERT INTO outbox ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    r.row_id,
                    r.kind,
                    r.message_id,
                    r.device_id,
                    r.seq,
                    r.created_unix_s,
                    r.payload,
                    r.size_bytes,
                )
                for r in rows
            ],
        )

    def delete(self, ids: Iterable[int]) -> dict[str, tuple[int, int]]:
        """Remove rows (keeping their seq); returns {kind: (rows, bytes)} actually removed."""
        removed: dict[str, tuple[int, int]] = {}
        for chunk, marks in _chunks(list(ids)):
            for kind, count, size in self.db.execute(
                f"SELECT kind, COUNT(*), SUM(size_bytes) FROM outbox WHERE row_id IN ({marks}) GROUP BY kind",
                chunk,
            ).fetchall():
                before = removed.get(kind, (0, 0))
                removed[kind] = (before[0] + int(count), before[1] + int(size))
            self.remember_seq_of(chunk)
            self.db.execute(f"DELETE FROM outbox WHERE row_id IN ({marks})", chunk)
        return removed

    def remember_seq_of(self, ids: list[int]) -> None:
        """Before rows leave, keep their highest seq in `sequence`: a row's own seq is its durable record
        until then, which spares every append a second write."""
        for chunk, marks in _chunks(ids):
            self.db.execute(
                "INSERT INTO sequence (device_id, kind, last_seq) "
                f"SELECT device_id, kind, MAX(seq) FROM outbox WHERE row_id IN ({marks}) GROUP BY device_id, kind "
                "ON CONFLICT (device_id, kind) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
                chunk,
            )

    def persist_seq(self, device_id: str, kind: str, seq: int) -> None:
        self.db.execute(
            "INSERT INTO sequence (device_id, kind, last_seq) VALUES (?, ?, ?) "
            "ON CONFLICT (device_id, kind) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
            (device_id, kind, seq),
        )

    def write_counter(self, name: str, value: int) -> None:
        self.db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )


def fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
