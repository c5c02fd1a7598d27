"""Station → city bridge: the documented Mosquitto bridge keeps every alert across a 60 s city-link outage."""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path

import pytest

from edge.uplink import BrokerSettings
from tests.fakes.fleet import Appliance, round_robin, start_appliance, wait_delivered
from tests.fakes.link import CuttableLink
from tests.fakes.mosquitto import Mosquitto
from tests.fleet.watch_process import start_watch

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "bridge.md"
APPLIANCES = 5
ALERTS_EACH = 400  # 2,000 alerts
OUTAGE_S = 60.0


def documented_bridge(city_port: int, station: str) -> str:
    block = next(
        b
        for b in re.findall(r"```conf\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
        if b.startswith("# /etc/mosquitto/conf.d/city-bridge.conf")
    )
    assert block.count("address city-mqtt.example.cn:1883") == 1
    return (
        block.replace("address city-mqtt.example.cn:1883", f"address 127.0.0.1:{city_port}")
        .replace("/var/lib/mosquitto/", "{workdir}/")
        .replace("STATION", station)
        # Retry every 1-3 s instead of 2-30 s, so the test does not wait for a 30 s back-off after the outage.
        .replace("restart_timeout 2 30", "restart_timeout 1 3")
    )


@pytest.mark.slow
def test_a_60_s_city_outage_loses_no_alert(tmp_path: Path) -> None:
    station = f"st{uuid.uuid4().hex[:8]}"
    city = Mosquitto("persistence true\npersistence_location {workdir}/\nmax_queued_messages 0\n")
    city.start()
    link = CuttableLink(city.port)
    link.start()
    station_broker = Mosquitto()
    station_broker.config_text = (
        f"listener {station_broker.port} 127.0.0.1\nallow_anonymous true\n"
        "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
        + documented_bridge(link.port, station).replace("{workdir}", str(station_broker.workdir))
    )
    station_broker.config_path.write_text(station_broker.config_text)
    station_broker.start()
    # The city's monitor, on a persistent session, sees every device's every seq.
    watch = start_watch(city.port, f"checkpoint/v1/{station}/#", "--client-id", "watch-city")
    settings = BrokerSettings(port=station_broker.port, reconnect_min_s=0.05, reconnect_max_s=0.5)
    appliances: list[Appliance] = []
    try:
        appliances = [
            start_appliance(station, f"gate-{i:02d}", settings, tmp_path) for i in range(APPLIANCES)
        ]
        deadline = time.monotonic() + 30
        while not any(e.get("event") == "status" for e in watch.events):
            assert time.monotonic() < deadline, "nothing crossed the bridge before the outage"
            time.sleep(0.1)

        total = APPLIANCES * ALERTS_EACH
        # Publish for ~10 s before, 60 s during and ~10 s after the outage (~25 alerts/s).
        interval_s = 80.0 / total
        outage = threading.Timer(10.0, link.cut)
        started = time.monotonic()
        outage.start()
        restored = False
        for produced, appliance in enumerate(round_robin(appliances, ALERTS_EACH), start=1):
            appliance.alert()
            if not restored and time.monotonic() - started >= 10.0 + OUTAGE_S:
                link.restore()
                restored = True
            time.sleep(max(0.0, started + produced * interval_s - time.monotonic()))
        outage.join()
        if not restored:
            link.restore()
        assert wait_delivered(appliances, timeout_s=60), "the station broker did not acknowledge every alert"
        assert link.connections >= 2, "the bridge never reconnected after the outage"

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            seen = sum(1 for e in watch.events if e.get("event") == "alert")
            if seen >= total:
                break
            time.sleep(0.5)
    finally:
        for appliance in appliances:
            appliance.stop()
        link.close()
        code, summary = watch.stop()
        station_broker.close()
        city.close()

    alerts_seen = [e for e in watch.events if e.get("event") == "alert"]
    assert summary["lost"] == 0, (
        f"watch reports losses: {[e for e in watch.events if e.get('event') == 'gap']}"
    )
    assert summary["schema_failures"] == 0
    for i in range(APPLIANCES):
        counts = summary["devices"][f"{station}/gate-{i:02d}"]["alert"]
        assert (counts["unique"], counts["highest_seq"], counts["missing"]) == (ALERTS_EACH, ALERTS_EACH, 0)
    assert len({e["message_id"] for e in alerts_seen}) == total
    assert code == 0
