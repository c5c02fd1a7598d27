"""The lane half of issue 9: re-check bound to the passenger, per-sensor envelopes, sensor lockouts
(flat-field correction from Lepton telemetry, warm-up), and what stays at the lane as guidance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from drivers.items import SensorTelemetry, ThermalFrame
from edge.records import PassengerMeasurement
from edge.rules import RulesSettings, decide
from edge.screening.pipeline import LaneScreener
from edge.screening.recheck import RecheckBook, bind_to_document
from edge.screening.scene import Person, Scene, render
from edge.screening.settings import ScreeningSettings
from tests.screening.helpers import run

LEPTON = Scene(width=160, height=120, horizontal_fov_deg=57.0)
MLX90640 = Scene(width=32, height=24, horizontal_fov_deg=55.0)
AMG8833 = Scene(width=8, height=8, horizontal_fov_deg=60.0)


def frames_of(scene: Scene, person: Person | None, n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    people = (person,) if person is not None else ()
    return [render(dataclasses.replace(scene, people=people), rng) for _ in range(n)]


def passengers(screener: LaneScreener, scene: Scene, people: list[Person], seed: int = 0):
    """Each person in view for 8 frames, then 1 s of empty lane: one measurement each, in order."""
    out: list[PassengerMeasurement] = []
    t = 0.0
    for i, person in enumerate(people):
        out += run(screener, frames_of(scene, person, 8, seed + i), start_s=t)
        t += 20.0
    return out


def no_decision(m: PassengerMeasurement) -> bool:
    return m.status == "indeterminate" and m.core_c is None


# ---- re-check bound to the passenger -----------------------------------------------------------------


def test_passenger_b_never_confirms_passenger_a() -> None:
    settings = ScreeningSettings(decision={"recheck": True}, horizontal_fov_deg=57.0)
    screener = LaneScreener(settings)
    febrile = Person(distance_m=0.7, canthus_c=36.8, forehead_c=36.0)
    a, b, a_again = passengers(screener, LEPTON, [febrile, febrile, febrile])
    # Three tracks, three passengers as far as the camera knows: every one is a first elevated reading.
    assert [m.status for m in (a, b, a_again)] == ["recheck", "recheck", "recheck"]
    assert len({a.track_id, b.track_id, a_again.track_id}) == 3

    # Once joined with documents, A's second reading (same document) confirms A's first; B's never does.
    book = RecheckBook(window_s=600.0)
    joined = [
        bind_to_document(book, a, "hmac-A", 1.0),
        bind_to_document(book, b, "hmac-B", 2.0),
        bind_to_document(book, a_again, "hmac-A", 3.0),
    ]
    assert [m.status for m in joined] == ["recheck", "recheck", "elevated"]
    assert any("same document" in r for r in joined[2].reasons)


def test_a_normal_reading_closes_only_its_own_recheck() -> None:
    book = RecheckBook(window_s=30.0)
    assert not book.elevated("doc:A", 0.0)
    assert not book.normal("doc:B")  # B's normal reading says nothing about A
    assert book.pending("doc:A", 1.0)
    assert book.normal("doc:A") and not book.pending("doc:A", 2.0)
    assert not book.elevated("doc:A", 3.0)  # after a normal re-measurement, a new first reading
    assert not book.elevated("doc:A", 40.0)  # the window passed: first reading again, not a confirmation


# ---- per-sensor envelopes ----------------------------------------------------------------------------


@pytest.mark.parametrize("distance_m", [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5])
def test_febrile_passenger_far_from_a_gy_mcu90640_is_never_normal(distance_m: float) -> None:
    screener = LaneScreener(ScreeningSettings(horizontal_fov_deg=55.0, warm_up_s=0.0), sensor="gy_mcu90640")
    febrile = Person(distance_m=distance_m, canthus_c=36.8, forehead_c=36.0)
    out = passengers(screener, MLX90640, [febrile], seed=int(distance_m * 100))
    assert all(m.status != "normal" for m in out)
    for m in out:
        assert no_decision(m) and m.advice in ("step closer", "wait and re-measure")
        assert m.lane_guidance


def test_gy_mcu90640_inside_its_envelope_decides() -> None:
    screener = LaneScreener(ScreeningSettings(horizontal_fov_deg=55.0, warm_up_s=0.0), sensor="gy_mcu90640")
    out = passengers(
        screener,
        MLX90640,
        [Person(distance_m=0.3, canthus_c=36.8, forehead_c=36.0), Person(distance_m=0.3, canthus_c=35.5)],
    )
    assert [m.status for m in out] == ["elevated", "normal"]


@pytest.mark.parametrize("distance_m", [0.3, 0.5, 0.8, 1.2])
@pytest.mark.parametrize("canthus_c", [35.5, 37.5])
def test_gy_mcu8833_never_decides(distance_m: float, canthus_c: float) -> None:
    screener = LaneScreener(ScreeningSettings(horizontal_fov_deg=60.0, warm_up_s=0.0), sensor="gy_mcu8833")
    person = Person(distance_m=distance_m, canthus_c=canthus_c, forehead_c=canthus_c - 0.8)
    out = passengers(screener, AMG8833, [person, person])
    for m in out:
        assert no_decision(m) and m.lane_guidance
        # Guidance stays at the lane: no temperature reason reaches the centre.
        decision = decide(m, None, None, [], {}, RulesSettings(), __import__("datetime").date(2026, 1, 1))
        assert decision.category == "clear"


# ---- sensor lockouts ---------------------------------------------------------------------------------


def lepton_frames(
    person: Person | None, n: int, t0: float, telemetry: SensorTelemetry, seed: int = 0
) -> list[ThermalFrame]:
    out = []
    for i, r in enumerate(frames_of(LEPTON, person, n, seed)):
        t = t0 + i / 9.0
        out.append(ThermalFrame("lepton", i, t, 1.7e9 + t, r.temps_c, None, telemetry))
    return out


def test_lepton_flat_field_correction_from_telemetry_gives_no_decision() -> None:
    settings = ScreeningSettings(horizontal_fov_deg=57.0, warm_up_s=0.0, ffc_settle_s=1.0)
    screener = LaneScreener(settings, sensor="lepton_uvc")
    febrile = Person(distance_m=0.7, canthus_c=37.0, forehead_c=36.2)
    out = []
    # The scene looks normal (not a flat shutter frame): only the telemetry says the camera is in FFC.
    for state in ("imminent", "in_progress"):
        for f in lepton_frames(febrile, 8, 0.0, SensorTelemetry(ffc_state=state, uptime_s=5000.0)):
            out += screener.process(f)
        out += screener.flush(100.0)
        screener = LaneScreener(settings, sensor="lepton_uvc")
    assert len(out) == 2 and all(no_decision(m) for m in out)
    assert all("flat-field" in m.reasons[0] for m in out)

    # Right after the FFC completes, the settle time still blocks; after it, the passenger is measured.
    screener = LaneScreener(settings, sensor="lepton_uvc")
    done = SensorTelemetry(ffc_state="complete", uptime_s=5000.0)
    for f in lepton_frames(None, 2, 0.0, SensorTelemetry(ffc_state="in_progress", uptime_s=5000.0)):
        screener.process(f)
    settling = [m for f in lepton_frames(febrile, 5, 0.3, done) for m in screener.process(f)]
    settling += screener.flush(10.0)
    assert len(settling) == 1 and no_decision(settling[0])
    later = [m for f in lepton_frames(febrile, 8, 20.0, done, seed=5) for m in screener.process(f)]
    later += screener.flush(40.0)
    assert [m.status for m in later] == ["elevated"]


def test_warm_up_gives_no_decision_and_shows_as_a_lockout() -> None:
    # Lepton: the camera's own uptime (telemetry) is the warm-up clock; default 900 s.
    screener = LaneScreener(ScreeningSettings(horizontal_fov_deg=57.0), sensor="lepton_uvc")
    febrile = Person(distance_m=0.7, canthus_c=37.0, forehead_c=36.2)
    out = [
        m
        for f in lepton_frames(febrile, 8, 0.0, SensorTelemetry(uptime_s=120.0))
        for m in screener.process(f)
    ]
    assert screener.status.startswith("locked out: sensor warming up")
    assert screener.status_details()["warm_up_left_s"] == pytest.approx(780.0, abs=1.0)
    out += screener.flush(10.0)
    assert len(out) == 1 and no_decision(out[0]) and "warming up" in out[0].reasons[0]
    assert not out[0].lane_guidance  # a lockout is published: the centre must know the lane is blind
    warm = SensorTelemetry(uptime_s=1000.0)
    out = [m for f in lepton_frames(febrile, 8, 20.0, warm, seed=3) for m in screener.process(f)]
    out += screener.flush(40.0)
    assert screener.status == "ok" and [m.status for m in out] == ["elevated"]


def test_warm_up_without_telemetry_counts_from_the_first_frame() -> None:
    screener = LaneScreener(ScreeningSettings(horizontal_fov_deg=55.0, warm_up_s=5.0), sensor="gy_mcu90640")
    person = Person(distance_m=0.3, canthus_c=35.5)
    early = run(screener, frames_of(MLX90640, person, 8, 0), start_s=0.0)
    assert len(early) == 1 and no_decision(early[0])
    later = run(screener, frames_of(MLX90640, person, 8, 1), start_s=8.0)
    assert [m.status for m in later] == ["normal"]


def test_emissivity_is_applied_once_for_radiometric_cameras() -> None:
    from edge.screening.sensor_guard import SensorGuard, emissivity_corrected

    skin = np.full((120, 160), 35.0, np.float32)
    assert float(emissivity_corrected(skin, 0.98, 24.0, None)[0, 0]) == pytest.approx(35.21, abs=0.01)
    settings = ScreeningSettings(warm_up_s=0.0)
    guard = SensorGuard(settings, None, "lepton_uvc")
    skin = skin.copy()
    skin[:, 80:] = 24.0  # a scene, not a closed shutter
    uncorrected = SensorTelemetry(scene_emissivity=1.0, uptime_s=5000.0)
    by_camera = SensorTelemetry(scene_emissivity=0.98, uptime_s=5000.0)
    ours = guard.check(ThermalFrame("l", 1, 0.0, 0.0, skin, None, uncorrected), 24.0).temps_c
    theirs = guard.check(ThermalFrame("l", 2, 0.1, 0.1, skin, None, by_camera), 24.0).temps_c
    assert float(ours[0, 0]) == pytest.approx(35.21, abs=0.01)  # the camera read at ε = 1: we correct
    assert float(theirs[0, 0]) == pytest.approx(35.0, abs=1e-4)  # the camera applied ε: never twice
    thermopile = SensorGuard(settings, None, "gy_mcu90640")
    assert float(thermopile.check(ThermalFrame("g", 1, 0.0, 0.0, skin), 24.0).temps_c[0, 0]) == 35.0


def test_blackbody_offset_drift_is_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    from edge.screening.scene import Blackbody

    roi = (146, 4, 156, 14)
    settings = ScreeningSettings(
        warm_up_s=0.0, reference={"enabled": True, "roi": roi, "set_point_c": 35.0, "drift_log_step_c": 0.2}
    )
    screener = LaneScreener(settings, sensor="lepton_uvc")
    rng = np.random.default_rng(0)
    caplog.set_level("WARNING")
    t = 0.0
    # The camera drifts 0.03 °C per frame (slowly enough to be a drift, not a jump): 0.6 °C in 20 frames.
    for i in range(21):
        scene = dataclasses.replace(
            LEPTON, people=(), blackbody=Blackbody(roi, 35.0), sensor_offset_c=-0.03 * i
        )
        screener.process(ThermalFrame("l", i, t, t, render(scene, rng).temps_c))
        t += 0.11
    details = screener.status_details()
    assert details["blackbody_offset_c"] == pytest.approx(0.6, abs=0.1)
    assert details["blackbody_drift_c"] == pytest.approx(0.55, abs=0.12)  # since the reference was found
    drift_lines = [r.getMessage() for r in caplog.records if "blackbody offset drift" in r.getMessage()]
    assert len(drift_lines) >= 2  # every 0.2 °C further
    assert screener.status == "ok"


def test_lepton_shutter_lockout_locks_screening_out() -> None:
    screener = LaneScreener(ScreeningSettings(horizontal_fov_deg=57.0, warm_up_s=0.0), sensor="lepton_uvc")
    febrile = Person(distance_m=0.7, canthus_c=37.0, forehead_c=36.2)
    locked = SensorTelemetry(uptime_s=5000.0, shutter_lockout=True)
    out = [m for f in lepton_frames(febrile, 8, 0.0, locked) for m in screener.process(f)]
    assert screener.status.startswith("locked out: camera outside its shutter's temperature range")
    out += screener.flush(10.0)
    assert len(out) == 1 and no_decision(out[0]) and not out[0].lane_guidance
