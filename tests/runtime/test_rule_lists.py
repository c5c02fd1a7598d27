"""Rule lists: signed by the centre, versions only go up, capped, validated whole, the previous kept otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.list_signing import canonical_bytes, sign
from edge.rule_lists import MAX_DOCUMENT_BYTES, MAX_KEY_REGIONS, MAX_WATCH_ENTRIES, RuleListStore
from edge.rules import KeyRegion
from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import (
    CENTRE_LISTS_KEY,
    CentralSystem,
    SimulatedCheckpoint,
    signed_lists,
    write_lists,
)
from tests.fakes.mosquitto import Mosquitto

HMAC = "k1:" + "ab" * 32
TRUSTED = {
    key_id: key
    for key_id, key in [(sign({}, CENTRE_LISTS_KEY)["signature"]["key_id"], CENTRE_LISTS_KEY.public_key())]
}


def store(**kwargs: object) -> RuleListStore:
    return RuleListStore(
        [KeyRegion(prefix="9900")],
        trusted_keys=TRUSTED,
        held_key_ids=frozenset({"k1"}),
        **kwargs,  # type: ignore[arg-type]
    )


def signed(body: object, key: Ed25519PrivateKey = CENTRE_LISTS_KEY) -> bytes:
    return json.dumps(sign(body, key), separators=(",", ":")).encode()


def test_file_update_applies_and_bad_file_keeps_previous(tmp_path: Path) -> None:
    lists = tmp_path / "lists.json"
    write_lists(lists, 1, [{"prefix": "4201"}], [HMAC])
    lists_store = store(lists_file=lists)
    assert lists_store.active.version == 1
    assert [k.prefix for k in lists_store.active.key_regions] == ["4201"]
    assert lists_store.active.watch_actions == {HMAC: "hold"}

    lists.write_bytes(signed({"version": 2, "watch_list": [{"id_hmac": "not-a-pseudonym"}]}))
    time.sleep(0.01)
    lists_store.poll_file()
    assert lists_store.active.version == 1  # refused whole: nothing of version 2 applies
    assert "watch_list.0.id_hmac" in (lists_store.last_rejection or "")

    write_lists(lists, 3, [], [])
    lists_store.poll_file()
    assert lists_store.active.version == 3 and lists_store.active.key_regions == ()
    assert lists_store.status()["rejected"] == 1


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (deep(100_000), "nested too deeply"),
        (b'{"lists": ' + deep(100_000) + b', "signature": {}}', "nested too deeply"),
        (b'{"version": "x"}', "not a signed list document"),  # the old unsigned wipe
        (b'{"version": 9, "key_regions": [], "watch_list": []}', "not a signed list document"),
        (signed({"key_regions": []}), "version"),
        (signed({"version": "x"}), "version"),
        (signed({"version": 4, "key_regions": [{"prefix": "12ab"}]}), "key_regions.0.prefix"),
        (signed({"version": 4, "watch_list": [{"id_hmac": HMAC, "action": "shoot"}]}), "action"),
        (signed({"version": 4, "extra": 1}), "extra"),
        (signed({"version": 4}, Ed25519PrivateKey.generate()), "does not trust"),
        (b" " * (MAX_DOCUMENT_BYTES + 1), "larger than"),
    ],
)
def test_hostile_and_malformed_updates_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    lists_store = store()
    assert lists_store.apply(raw, "mqtt") is False
    assert reason in (lists_store.last_rejection or "")
    assert lists_store.status()["rejected"] == 1
    assert lists_store.active.version == 0 and lists_store.active.key_regions[0].prefix == "9900"


def test_a_tampered_document_fails_its_signature() -> None:
    document = sign({"version": 5, "watch_list": [{"id_hmac": HMAC}]}, CENTRE_LISTS_KEY)
    document["lists"]["watch_list"] = []  # someone on the path empties the watch list
    lists_store = store()
    assert lists_store.apply(json.dumps(document).encode(), "mqtt") is False
    assert "bad signature" in (lists_store.last_rejection or "")


def test_without_a_trusted_key_every_update_is_refused() -> None:
    lists_store = RuleListStore([KeyRegion(prefix="9900")], trusted_keys={}, trust_problem="file gone")
    assert lists_store.apply(signed_lists(1, [], [HMAC]), "mqtt") is False
    assert "file gone" in (lists_store.last_rejection or "")


def test_versions_only_go_up_and_a_replay_never_rolls_back(tmp_path: Path) -> None:
    state = tmp_path / "lists.applied.json"
    lists_store = store(state_file=state)
    v5 = signed_lists(5, [{"prefix": "4201"}], [HMAC])
    assert lists_store.apply(v5, "mqtt")
    assert lists_store.apply(v5, "mqtt")  # the retained message again after a reconnect: a no-op
    assert lists_store.status()["rejected"] == 0
    assert not lists_store.apply(signed_lists(3, [], []), "mqtt")
    assert "older than version 5" in (lists_store.last_rejection or "")
    assert not lists_store.apply(signed_lists(5, [], []), "mqtt")
    assert "already in force" in (lists_store.last_rejection or "")
    assert lists_store.active.watch_actions == {HMAC: "hold"}

    # After a restart the remembered version still wins over an older file or retained message.
    old_file = tmp_path / "lists.json"
    write_lists(old_file, 4, [], [])
    restarted = store(state_file=state, lists_file=old_file)
    assert restarted.active.version == 5 and restarted.active.watch_actions == {HMAC: "hold"}
    assert restarted.status()["rejected"] == 1
    assert "older than version 5" in (restarted.last_rejection or "")


def test_entries_under_a_key_the_appliance_does_not_hold_are_counted_not_matched() -> None:
    foreign = "k2:" + "cd" * 32
    lists_store = store()
    assert lists_store.apply(signed_lists(1, [], [HMAC, foreign]), "mqtt")
    assert lists_store.active.watch_actions == {HMAC: "hold"}
    assert lists_store.status()["watch_entries_ignored"] == 1
    keyless = RuleListStore([], trusted_keys=TRUSTED, held_key_ids=frozenset())
    assert keyless.apply(signed_lists(1, [], [HMAC]), "mqtt")
    assert keyless.status()["watch_list"] == 0 and keyless.status()["watch_entries_ignored"] == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"version": 1, "watch_list": [{"id_hmac": HMAC}] * (MAX_WATCH_ENTRIES + 1)}, "watch_list"),
        ({"version": 1, "key_regions": [{"prefix": "11"}] * (MAX_KEY_REGIONS + 1)}, "key_regions"),
    ],
)
def test_lists_over_the_caps_are_rejected(body: dict[str, object], reason: str) -> None:
    raw = signed(body)
    assert len(raw) <= MAX_DOCUMENT_BYTES  # refused for its entry count, not its size
    lists_store = store()
    assert lists_store.apply(raw, "mqtt") is False
    assert reason in (lists_store.last_rejection or "") and "at most" in (lists_store.last_rejection or "")


def test_lists_cli_signs_and_verifies(tmp_path: Path) -> None:
    def cli(*args: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", "lists", *map(str, args)], capture_output=True, text=True
        )

    private, public = tmp_path / "centre.key", tmp_path / "centre.pub"
    made = cli("keygen", "--private", private, "--public", public)
    assert made.returncode == 0, made.stderr
    assert private.stat().st_mode & 0o777 == 0o600
    unsigned = tmp_path / "lists.json"
    unsigned.write_text(json.dumps({"version": 7, "key_regions": [{"prefix": "4201"}], "watch_list": []}))
    out = tmp_path / "lists.signed.json"
    assert cli("sign", unsigned, "--key", private, "--output", out).returncode == 0
    verified = cli("verify", out, "--public-key", public)
    assert verified.returncode == 0 and "version 7" in verified.stdout
    document = json.loads(out.read_bytes())
    assert document["signature"]["value"] and canonical_bytes(document["lists"])
    document["lists"]["version"] = 8
    out.write_text(json.dumps(document))
    forged = cli("verify", out, "--public-key", public)
    assert forged.returncode == 1 and "bad signature" in forged.stderr
    unsigned.write_text('{"version": "x"}')
    refused = cli("sign", unsigned, "--key", private)
    assert refused.returncode == 1 and "version" in refused.stderr


@pytest.mark.slow
def test_retained_list_update_from_the_centre(tmp_path: Path, mosquitto: Mosquitto) -> None:
    scene = script_scene(count=12, febrile=(), key_region=())
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [scene])
    centre = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="centre-lists", protocol=mqtt.MQTTv5)
    centre.connect("127.0.0.1", mosquitto.port)
    centre.loop_start()
    watched = scene[8].id_number
    topic = "checkpoint/v2/lists/demo-station"
    update = signed_lists(20261123, [], [rig.pseudonymiser.pseudonymise(watched)])
    centre.publish(topic, update, qos=1, retain=True).wait_for_publish(5)
    central = CentralSystem(mosquitto.port, "demo-station")
    service = Service(rig.config)
    service.start()

    def reported(predicate: object) -> bool:
        return central.wait_until(
            lambda: any(predicate(s.get("rule_lists") or {}) for s in central.of_kind("status")),  # type: ignore[operator]
            timeout_s=15,
        )

    try:
        assert reported(lambda lists: lists.get("version") == "20261123")
        # Hostile or stale updates are refused, counted and reported; the applied version stays in force.
        for bad in (deep(100_000), b'{"version": "x"}', signed_lists(20261122, [], [])):
            centre.publish(topic, bad, qos=1, retain=True).wait_for_publish(5)
        assert reported(lambda lists: lists.get("rejected") == 3)  # counted in the status message
        assert service.rule_lists.status()["version"] == "20261123"
        assert "older than" in (service.rule_lists.status()["last_rejection"] or "")
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
