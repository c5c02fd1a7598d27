"""Fixtures for the uplink tests: a real Mosquitto, a subscriber that validates every message, an outbox."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.contract import ContractError, validate_message
from edge.outbox import Outbox
from edge.uplink import BrokerSettings, Uplink
from tests.fakes.alerts import fever_alert
from tests.fakes.mosquitto import Mosquitto, mosquitto_available

SITE = "bj-south"
DEVICE = "gate-03"

# The test broker keeps sessions across restarts and never caps a session's queue: Mosquitto's default
# (max_queued_messages 1000) would silently drop what a briefly absent subscriber misses.
DURABLE_BROKER_CONFIG = (
    "persistence true\npersistence_location {workdir}/\nautosave_interval 5\nmax_queued_messages 0\n"
)


@dataclass
class Received:
    topic: str
    kind: str
    payload: dict[str, Any]
    retain: bool
    user_properties: dict[str, str]


@dataclass
class Collector:
    """A subscriber on its own persistent MQTT 5 session; every message is schema-checked on arrival."""

    messages: list[Received] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: mqtt.Client | None = None

    def on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = getattr(message, "properties", None)
        user_props = dict(getattr(props, "UserProperty", []) or [])
        try:
            kind, payload = validate_message(message.topic, bytes(message.payload))
        except ContractError as error:
            with self.lock:
                self.invalid.append(str(error))
            return
        with self.lock:
            self.messages.append(Received(message.topic, kind, payload, bool(message.retain), user_props))

    def of_kind(self, kind: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.kind == kind]

    def wait_for(self, predicate: Callable[[Collector], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)

    def assert_all_valid(self) -> None:
        assert not self.invalid, f"{len(self.invalid)} message(s) violate the contract: {self.invalid[:3]}"


def start_collector(
    port: int,
    topic: str = "checkpoint/v2/#",
    client_id: str = "centre-test",
    tls_kwargs: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
) -> Collector:
    collector = Collector()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    if tls_kwargs:
        client.tls_set(**tls_kwargs)
    client.on_message = collector.on_message
    subscribed = threading.Event()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            c.subscribe(topic, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *_args: subscribed.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.reconnect_delay_set(1, 2)
    client.connect(host, port, keepalive=30, clean_start=False, properties=props)
    client.loop_start()
    if not subscribed.wait(10):
        client.loop_stop()
        raise RuntimeError("test subscriber could not subscribe")
    collector.client = client
    return collector


def stop_collector(collector: Collector) -> None:
    if collector.client is not None:
        collector.client.disconnect()
        collector.client.loop_stop()


def alert_payload(n: int, lane_id: str = "lane-1", device_id: str = DEVICE) -> dict[str, Any]:
    """A schema-valid alert as the lane produces it (before the outbox adds message_id and seq)."""
    return fever_alert(SITE, device_id, lane_id, 1795435200.123, 1000.0 + n)


def stats_payload(n: int, device_id: str = DEVICE) -> dict[str, Any]:
    from edge.contract import LaneCounts, build_stats

    minute = f"2026-11-23T12:{n % 60:02d}:00.000Z"
    lanes = [LaneCounts("lane-1", screened=40 + n % 7, normal=38, elevated=1, indeterminate=1, scans=39)]
    payload = build_stats(SITE, device_id, "minute", minute, minute, lanes)
    return payload


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    server = Mosquitto(DURABLE_BROKER_CONFIG)
    server.start()
    yield server
    server.close()


@pytest.fixture
def collector(broker: Mosquitto) -> Iterator[Collector]:
    subscriber = start_collector(broker.port)
    yield subscriber
    stop_collector(subscriber)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox" / "outbox.db")
    yield box
    box.close()


def fast_settings(port: int, **overrides: Any) -> BrokerSettings:
    values: dict[str, Any] = {"port": port, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5}
    values.update(overrides)
    return BrokerSettings(**values)


@pytest.fixture
def make_uplink() -> Iterator[Callable[..., Uplink]]:
    started: list[Uplink] = []

    def make(settings: BrokerSettings, box: Outbox, device_id: str = DEVICE, **kwargs: Any) -> Uplink:
        uplink = Uplink(settings, box, SITE, device_id, **kwargs)
        uplink.start()
        started.append(uplink)
        return uplink

    yield make
    for uplink in started:
        uplink.stop(timeout_s=3)
    for uplink in started:  # then their outboxes: each has a writer thread (closing twice is harmless)
        uplink.outbox.close()


@pytest.fixture(autouse=True)
def no_leaked_uplink_threads() -> Iterator[None]:
    """Every test stops what it starts (pymodbus habit): a leaked worker would publish into the next test."""
    yield
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        leaked = [t.name for t in threading.enumerate() if t.name == "uplink" and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.05)
    pytest.fail(f"uplink worker thread(s) still running after the test: {leaked}")


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system, so 'disk full' and 'read-only' are the kernel's, not a mock's."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill_file_system(directory: Path) -> Path:
    """Write a file until the file system refuses: the disk is then really full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def dump(messages: list[Received]) -> str:
    return json.dumps([m.payload for m in messages[:3]], indent=1)
