"""/metrics: Prometheus text from the running service, no login, names prefixed checkpoint_edge_."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.clock import clock_synchronised
from edge.service import Service
from edge.simulation import script_scene
from tests.fakes.checkpoint import SimulatedCheckpoint
from tests.fakes.mosquitto import Mosquitto
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
    # Six regular passengers: every card joined its face.
    assert total(samples, "checkpoint_edge_card_face_joins_total", lane="lane-1", outcome="joined") == 6
    assert total(samples, "checkpoint_edge_card_face_joins_total", lane="lane-1", outcome="ambiguous") == 0
    assert (
        total(samples, "checkpoint_edge_lane_flow", lane="lane-1", flow="card_while_in_view", learning="0")
        == 1
    )
    assert total(samples, "checkpoint_edge_device_state", device="lane-1.thermal", state="connected") == 1.0
    assert (
        total(samples, "checkpoint_edge_device_state", device="lane-1.thermal") == 1.0
    )  # one state at a time


@pytest.mark.slow
def test_alarm_metrics_follow_the_relay(tmp_path: Path, mosquitto: Mosquitto) -> None:
    from drivers.sim.lcus_relay_sim import LcusRelaySimulator
    from tests.runtime.test_lane_alarm import ALARM_TABLE

    relay = LcusRelaySimulator(tmp_path / "lane-1-relay").start()
    rig = SimulatedCheckpoint(tmp_path, mosquitto.port, [script_scene(count=3, febrile=(1,), key_region=())])
    text = rig.config_path.read_text()
    rig.config_path.write_text(
        text.replace("[screening]", ALARM_TABLE.format(port=relay.port) + "\n[screening]")
    )
    service = Service(rig.config)
    service.start()
    try:
        url = service.web.url("console")
        assert url is not None

        def wait_for(name: str, value: float, timeout_s: float = 40.0) -> None:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                samples = scrape(url)
                if samples.get(name) and total(samples, name, lane="lane-1") == value:
                    return
                time.sleep(0.2)
            raise AssertionError(f"{name} never became {value}: {samples.get(name)}")

        wait_for("checkpoint_edge_alarm_state", 1.0)
        assert total(scrape(url), "checkpoint_edge_alarm_state", lane="lane-1", state="connected") == 1.0
        wait_for("checkpoint_edge_alarm_output_on", 0.0)
        wait_for("checkpoint_edge_alarm_awaiting_ack", 1.0)  # the febrile passenger's referral
        assert total(scrape(url), "checkpoint_edge_alarm_output_on", lane="lane-1") == 1.0
        snap = service.board.snapshot("lane-1", "zh_CN")
        assert service.board.acknowledge("lane-1", snap["pending"]["seq"] if snap["pending"] else snap["seq"])
        wait_for("checkpoint_edge_alarm_awaiting_ack", 0.0, timeout_s=10.0)
    finally:
        service.stop()
        rig.close()
        relay.stop()
