"""`checkpoint-edge lists publish`: put a signed rule-list document on the site's retained list topic, on
every broker node.

Appliances subscribe to `{topic_prefix}/lists/{site}` on every connect and get the retained document. On a
single Mosquitto that is one publish. On a cluster whose retained store is per node (RabbitMQ 3.x keeps
retained messages node-local and does not replicate them), an appliance that fails over to another node would
find no list there, so the centre publishes the same document, retained, to every node it names with
`--broker`. Appliances already connected also receive it live through their (replicated) subscriptions, so
each of them gets one copy per node: harmless, the document is versioned and applying it again is a no-op.
A node that was down or rebuilt misses it: publish again after a node returns (or from cron) — republishing
the same version is idempotent.
"""

from __future__ import annotations

import argparse
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.contract.topics import lists_topic
from edge.rule_lists import MAX_DOCUMENT_BYTES
from edge.uplink import BrokerSettings


def parse_endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def publish_retained(
    endpoints: list[tuple[str, int]],
    topic: str,
    document: bytes,
    protocol: str = "3.1.1",
    timeout_s: float = 10.0,
    username: str | None = None,
    password: str | None = None,
    ca_file: Path | None = None,
) -> dict[str, str | None]:
    """Publish `document` retained at QoS 1 to each endpoint; {"host:port": None or the error}."""
    outcome: dict[str, str | None] = {}
    for host, port in endpoints:
        outcome[f"{host}:{port}"] = _publish_one(
            host, port, topic, document, protocol, timeout_s, username, password, ca_file
        )
    return outcome


def _publish_one(
    host: str,
    port: int,
    topic: str,
    document: bytes,
    protocol: str,
    timeout_s: float,
    username: str | None,
    password: str | None,
    ca_file: Path | None,
) -> str | None:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"lists-publisher-{uuid.uuid4().hex[:12]}",
        protocol=MQTTProtocolVersion.MQTTv5 if protocol == "5" else MQTTProtocolVersion.MQTTv311,
    )
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file))
    if username is not None:
        client.username_pw_set(username, password)
    acked = threading.Event()
    failure: list[str] = []

    def on_publish(_c: Any, _u: Any, _mid: int, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            failure.append(f"broker refused the publish: {reason}")
        acked.set()

    client.on_publish = on_publish
    try:
        client.connect(host, port, keepalive=30)
    except OSError as error:
        return f"cannot connect: {error}"
    client.loop_start()
    try:
        client.publish(topic, document, qos=1, retain=True)
        if not acked.wait(timeout_s):
            return f"no PUBACK within {timeout_s:.0f} s"
        return failure[0] if failure else None
    finally:
        client.disconnect()
        client.loop_stop()


def _cmd_publish(args: argparse.Namespace) -> int:
    try:
        with args.document.open("rb") as f:
            document = f.read(MAX_DOCUMENT_BYTES + 1)
        password = args.password_file.read_text().strip() if args.password_file else None
    except OSError as error:
        print(error, file=sys.stderr)
        return 1
    if len(document) > MAX_DOCUMENT_BYTES:
        print(f"{args.document} is over the {MAX_DOCUMENT_BYTES}-byte cap", file=sys.stderr)
        return 1
    topic = args.topic or lists_topic(args.topic_prefix, args.site)
    outcome = publish_retained(
        args.broker, topic, document, args.protocol, args.timeout, args.username, password, args.ca_file
    )
    for where, problem in outcome.items():
        print(f"{where} {topic}: {'OK' if problem is None else 'FAILED: ' + problem}")
    return 0 if all(problem is None for problem in outcome.values()) else 1


def register_publish(actions: Any) -> None:
    publish = actions.add_parser(
        "publish", help="publish a signed document, retained, to every broker node (per-node retained stores)"
    )
    publish.add_argument("document", type=Path, help="the signed lists document (from `lists sign`)")
    publish.add_argument(
        "--broker",
        type=parse_endpoint,
        action="append",
        required=True,
        help="HOST:PORT of a broker node; repeat for every node of a cluster",
    )
    publish.add_argument("--site", help="site id: the topic is {topic-prefix}/lists/{site}")
    publish.add_argument("--topic-prefix", default=BrokerSettings.model_fields["topic_prefix"].default)
    publish.add_argument("--topic", help="the full topic instead of --site")
    publish.add_argument("--protocol", choices=("3.1.1", "5"), default="3.1.1")
    publish.add_argument("--username")
    publish.add_argument("--password-file", type=Path)
    publish.add_argument("--ca-file", type=Path, help="CA certificate (PEM): connect with TLS")
    publish.add_argument("--timeout", type=float, default=10.0, help="wait this long for each PUBACK, s")
    publish.set_defaults(func=_cmd_publish)
