"""Station → city bridge: the documented Mosquitto bridge keeps every alert across a 60 s city-link outage."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.uplink import BrokerSettings
from tests.fakes.fleet import Appliance, round_robin, start_appliance, topic_filter, wait_delivered
from tests.fakes.link import CuttableLink
from tests.fakes.mosquitto import Mosquitto
from tests.fleet.watch_process import start_watch

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "bridge.md"
APPLIANCES = 5
ALERTS_EACH = 400  # 2,000 alerts
OUTAGE_S = 60.0


def documented_bridge() -> str:
    """The block in docs/bridge.md; STATION stays a placeholder, CITY stands for the city's address."""
    block = next(
        b
        for b in re.findall(r"```conf\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
        if b.startswith("# /etc/mosquitto/conf.d/city-bridge.conf")
    )
    assert block.count("address city-mqtt.example.cn:1883") == 1
    return (
        block.replace("address city-mqtt.example.cn:1883", "address CITY")
        .replace("/var/lib/mosquitto/", "{workdir}/")
        # Retry every 1-3 s instead of 2-30 s, so the test does not wait for a 30 s back-off after the outage.
        .replace("restart_timeout 2 30", "restart_timeout 1 3")
    )


@dataclass
class Outcome:
    expected: dict[str, set[int]]  # device → the alert seqs its appliance committed
    received: dict[str, set[int]]  # device → the alert seqs watch saw at the city
    summary: dict[str, Any]
    code: int


def run_outage(
    tmp_path: Path, bridge: str, alerts_each: int, lead_s: float, outage_s: float, tail_s: float
) -> Outcome:
    """Appliances publish through the station broker's bridge while the city link is cut for outage_s."""
    station = f"st{uuid.uuid4().hex[:8]}"
    city = Mosquitto("persistence true\npersistence_location {workdir}/\nmax_queued_messages 0\n")
    city.start()
    link = CuttableLink(city.port)
    link.start()
    station_broker = Mosquitto()
    station_broker.config_text = (
        f"listener {station_broker.port} 127.0.0.1\nallow_anonymous true\n"
        "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
        + bridge.replace("STATION", station).replace("CITY", f"127.0.0.1:{link.port}")
    ).replace("{workdir}", str(station_broker.workdir))
    station_broker.config_path.write_text(station_broker.config_text)
    station_broker.start()
    # The city's monitor, on a persistent session, sees every device's every seq.
    watch = start_watch(city.port, topic_filter(station), "--client-id", "watch-city")
    settings = BrokerSettings(port=station_broker.port, reconnect_min_s=0.05, reconnect_max_s=0.5)
    appliances: list[Appliance] = []
    expected: dict[str, set[int]] = defaultdict(set)
    try:
        appliances = [
            start_appliance(station, f"gate-{i:02d}", settings, tmp_path) for i in range(APPLIANCES)
        ]
        deadline = time.monotonic() + 30
        while not any(e.get("event") == "status" for e in watch.events):
            assert time.monotonic() < deadline, "nothing crossed the bridge before the outage"
            time.sleep(0.1)
        total = APPLIANCES * alerts_each
        interval_s = (lead_s + outage_s + tail_s) / total
        outage = threading.Timer(lead_s, link.cut)
        started = time.monotonic()
        outage.start()
        restored = False
        for produced, appliance in enumerate(round_robin(appliances, alerts_each), start=1):
            expected[f"{station}/{appliance.device}"].add(appliance.alert()["seq"])
            if not restored and time.monotonic() - started >= lead_s + outage_s:
                link.restore()
                restored = True
            time.sleep(max(0.0, started + produced * interval_s - time.monotonic()))
        outage.join()
        if not restored:
            link.restore()
        assert wait_delivered(appliances, timeout_s=60), "the station broker did not acknowledge every alert"
        assert link.connections >= 2, "the bridge never reconnected after the outage"
        # Until watch has every alert, or nothing more arrived for 5 s (the rest is lost).
        deadline = time.monotonic() + 60
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 5.0:
            if len(watch.of("alert")) != seen:
                seen, quiet_since = len(watch.of("alert")), time.monotonic()
            if seen >= total:
                break
            time.sleep(0.2)
    finally:
        for appliance in appliances:
            appliance.stop()
        link.close()
        code, summary = watch.stop()
        station_broker.close()
        city.close()
    received: dict[str, set[int]] = defaultdict(set)
    for event in watch.of("alert"):
        received[f"{event['site_id']}/{event['device_id']}"].add(event["seq"])
    return Outcome(dict(expected), dict(received), summary, code)


@pytest.mark.slow
def test_a_60_s_city_outage_loses_no_alert(tmp_path: Path) -> None:
    # ~25 alerts/s: 10 s before, 60 s during and 10 s after the outage; 2,000 alerts in all.
    outcome = run_outage(tmp_path, documented_bridge(), ALERTS_EACH, 10.0, OUTAGE_S, 10.0)
    assert sum(len(s) for s in outcome.expected.values()) == APPLIANCES * ALERTS_EACH
    assert outcome.received == outcome.expected
    summary = outcome.summary
    assert summary["lost"] == 0 and summary["schema_failures"] == 0
    for device, seqs in outcome.expected.items():
        counts = summary["devices"][device]["alert"]
        assert (counts["unique"], counts["highest_seq"], counts["missing"]) == (len(seqs), max(seqs), 0)
    assert outcome.code == 0


def test_with_the_default_queue_limit_the_bridge_drops_and_watch_reports_every_loss(tmp_path: Path) -> None:
    """The control: Mosquitto's default limit (here 100 instead of 1,000, to keep the test short) drops."""
    bridge = documented_bridge().replace("max_queued_messages 200000", "max_queued_messages 100")
    outcome = run_outage(tmp_path, bridge, alerts_each=80, lead_s=3.0, outage_s=8.0, tail_s=4.0)
    lost = {d: outcome.expected[d] - outcome.received.get(d, set()) for d in outcome.expected}
    assert sum(len(s) for s in lost.values()) > 0, "expected the small queue to overflow"
    assert outcome.summary["lost"] == sum(len(s) for s in lost.values())
    for device, seqs in lost.items():
        assert set(outcome.summary["devices"][device]["alert"]["missing_seqs"]) == seqs
    assert outcome.code == 1
    print(
        f"control: {outcome.summary['lost']} of {APPLIANCES * 80} alerts dropped by the bridge, all reported"
    )
