"""Simulated appliances for the fleet tests and bench/fleet.py: the real Outbox + Uplink, no devices.

Each appliance is what the service runs for delivery (an `Outbox` on its own SQLite file and an `Uplink`
with the site's broker list); a producer appends alerts and statistics as a lane and the statistics job
would. Messages are schema-valid as the contract requires.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.contract import LaneCounts, build_stats
from edge.contract.topics import device_topic, device_topic_base
from edge.contract.topics import lists_topic as contract_lists_topic
from edge.outbox import Outbox
from edge.uplink import BrokerEndpoint, BrokerSettings, Uplink
from tests.fakes.alerts import fever_alert

DEFAULT_PREFIX = BrokerSettings().topic_prefix


def fleet_alert(site: str, device: str, n: int) -> dict[str, Any]:
    """A schema-valid alert as a lane produces it (the outbox adds message_id and seq). The bench measures
    latency from its monotonic_s (CLOCK_MONOTONIC is system-wide, so processes compare)."""
    return fever_alert(site, device, f"lane-{1 + n % 2}", time.time(), time.monotonic())


def fleet_stats(site: str, device: str, n: int) -> dict[str, Any]:
    minute = time.strftime("%Y-%m-%dT%H:%M:00.000Z", time.gmtime())
    lanes = [LaneCounts(f"lane-{i}", screened=40 + n % 7, normal=39, elevated=1, scans=39) for i in (1, 2)]
    return build_stats(site, device, "minute", minute, minute, lanes)


def topic_filter(site: str = "+", device: str = "+", kind: str = "#") -> str:
    """The filter for appliances' messages, laid out as the uplink lays out its topics (edge/contract/topics.py:
    {prefix}/devices/{site}/{device}/{kind}): the one place the fleet tests and bench follow a layout change."""
    if kind == "#" and device == "+":
        return f"{device_topic_base(DEFAULT_PREFIX, site, '+').rsplit('/', 1)[0]}/#"
    return device_topic(DEFAULT_PREFIX, site, device, kind)


def lists_topic(site: str) -> str:
    """The site's retained rule-list topic, as the service subscribes to it."""
    return contract_lists_topic(DEFAULT_PREFIX, site)


def cluster_settings(endpoints: list[tuple[str, int]], **overrides: Any) -> BrokerSettings:
    """MQTT 3.1.1 (RabbitMQ 3.10 has no MQTT 5), the first node primary, the others as fallbacks."""
    (host, port), *rest = endpoints
    values: dict[str, Any] = {
        "host": host,
        "port": port,
        "fallback_brokers": [BrokerEndpoint(host=h, port=p) for h, p in rest],
        "protocol": "3.1.1",
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 2.0,
        "connect_timeout_s": 3.0,
        "keepalive_s": 10,
    }
    values.update(overrides)
    return BrokerSettings(**values)


@dataclass
class Appliance:
    site: str
    device: str
    outbox: Outbox
    uplink: Uplink
    produced: int = 0

    def alert(self) -> dict[str, Any]:
        stamped = self.outbox.append("alert", fleet_alert(self.site, self.device, self.produced))
        self.produced += 1
        return stamped

    def stats(self) -> dict[str, Any]:
        return self.outbox.append("stats", fleet_stats(self.site, self.device, self.produced))

    def pending(self) -> int:
        return sum(self.outbox.depth().values())

    def stop(self) -> None:
        self.uplink.stop(timeout_s=3)
        self.outbox.close()


def start_appliance(site: str, device: str, settings: BrokerSettings, state_dir: Path) -> Appliance:
    outbox = Outbox(state_dir / f"{device}.sqlite3")
    uplink = Uplink(settings, outbox, site, device)
    uplink.start()
    return Appliance(site, device, outbox, uplink)


def wait_delivered(appliances: list[Appliance], timeout_s: float) -> bool:
    """True once every appliance's outbox is empty (every row acknowledged by a broker)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(a.pending() == 0 for a in appliances):
            return True
        time.sleep(0.1)
    return False


def round_robin(appliances: list[Appliance], per_appliance: int) -> Iterator[Appliance]:
    for _ in range(per_appliance):
        yield from appliances
