"""Uplink benchmark: durable publishing vs raw paho-mqtt, backlog drain, commit-to-receipt latency.

    python bench/uplink.py [--alerts 5000] [--backlog 20000] [--latency-alerts 2000] [--rate 200]

Starts its own Mosquitto on a free loopback port (no persistence: the broker is not what is measured) and a
subscriber in a separate process (so it does not share this process's GIL), then measures:

* raw paho: one paho client publishing the same alert payloads at QoS 1, nothing on disk, until every PUBACK;
* durable: 4 lane threads hand alerts to the outbox as the service's lanes do (`Outbox.submit`: the writer
  thread commits them in groups, fsync'd, and only then can the `Uplink` read them), until every row is
  acknowledged and deleted (`durable_per_s`); for reference also 1 lane waiting for each commit
  (`Outbox.append`, one fsync per alert);
* raw and durable are each run three times, interleaved, and their medians compared;
* drain: a backlog built while no uplink runs, then drained by a fresh `Uplink` until the outbox is empty;
* latency: alerts committed at a steady rate; time from `append` returning to the subscriber's receipt
  (CLOCK_MONOTONIC is system-wide, so the two processes' timestamps compare).

The last line is one JSON object with durable_per_s, raw_paho_per_s, drain_per_s, p50_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402

from edge.contract import SCHEMA_VERSION  # noqa: E402
from edge.outbox import Outbox, encode_payload  # noqa: E402
from edge.uplink import BrokerSettings, Uplink  # noqa: E402
from tests.fakes.mosquitto import Mosquitto  # noqa: E402

SITE, DEVICE = "bj-south", "gate-03"
BROKER_CONFIG = "max_queued_messages 0\nmax_inflight_messages 0\n"


def alert(n: int, lane: str = "lane-1") -> dict[str, Any]:
    return {
        "schema": "checkpoint.alert",
        "schema_version": SCHEMA_VERSION,
        "site_id": SITE,
        "device_id": DEVICE,
        "lane_id": lane,
        "time_utc": "2026-11-23T12:00:00.123Z",
        "monotonic_s": time.monotonic(),
        "category": "medical_referral",
        "reasons": [{"code": "fever", "detail": "core 38.10 °C ≥ threshold 37.30 °C"}],
        "temperature": {
            "status": "elevated",
            "skin_c": 36.8,
            "core_c": 38.1,
            "threshold_c": 37.3,
            "ambient_c": 24.0,
            "frames": 9,
        },
        "identity": {
            "doc_type": "cn_resident_id",
            "id_hmac": "k1:" + "ab" * 32,
            "id_masked": "990000**********18",
            "region": "990000",
            "valid": True,
        },
    }


# ------------------------------------------------------------------------------------------ subscriber
def run_subscriber(port: int, out_path: str, expected: int) -> int:
    """Child process: record (message_id, receipt monotonic time) for `expected` alerts, then write them."""
    received: list[tuple[str, float]] = []
    done = threading.Event()

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if message.topic.endswith("/alert"):
            received.append((json.loads(message.payload)["message_id"], now))
            if len(received) >= expected:
                done.set()

    ready = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message = on_message
    client.on_subscribe = lambda *_a: ready.set()
    client.connect("127.0.0.1", port)
    client.subscribe(f"checkpoint/v2/devices/{SITE}/{DEVICE}/alert", qos=1)
    client.loop_start()
    ready.wait(10)
    print("ready", flush=True)
    done.wait(600)
    client.loop_stop()
    Path(out_path).write_text("\n".join(f"{i} {t}" for i, t in received))
    return 0


def start_subscriber(port: int, expected: int, out_path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--subscriber", str(port), str(out_path), str(expected)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"subscriber failed to start: {line!r}")
    return child


# ------------------------------------------------------------------------------------------ raw paho
def bench_raw_paho(port: int, count: int) -> float:
    acked = threading.Event()
    acks = [0]

    def on_publish(*_args: Any) -> None:
        acks[0] += 1
        if acks[0] >= count:
            acked.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_inflight_messages_set(64)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.2)
    topic = f"checkpoint/v2/devices/{SITE}/{DEVICE}/alert"
    started = time.perf_counter()
    for n in range(count):
        payload = alert(n)
        payload["message_id"] = f"raw-{n}"
        client.publish(topic, encode_payload(payload), qos=1)
    acked.wait(300)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return count / elapsed


# ------------------------------------------------------------------------------------------ durable
def wait_empty(outbox: Outbox, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    # A 5 ms poll: a tighter one takes the GIL from the threads being measured hundreds of times a second.
    while sum(outbox.depth().values()) > 0 and time.monotonic() < deadline:
        time.sleep(0.005)


def bench_durable(port: int, count: int, workdir: Path, lanes: int, wait_each: bool = False) -> float:
    outbox = Outbox(workdir / f"durable-{lanes}-{time.monotonic_ns()}.db")
    uplink = Uplink(BrokerSettings(port=port), outbox, SITE, DEVICE)
    uplink.start()
    while not uplink.state()["connected"]:
        time.sleep(0.01)
    per_lane = count // lanes

    def lane(index: int) -> None:
        hand_over = outbox.append if wait_each else outbox.submit
        for n in range(per_lane):
            hand_over("alert", alert(n, f"lane-{index}"))

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(lanes)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outbox.flush()  # every alert handed over is committed (and so counted in the depth)
    wait_empty(outbox, 300)
    elapsed = time.perf_counter() - started
    uplink.stop()
    outbox.close()
    return per_lane * lanes / elapsed


def bench_drain(port: int, count: int, workdir: Path) -> float:
    outbox = Outbox(workdir / "drain.db")
    for n in range(count):
        outbox.submit("alert", alert(n))
    outbox.flush()
    uplink = Uplink(BrokerSettings(port=port), outbox, SITE, DEVICE)
    started = time.perf_counter()
    uplink.start()
    wait_empty(outbox, 600)
    elapsed = time.perf_counter() - started
    uplink.stop()
    outbox.close()
    return count / elapsed


def bench_latency(port: int, count: int, rate_per_s: float, workdir: Path) -> tuple[float, float]:
    out_path = workdir / "latency.txt"
    subscriber = start_subscriber(port, count, out_path)
    outbox = Outbox(workdir / "latency.db")
    uplink = Uplink(BrokerSettings(port=port), outbox, SITE, DEVICE)
    uplink.start()
    while not uplink.state()["connected"]:
        time.sleep(0.01)
    committed: dict[str, float] = {}
    started = time.monotonic()
    for n in range(count):
        stamped = outbox.append("alert", alert(n))
        committed[stamped["message_id"]] = time.monotonic()
        time.sleep(max(0.0, started + (n + 1) / rate_per_s - time.monotonic()))
    subscriber.wait(120)
    uplink.stop()
    outbox.close()
    latencies_ms = []
    for line in out_path.read_text().splitlines():
        message_id, received = line.split()
        latencies_ms.append((float(received) - committed[message_id]) * 1000)
    if len(latencies_ms) != count:
        raise RuntimeError(f"latency run: {len(latencies_ms)} of {count} alerts received")
    quantiles = statistics.quantiles(latencies_ms, n=100)
    return statistics.median(latencies_ms), quantiles[98]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=5000, help="alerts for the throughput runs")
    parser.add_argument("--lanes", type=int, default=4, help="producer threads in the durable run")
    parser.add_argument("--backlog", type=int, default=20000, help="alerts queued before the drain run")
    parser.add_argument("--latency-alerts", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="alerts/s during the latency run")
    parser.add_argument("--subscriber", nargs=3, metavar=("PORT", "OUT", "EXPECTED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        return run_subscriber(int(args.subscriber[0]), args.subscriber[1], int(args.subscriber[2]))

    workdir = Path(tempfile.mkdtemp(prefix="bench-uplink-"))
    broker = Mosquitto(BROKER_CONFIG)
    broker.start()
    try:
        raws, durables = [], []
        for attempt in range(1, 4):
            raws.append(bench_raw_paho(broker.port, args.alerts))
            durables.append(bench_durable(broker.port, args.alerts, workdir, args.lanes))
            print(
                f"run {attempt}: raw paho QoS 1, no durability {raws[-1]:8.0f} alerts/s; "
                f"durable, {args.lanes} lanes handing over (group commit) {durables[-1]:8.0f} alerts/s"
            )
        raw, durable = statistics.median(raws), statistics.median(durables)
        print(f"raw paho QoS 1, no durability (median): {raw:9.0f} alerts/s ({args.alerts} alerts)")
        print(
            f"durable, {args.lanes} lanes (median):           {durable:9.0f} alerts/s ({durable / raw:.0%} of raw)"
        )
        single = bench_durable(broker.port, args.alerts // 5, workdir, 1, wait_each=True)
        print(f"durable, 1 lane waiting for each fsync: {single:9.0f} alerts/s ({single / raw:.0%} of raw)")
        drain = bench_drain(broker.port, args.backlog, workdir)
        print(f"backlog drain:                        {drain:9.0f} alerts/s ({args.backlog} queued)")
        p50, p99 = bench_latency(broker.port, args.latency_alerts, args.rate, workdir)
        print(
            f"commit → subscriber latency:          p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"({args.latency_alerts} alerts at {args.rate:.0f}/s)"
        )
    finally:
        broker.close()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        json.dumps(
            {
                "durable_per_s": round(durable, 1),
                "raw_paho_per_s": round(raw, 1),
                "durable_ratio": round(durable / raw, 3),
                "durable_runs_per_s": [round(x, 1) for x in durables],
                "raw_paho_runs_per_s": [round(x, 1) for x in raws],
                "one_lane_waiting_per_s": round(single, 1),
                "drain_per_s": round(drain, 1),
                "p50_ms": round(p50, 3),
                "p99_ms": round(p99, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
