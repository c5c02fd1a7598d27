"""A multi-lane simulated checkpoint for the real Service, and a subscriber standing in for the centre."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.central import CentralSubscriber
from edge.config import AppConfig, load_config
from edge.contract import validate_message
from edge.list_signing import sign
from edge.privacy import Pseudonymiser
from edge.simulation import ScriptedPassenger, SimulatedLane, appliance_config


class CentralSystem:
    """Subscribes to everything the site publishes; validates every message against its schema."""

    def __init__(self, port: int, site_id: str, persistent: bool = False) -> None:
        """persistent: keep the session at the broker, so what is published while we are away still arrives."""
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.cond = threading.Condition()
        self.subscriber = CentralSubscriber(
            port, f"checkpoint/v2/devices/{site_id}/#", self._on_message, persistent=persistent
        )

    def _on_message(self, topic: str, body: bytes, retained: bool) -> None:
        if topic.endswith("/lists"):
            return
        kind, payload = validate_message(topic, body)
        with self.cond:
            self.messages.append((kind, payload, retained))
            self.cond.notify_all()

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.cond:
            return [p for k, p, _ in self.messages if k == kind]

    def wait_until(self, predicate: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while not predicate():
                if time.monotonic() >= deadline:
                    return False
                self.cond.wait(0.1)
            return True

    def close(self) -> None:
        self.subscriber.close()


class SimulatedCheckpoint:
    """Several simulated lanes sharing one scene clock, and the configuration pointing at them."""

    def __init__(
        self,
        tmp_path: Path,
        broker_port: int,
        scenes: list[list[ScriptedPassenger]],
        rules_extra: str = "",
        screening_extra: str = "",
        flow: str = "card_while_in_view",
        card_offset_s: tuple[float, float] | None = (-0.3, 0.3),
    ) -> None:
        """flow, card_offset_s: every lane's configured flow (edge.simulation.SimulatedLane)."""
        self.t0 = time.monotonic() + 1.0
        self.scenes = scenes
        self.key_file = tmp_path / "site.key"
        self.key_file.write_bytes(os.urandom(32))
        self.key_file.chmod(0o600)
        self.pseudonymiser = Pseudonymiser.from_file(self.key_file)
        centre_key = write_centre_public_key(tmp_path / "centre-lists.pub")
        rules_extra = f'lists_public_key_file = "{centre_key}"\n' + rules_extra
        self.lanes = [
            SimulatedLane(f"lane-{i + 1}", scene, tmp_path, self.clock, flow, card_offset_s).start()
            for i, scene in enumerate(scenes)
        ]
        self.config_path = tmp_path / "checkpoint-edge.toml"
        self.config_path.write_text(
            appliance_config(
                self.lanes, broker_port, "5", tmp_path / "state", self.key_file, screening_extra, rules_extra
            )
        )

    @property
    def config(self) -> AppConfig:
        return load_config(self.config_path)

    def clock(self) -> float:
        return time.monotonic() - self.t0

    def wait_scene_end(self, extra_s: float = 0.5) -> None:
        end = max(p.leave_s for scene in self.scenes for p in scene)
        while self.clock() < end + extra_s:
            time.sleep(0.05)

    def close(self) -> None:
        for lane in self.lanes:
            lane.stop()


# The centre's list-signing key for every test of this session (tests sign what they publish with it).
CENTRE_LISTS_KEY = Ed25519PrivateKey.generate()


def write_centre_public_key(path: Path) -> Path:
    path.write_bytes(
        CENTRE_LISTS_KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def signed_lists(
    version: int,
    key_regions: list[dict[str, Any]],
    watch: list[str],
    key: Ed25519PrivateKey = CENTRE_LISTS_KEY,
) -> bytes:
    body = {"version": version, "key_regions": key_regions, "watch_list": [{"id_hmac": h} for h in watch]}
    return json.dumps(sign(body, key), separators=(",", ":")).encode()


def write_lists(path: Path, version: int, key_regions: list[dict[str, Any]], watch: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(signed_lists(version, key_regions, watch))
    tmp.replace(path)
