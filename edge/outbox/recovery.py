"""When the outbox's database is damaged or unusable: never stop the appliance, never lose what can be kept.

- A damaged file (a good header over damaged pages, a truncated or foreign file) is found at open by
  `PRAGMA quick_check` and the reads the ledger makes. It is moved aside as `<name>.damaged-<UTC time>` (with
  its -wal/-shm), kept for `checkpoint-edge outbox export --salvage FILE`, and a fresh database is opened. The
  per-topic sequence numbers are salvaged from the damaged file where it still yields them and written to the
  fresh one first, so `seq` carries on instead of restarting.
- A disk that cannot be used at start (read-only, locked, missing directory) puts the outbox in RAM; each
  `retry_disk()` tries the disk again and, once it opens, moves what RAM holds onto it (`return_to_disk`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from edge.outbox.rows import OutboxRow
from edge.outbox.store import Store, fsync_directory

log = logging.getLogger("edge.outbox")


def is_damage(error: BaseException) -> bool:
    """sqlite3 says 'malformed' or 'not a database' with DatabaseError; a lock or a read-only disk is an
    OperationalError, which moving the file aside would not cure."""
    return isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError)


def check(store: Store) -> None:
    """Raise sqlite3.DatabaseError unless the file reads back whole."""
    answer = store.db.execute("PRAGMA quick_check(1)").fetchone()
    if answer is None or answer[0] != "ok":
        raise sqlite3.DatabaseError(
            f"database disk image is malformed ({answer[0] if answer else 'no answer'})"
        )
    store.totals_by_kind()
    store.last_sequences()
    store.counters()


def salvage_sequences(path: Path) -> dict[tuple[str, str], int]:
    """What a damaged file still tells about the last seq per (device, kind); each source on its own."""
    seqs: dict[tuple[str, str], int] = {}
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return seqs
    queries = (
        "SELECT device_id, kind, last_seq FROM sequence",
        "SELECT device_id, kind, MAX(seq) FROM outbox GROUP BY device_id, kind",
    )
    grouped = False
    try:
        for query in queries:
            try:
                for device_id, kind, seq in db.execute(query).fetchall():
                    key = (str(device_id), str(kind))
                    seqs[key] = max(seqs.get(key, 0), int(seq))
                grouped = "GROUP BY" in query
            except sqlite3.Error:
                continue
    finally:
        db.close()
    if not grouped:  # the rows' table is damaged: every row that still reads back, one by one
        with contextlib.suppress(sqlite3.Error):
            for row in salvage_rows(path):
                key = (row.device_id, row.kind)
                seqs[key] = max(seqs.get(key, 0), row.seq)
    return seqs


def salvage_rows(path: Path) -> Iterator[OutboxRow]:
    """Every row of a (damaged) outbox file that still reads back, oldest first, skipping what does not."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    try:
        try:
            ids = [int(r[0]) for r in db.execute("SELECT row_id FROM outbox ORDER BY row_id")]
        except sqlite3.Error:  # the index or table pages are damaged: probe row ids one by one
            top = db.execute("SELECT COALESCE(MAX(row_id), 0) FROM outbox").fetchone()[0]
            ids = list(range(1, int(top) + 1))
        columns = "row_id, kind, message_id, device_id, seq, created_unix_s, payload, size_bytes"
        for row_id in ids:
            try:
                r = db.execute(f"SELECT {columns} FROM outbox WHERE row_id = ?", (row_id,)).fetchone()
            except sqlite3.Error:
                continue
            if r is not None:
                yield OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], bytes(r[6]), r[7])
    finally:
        db.close()


def quarantine(path: Path) -> Path:
    """Move the damaged database (and its -wal/-shm) aside; returns the new name of the main file."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, target.with_name(target.name + suffix))
    fsync_directory(path.parent)
    return target


def open_checked(path: Path) -> tuple[Store, Store, Path | None]:
    """(writer, reader, where a damaged file was moved or None) on a database that reads back whole."""
    store: Store | None = None
    moved: Path | None = None
    try:
        store = Store.open(path)
        check(store)
    except sqlite3.DatabaseError as error:
        if store is not None:
            store.close()
        if not is_damage(error):
            raise
        seqs = salvage_sequences(path)
        moved = quarantine(path)
        log.error(
            "outbox: %s is damaged (%s): moved aside to %s, kept for `checkpoint-edge outbox export "
            "--salvage %s`; a fresh outbox carries on %d sequence number(s)",
            path,
            error,
            moved,
            moved,
            len(seqs),
        )
        store = Store.open(path)
        store.begin()
        for (device_id, kind), seq in seqs.items():
            store.persist_seq(device_id, kind, seq)
        store.write_counter("recovered_from_damage_unix_s", int(time.time()))
        store.commit()
    return store, Store.open(path), moved


def move_rows_to_disk(
    disk: Store, memory: Store, next_row_id: int, seqs: dict[tuple[str, str], int], counters: dict[str, int]
) -> tuple[list[OutboxRow], dict[tuple[str, str], int], dict[str, int]]:
    """In one transaction: RAM rows onto the disk with their row ids (the uplink may hold them), rows the
    disk already had renumbered after them, sequence numbers (highest wins) and counters (added) merged.

    Returns the renumbered rows and the merged sequence numbers and counters."""
    on_disk = list(disk.rows())
    renumbered = [replace(row, row_id=next_row_id + i) for i, row in enumerate(on_disk)]
    merged_seqs = dict(disk.last_sequences())
    for key, seq in seqs.items():
        merged_seqs[key] = max(merged_seqs.get(key, 0), seq)
    merged_counters = dict(disk.counters())
    for name, value in counters.items():
        merged_counters[name] = merged_counters.get(name, 0) + value
    disk.begin()
    try:
        disk.db.execute("DELETE FROM outbox")
        disk.insert_many(list(memory.rows()) + renumbered)
        for (device_id, kind), seq in merged_seqs.items():
            disk.persist_seq(device_id, kind, seq)
        for name, value in merged_counters.items():
            disk.write_counter(name, value)
        disk.commit()
    except sqlite3.Error:
        disk.rollback()
        raise
    return renumbered, merged_seqs, merged_counters
