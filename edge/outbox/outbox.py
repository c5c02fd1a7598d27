"""The durable outbox in front of the MQTT client: a message exists once its row is committed here.

paho-mqtt keeps unacknowledged messages in memory only, so the outbox is the source of truth: a row is
committed (SQLite WAL, `synchronous=FULL`, so the commit is fsync'd) before the uplink can see it, and it is
removed only after the broker's PUBACK for it. Rows are read back in `row_id` order, which is the order they
were handed over, so delivery order is preserved per device.

Every row carries a unique `message_id` (uuid4) and a `seq` that counts the messages of one device on one
topic (device + kind), so the centre de-duplicates by id and detects gaps per topic: a gap in the alert
stream means a lost alert, never a dropped statistic. `seq` is stamped at commit (see writer.py).

Lanes never wait for the disk: `submit` hands a message to the single writer thread and returns at once;
`append` does the same and waits until its row is committed (statistics, tests, tools). On SIGTERM `close()`
commits everything handed over; on power loss only what was handed over and not yet committed (the
milliseconds of one group commit) can be lost, and it had no `seq` yet.

The disk budget (`max_bytes`, see budget.py) counts each row's payload plus a fixed per-row overhead. A full,
read-only or failing disk is never fatal: the row is kept in a bounded in-memory spill (not durable, reported
as such by `health()`), the uplink can still publish it, and the spill is written to disk as soon as a write
succeeds again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edge.contract.kinds import KINDS
from edge.outbox.ledger import Ledger
from edge.outbox.recovery import move_rows_to_disk, open_checked
from edge.outbox.rows import DEFAULT_MAX_BYTES, DROP_PRIORITY, OutboxRow
from edge.outbox.store import Store
from edge.outbox.writer import (
    DEFERRED_DELETES_MAX,
    DEFERRED_DELETES_S,
    AppendJob,
    CallJob,
    DropJob,
    Job,
    RetryJob,
    SeqJob,
    Writer,
)

log = logging.getLogger("edge.outbox")


class Outbox:
    """Durable, ordered, size-bounded queue of messages waiting for the broker's acknowledgement.

    Thread-safe: lanes hand messages over from their threads; one writer thread commits; the uplink's worker
    reads (through its own connection, never waiting for an fsync) and acknowledges.
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
        self._clock = clock
        self._read_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._deletions_kicked_mono = 0.0
        boot_error: BaseException | None = None
        self.damaged_files: list[Path] = []  # damaged databases moved aside (recovery.py), for status
        try:
            # A damaged file is moved aside and replaced here, carrying the sequence numbers on (recovery.py).
            write_store, self._reader, moved = open_checked(self.path)
            self.damaged_files = [moved] if moved else []
        except Exception as error:  # sqlite3.Error or OSError
            # A read-only, locked or broken disk at boot must not stop screening: run on a RAM database,
            # reported in health() as not durable; retry_disk() moves back to the disk once it opens.
            boot_error = error
            log.error("outbox: cannot use %s (%s); messages are kept in memory only", self.path, error)
            name = f"outbox-{uuid.uuid4().hex}"
            write_store, self._reader = Store.open_memory(name), Store.open_memory(name)
        self._ledger = Ledger(write_store, min(spill_max_bytes, max_bytes), durable=boot_error is None)
        if boot_error is not None:
            self._ledger.disk_failed(boot_error)
        self._writer = Writer(write_store, self._ledger, max_bytes, self._notify)
        self._write_store = write_store

    # ----------------------------------------------------------------------------------------- writing
    def submit(self, kind: str, payload: dict[str, Any]) -> str:
        """Hand a message over and return at once (its `message_id`); the writer commits it and stamps `seq`.

        Never raises for disk trouble: the row then waits in memory (see `health()`), never lost silently.
        """
        job = self._append_job(kind, payload)
        self._writer.submit(job)
        return str(job.payload["message_id"])

    def append(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Hand a message over and wait for its commit; returns a copy stamped with `message_id` and `seq`."""
        job = self._writer.run_and_wait(self._append_job(kind, payload))
        assert isinstance(job, AppendJob) and job.result is not None, "the writer failed; see the log"
        return job.result

    def _append_job(self, kind: str, payload: dict[str, Any]) -> AppendJob:
        if kind not in DROP_PRIORITY:
            raise ValueError(f"unknown outbox kind {kind!r}; expected one of {', '.join(KINDS)}")
        stamped = dict(payload)
        stamped["message_id"] = str(uuid.uuid4())
        return AppendJob(kind=kind, payload=stamped, created_unix_s=self._clock())

    def stamp(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Give a message that is published directly (status, heartbeat) its id and seq without storing it;
        returns once the seq is persisted, so a restart never hands it out again."""
        if kind not in DROP_PRIORITY:
            raise ValueError(f"unknown outbox kind {kind!r}")
        device_id = str(payload.get("device_id", ""))
        with self._ledger.lock:
            seq = self._ledger.next_seq(device_id, kind)
        self._writer.run_and_wait(SeqJob(device_id=device_id, kind=kind, seq=seq))
        return {**payload, "message_id": str(uuid.uuid4()), "seq": seq}

    def flush(self) -> None:
        """Wait until everything handed over so far is committed (or held in memory by a refusing disk)."""
        self._writer.run_and_wait(Job())

    def delete(self, row_ids: Iterable[int], wait: bool = True) -> bool:
        """Forget acknowledged rows. False if the disk refused the deletion (it is retried later).

        The rows leave `pending()` at once; the writer deletes them with its next transaction. With
        `wait=False` (the uplink's hot path) acknowledging never waits for the disk.
        """
        ids = list(row_ids)
        with self._ledger.lock:
            self._ledger.acked_undeleted.update(ids)
            waiting = len(self._ledger.acked_undeleted)
        if not wait:
            # The writer takes deletions with its next rows anyway; wake it for them alone only when they are
            # due (see Writer._deletions_due), not once per PUBACK batch.
            now = time.monotonic()
            if waiting >= DEFERRED_DELETES_MAX or now - self._deletions_kicked_mono >= DEFERRED_DELETES_S:
                self._deletions_kicked_mono = now
                self._writer.submit(Job())
            return True
        self._writer.run_and_wait(Job())
        with self._ledger.lock:
            return not self._ledger.acked_undeleted.intersection(ids)

    def has_undeleted(self) -> bool:
        """Acknowledged rows still on disk (their deletion is queued or was refused)."""
        with self._ledger.lock:
            return bool(self._ledger.acked_undeleted)

    def drop(self, row_ids: Iterable[int], kind: str, reason: str) -> None:
        """Remove rows that will never be delivered (e.g. expired statistics), counted as dropped."""
        ids = list(row_ids)
        if not ids:
            return
        with self._ledger.lock:
            in_ram = self._ledger.spill.remove(set(ids))
            self._ledger.count_drops(kind, len(in_ram))
        on_disk = [i for i in ids if i not in {r.row_id for r in in_ram}]
        if on_disk:
            self._writer.run_and_wait(DropJob(row_ids=on_disk, kind=kind))
        log.info("outbox: dropped %d %s message(s): %s", len(ids), kind, reason)

    def retry_disk(self) -> bool:
        """Try again to persist spilled rows and pending deletions (the uplink calls this periodically);
        on the RAM database of a boot without a usable disk, try to open the disk and move there."""
        if not self._ledger.durable:
            self._writer.run_and_wait(CallJob(call=self._return_to_disk))
        return self._writer.run_and_wait(RetryJob()).ok

    def _return_to_disk(self) -> None:
        """On the writer thread: open the disk; if it works, move the RAM rows there and swap both connections."""
        try:
            disk, reader, moved = open_checked(self.path)
        except Exception as error:  # still unusable: stay in RAM, say so once per state change
            self._ledger.disk_failed(error)
            return
        ledger, memory = self._ledger, self._write_store
        if moved:
            self.damaged_files.append(moved)
        with ledger.lock:
            next_row_id, seqs, counters = ledger.next_row_id, dict(ledger.seq), dict(ledger.counters)
        try:
            renumbered, seqs, counters = move_rows_to_disk(disk, memory, next_row_id, seqs, counters)
        except Exception as error:  # sqlite3.Error
            disk.close()
            reader.close()
            ledger.disk_failed(error)
            return
        with ledger.lock:
            ledger.next_row_id = next_row_id + len(renumbered)
            ledger.seq.update(seqs)
            ledger.counters.update(counters)
            for row in renumbered:
                ledger.counts[row.kind] += 1
                ledger.sizes[row.kind] += row.size_bytes
            ledger.durable = True
        self._writer.store = self._write_store = disk
        with self._read_lock:
            old_reader, self._reader = self._reader, reader
        old_reader.close()
        memory.close()
        ledger.disk_ok()
        log.warning(
            "outbox: back on disk at %s; messages held in memory are durable again (%d found on disk kept)",
            self.path,
            len(renumbered),
        )

    @property
    def commit_hook(self) -> Callable[[], None] | None:
        """Fault injection (benchmarks, tests): called inside each row-writing transaction, before COMMIT."""
        return self._writer.commit_hook

    @commit_hook.setter
    def commit_hook(self, hook: Callable[[], None] | None) -> None:
        self._writer.commit_hook = hook

    # ----------------------------------------------------------------------------------------- reading
    def pending(self, after_row_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Committed rows not yet acknowledged with `row_id > after_row_id`, oldest first (disk and spill)."""
        # The spill is read before the disk: a row moving from one to the other in between is then seen
        # twice (de-duplicated below), never zero times.
        with self._ledger.lock:
            spilled = [r for r in self._ledger.spill.rows if r.row_id > after_row_id]
            # Only acknowledged rows beyond the caller's cursor can be read back; fetch that many more.
            skip = {i for i in self._ledger.acked_undeleted if i > after_row_id}
        rows: dict[int, OutboxRow] = {}
        with self._read_lock:
            try:
                for row in self._reader.pending(after_row_id, limit + len(skip)):
                    rows[row.row_id] = row
            except Exception as error:  # sqlite3.Error
                self._ledger.disk_failed(error)
        for row in spilled:
            rows.setdefault(row.row_id, row)
        return [rows[i] for i in sorted(rows) if i not in skip][:limit]

    # ----------------------------------------------------------------------------------------- reporting
    @property
    def disk_state(self) -> str:
        return self._ledger.disk_state

    @property
    def durable(self) -> bool:
        return self._ledger.durable

    def last_seq(self, device_id: str, kind: str) -> int:
        """The last sequence number handed out for this device's `kind` topic (0 if none yet)."""
        with self._ledger.lock:
            return self._ledger.seq.get((device_id, kind), 0)

    def depth(self) -> dict[str, int]:
        """Pending rows by kind (disk and memory spill), acknowledged rows excluded."""
        return self._ledger.depth()

    def health(self) -> dict[str, Any]:
        """What the status message reports about the outbox."""
        oldest: float | None = None
        with self._read_lock:
            try:
                oldest = self._reader.oldest_created_unix_s()
            except Exception as error:  # sqlite3.Error
                self._ledger.disk_failed(error)
        ledger = self._ledger
        with ledger.lock:
            if ledger.spill.rows:
                spill_oldest = ledger.spill.rows[0].created_unix_s
                oldest = spill_oldest if oldest is None else min(oldest, spill_oldest)
            depth = ledger.depth()
            return {
                "depth": depth,
                "bytes": sum(ledger.sizes.values()) + ledger.spill.bytes,
                "max_bytes": self.max_bytes,
                "oldest_age_s": round(max(0.0, self._clock() - oldest), 3) if oldest is not None else None,
                "dropped": ledger.dropped(),
                "disk_state": ledger.disk_state,
                "in_memory_only": len(ledger.spill.rows) if ledger.durable else sum(depth.values()),
                "last_error": ledger.last_error,
            }

    def alive(self) -> bool:
        """False once the writer thread has died (the supervisor then withholds the watchdog ping)."""
        return self._writer.alive()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """`listener()` runs after each commit of new rows (in the writer thread); it must only signal."""
        with self._ledger.lock:
            self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("outbox: listener failed")

    def close(self) -> None:
        """Commit everything handed over, stop the writer, close the database."""
        self._writer.stop()
        with self._read_lock, self._ledger.lock:
            self._listeners.clear()
            self._write_store.close()
            self._reader.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
