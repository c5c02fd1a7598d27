"""Publishes the outbox to the station's broker: in order, at QoS 1, a row deleted only on its PUBACK.

One worker thread owns everything: the paho client (driven through paho's external-loop API, so paho's
callbacks run in this thread and only append to a list), every `publish()` call and every outbox read or
delete. Lanes never wait for it: they commit a row and the outbox's listener wakes the worker through a
socket pair that sits in the same `select()` as the broker socket.

Why not paho's own machinery: its session lives in memory only, `on_publish` runs under an internal lock
(calling back into the client from there can deadlock), and `is_published()` raises for messages queued
while disconnected. So every connection starts from a fresh client, re-publishes the unacknowledged rows
from the outbox in order, and tracks acknowledgements by message id (mid → row id) per connection.

Presence (Sparkplug/Frigate style): a retained birth "online" on `…/status` after each CONNACK, a retained
last will "offline", a retained "stopped" on clean exit; the status is republished when a device or the
outbox changes state. A heartbeat carries liveness and outbox depth.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import select
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import Field, model_validator

import edge
from edge.contract import SCHEMA_NAMES, SCHEMA_VERSION, Presence, build_heartbeat, build_status
from edge.outbox import Outbox, OutboxRow, encode_payload
from edge.strict import StrictModel

log = logging.getLogger(__name__)


class BrokerEndpoint(StrictModel):
    host: str = Field(
        ..., min_length=1, description="Broker host name (must match its certificate under TLS)."
    )
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port (8883 is usual for TLS).")


class TlsSettings(StrictModel):
    ca_file: Path = Field(..., description="CA certificate(s) that signed the broker's certificate (PEM).")
    cert_file: Path | None = Field(
        default=None, description="This device's client certificate (PEM), for mutual TLS."
    )
    key_file: Path | None = Field(default=None, description="The private key of `cert_file` (PEM).")

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file must be given together")
        return self


class BrokerSettings(StrictModel):
    host: str = Field(default="127.0.0.1", min_length=1, description="Primary broker host name.")
    port: int = Field(default=1883, ge=1, le=65535, description="Primary broker TCP port.")
    fallback_brokers: list[BrokerEndpoint] = Field(
        default_factory=list,
        max_length=8,
        description="Brokers tried in order when the primary is unreachable; the uplink returns to the "
        "primary as soon as it accepts connections again.",
    )
    primary_retry_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="While on a fallback broker, probe the primary this often, s.",
    )
    topic_prefix: str = Field(
        default="checkpoint/v1",
        pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$",
        description="Topics are {topic_prefix}/{site}/{device}/{alert|status|stats|heartbeat}.",
    )
    client_id: str | None = Field(
        default=None,
        max_length=64,
        description="MQTT client id; default '{site}-{device}' (stable, for the session).",
    )
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT protocol version; 5 adds PUBACK reason codes, message expiry, user properties.",
    )
    keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keepalive, s.")
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        le=7 * 86400,
        description="MQTT 5 session expiry: how long the broker keeps our session, s.",
    )
    connect_timeout_s: float = Field(
        default=5.0, gt=0.0, le=60.0, description="TCP + TLS connect timeout, s."
    )
    reconnect_min_s: float = Field(
        default=0.5, gt=0.0, le=60.0, description="First reconnect delay (backoff floor), s."
    )
    reconnect_max_s: float = Field(default=30.0, gt=0.0, le=600.0, description="Backoff ceiling, s.")
    inflight_window: int = Field(
        default=64, ge=1, le=1000, description="Most messages published and not yet acknowledged at once."
    )
    heartbeat_interval_s: float = Field(default=30.0, ge=1.0, le=3600.0, description="Heartbeat period, s.")
    stats_expiry_s: int = Field(
        default=3600,
        ge=60,
        le=7 * 86400,
        description="Statistics older than this are no longer worth sending (MQTT 5 message expiry), s.",
    )
    tls: TlsSettings | None = Field(
        default=None,
        description="TLS (hostname verification always on). Without it the connection is plaintext.",
    )
    username: str | None = Field(
        default=None,
        max_length=256,
        description="MQTT user name (with mutual TLS the broker may use the cert CN).",
    )
    password_file: Path | None = Field(
        default=None, description="File holding the MQTT password (never the config itself)."
    )

    @model_validator(mode="after")
    def _backoff_ordered(self) -> BrokerSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be ≥ reconnect_min_s")
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        return self

    def endpoints(self) -> list[BrokerEndpoint]:
        return [BrokerEndpoint(host=self.host, port=self.port), *self.fallback_brokers]


class UplinkConfigError(ValueError):
    """A configured file (CA, certificate, key, password) is missing or unusable; the message names it."""


def read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UplinkConfigError(f"{what} file {path} does not exist") from None
    except OSError as error:
        raise UplinkConfigError(f"{what} file {path} cannot be read: {error.strerror or error}") from None
    if not text:
        raise UplinkConfigError(f"{what} file {path} is empty")
    return text


def build_tls_context(tls: TlsSettings) -> ssl.SSLContext:
    """A client context that verifies the broker's chain and host name; errors name the file at fault."""
    for label, file in (
        ("CA", tls.ca_file),
        ("client certificate", tls.cert_file),
        ("client key", tls.key_file),
    ):
        if file is not None and not Path(file).is_file():
            raise UplinkConfigError(f"TLS {label} file {file} does not exist")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(tls.ca_file))
    except (ssl.SSLError, OSError) as error:
        raise UplinkConfigError(
            f"TLS CA file {tls.ca_file} is not a usable CA certificate: {error}"
        ) from None
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            context.load_cert_chain(certfile=str(tls.cert_file), keyfile=str(tls.key_file))
        except (ssl.SSLError, OSError) as error:
            raise UplinkConfigError(
                f"TLS client certificate {tls.cert_file} / key {tls.key_file} cannot be loaded: {error}"
            ) from None
    return context


def describe_connect_error(error: BaseException, endpoint: BrokerEndpoint, tls: bool) -> str:
    """One line a technician can act on."""
    where = f"{endpoint.host}:{endpoint.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS error with {where}: broker certificate rejected ({error.verify_message or error.reason})"
    if isinstance(error, ssl.SSLError):
        reason = error.reason or str(error)
        if "EXPIRED" in str(reason).upper():
            return f"TLS error with {where}: the broker rejected our client certificate as expired ({reason})"
        return f"TLS error with {where}: {reason}"
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {where} (broker down?)"
    if isinstance(error, socket.timeout | TimeoutError):
        return f"connection to {where} timed out"
    if isinstance(error, ConnectionResetError) and tls:
        return f"TLS error with {where}: connection reset during the handshake (client certificate refused?)"
    return f"cannot connect to {where}: {type(error).__name__}: {error}"


def certificate_not_after_unix_s(cert_file: Path) -> float | None:
    """notAfter of a PEM certificate, or None if it cannot be read (stdlib only: no `cryptography` needed)."""
    try:
        decoded = ssl._ssl._test_decode_cert(str(cert_file))  # type: ignore[attr-defined]
        return float(ssl.cert_time_to_seconds(decoded["notAfter"]))
    except Exception:
        return None


def backoff_delay_s(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Capped exponential backoff with 'equal jitter': half fixed, half random, never below the floor."""
    ceiling = min(max_s, min_s * (2 ** min(attempt, 30)))
    return max(min_s, ceiling / 2 + rng.uniform(0.0, ceiling / 2))


class _PahoErrorLog(logging.Logger):
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


class _PackedProperties(Properties):
    """PUBLISH properties encoded once: paho re-encodes (and formats for its debug log) on every publish,
    which cost more CPU per alert than the rest of the uplink together."""

    _packed: bytes | None = None
    _text: str | None = None

    def freeze(self) -> _PackedProperties:
        # Properties.__setattr__ accepts only MQTT property names.
        object.__setattr__(self, "_packed", bytes(super().pack()))
        object.__setattr__(self, "_text", super().__str__())
        return self

    def pack(self) -> bytes:
        return self._packed if self._packed is not None else bytes(super().pack())

    def __str__(self) -> str:
        return self._text if self._text is not None else super().__str__()


@dataclass
class _Connection:
    """One attempt's client and what is in flight on it; a new one per (re)connect."""

    generation: int
    endpoint_index: int
    client: mqtt.Client
    connected: bool = False
    sent_upto_row_id: int = 0


class Uplink:
    """Background delivery of the outbox to the broker(s); `start()` never blocks the caller."""

    def __init__(
        self,
        settings: BrokerSettings,
        outbox: Outbox,
        site_id: str,
        device_id: str,
        status_provider: Callable[[], dict[str, Any]] | None = None,
        subscriptions: dict[str, Callable[[bytes], object]] | None = None,
    ) -> None:
        self.settings = settings
        # Topics from the centre (e.g. retained rule lists): subscribed on every connect; handlers run on the
        # uplink thread, never inside paho's callback, and must not block.
        self.subscriptions = dict(subscriptions or {})
        self.outbox = outbox
        self.site_id = site_id
        self.device_id = device_id
        self.status_provider = status_provider
        self.topic_base = f"{settings.topic_prefix}/{site_id}/{device_id}"
        self.client_id = settings.client_id or f"{site_id}-{device_id}"
        # Fail at start-up, naming the file, rather than at the first connect attempt.
        self._tls_context = build_tls_context(settings.tls) if settings.tls is not None else None
        self._password = (
            read_secret_file(settings.password_file, "MQTT password") if settings.password_file else None
        )
        self._boot_id = str(uuid.uuid4())
        self._started_mono = time.monotonic()
        self._rng = random.Random()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._events: list[tuple[Any, ...]] = []
        self._inflight: dict[int, int] = {}  # mid → row_id, for the current connection only
        self._acked: list[int] = []
        self._conn: _Connection | None = None
        self._generation = 0
        self._state_lock = threading.Lock()
        self._state: dict[str, Any] = {
            "connected": False,
            "broker": None,
            "last_error": None,
            "published": 0,
            "acked": 0,
            "refused": 0,
            "connects": 0,
            "inflight": 0,
        }
        self._last_status_signature: str | None = None
        self._pending_status_mids: set[int] = set()
        self._socket_errors: dict[int, str] = {}
        self._properties_cache: dict[tuple[str, int | None], Properties] = {}
        self._stop_deadline_mono = 0.0
        self._status_checked_mono = 0.0
        self._next_heartbeat_mono = 0.0
        outbox.add_listener(self._wake)

    # ------------------------------------------------------------------------------------ public API
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("uplink already started")
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Publish a retained "stopped" status (if connected), disconnect cleanly, join the worker."""
        self._stop_deadline_mono = time.monotonic() + max(0.1, timeout_s - 0.5)
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.error("uplink: worker did not stop within %.1f s", timeout_s)
        with contextlib.suppress(OSError):
            self._wake_r.close()
            self._wake_w.close()

    def alive(self) -> bool:
        """False once the worker thread has died (the supervisor then withholds the watchdog ping)."""
        return self._thread is None or self._thread.is_alive()

    def state(self) -> dict[str, Any]:
        with self._state_lock:
            return dict(self._state)

    def topic(self, kind: str) -> str:
        return f"{self.topic_base}/{kind}"

    # ------------------------------------------------------------------------------------ internals
    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _set_state(self, **changes: Any) -> None:
        with self._state_lock:
            self._state.update(changes)

    def _bump(self, name: str, by: int = 1) -> None:
        with self._state_lock:
            self._state[name] += by

    def _error(self, message: str) -> None:
        with self._state_lock:
            repeated = self._state["last_error"] == message
            self._state["last_error"] = message
        if not repeated:
            log.warning("uplink: %s", message)

    def _run(self) -> None:
        attempt = 0
        endpoints = self.settings.endpoints()
        try:
            while not self._stop.is_set():
                connected_ever = False
                back_to_primary = False
                for index in range(len(endpoints)):
                    if self._stop.is_set():
                        break
                    outcome = self._session(index, endpoints[index])
                    if outcome == "returned_to_primary":
                        back_to_primary = True
                        break
                    if outcome in ("lost", "stopped"):
                        connected_ever = True
                        break
                if self._stop.is_set():
                    break
                if back_to_primary:
                    attempt = 0
                    continue  # the primary just accepted a probe: no reason to wait
                if connected_ever:
                    attempt = 0
                delay_s = backoff_delay_s(
                    attempt, self.settings.reconnect_min_s, self.settings.reconnect_max_s, self._rng
                )
                attempt += 1
                self._sleep(delay_s)
        except Exception:
            log.exception("uplink: worker crashed")
            self._error("uplink worker crashed; see log")
        finally:
            self._flush_acks()
            self._set_state(connected=False, inflight=0)

    def _sleep(self, seconds: float) -> None:
        """Wait, staying prompt for stop and keeping the outbox's disk retry going."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._drain_wake(min(left, 1.0))
            if self.outbox.disk_state != "ok":
                self.outbox.retry_disk()

    def _drain_wake(self, timeout_s: float) -> None:
        with contextlib.suppress(OSError, ValueError):
            readable, _, _ = select.select([self._wake_r], [], [], timeout_s)
            if readable:
                with contextlib.suppress(BlockingIOError):
                    self._wake_r.recv(4096)

    def _new_client(self) -> mqtt.Client:
        v5 = self.settings.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else False,
        )
        client.max_inflight_messages_set(self.settings.inflight_window)
        client.max_queued_messages_set(0)
        if self._tls_context is not None:
            client.tls_set_context(self._tls_context)
        if self.settings.username is not None:
            client.username_pw_set(self.settings.username, self._password)
        will = self._status_payload(Presence.OFFLINE, stamp=True)
        client.will_set(
            self.topic("status"),
            encode_payload(will),
            qos=1,
            retain=True,
            properties=self._properties("status") if v5 else None,
        )
        generation = self._generation

        def on_connect(_c: Any, _u: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
            self._events.append(("connack", generation, reason_code))

        def on_disconnect(_c: Any, _u: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
            self._events.append(("disconnect", generation, reason_code))

        def on_publish(_c: Any, _u: Any, mid: int, reason_code: Any, _props: Any) -> None:
            self._events.append(("puback", generation, mid, reason_code))

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            self._events.append(("message", generation, message.topic, bytes(message.payload)))

        # paho reports socket and TLS errors only through its log before returning "connection lost". A
        # logger at ERROR level rather than `on_log`: with `on_log` set paho formats every debug line of every
        # PUBLISH and PUBACK, a large share of the uplink's CPU time.
        client.enable_logger(_PahoErrorLog(self._socket_errors, generation))
        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = on_publish
        client.on_message = on_message
        return client

    def _properties(self, kind: str, expiry_s: int | None = None) -> Properties:
        key = (kind, None if expiry_s is None else max(1, int(expiry_s)))
        cached = self._properties_cache.get(key)
        if cached is None:
            props = _PackedProperties(PacketTypes.PUBLISH)
            props.UserProperty = [("schema", SCHEMA_NAMES[kind]), ("schema_version", str(SCHEMA_VERSION))]
            props.ContentType = "application/json"
            if key[1] is not None:
                props.MessageExpiryInterval = key[1]
            cached = props.freeze()
            if len(self._properties_cache) > 256:  # statistics' expiries vary; keep the cache bounded
                self._properties_cache.clear()
            self._properties_cache[key] = cached
        return cached

    def _session(self, index: int, endpoint: BrokerEndpoint) -> str:
        """Connect to one broker and deliver until the link drops; returns why it ended."""
        self._generation += 1
        self._socket_errors.clear()
        self._events.clear()
        self._inflight.clear()
        client = self._new_client()
        conn = _Connection(self._generation, index, client)
        self._conn = conn
        where = f"{endpoint.host}:{endpoint.port}"
        client.connect_timeout = self.settings.connect_timeout_s
        connect_props: Properties | None = None
        if self.settings.protocol == "5":
            connect_props = Properties(PacketTypes.CONNECT)
            connect_props.SessionExpiryInterval = self.settings.session_expiry_s
        try:
            if self.settings.protocol == "5":
                client.connect(
                    endpoint.host,
                    endpoint.port,
                    self.settings.keepalive_s,
                    clean_start=False,
                    properties=connect_props,
                )
            else:
                client.connect(endpoint.host, endpoint.port, self.settings.keepalive_s)
        except (OSError, ssl.SSLError, ValueError) as error:
            self._error(describe_connect_error(error, endpoint, self._tls_context is not None))
            return "failed"
        try:
            return self._serve(conn, endpoint, where)
        finally:
            self._flush_acks()
            self._inflight.clear()
            self._set_state(connected=False, inflight=0)
            with contextlib.suppress(Exception):
                client.disconnect()
            with contextlib.suppress(Exception):
                sock = client.socket()
                if sock is not None:
                    sock.close()

    def _serve(self, conn: _Connection, endpoint: BrokerEndpoint, where: str) -> str:
        client = conn.client
        connack_deadline = time.monotonic() + self.settings.connect_timeout_s + 5.0
        next_misc = time.monotonic() + 1.0
        next_primary_probe = time.monotonic() + self.settings.primary_retry_s
        stopping_since: float | None = None
        stopped_mid: int | None = None
        while True:
            sock = client.socket()
            if sock is None:
                return self._connection_lost(conn, where, MQTTErrorCode.MQTT_ERR_CONN_LOST)
            # TLS may hold decrypted bytes that select() cannot see.
            pending_tls = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            timeout_s = 0.0 if pending_tls else 0.5
            writers = [sock] if client.want_write() else []
            try:
                readable, writable, _ = select.select([sock, self._wake_r], writers, [], timeout_s)
            except (OSError, ValueError):
                return self._connection_lost(conn, where, MQTTErrorCode.MQTT_ERR_CONN_LOST)
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError, OSError):
                    self._wake_r.recv(65536)
            if sock in readable or pending_tls:
                rc = client.loop_read(max_packets=1000)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return self._connection_lost(conn, where, rc)
            if writable or client.want_write():
                rc = client.loop_write()
                if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                    return self._connection_lost(conn, where, rc)
            now = time.monotonic()
            if now >= next_misc:
                next_misc = now + 1.0
                if client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._error(f"connection to {where} lost (keepalive)")
                    return "lost" if conn.connected else "failed"
            outcome = self._handle_events(conn)
            if outcome is not None:
                if outcome == "refused":
                    return "failed"
                return "lost" if conn.connected else "failed"
            if not conn.connected:
                if now > connack_deadline:
                    self._error(f"no CONNACK from {where} within {self.settings.connect_timeout_s + 5:.0f} s")
                    return "failed"
                if self._stop.is_set():
                    return "stopped"
                continue
            if self._stop.is_set():
                # Clean exit: deliver what is in flight, then a retained "stopped", then DISCONNECT.
                if stopping_since is None:
                    stopping_since = now
                    self._flush_acks()
                    stopped_mid = self._publish_status(Presence.STOPPED)
                deadline = self._stop_deadline_mono
                if (stopped_mid is None or stopped_mid not in self._pending_status_mids) or now >= deadline:
                    self._flush_acks()
                    client.disconnect()
                    client.loop_write()
                    return "stopped"
                continue
            self._publish_rows(conn)
            # Idle (nothing in flight): the moment to catch up on deferred deletions without delaying anyone.
            self._flush_acks(wait=not self._inflight)
            self._periodic(conn, now)
            if conn.endpoint_index > 0 and now >= next_primary_probe:
                next_primary_probe = now + self.settings.primary_retry_s
                if self._primary_reachable():
                    log.info("uplink: primary broker is back; leaving fallback %s", where)
                    self._flush_acks()
                    client.disconnect()
                    return "returned_to_primary"

    def _connection_lost(self, conn: _Connection, where: str, rc: MQTTErrorCode) -> str:
        """Name the cause: a refused CONNACK, a TLS refusal by the broker, or a plain network loss."""
        if self._handle_events(conn) == "refused":
            return "failed"  # the CONNACK's reason is already the error
        socket_error = self._socket_errors.get(conn.generation)
        detail = socket_error or mqtt.error_string(rc)
        if self._tls_context is not None and not conn.connected:
            # Under TLS 1.3 the broker checks our certificate after our side of the handshake is done, so its
            # refusal arrives as an alert on the first read, or only as a closed socket on the first write.
            if "EXPIRED" in detail.upper():
                self._error(
                    f"TLS error with {where}: the broker rejected our client certificate as expired "
                    f"({detail})"
                )
            elif (expired := self._client_certificate_expiry()) is not None:
                self._error(
                    f"TLS error with {where}: the broker closed the connection; our client certificate "
                    f"expired on {expired} ({detail})"
                )
            else:
                self._error(
                    f"TLS error with {where}: the broker closed the connection before CONNACK "
                    f"(client certificate refused?) ({detail})"
                )
        elif socket_error:
            self._error(f"connection to {where} lost: {socket_error}")
        else:
            self._error(f"connection to {where} lost ({mqtt.error_string(rc)})")
        return "lost" if conn.connected else "failed"

    def _client_certificate_expiry(self) -> str | None:
        """The expiry date of our client certificate if it has passed by the local clock, else None."""
        tls = self.settings.tls
        if tls is None or tls.cert_file is None:
            return None
        not_after = certificate_not_after_unix_s(tls.cert_file)
        if not_after is None or not_after > time.time():
            return None
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(not_after))

    def _handle_events(self, conn: _Connection) -> str | None:
        """Apply what paho's callbacks recorded; returns a reason when the connection is over."""
        outcome: str | None = None
        events, self._events = self._events, []
        for event in events:
            if event[1] != conn.generation:
                continue
            name = event[0]
            if name == "connack":
                reason = event[2]
                if getattr(reason, "is_failure", False):
                    self._error(f"broker {self._where(conn)} refused the connection: {reason}")
                    outcome = "refused"
                    continue
                conn.connected = True
                log.info("uplink: connected to %s", self._where(conn))
                with self._state_lock:
                    self._state.update(connected=True, broker=self._where(conn), last_error=None)
                    self._state["connects"] += 1
                self._pending_status_mids = set()
                for topic in self.subscriptions:
                    conn.client.subscribe(topic, qos=1)
                self._publish_status(Presence.ONLINE)
                self._next_heartbeat_mono = time.monotonic() + self.settings.heartbeat_interval_s
            elif name == "disconnect":
                outcome = outcome or "disconnected"  # a refusal explains the disconnect better
            elif name == "message":
                handler = self.subscriptions.get(event[2])
                if handler is not None:
                    try:
                        handler(event[3])
                    except Exception:  # a bad handler must not take the delivery of alerts down with it
                        log.exception("uplink: handler for %s failed", event[2])
            elif name == "puback":
                mid, reason = event[2], event[3]
                self._pending_status_mids.discard(mid)
                row_id = self._inflight.pop(mid, None)
                if row_id is None:
                    continue
                if getattr(reason, "is_failure", False):
                    # The broker refused this message (e.g. ACL): keep the row, report, retry next connection.
                    self._bump("refused")
                    self._error(f"broker refused a message on {self.topic_base}/…: {reason}")
                    continue
                self._acked.append(row_id)
        self._set_state(inflight=len(self._inflight))
        return outcome

    def _where(self, conn: _Connection) -> str:
        endpoint = self.settings.endpoints()[conn.endpoint_index]
        return f"{endpoint.host}:{endpoint.port}"

    def _publish_rows(self, conn: _Connection) -> None:
        room = self.settings.inflight_window - len(self._inflight)
        # Under load, refill the window in batches (one outbox read per quarter window, not per PUBACK);
        # with nothing in flight, publish at once so a lone alert never waits.
        if room <= 0 or (self._inflight and room < max(1, self.settings.inflight_window // 4)):
            return
        rows = self.outbox.pending(after_row_id=conn.sent_upto_row_id, limit=room)
        expired: list[OutboxRow] = []
        published = 0
        now_unix = time.time()
        for row in rows:
            conn.sent_upto_row_id = row.row_id
            expiry_s: int | None = None
            if row.kind == "stats":
                remaining = self.settings.stats_expiry_s - (now_unix - row.created_unix_s)
                if remaining <= 0:
                    expired.append(row)
                    continue
                expiry_s = int(remaining)
            props = self._properties(row.kind, expiry_s) if self.settings.protocol == "5" else None
            info = conn.client.publish(self.topic(row.kind), row.payload, qos=1, properties=props)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                # Not on the wire; the next connection starts again from the oldest unacknowledged row.
                self._error(f"publish failed: {mqtt.error_string(info.rc)}")
                break
            self._inflight[info.mid] = row.row_id
            published += 1
        self._bump("published", published)
        if expired:
            self.outbox.drop([r.row_id for r in expired], "stats", "older than stats_expiry_s")
        self._set_state(inflight=len(self._inflight))

    def _flush_acks(self, wait: bool = True) -> None:
        """Delete acknowledged rows; on the hot path (`wait=False`) a committing lane does it for us."""
        if self._acked:
            acked, self._acked = self._acked, []
            self.outbox.delete(acked, wait=wait)
            self._bump("acked", len(acked))
        elif wait and self.outbox.has_undeleted():
            self.outbox.delete([], wait=True)

    # ------------------------------------------------------------------------- status and heartbeat
    def _device_status(self) -> dict[str, Any]:
        if self.status_provider is None:
            return {}
        try:
            return dict(self.status_provider())
        except Exception as error:
            log.exception("uplink: status provider failed")
            return {"status_provider_error": type(error).__name__}

    def _status_payload(self, state: Presence, stamp: bool) -> dict[str, Any]:
        payload = build_status(
            self.site_id,
            self.device_id,
            state,
            boot_id=self._boot_id,
            software_version=edge.__version__,
            outbox=self.outbox.health(),
            provided=self._device_status(),
        )
        if stamp:
            payload = self.outbox.stamp("status", payload)
        return payload

    def _status_signature(self) -> str:
        provided = self._device_status()
        health = self.outbox.health()
        relevant = {
            # States, not counters: a frame count changes every frame and would republish status endlessly.
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
            "rule_lists": (provided.get("rule_lists") or {}).get("version"),
            "config_hash": provided.get("config_hash"),
            "disk_state": health["disk_state"],
            "dropped": health["dropped"],
            "in_memory_only": bool(health["in_memory_only"]),
        }
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()

    def _publish_status(self, state: Presence) -> int | None:
        conn = self._conn
        if conn is None:
            return None
        payload = self._status_payload(state, stamp=True)
        props = self._properties("status") if self.settings.protocol == "5" else None
        info = conn.client.publish(
            self.topic("status"), encode_payload(payload), qos=1, retain=True, properties=props
        )
        self._last_status_signature = self._status_signature()
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._pending_status_mids.add(info.mid)
            return info.mid
        return None

    def _publish_heartbeat(self, conn: _Connection) -> None:
        payload = self.outbox.stamp(
            "heartbeat",
            build_heartbeat(
                self.site_id,
                self.device_id,
                boot_id=self._boot_id,
                started_mono=self._started_mono,
                outbox_health=self.outbox.health(),
            ),
        )
        props = (
            self._properties("heartbeat", int(self.settings.heartbeat_interval_s * 3))
            if self.settings.protocol == "5"
            else None
        )
        conn.client.publish(self.topic("heartbeat"), encode_payload(payload), qos=0, properties=props)

    def _periodic(self, conn: _Connection, now: float) -> None:
        if now >= self._next_heartbeat_mono:
            self._next_heartbeat_mono = now + self.settings.heartbeat_interval_s
            self._publish_heartbeat(conn)
        if now - self._status_checked_mono >= 1.0:
            self._status_checked_mono = now
            if self.outbox.disk_state != "ok":
                self.outbox.retry_disk()
            if self._status_signature() != self._last_status_signature:
                self._publish_status(Presence.ONLINE)

    def _primary_reachable(self) -> bool:
        primary = self.settings.endpoints()[0]
        try:
            with socket.create_connection((primary.host, primary.port), timeout=0.5):
                return True
        except OSError:
            return False
