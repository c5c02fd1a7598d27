"""Per-lane screening: thermal frames in, one measurement and temperature decision per passenger out.

    frame ─► flat-field check ─► blackbody offset ─► faces (skin / detector) ─► measurement zone
          ─► tracking ─► per-frame site reading + quality faults
    track ended (face absent ≥ passenger_gap_s) ─► best K clean frames ─► passenger gates (cold skin …)
          ─► core estimate (ONNX model, or constant offset for faces too small for it) ─► decision

`assess_passenger` is the part shared with `checkpoint-edge model evaluate`, so the clinical evaluation
runs exactly the appliance's aggregation, gates, estimator and decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drivers.items import ThermalFrame
from edge.records import LiveFace, LiveView, PassengerMeasurement
from edge.screening.decision import DecisionMaker
from edge.screening.estimator import CoreEstimator, passenger_features
from edge.screening.faces import (
    Face,
    FaceFinder,
    RetinaFace,
    ScheduledFinder,
    SkinFinder,
    ThermalDetectorFinder,
    VisibleFinder,
)
from edge.screening.measure import SiteReading, measure_face
from edge.screening.reference import BlackbodyReference, ReferenceState
from edge.screening.settings import ScreeningSettings
from edge.screening.tracking import Tracker

# Faults: why a frame cannot be used. Also the passenger's reasons when no frame was usable.
FAULT_MULTIPLE = "more than one face in the measurement zone"
FAULT_FFC = "camera in flat-field correction"
FAULT_SMALL = "face too small"
FAULT_FAR = "face too far"
FAULT_NOT_FRONTAL = "face not frontal"
FAULT_GLASSES = "glasses hide the inner canthi"
FAULT_BLACKBODY = "blackbody not valid"

ADVICE = {
    FAULT_MULTIPLE: "one person at a time",
    FAULT_FFC: "re-measure",
    FAULT_SMALL: "step closer",
    FAULT_FAR: "step closer",
    FAULT_NOT_FRONTAL: "face the camera",
    FAULT_GLASSES: "remove glasses",
    FAULT_BLACKBODY: "screening locked out: check the blackbody",
}


@dataclass(frozen=True)
class FrameRecord:
    t_mono: float
    t_wall: float
    reading: SiteReading | None  # None for frames with no usable face (flat-field correction)
    quality: float = 0.0
    faults: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # observations that do not invalidate the frame (e.g. a mask)


@dataclass(frozen=True)
class Assessment:
    status: str
    reasons: tuple[str, ...]
    skin_c: float | None
    core_c: float | None
    advice: str
    estimator: str
    frames_used: int
    ambient_c: float | None
    numbers: dict[str, float]
    alarm_at_c: float | None = None


def choose_estimator(settings: ScreeningSettings, readings: Sequence[SiteReading]) -> str:
    if settings.estimator != "auto":
        return settings.estimator
    widths = [r.face_width_px for r in readings if r.face_width_px is not None]
    if not widths:
        return "model"  # readings without geometry come from a research camera (the clinical data)
    return "model" if float(np.median(widths)) >= settings.model_min_face_px else "offset"


def assess_passenger(
    records: Sequence[FrameRecord],
    settings: ScreeningSettings,
    estimator: CoreEstimator | None,
    decider: DecisionMaker,
    now_mono: float,
) -> Assessment:
    clean = [r for r in records if not r.faults and r.reading is not None]
    if not clean:
        counts = Counter(f for r in records for f in r.faults)
        reasons = tuple(f"{fault} ({n} of {len(records)} frames)" for fault, n in counts.most_common())
        top = counts.most_common(1)[0][0] if counts else ""
        advice = next((a for fault, a in ADVICE.items() if top.startswith(fault)), "re-measure")
        d = decider.indeterminate(reasons or ("no usable frame",), now_mono)
        return Assessment(d.status, d.reasons, None, None, advice, "", 0, None, {})

    best = sorted(clean, key=lambda r: r.quality, reverse=True)[: settings.best_k_frames]
    readings = [r.reading for r in best if r.reading is not None]
    face_max = float(np.mean([r.face_max_c for r in readings]))
    ambients = [r.ambient_c for r in readings if r.ambient_c is not None]
    ambient_c = float(np.median(ambients)) if ambients else settings.ambient_c
    notes = tuple(sorted({n for r in best for n in r.notes}))
    numbers = {"face_max_c": round(face_max, 3), "ambient_c": round(ambient_c, 2)}

    if face_max < settings.cold_skin_c or face_max > settings.warm_skin_c:
        cold = face_max < settings.cold_skin_c
        limit = settings.cold_skin_c if cold else settings.warm_skin_c
        reason = (
            f"skin too {'cold' if cold else 'warm'} to judge: face max {face_max:.2f} °C "
            f"{'<' if cold else '>'} {limit:.2f} °C; wait and re-measure"
        )
        d = decider.indeterminate((reason, *notes), now_mono)
        return Assessment(
            d.status,
            d.reasons,
            round(face_max, 2),
            None,
            "wait and re-measure",
            "",
            len(best),
            ambient_c,
            numbers,
        )

    kind = choose_estimator(settings, readings)
    if kind == "model":
        if estimator is None:
            raise ValueError("the trained estimator was requested but not loaded")
        features = passenger_features(readings, settings.ambient_c)
        est = estimator.estimate(features, settings.threshold_c)
        core_c, margin_c, label = est.core_c, est.margin_c, est.model
        numbers.update({k: round(v, 3) for k, v in est.features.items()})
    else:
        core_c, margin_c, label = face_max + settings.skin_to_core_offset_c, 0.0, "offset"
        numbers["offset_c"] = settings.skin_to_core_offset_c
    d = decider.decide(core_c, margin_c, now_mono)
    numbers.update(d.numbers)
    advice = {"elevated": "refer to a clinical thermometer", "recheck": "measure again"}.get(d.status, "")
    return Assessment(
        d.status,
        (*d.reasons, f"estimator {label} on {len(best)} frame(s)", *notes),
        round(face_max, 2),
        round(core_c, 2),
        advice,
        label,
        len(best),
        ambient_c,
        numbers,
        d.alarm_at_c,
    )


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
    def __init__(self, settings: ScreeningSettings, *, detector: RetinaFace | None = None) -> None:
        self._settings = s = settings
        self._reference = BlackbodyReference(s.reference)
        self._tracker: Tracker[_TrackData] = Tracker(max_gap_s=s.passenger_gap_s)
        self._data: dict[int, _TrackData] = {}
        self._decider = DecisionMaker(s.decision, s.threshold_c)
        self._estimator: CoreEstimator | None = None
        if s.estimator != "offset":
            path = Path(s.estimator_path) if s.estimator_path else None
            self._estimator = CoreEstimator(s.estimator_camera, path)
        exclude = s.reference.roi if s.reference.enabled else None
        self._skin = SkinFinder(skin_min_c=s.face_min_c, min_pixels=s.face_min_pixels, exclude=exclude)
        self._detector = detector
        self._thermal_finder: FaceFinder = self._skin
        self._visible_finder: FaceFinder | None = None
        if s.face_finder == "thermal-detector":
            inner = ThermalDetectorFinder(
                self._retinaface(), max_side=s.detector_max_side, min_score=s.detector_min_score
            )
            self._thermal_finder = ScheduledFinder(inner, every_n=s.detector_every_n, skin_min_c=s.face_min_c)
        self._ffc_until_mono = -np.inf
        self._flat_since_mono: float | None = None
        self._reference_state = ReferenceState(True, 0.0, "")
        self._verdicts: list[PassengerMeasurement] = []
        self.frames_seen = 0
        self.last_view: LiveView | None = None  # read by the technician console's live view

    def _publish_view(
        self, temps: np.ndarray, now: float, faces: tuple[LiveFace, ...] = (), note: str = ""
    ) -> None:
        ref, s = self._reference_state, self._settings.reference
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
    def status(self) -> str:
        """ "ok", or why screening is locked out (the lane shows it and stops calling passengers normal)."""
        if not self._reference_state.valid:
            return f"locked out: {self._reference_state.reason}"
        return "ok"

    def process(self, frame: ThermalFrame, visible: np.ndarray | None = None) -> list[PassengerMeasurement]:
        s = self._settings
        self.frames_seen += 1
        temps = frame.temps_c
        now = frame.t_mono
        step = max(1, min(temps.shape) // 64)  # a closed shutter is flat everywhere: a sparse grid shows it
        flat = float(temps[::step, ::step].std()) <= s.ffc_uniform_std_c
        if flat and self._flat_since_mono is None:
            self._flat_since_mono = now
        elif not flat:
            self._flat_since_mono = None
        # A shutter closes for a second or so; a frame that stays flat longer is a noiseless simulator or a
        # dead sensor, and must not keep passengers alive for ever.
        if flat and self._flat_since_mono is not None and now - self._flat_since_mono <= s.ffc_max_s:
            # Shutter closed: no scene at all. Keep passengers alive across it rather than splitting them.
            self._ffc_until_mono = now + s.ffc_settle_s
            for track in self._tracker.active:
                track.last_mono = now
                self._data[track.track_id].records.append(
                    FrameRecord(now, frame.t_wall, None, faults=(FAULT_FFC,))
                )
            self._publish_view(temps, now, note=FAULT_FFC)
            return self.flush(now)

        ref = self._reference.update(temps)
        self._reference_state = ref
        if ref.offset_c:
            # Correct before finding faces too: the skin threshold is a true temperature.
            temps = temps + np.float32(ref.offset_c)
        finder = self._finder_for(visible)
        faces = [f for f in finder.find(temps, visible) if _in_zone(f, s.measurement_zone, temps.shape)]
        tracks = self._tracker.assign(faces, now)
        shared_faults: list[str] = []
        if len(faces) > 1:
            shared_faults.append(FAULT_MULTIPLE)
        if now < self._ffc_until_mono:
            shared_faults.append(FAULT_FFC)
        if not ref.valid:
            shared_faults.append(f"{FAULT_BLACKBODY}: {ref.reason}")
        ambient_frame = frame.ambient_c if s.ambient_source == "frame" else None
        ambient_c = ambient_frame if ambient_frame is not None else s.ambient_c
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
        data.verdict = assess_passenger(data.records, self._settings, self._estimator, self._decider, now)
        data.verdict_mono = now
        self._verdicts.append(self._measurement(track_id, data, first_mono, now, data.verdict))

    def take_verdicts(self) -> list[PassengerMeasurement]:
        """Temperature verdicts since the last call, one per track: made in view (`verdict_frames` clean
        frames) or, for a passenger who never gave enough, when their track ended."""
        out, self._verdicts = self._verdicts, []
        return out

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
        width = m.reading.face_width_px or 0.0
        if width < s.min_face_width_px:
            faults.append(FAULT_SMALL)
        elif m.reading.distance_m is not None and m.reading.distance_m > s.max_distance_m:
            faults.append(FAULT_FAR)
        if m.frontal is False and not face.landmarks_estimated:
            faults.append(FAULT_NOT_FRONTAL)
        if m.periocular_drop_c is not None and m.periocular_drop_c > s.glasses_drop_c:
            faults.append(FAULT_GLASSES)
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

    def _passenger(
        self, track_id: int, data: _TrackData, first_mono: float, last_mono: float
    ) -> PassengerMeasurement:
        a = data.verdict
        if a is None:
            a = assess_passenger(data.records, self._settings, self._estimator, self._decider, last_mono)
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
            status=a.status,
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
        )
