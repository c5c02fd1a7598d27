"""Presence (Sparkplug/Frigate style): a retained birth "online" on `…/status` after each CONNACK, a retained
last will "offline", a retained "stopped" on clean exit; the status is republished when a device, a lane,
the rule lists or the outbox changes state. A heartbeat carries liveness and outbox depth. Payloads come from
the contract's builders; `seq` from the outbox."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

import edge
from edge.contract import Presence, build_heartbeat, build_status
from edge.outbox import Outbox, encode_payload
from edge.uplink.paho_glue import Connection, PublishProperties
from edge.uplink.settings import BrokerSettings

log = logging.getLogger("edge.uplink")


def status_signature(provided: dict[str, Any], outbox_health: dict[str, Any]) -> str:
    """What makes a status worth republishing: states, not counters (a frame count changes every frame)."""
    relevant = {
        "devices": {
            name: info.get("state") if isinstance(info, dict) else info
            for name, info in dict(provided.get("devices") or {}).items()
        },
        # Lane state and reason only: a blackbody offset or warm-up countdown changes every frame.
        "lanes": {
            name: {"state": info.get("state"), "reason": info.get("reason")}
            if isinstance(info, dict)
            else info
            for name, info in dict(provided.get("lanes") or {}).items()
        },
        # A refused list update or a withheld identity is news for the centre, so are faults survived.
        "rule_lists": {
            key: (provided.get("rule_lists") or {}).get(key)
            for key in ("version", "rejected", "watch_entries_ignored", "trust_problem")
        },
        "privacy": (provided.get("privacy") or {}).get("problem"),
        # Faults survived, but not dropped frames: under load those change every second.
        "counters": {
            key: value for key, value in dict(provided.get("counters") or {}).items() if key != "lanes"
        }
        | {
            f"worker_errors.{lane}": dict(counts).get("worker_errors")
            for lane, counts in dict((provided.get("counters") or {}).get("lanes") or {}).items()
        },
        "config_hash": provided.get("config_hash"),
        "disk_state": outbox_health["disk_state"],
        "dropped": outbox_health["dropped"],
        "in_memory_only": bool(outbox_health["in_memory_only"]),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


class PresenceReporter:
    def __init__(
        self,
        settings: BrokerSettings,
        outbox: Outbox,
        site_id: str,
        device_id: str,
        status_provider: Callable[[], dict[str, Any]] | None,
        properties: PublishProperties,
        topic: Callable[[str], str],
    ) -> None:
        self.settings, self.outbox = settings, outbox
        self.site_id, self.device_id = site_id, device_id
        self.status_provider = status_provider
        self.properties, self.topic = properties, topic
        self.boot_id = str(uuid.uuid4())
        self._started_mono = time.monotonic()
        self._last_signature: str | None = None
        self.pending_status_mids: set[int] = set()
        self._status_checked_mono = 0.0
        self._next_heartbeat_mono = 0.0

    def _props(self, kind: str, expiry_s: int | None = None) -> Any:
        return self.properties.get(kind, expiry_s) if self.settings.protocol == "5" else None

    def _device_status(self) -> dict[str, Any]:
        if self.status_provider is None:
            return {}
        try:
            return dict(self.status_provider())
        except Exception as error:
            log.exception("uplink: status provider failed")
            return {"status_provider_error": type(error).__name__}

    def status_payload(self, state: Presence) -> dict[str, Any]:
        """A stamped status payload (the last will is built with it too)."""
        payload = build_status(
            self.site_id,
            self.device_id,
            state,
            boot_id=self.boot_id,
            software_version=edge.__version__,
            outbox=self.outbox.health(),
            provided=self._device_status(),
        )
        return self.outbox.stamp("status", payload)

    def will(self) -> tuple[str, bytes, Any]:
        """(topic, payload, properties) of the retained last will "offline"."""
        return (
            self.topic("status"),
            encode_payload(self.status_payload(Presence.OFFLINE)),
            self._props("status"),
        )

    def connected(self, conn: Connection) -> None:
        """After a CONNACK: the birth, and the heartbeat clock restarted."""
        self.pending_status_mids = set()
        self.publish_status(conn, Presence.ONLINE)
        self._next_heartbeat_mono = time.monotonic() + self.settings.heartbeat_interval_s

    def publish_status(self, conn: Connection, state: Presence) -> int | None:
        payload = self.status_payload(state)
        info = conn.client.publish(
            self.topic("status"),
            encode_payload(payload),
            qos=1,
            retain=True,
            properties=self._props("status"),
        )
        self._last_signature = status_signature(self._device_status(), self.outbox.health())
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.pending_status_mids.add(info.mid)
            return info.mid
        return None

    def publish_heartbeat(self, conn: Connection) -> None:
        payload = self.outbox.stamp(
            "heartbeat",
            build_heartbeat(
                self.site_id,
                self.device_id,
                boot_id=self.boot_id,
                started_mono=self._started_mono,
                outbox_health=self.outbox.health(),
            ),
        )
        props = self._props("heartbeat", int(self.settings.heartbeat_interval_s * 3))
        conn.client.publish(self.topic("heartbeat"), encode_payload(payload), qos=0, properties=props)

    def periodic(self, conn: Connection, now: float) -> None:
        if now >= self._next_heartbeat_mono:
            self._next_heartbeat_mono = now + self.settings.heartbeat_interval_s
            self.publish_heartbeat(conn)
        if now - self._status_checked_mono >= 1.0:
            self._status_checked_mono = now
            if self.outbox.disk_state != "ok":
                self.outbox.retry_disk()
            if status_signature(self._device_status(), self.outbox.health()) != self._last_signature:
                self.publish_status(conn, Presence.ONLINE)
