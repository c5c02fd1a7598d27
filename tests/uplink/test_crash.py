"""Must show 2: the service is SIGKILLed at random points while producing 1,000 alerts, and restarted."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes.mosquitto import Mosquitto
from tests.uplink.conftest import Collector

REPO = Path(__file__).resolve().parents[2]


def start_producer(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.uplink.producer",
            "--db",
            str(db),
            "--port",
            str(port),
            "--interval-s",
            "0.008",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_committed_alert(
    broker: Mosquitto, collector: Collector, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261123")))
    db = tmp_path / "outbox.db"
    kills = 0
    committed_before_kill: list[int] = []
    for _ in range(10):
        producer = start_producer(db, broker.port)
        # Kill anywhere from start-up (~0.35 s) into production (~100 alerts/s, one every 8 ms).
        time.sleep(rng.uniform(0.3, 0.9))
        producer.send_signal(signal.SIGKILL)
        out, _ = producer.communicate(timeout=10)
        assert producer.returncode == -signal.SIGKILL
        lines = out.split()
        if lines:
            committed_before_kill.append(int(lines[-1]))
        kills += 1
    final = start_producer(db, broker.port)
    final.communicate(timeout=120)
    assert final.returncode == 0, "the last run did not get every alert acknowledged"
    assert collector.wait_for(lambda c: len({m.payload["seq"] for m in c.of_kind("alert")}) >= 1000, 20)
    time.sleep(0.5)

    alerts = collector.of_kind("alert")
    ids_by_seq: dict[int, set[str]] = defaultdict(set)
    for message in alerts:
        ids_by_seq[message.payload["seq"]].add(message.payload["message_id"])
    assert sorted(ids_by_seq) == list(range(1, 1001)), "an alert is missing"
    assert all(len(ids) == 1 for ids in ids_by_seq.values()), "one alert was sent under two ids"
    duplicates = len(alerts) - 1000
    # Each kill point's committed alerts were all received.
    assert all(seq in ids_by_seq for seq in committed_before_kill)
    # After each kill the broker published the retained last will.
    assert any(m.payload["state"] == "offline" for m in collector.of_kind("status"))
    collector.assert_all_valid()
    record_property("kills", kills)
    record_property("duplicates", duplicates)
    print(
        f"\n{kills} SIGKILLs, last committed seq before each kill {committed_before_kill}, "
        f"1000 alerts received, {duplicates} duplicate deliveries (same id)"
    )
