"""The outbox's single writer: one thread owns the write connection and commits in groups.

Lanes hand a message over (`submit`) and go on screening; callers that need the row on disk (`append`, the
status stamp, tests) wait for their job. Each turn of the loop takes every job queued so far and commits them
in one transaction, so one fsync serves all lanes that appended meanwhile (group commit). Inside it:

    acknowledged rows deleted  →  spilled rows, then new rows: `seq` and `row_id` stamped, the disk budget
    applied, inserted  →  sequence numbers of directly published messages  →  changed counters  →  COMMIT

`seq` is stamped here, at commit, so a message lost in a power cut (handed over, not yet committed) never
received one: the centre sees no gap for it. Rows become visible to the uplink only by that commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.outbox.budget import choose_victims
from edge.outbox.ledger import Ledger
from edge.outbox.rows import ROW_OVERHEAD_BYTES, OutboxRow, encode_payload
from edge.outbox.store import Store

log = logging.getLogger("edge.outbox")

DEFERRED_DELETES_MAX = 1000  # acknowledged rows worth a transaction of their own
DEFERRED_DELETES_S = 1.0  # longest an acknowledged row waits for its deletion while nothing else is written


@dataclass(eq=False)
class Job:
    """Something for the writer; `done` is set once it is committed (or refused by the disk)."""

    done: threading.Event | None = None
    ok: bool = True


@dataclass(eq=False)
class AppendJob(Job):
    kind: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # carries message_id already
    created_unix_s: float = 0.0
    result: dict[str, Any] | None = None  # the payload as stored: with its seq


@dataclass(eq=False)
class SeqJob(Job):
    """Persist a sequence number handed to a message that is published directly (status, heartbeat)."""

    device_id: str = ""
    kind: str = ""
    seq: int = 0


@dataclass(eq=False)
class DropJob(Job):
    row_ids: list[int] = field(default_factory=list)
    kind: str = ""


@dataclass(eq=False)
class RetryJob(Job):
    """Write what the disk refused before (spill, deletions); `ok` = nothing is left waiting."""


@dataclass(eq=False)
class CallJob(Job):
    """Run `call` on the writer thread before the batch it arrives with (e.g. swapping the database)."""

    call: Callable[[], None] | None = None


@dataclass
class _Batch:
    appends: list[AppendJob]
    rows: list[OutboxRow]  # spilled rows first, then the appends' rows, in row_id order
    new_rows: list[OutboxRow]
    acked: list[int]
    seqs: list[SeqJob]
    drops: list[DropJob]

    def needs_fsync(self) -> bool:
        return bool(self.rows or self.seqs or self.drops)


class Writer:
    def __init__(self, store: Store, ledger: Ledger, max_bytes: int, on_commit: Callable[[], None]) -> None:
        self.store, self.ledger, self.max_bytes = store, ledger, max_bytes
        self.on_commit = on_commit
        # Fault injection for benchmarks and tests: runs inside every transaction that writes rows, just
        # before its COMMIT, where a slow disk makes the fsync wait.
        self.commit_hook: Callable[[], None] | None = None
        self._jobs: deque[Job] = deque()
        self._wakeup = threading.Condition(threading.Lock())
        self._stopping = False
        self._deleted_mono = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------ handing over
    def submit(self, job: Job) -> None:
        with self._wakeup:
            if self._stopping:
                raise RuntimeError("the outbox is closed")
            self._jobs.append(job)
            self._wakeup.notify()

    def run_and_wait(self, job: Job) -> Job:
        job.done = threading.Event()
        self.submit(job)
        job.done.wait()
        return job

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Commit everything handed over so far (deferred deletions too), then end the thread."""
        if self.alive():
            self.run_and_wait(Job())
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("outbox: writer did not finish within %.0f s", timeout_s)

    # ------------------------------------------------------------------------------------ the loop
    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._jobs and not self._stopping:
                    self._wakeup.wait()
                jobs = list(self._jobs)
                self._jobs.clear()
                if not jobs and self._stopping:
                    return
            try:
                self._process(jobs)
            except Exception:  # never leave a waiting lane hanging
                log.exception("outbox: writer failed on a batch")
                for job in jobs:
                    job.ok = False
            for job in jobs:
                if job.done is not None:
                    job.done.set()

    def _process(self, jobs: list[Job]) -> None:
        for job in jobs:
            if isinstance(job, CallJob) and job.call is not None:
                job.call()
        batch = self._prepare(jobs)
        retries = [j for j in jobs if isinstance(j, RetryJob)]
        if batch.needs_fsync() or self._deletions_due(batch, jobs):
            self._commit(batch)
        if retries:
            settled = self._settle()
            for job in retries:
                job.ok = settled
        if batch.rows:
            self.on_commit()

    def _deletions_due(self, batch: _Batch, jobs: list[Job]) -> bool:
        """Deletions alone wait for company: a transaction of their own per PUBACK batch would cost more
        than the publishing. They ride along with the next rows, or go once many or old, or when awaited."""
        if not batch.acked:
            return False
        awaited = any(job.done is not None for job in jobs)
        now = time.monotonic()
        if (
            awaited
            or len(batch.acked) >= DEFERRED_DELETES_MAX
            or now - self._deleted_mono >= DEFERRED_DELETES_S
        ):
            self._deleted_mono = now
            return True
        return False

    def _prepare(self, jobs: list[Job]) -> _Batch:
        """Stamp the new rows (seq, row_id) and gather what else this transaction carries."""
        ledger = self.ledger
        appends = [j for j in jobs if isinstance(j, AppendJob)]
        new_rows: list[OutboxRow] = []
        with ledger.lock:
            acked = set(ledger.acked_undeleted)
            # Acknowledged before they ever reached the disk: nothing to write or delete.
            done_in_ram = ledger.spill.remove(acked)
            ledger.acked_undeleted.difference_update(r.row_id for r in done_in_ram)
            acked.difference_update(r.row_id for r in done_in_ram)
            for job in appends:
                stamped = dict(job.payload)
                stamped["seq"] = ledger.next_seq(str(stamped.get("device_id", "")), job.kind)
                body = encode_payload(stamped)
                job.result = stamped
                row = OutboxRow(
                    ledger.next_row_id,
                    job.kind,
                    stamped["message_id"],
                    str(stamped.get("device_id", "")),
                    stamped["seq"],
                    job.created_unix_s,
                    body,
                    len(body) + ROW_OVERHEAD_BYTES,
                )
                ledger.next_row_id += 1
                if row.size_bytes > self.max_bytes:
                    log.error(
                        "outbox: a %s message of %d bytes exceeds the whole budget; dropped",
                        row.kind,
                        row.size_bytes,
                    )
                    ledger.count_drops(row.kind, 1)
                    continue
                new_rows.append(row)
            spilled = list(ledger.spill.rows)
        seqs = [j for j in jobs if isinstance(j, SeqJob)]
        drops = [j for j in jobs if isinstance(j, DropJob)]
        return _Batch(appends, spilled + new_rows, new_rows, sorted(acked), seqs, drops)

    # ------------------------------------------------------------------------------------ the transaction
    def _commit(self, batch: _Batch) -> None:
        store = self.store
        durable = batch.needs_fsync()
        if not durable:
            # Deletions alone: a lost one means a re-sent duplicate (same message_id), so they skip the fsync;
            # the next row's fsync of the WAL makes them durable anyway.
            store.full_sync(False)
        try:
            store.begin()
            removed = store.delete(batch.acked) if batch.acked else {}
            dropped = [store.delete(job.row_ids) for job in batch.drops]
            inserted, victims, refused = self._insert(batch.rows, [removed, *dropped])
            for job in batch.seqs:
                store.persist_seq(job.device_id, job.kind, job.seq)
            pending_drops = self._count_drops(batch, victims, refused)
            if durable and self.commit_hook is not None:
                self.commit_hook()
            store.commit()
        except sqlite3.Error as error:
            store.rollback()
            self._refused(batch, error)
            return
        finally:
            if not durable:
                store.full_sync(True)
        self._apply(batch, removed, dropped, inserted, victims, pending_drops)

    def _insert(
        self, rows: list[OutboxRow], removed: list[dict[str, tuple[int, int]]]
    ) -> tuple[list[OutboxRow], list[tuple[str, list[int], int]], dict[str, int]]:
        """For each row make room within the budget (or drop the row), then insert it."""
        with self.ledger.lock:
            sizes = dict(self.ledger.sizes)
        for part in removed:
            for kind, (_count, size) in part.items():
                sizes[kind] -= size
        inserted: list[OutboxRow] = []
        victims: list[tuple[str, list[int], int]] = []
        refused: dict[str, int] = {}
        if sum(sizes.values()) + sum(r.size_bytes for r in rows) <= self.max_bytes:
            self.store.insert_many(rows)  # the usual case: the whole batch fits
            return list(rows), victims, refused
        for row in rows:
            chosen = choose_victims(row.kind, row.size_bytes, sizes, self.max_bytes, self.store.oldest_first)
            if chosen is None:
                refused[row.kind] = refused.get(row.kind, 0) + 1
                continue
            for victim in chosen:
                # A victim may have been inserted earlier in this very batch: it then counts as inserted
                # and dropped, which nets out in the accounting.
                self.store.delete(victim.row_ids)
                sizes[victim.kind] -= victim.freed_bytes
                victims.append((victim.kind, victim.row_ids, victim.freed_bytes))
            self.store.insert(row)
            sizes[row.kind] += row.size_bytes
            inserted.append(row)
        return inserted, victims, refused

    def _count_drops(
        self, batch: _Batch, victims: list[tuple[str, list[int], int]], refused: dict[str, int]
    ) -> dict[str, int]:
        """Drops of this transaction, and every changed counter written with it."""
        drops: dict[str, int] = dict(refused)
        for kind, ids, _freed in victims:
            drops[kind] = drops.get(kind, 0) + len(ids)
        for job in batch.drops:
            drops[job.kind] = drops.get(job.kind, 0) + len(job.row_ids)
        with self.ledger.lock:
            counters = dict(self.ledger.counters)
            names = set(self.ledger.unsaved_counters)
        for kind, count in drops.items():
            counters[f"dropped_{kind}"] = counters.get(f"dropped_{kind}", 0) + count
            names.add(f"dropped_{kind}")
        for name in sorted(names):
            self.store.write_counter(name, counters.get(name, 0))
        return drops

    def _apply(
        self,
        batch: _Batch,
        removed: dict[str, tuple[int, int]],
        dropped: list[dict[str, tuple[int, int]]],
        inserted: list[OutboxRow],
        victims: list[tuple[str, list[int], int]],
        drops: dict[str, int],
    ) -> None:
        """The transaction is on disk: bring the memory in line."""
        ledger = self.ledger
        with ledger.lock:
            ledger.unsaved_counters.clear()
            ledger.acked_undeleted.difference_update(batch.acked)
            ledger.spill.remove({r.row_id for r in batch.rows})
            for part in (removed, *dropped):
                for kind, (count, size) in part.items():
                    ledger.counts[kind] -= count
                    ledger.sizes[kind] -= size
            for row in inserted:
                ledger.counts[row.kind] += 1
                ledger.sizes[row.kind] += row.size_bytes
            for kind, ids, freed in victims:
                ledger.counts[kind] -= len(ids)
                ledger.sizes[kind] -= freed
                ledger.acked_undeleted.difference_update(ids)
            for kind, count in drops.items():
                ledger.counters[f"dropped_{kind}"] = ledger.counters.get(f"dropped_{kind}", 0) + count
        for kind, ids, _freed in victims:
            log.warning("outbox: disk budget reached, dropped %d oldest %s message(s)", len(ids), kind)
        if batch.rows or batch.seqs:
            ledger.disk_ok()

    def _refused(self, batch: _Batch, error: sqlite3.Error) -> None:
        """The disk refused the transaction: new rows wait in RAM (bounded), deletions stay pending."""
        self.ledger.disk_failed(error)
        with self.ledger.lock:
            for row in batch.new_rows:
                for lost in self.ledger.spill.add(row):
                    self.ledger.count_drops(lost.kind, 1)
                    log.error(
                        "outbox: memory spill full while the disk is unusable; dropped a %s message",
                        lost.kind,
                    )
        for job in batch.drops:
            job.ok = False

    def _settle(self) -> bool:
        """After a retry: True once nothing waits in RAM; proves the disk takes writes before calling it ok."""
        ledger = self.ledger
        with ledger.lock:
            settled = not ledger.spill.rows and not ledger.acked_undeleted
            unhealthy = ledger.durable and ledger.disk_state != "ok"
        if not settled or not unhealthy:
            return settled
        try:
            self.store.begin()
            self.store.write_counter("disk_probe_unix_s", int(time.time()))
            self.store.commit()
        except sqlite3.Error as error:
            self.store.rollback()
            ledger.disk_failed(error)
            return False
        ledger.disk_ok()
        return True
