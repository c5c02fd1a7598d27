"""Replaceable rule lists: validated before use, swapped whole, the previous kept on a bad update."""

from __future__ import annotations

import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge.rule_lists import RuleListStore
from edge.rules import KeyRegion
from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import CentralSystem, SimulatedCheckpoint, write_lists
from tests.fakes.mosquitto import Mosquitto

HMAC = "k1:" + "ab" * 32


def test_file_update_applies_and_bad_file_keeps_previous(tmp_path: Path) -> None:
    lists = tmp_path / "lists.json"
    write_lists(lists, "v1", [{"prefix": "4201"}], [HMAC])
    store = RuleListStore([KeyRegion(prefix="9900")], lists)
    assert store.active.version == "v1"
    assert [k.prefix for k in store.active.key_regions] == ["4201"]
    assert store.active.watch_actions == {HMAC: "hold"}

    lists.write_text('{"version": "v2", "watch_list": [{"id_hmac": "not-a-pseudonym"}]}')
    time.sleep(0.01)
    store.poll_file()
    assert store.active.version == "v1"  # refused whole: nothing of v2 applies
    assert "watch_list.0.id_hmac" in (store.last_rejection or "")

    write_lists(lists, "v3", [], [])
    store.poll_file()
    assert store.active.version == "v3" and store.active.key_regions == ()
    assert store.status()["rejected"] == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"key_regions": []}', "version"),
        (b'{"version": "x", "key_regions": [{"prefix": "12ab"}]}', "key_regions.0.prefix"),
        (
            b'{"version": "x", "watch_list": [{"id_hmac": "' + HMAC.encode() + b'", "action": "shoot"}]}',
            "action",
        ),
        (b'{"version": "x", "extra": 1}', "extra"),
    ],
)
def test_malformed_updates_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    store = RuleListStore([KeyRegion(prefix="9900")])
    assert store.apply(raw, "mqtt") is False
    assert reason in (store.last_rejection or "")
    assert store.active.version == "config" and store.active.key_regions[0].prefix == "9900"


@pytest.mark.slow
def test_retained_list_update_from_the_centre(tmp_path: Path, mosquitto: Mosquitto) -> None:
    scene = script_scene(count=12, febrile=(), key_region=())
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [scene])
    centre = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="centre-lists", protocol=mqtt.MQTTv5)
    centre.connect("127.0.0.1", mosquitto.port)
    centre.loop_start()
    watched = scene[8].id_number
    update = {
        "version": "2026-11-23.7",
        "key_regions": [],
        "watch_list": [{"id_hmac": rig.pseudonymiser.pseudonymise(watched), "action": "hold"}],
    }
    centre.publish(
        "checkpoint/v1/demo-station/lists", json.dumps(update), qos=1, retain=True
    ).wait_for_publish(5)
    central = CentralSystem(mosquitto.port, "demo-station")
    service = Service(rig.config)
    service.start()
    try:
        assert central.wait_until(
            lambda: any(
                (s.get("rule_lists") or {}).get("version") == "2026-11-23.7"
                for s in central.of_kind("status")
            ),
            timeout_s=10,
        )
        # A malformed update is refused and the applied version stays in force.
        centre.publish(
            "checkpoint/v1/demo-station/lists", b'{"version": 7}', qos=1, retain=True
        ).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while service.rule_lists.status()["rejected"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.rule_lists.status()["version"] == "2026-11-23.7"
        assert "version" in (service.rule_lists.status()["last_rejection"] or "")
        rig.wait_scene_end()
        assert central.wait_until(lambda: len(central.of_kind("alert")) >= 1, timeout_s=10)
        time.sleep(1.0)
    finally:
        service.stop()
        central.close()
        centre.loop_stop()
        rig.close()
    alerts = central.of_kind("alert")
    assert [(a["category"], a["identity"]["id_hmac"]) for a in alerts] == [
        ("hold", rig.pseudonymiser.pseudonymise(watched))
    ]
