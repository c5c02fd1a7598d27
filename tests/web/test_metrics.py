"""/metrics: Prometheus text from the running service, no login, names prefixed checkpoint_edge_."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.clock import clock_synchronised
from tests.web.conftest import WebRig


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lbl, v in samples.get(name, []) if all(lbl.get(k) == x for k, x in labels.items()))


def test_clock_state_is_read_from_the_kernel() -> None:
    assert clock_synchronised() in (True, False)


@pytest.mark.slow
def test_metrics_follow_the_running_lanes(web_rig: WebRig) -> None:
    console = web_rig.url("console")
    first = scrape(console)
    for name in (
        "checkpoint_edge_frames_total",
        "checkpoint_edge_device_state",
        "checkpoint_edge_outbox_depth",
        "checkpoint_edge_outbox_oldest_age_seconds",
        "checkpoint_edge_uplink_connected",
        "checkpoint_edge_clock_synchronised",
        "checkpoint_edge_screening_locked_out",
    ):
        assert name in first, name
    assert all(name.startswith("checkpoint_edge_") for name in first)
    assert total(first, "checkpoint_edge_screening_locked_out", lane="lane-1") == 0.0
    # The scene has one febrile passenger among six: wait for the alert to be committed.
    deadline = time.monotonic() + 60.0
    samples = first
    while time.monotonic() < deadline:
        samples = scrape(console)
        if (
            total(samples, "checkpoint_edge_alerts_total") >= 1
            and total(samples, "checkpoint_edge_passengers_total", lane="lane-1") >= 6
        ):
            break
        time.sleep(0.5)
    assert total(samples, "checkpoint_edge_alerts_total", lane="lane-1", category="medical_referral") == 1
    assert total(samples, "checkpoint_edge_frames_total", lane="lane-1") > total(
        first, "checkpoint_edge_frames_total", lane="lane-1"
    )
    assert total(samples, "checkpoint_edge_decisions_total", lane="lane-1") == total(
        samples, "checkpoint_edge_passengers_total", lane="lane-1"
    )
    assert total(samples, "checkpoint_edge_uplink_connected") == 1.0
    assert total(samples, "checkpoint_edge_device_state", device="lane-1.thermal", state="connected") == 1.0
    assert (
        total(samples, "checkpoint_edge_device_state", device="lane-1.thermal") == 1.0
    )  # one state at a time
