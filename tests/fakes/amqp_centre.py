"""The centre's consumers on RabbitMQ: AMQP 0-9-1 consumers (pika) of quorum queues fed by the MQTT plugin.

RabbitMQ 3.10's MQTT plugin has no `$share`; it publishes every MQTT message to the `amq.topic` exchange with
the topic's `/` turned into `.`. A centre that wants several consumers declares a durable quorum queue bound
to that exchange and lets its consumers compete on it (each message goes to one of them), or hashes devices
onto several queues through a consistent-hash exchange so that one device's messages always reach the same
consumer (ordered per device without a re-order step).

The queue must exist before the appliances publish: the plugin acknowledges (PUBACK) a message once every
queue it was routed to has confirmed it, and a message routed to no queue is acknowledged and gone.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions


def amqp_routing_key(mqtt_topic_filter: str) -> str:
    """MQTT topic (filter) → the routing key (binding key) the MQTT plugin uses on amq.topic."""
    return mqtt_topic_filter.replace("/", ".").replace("+", "*")


def _connect(port: int) -> pika.BlockingConnection:
    params = pika.ConnectionParameters(
        host="127.0.0.1",
        port=port,
        heartbeat=10,
        blocked_connection_timeout=30,
        connection_attempts=1,
        socket_timeout=5,
    )
    return pika.BlockingConnection(params)


def declare_competing_queue(port: int, queue: str, mqtt_filters: list[str]) -> None:
    """One durable quorum queue bound to amq.topic for each MQTT filter (competing consumers share it)."""
    connection = _connect(port)
    try:
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        for mqtt_filter in mqtt_filters:
            channel.queue_bind(queue, "amq.topic", routing_key=amqp_routing_key(mqtt_filter))
    finally:
        connection.close()


def declare_hashed_queues(port: int, exchange: str, queues: list[str], mqtt_filters: list[str]) -> None:
    """Quorum queues behind a consistent-hash exchange keyed by routing key (= the device's topic)."""
    connection = _connect(port)
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="x-consistent-hash", durable=True)
        for mqtt_filter in mqtt_filters:
            channel.exchange_bind(exchange, "amq.topic", routing_key=amqp_routing_key(mqtt_filter))
        for queue in queues:
            channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(queue, exchange, routing_key="1")  # the weight of this queue on the ring
    finally:
        connection.close()


def delete_queues(port: int, queues: list[str], exchange: str | None = None) -> None:
    connection = _connect(port)
    try:
        channel = connection.channel()
        for queue in queues:
            channel.queue_delete(queue)
        if exchange:
            channel.exchange_delete(exchange)
    finally:
        connection.close()


@dataclass
class Receipt:
    routing_key: str
    payload: dict[str, Any]
    received_mono: float
    consumer: str


@dataclass
class AmqpConsumer:
    """A consumer thread; reconnects through `ports` in turn when its node goes away.

    Messages are acknowledged after they are recorded, so a redelivery after a reconnect shows up as a
    duplicate with the same message_id, exactly as a real centre would see it.
    """

    name: str
    ports: list[int]
    queue: str
    prefetch: int = 50
    receipts: list[Receipt] = field(default_factory=list)
    reconnects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread = threading.Thread(target=self._run, name=f"amqp-{self.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"AMQP consumer {self.name} could not start consuming {self.queue}")

    def _on_message(self, channel: Any, method: Any, _props: Any, body: bytes) -> None:
        now = time.monotonic()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"unparseable": body[:200].decode("utf-8", "replace")}
        with self.lock:
            self.receipts.append(Receipt(method.routing_key, payload, now, self.name))
        channel.basic_ack(method.delivery_tag)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            port = self.ports[attempt % len(self.ports)]
            attempt += 1
            connection = None
            try:
                connection = _connect(port)
                channel = connection.channel()
                channel.basic_qos(prefetch_count=self.prefetch)
                channel.basic_consume(self.queue, self._on_message)
                self._ready.set()
                while not self._stop.is_set():
                    connection.process_data_events(time_limit=0.2)
            except (pika.exceptions.AMQPError, OSError):
                self.reconnects += 1
                self._stop.wait(0.5)
            finally:
                if connection is not None and connection.is_open:
                    with contextlib.suppress(Exception):
                        connection.close()

    def snapshot(self) -> list[Receipt]:
        with self.lock:
            return list(self.receipts)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
