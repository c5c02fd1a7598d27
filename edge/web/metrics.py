"""/metrics: Prometheus text format through prometheus_client, every name prefixed `checkpoint_edge_`.

A custom collector reads the service's reporting calls at scrape time (lane counters, device status, outbox
health, uplink state): nothing is pushed from a lane, so a scraper can never slow screening down.
Counters restart from zero when a reload replaces the service, which Prometheus' rate() handles.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge import __version__
from edge.clock import clock_synchronised
from edge.config import config_hash
from edge.web.context import WebContext

PREFIX = "checkpoint_edge_"
DEVICE_STATES = ("connecting", "connected", "reconnecting", "failed", "stopped")


def _counter(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, doc, labels=labels)


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, labels=labels or [])


class ServiceCollector(Collector):
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        service = self.ctx.service()
        yield from self._lanes(service)
        yield from self._joins(service)
        yield from self._devices(service)
        yield from self._delivery(service)
        synced = clock_synchronised()
        clock = _gauge("clock_synchronised", "1 when the kernel reports the wall clock NTP-synchronised.")
        clock.add_metric([], 1.0 if synced else 0.0)
        yield clock
        info = _gauge(
            "info",
            "Software version and configuration hash of the running service.",
            ["version", "config_hash"],
        )
        info.add_metric([__version__, config_hash(service.config)], 1.0)
        yield info

    def _lanes(self, service: Any) -> Iterator[Metric]:
        frames = _counter("frames", "Thermal frames processed per lane.", ["lane"])
        drops = _counter("frames_dropped", "Thermal frames dropped under load per lane.", ["lane"])
        passengers = _counter("passengers", "Passengers decided per lane.", ["lane"])
        decisions = _counter("decisions", "Decisions per lane by outcome.", ["lane", "outcome"])
        lockout = _gauge("screening_locked_out", "1 while the lane's screening is locked out.", ["lane"])
        alarm = _gauge("alarm_state", "The lane's alarm device: 1 for its current state.", ["lane", "state"])
        alarm_on = _gauge(
            "alarm_output_on", "1 while any of the lane's alarm outputs (lamp, buzzer) is on.", ["lane"]
        )
        alarm_ack = _gauge(
            "alarm_awaiting_ack",
            "1 while a referral alarm waits for the operator's acknowledgement.",
            ["lane"],
        )
        for lane in service.lanes:
            counters = dict(lane.counters)
            frames.add_metric([lane.lane_id], counters.get("frames", 0))
            drops.add_metric([lane.lane_id], counters.get("frames_dropped", 0))
            outcomes = {
                k.removeprefix("category_"): v for k, v in counters.items() if k.startswith("category_")
            }
            passengers.add_metric([lane.lane_id], sum(outcomes.values()))
            for outcome, count in sorted(outcomes.items()):
                decisions.add_metric([lane.lane_id, outcome], count)
            lockout.add_metric([lane.lane_id], 0.0 if lane.screener.status == "ok" else 1.0)
            alarm_status = _alarm_status(lane)
            if alarm_status is not None:
                alarm.add_metric([lane.lane_id, str(alarm_status.get("state"))], 1.0)
                outputs = dict(alarm_status.get("outputs") or {})
                alarm_on.add_metric([lane.lane_id], 1.0 if any(outputs.values()) else 0.0)
                alarm_ack.add_metric([lane.lane_id], 1.0 if alarm_status.get("awaiting_ack") else 0.0)
        yield from (frames, drops, passengers, decisions, lockout, alarm, alarm_on, alarm_ack)

    def _joins(self, service: Any) -> Iterator[Metric]:
        joins = _counter(
            "card_face_joins",
            "How ID cards met faces per lane: joined, ambiguous (a face sent to the operator without an ID), "
            "cards_without_face, faces_without_card, ambiguous_cards, card_repeats.",
            ["lane", "outcome"],
        )
        flow = _gauge(
            "lane_flow",
            "1 for the flow the lane pairs cards by; learning=1 while auto has not learnt.",
            ["lane", "flow", "learning"],
        )
        for lane in service.lanes:
            for outcome, count in lane.join_counts().items():
                joins.add_metric([lane.lane_id, outcome], count)
            current = lane.joiner.flow
            flow.add_metric([lane.lane_id, current.name, "0" if current.learnt else "1"], 1.0)
        yield from (joins, flow)

    def _devices(self, service: Any) -> Iterator[Metric]:
        state = _gauge(
            "device_state", "1 for each device's current state.", ["lane", "device", "kind", "state"]
        )
        items = _counter("device_items", "Items (frames, scans) a device delivered.", ["device"])
        errors = _counter("device_errors", "Errors a device reported, all kinds.", ["device"])
        for lane in service.lanes:
            for device in lane.devices:
                s = device.status()
                current = str(s.get("state"))
                # Every known state, 1 for the current one: the series stay put as the state changes.
                for name in (*DEVICE_STATES, *(() if current in DEVICE_STATES else (current,))):
                    value = 1.0 if name == current else 0.0
                    state.add_metric([lane.lane_id, s["device_id"], str(s.get("kind")), name], value)
                items.add_metric([s["device_id"]], s.get("items", 0))
                errors.add_metric([s["device_id"]], sum(dict(s.get("errors") or {}).values()))
        yield from (state, items, errors)

    def _delivery(self, service: Any) -> Iterator[Metric]:
        health = service.outbox.health()
        depth = _gauge("outbox_depth", "Messages waiting in the outbox by kind.", ["kind"])
        for kind, count in sorted(health["depth"].items()):
            depth.add_metric([kind], count)
        oldest = _gauge("outbox_oldest_age_seconds", "Age of the oldest undelivered message (0 when empty).")
        oldest.add_metric([], health["oldest_age_s"] or 0.0)
        connected = _gauge("uplink_connected", "1 while the uplink is connected to a broker.")
        connected.add_metric([], 1.0 if service.uplink.state().get("connected") else 0.0)
        alerts = _counter(
            "alerts",
            "Alerts committed to the outbox for delivery, by lane and category.",
            ["lane", "category"],
        )
        for (lane_id, category), count in sorted(service.committed_alerts().items()):
            alerts.add_metric([lane_id, category], count)
        yield from (depth, oldest, connected, alerts)


def _alarm_status(lane: Any) -> dict[str, Any] | None:
    """The lane's alarm output device status, when the lane has one (it is optional)."""
    alarm = lane.alarm
    return None if alarm is None else dict(alarm.status())


def metrics_text(ctx: WebContext) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(ctx))
    return generate_latest(registry)
