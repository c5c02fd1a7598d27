"""The centre's per-device bookkeeping (gaps, duplicates, late arrivals) and watch's readable output."""

from __future__ import annotations

import io
import json

from edge.outbox import encode_payload
from edge.watch import Watcher
from edge.watch_streams import StreamTracker, order_violations
from tests.fakes.fleet import fleet_alert


def test_a_gap_that_fills_later_was_out_of_order_not_lost() -> None:
    tracker = StreamTracker()
    codes = [[f.code for f in tracker.observe("s/d", "alert", seq, f"id-{seq}")] for seq in (1, 2, 4, 5, 3)]
    assert codes == [[], [], ["gap"], [], ["out_of_order"]]
    assert tracker.losses() == 0
    assert tracker.summary()["s/d"]["alert"]["out_of_order"] == 1


def test_a_resent_message_is_a_duplicate_and_a_missing_one_stays_missing() -> None:
    tracker = StreamTracker()
    for seq, message_id in [(1, "a"), (2, "b"), (2, "b"), (4, "d")]:
        tracker.observe("s/d", "alert", seq, message_id)
    counts = tracker.summary()["s/d"]["alert"]
    assert (counts["unique"], counts["duplicates"], counts["missing_seqs"]) == (3, 1, [3])
    assert tracker.losses() == 1


def test_a_seq_seen_again_under_a_new_id_is_a_restart() -> None:
    tracker = StreamTracker()
    for seq in (1, 2, 3):
        tracker.observe("s/d", "alert", seq, f"old-{seq}")
    assert [f.code for f in tracker.observe("s/d", "alert", 1, "new-1")] == ["sequence_restart"]
    assert [f.code for f in tracker.observe("s/d", "alert", 2, "new-2")] == []


def test_heartbeat_gaps_are_not_losses() -> None:
    tracker = StreamTracker()
    tracker.observe("s/d", "heartbeat", 1, "h1")
    tracker.observe("s/d", "heartbeat", 5, "h5")
    assert tracker.losses() == 0


def test_order_violations_count_arrivals_below_an_earlier_seq() -> None:
    assert order_violations([1, 2, 3, 4]) == 0
    assert order_violations([1, 3, 2, 4, 5]) == 1


def _alert(seq: int) -> bytes:
    payload = fleet_alert("bj-south", "gate-03", seq)
    payload.update(message_id=f"00000000-0000-4000-8000-{seq:012d}", seq=seq)
    return encode_payload(payload)


def test_watch_prints_alerts_readably_and_flags_schema_failures() -> None:
    out = io.StringIO()
    watcher = Watcher(out)
    topic = "checkpoint/v2/devices/bj-south/gate-03/alert"
    watcher.handle(topic, _alert(1))
    watcher.handle(topic, _alert(3))
    watcher.handle(topic, b'{"schema": "checkpoint.alert"}')
    watcher.handle("checkpoint/v2/lists/bj-south", b"{}")  # the centre's own topic: not checked
    lines = out.getvalue().splitlines()
    assert "ALERT bj-south/gate-03 lane-2 medical_referral: fever (core 38.10 °C" in lines[0]
    assert lines[0].endswith("[seq 1]")
    assert "GAP bj-south/gate-03 alert: seq 2 missing (got 3)" in lines[1]
    assert "SCHEMA bj-south/gate-03" in lines[3]
    summary = watcher.summary()
    assert (summary["lost"], summary["schema_failures"], summary["other_topics"]) == (1, 1, 1)


def test_watch_json_lines_are_machine_readable() -> None:
    out = io.StringIO()
    watcher = Watcher(out, as_json=True)
    watcher.handle("checkpoint/v2/devices/bj-south/gate-03/alert", _alert(1))
    watcher.print_summary()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["alert", "summary"]
    assert events[1]["devices"]["bj-south/gate-03"]["alert"]["unique"] == 1
