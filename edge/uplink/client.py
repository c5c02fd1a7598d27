"""The uplink's worker: one thread owns the paho client, every publish and every outbox read or delete.

paho is driven through its external-loop API, so paho's callbacks run in this thread and only append to a
list. Lanes never wait for it: the outbox's writer wakes the worker through a socket pair that sits in the
same `select()` as the broker socket.

Why not paho's own machinery: its session lives in memory only, `on_publish` runs under an internal lock
(calling back into the client from there can deadlock), and `is_published()` raises for messages queued
while disconnected. So every connection starts from a fresh client, re-publishes the unacknowledged rows
from the outbox in order (window.py), and tracks acknowledgements by message id per connection.
Failover: brokers are tried in order; on a fallback the primary is probed and returned to when it answers.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from edge.contract import Presence
from edge.contract.topics import device_topic_base
from edge.outbox import Outbox
from edge.uplink.paho_glue import Connection, PahoErrorLog, PublishProperties, connect, new_client
from edge.uplink.presence import PresenceReporter
from edge.uplink.report import UplinkReport
from edge.uplink.settings import BrokerEndpoint, BrokerSettings
from edge.uplink.timing import SessionClock, backoff_delay_s
from edge.uplink.tls import (
    build_tls_context,
    describe_connect_error,
    describe_tls_refusal,
    read_secret_file,
)
from edge.uplink.window import DeliveryWindow

log = logging.getLogger("edge.uplink")

_OK = MQTTErrorCode.MQTT_ERR_SUCCESS


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
        self.topic_base = device_topic_base(settings.topic_prefix, site_id, device_id)
        self.client_id = settings.client_id or f"{site_id}-{device_id}"
        # Fail at start-up, naming the file, rather than at the first connect attempt.
        self._tls_context = build_tls_context(settings.tls) if settings.tls is not None else None
        self._password = (
            read_secret_file(settings.password_file, "MQTT password") if settings.password_file else None
        )
        self.report = UplinkReport()
        properties = PublishProperties()
        self.window = DeliveryWindow(settings, outbox, self.report, properties, self.topic)
        self.presence = PresenceReporter(
            settings, outbox, site_id, device_id, status_provider, properties, self.topic
        )
        self._rng = random.Random()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._events: list[tuple[Any, ...]] = []
        self._generation = 0
        self._socket_errors: dict[int, str] = {}
        self._stop_deadline_mono = 0.0
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
        return self.report.snapshot()

    def topic(self, kind: str) -> str:
        return f"{self.topic_base}/{kind}"

    # ------------------------------------------------------------------------------------ the worker
    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._stop.is_set():
                outcome = self._try_brokers()
                if self._stop.is_set():
                    break
                if outcome == "returned_to_primary":
                    attempt = 0
                    continue  # the primary just accepted a probe: no reason to wait
                if outcome in ("lost", "stopped"):
                    attempt = 0
                delay_s = backoff_delay_s(
                    attempt, self.settings.reconnect_min_s, self.settings.reconnect_max_s, self._rng
                )
                attempt += 1
                self._sleep(delay_s)
        except Exception:
            log.exception("uplink: worker crashed")
            self.report.error("uplink worker crashed; see log")
        finally:
            self.window.flush_acks()
            self.report.set(connected=False, inflight=0)

    def _try_brokers(self) -> str:
        """One round over the brokers, in order, until one connection ends; returns why it ended."""
        outcome = "failed"
        for index, endpoint in enumerate(self.settings.endpoints()):
            if self._stop.is_set():
                break
            outcome = self._session(index, endpoint)
            if outcome in ("returned_to_primary", "lost", "stopped"):
                break
        return outcome

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
        topic, will, props = self.presence.will()
        return new_client(
            self.settings,
            self.client_id,
            self._tls_context,
            self._password,
            (topic, will, props),
            self._record,
            PahoErrorLog(self._socket_errors, self._generation),
            self._generation,
        )

    # ------------------------------------------------------------------------------------ one session
    def _session(self, index: int, endpoint: BrokerEndpoint) -> str:
        """Connect to one broker and deliver until the link drops; returns why it ended."""
        self._generation += 1
        self._socket_errors.clear()
        self._events.clear()
        self.window.reset()
        client = self._new_client()
        conn = Connection(self._generation, index, client)
        client.connect_timeout = self.settings.connect_timeout_s
        try:
            connect(client, endpoint, self.settings)
        except (OSError, ssl.SSLError, ValueError) as error:
            self.report.error(describe_connect_error(error, endpoint, self._tls_context is not None))
            return "failed"
        try:
            return self._serve(conn, f"{endpoint.host}:{endpoint.port}")
        finally:
            self.window.flush_acks()
            self.window.reset()
            self.report.set(connected=False)
            with contextlib.suppress(Exception):
                client.disconnect()
            with contextlib.suppress(Exception):
                sock = client.socket()
                if sock is not None:
                    sock.close()

    def _serve(self, conn: Connection, where: str) -> str:
        clock = SessionClock(
            connack_deadline=time.monotonic() + self.settings.connect_timeout_s + 5.0,
            primary_retry_s=self.settings.primary_retry_s,
        )
        while True:
            outcome = self._pump(conn, where, clock)
            if outcome is None:
                outcome = self._deliver(conn, where, clock)
            if outcome is not None:
                return outcome

    def _pump(self, conn: Connection, where: str, clock: SessionClock) -> str | None:
        """Socket I/O for one turn of the loop; a reason when the link failed."""
        client = conn.client
        sock = client.socket()
        if sock is None:
            return self._connection_lost(conn, where, MQTTErrorCode.MQTT_ERR_CONN_LOST)
        # TLS may hold decrypted bytes that select() cannot see.
        pending_tls = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        writers = [sock] if client.want_write() else []
        try:
            readable, writable, _ = select.select(
                [sock, self._wake_r], writers, [], 0.0 if pending_tls else 0.5
            )
        except (OSError, ValueError):
            return self._connection_lost(conn, where, MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_r.recv(65536)
        if sock in readable or pending_tls:
            rc = client.loop_read(max_packets=1000)
            if rc != _OK:
                return self._connection_lost(conn, where, rc)
        if writable or client.want_write():
            rc = client.loop_write()
            if rc not in (_OK, MQTTErrorCode.MQTT_ERR_AGAIN):
                return self._connection_lost(conn, where, rc)
        return self._keepalive(conn, where, clock)

    def _keepalive(self, conn: Connection, where: str, clock: SessionClock) -> str | None:
        now = time.monotonic()
        if now < clock.next_misc:
            return None
        clock.next_misc = now + 1.0
        if conn.client.loop_misc() == _OK:
            return None
        self.report.error(f"connection to {where} lost (keepalive)")
        return "lost" if conn.connected else "failed"

    def _deliver(self, conn: Connection, where: str, clock: SessionClock) -> str | None:
        """After the I/O: apply paho's events, then publish, acknowledge, report; a reason when over."""
        outcome = self._handle_events(conn, where)
        if outcome is not None:
            return "lost" if outcome != "refused" and conn.connected else "failed"
        now = time.monotonic()
        if not conn.connected:
            if now > clock.connack_deadline:
                self.report.error(
                    f"no CONNACK from {where} within {self.settings.connect_timeout_s + 5:.0f} s"
                )
                return "failed"
            return "stopped" if self._stop.is_set() else None
        if self._stop.is_set():
            return self._stopping(conn, clock, now)
        self.window.publish_rows(conn)
        # Idle (nothing in flight): the moment to catch up on deferred deletions without delaying anyone.
        self.window.flush_acks(wait=not self.window.inflight)
        self.presence.periodic(conn, now)
        return self._back_to_primary(conn, where, clock, now)

    def _stopping(self, conn: Connection, clock: SessionClock, now: float) -> str | None:
        """Clean exit: deliver what is in flight, then a retained "stopped", then DISCONNECT."""
        if clock.stopping_since is None:
            clock.stopping_since = now
            self.window.flush_acks()
            clock.stopped_mid = self.presence.publish_status(conn, Presence.STOPPED)
        acknowledged = clock.stopped_mid is None or clock.stopped_mid not in self.presence.pending_status_mids
        if not acknowledged and now < self._stop_deadline_mono:
            return None
        self.window.flush_acks()
        conn.client.disconnect()
        conn.client.loop_write()
        return "stopped"

    def _back_to_primary(self, conn: Connection, where: str, clock: SessionClock, now: float) -> str | None:
        if conn.endpoint_index == 0 or now < clock.next_primary_probe:
            return None
        clock.next_primary_probe = now + self.settings.primary_retry_s
        if not self._primary_reachable():
            return None
        log.info("uplink: primary broker is back; leaving fallback %s", where)
        self.window.flush_acks()
        conn.client.disconnect()
        return "returned_to_primary"

    def _primary_reachable(self) -> bool:
        primary = self.settings.endpoints()[0]
        try:
            with socket.create_connection((primary.host, primary.port), timeout=0.5):
                return True
        except OSError:
            return False

    # ------------------------------------------------------------------------------------ paho's events
    def _record(self, event: tuple[Any, ...]) -> None:
        """paho's callbacks (run in this thread, inside paho) only record; `_handle_events` applies."""
        self._events.append(event)

    def _handle_events(self, conn: Connection, where: str) -> str | None:
        """Apply what paho's callbacks recorded; returns a reason when the connection is over."""
        outcome: str | None = None
        events, self._events = self._events, []
        for event in events:
            if event[1] != conn.generation:
                continue
            name = event[0]
            if name == "connack":
                outcome = self._on_connack(conn, where, event[2]) or outcome
            elif name == "disconnect":
                outcome = outcome or "disconnected"  # a refusal explains the disconnect better
            elif name == "message":
                self._on_message(event[2], event[3])
            elif name == "puback":
                self.presence.pending_status_mids.discard(event[2])
                self.window.on_puback(event[2], event[3])
        self.report.set(inflight=len(self.window.inflight))
        return outcome

    def _on_connack(self, conn: Connection, where: str, reason: Any) -> str | None:
        if getattr(reason, "is_failure", False):
            self.report.error(f"broker {where} refused the connection: {reason}")
            return "refused"
        conn.connected = True
        log.info("uplink: connected to %s", where)
        self.report.set(connected=True, broker=where, last_error=None)
        self.report.bump("connects")
        for topic in self.subscriptions:
            conn.client.subscribe(topic, qos=1)
        self.presence.connected(conn)
        return None

    def _on_message(self, topic: str, payload: bytes) -> None:
        handler = self.subscriptions.get(topic)
        if handler is not None:
            try:
                handler(payload)
            except Exception:  # a bad handler must not take the delivery of alerts down with it
                log.exception("uplink: handler for %s failed", topic)

    # ------------------------------------------------------------------------------------ explaining
    def _connection_lost(self, conn: Connection, where: str, rc: MQTTErrorCode) -> str:
        """Name the cause: a refused CONNACK, a TLS refusal by the broker, or a plain network loss."""
        if self._handle_events(conn, where) == "refused":
            return "failed"  # the CONNACK's reason is already the error
        socket_error = self._socket_errors.get(conn.generation)
        detail = socket_error or mqtt.error_string(rc)
        if self._tls_context is not None and not conn.connected:
            self.report.error(describe_tls_refusal(where, detail, self.settings.tls))
        elif socket_error:
            self.report.error(f"connection to {where} lost: {socket_error}")
        else:
            self.report.error(f"connection to {where} lost ({mqtt.error_string(rc)})")
        return "lost" if conn.connected else "failed"
