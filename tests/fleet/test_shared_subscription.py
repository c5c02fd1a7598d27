"""The centre scales consumers with a shared subscription; `watch`, a plain subscriber, sees every seq."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.outbox import Outbox
from edge.uplink import BrokerSettings, Uplink
from tests.fakes.fleet import Appliance, fleet_alert, start_appliance, topic_filter, wait_delivered
from tests.fakes.mosquitto import Mosquitto
from tests.fleet.watch_process import start_watch

ALERTS_EACH = 60


class ShareMember:
    """One of the centre's consumers: a member of the `$share/centre/…` group."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"centre-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"$share/centre/{topic_filter}", qos=1)
        self.client.loop_start()
        assert subscribed.wait(10), "shared subscription not acknowledged"

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.ids.append(json.loads(message.payload)["message_id"])

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_shared_subscription_splits_alerts_and_watch_reports_a_removed_one(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    site = f"st{uuid.uuid4().hex[:8]}"
    alerts = topic_filter(site, kind="alert")
    members = [ShareMember(mosquitto.port, alerts) for _ in range(2)]
    watch = start_watch(mosquitto.port, topic_filter(site), "--quiet-alerts")
    settings = BrokerSettings(port=mosquitto.port, reconnect_min_s=0.05, reconnect_max_s=0.5)
    expected: set[str] = set()
    appliances: list[Appliance] = []
    try:
        # gate-02 loses its 5th alert before it is ever sent (removed from its outbox, as a damaged or
        # purged outbox would): nobody can receive it, and only per-device seq can reveal it.
        box = Outbox(tmp_path / "gate-02.sqlite3")
        stamped = [box.append("alert", fleet_alert(site, "gate-02", n)) for n in range(10)]
        removed = next(r for r in box.pending(limit=100) if r.seq == 5)
        box.drop([removed.row_id], "alert", "removed by the test")
        expected.update(s["message_id"] for s in stamped if s["seq"] != 5)
        uplink = Uplink(settings, box, site, "gate-02")
        uplink.start()
        appliances.append(Appliance(site, "gate-02", box, uplink, produced=10))
        appliances += [start_appliance(site, f"gate-0{i}", settings, tmp_path) for i in (1, 3)]
        for appliance in appliances:
            while appliance.produced < ALERTS_EACH:
                expected.add(appliance.alert()["message_id"])
        assert wait_delivered(appliances, timeout_s=60)
    finally:
        for appliance in appliances:
            appliance.stop()

    deadline = time.monotonic() + 30
    while sum(len(m.ids) for m in members) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.1)
    for member in members:
        member.stop()
    code, summary = watch.stop()

    first, second = (set(m.ids) for m in members)
    assert first and second, "both members of the group should receive a share"
    assert not first & second, "a shared subscription delivers each message to one member only"
    assert first | second == expected
    assert len(members[0].ids) + len(members[1].ids) == len(expected)  # and each exactly once

    # watch (a plain subscriber) saw every seq: exactly one gap, gate-02's seq 5, nothing else wrong.
    assert code == 1
    gaps = watch.of("gap")
    assert [(g["device"], g["kind"], g["detail"]) for g in gaps] == [
        (f"{site}/gate-02", "alert", "seq 5 missing (got 6)")
    ]
    assert summary["lost"] == 1 and summary["schema_failures"] == 0
    devices = summary["devices"]
    assert devices[f"{site}/gate-02"]["alert"]["missing_seqs"] == [5]
    for gate in ("gate-01", "gate-03"):
        counts = devices[f"{site}/{gate}"]["alert"]
        assert (counts["unique"], counts["missing"], counts["duplicates"]) == (ALERTS_EACH, 0, 0)
