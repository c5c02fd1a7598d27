"""What the uplink needs around paho-mqtt: its error log captured, PUBLISH properties packed once, and
one record per connection attempt."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.contract import SCHEMA_NAMES, SCHEMA_VERSION
from edge.uplink.settings import BrokerEndpoint, BrokerSettings


class PahoErrorLog(logging.Logger):
    """Receives paho's ERROR lines only (socket/TLS failures) and keeps the last one per connection."""

    def __init__(self, sink: dict[int, str], generation: int) -> None:
        super().__init__("edge.uplink.paho", logging.ERROR)
        self.propagate = False
        self._sink = sink
        self._generation = generation

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        # paho logs every packet at DEBUG; the inherited check costs more per PUBACK than this one.
        if level >= logging.ERROR:
            super().log(level, msg, *args, **kwargs)

    def handle(self, record: logging.LogRecord) -> None:
        self._sink[self._generation] = record.getMessage().removeprefix("failed to receive on socket: ")


class PackedProperties(Properties):
    """PUBLISH properties encoded once: paho re-encodes (and formats for its debug log) on every publish,
    which cost more CPU per alert than the rest of the uplink together."""

    _packed: bytes | None = None
    _text: str | None = None

    def freeze(self) -> PackedProperties:
        # Properties.__setattr__ accepts only MQTT property names.
        object.__setattr__(self, "_packed", bytes(super().pack()))
        object.__setattr__(self, "_text", super().__str__())
        return self

    def pack(self) -> bytes:
        return self._packed if self._packed is not None else bytes(super().pack())

    def __str__(self) -> str:
        return self._text if self._text is not None else super().__str__()


@dataclass
class Connection:
    """One attempt's client and what is in flight on it; a new one per (re)connect."""

    generation: int
    endpoint_index: int
    client: mqtt.Client
    connected: bool = False
    sent_upto_row_id: int = 0


class PublishProperties:
    """MQTT 5 PUBLISH properties per (kind, expiry): the schema as user properties, content type, expiry."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int | None], Properties] = {}

    def get(self, kind: str, expiry_s: int | None = None) -> Properties:
        key = (kind, None if expiry_s is None else max(1, int(expiry_s)))
        cached = self._cache.get(key)
        if cached is None:
            props = PackedProperties(PacketTypes.PUBLISH)
            props.UserProperty = [("schema", SCHEMA_NAMES[kind]), ("schema_version", str(SCHEMA_VERSION))]
            props.ContentType = "application/json"
            if key[1] is not None:
                props.MessageExpiryInterval = key[1]
            cached = props.freeze()
            if len(self._cache) > 256:  # statistics' expiries vary; keep the cache bounded
                self._cache.clear()
            self._cache[key] = cached
        return cached


def new_client(
    settings: BrokerSettings,
    client_id: str,
    tls_context: ssl.SSLContext | None,
    password: str | None,
    will: tuple[str, bytes, Any],
    record: Callable[[tuple[Any, ...]], None],
    error_log: PahoErrorLog,
    generation: int,
) -> mqtt.Client:
    """A fresh paho client for one connection attempt; its callbacks only record events for the worker."""
    v5 = settings.protocol == "5"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else False,
    )
    client.max_inflight_messages_set(settings.inflight_window)
    client.max_queued_messages_set(0)
    if tls_context is not None:
        client.tls_set_context(tls_context)
    if settings.username is not None:
        client.username_pw_set(settings.username, password)
    will_topic, will_payload, will_props = will
    client.will_set(will_topic, will_payload, qos=1, retain=True, properties=will_props)

    def on_connect(_c: Any, _u: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        record(("connack", generation, reason_code))

    def on_disconnect(_c: Any, _u: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        record(("disconnect", generation, reason_code))

    def on_publish(_c: Any, _u: Any, mid: int, reason_code: Any, _props: Any) -> None:
        record(("puback", generation, mid, reason_code))

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        record(("message", generation, message.topic, bytes(message.payload)))

    # paho reports socket and TLS errors only through its log before returning "connection lost". A logger at
    # ERROR level rather than `on_log`: with `on_log` set paho formats every debug line of every PUBLISH and
    # PUBACK, a large share of the uplink's CPU time.
    client.enable_logger(error_log)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_publish = on_publish
    client.on_message = on_message
    return client


def connect(client: mqtt.Client, endpoint: BrokerEndpoint, settings: BrokerSettings) -> None:
    """TCP (+ TLS) connect and CONNECT; MQTT 5 keeps the session on the broker (`session_expiry_s`)."""
    if settings.protocol != "5":
        client.connect(endpoint.host, endpoint.port, settings.keepalive_s)
        return
    connect_props = Properties(PacketTypes.CONNECT)
    connect_props.SessionExpiryInterval = settings.session_expiry_s
    client.connect(
        endpoint.host, endpoint.port, settings.keepalive_s, clean_start=False, properties=connect_props
    )
