"""The uplink against a real Mosquitto: order, acknowledgement, outages, failover, presence, properties."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.contract import SCHEMA_VERSION
from edge.outbox import Outbox
from edge.uplink import BrokerEndpoint, BrokerSettings, Uplink, backoff_delay_s
from tests.fakes.mosquitto import Mosquitto
from tests.uplink.conftest import (
    DEVICE,
    DURABLE_BROKER_CONFIG,
    SITE,
    Collector,
    alert_payload,
    fast_settings,
    fill_file_system,
    start_collector,
    stats_payload,
    stop_collector,
)

MakeUplink = Callable[..., Uplink]


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def assert_exactly_once_in_order(collector: Collector, expected_ids: list[str]) -> None:
    alerts = collector.of_kind("alert")
    ids = [m.payload["message_id"] for m in alerts]
    assert len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} duplicate alert(s)"
    assert ids == expected_ids
    seqs = [m.payload["seq"] for m in alerts]
    assert seqs == sorted(seqs)


def test_alerts_arrive_in_order_with_properties_and_rows_go_on_puback(
    broker: Mosquitto, collector: Collector, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    uplink = make_uplink(fast_settings(broker.port), outbox)
    stamped = [outbox.append("alert", alert_payload(n))["message_id"] for n in range(300)]
    assert collector.wait_for(lambda c: len(c.of_kind("alert")) >= 300, 15)
    assert wait_until(lambda: outbox.depth()["alert"] == 0, 5)
    assert_exactly_once_in_order(collector, stamped)
    first = collector.of_kind("alert")[0]
    assert first.topic == f"checkpoint/v2/devices/{SITE}/{DEVICE}/alert"
    assert first.user_properties == {"schema": "checkpoint.alert", "schema_version": str(SCHEMA_VERSION)}
    state = uplink.state()
    assert state["connected"] and state["acked"] >= 300 and state["last_error"] is None
    births = [m for m in collector.of_kind("status") if m.payload["state"] == "online"]
    assert births and births[0].payload["outbox"]["disk_state"] == "ok"
    collector.assert_all_valid()


@pytest.mark.slow
def test_1000_alerts_produced_during_a_30_s_broker_outage_all_arrive_in_order_once(
    broker: Mosquitto, collector: Collector, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    """Must show 1: the broker is stopped for 30 s while 1,000 alerts are produced, then restarted."""
    uplink = make_uplink(fast_settings(broker.port, reconnect_max_s=2.0), outbox)
    assert wait_until(lambda: uplink.state()["connected"], 10)
    broker.stop()
    outage_start = time.monotonic()
    stamped: list[str] = []
    for n in range(1000):
        stamped.append(outbox.append("alert", alert_payload(n))["message_id"])
        # Spread production over the outage, as a busy checkpoint would.
        time.sleep(max(0.0, outage_start + (n + 1) * 0.027 - time.monotonic()))
    assert not uplink.state()["connected"]
    assert outbox.depth()["alert"] == 1000
    time.sleep(max(0.0, outage_start + 30.0 - time.monotonic()))
    broker.start()
    assert collector.wait_for(lambda c: len(c.of_kind("alert")) >= 1000, 30), (
        f"received {len(collector.of_kind('alert'))} of 1000; uplink {uplink.state()}"
    )
    time.sleep(0.5)  # a late duplicate would show up here
    assert_exactly_once_in_order(collector, stamped)
    assert wait_until(lambda: outbox.depth()["alert"] == 0, 5)
    collector.assert_all_valid()


def test_stop_leaves_a_retained_stopped_status_and_a_late_subscriber_sees_it(
    broker: Mosquitto, outbox: Outbox
) -> None:
    uplink = Uplink(
        fast_settings(broker.port),
        outbox,
        SITE,
        DEVICE,
        status_provider=lambda: {
            "devices": {"thermal-1": "ok", "idscan-1": {"state": "lost"}},
            "config_hash": "sha256:abc",
        },
    )
    uplink.start()
    assert wait_until(lambda: uplink.state()["connected"], 10)
    uplink.stop(timeout_s=5)
    late = start_collector(
        broker.port, topic=f"checkpoint/v2/devices/{SITE}/{DEVICE}/status", client_id="late"
    )
    try:
        assert late.wait_for(lambda c: len(c.of_kind("status")) >= 1, 5)
        status = late.of_kind("status")[-1]
        assert status.retain
        assert status.payload["state"] == "stopped"
        assert status.payload["devices"] == {"thermal-1": {"state": "ok"}, "idscan-1": {"state": "lost"}}
        assert status.payload["config_hash"] == "sha256:abc"
        late.assert_all_valid()
    finally:
        stop_collector(late)


def test_status_is_republished_when_a_device_changes_state(
    broker: Mosquitto, collector: Collector, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    devices = {"thermal-1": "ok"}
    make_uplink(fast_settings(broker.port), outbox, status_provider=lambda: {"devices": dict(devices)})
    assert collector.wait_for(lambda c: len(c.of_kind("status")) >= 1, 10)
    devices["thermal-1"] = "disconnected"
    assert collector.wait_for(
        lambda c: any(
            m.payload["devices"].get("thermal-1") == {"state": "disconnected"} for m in c.of_kind("status")
        ),
        5,
    )
    seqs = [m.payload["seq"] for m in collector.of_kind("status")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    collector.assert_all_valid()


def test_heartbeat_reports_outbox_depth(
    broker: Mosquitto, collector: Collector, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    make_uplink(fast_settings(broker.port, heartbeat_interval_s=1.0), outbox)
    assert collector.wait_for(lambda c: len(c.of_kind("heartbeat")) >= 2, 5)
    beat = collector.of_kind("heartbeat")[-1].payload
    assert beat["outbox_depth"] == {"alert": 0, "stats": 0, "status": 0, "heartbeat": 0}
    assert beat["disk_state"] == "ok"
    collector.assert_all_valid()


def test_statistics_carry_message_expiry_and_stale_ones_are_dropped_and_counted(
    broker: Mosquitto, collector: Collector, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    now = [time.time()]
    box = Outbox(tmp_path / "o.db", clock=lambda: now[0])
    box.append("stats", stats_payload(1))  # produced "two hours ago"
    now[0] = time.time()
    box.append("stats", stats_payload(2))
    box.close()
    # Reopen with the real clock: the first row is older than stats_expiry_s.
    box = Outbox(tmp_path / "o.db")
    fresh_clock_rows = box.pending(limit=10)
    assert len(fresh_clock_rows) == 2
    # Age the first row on disk as if it had waited through a long outage.
    with contextlib.closing(sqlite3.connect(tmp_path / "o.db", isolation_level=None)) as db:
        db.execute(
            "UPDATE outbox SET created_unix_s = created_unix_s - 7200 WHERE row_id = ?",
            (fresh_clock_rows[0].row_id,),
        )
    make_uplink(fast_settings(broker.port, stats_expiry_s=3600), box)
    assert collector.wait_for(lambda c: len(c.of_kind("stats")) >= 1, 10)
    time.sleep(0.3)
    stats = collector.of_kind("stats")
    assert [m.payload["seq"] for m in stats] == [2]
    assert stats[0].user_properties == {"schema": "checkpoint.stats", "schema_version": str(SCHEMA_VERSION)}
    assert wait_until(lambda: box.health()["dropped"]["stats"] == 1, 5)
    collector.assert_all_valid()
    box.close()


def test_mqtt_3_1_1_is_selectable(
    broker: Mosquitto, collector: Collector, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    make_uplink(fast_settings(broker.port, protocol="3.1.1"), outbox)
    stamped = [outbox.append("alert", alert_payload(n))["message_id"] for n in range(50)]
    assert collector.wait_for(lambda c: len(c.of_kind("alert")) >= 50, 10)
    assert_exactly_once_in_order(collector, stamped)
    collector.assert_all_valid()


def test_fails_over_in_order_and_returns_to_the_primary_when_it_is_back(
    tmp_path: Path, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    primary = Mosquitto(DURABLE_BROKER_CONFIG)
    fallback = Mosquitto(DURABLE_BROKER_CONFIG)
    fallback.start()
    on_fallback = start_collector(fallback.port, client_id="centre-f")
    try:
        settings = fast_settings(
            primary.port,
            fallback_brokers=[BrokerEndpoint(host="127.0.0.1", port=fallback.port)],
            primary_retry_s=1.0,
        )
        uplink = make_uplink(settings, outbox)
        first = [outbox.append("alert", alert_payload(n))["message_id"] for n in range(20)]
        assert on_fallback.wait_for(lambda c: len(c.of_kind("alert")) >= 20, 10)
        assert uplink.state()["broker"] == f"127.0.0.1:{fallback.port}"
        primary.start()
        on_primary = start_collector(primary.port, client_id="centre-p")
        try:
            assert wait_until(lambda: uplink.state()["broker"] == f"127.0.0.1:{primary.port}", 10)
            second = [outbox.append("alert", alert_payload(n))["message_id"] for n in range(20, 40)]
            assert on_primary.wait_for(lambda c: len(c.of_kind("alert")) >= 20, 10)
            assert [m.payload["message_id"] for m in on_primary.of_kind("alert")] == second
            assert [m.payload["message_id"] for m in on_fallback.of_kind("alert")] == first
            on_primary.assert_all_valid()
        finally:
            stop_collector(on_primary)
        on_fallback.assert_all_valid()
    finally:
        stop_collector(on_fallback)
        primary.close()
        fallback.close()


def test_the_caller_is_never_blocked_while_the_broker_is_unreachable(
    outbox: Outbox, make_uplink: MakeUplink
) -> None:
    # A black-hole address: connect attempts hang until their timeout.
    settings = BrokerSettings(host="10.255.255.1", port=1883, connect_timeout_s=3.0, reconnect_min_s=0.1)
    uplink = make_uplink(settings, outbox)
    started = time.monotonic()
    for n in range(100):
        outbox.append("alert", alert_payload(n))
    assert time.monotonic() - started < 2.0
    assert not uplink.state()["connected"]
    stop_started = time.monotonic()
    uplink.stop(timeout_s=5)
    assert time.monotonic() - stop_started < 5.5
    assert outbox.depth()["alert"] == 100


def test_backoff_is_capped_exponential_with_jitter() -> None:
    import random

    rng = random.Random(7)
    delays = [[backoff_delay_s(a, 0.5, 30.0, rng) for _ in range(200)] for a in range(12)]
    assert all(0.5 <= d <= 30.0 for row in delays for d in row)
    assert max(delays[0]) <= 0.5 + 1e-9
    assert min(delays[3]) >= 2.0 and max(delays[3]) <= 4.0  # ceiling 4 s: half fixed, half jitter
    assert min(delays[11]) >= 15.0  # capped at 30 s
    assert len({round(d, 6) for d in delays[5]}) > 100  # jittered, so devices do not reconnect in lockstep


def test_concurrent_lanes_append_while_the_uplink_drains(
    broker: Mosquitto, collector: Collector, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    make_uplink(fast_settings(broker.port), outbox)

    def lane(lane_id: str) -> None:
        for n in range(100):
            outbox.append("alert", alert_payload(n, lane_id=lane_id))

    threads = [threading.Thread(target=lane, args=(f"lane-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert collector.wait_for(lambda c: len(c.of_kind("alert")) >= 400, 15)
    alerts = collector.of_kind("alert")
    assert [m.payload["seq"] for m in alerts] == list(range(1, 401))
    for i in range(4):
        per_lane = [m.payload["monotonic_s"] for m in alerts if m.payload["lane_id"] == f"lane-{i}"]
        assert per_lane == sorted(per_lane) and len(per_lane) == 100
    collector.assert_all_valid()


def test_disk_budget_during_an_outage_drops_statistics_first_and_reports_it(
    broker: Mosquitto, collector: Collector, tmp_path: Path, make_uplink: MakeUplink
) -> None:
    """Must show 3: statistics and alerts queue during an outage until the budget is exhausted."""
    # Room for the outage's 200 alerts (~125 kB) but not for its 200 statistics (~90 kB) as well.
    box = Outbox(tmp_path / "o.db", max_bytes=160 * 1024)
    uplink = make_uplink(fast_settings(broker.port), box)
    assert wait_until(lambda: uplink.state()["connected"], 10)
    broker.stop()
    alerts: list[str] = []
    stats_appended = 0
    for n in range(400):
        if n % 2:
            before = box.depth()
            alerts.append(box.append("alert", alert_payload(n))["message_id"])
            assert box.depth()["alert"] == before["alert"] + 1, (before, box.health())
        else:
            box.append("stats", stats_payload(n))
            stats_appended += 1
        assert box.health()["bytes"] <= box.max_bytes
    health = box.health()
    assert health["dropped"]["stats"] > 0 and health["dropped"]["alert"] == 0
    assert box.depth()["stats"] > 0  # statistics remained throughout, so no alert could go
    broker.start()
    assert collector.wait_for(lambda c: len(c.of_kind("alert")) >= len(alerts), 20)
    assert [m.payload["message_id"] for m in collector.of_kind("alert")] == alerts
    births = [m for m in collector.of_kind("status") if m.payload["state"] == "online"]
    assert births[-1].payload["outbox"]["dropped"]["stats"] == health["dropped"]["stats"]
    assert births[-1].payload["outbox"]["dropped"]["alert"] == 0
    delivered_stats = collector.wait_for(
        lambda c: len(c.of_kind("stats")) == stats_appended - health["dropped"]["stats"], 10
    )
    assert delivered_stats
    # The oldest statistics were the ones dropped.
    seqs = [m.payload["seq"] for m in collector.of_kind("stats")]
    assert seqs == list(range(stats_appended - len(seqs) + 1, stats_appended + 1))
    collector.assert_all_valid()
    box.close()


def test_a_full_disk_is_reported_in_status_and_alerts_still_flow(
    broker: Mosquitto, collector: Collector, small_tmpfs: Path, make_uplink: MakeUplink
) -> None:
    box = Outbox(small_tmpfs / "o.db")
    uplink = make_uplink(fast_settings(broker.port), box)
    assert wait_until(lambda: uplink.state()["connected"], 10)
    filler = fill_file_system(small_tmpfs)
    stamped = [box.append("alert", alert_payload(n))["message_id"] for n in range(20)]
    assert box.health()["disk_state"] == "full"
    assert collector.wait_for(lambda c: len(c.of_kind("alert")) >= 20, 10)
    assert [m.payload["message_id"] for m in collector.of_kind("alert")] == stamped
    assert collector.wait_for(
        lambda c: any(m.payload["outbox"]["disk_state"] == "full" for m in c.of_kind("status")), 5
    ), [(m.payload["outbox"], m.payload["seq"]) for m in collector.of_kind("status")]
    filler.unlink()
    assert collector.wait_for(lambda c: c.of_kind("status")[-1].payload["outbox"]["disk_state"] == "ok", 5)
    assert uplink.state()["connected"]
    collector.assert_all_valid()
    box.close()


def test_broker_restarts_while_alerts_flow_lose_nothing_and_keep_order(
    broker: Mosquitto, collector: Collector, outbox: Outbox, make_uplink: MakeUplink
) -> None:
    uplink = make_uplink(fast_settings(broker.port), outbox)
    assert wait_until(lambda: uplink.state()["connected"], 10)
    stamped: list[str] = []

    def produce() -> None:
        for n in range(600):
            stamped.append(outbox.append("alert", alert_payload(n))["message_id"])
            time.sleep(0.004)

    producer = threading.Thread(target=produce)
    producer.start()
    for _ in range(3):
        time.sleep(0.5)
        broker.restart()  # SIGTERM while messages are in flight, then back on the same port
    producer.join(30)
    assert collector.wait_for(
        lambda c: {m.payload["message_id"] for m in c.of_kind("alert")} >= set(stamped), 20
    )
    received = [m.payload["message_id"] for m in collector.of_kind("alert")]
    first_seen: list[str] = []
    for message_id in received:
        if message_id not in first_seen:
            first_seen.append(message_id)
    assert first_seen == stamped, "after de-duplication by id, alerts must be in production order"
    assert uplink.state()["connects"] >= 4
    collector.assert_all_valid()
