"""End to end: simulators on real pseudo-terminals → drivers → screening → outbox → real Mosquitto →
a subscriber standing in for the central system."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import load_config
from edge.contract import validate_message
from edge.privacy import Pseudonymiser
from edge.service import Service
from edge.simulation import ScriptedPassenger, SimulatedLane, appliance_config, script_scene
from tests.fakes.mosquitto import Mosquitto

pytestmark = pytest.mark.slow


class Central:
    """A subscriber with a persistent session, so it also gets what was published while it was away."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="central-test", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.reconnect_delay_set(0.1, 0.5)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        kind, payload = validate_message(msg.topic, msg.payload)  # every message must match its schema
        assert kind == "alert"
        with self.cond:
            self.messages.append(payload)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while len(self.messages) < count and time.monotonic() < deadline:
                self.cond.wait(0.1)
            return list(self.messages)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Checkpoint:
    def __init__(self, tmp_path: Path, broker: Mosquitto, passengers: list[ScriptedPassenger]) -> None:
        self.t0 = time.monotonic() + 1.0
        self.passengers = passengers
        key_file = tmp_path / "site.key"
        key_file.write_bytes(os.urandom(32))
        self.lane = SimulatedLane("lane-1", passengers, tmp_path, self.clock).start()
        path = tmp_path / "checkpoint-edge.toml"
        path.write_text(appliance_config([self.lane], broker.port, "5", tmp_path / "state", key_file))
        self.config = load_config(path)
        self.pseudonymiser = Pseudonymiser.from_file(key_file)
        topic = f"checkpoint/v1/{self.config.site_id}/{self.config.device_id}/alert"
        self.central = Central(broker.port, topic)
        self.service = Service(self.config)
        self.service.start()

    def clock(self) -> float:
        return time.monotonic() - self.t0

    def wait_scene_end(self) -> None:
        while self.clock() < self.passengers[-1].leave_s + 0.5:
            time.sleep(0.05)

    def close(self) -> None:
        self.service.stop()
        self.central.close()
        self.lane.stop()


def test_febrile_passengers_alerted_with_their_id_and_nobody_else(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    passengers = script_scene(count=8, febrile=(2, 5), key_region=())
    rig = Checkpoint(tmp_path, mosquitto, passengers)
    try:
        rig.wait_scene_end()
        alerts = rig.central.wait_for(2, timeout_s=15)
        time.sleep(1.5)  # any unexpected alert would arrive by now
        alerts = rig.central.messages
    finally:
        rig.close()

    febrile = [passengers[2], passengers[5]]
    assert len(alerts) == 2, [a["identity"] for a in alerts]
    by_hmac = {a["identity"]["id_hmac"]: a for a in alerts}
    for p in febrile:
        alert = by_hmac[rig.pseudonymiser.pseudonymise(p.id_number)]
        assert alert["category"] == "medical_referral"
        assert [r["code"] for r in alert["reasons"]] == ["fever"]
        assert alert["temperature"]["status"] == "elevated"
        assert alert["temperature"]["core_c"] >= 37.3
        assert alert["temperature"]["skin_c"] == pytest.approx(p.skin_max_c, abs=0.1)
        identity = alert["identity"]
        assert identity["doc_type"] == "cn_resident_id" and identity["valid"] is True
        assert identity["region"] == p.id_number[:6]
        assert identity["id_masked"] == p.id_number[:6] + "*" * 10 + p.id_number[-2:]
        assert p.id_number not in json.dumps(alert)  # the number never leaves in clear
        assert "name" not in identity  # not allowed by the default policy
    assert rig.service.totals["screened"] == 8
    assert sorted(a["seq"] for a in alerts) == [1, 2]


def test_alerts_survive_a_broker_outage(tmp_path: Path, persistent_mosquitto: Mosquitto) -> None:
    passengers = script_scene(count=10, febrile=tuple(range(10)), key_region=())
    rig = Checkpoint(tmp_path, persistent_mosquitto, passengers)
    try:
        rig.central.wait_for(1, timeout_s=15)
        persistent_mosquitto.stop()
        outage_started = rig.clock()
        time.sleep(4.0)  # about three passengers are screened while the broker is down
        produced_during_outage = rig.service.totals["alerts"]
        persistent_mosquitto.start()
        rig.wait_scene_end()
        alerts = rig.central.wait_for(10, timeout_s=30)
    finally:
        rig.close()

    assert outage_started < passengers[-1].arrive_s
    assert produced_during_outage >= 3
    ids = [a["message_id"] for a in alerts]
    assert len(set(ids)) == 10, f"received {len(set(ids))} distinct alerts of 10"
    expected = {rig.pseudonymiser.pseudonymise(p.id_number) for p in passengers}
    assert {a["identity"]["id_hmac"] for a in alerts} == expected
