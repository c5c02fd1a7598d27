"""The outbox on its own: stamping, order, persistence across crashes, the disk budget, a refusing disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.contract import validate
from edge.outbox import ROW_OVERHEAD_BYTES, Outbox, encode_payload
from tests.uplink.conftest import DEVICE, alert_payload, fill_file_system, stats_payload

REPO = Path(__file__).resolve().parents[2]


def test_append_stamps_a_unique_id_and_a_per_topic_sequence(outbox: Outbox) -> None:
    first = outbox.append("alert", alert_payload(1))
    second = outbox.append("alert", alert_payload(2))
    stats = outbox.append("stats", stats_payload(1))
    assert uuid.UUID(first["message_id"]).version == 4
    assert first["message_id"] != second["message_id"]
    assert (first["seq"], second["seq"], stats["seq"]) == (1, 2, 1)
    validate("alert", first)
    validate("stats", stats)
    assert "message_id" not in alert_payload(1)  # the caller's dict is not modified


def test_rows_come_back_in_append_order_and_leave_only_when_deleted(outbox: Outbox) -> None:
    stamped = [
        outbox.append("alert" if n % 3 else "stats", alert_payload(n) if n % 3 else stats_payload(n))
        for n in range(10)
    ]
    rows = outbox.pending(limit=100)
    assert [r.message_id for r in rows] == [s["message_id"] for s in stamped]
    assert [json.loads(r.payload) for r in rows] == stamped
    assert outbox.depth() == {"alert": 6, "stats": 4, "status": 0, "heartbeat": 0}
    assert outbox.delete([rows[0].row_id, rows[1].row_id])
    assert [r.row_id for r in outbox.pending(limit=100)] == [r.row_id for r in rows[2:]]
    assert [r.row_id for r in outbox.pending(after_row_id=rows[5].row_id, limit=2)] == [
        rows[6].row_id,
        rows[7].row_id,
    ]


def test_sequence_and_rows_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        for n in range(5):
            box.append("alert", alert_payload(n))
        box.delete([box.pending(limit=1)[0].row_id])
    with Outbox(path) as box:
        assert box.depth()["alert"] == 4
        assert box.last_seq(DEVICE, "alert") == 5
        assert box.append("alert", alert_payload(6))["seq"] == 6


def test_a_returned_append_survives_sigkill(tmp_path: Path) -> None:
    """The append is committed before it returns: kill -9 right after it loses nothing."""
    path = tmp_path / "o.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from edge.outbox import Outbox
        from tests.uplink.conftest import alert_payload
        box = Outbox({str(path)!r})
        for n in range(50):
            box.append("alert", alert_payload(n))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert result.returncode == -signal.SIGKILL
    with Outbox(path) as box:
        assert box.depth()["alert"] == 50
        assert [r.seq for r in box.pending(limit=100)] == list(range(1, 51))


def _row_bytes(payload: dict[str, object]) -> int:
    stamped = dict(payload, message_id=str(uuid.uuid4()), seq=1)
    return len(encode_payload(stamped)) + ROW_OVERHEAD_BYTES


def test_budget_drops_statistics_first_oldest_first_and_counts_them(tmp_path: Path) -> None:
    alert_size = _row_bytes(alert_payload(0))
    box = Outbox(tmp_path / "o.db", max_bytes=40 * alert_size)
    stats = [box.append("stats", stats_payload(n)) for n in range(20)]
    alerts: list[dict[str, object]] = []
    while box.depth()["stats"] > 0:
        before = box.depth()
        alerts.append(box.append("alert", alert_payload(len(alerts))))
        after = box.depth()
        if after["alert"] != before["alert"] + 1:
            # An alert may go only in the same step as the last statistic, never while one is kept.
            assert after["stats"] == 0, "an alert was dropped while a statistic remained"
            alerts.pop(0)
        assert box.health()["bytes"] <= box.max_bytes
    assert box.health()["dropped"]["stats"] == 20
    assert box.health()["dropped"]["alert"] <= 1
    # The survivors are the newest statistics until the last one went: oldest were dropped first.
    remaining_ids = {r.message_id for r in box.pending(limit=1000)}
    assert all(a["message_id"] in remaining_ids for a in alerts)
    assert not any(s["message_id"] in remaining_ids for s in stats)
    box.close()


def test_a_new_statistic_never_evicts_an_alert(tmp_path: Path) -> None:
    with Outbox(tmp_path / "sizing.db") as sizing:
        for n in range(10):
            sizing.append("alert", alert_payload(n))
        ten_alerts_bytes = sizing.health()["bytes"]
    # Room for exactly these ten alerts plus less than one statistic.
    box = Outbox(tmp_path / "o.db", max_bytes=ten_alerts_bytes + _row_bytes(stats_payload(1)) - 1)
    for n in range(10):
        box.append("alert", alert_payload(n))
    depth = box.depth()["alert"]
    assert depth == 10
    dropped_alerts = box.health()["dropped"]["alert"]
    box.append("stats", stats_payload(1))
    assert box.depth() == {"alert": depth, "stats": 0, "status": 0, "heartbeat": 0}
    assert box.health()["dropped"]["stats"] == 1
    assert box.health()["dropped"]["alert"] == dropped_alerts
    box.close()


def test_when_only_alerts_remain_the_oldest_alert_goes_and_is_counted(tmp_path: Path) -> None:
    alert_size = _row_bytes(alert_payload(0))
    box = Outbox(tmp_path / "o.db", max_bytes=10 * alert_size)
    stamped = [box.append("alert", alert_payload(n)) for n in range(15)]
    kept = [json.loads(r.payload)["seq"] for r in box.pending(limit=100)]
    assert kept == list(range(15 - len(kept) + 1, 16))
    assert box.health()["dropped"]["alert"] == 15 - len(kept)
    assert stamped[-1]["seq"] == 15
    box.close()


def test_drop_counters_are_persistent(tmp_path: Path) -> None:
    alert_size = _row_bytes(alert_payload(0))
    with Outbox(tmp_path / "o.db", max_bytes=5 * alert_size) as box:
        for n in range(8):
            box.append("alert", alert_payload(n))
        dropped = box.health()["dropped"]["alert"]
    assert dropped > 0
    with Outbox(tmp_path / "o.db", max_bytes=5 * alert_size) as box:
        assert box.health()["dropped"]["alert"] == dropped


def test_a_full_disk_is_reported_never_fatal_and_nothing_is_lost(small_tmpfs: Path) -> None:
    box = Outbox(small_tmpfs / "o.db", max_bytes=64 * 1024 * 1024)  # budget larger than the disk
    filler = fill_file_system(small_tmpfs)
    stamped = [box.append("alert", alert_payload(n)) for n in range(30)]
    health = box.health()
    assert health["disk_state"] == "full"
    assert health["in_memory_only"] > 0
    assert box.depth()["alert"] == 30
    assert [json.loads(r.payload)["message_id"] for r in box.pending(limit=100)] == [
        s["message_id"] for s in stamped
    ]
    os.remove(filler)
    assert box.retry_disk()
    assert box.health()["disk_state"] == "ok"
    assert box.health()["in_memory_only"] == 0
    box.close()
    with Outbox(small_tmpfs / "o.db") as reopened:
        assert [r.message_id for r in reopened.pending(limit=100)] == [s["message_id"] for s in stamped]


def test_a_read_only_disk_at_start_is_reported_never_fatal(small_tmpfs: Path) -> None:
    with Outbox(small_tmpfs / "o.db") as box:
        box.append("alert", alert_payload(0))
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    try:
        box = Outbox(small_tmpfs / "sub" / "o.db")
        assert box.health()["disk_state"] in ("read_only", "error")
        stamped = box.append("alert", alert_payload(1))
        assert [r.message_id for r in box.pending(limit=10)] == [stamped["message_id"]]
        assert box.health()["in_memory_only"] == 1
        assert box.delete([r.row_id for r in box.pending(limit=10)])
        assert box.depth()["alert"] == 0
        box.close()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operations=st.lists(
        st.one_of(
            st.tuples(st.just("alert"), st.integers(0, 400)),
            st.tuples(st.just("stats"), st.integers(0, 400)),
            st.tuples(st.just("ack"), st.integers(1, 5)),
        ),
        max_size=60,
    ),
    budget_rows=st.integers(3, 12),
)
def test_budget_invariants_hold_for_any_sequence(
    tmp_path_factory: pytest.TempPathFactory, operations: list[tuple[str, int]], budget_rows: int
) -> None:
    """Against a model: order is append order, the budget holds, alerts go only when no statistic is left."""
    path = tmp_path_factory.mktemp("model") / "o.db"
    box = Outbox(path, max_bytes=budget_rows * _row_bytes(alert_payload(0)))
    expected: list[str] = []  # message ids the model says are pending, in order
    for op, arg in operations:
        if op == "ack":
            rows = box.pending(limit=arg)
            box.delete([r.row_id for r in rows], wait=bool(arg % 2))
            acked = {r.message_id for r in rows}
            expected = [m for m in expected if m not in acked]
            continue
        payload = alert_payload(arg) if op == "alert" else stats_payload(arg)
        before_ids = {r.message_id: r.kind for r in box.pending(limit=1000)}
        dropped_before = box.health()["dropped"]
        stamped = box.append(op, payload)
        after = box.pending(limit=1000)
        after_ids = [r.message_id for r in after]
        gone = [m for m in before_ids if m not in after_ids]
        # What vanished was dropped by the budget: statistics first, alerts only once no statistic is left.
        if any(before_ids[m] == "alert" for m in gone):
            assert not any(r.kind == "stats" for r in after), "an alert went while a statistic stayed"
            assert op == "alert"
        if op == "stats":
            assert all(before_ids[m] == "stats" for m in gone), "a statistic evicted an alert"
        dropped_after = box.health()["dropped"]
        newcomer_kept = stamped["message_id"] in after_ids
        assert sum(dropped_after.values()) - sum(dropped_before.values()) == len(gone) + (
            0 if newcomer_kept else 1
        )
        expected = [m for m in expected if m not in gone] + ([stamped["message_id"]] if newcomer_kept else [])
        assert after_ids == expected
        assert box.health()["bytes"] <= box.max_bytes
    box.close()
    with Outbox(path) as reopened:
        assert [r.message_id for r in reopened.pending(limit=1000)] == expected


def test_accounting_stays_exact_under_concurrent_appends_deletes_and_drops(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "o.db"
    box = Outbox(path, max_bytes=30 * _row_bytes(alert_payload(0)))
    stop = threading.Event()

    def lane(index: int) -> None:
        for n in range(150):
            box.append(
                "stats" if n % 3 == 0 else "alert", stats_payload(n) if n % 3 == 0 else alert_payload(n)
            )

    def uplink_like() -> None:
        cursor = 0
        while not stop.is_set():
            rows = box.pending(after_row_id=cursor, limit=7)
            if rows:
                cursor = rows[-1].row_id
                box.delete([r.row_id for r in rows[::2]], wait=False)

    consumer = threading.Thread(target=uplink_like)
    consumer.start()
    lanes = [threading.Thread(target=lane, args=(i,)) for i in range(4)]
    for t in lanes:
        t.start()
    for t in lanes:
        t.join(60)
    stop.set()
    consumer.join(10)
    box.delete([], wait=True)
    depth, health = box.depth(), box.health()
    box.close()
    with Outbox(path) as reopened:  # counts recomputed from the database itself
        assert reopened.depth() == depth
        assert reopened.health()["bytes"] == health["bytes"]
        assert reopened.health()["dropped"] == health["dropped"]
        seqs = [r.seq for r in reopened.pending(limit=10_000) if r.kind == "alert"]
        assert seqs == sorted(seqs)
    assert health["bytes"] <= 30 * _row_bytes(alert_payload(0))
