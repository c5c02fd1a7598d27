"""Fleet benchmark: N appliances through a three-node RabbitMQ cluster to M consumers, one node killed.

    python bench/fleet.py [--appliances 100] [--workers 4] [--consumers 2] [--duration 60]
                          [--alert-rate 0.5] [--stats-interval 10] [--heartbeat 5] [--routing hash]

Each appliance is the real delivery code (an `Outbox` on its own SQLite file, fsync per commit, and an
`Uplink` speaking MQTT 3.1.1 with the three nodes as primary + fallbacks, primaries spread over the nodes).
Two cores cannot run 100 Python processes usefully, so `--workers` processes host N/workers appliances
each (one outbox + one uplink thread per appliance, as on the appliance itself). Each appliance commits
alerts at `--alert-rate`/s (Poisson), a statistics message every `--stats-interval` s, and its uplink sends
a heartbeat every `--heartbeat` s.

The centre: M AMQP consumers (pika, separate processes) on quorum queues bound to amq.topic (RabbitMQ 3.10
has no MQTT `$share`). `--routing hash` (default): a consistent-hash exchange spreads devices over M queues,
one consumer each, so a device's messages stay with one consumer; `--routing competing`: M consumers compete
on one queue (RabbitMQ's analogue of a shared subscription; a device's messages spread over consumers).

At duration/3 the node that the first third of the appliances use (and where the queues were declared) is
SIGKILLed; it is restarted at 2·duration/3. After production stops, the bench waits for every outbox to
empty and the consumers to go quiet, then merges every consumer's receipts. Last line, JSON:
appliances, alerts_expected, alerts_received, lost (expected ids never received), duplicates (ids received
more than once), duplicates_after_dedup (a (device, seq) received under two ids: 0 when a duplicate is
always the same message), order_violations (per device, receipts merged by receipt time and de-duplicated),
p50_ms / p99_ms (alert commit → consumer receipt, all alerts, failover included), node_killed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.watch_streams import order_violations  # noqa: E402
from tests.fakes.rabbitmq import RabbitCluster  # noqa: E402

SITE_PREFIX = "fleet"


# ------------------------------------------------------------------------------------------ worker
def run_worker(spec: dict[str, Any]) -> int:
    """Child: host some appliances, produce until told to stop, then wait for delivery and report."""
    import logging

    from tests.fakes.fleet import cluster_settings, start_appliance

    # One "connection refused" per appliance per retry is the expected noise of a killed node; the
    # figures (uplink_connects) say what happened.
    logging.basicConfig(level=logging.ERROR, format="%(asctime)s worker %(levelname)s %(name)s: %(message)s")
    ports: list[int] = spec["mqtt_ports"]
    state_dir = Path(spec["state_dir"])
    appliances = []
    for index in spec["indices"]:
        primary = index * len(ports) // spec["total"]  # contiguous thirds: the first third use node 0
        endpoints = [("127.0.0.1", ports[(primary + k) % len(ports)]) for k in range(len(ports))]
        settings = cluster_settings(
            endpoints,
            heartbeat_interval_s=spec["heartbeat_s"],
            primary_retry_s=5.0,
            inflight_window=32,
        )
        site = f"{SITE_PREFIX}{index // 10:02d}"  # ten appliances per station
        appliances.append(start_appliance(site, f"gate-{index:03d}", settings, state_dir))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    sent: list[tuple[str, str, int, str]] = []  # (device, kind, seq, message_id)
    rng = random.Random(os.getpid())
    next_alert = {a.device: time.monotonic() + rng.expovariate(spec["alert_rate"]) for a in appliances}
    next_stats = {a.device: time.monotonic() + rng.uniform(0, spec["stats_interval"]) for a in appliances}
    while not stop.is_set():
        now = time.monotonic()
        for appliance in appliances:
            if now >= next_alert[appliance.device]:
                stamped = appliance.alert()
                sent.append((appliance.device, "alert", stamped["seq"], stamped["message_id"]))
                next_alert[appliance.device] = now + rng.expovariate(spec["alert_rate"])
            if now >= next_stats[appliance.device]:
                stamped = appliance.stats()
                sent.append((appliance.device, "stats", stamped["seq"], stamped["message_id"]))
                next_stats[appliance.device] = now + spec["stats_interval"]
        stop.wait(0.02)
    deadline = time.monotonic() + spec["drain_timeout_s"]
    while any(a.pending() for a in appliances) and time.monotonic() < deadline:
        time.sleep(0.1)
    undelivered = sum(a.pending() for a in appliances)
    connects = sum(a.uplink.state()["connects"] for a in appliances)
    for appliance in appliances:
        appliance.stop()
    Path(spec["out"]).write_text(
        json.dumps({"sent": sent, "undelivered": undelivered, "connects": connects}), encoding="utf-8"
    )
    return 0


# ------------------------------------------------------------------------------------------ consumer
def run_consumer(spec: dict[str, Any]) -> int:
    """Child: consume one queue (reconnecting through the nodes) until SIGTERM; write the receipts."""
    from tests.fakes.amqp_centre import AmqpConsumer

    consumer = AmqpConsumer(spec["name"], spec["amqp_ports"], spec["queue"], prefetch=100)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer.start()
    print("ready", flush=True)
    while not stop.wait(0.5):
        print(f"count {len(consumer.receipts)}", flush=True)
    consumer.stop()
    rows = [
        (
            r.payload.get("device_id"),
            r.routing_key.rsplit(".", 1)[-1],
            r.payload.get("seq"),
            r.payload.get("message_id"),
            r.payload.get("monotonic_s"),
            r.received_mono,
        )
        for r in consumer.snapshot()
    ]
    Path(spec["out"]).write_text(json.dumps({"receipts": rows, "reconnects": consumer.reconnects}))
    return 0


# ------------------------------------------------------------------------------------------ parent
class Child:
    def __init__(self, role: str, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.count = 0
        self.process = subprocess.Popen(
            [sys.executable, __file__, f"--{role}", json.dumps(spec)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{role} child failed to start: {line!r}")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("count "):
                self.count = int(line.split()[1])

    def stop(self, timeout_s: float) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout_s)
        result: dict[str, Any] = json.loads(Path(self.spec["out"]).read_text(encoding="utf-8"))
        return result


def declare_centre(cluster: RabbitCluster, routing: str, consumers: int) -> list[str]:
    from tests.fakes.amqp_centre import declare_competing_queue, declare_hashed_queues
    from tests.fakes.fleet import topic_filter

    filters = [topic_filter(kind="alert"), topic_filter(kind="stats")]
    if routing == "competing":
        declare_competing_queue(cluster.amqp_port(0), "centre", filters)
        return ["centre"] * consumers
    queues = [f"centre-{i}" for i in range(consumers)]
    declare_hashed_queues(cluster.amqp_port(0), "centre-hash", queues, filters)
    return queues


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def analyse(sent: list[list[Any]], receipts: list[list[Any]]) -> dict[str, Any]:
    expected = {row[3]: row for row in sent if row[1] == "alert"}
    expected_stats = {row[3] for row in sent if row[1] == "stats"}
    alerts = sorted((r for r in receipts if r[1] == "alert"), key=lambda r: r[5])
    copies: dict[str, int] = defaultdict(int)
    first: list[list[Any]] = []
    for receipt in alerts:
        copies[receipt[3]] += 1
        if copies[receipt[3]] == 1:
            first.append(receipt)
    per_device_seq: dict[tuple[str, int], int] = defaultdict(int)
    arrival: dict[str, list[int]] = defaultdict(list)
    latencies_ms = []
    for device, _kind, seq, message_id, created_mono, received_mono in first:
        per_device_seq[(device, seq)] += 1
        arrival[device].append(seq)
        if message_id in expected:
            latencies_ms.append((received_mono - created_mono) * 1000.0)
    stats_received = {r[3] for r in receipts if r[1] == "stats"}
    quantiles = statistics.quantiles(latencies_ms, n=100) if len(latencies_ms) >= 2 else [0.0] * 99
    return {
        "alerts_expected": len(expected),
        "alerts_received": len(set(copies) & set(expected)),
        "lost": len(set(expected) - set(copies)),
        "duplicates": sum(1 for n in copies.values() if n > 1),
        "duplicates_after_dedup": sum(n - 1 for n in per_device_seq.values() if n > 1),
        "order_violations": sum(order_violations(seqs) for seqs in arrival.values()),
        "unexpected": len(set(copies) - set(expected)),
        "stats_expected": len(expected_stats),
        "stats_lost": len(expected_stats - stats_received),
        "p50_ms": round(statistics.median(latencies_ms), 1) if latencies_ms else None,
        "p99_ms": round(quantiles[98], 1),
        "max_ms": round(max(latencies_ms), 1) if latencies_ms else None,
    }


def run_schedule(cluster: RabbitCluster, args: argparse.Namespace) -> bool:
    """Let the fleet produce for the duration; kill node 0 at 1/3, restart it at 2/3. True if killed."""
    node_killed = False
    started = time.monotonic()
    while time.monotonic() - started < args.duration:
        elapsed = time.monotonic() - started
        if not args.no_kill and not node_killed and elapsed >= args.duration / 3:
            log("killing node 0 (SIGKILL)")
            cluster.kill(0)
            node_killed = True
        if node_killed and not cluster.alive(0) and elapsed >= 2 * args.duration / 3:
            log("restarting node 0")
            cluster.restart(0)
            log("node 0 is back")
        time.sleep(0.2)
    return node_killed


def wait_quiet(consumers: list[Child], alerts_sent: int, timeout_s: float = 60.0) -> None:
    """Until the consumers hold at least every alert and nothing arrived for 3 s (late duplicates)."""
    deadline = time.monotonic() + timeout_s
    last_total, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(c.count for c in consumers)
        if total != last_total:
            last_total, quiet_since = total, time.monotonic()
        elif total >= alerts_sent and time.monotonic() - quiet_since > 3:
            return
        time.sleep(0.5)


def start_consumers(cluster: RabbitCluster, args: argparse.Namespace, workdir: Path) -> list[Child]:
    queues = declare_centre(cluster, args.routing, args.consumers)
    amqp_ports = [cluster.amqp_port(i) for i in range(3)]
    consumers = []
    for i, queue in enumerate(queues):
        # Consumer i prefers node i+1: the killed node 0 carries no consumer at first.
        order = [amqp_ports[(i + 1 + k) % 3] for k in range(3)]
        spec = {"name": f"c{i}", "amqp_ports": order, "queue": queue, "out": str(workdir / f"c{i}.json")}
        consumers.append(Child("consumer", spec))
    return consumers


def start_workers(cluster: RabbitCluster, args: argparse.Namespace, workdir: Path) -> list[Child]:
    mqtt_ports = [cluster.mqtt_port(i) for i in range(3)]
    workers = []
    for w in range(args.workers):
        spec = {
            "indices": list(range(w, args.appliances, args.workers)),
            "total": args.appliances,
            "mqtt_ports": mqtt_ports,
            "state_dir": str(workdir / f"w{w}"),
            "alert_rate": args.alert_rate,
            "stats_interval": args.stats_interval,
            "heartbeat_s": args.heartbeat,
            "drain_timeout_s": 120.0,
            "out": str(workdir / f"w{w}.json"),
        }
        workers.append(Child("worker", spec))
    return workers


def run_fleet(
    args: argparse.Namespace, cluster: RabbitCluster, workdir: Path, children: list[Child]
) -> dict[str, Any]:
    log("starting a three-node RabbitMQ cluster")
    cluster.start()
    consumers = start_consumers(cluster, args, workdir)
    children += consumers
    workers = start_workers(cluster, args, workdir)
    children += workers
    log(
        f"{args.appliances} appliances in {args.workers} processes, {len(consumers)} consumers ({args.routing})"
    )
    node_killed = run_schedule(cluster, args)
    log("production over; waiting for every outbox to drain")
    results = [w.stop(timeout_s=180) for w in workers]
    sent = [row for r in results for row in r["sent"]]
    wait_quiet(consumers, sum(1 for row in sent if row[1] == "alert"))
    receipts_by_consumer = [c.stop(timeout_s=60) for c in consumers]
    figures = analyse(sent, [row for r in receipts_by_consumer for row in r["receipts"]])
    figures.update(
        appliances=args.appliances,
        node_killed=node_killed,
        undelivered_in_outboxes=sum(r["undelivered"] for r in results),
        uplink_connects=sum(r["connects"] for r in results),
        consumer_reconnects=sum(r["reconnects"] for r in receipts_by_consumer),
        consumers=len(consumers),
        routing=args.routing,
        duration_s=args.duration,
        messages_per_s=round(len(sent) / args.duration, 1),
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appliances", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4, help="processes hosting the appliances")
    parser.add_argument("--consumers", type=int, default=2, help="the centre's consumer processes (M)")
    parser.add_argument("--duration", type=float, default=60.0, help="production time, s")
    parser.add_argument("--alert-rate", type=float, default=0.5, help="alerts per appliance per second")
    parser.add_argument("--stats-interval", type=float, default=10.0, help="s between statistics messages")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="heartbeat interval, s")
    parser.add_argument("--routing", choices=("hash", "competing"), default="hash")
    parser.add_argument("--no-kill", action="store_true", help="leave every node up (reference run)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--consumer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(json.loads(args.worker))
    if args.consumer:
        return run_consumer(json.loads(args.consumer))

    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    cluster = RabbitCluster()
    children: list[Child] = []
    try:
        figures = run_fleet(args, cluster, workdir, children)
    finally:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait(10)
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)
    first = [
        "appliances",
        "alerts_expected",
        "alerts_received",
        "lost",
        "duplicates",
        "duplicates_after_dedup",
        "order_violations",
        "p50_ms",
        "p99_ms",
        "node_killed",
    ]
    print(json.dumps({k: figures[k] for k in first} | {k: v for k, v in figures.items() if k not in first}))
    return 0 if figures["lost"] == 0 and figures["duplicates_after_dedup"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
