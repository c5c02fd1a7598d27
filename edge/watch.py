"""`checkpoint-edge watch`: a contract monitor for the centre's integrators and technicians.

A plain MQTT subscriber (never a shared-subscription member, so it sees every device's every `seq`) that
validates each message against the contract's JSON Schemas, tracks each device's streams (gaps, duplicates,
out-of-order arrivals, sequence restarts; see edge/watch_streams.py), prints alerts readably and every
finding as it happens, and ends with a per-device summary. Exit status 0 when no alert or statistic is
missing and every message matched its schema, 1 otherwise (so scripts and CI can use it), 2 when it cannot
connect.

    checkpoint-edge watch --host broker.station --port 1883 --topic 'checkpoint/v2/#' --duration 600

With `--client-id` it keeps a persistent session (clean session off, QoS 1), so messages published while it
reconnects are queued for it by the broker instead of showing up as gaps.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.contract import KINDS, ContractError, validate_message
from edge.uplink import BrokerSettings
from edge.watch_streams import LOSSLESS_KINDS, Finding, StreamTracker

EX_UNAVAILABLE = 2
# Everything the appliances publish under the default prefix (the uplink's `broker.topic_prefix`).
DEFAULT_TOPIC = f"{BrokerSettings.model_fields['topic_prefix'].default}/#"


def register(sub: Any) -> None:
    watch = sub.add_parser(
        "watch",
        help="monitor the broker: validate every message, report per-device gaps and duplicates",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    watch.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    watch.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    watch.add_argument(
        "--topic",
        action="append",
        help=f"topic filter, repeatable (default {DEFAULT_TOPIC}); never a $share filter",
    )
    watch.add_argument("--protocol", choices=("3.1.1", "5"), default="3.1.1", help="MQTT version")
    watch.add_argument("--client-id", help="fixed client id: keeps a persistent session across reconnects")
    watch.add_argument("--username")
    watch.add_argument("--password-file", type=Path, help="file holding the MQTT password")
    watch.add_argument("--ca-file", type=Path, help="CA certificate (PEM): connect with TLS")
    watch.add_argument("--cert-file", type=Path, help="client certificate (PEM) for mutual TLS")
    watch.add_argument("--key-file", type=Path, help="client key (PEM) for mutual TLS")
    watch.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: Ctrl-C)")
    watch.add_argument("--idle-exit", type=float, default=0.0, help="stop after this many quiet seconds")
    watch.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    watch.add_argument("--quiet-alerts", action="store_true", help="print findings only, not each alert")
    watch.set_defaults(func=run_watch)


def _utc_now() -> str:
    return time.strftime("%H:%M:%S", time.gmtime()) + "Z"


def describe_alert(payload: dict[str, Any]) -> str:
    """One readable line per alert: where, what, why, who (masked), and its seq."""
    reasons = ", ".join(
        f"{r.get('code')}" + (f" ({r['detail']})" if r.get("detail") else "")
        for r in payload.get("reasons") or []
    )
    identity = payload.get("identity") or {}
    who = f" id {identity['id_masked']}" if identity.get("id_masked") else ""
    return (
        f"{payload.get('time_utc')} ALERT {payload.get('site_id')}/{payload.get('device_id')} "
        f"{payload.get('lane_id')} {payload.get('category')}: {reasons or 'no reason given'}{who} "
        f"[seq {payload.get('seq')}]"
    )


class Watcher:
    """Turns received messages into printed lines and tracker findings (no networking: testable alone)."""

    def __init__(self, out: TextIO, as_json: bool = False, quiet_alerts: bool = False) -> None:
        self.out = out
        self.as_json = as_json
        self.quiet_alerts = quiet_alerts
        self.tracker = StreamTracker()
        self.messages = 0
        self.other_topics = 0

    def emit(self, text: str, record: dict[str, Any]) -> None:
        self.out.write((json.dumps(record, ensure_ascii=False) if self.as_json else text) + "\n")
        self.out.flush()

    def handle(self, topic: str, body: bytes) -> None:
        self.messages += 1
        if topic.rsplit("/", 1)[-1] not in KINDS:
            self.other_topics += 1  # e.g. the centre's own list topic: not an appliance message
            return
        try:
            kind, payload = validate_message(topic, body)
        except ContractError as error:
            device = self._device_from_topic(topic)
            self.tracker.schema_failure(device)
            self.emit(
                f"{_utc_now()} SCHEMA {device} {topic}: {error}",
                {"event": "schema", "device": device, "topic": topic, "error": str(error)},
            )
            return
        device = f"{payload['site_id']}/{payload['device_id']}"
        for finding in self.tracker.observe(device, kind, payload["seq"], payload["message_id"]):
            self.report(finding)
        if kind == "alert" and not self.quiet_alerts:
            self.emit(describe_alert(payload), {"event": "alert", **payload})
        elif kind == "status":
            self.emit(
                f"{payload['time_utc']} STATUS {device} {payload['state']}",
                {"event": "status", "device": device, "state": payload["state"], "seq": payload["seq"]},
            )

    def report(self, finding: Finding) -> None:
        # Status and heartbeats skip numbers by design (QoS 0 heartbeats, a last will stamped per connection).
        if finding.code == "gap" and finding.kind not in LOSSLESS_KINDS:
            return
        self.emit(
            f"{_utc_now()} {finding.code.upper()} {finding.device} {finding.kind}: {finding.detail}",
            {"event": finding.code, **finding.as_dict()},
        )

    @staticmethod
    def _device_from_topic(topic: str) -> str:
        levels = topic.split("/")
        return "/".join(levels[-3:-1]) if len(levels) >= 3 else topic

    def summary(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "other_topics": self.other_topics,
            "lost": self.tracker.losses(),
            "schema_failures": sum(self.tracker.schema_failures.values()),
            "devices": self.tracker.summary(),
        }

    def print_summary(self) -> None:
        summary = self.summary()
        if self.as_json:
            self.emit("", {"event": "summary", **summary})
            return
        lines = [f"summary: {summary['messages']} message(s), {summary['lost']} alert/stats missing"]
        for device, kinds in summary["devices"].items():
            for kind, counts in kinds.items():
                if kind == "schema_failures":
                    lines.append(f"  {device} schema failures: {counts['count']}")
                    continue
                missing = f" missing seq {counts['missing_seqs']}" if counts["missing"] else ""
                lines.append(
                    f"  {device} {kind}: {counts['unique']} unique, {counts['duplicates']} duplicate(s), "
                    f"{counts['out_of_order']} out of order, up to seq {counts['highest_seq']}{missing}"
                )
        self.emit("\n".join(lines), {})


def _client(args: argparse.Namespace, inbox: queue.Queue[tuple[str, bytes]]) -> mqtt.Client:
    v5 = args.protocol == "5"
    persistent = args.client_id is not None
    client_id = args.client_id or f"watch-{socket.gethostname()}-{os.getpid()}"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else not persistent,
    )
    if args.ca_file is not None:
        client.tls_set(
            ca_certs=str(args.ca_file),
            certfile=str(args.cert_file) if args.cert_file else None,
            keyfile=str(args.key_file) if args.key_file else None,
        )
    if args.username is not None:
        password = args.password_file.read_text().strip() if args.password_file else None
        client.username_pw_set(args.username, password)
    topics = args.topic or [DEFAULT_TOPIC]
    if any(t.startswith("$share/") for t in topics):
        raise SystemExit("watch must see every message: use a plain topic filter, not $share/…")

    def on_connect(c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not reason.is_failure:
            c.subscribe([(t, 1) for t in topics])

    def on_subscribe(*_a: Any) -> None:
        inbox.put(("", b"subscribed"))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda _c, _u, m: inbox.put((m.topic, bytes(m.payload)))
    client.reconnect_delay_set(1, 10)
    return client


def run_watch(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    watcher = Watcher(out, as_json=args.json, quiet_alerts=args.quiet_alerts)
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = _client(args, inbox)
    try:
        if args.protocol == "5":
            client.connect(args.host, args.port, keepalive=30, clean_start=args.client_id is None)
        else:
            client.connect(args.host, args.port, keepalive=30)
    except OSError as error:
        print(f"watch: cannot connect to {args.host}:{args.port}: {error}", file=sys.stderr)
        return EX_UNAVAILABLE
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    client.loop_start()
    try:
        _consume(args, watcher, inbox, stop)
    except KeyboardInterrupt:
        pass
    finally:
        client.disconnect()
        client.loop_stop()
        signal.signal(signal.SIGTERM, previous)
    while not inbox.empty():
        topic, body = inbox.get_nowait()
        if topic:
            watcher.handle(topic, body)
    watcher.print_summary()
    summary = watcher.summary()
    return 1 if summary["lost"] or summary["schema_failures"] else 0


def _consume(
    args: argparse.Namespace, watcher: Watcher, inbox: queue.Queue[tuple[str, bytes]], stop: threading.Event
) -> None:
    started = time.monotonic()
    last_message = started
    while not stop.is_set():
        now = time.monotonic()
        if args.duration and now - started >= args.duration:
            return
        if args.idle_exit and now - last_message >= args.idle_exit:
            return
        try:
            topic, body = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        if not topic:  # the SUBACK: tell whoever waits for us (a person, a test) that we are listening
            where = f"{args.host}:{args.port}"
            watcher.emit(
                f"watching {', '.join(args.topic or [DEFAULT_TOPIC])} on {where}", {"event": "ready"}
            )
            continue
        last_message = time.monotonic()
        watcher.handle(topic, body)
