"""Ten appliances on a three-node RabbitMQ cluster lose the node they are connected to, mid-stream."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from edge.watch_streams import order_violations
from tests.fakes.amqp_centre import AmqpConsumer, declare_competing_queue, delete_queues
from tests.fakes.fleet import cluster_settings, round_robin, start_appliance, topic_filter, wait_delivered
from tests.fakes.rabbitmq import RabbitCluster
from tests.fleet.watch_process import start_watch

APPLIANCES = 10
ALERTS_EACH = 120


def assert_every_alert_once_in_order(
    receipts: list[Any], expected: dict[str, list[str]]
) -> dict[str, list[tuple[str, int]]]:
    """The centre's receipts: every alert arrived, nothing else; duplicates are the same message; order."""
    by_id: dict[str, list[tuple[str, int]]] = defaultdict(list)
    arrival: dict[str, list[int]] = defaultdict(list)
    first_seen: set[str] = set()
    for receipt in receipts:
        payload = receipt.payload
        by_id[payload["message_id"]].append((payload["device_id"], payload["seq"]))
        if payload["message_id"] not in first_seen:
            first_seen.add(payload["message_id"])
            arrival[payload["device_id"]].append(payload["seq"])
    # Every alert arrived, and nothing else did.
    assert set(by_id) == {i for ids in expected.values() for i in ids}
    # A duplicate is the same message (same id, device and seq), re-sent after the lost acknowledgement.
    for message_id, copies in by_id.items():
        assert len(set(copies)) == 1, f"{message_id} arrived as different messages: {copies}"
    per_device_seq = defaultdict(set)
    for copies in by_id.values():
        device, seq = copies[0]
        per_device_seq[device].add(seq)
    for device, seqs in per_device_seq.items():
        assert seqs == set(range(1, ALERTS_EACH + 1)), f"{device}: seqs not 1..{ALERTS_EACH}"
    # Per-device order holds once duplicates are dropped (one consumer: the queue's order).
    for device, seqs in arrival.items():
        assert order_violations(seqs) == 0, f"{device} out of order: {seqs}"
    return by_id


@pytest.mark.slow
def test_killing_the_appliances_node_loses_no_alert_and_keeps_order(
    cluster: RabbitCluster, site: str, tmp_path: Path
) -> None:
    queue = f"centre-{site}"
    # Declared through the node about to die, so the quorum queue's leader dies too and must be re-elected.
    declare_competing_queue(cluster.amqp_port(0), queue, [topic_filter(site, kind="alert")])
    consumer = AmqpConsumer("centre", [cluster.amqp_port(2), cluster.amqp_port(1)], queue)
    consumer.start()
    # And the technician's monitor, an MQTT 3.1.1 subscriber with a persistent (quorum-queue) session.
    watch = start_watch(
        cluster.mqtt_port(2),
        topic_filter(site, kind="alert"),
        "--client-id",
        f"watch-{site}",
    )
    settings = cluster_settings(cluster.mqtt_endpoints(first=0))
    appliances = [start_appliance(site, f"gate-{i:02d}", settings, tmp_path) for i in range(APPLIANCES)]
    expected: dict[str, list[str]] = defaultdict(list)  # device → message ids in the order created
    try:
        deadline = time.monotonic() + 30
        while not all(a.uplink.state()["connected"] for a in appliances):
            assert time.monotonic() < deadline, "appliances did not connect to the cluster"
            time.sleep(0.1)
        primary = f"127.0.0.1:{cluster.mqtt_port(0)}"
        assert {a.uplink.state()["broker"] for a in appliances} == {primary}

        total = APPLIANCES * ALERTS_EACH
        killed = threading.Event()
        for produced, appliance in enumerate(round_robin(appliances, ALERTS_EACH), start=1):
            stamped = appliance.alert()
            expected[appliance.device].append(stamped["message_id"])
            if produced == total // 3:
                cluster.kill(0)  # mid-stream: alerts are in flight on the connections it held
                killed.set()
            time.sleep(0.004)
        assert killed.is_set()

        assert wait_delivered(appliances, timeout_s=120), [a.outbox.depth() for a in appliances]
        all_ids = {i for ids in expected.values() for i in ids}
        deadline = time.monotonic() + 60
        while {r.payload["message_id"] for r in consumer.snapshot()} < all_ids:
            assert time.monotonic() < deadline, "the centre did not receive every acknowledged alert"
            time.sleep(0.2)
        while len({e["message_id"] for e in watch.of("alert")}) < len(all_ids):
            assert time.monotonic() < deadline, "watch did not see every alert"
            time.sleep(0.2)
        moved = {a.uplink.state()["broker"] for a in appliances}
        assert primary not in moved, f"appliances should be on a surviving node, are on {moved}"
    finally:
        for appliance in appliances:
            appliance.stop()
        consumer.stop()
        delete_queues(cluster.amqp_port(1), [queue])
        watch_code, watch_summary = watch.stop()

    receipts = consumer.snapshot()
    by_id = assert_every_alert_once_in_order(receipts, expected)
    # watch, on the cluster too, saw every alert of every device and no loss.
    assert watch_summary["lost"] == 0 and watch_summary["schema_failures"] == 0, watch.of("gap")
    for device in expected:
        assert watch_summary["devices"][f"{site}/{device}"]["alert"]["unique"] == ALERTS_EACH
    assert watch_code == 0
    duplicates = sum(len(c) - 1 for c in by_id.values())
    print(f"{len(receipts)} receipts, {duplicates} duplicates, consumer reconnects {consumer.reconnects}")
