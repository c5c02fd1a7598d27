"""Per-lane screening: thermal frames in, one measurement and temperature decision per passenger out.

    frame ─► flat-field check ─► blackbody offset ─► faces (skin / detector) ─► measurement zone
          ─► tracking ─► per-frame site reading + quality faults
    track ended (face absent ≥ passenger_gap_s) ─► best K clean frames ─► passenger gates (cold skin …)
          ─► core estimate (ONNX model, or constant offset for faces too small for it) ─► decision

Before faces are looked for, the sensor guard (sensor_guard.py) applies the corrections and lockouts
(emissivity, blackbody, flat-field correction, warm-up); the sensor type's envelope (envelope.py) decides
which faces may be judged; re-checks are bound to the passenger (recheck.py). `assess_passenger`
(assess.py) is the part shared with `checkpoint-edge model evaluate`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from drivers.items import ThermalFrame
from edge.records import LiveFace, LiveView, PassengerMeasurement, TemperatureStatus

# Shared with `checkpoint-edge model evaluate`, which imports them from here.
from edge.screening.assess import Assessment, FrameRecord, assess_passenger
from edge.screening.assess import choose_estimator as choose_estimator
from edge.screening.decision import DecisionMaker
from edge.screening.envelope import ADVICE_PRESENCE_ONLY, REASON_PRESENCE_ONLY, envelope_for
from edge.screening.estimator import CoreEstimator
from edge.screening.faces import (
    Face,
    FaceFinder,
    RetinaFace,
    ScheduledFinder,
    SkinFinder,
    ThermalDetectorFinder,
    VisibleFinder,
)
from edge.screening.measure import measure_face
from edge.screening.outcome import (
    ADVICE,
    FAULT_COLD_EXPOSED,
    FAULT_FAR,
    FAULT_GLASSES,
    FAULT_MULTIPLE,
    FAULT_NOT_FRONTAL,
    FAULT_SMALL,
    LANE_GUIDANCE,
)
from edge.screening.recheck import RecheckBook
from edge.screening.sensor_guard import FAULT_FFC, SensorGuard
from edge.screening.settings import ScreeningSettings
from edge.screening.skin import SkinRules
from edge.screening.tracking import Tracker


@dataclass
class _TrackData:
    records: list[FrameRecord] = field(default_factory=list)
    best_quality: float = -np.inf
    snapshot: np.ndarray | None = None
    snapshot_box: tuple[float, float, float, float] | None = None
    sources: Counter[str] = field(default_factory=Counter)
    clean_frames: int = 0
    verdict: Assessment | None = None  # decided once per track: early (in view) or when the track ends
    verdict_mono: float = 0.0


def _in_zone(face: Face, zone: tuple[float, float, float, float], shape: tuple[int, ...]) -> bool:
    h, w = shape[:2]
    cx, cy = face.centre
    return zone[0] * w <= cx <= zone[2] * w and zone[1] * h <= cy <= zone[3] * h


class LaneScreener:
    def __init__(
        self, settings: ScreeningSettings, *, detector: RetinaFace | None = None, sensor: str | None = None
    ) -> None:
        self._settings = s = settings
        self._envelope = envelope_for(sensor)
        self._guard = SensorGuard(s, self._envelope, sensor)
        self._tracker: Tracker[_TrackData] = Tracker(max_gap_s=s.passenger_gap_s)
        self._data: dict[int, _TrackData] = {}
        # Re-checks are bound to the passenger (RecheckBook), never to the lane's sequence of readings.
        self._decider = DecisionMaker(s.decision.model_copy(update={"recheck": False}), s.threshold_c)
        self._rechecks = RecheckBook(s.decision.recheck_window_s)
        self._estimator: CoreEstimator | None = None
        if s.estimator != "offset":
            path = Path(s.estimator_path) if s.estimator_path else None
            self._estimator = CoreEstimator(s.estimator_camera, path)
        exclude = s.reference.roi if s.reference.enabled else None
        self._skin = SkinFinder(
            skin_min_c=s.face_min_c,
            min_pixels=s.face_min_pixels,
            exclude=exclude,
            rules=SkinRules(
                skin_min_c=s.face_min_c,
                skin_max_c=s.face_max_c,
                min_pixels=s.face_min_pixels,
                max_face_of_frame=s.face_width_m
                / (2.0 * s.min_distance_m * math.tan(math.radians(s.horizontal_fov_deg) / 2.0)),
            ),
            static_s=s.background_static_s,
        )
        self._detector = detector
        self._thermal_finder: FaceFinder = self._skin
        self._visible_finder: FaceFinder | None = None
        if s.face_finder == "thermal-detector":
            inner = ThermalDetectorFinder(
                self._retinaface(), max_side=s.detector_max_side, min_score=s.detector_min_score
            )
            self._thermal_finder = ScheduledFinder(inner, every_n=s.detector_every_n, skin_min_c=s.face_min_c)
        self._verdicts: list[PassengerMeasurement] = []
        self.frames_seen = 0
        self.last_view: LiveView | None = None  # read by the technician console's live view

    def _publish_view(
        self, temps: np.ndarray, now: float, faces: tuple[LiveFace, ...] = (), note: str = ""
    ) -> None:
        ref, s = self._guard.reference_state, self._settings.reference
        self.last_view = LiveView(
            seq=self.frames_seen,
            t_mono=now,
            temps_c=temps,
            faces=faces,
            blackbody_roi=s.roi if s.enabled else None,
            blackbody_c=ref.roi_c,
            blackbody_valid=ref.valid,
            measurement_zone=self._settings.measurement_zone,
            note=note,
        )

    def _retinaface(self) -> RetinaFace:
        if self._detector is None:
            self._detector = RetinaFace()
        return self._detector

    def _finder_for(self, visible: np.ndarray | None) -> FaceFinder:
        s = self._settings
        if visible is not None and s.face_finder in ("auto", "visible"):
            if self._visible_finder is None:
                inner = VisibleFinder(
                    self._retinaface(),
                    np.array(s.registration.homography),
                    max_side=s.detector_max_side,
                    min_score=s.detector_min_score,
                )
                self._visible_finder = ScheduledFinder(
                    inner, every_n=s.detector_every_n, skin_min_c=s.face_min_c
                )
            return self._visible_finder
        return self._thermal_finder

    @property
    def passengers_in_view(self) -> int:
        """Tracks still open: their measurement is yet to come (the lane holds a scan made meanwhile for it)."""
        return len(self._tracker.active)

    @property
    def in_view_since(self) -> float | None:
        """First frame of the oldest track still open: no measurement still to come began earlier (the joiner's
        horizon)."""
        return min((t.first_mono for t in self._tracker.active), default=None)

    @property
    def status(self) -> str:
        """ "ok", or why screening is locked out (the lane shows it and stops calling passengers normal)."""
        lockout = self._guard.lockout
        return f"locked out: {lockout}" if lockout else "ok"

    def status_details(self) -> dict[str, float]:
        """Sensor numbers for the lane's status: blackbody offset and drift, warm-up time left."""
        out = self._guard.details()
        left = self._guard.warm_up_left_s()
        if left > 0:
            out["warm_up_left_s"] = round(left, 1)
        return out

    def process(self, frame: ThermalFrame, visible: np.ndarray | None = None) -> list[PassengerMeasurement]:
        s = self._settings
        self.frames_seen += 1
        now = frame.t_mono
        ambient_frame = frame.ambient_c if s.ambient_source == "frame" else None
        ambient_c = ambient_frame if ambient_frame is not None else s.ambient_c
        check = self._guard.check(frame, ambient_c)
        if check.shutter:
            # Shutter closed: no scene at all. Keep passengers alive across it rather than splitting them.
            for track in self._tracker.active:
                track.last_mono = now
                self._data[track.track_id].records.append(
                    FrameRecord(now, frame.t_wall, None, faults=check.faults)
                )
            self._publish_view(frame.temps_c, now, note=FAULT_FFC)
            return self.flush(now)

        temps = check.temps_c
        self._skin.learn(temps, now)
        finder = self._finder_for(visible)
        faces = [f for f in finder.find(temps, visible) if _in_zone(f, s.measurement_zone, temps.shape)]
        tracks = self._tracker.assign(faces, now)
        shared_faults = list(check.faults)
        if len(faces) > 1:
            shared_faults.append(FAULT_MULTIPLE)
        live: list[LiveFace] = []
        for face, track in zip(faces, tracks, strict=True):
            data = self._data.setdefault(track.track_id, _TrackData())
            record = self._measure(temps, face, ambient_c, shared_faults, frame)
            data.records.append(record)
            data.sources[face.source] += 1
            if record.reading is not None and not record.faults and record.quality > data.best_quality:
                data.best_quality = record.quality
                data.snapshot, data.snapshot_box = temps, face.box
            elif data.snapshot is None:
                data.snapshot, data.snapshot_box = temps, face.box
            if record.reading is not None and not record.faults:
                data.clean_frames += 1
                self._decide_in_view(track.track_id, data, track.first_mono, now)
            reading_c = record.reading.face_max_c if record.reading is not None else None
            live.append(LiveFace(face.box, reading_c, record.faults))
        self._publish_view(temps, now, tuple(live))
        return self.flush(now)

    def _decide_in_view(self, track_id: int, data: _TrackData, first_mono: float, now: float) -> None:
        """Decide the temperature while the passenger is still in front of the camera, once enough clean
        frames are in, so the display and the alarm act before they walk away. Once per track: the
        decision maker is stateful (adaptive baseline, pending re-checks) and a person is judged once."""
        needed = self._settings.verdict_frames
        if data.verdict is not None or needed == 0 or data.clean_frames < needed:
            return
        data.verdict = self._assess(track_id, data, now)
        data.verdict_mono = now
        self._verdicts.append(self._measurement(track_id, data, first_mono, now, data.verdict))

    def take_verdicts(self) -> list[PassengerMeasurement]:
        """Temperature verdicts since the last call, one per track: made in view (`verdict_frames` clean
        frames) or, for a passenger who never gave enough, when their track ended."""
        out, self._verdicts = self._verdicts, []
        return out

    def _geometry_faults(self, width: float, distance_m: float | None) -> list[str]:
        """Too small or too far: the configured gates, and the sensor type's envelope."""
        s, env = self._settings, self._envelope
        min_width = max(s.min_face_width_px, env.min_face_px if env is not None and env.decides else 0.0)
        max_distance = min(s.max_distance_m, env.max_distance_m if env is not None and env.decides else 1e9)
        if width < min_width:
            return [FAULT_SMALL]
        if distance_m is not None and distance_m > max_distance:
            return [FAULT_FAR]
        return []

    def _measure(
        self,
        temps: np.ndarray,
        face: Face,
        ambient_c: float,
        shared_faults: list[str],
        frame: ThermalFrame,
    ) -> FrameRecord:
        s = self._settings
        m = measure_face(
            temps,
            face,
            ambient_c=ambient_c,
            horizontal_fov_deg=s.horizontal_fov_deg,
            face_width_m=s.face_width_m,
            skin_min_c=s.face_min_c,
        )
        faults = list(shared_faults)
        faults += self._geometry_faults(m.reading.face_width_px or 0.0, m.reading.distance_m)
        if m.frontal is False and not face.landmarks_estimated:
            faults.append(FAULT_NOT_FRONTAL)
        if m.periocular_drop_c is not None and m.periocular_drop_c > s.glasses_drop_c:
            faults.append(FAULT_GLASSES)
        r = m.reading
        if (
            s.profile == "cold_arrivals"
            and r.canthus_max_c is not None
            and r.forehead_centre_c is not None
            and r.canthus_max_c - r.forehead_centre_c > s.cold_gradient_c
        ):
            faults.append(FAULT_COLD_EXPOSED)
        notes = []
        if m.mouth_region_c is not None and m.mouth_region_c - ambient_c < s.mask_above_ambient_c:
            notes.append("face covering detected")
        return FrameRecord(frame.t_mono, frame.t_wall, m.reading, m.quality, tuple(faults), tuple(notes))

    def flush(self, now_mono: float) -> list[PassengerMeasurement]:
        out = []
        for track in self._tracker.end_idle(now_mono):
            data = self._data.pop(track.track_id, _TrackData())
            out.append(self._passenger(track.track_id, data, track.first_mono, track.last_mono))
        return out

    def _assess(self, track_id: int, data: _TrackData, last_mono: float) -> Assessment:
        s = self._settings
        if self._envelope is not None and not self._envelope.decides:
            # Presence and guidance only: never a temperature, never the decision state (baseline, re-check).
            faults = Counter(f for r in data.records for f in r.faults)
            crowded = faults[FAULT_MULTIPLE] * 2 > len(data.records)
            advice = ADVICE[FAULT_MULTIPLE] if crowded else ADVICE_PRESENCE_ONLY
            return Assessment("indeterminate", (REASON_PRESENCE_ONLY,), None, None, advice, "", 0, None, {})
        a = assess_passenger(data.records, s, self._estimator, self._decider, last_mono)
        subject = f"track:{track_id}"
        if a.status == "normal":
            self._rechecks.normal(subject)
        if a.status != "elevated" or not s.decision.recheck:
            return a
        if self._rechecks.elevated(subject, last_mono):
            return replace(a, reasons=(a.reasons[0], "confirmed by re-measurement", *a.reasons[1:]))
        return replace(
            a,
            status="recheck",
            reasons=(a.reasons[0], "first elevated reading: measure again", *a.reasons[1:]),
            advice="measure again",
        )

    def _passenger(
        self, track_id: int, data: _TrackData, first_mono: float, last_mono: float
    ) -> PassengerMeasurement:
        a = data.verdict
        if a is None:
            a = self._assess(track_id, data, last_mono)
            data.verdict, data.verdict_mono = a, last_mono
            m = self._measurement(track_id, data, first_mono, last_mono, a)
            self._verdicts.append(m)
            return m
        # Decided in view: the passenger's record keeps that decision, over every frame of the track.
        return self._measurement(track_id, data, first_mono, last_mono, a)

    def _measurement(
        self, track_id: int, data: _TrackData, first_mono: float, last_mono: float, a: Assessment
    ) -> PassengerMeasurement:
        s = self._settings
        measured = [r for r in data.records if r.reading is not None]
        last_wall = data.records[-1].t_wall if data.records else 0.0
        return PassengerMeasurement(
            t_first_mono=first_mono,
            t_last_mono=last_mono,
            t_wall=last_wall,
            frames=len(measured),
            skin_c=a.skin_c,
            core_c=a.core_c,
            ambient_c=a.ambient_c,
            status=TemperatureStatus(a.status),
            reasons=a.reasons,
            threshold_c=s.threshold_c,
            snapshot=data.snapshot,
            snapshot_box=data.snapshot_box,
            advice=a.advice,
            estimator=a.estimator,
            frames_used=a.frames_used,
            track_id=track_id,
            face_source=data.sources.most_common(1)[0][0] if data.sources else "",
            numbers=a.numbers,
            verdict_mono=data.verdict_mono,
            lane_guidance=a.status == "indeterminate" and a.advice in LANE_GUIDANCE,
        )
