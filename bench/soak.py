#!/usr/bin/env python3
"""Soak: 4 lanes at 2 passengers/s each, for minutes, through the whole appliance.

    python bench/soak.py --minutes M        (default 10; --minutes 0.5 for a quick check)

Each lane is a GY-MCU90640 simulator and a SAM ID-reader simulator on pseudo-terminals playing a scripted
scene (edge.simulation); the real edge.service.Service reads them through its drivers, screens, joins,
decides, commits alerts to its SQLite outbox and publishes them (QoS 1) to a Mosquitto started here on a
free 127.0.0.1 port; a subscriber in this process stands in for the central system.

What it checks:
- every expected alert arrives once, with the scripted category;
- every passenger is screened exactly once: each measurement is attributed to the passenger whose face was
  in view at its first frame (by time, independently of any card), so a passenger measured in pieces and a
  measurement joined to someone else's card are both counted, and the first few are described (incidents,
  with the lane's last alert-commit time, since the lane worker waits for that commit);
- resident memory (VmRSS of this process, which holds the service) grows < 5 MB after warm-up
  (warm-up: the first 20 % of the run, at least 30 s when the run is over a minute);
- no queue grows: outbox depth, each lane's frame and scan queues and the joiner's pending items,
  sampled once a second;
- latency from a passenger's last face frame (rendered by the simulator) to the alert at the subscriber,
  p50/p99, target p99 <= 250 ms; split into stages so a miss names its cause:
  transport (render -> driver), window close (driver -> decision: the screener's passenger gap and the
  join), commit (alert built, outbox row fsync'd) and uplink (commit -> subscriber, through Mosquitto).

The clocks: the scene clock is time.monotonic() - t0 (edge.simulation), the drivers stamp frames and scans
with time.monotonic(), and the subscriber runs in this process, so every instant is converted to
time.monotonic() and subtracted directly.

Scene: every lane scripts passengers 0.5 s apart (the phase against the 8 Hz frame clock walks 0..75 ms),
faces in view 0.33 s, the card on the reader 0.13 s of that, 1 in 4 febrile, 1 in 10 from a key region;
screening.passenger_gap_s 0.15 s (the default 0.4 s would merge passengers 0.17 s apart into one).
The outbox lives in the run's temporary directory (a real disk with fsync); `--state-dir /dev/shm` puts it
on tmpfs to separate the service's own behaviour from the disk's stalls.

Everything the bench itself keeps per passenger is allocated before the warm-up ends (numpy arrays), so the
RSS growth it reports belongs to the service, the drivers and the simulators.
Prints a table; the last line is one JSON object. Exit status 0 when every target is met.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.verdicts import PageWatcher, VerdictClock, print_report
from edge.central import CentralSubscriber
from edge.config import load_config
from edge.contract.topics import device_topic
from edge.flows import LEARN_SAMPLES
from edge.lane import Lane
from edge.local_broker import LocalBroker
from edge.outbox import Outbox
from edge.passengers import Passenger
from edge.privacy import Pseudonymiser
from edge.records import PassengerMeasurement
from edge.rules import Decision
from edge.service import Service
from edge.simulation import (
    IRREGULAR,
    SceneRenderer,
    ScriptedPassenger,
    SimulatedLane,
    appliance_config,
    card_bytes,
    expected_alerts,
    script_scene,
)

RSS_GROWTH_LIMIT_MB = 5.0
P99_TARGET_MS = (
    250.0  # at the default passenger_gap_s (0.15 s); the target moves with the gap, a configured wait
)
DEFAULT_GAP_S = 0.15
SHORT_DWELL_S = 0.4
START_S = 3.0  # scene time of the first passenger: devices open and configure before it
DRAIN_S = 4.0  # after the last passenger: time for the last alerts to arrive, within --minutes
SAMPLE_EVERY_S = 1.0
PHASE_STEPS = (0, 1, 2, 3, 2, 1)
# A frame is stamped by the driver a little after it was rendered; less than the face-free gap between passengers.
TRANSPORT_TOLERANCE_S = 0.1
INCIDENTS_KEPT = 8
# Stages of an alert's latency, as instants per passenger (all time.monotonic()).
STAGES = ("rendered", "driver", "decided", "committed", "received")


# The lane's configured card offsets per scene flow (see lane_scene): each passenger's own read falls
# inside, the neighbours' reads (0.5 s slots, arrival phase walking 0..75 ms) outside.
SCENE_OFFSETS_S = {
    "card_while_in_view": (-0.1, 0.1),
    "card_then_face": (-0.5, -0.05),
    "face_then_card": (0.03, 0.4),
}
SCENE_CARD_DELAY_S = {"card_while_in_view": 0.0, "card_then_face": 0.15, "face_then_card": 0.05}
COMMISSIONING_GAP_S = 4.0  # with --auto: one passenger alone every 4 s until it has learnt


def configured_flow(args: argparse.Namespace) -> tuple[str, tuple[float, float] | None]:
    if args.auto:
        return "auto", None
    lo, hi = SCENE_OFFSETS_S[args.flow]
    if 1.0 / args.rate >= 0.9 and args.flow != "card_while_in_view":
        # A passenger a second: room for a slower reader (a loaded machine stamps reads late).
        lo, hi = (lo - 0.2, hi) if args.flow == "card_then_face" else (lo, hi + 0.2)
    return args.flow, (lo, hi)


def lane_scene(args: argparse.Namespace, count: int, spacing_s: float, lane: int) -> list[ScriptedPassenger]:
    """One lane's passengers: the scene's flow, 1 in --irregular-every irregular (cycling through the kinds),
    1 in --anonymous-every without a card; with --auto, a commissioning walk first (passengers alone)."""
    every = math.ceil(COMMISSIONING_GAP_S / spacing_s)  # slots between two lone passengers
    learning = every * LEARN_SAMPLES if args.auto else 0

    def plain(i: int) -> bool:  # never febrile nor key-region: their alerts are the ones checked by ID
        return i % args.febrile_every != 1 and i % 10 != 6 and i >= learning

    absent = [i for i in range(learning) if i % every]
    irregular = {}
    if args.irregular_every:
        n = 0
        for i in range(count):
            # A tailgater follows a regular passenger, so every kind meets the same neighbours.
            if plain(i) and i % args.irregular_every == args.irregular_every - 1:
                irregular[i] = IRREGULAR[n % len(IRREGULAR)]
                n += 1
    return [
        # Arrivals on an exact 0.5 s grid would meet the 8 Hz frame clock at one phase only; walking the phase
        # (0, 1, 2, 3, 2, 1 steps) varies the face frames per passenger at the same rate.
        dataclasses.replace(
            p,
            arrive_s=p.arrive_s + args.phase_step_s * PHASE_STEPS[p.index % len(PHASE_STEPS)],
            leave_s=p.leave_s + args.phase_step_s * PHASE_STEPS[p.index % len(PHASE_STEPS)],
            card_from_s=None
            if p.card_from_s is None
            else p.card_from_s + args.phase_step_s * PHASE_STEPS[p.index % len(PHASE_STEPS)],
            irregular="commissioning" if p.index < learning and p.index % every == 0 else p.irregular,
        )
        for p in script_scene(
            count,
            febrile=tuple(i for i in range(count) if i % args.febrile_every == 1 and i >= learning),
            key_region=tuple(
                i for i in range(count) if i % 10 == 6 and i % args.febrile_every != 1 and i >= learning
            ),
            # Anonymous passengers are never febrile nor from a key region: their alerts carry no identity to
            # check them by. Absent: the empty slots of the commissioning walk.
            no_card=tuple(
                i
                for i in range(count)
                if (
                    args.anonymous_every and plain(i) and i % args.anonymous_every == args.anonymous_every - 1
                )
                or i in absent
            ),
            no_face=tuple(absent),
            start_s=START_S,
            spacing_s=spacing_s,
            dwell_s=args.dwell_s,
            lane=lane,
            flow=args.flow,
            card_delay_s=SCENE_CARD_DELAY_S[args.flow],
            irregular=irregular,
        )
    ]


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class RecordingRenderer(SceneRenderer):
    """The lane's scene, noting for each passenger when their face was last rendered into a frame."""

    def __init__(
        self,
        passengers: list[ScriptedPassenger],
        first_slot_s: float,
        spacing_s: float,
        t0: float,
        last_face_mono: np.ndarray,
    ) -> None:
        super().__init__(passengers)
        self.t0 = t0
        self._last_face_mono = last_face_mono
        self.face_frames = np.zeros(len(passengers), dtype=np.int32)
        self._spacing_s = spacing_s
        self._first_s = first_slot_s
        self.on_face: Callable[[int, float], None] | None = None  # (passenger index, render time)
        # The base class encodes each card; encode every passenger's once, up front.
        self._cards = [card_bytes(p) if p.has_card else None for p in passengers]

    def _near(self, t: float) -> list[int]:
        # Passenger i's face and card fall within slot i or its neighbours (first_slot_s + i * spacing_s, one
        # spacing long; a card read before the face, a tailgater): index arithmetic instead of a scan of the
        # whole script for every frame and every reader command.
        i = math.floor((t - self._first_s) / self._spacing_s)
        return [j for j in (i - 1, i, i + 1) if 0 <= j < len(self.passengers)]

    def present(self, t: float) -> ScriptedPassenger | None:
        for j in self._near(t):
            p = self.passengers[j]
            if p.has_face and p.arrive_s <= t < p.leave_s:
                return p
        return None

    def index_at(self, t_mono: float) -> int | None:
        """The passenger whose face was in view at t_mono (a driver's stamp, a little after the render)."""
        t = t_mono - self.t0
        near = [j for j in self._near(t) if self.passengers[j].has_face]
        for j in near:
            if self.passengers[j].arrive_s <= t < self.passengers[j].leave_s:
                return j
        for j in near:
            p = self.passengers[j]
            if p.arrive_s <= t < p.leave_s + TRANSPORT_TOLERANCE_S:
                return j
        return None

    def card(self, t: float) -> bytes | None:
        for j in self._near(t):
            if any(start <= t < end for start, end in self.passengers[j].card_windows()):
                return self._cards[j]
        return None

    def __call__(self, t: float) -> tuple[np.ndarray, float]:
        p = self.present(t)
        if p is not None:
            self._last_face_mono[p.index] = t + self.t0
            self.face_frames[p.index] += 1
            if self.on_face is not None:
                self.on_face(p.index, t + self.t0)
        return super().__call__(t)


@dataclass
class LaneRecord:
    """What the bench knows about one lane's scripted passengers, indexed by passenger index."""

    passengers: list[ScriptedPassenger]
    index_of_number: dict[str, int]
    times: np.ndarray  # (passengers, len(STAGES)) time.monotonic() instants, NaN until seen
    screened: np.ndarray  # measurements joined to this passenger's card
    measured: np.ndarray  # measurements whose first frame shows this passenger's face
    correct: (
        np.ndarray
    )  # 1 when a measurement of this face went out with this passenger's card (or none if anonymous)
    alerts_received: np.ndarray
    expected_category: list[str | None]
    renderer: RecordingRenderer | None = None
    ambiguous: np.ndarray | None = None  # 1 when a measurement of this face went out ambiguous (no identity)


class Instruments:
    """Counts the service's decisions and the subscriber's alerts against the script, without allocating per
    passenger after start-up (so it stays out of the RSS growth it helps measure)."""

    def __init__(self, records: list[LaneRecord], stall_s: float = 0.0, stall_every: int = 0) -> None:
        self.records = records
        # Fault injection: every Nth commit of the outbox's writer waits stall_s inside its transaction, as
        # behind a slow fsync (the disk of this VM has stalled single commits for 0.3-2 s).
        self.stall_s, self.stall_every = stall_s, stall_every
        self.commits = 0
        self.stalls = 0
        self.lane_of_id = {f"lane-{k + 1}": k for k in range(len(records))}
        self.unmatched_measurements = np.zeros(len(records), dtype=np.int64)
        self.unmatched_scans = np.zeros(len(records), dtype=np.int64)
        self.misjoined = np.zeros(len(records), dtype=np.int64)  # wrong person: a face with another's card
        self.ambiguous_cards = np.zeros(len(records), dtype=np.int64)
        self.stray_measurements = np.zeros(len(records), dtype=np.int64)
        # per lane: when the last alert commit ended and how long it took (the lane's worker waits for it)
        self.last_commit = np.zeros((len(records), 2))
        self.incidents: list[str] = []
        self.alert_messages = 0
        self.duplicates = 0
        self.unexpected = 0
        self.ambiguous_alerts = 0  # alerts without identity, reason identity_ambiguous
        self.wrong_category = 0
        self.unexpected_examples: list[str] = []
        self.by_hmac: dict[str, tuple[int, int]] = {}

    def wrap_sink(self, lane: Lane) -> None:
        """Stamp the decision and the committed outbox row around the service's own sink."""
        k = self.lane_of_id[lane.lane_id]
        record = self.records[k]
        service_sink = lane.sink

        def sink(p: Passenger, decision: Decision) -> None:
            decided = time.monotonic()
            number = p.scan.document.number if p.scan is not None else None
            i = record.index_of_number.get(number) if number else None
            m = p.measurement
            if m is None:
                if p.ambiguous:
                    self.ambiguous_cards[k] += 1
                elif i is None or not record.passengers[i].irregular:
                    self.unmatched_scans[k] += 1
            else:
                true_index = self._check_measurement(k, record, m, i, decided)
                if p.ambiguous and true_index is not None and record.ambiguous is not None:
                    record.ambiguous[true_index] = 1
                if i is None:
                    if not p.ambiguous and (
                        true_index is None
                        or (
                            record.passengers[true_index].has_card
                            and not record.passengers[true_index].irregular
                        )
                    ):
                        self.unmatched_measurements[k] += 1
                else:
                    record.screened[i] += 1
                    record.times[i, 1] = m.t_last_mono
                    record.times[i, 2] = decided
            service_sink(p, decision)
            committed = time.monotonic()
            if i is not None and m is not None:
                record.times[i, 3] = committed
            if decision.category != "clear":
                self.last_commit[k] = (committed, committed - decided)

        lane.sink = sink

    def stall_commits(self, outbox: Outbox) -> None:
        """Inject the stall inside the outbox's commit, where a slow disk bites."""
        if not self.stall_every:
            return

        def commit_hook() -> None:
            self.commits += 1
            if self.commits % self.stall_every == 0:
                self.stalls += 1
                time.sleep(self.stall_s)

        outbox.commit_hook = commit_hook

    def _check_measurement(
        self, k: int, record: LaneRecord, m: PassengerMeasurement, card_index: int | None, decided: float
    ) -> int | None:
        """Whose face the measurement saw (by time, independent of the card), and whether it saw all of it."""
        renderer = record.renderer
        assert renderer is not None
        true_index = renderer.index_at(m.t_first_mono)
        if true_index is None:
            self.stray_measurements[k] += 1
            return None
        record.measured[true_index] += 1
        anonymous = not record.passengers[true_index].has_card
        if card_index is not None and card_index != true_index:
            self.misjoined[k] += 1
            # The partial-measurement lines below stop at INCIDENTS_KEPT: they never crowd these out.
            if len(self.incidents) < 2 * INCIDENTS_KEPT:
                t0, face, owner = renderer.t0, record.passengers[true_index], record.passengers[card_index]
                self.incidents.append(
                    f"WRONG PERSON lane-{k + 1}: passenger {true_index} ({face.irregular or 'regular'}, in view "
                    f"{face.arrive_s:.2f}-{face.leave_s:.2f}) measured {m.t_first_mono - t0:.2f}-"
                    f"{m.t_last_mono - t0:.2f} ({m.frames} frames) went out with passenger {card_index}'s card "
                    f"({owner.irregular or 'regular'}, on the reader {owner.card_window[0]:.2f}, in view "
                    f"{owner.arrive_s:.2f}-{owner.leave_s:.2f}); face frames rendered so far "
                    f"{renderer.face_frames[true_index]} and {renderer.face_frames[card_index]}"
                )
        elif card_index == true_index or (card_index is None and anonymous):
            record.correct[true_index] = 1
        rendered = int(renderer.face_frames[true_index])
        if m.frames < rendered and len(self.incidents) < INCIDENTS_KEPT:
            commit_end, commit_s = self.last_commit[k]
            self.incidents.append(
                f"lane-{k + 1} passenger {true_index} at scene {m.t_first_mono - renderer.t0:.1f} s: "
                f"a measurement of {m.frames} of {rendered} face frames, decided "
                f"{(decided - m.t_last_mono) * 1000:.0f} ms after its last frame; the lane's previous alert "
                f"commit took {commit_s * 1000:.0f} ms and ended {(decided - commit_end) * 1000:.0f} ms earlier"
                + (f"; joined to passenger {card_index}'s card" if card_index is not None else "; no card")
            )
        return true_index

    def on_alert(self, payload: bytes | bytearray, received_mono: float) -> None:
        self.alert_messages += 1
        alert = json.loads(payload)
        key = self.by_hmac.get((alert.get("identity") or {}).get("id_hmac") or "")
        if (
            key is None
            and alert.get("identity") is None
            and "identity_ambiguous" in {r.get("code") for r in alert.get("reasons", [])}
        ):
            self.ambiguous_alerts += 1  # sent to the operator without an identity: counted from the lane
            return
        if key is None:
            self.unexpected += 1
            if len(self.unexpected_examples) < 5:
                self.unexpected_examples.append(
                    f"{alert.get('lane_id')} {alert.get('category')}: "
                    + "; ".join(r.get("code", "") for r in alert.get("reasons", []))
                )
            return
        k, i = key
        record = self.records[k]
        if record.alerts_received[i]:
            self.duplicates += 1
            return
        record.alerts_received[i] = 1
        record.times[i, 4] = received_mono
        if alert.get("category") != record.expected_category[i]:
            self.wrong_category += 1


class Central:
    """The central system's subscriber: every alert of the device, QoS 1."""

    def __init__(self, port: int, topic: str, protocol: str, instruments: Instruments) -> None:
        self.instruments = instruments
        self.subscriber = CentralSubscriber(
            port, topic, self._on_message, client_id="soak-central", protocol=protocol
        )

    def _on_message(self, _topic: str, payload: bytes, _retained: bool) -> None:
        self.instruments.on_alert(payload, time.monotonic())

    def close(self) -> None:
        self.subscriber.close()


class Sampler:
    """Once a second: RSS and every queue on the alert path, into a preallocated array."""

    def __init__(self, service: Service, capacity: int) -> None:
        self.service = service
        self.lanes = service.lanes
        # columns: t_mono, rss_kb, outbox depth, then per lane: frames queued, scans queued, joiner pending
        self.columns = ["t", "rss_kb", "outbox"] + [
            f"{lane.lane_id} {q}" for lane in self.lanes for q in ("frames", "scans", "joiner")
        ]
        self.data = np.full((capacity, len(self.columns)), np.nan)
        self.count = 0

    def sample(self) -> None:
        if self.count >= len(self.data):
            return
        row = self.data[self.count]
        row[0] = time.monotonic()
        row[1] = rss_kb()
        row[2] = sum(self.service.outbox.depth().values())
        for j, lane in enumerate(self.lanes):
            row[3 + 3 * j] = lane.frames.qsize()
            row[4 + 3 * j] = lane.scans.qsize()
            row[5 + 3 * j] = lane.joiner.pending()
        self.count += 1

    def rows(self) -> np.ndarray:
        return self.data[: self.count]


def p99_target_ms(args: argparse.Namespace) -> float:
    return P99_TARGET_MS + (args.passenger_gap_s - DEFAULT_GAP_S) * 1000.0


def percentile_ms(values: np.ndarray, q: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q) * 1000.0) if len(finite) else math.nan


def queue_report(samples: np.ndarray, columns: list[str], warm_end_mono: float) -> list[dict[str, Any]]:
    """Max and final of each queue after warm-up; growth when the last quarter never drains back to the
    first quarter's worst (a steady queue keeps returning to its usual level, a backlog does not)."""
    after = samples[samples[:, 0] >= warm_end_mono]
    out = []
    for c, name in enumerate(columns[2:], start=2):
        series = after[:, c] if len(after) else samples[:, c]
        quarter = max(1, len(series) // 4)
        grew = bool(len(series) >= 8 and series[-quarter:].min() > series[:quarter].max())
        out.append(
            {
                "queue": name,
                "max": int(np.nanmax(series)) if len(series) else 0,
                "final": int(series[-1]) if len(series) else 0,
                "grew": grew,
            }
        )
    return out


def build_lanes(
    args: argparse.Namespace, count: int, spacing_s: float, work: Path, clock: Any, t0: float
) -> tuple[list[LaneRecord], list[SimulatedLane], VerdictClock]:
    """Each lane's scene, its simulators (started) and the instruments' per-passenger arrays."""
    records: list[LaneRecord] = []
    lanes: list[SimulatedLane] = []
    verdict_clock = VerdictClock(args.lanes, count)
    for k in range(args.lanes):
        passengers = lane_scene(args, count, spacing_s, lane=k + 1)
        times = np.full((count, len(STAGES)), np.nan)
        record = LaneRecord(
            passengers,
            {p.id_number: p.index for p in passengers},
            times,
            np.zeros(count, dtype=np.int32),
            np.zeros(count, dtype=np.int32),
            np.zeros(count, dtype=np.int8),
            np.zeros(count, dtype=np.int8),
            [None] * count,
            ambiguous=np.zeros(count, dtype=np.int8),
        )
        lane = SimulatedLane(f"lane-{k + 1}", passengers, work, clock, *configured_flow(args))
        # Replace the scene before the simulators start: the thermal simulator looks it up per frame.
        record.renderer = lane.scene = RecordingRenderer(passengers, START_S, spacing_s, t0, times[:, 0])
        verdict_clock.track(k, record.renderer, [t0 + p.leave_s for p in passengers])
        records.append(record)
        lanes.append(lane.start())
    return records, lanes, verdict_clock


def count_expected_alerts(
    records: list[LaneRecord], config: Any, pseudonymiser: Pseudonymiser, instruments: Instruments
) -> int:
    """Which passengers must raise which alert, keyed by their pseudonym as the alert carries it."""
    alerts_expected = 0
    for k, record in enumerate(records):
        expected = expected_alerts(
            record.passengers, config.screening.threshold_c, config.screening.skin_to_core_offset_c
        )
        for number, category in expected.items():
            i = record.index_of_number[number]
            record.expected_category[i] = category
            instruments.by_hmac[pseudonymiser.pseudonymise(number)] = (k, i)
        alerts_expected += len(expected)
    return alerts_expected


def drive(
    service: Service,
    lanes: list[SimulatedLane],
    records: list[LaneRecord],
    sampler: Sampler,
    deadline: float,
    scene_end_mono: float,
    alerts_expected: int,
    warm_end_mono: float,
) -> tuple[int | None, float | None, float]:
    """Let the scene play, sampling once a second, until every alert arrived or time is up; returns the RSS
    and CPU time at the end of the warm-up, and when it ended."""
    cpu_at_warm: float | None = None
    rss_at_warm_kb: int | None = None
    next_sample = time.monotonic()
    while True:
        now = time.monotonic()
        received = sum(int(r.alerts_received.sum()) for r in records)
        if now >= deadline or (now > scene_end_mono + 1.0 and received >= alerts_expected):
            return rss_at_warm_kb, cpu_at_warm, warm_end_mono
        if now >= next_sample:
            next_sample += SAMPLE_EVERY_S
            service.tick()  # what the supervisor does every 0.5 s: statistics, rule-list file
            for lane in lanes:
                # The simulator logs every command it served; that log is the harness's, not the
                # service's memory, and would otherwise grow for the whole run.
                lane.reader.commands.clear()
                lane.thermal.commands.clear()
            sampler.sample()
            if rss_at_warm_kb is None and now >= warm_end_mono:
                rss_at_warm_kb = rss_kb()
                cpu_at_warm = sum(os.times()[:2])
                warm_end_mono = now
        time.sleep(max(0.0, min(0.5, next_sample - time.monotonic())))


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench_start = time.monotonic()
    run_s = args.minutes * 60.0
    deadline = bench_start + run_s
    spacing_s = 1.0 / args.rate
    warm_s = max(0.2 * run_s, min(30.0, 0.5 * run_s))

    with tempfile.TemporaryDirectory(prefix="checkpoint-soak-") as tmp:
        work = Path(tmp)
        key_file = work / "site.key"
        key_file.write_bytes(os.urandom(32))
        key_file.chmod(0o600)
        broker = LocalBroker().start()
        if broker.kind != "mosquitto":
            print("warning: Mosquitto is not installed; the soak runs against amqtt", file=sys.stderr)
        protocol = "5" if broker.kind == "mosquitto" else "3.1.1"
        setup_s = 3.0  # broker, service and ONNX start-up happen before the scene's t0
        t0 = time.monotonic() + setup_s
        count = int((deadline - t0 - START_S - DRAIN_S) * args.rate)
        if count < 4:
            raise SystemExit(f"--minutes {args.minutes} leaves room for only {count} passengers per lane")
        clock = lambda: time.monotonic() - t0  # noqa: E731 - the scene's clock, shared by every simulator

        records, lanes, verdict_clock = build_lanes(args, count, spacing_s, work, clock, t0)

        config_path = work / "checkpoint-edge.toml"
        state_tmp = (
            tempfile.TemporaryDirectory(prefix="soak-state-", dir=args.state_dir) if args.state_dir else None
        )
        config_path.write_text(
            appliance_config(
                lanes,
                broker.port,
                protocol,
                Path(state_tmp.name) if state_tmp else work / "state",
                key_file,
                screening_extra=f"passenger_gap_s = {args.passenger_gap_s}\n",
            )
        )
        config = load_config(config_path)
        pseudonymiser = Pseudonymiser.from_file(key_file, key_id=config.privacy.key_id)
        instruments = Instruments(
            records, args.commit_stall_s, args.commit_stall_every if args.commit_stall_s > 0 else 0
        )
        alerts_expected = count_expected_alerts(records, config, pseudonymiser, instruments)

        topic = device_topic(config.broker.topic_prefix, config.site_id, config.device_id, "alert")
        central = Central(broker.port, topic, protocol, instruments)
        service = Service(config)
        instruments.stall_commits(service.outbox)
        for k, lane_runtime in enumerate(service.lanes):
            instruments.wrap_sink(lane_runtime)
            verdict_clock.wrap(k, lane_runtime)
        sampler = Sampler(service, capacity=int(run_s / SAMPLE_EVERY_S) + 120)
        service.start()
        watchers = PageWatcher.for_lanes(service, verdict_clock)
        if time.monotonic() > t0:
            print(
                f"warning: start-up overran the scene's t0 by {time.monotonic() - t0:.2f} s", file=sys.stderr
            )

        scene_end_mono = t0 + records[0].passengers[-1].leave_s
        warm_end_mono = bench_start + warm_s
        try:
            rss_at_warm_kb, cpu_at_warm, warm_end_mono = drive(
                service, lanes, records, sampler, deadline, scene_end_mono, alerts_expected, warm_end_mono
            )
            sampler.sample()
            end_mono = time.monotonic()
            rss_end_kb = rss_kb()
            cpu_end = sum(os.times()[:2])
            uplink = service.uplink.state()
            lane_counters = {lane.lane_id: dict(lane.counters) for lane in service.lanes}
            lane_flows = {lane.lane_id: lane.joiner.flow.describe() for lane in service.lanes}
            join_counts = {lane.lane_id: lane.join_counts() for lane in service.lanes}
            totals = dict(service.totals)
        finally:
            service.stop()
            for watcher in watchers:
                watcher.stop()
            central.close()
            for lane in lanes:
                lane.stop()
            broker.stop()
            if state_tmp is not None:
                state_tmp.cleanup()

    if rss_at_warm_kb is None or cpu_at_warm is None:  # the loop ended before the warm-up did
        rss_at_warm_kb, cpu_at_warm, warm_end_mono = int(sampler.rows()[0, 1]), 0.0, bench_start
    return summarise(
        args,
        records,
        instruments,
        sampler,
        alerts_expected=alerts_expected,
        rss_warm_kb=rss_at_warm_kb,
        rss_end_kb=rss_end_kb,
        cpu_pct=100.0 * (cpu_end - cpu_at_warm) / max(1e-9, end_mono - warm_end_mono),
        warm_end_mono=warm_end_mono,
        broker_kind=broker.kind,
        uplink=uplink,
        lane_counters=lane_counters,
        lane_flows=lane_flows,
        join_counts=join_counts,
        totals=totals,
        wall_s=end_mono - bench_start,
        verdicts=verdict_clock.summary(args.dwell_s),
    )


@dataclass
class JoinFigures:
    whole_face: (
        np.ndarray
    )  # faces the camera sees whole (a tailgater's merges; a glimpse may give no reading)
    regular: np.ndarray  # a face and a card, nothing odd, and not walked into by a tailgater
    ambiguous_faces: np.ndarray
    irregulars: int
    absent: int  # empty slots of the commissioning walk
    commissioning: int  # its lone passengers (published without ID while `auto` learns)
    wrong_person: int
    ambiguous_regular: int
    ambiguous_limit: float  # 1 % of the regular passengers


def join_figures(records: list[LaneRecord], instruments: Instruments) -> JoinFigures:
    script = [(id(r), p) for r in records for p in r.passengers]
    tailgated = {(lane, p.index - 1) for lane, p in script if p.irregular == "tailgating"}
    regular = np.array(
        [
            p.has_face and p.has_card and not p.irregular and (lane, p.index) not in tailgated
            for lane, p in script
        ]
    )
    ambiguous_faces = np.concatenate([r.ambiguous for r in records if r.ambiguous is not None]).astype(bool)
    return JoinFigures(
        whole_face=np.array(
            [p.has_face and p.irregular not in ("tailgating", "turning_back") for _, p in script]
        ),
        regular=regular,
        ambiguous_faces=ambiguous_faces,
        irregulars=sum(p.irregular not in ("", "commissioning") for _, p in script),
        absent=sum(not p.has_face and not p.has_card for _, p in script),
        commissioning=sum(p.irregular == "commissioning" for _, p in script),
        wrong_person=int(instruments.misjoined.sum()),
        ambiguous_regular=int((ambiguous_faces & regular).sum()),
        ambiguous_limit=0.01 * int(regular.sum()),
    )


def print_join_rows(
    row: Any, j: JoinFigures, instruments: Instruments, join_counts: dict[str, dict[str, int]]
) -> None:
    row("regular (a face and a card, nothing odd)", int(j.regular.sum()))
    row("irregular", j.irregulars)
    if j.commissioning:
        row("commissioning walk: lone passengers / empty slots", f"{j.commissioning} / {j.absent}")
    row("wrong person (a face with another's card)", j.wrong_person)
    row("ambiguous faces (sent to the operator without ID)", int(j.ambiguous_faces.sum()))
    row("  of regular passengers", f"{j.ambiguous_regular} (limit {j.ambiguous_limit:.1f})")
    row("  alerts received without identity", instruments.ambiguous_alerts)
    row("ambiguous cards (no face given)", int(instruments.ambiguous_cards.sum()))
    for lane_id, c in join_counts.items():
        row(f"  {lane_id} joiner counts", ", ".join(f"{k} {v}" for k, v in c.items()))


def p99_target(args: argparse.Namespace, lane_flows: dict[str, dict[str, Any]]) -> float:
    """face_then_card: a face's alert waits until its card can no longer come (the flow's latest offset)."""
    if args.flow != "face_then_card":
        return p99_target_ms(args)
    return p99_target_ms(args) + 1000.0 * max(max(0.0, f["card_offset_s"][1]) for f in lane_flows.values())


def summarise(
    args: argparse.Namespace,
    records: list[LaneRecord],
    instruments: Instruments,
    sampler: Sampler,
    *,
    alerts_expected: int,
    rss_warm_kb: int,
    rss_end_kb: int,
    cpu_pct: float,
    warm_end_mono: float,
    broker_kind: str,
    uplink: dict[str, Any],
    lane_counters: dict[str, dict[str, int]],
    lane_flows: dict[str, dict[str, Any]],
    join_counts: dict[str, dict[str, int]],
    totals: dict[str, int],
    wall_s: float,
    verdicts: dict[str, Any],
) -> dict[str, Any]:
    scripted = sum(len(r.passengers) for r in records)
    screened = np.concatenate([r.screened for r in records])
    face_frames = np.concatenate([r.renderer.face_frames for r in records if r.renderer is not None])
    times = np.concatenate([r.times for r in records])
    expected_mask = np.concatenate([[c is not None for c in r.expected_category] for r in records])
    received_mask = np.concatenate([r.alerts_received for r in records]).astype(bool)
    own_mask = np.concatenate([r.correct for r in records]).astype(bool)
    # Latency only where the alert carries its own passenger's measurement: an alert raised for a neighbour's
    # temperature has no meaningful "last face frame".
    delivered = times[expected_mask & received_mask & own_mask]
    latency = delivered[:, 4] - delivered[:, 0]
    stages = {
        "transport (render -> driver)": delivered[:, 1] - delivered[:, 0],
        "window close + join (driver -> decision)": delivered[:, 2] - delivered[:, 1],
        "commit (alert built, outbox fsync)": delivered[:, 3] - delivered[:, 2],
        "uplink (commit -> subscriber)": delivered[:, 4] - delivered[:, 3],
    }
    samples = sampler.rows()
    queues = queue_report(samples, sampler.columns, warm_end_mono)
    measured = np.concatenate([r.measured for r in records])
    j = join_figures(records, instruments)
    whole_face, regular, ambiguous_faces = j.whole_face, j.regular, j.ambiguous_faces
    wrong_person, ambiguous_regular, ambiguous_limit = j.wrong_person, j.ambiguous_regular, j.ambiguous_limit
    mismatches = {
        "passengers not measured": int(((measured == 0) & whole_face).sum()),
        "passengers measured in pieces": int((measured > 1).sum()),
        "measurements outside any face": int(instruments.stray_measurements.sum()),
        "measurements on another's card (wrong person)": wrong_person,
        "measurements without card": int(instruments.unmatched_measurements.sum()),
        "cards without measurement": int(instruments.unmatched_scans.sum()),
        "cards with 2+ measurements": int((screened > 1).sum()),
    }
    anonymous = sum(not p.has_card for r in records for p in r.passengers)
    rss_growth_mb = (rss_end_kb - rss_warm_kb) / 1024.0
    p50_ms, p99_ms = percentile_ms(latency, 50), percentile_ms(latency, 99)
    # A passenger whose face went out ambiguous was sent to the operator without an identity: not missing.
    missing = int((expected_mask & ~received_mask & ~ambiguous_faces).sum())
    p99_goal_ms = p99_target(args, lane_flows)
    frames_dropped = sum(c.get("frames_dropped", 0) for c in lane_counters.values())
    cards_read = sum(c.get("scans", 0) for c in lane_counters.values())
    cards_scripted = sum(p.has_card for r in records for p in r.passengers)
    worker_errors = sum(c.get("worker_errors", 0) for c in lane_counters.values())
    checks = {
        "every alert delivered once": missing == 0
        and instruments.duplicates == 0
        and instruments.unexpected == 0
        and instruments.wrong_category == 0,
        "every passenger screened once": sum(mismatches.values()) == 0,
        f"RSS growth < {RSS_GROWTH_LIMIT_MB:g} MB": rss_growth_mb < RSS_GROWTH_LIMIT_MB,
        "no queue growth": not any(q["grew"] for q in queues),
        f"p99 <= {p99_goal_ms:g} ms": p99_ms <= p99_goal_ms,
        **VerdictClock.checks(verdicts),
        "wrong_person 0": wrong_person == 0,
        "ambiguous <= 1 % of regular passengers": ambiguous_regular <= ambiguous_limit,
    }

    def row(label: str, value: object) -> None:
        print(f"  {label:<44} {value}")

    print(f"\nsoak: {args.lanes} lanes x {args.rate:g} passengers/s, {wall_s:.0f} s, broker {broker_kind}")
    print(f"  scene: dwell {args.dwell_s} s, arrival phase step {args.phase_step_s} s, passenger_gap_s {args.passenger_gap_s} s, 1 in {args.febrile_every}"
          " febrile, 1 in 10 key region; GY-MCU90640 8 Hz, SAM poll 0.1 s")  # fmt: skip
    if args.anonymous_every:
        print(f"  1 in {args.anonymous_every} (of the others) carries no card")
    print(f"  flow: {args.flow} scene, lanes configured {'auto' if args.auto else args.flow}; learnt/used: "
          + "; ".join(f"{k} {v}" for k, v in lane_flows.items()))  # fmt: skip
    if args.irregular_every:
        print(f"  1 in {args.irregular_every} (of the others) irregular: {', '.join(IRREGULAR)} in turn")
    if args.commit_stall_s > 0:
        print(f"  injected: every {args.commit_stall_every}th outbox commit waits {args.commit_stall_s} s inside"
              f" its transaction ({instruments.stalls} stalls)")  # fmt: skip
    print("\npassengers")
    row("scripted", scripted)
    row("anonymous (no card)", anonymous)
    print_join_rows(row, j, instruments, join_counts)
    row("measured once, with their own card (or none)", int(((measured == 1) & own_mask).sum()))
    for name, n in mismatches.items():
        row(name, n)
    frames_hist = np.bincount(face_frames)
    row("face frames per passenger (frames: count)",
        ", ".join(f"{n}: {c}" for n, c in enumerate(frames_hist) if c))  # fmt: skip
    row("service totals passengers/screened/alerts",
        f"{totals.get('passengers', 0)}/{totals.get('screened', 0)}/{totals.get('alerts', 0)}")  # fmt: skip
    row("cards scripted / reads reaching the lanes", f"{cards_scripted} / {cards_read}")
    row("frames dropped (lane queues full)", frames_dropped)
    row("lane worker errors", worker_errors)
    for incident in instruments.incidents:
        print(f"  incident: {incident}")
    print("\nalerts")
    row("expected", alerts_expected)
    row("messages received", instruments.alert_messages)
    row("missing", missing)
    row("duplicates", instruments.duplicates)
    row("unexpected", instruments.unexpected)
    for example in instruments.unexpected_examples:
        row("  e.g.", example)
    row("wrong category", instruments.wrong_category)
    row("uplink published/acked", f"{uplink.get('published')}/{uplink.get('acked')}")
    print(f"\nlatency, last face frame -> alert at subscriber ({len(latency)} alerts, ms)")
    print(f"  {'':<52} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    for label, values in [("total", latency), *stages.items()]:
        print(
            f"  {label:<52} {percentile_ms(values, 50):7.1f} {percentile_ms(values, 90):7.1f} "
            f"{percentile_ms(values, 99):7.1f} {percentile_ms(values, 100):7.1f}"
        )
    print("\nmemory and CPU")
    row(
        "VmRSS after warm-up (MB)",
        f"{rss_warm_kb / 1024:.1f} (warm-up {warm_end_mono - samples[0, 0]:.0f} s)",
    )
    row("VmRSS at end (MB)", f"{rss_end_kb / 1024:.1f}")
    row(
        "VmRSS max after warm-up (MB)",
        f"{np.nanmax(samples[samples[:, 0] >= warm_end_mono, 1], initial=rss_end_kb) / 1024:.1f}",
    )
    row("RSS growth after warm-up (MB)", f"{rss_growth_mb:+.2f}")
    row("process CPU after warm-up (% of one core)", f"{cpu_pct:.0f}")
    print("\nqueues after warm-up (sampled every 1 s)          max   final   grew")
    for q in queues:
        print(f"  {q['queue']:<46} {q['max']:5d} {q['final']:7d}   {'YES' if q['grew'] else 'no'}")
    print_report(verdicts, args.dwell_s)
    print("\nchecks")
    for name, ok in checks.items():
        row(name, "ok" if ok else "FAILED")

    return {
        "minutes": args.minutes,
        "lanes": args.lanes,
        "passengers_per_s_per_lane": args.rate,
        "passengers_scripted": scripted,
        "screening_mismatches": sum(mismatches.values()),
        "alerts_expected": alerts_expected,
        "alerts_received": instruments.alert_messages,
        "alerts_missing": missing,
        "alerts_duplicate": instruments.duplicates,
        "alerts_unexpected": instruments.unexpected,
        "flow": args.flow,
        "configured_flow": "auto" if args.auto else args.flow,
        "lane_flows": lane_flows,
        "regular_passengers": int(regular.sum()),
        "irregular_passengers": j.irregulars,
        "commissioning_passengers": j.commissioning,
        "cards_scripted": cards_scripted,
        "cards_read": cards_read,
        "wrong_person": wrong_person,
        "ambiguous": int(ambiguous_faces.sum()),
        "ambiguous_regular": ambiguous_regular,
        "ambiguous_regular_pct": round(100.0 * ambiguous_regular / max(1, int(regular.sum())), 2),
        "join_counts": join_counts,
        "rss_growth_mb": round(rss_growth_mb, 2),
        "queue_growth": any(q["grew"] for q in queues),
        "p50_ms": round(p50_ms, 1),
        "p99_ms": round(p99_ms, 1),
        "latency_samples": len(latency),
        "stage_p99_ms": {k.split(" (")[0]: round(percentile_ms(v, 99), 1) for k, v in stages.items()},
        "verdict": verdicts,
        "verdict_p99_ms": verdicts["last_frame_to_verdict_ms"]["p99"],
        "commit_stalls": instruments.stalls,
        "ok": all(checks.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the whole run (default 10)")
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=None,
                        help="passengers per second per lane (default 2 for a dwell up to 0.4 s; a longer dwell"
                        " gets a 0.6 s face-free gap after the latest arrival phase)")  # fmt: skip
    parser.add_argument("--dwell-s", type=float, default=0.33,
                        help="how long each face is in view (the card lies on the reader 0.2 s less)")  # fmt: skip
    parser.add_argument("--phase-step-s", type=float, default=0.025,
                        help="arrival offsets walk 0..3 steps and back, so frames meet faces at varied phases")  # fmt: skip
    parser.add_argument("--passenger-gap-s", type=float, default=None,
                        help="screening.passenger_gap_s: face absence that ends a passenger (default 0.15 s, or"
                        " 0.35 s when --dwell-s leaves the room: a wider gap rides out a stalled frame)")  # fmt: skip
    parser.add_argument("--state-dir", default=None,
                        help="where the outbox lives (default: the run's temporary directory; /dev/shm has no"
                        " fsync cost, for comparison)")  # fmt: skip
    parser.add_argument("--anonymous-every", type=int, default=0,
                        help="1 passenger in N carries no card (never febrile or key-region); 0: none")  # fmt: skip
    parser.add_argument("--commit-stall-s", type=float, default=0.0,
                        help="fault injection: the lane worker waits this long before every Nth alert commit")  # fmt: skip
    parser.add_argument("--commit-stall-every", type=int, default=20, help="N for --commit-stall-s")
    parser.add_argument("--febrile-every", type=int, default=4, help="1 passenger in N is febrile")
    parser.add_argument("--flow", choices=sorted(SCENE_OFFSETS_S), default="card_while_in_view",
                        help="where each card is read: while the face is in view, 0.15 s before it arrives, or"
                        " 0.05 s after it leaves; the lanes are configured with that flow")  # fmt: skip
    parser.add_argument("--auto", action="store_true",
                        help="configure the lanes flow = auto: the scene starts with a commissioning walk of"
                        f" {LEARN_SAMPLES} lone passengers, 4 s apart")  # fmt: skip
    parser.add_argument("--irregular-every", type=int, default=0,
                        help="1 passenger in N (of those neither febrile nor key-region) is irregular: "
                        + ", ".join(IRREGULAR) + " in turn; 0: none")  # fmt: skip
    args = parser.parse_args(argv)
    if args.rate is None:
        # 2 passengers/s for short dwells (the rush-hour scene); a long dwell gets room for a 0.6 s face-free
        # gap after the latest arrival phase instead.
        short = args.dwell_s <= SHORT_DWELL_S
        args.rate = 2.0 if short else 1.0 / (args.dwell_s + 3 * args.phase_step_s + 0.6)
    if args.passenger_gap_s is None:
        free_gap_s = 1.0 / args.rate - args.dwell_s - 3 * args.phase_step_s
        args.passenger_gap_s = DEFAULT_GAP_S if free_gap_s < 0.55 else 0.35
    if args.dwell_s + 3 * args.phase_step_s >= 1.0 / args.rate:
        parser.error("--dwell-s and --phase-step-s must leave a face-free gap before the next passenger")
    summary = run(args)
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
