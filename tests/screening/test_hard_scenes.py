"""Hot objects, warm backgrounds, warm rooms and cold platforms, on the scene generator's hard cases
(edge/screening/scene_cases.py), through the lane's screener as each sensor type sees them."""

from __future__ import annotations

import dataclasses

import pytest

from edge.screening.pipeline import FAULT_MULTIPLE
from edge.screening.scene import Thing
from edge.screening.scene_cases import CASES, COLD_FEBRILE, HEALTHY, LAMP, Case, run, wrong

SENSORS = ("lepton_uvc", "gy_mcu90640")
PLACES = {  # (dx, dy, d_distance, width, height) from the face centre, metres
    "at the chin": (0.0, 0.15, -0.08, 0.08, 0.10),
    "at the ear": (0.09, 0.0, -0.02, 0.06, 0.13),
    "beside the face": (0.14, 0.06, -0.05, 0.08, 0.10),
}


@pytest.mark.parametrize("sensor", SENSORS)
@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("temp_c", [36.5, 37.5, 38.5, 40.0, 45.0, 60.0])
def test_non_skin_objects_never_make_a_healthy_passenger_elevated(
    sensor: str, place: str, temp_c: float
) -> None:
    dx, dy, dd, w, h = PLACES[place]
    case = Case(f"object {temp_c} °C {place}", HEALTHY, near=(Thing(dx, dy, dd, w, h, temp_c),))
    out = run(case, sensor, seed=int(temp_c))
    assert out, "the passenger is still seen"
    assert not any(m.status in ("elevated", "recheck") for m in out), [(m.status, m.reasons) for m in out]


@pytest.mark.parametrize("sensor", SENSORS)
def test_a_lamp_in_view_does_not_make_every_passenger_more_than_one_face(sensor: str) -> None:
    for seed, person in enumerate([HEALTHY, dataclasses.replace(HEALTHY, canthus_c=35.3), HEALTHY]):
        out = run(Case("lamp", person, background=(LAMP,)), sensor, seed=seed)
        assert len(out) == 1, [(m.status, m.reasons) for m in out]
        assert out[0].status == "normal", out[0].reasons
        assert not any(FAULT_MULTIPLE in r for r in out[0].reasons)


@pytest.mark.parametrize("sensor", SENSORS)
@pytest.mark.parametrize("febrile", [False, True])
def test_ambient_31_still_finds_the_one_face(sensor: str, febrile: bool) -> None:
    name = "ambient 31 °C, febrile" if febrile else "ambient 31 °C"
    case = next(c for c in CASES if c.name == name)
    out = run(case, sensor)
    assert len(out) == 1, [(m.status, m.reasons) for m in out]
    assert out[0].status == ("elevated" if febrile else "normal"), out[0].reasons


@pytest.mark.parametrize("sensor", SENSORS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cold_exposed_febrile_passenger_under_cold_arrivals_is_flagged_or_remeasured(
    sensor: str, seed: int
) -> None:
    for person in (COLD_FEBRILE, dataclasses.replace(COLD_FEBRILE, forehead_c=33.8, face_c=32.5)):
        case = Case("cold", person, settings={"profile": "cold_arrivals"}, febrile_truth=True)
        out = run(case, sensor, seed=seed)
        assert out and not wrong(case, out)
        for m in out:
            assert m.status in ("elevated", "recheck") or m.advice in ("wait and re-measure", "step closer")


def test_without_the_profile_the_cold_exposed_febrile_passenger_reads_normal() -> None:
    """The failure the cold_arrivals profile exists for (kept visible so the profile's value is measured)."""
    out = run(Case("cold", COLD_FEBRILE, febrile_truth=True), "lepton_uvc")
    assert [m.status for m in out] == ["normal"]


@pytest.mark.parametrize("case", [c for c in CASES if not c.known_limit], ids=lambda c: c.name)
def test_no_hard_case_gives_a_wrong_outcome_on_the_lepton(case: Case) -> None:
    if "lepton_uvc" not in case.sensors:
        pytest.skip("not a Lepton case")
    out = run(case, "lepton_uvc")
    assert not wrong(case, out), [(m.status, m.reasons) for m in out]
