"""Rule lists reach appliances on every node of a cluster whose retained store is per node (RabbitMQ)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.cli import main as cli_main
from edge.list_signing import generate_key_pair, load_private_key, load_public_keys, sign
from edge.lists_publish import publish_retained
from edge.outbox import Outbox
from edge.rule_lists import RuleListStore
from edge.uplink import Uplink
from tests.fakes.fleet import cluster_settings, lists_topic
from tests.fakes.rabbitmq import RabbitCluster


def signed_document(tmp_path: Path, version: int) -> Path:
    private = tmp_path / "centre.key"
    if not private.exists():
        generate_key_pair(private, tmp_path / "centre.pub")
    lists = {"version": version, "key_regions": [], "watch_list": []}
    path = tmp_path / f"lists-v{version}.json"
    path.write_text(json.dumps(sign(lists, load_private_key(private))))
    return path


class ListAppliance:
    """The delivery room of an appliance with its list store, subscribed to the site's list topic."""

    def __init__(self, cluster: RabbitCluster, node: int, site: str, device: str, tmp_path: Path) -> None:
        self.store = RuleListStore([], trusted_keys=load_public_keys(tmp_path / "centre.pub"))
        self.outbox = Outbox(tmp_path / f"{device}.sqlite3")
        topic = lists_topic(site)
        self.uplink = Uplink(
            cluster_settings(cluster.mqtt_endpoints(first=node)),
            self.outbox,
            site,
            device,
            subscriptions={topic: lambda raw: self.store.apply(raw, "mqtt")},
        )
        self.uplink.start()

    def version(self) -> int:
        return int(self.store.active.version)

    def stop(self) -> None:
        self.uplink.stop(timeout_s=3)
        self.outbox.close()


def wait_versions(appliances: list[ListAppliance], version: int, timeout_s: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(a.version() != version for a in appliances):
        time.sleep(0.1)
    return [a.version() for a in appliances]


@pytest.mark.slow
def test_lists_published_to_every_node_reach_appliances_on_any_node(
    cluster: RabbitCluster, site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = signed_document(tmp_path, 1)
    brokers = [f"127.0.0.1:{cluster.mqtt_port(i)}" for i in range(3)]
    args = ["lists", "publish", str(v1), "--site", site]
    assert cli_main([*args, *(a for b in brokers for a in ("--broker", b))]) == 0
    assert capsys.readouterr().out.count(" OK") == 3

    appliances: list[ListAppliance] = []
    try:
        appliances = [ListAppliance(cluster, node, site, f"gate-{node}", tmp_path) for node in range(3)]
        assert wait_versions(appliances, 1) == [1, 1, 1]

        # Retained messages are node-local: version 2 published to node 0 only reaches the appliances
        # already subscribed (their subscriptions are cluster-wide) but not one that connects to node 2 later.
        v2 = signed_document(tmp_path, 2).read_bytes()
        topic = lists_topic(site)
        assert publish_retained([("127.0.0.1", cluster.mqtt_port(0))], topic, v2) == {brokers[0]: None}
        assert wait_versions(appliances, 2) == [2, 2, 2]
        late = ListAppliance(cluster, 2, site, "gate-late", tmp_path)
        appliances.append(late)
        assert wait_versions([late], 1, timeout_s=30) == [1], "node 2 should still retain version 1"
        time.sleep(1.0)
        assert late.version() == 1

        # Which is why the centre publishes to every node: then a late-comer anywhere gets version 2.
        assert publish_retained(
            [("127.0.0.1", cluster.mqtt_port(i)) for i in range(3)], topic, v2
        ) == dict.fromkeys(brokers)
        newest = ListAppliance(cluster, 1, site, "gate-newest", tmp_path)
        appliances.append(newest)
        assert wait_versions([late, newest], 2) == [2, 2]
    finally:
        for appliance in appliances:
            appliance.stop()
