"""One checkpoint lane: its devices, its screening, and the join of readings with ID scans.

Each lane runs its own device threads and one worker thread, so a failing device degrades its own lane only.
Frames are perishable (a bounded queue that drops the oldest and counts it); scans never are.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from drivers.alarm.output import AlarmOutputDevice
from drivers.device import Device, DeviceItem
from drivers.items import IdScan, ThermalFrame, VisibleFrame
from drivers.registry import build_device
from edge.flows import FlowLearner, configured_flow
from edge.operator.board import OperatorBoard
from edge.operator.signals import LaneSignals
from edge.passengers import Passenger, PassengerJoiner
from edge.rule_lists import RuleListStore
from edge.rules import Decision, RulesSettings, decide
from edge.screening.pipeline import LaneScreener
from edge.screening.recheck import RecheckBook, bind_to_document
from edge.screening.settings import ScreeningSettings

log = logging.getLogger(__name__)

FRAME_QUEUE_LEN = 16
VISIBLE_PAIRING_S = 0.2
PassengerSink = Callable[[Passenger, Decision], None]


class Lane:
    def __init__(
        self,
        lane_id: str,
        thermal: Device,
        scanners: list[Device],
        visible: Device | None,
        screening: ScreeningSettings,
        rules: RulesSettings,
        joiner: PassengerJoiner,
        rule_lists: RuleListStore,
        pseudonymise: Callable[[str], str | None],
        sink: PassengerSink,
        *,
        alarm: AlarmOutputDevice | None = None,
        board: OperatorBoard | None = None,
        sensor: str | None = None,
    ) -> None:
        self.lane_id = lane_id
        self.thermal = thermal
        self.scanners = scanners
        self.visible = visible
        self.alarm = alarm
        # The operator display and the alarm output: told of each verdict, decision and fault, never waited on.
        self.signals = LaneSignals(lane_id, alarm, board)
        self._latest_visible: VisibleFrame | None = None
        self.rules = rules
        self.rule_lists = rule_lists
        self.pseudonymise = pseudonymise
        self.sink = sink
        self.screener = LaneScreener(screening, sensor=sensor)
        self.screening_state = "ok"  # last screener status seen: a change is logged once
        self.rechecks = (
            RecheckBook(screening.decision.recheck_window_s) if screening.decision.recheck else None
        )
        self.joiner = joiner
        self._flow_seen = joiner.flow
        self._last_frame_mono = time.monotonic()
        self.frames: queue.Queue[ThermalFrame] = queue.Queue(maxsize=FRAME_QUEUE_LEN)
        self.scans: queue.Queue[IdScan] = queue.Queue()
        self.counters: Counter[str] = Counter()
        self.last_loop_mono = time.monotonic()
        self._threads: list[threading.Thread] = []

    @classmethod
    def from_config(
        cls,
        lane_config: Any,
        app_config: Any,
        rule_lists: RuleListStore,
        pseudonymise: Callable[[str], str | None],
        sink: PassengerSink,
        board: OperatorBoard | None = None,
    ) -> Lane:
        thermal = build_device(f"{lane_config.id}.thermal", lane_config.thermal)
        scanners = [
            build_device(f"{lane_config.id}.idscan{i}", s) for i, s in enumerate(lane_config.id_scanners)
        ]
        visible = (
            build_device(f"{lane_config.id}.visible", lane_config.visible) if lane_config.visible else None
        )
        alarm = build_device(f"{lane_config.id}.alarm", lane_config.alarm) if lane_config.alarm else None
        assert alarm is None or isinstance(alarm, AlarmOutputDevice)
        learner = (
            FlowLearner(Path(app_config.storage.state_dir) / f"flow-{lane_config.id}.json")
            if lane_config.flow == "auto"
            else None
        )
        flow = (learner.load() if learner else None) or configured_flow(
            lane_config.flow, lane_config.card_offset_s
        )
        joiner = PassengerJoiner(
            lane_config.id,
            flow,
            measurement_delay_s=app_config.screening.passenger_gap_s,
            repeat_suppress_s=app_config.passengers.repeat_suppress_s,
            learner=learner,
        )
        return cls(
            lane_config.id,
            thermal,
            scanners,
            visible,
            app_config.screening_for(lane_config.id),
            app_config.rules,
            joiner,
            rule_lists,
            pseudonymise,
            sink,
            alarm=alarm,
            board=board,
            sensor=lane_config.thermal.type,
        )

    @property
    def devices(self) -> list[Device]:
        optional = [d for d in (self.visible, self.alarm) if d is not None]
        return [self.thermal, *self.scanners, *optional]

    def faults(self) -> tuple[str, ...]:
        """What the lane display lists as lane faults: device kinds not connected, a screening lockout."""
        down = {d.kind for d in self.devices if d.state != "connected"}
        status = self.screener.status
        if status != "ok":
            down.add("warm_up" if "warm" in status else "lockout")
        return tuple(sorted(down))

    def start(self, stop: threading.Event) -> None:
        for device in self.devices:
            t = threading.Thread(target=device.run, args=(stop, self._accept), name=f"dev-{device.device_id}")
            t.daemon = True
            t.start()
            self._threads.append(t)
        worker = threading.Thread(target=self._work, args=(stop,), name=f"lane-{self.lane_id}", daemon=True)
        worker.start()
        self._threads.append(worker)

    def health(self) -> dict[str, Any]:
        """A lane is degraded while any of its devices is not connected or its screening is locked out
        (warm-up, blackbody); other lanes are unaffected."""
        down = [d for d in self.devices if d.status().get("state") != "connected"]
        problems = [f"{d.device_id} {d.status().get('state')}" for d in down]
        screening = self.screener.status
        if screening != "ok":
            problems.append(f"screening {screening}")
        out: dict[str, Any] = {"state": "degraded" if problems else "ok", "reason": ", ".join(problems)}
        details = self.screener.status_details()
        if details or screening != "ok":
            out["screening"] = {"state": "ok" if screening == "ok" else "locked_out", **details}
        return out

    def join(self, timeout_s: float) -> list[str]:
        """Wait for this lane's threads; return the names of those that did not stop."""
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]

    def _accept(self, item: DeviceItem) -> None:
        """Called on device threads: hand over and return at once."""
        if isinstance(item, IdScan):
            self.scans.put(item)
            return
        if isinstance(item, VisibleFrame):
            self._latest_visible = item  # only the newest picture is ever paired with a thermal frame
            return
        try:
            self.frames.put_nowait(item)
        except queue.Full:
            # Under load a stale frame is worth less than a fresh one: drop the oldest.
            try:
                self.frames.get_nowait()
                self.counters["frames_dropped"] += 1
            except queue.Empty:
                pass
            self.frames.put_nowait(item)

    def _work(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.last_loop_mono = time.monotonic()
            try:
                self.step(timeout_s=0.05)
            except Exception:  # a bug in one passenger's processing must not kill the lane
                self.counters["worker_errors"] += 1
                log.exception("lane %s: error while processing; continuing", self.lane_id)
        self.finish()

    def step(self, timeout_s: float) -> None:
        while True:
            try:
                scan = self.scans.get_nowait()
            except queue.Empty:
                break
            self.counters["scans"] += 1
            self.joiner.add_scan(scan)
        try:
            frame = self.frames.get(timeout=timeout_s)
        except queue.Empty:
            frame = None
        if frame is not None:
            self.counters["frames"] += 1
            self._last_frame_mono = frame.t_mono
            try:
                for m in self.screener.process(frame, self._visible_for(frame)):
                    self.joiner.add_measurement(m)
            except Exception:  # one bad frame: the passengers already held still get decided
                self.counters["worker_errors"] += 1
                log.exception("lane %s: error processing a frame; continuing", self.lane_id)
        self._note_screening_state()
        now = horizon = time.monotonic()
        # End idle tracks by the clock only once the queue is drained: a worker that fell behind (a slow disk
        # commit) must judge queued frames by their own time, or it splits a passenger in two. For the same
        # reason the joiner's horizon is the last frame seen while frames are still queued.
        if self.frames.empty():
            for m in self.screener.flush(now):
                self.joiner.add_measurement(m)
        else:
            horizon = self._last_frame_mono
        self._announce_verdicts()
        self.signals.faults(self.faults(), now)
        for p in self.joiner.advance(horizon, self.screener.in_view_since):
            self._decide_safely(p)
        if self.joiner.flow is not self._flow_seen:
            self._flow_seen = self.joiner.flow
            log.info("lane %s: learnt its flow: %s", self.lane_id, self.joiner.flow.describe())

    def _decide_safely(self, p: Passenger) -> None:
        """One try per passenger: a fault deciding one must not discard the others of the same step."""
        try:
            self._decide(p)
        except Exception:
            self.counters["worker_errors"] += 1
            log.exception("lane %s: error deciding a passenger; continuing with the others", self.lane_id)

    def error_counters(self) -> dict[str, int]:
        """What this lane lost or survived since start: reported in status."""
        return {key: self.counters[key] for key in ("worker_errors", "frames_dropped")}

    def _announce_verdicts(self) -> None:
        """Temperature verdicts go to the display and the alarm now; the alert waits for the card join."""
        for m in self.screener.take_verdicts():
            self.counters["verdicts"] += 1
            self.signals.verdict(m, time.monotonic())

    def _note_screening_state(self) -> None:
        state = self.screener.status
        if state != self.screening_state:
            self.screening_state = state
            if state == "ok":
                log.warning("lane %s: screening resumed", self.lane_id)
            else:
                self.counters["screening_lockouts"] += 1
                log.warning("lane %s: screening %s", self.lane_id, state)

    def status(self) -> dict[str, Any]:
        """Health, the flow cards are paired by, and how cards met faces since start."""
        flow = self.joiner.flow.describe()
        if self.joiner.learner is not None and not self.joiner.flow.learnt:
            flow["samples"] = len(self.joiner.learner.samples)
        return self.health() | {"flow": flow, "passengers": self.join_counts()}

    def join_counts(self) -> dict[str, int]:
        keys = (
            "joined",
            "ambiguous",
            "cards_without_face",
            "faces_without_card",
            "ambiguous_cards",
            "card_repeats",
        )
        return {k: int(self.joiner.counts[k]) for k in keys}

    def _visible_for(self, frame: ThermalFrame) -> np.ndarray | None:
        """The visible picture taken within 0.2 s of the thermal frame, if any: an older one would misplace faces."""
        picture = self._latest_visible
        if picture is None or abs(picture.t_mono - frame.t_mono) > VISIBLE_PAIRING_S:
            return None
        return picture.bgr

    def finish(self) -> None:
        """At shutdown: every scan and reading already received still becomes a decision."""
        while True:
            try:
                self.joiner.add_scan(self.scans.get_nowait())
            except queue.Empty:
                break
        for m in self.screener.flush(float("inf")):
            self.joiner.add_measurement(m)
        for p in self.joiner.drain():
            self._decide_safely(p)

    def _decide(self, p: Passenger) -> None:
        m, doc = p.measurement, p.scan.document if p.scan else None
        id_hmac = self.pseudonymise(doc.number) if doc is not None and doc.number else None
        if m is not None and id_hmac is not None and self.rechecks is not None:
            # A re-check is bound to the passenger: their document, once joined (edge/screening/recheck.py).
            m = bind_to_document(self.rechecks, m, id_hmac, p.t_mono)
            p = dataclasses.replace(p, measurement=m)
        lists = self.rule_lists.active
        decision = decide(
            temperature=m,
            document=doc,
            id_hmac=id_hmac,
            key_regions=lists.key_regions,
            watch_actions=lists.watch_actions,
            rules=self.rules,
            today=dt.date.fromtimestamp(p.t_wall),
            identity_ambiguous=p.ambiguous,
        )
        self.counters["screened" if m else "scans_unmatched"] += 1
        if m:
            self.counters[m.status] += 1
        self.counters[f"category_{decision.category}"] += 1
        self.signals.decision(p, decision)
        self.sink(p, decision)
