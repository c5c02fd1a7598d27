"""Must show 2: the ACL in docs/mosquitto.md, run by a real Mosquitto, cannot be escaped.

A device named `lists` cannot change any site's lists; a device cannot publish under another site or another
device, nor read others' messages; a signed list from the centre applies and a replayed older one does not.
Identities are user names and passwords here (the same `%u` as a certificate CN under mutual TLS).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from edge.contract.topics import broker_identity, device_topic, lists_topic
from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import SimulatedCheckpoint, signed_lists
from tests.fakes.mosquitto import Mosquitto, make_world_readable, mosquitto_available

REPO = Path(__file__).resolve().parents[2]
PREFIX = "checkpoint/v2"
USERS = {
    "centre": "centre-secret",
    "bj-south/gate-03": "gate-03-secret",
    "bj-south/lists": "lists-secret",  # a device whose id is `lists` (the appliance itself refuses such an id)
    "sh-north/gate-07": "gate-07-secret",
    "demo-station/gate-01": "rig-secret",  # the simulated checkpoint's identity
}


def documented_acl() -> str:
    blocks = re.findall(
        r"```conf\n(.*?)```", (REPO / "docs" / "mosquitto.md").read_text(encoding="utf-8"), re.S
    )
    return next(b for b in blocks if b.startswith("# /etc/mosquitto/acl"))


@pytest.fixture(scope="module")
def acl_broker() -> Iterator[Mosquitto]:
    if not mosquitto_available() or shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto and mosquitto_passwd are needed (apt-get install mosquitto mosquitto-clients)")
    broker = Mosquitto(
        listener_config="allow_anonymous false\npassword_file {workdir}/passwd\nacl_file {workdir}/acl\n"
    )
    (broker.workdir / "acl").write_text(documented_acl())
    passwd = broker.workdir / "passwd"
    passwd.touch()
    for user, password in USERS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    make_world_readable(broker.workdir)
    broker.start()
    yield broker
    broker.close()


class Client:
    """A paho MQTT 5 client that records what it receives and the reason code of each PUBACK."""

    def __init__(self, port: int, user: str, client_id: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.acks: dict[int, ReasonCode] = {}
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, USERS[user])
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.received.append((msg.topic, msg.payload))
            self.cond.notify_all()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: ReasonCode, _p: object) -> None:
        with self.cond:
            self.acks[mid] = reason
            self.cond.notify_all()

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        time.sleep(0.3)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        with self.cond:
            assert self.cond.wait_for(lambda: info.mid in self.acks, 5), f"no PUBACK for {topic}"
            return self.acks[info.mid]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


NOT_AUTHORIZED = 135


def test_a_device_named_lists_cannot_change_any_sites_lists(acl_broker: Mosquitto) -> None:
    centre = Client(acl_broker.port, "centre", "centre-1")
    rogue = Client(acl_broker.port, "bj-south/lists", "rogue")
    try:
        centre.subscribe(f"{PREFIX}/lists/#")
        for site in ("bj-south", "sh-north"):
            assert (
                rogue.publish(lists_topic(PREFIX, site), b'{"version": 999}', retain=True) == NOT_AUTHORIZED
            )
        assert (
            rogue.publish(f"{PREFIX}/bj-south/lists", b"{}") == NOT_AUTHORIZED
        )  # the v1 place: nothing there
        time.sleep(0.5)
        assert centre.received == []
    finally:
        rogue.close()
        centre.close()


def test_a_device_writes_only_its_own_subtree_and_reads_no_ones_messages(acl_broker: Mosquitto) -> None:
    centre = Client(acl_broker.port, "centre", "centre-2")
    gate03 = Client(acl_broker.port, "bj-south/gate-03", "gate-03")
    gate07 = Client(acl_broker.port, "sh-north/gate-07", "gate-07")
    try:
        centre.subscribe(f"{PREFIX}/devices/#")
        gate03.subscribe(f"{PREFIX}/devices/#")  # allowed to ask, never given anything
        own = device_topic(PREFIX, "bj-south", "gate-03", "alert")
        assert gate03.publish(own, b"own").value < 128  # accepted (0, or 16: no subscriber yet)
        for foreign in (
            device_topic(PREFIX, "sh-north", "gate-03", "alert"),  # same device id, another site
            device_topic(PREFIX, "sh-north", "gate-07", "alert"),  # another site's device
            device_topic(PREFIX, "bj-south", "gate-04", "alert"),  # another device of its own site
        ):
            assert gate03.publish(foreign, b"forged") == NOT_AUTHORIZED, foreign
        assert (
            gate07.publish(device_topic(PREFIX, "sh-north", "gate-07", "alert"), b"theirs").value < 128
        )  # accepted (0, or 16: no subscriber yet)
        with centre.cond:
            assert centre.cond.wait_for(lambda: len(centre.received) >= 2, 5)
        time.sleep(0.5)
        assert sorted(p for _t, p in centre.received) == [b"own", b"theirs"]
        assert gate03.received == []  # not even its own: appliances read lists only
    finally:
        for client in (gate07, gate03, centre):
            client.close()


@pytest.mark.slow
def test_signed_lists_from_the_centre_apply_and_a_replayed_older_one_does_not(
    acl_broker: Mosquitto, tmp_path: Path
) -> None:
    rig = SimulatedCheckpoint(tmp_path, acl_broker.port, [script_scene(count=2)])
    password = tmp_path / "mqtt-password"
    password.write_text(USERS["demo-station/gate-01"])
    password.chmod(0o600)
    text = rig.config_path.read_text().replace(
        "[broker]\n",
        f'[broker]\nusername = "{broker_identity("demo-station", "gate-01")}"\npassword_file = "{password}"\n'
        f'topic_prefix = "{PREFIX}"\n',
        1,
    )
    rig.config_path.write_text(text)
    centre = Client(acl_broker.port, "centre", "centre-3")
    topic = lists_topic(PREFIX, "demo-station")
    older = signed_lists(20261201, [{"prefix": "4201"}], [])
    newer = signed_lists(20261202, [{"prefix": "4202"}], [])
    assert centre.publish(topic, older, retain=True).value < 128  # accepted (0, or 16: no subscriber yet)
    centre.subscribe(f"{PREFIX}/devices/demo-station/#")
    service = Service(rig.config)
    service.start()

    def lists_version() -> str:
        return str(service.rule_lists.status()["version"])

    def wait_for(predicate: object, timeout_s: float = 15) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return True
            time.sleep(0.05)
        return False

    try:
        assert wait_for(lambda: lists_version() == "20261201")  # the retained list, through the ACL
        assert centre.publish(topic, newer, retain=True).value < 128  # accepted (0, or 16: no subscriber yet)
        assert wait_for(lambda: lists_version() == "20261202")
        assert centre.publish(topic, older, retain=True) == 0  # a replay of the older document
        assert wait_for(lambda: service.rule_lists.status()["rejected"] == 1)
        assert lists_version() == "20261202"
        assert "older than version 20261202" in str(service.rule_lists.status()["last_rejection"])
        # The appliance's own messages pass the ACL: its status reaches the centre.
        assert wait_for(lambda: any(t.endswith("/demo-station/gate-01/status") for t, _p in centre.received))
    finally:
        service.stop()
        centre.close()
        rig.close()
