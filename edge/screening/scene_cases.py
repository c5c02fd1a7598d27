"""The hard cases of a real lane, as scenes with ground truth, and a runner that puts one through the
lane's screener as a given sensor would see it. Used by the tests (tests/screening/test_hard_scenes.py)
and by `python bench/scenes.py`, which writes the scene × sensor table in docs/performance.md.

A case is one passenger (healthy or febrile) standing in front of the sensor at its working distance,
swaying a little, with whatever makes the case hard: hot or warm things near the face or in the
background, a warm room, other people, head-wear, a mask, glasses, a beard, a cold-exposed face, a turned
head, an approach from afar, sensor noise patterns, a Lepton flat-field correction. The lane first sees the
empty scene for a few seconds (as it would between passengers), so static warm things can become background.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.items import SensorTelemetry, ThermalFrame
from edge.records import PassengerMeasurement
from edge.screening.pipeline import LaneScreener
from edge.screening.scene import Person, Scene, Thing, render
from edge.screening.settings import ScreeningSettings

RATE_HZ = 9.0
HEALTHY = Person(canthus_c=35.6, forehead_c=35.0, face_c=34.0, nose_c=32.5)
FEBRILE = Person(canthus_c=36.9, forehead_c=36.2, face_c=35.0, nose_c=33.5)


@dataclass(frozen=True)
class Sensor:
    type: str
    width: int
    height: int
    fov_deg: float
    distance_m: float  # where passengers stand: inside the sensor's envelope (edge/screening/envelope.py)
    noise_c: float
    supersample: int = 4

    @property
    def half_width_m(self) -> float:
        """Half the scene width covered at the working distance."""
        return self.distance_m * float(np.tan(np.radians(self.fov_deg) / 2.0))


SENSORS = {
    "lepton_uvc": Sensor("lepton_uvc", 160, 120, 57.0, 0.8, 0.05, supersample=3),
    "gy_mcu90640": Sensor("gy_mcu90640", 32, 24, 55.0, 0.3, 0.1),
    "gy_mcu8833": Sensor("gy_mcu8833", 8, 8, 60.0, 0.5, 0.25),
}


@dataclass(frozen=True)
class Case:
    name: str
    person: Person = HEALTHY
    # Things as (dx, dy, d_distance) from the face centre, in metres, with size and temperature; or,
    # for background things, absolute positions given as fractions of the frame (see `_place`).
    near: tuple[Thing, ...] = ()
    background: tuple[Thing, ...] = ()
    others: tuple[Person, ...] = ()  # positions as fractions of the frame half-width (x) and distance factor
    ambient_c: float = 24.0
    settings: dict[str, Any] = field(default_factory=dict)
    ffc: bool = False  # Lepton telemetry says "FFC in progress" while the passenger is in view
    approach_from_m: float | None = None
    chess_c: float = 0.0
    fixed_pattern_c: float = 0.0
    sensors: tuple[str, ...] = tuple(SENSORS)
    febrile_truth: bool | None = None  # default: canthus ≥ 36.5 °C (cold-exposed faces hide their fever)
    known_limit: str = ""  # a wrong outcome this case exists to show (and what prevents it)

    @property
    def febrile(self) -> bool:
        return self.person.canthus_c >= 36.5 if self.febrile_truth is None else self.febrile_truth


def _p(base: Person, **kw: Any) -> Person:
    return dataclasses.replace(base, **kw)


COLD_FEBRILE = Person(canthus_c=35.2, forehead_c=32.6, face_c=31.2, nose_c=28.5)
VERY_COLD_FEBRILE = Person(canthus_c=33.8, forehead_c=31.5, face_c=30.5, nose_c=27.5)
LAMP = Thing(0.8, -0.75, 1.0, 0.06, 0.06, 80.0, round=True)  # fractions: corner of the frame, 3× distance
LAMP_SHADE = Thing(-0.8, -0.7, 1.0, 0.10, 0.07, 38.0)
HEATER = Thing(-0.75, 0.55, 1.0, 0.35, 0.3, 45.0)
SUNLIT_WALL = Thing(0.85, 0.0, 1.0, 0.5, 2.5, 33.0)

CASES: tuple[Case, ...] = (
    Case("healthy"),
    Case("febrile", FEBRILE),
    Case("hot drink (55 °C) at the chin", near=(Thing(0.0, 0.15, -0.08, 0.08, 0.10, 55.0),)),
    Case("warm drink (39 °C) at the chin", near=(Thing(0.0, 0.15, -0.08, 0.08, 0.10, 39.0),)),
    Case("phone (38 °C) at the ear", near=(Thing(0.09, 0.0, -0.02, 0.06, 0.13, 38.0),)),
    Case("hand (34 °C) on the cheek", near=(Thing(0.06, 0.04, -0.03, 0.08, 0.10, 34.0),)),
    Case("hot cup (60 °C) held beside the face", near=(Thing(0.14, 0.06, -0.05, 0.08, 0.10, 60.0),)),
    Case("lamp (80 °C) in view", background=(LAMP,)),
    Case("warm lamp shade (38 °C) in view", background=(LAMP_SHADE,)),
    Case("lamp in view, febrile", FEBRILE, background=(LAMP,)),
    Case("heater (45 °C) in view", background=(HEATER,)),
    Case("sunlit wall (33 °C)", background=(SUNLIT_WALL,)),
    Case(
        "ambient 31 °C",
        _p(HEALTHY, canthus_c=36.1, forehead_c=35.7, face_c=35.1, nose_c=34.2),
        ambient_c=31.0,
    ),
    Case("ambient 31 °C, febrile", _p(FEBRILE, canthus_c=37.1, forehead_c=36.6, face_c=35.8), ambient_c=31.0),
    Case("two people side by side", others=(_p(HEALTHY, x_m=0.75),)),
    Case("queue: next passenger 1 m behind", others=(_p(HEALTHY, x_m=0.35, y_m=-0.05),), settings={}),
    Case("child", _p(HEALTHY, scale=0.8, y_m=0.04)),
    Case("hat", _p(HEALTHY, hat=True)),
    Case("hood", _p(HEALTHY, hood=True)),
    Case("breath-warmed mask (34.5 °C)", _p(HEALTHY, mask=True, mask_c=34.5)),
    Case("glasses", _p(HEALTHY, glasses=True)),
    Case("beard", _p(HEALTHY, beard=True)),
    Case(
        "cold-exposed febrile, standard profile",
        COLD_FEBRILE,
        febrile_truth=True,
        known_limit="the reason for the cold_arrivals profile",
    ),
    Case(
        "cold-exposed febrile, cold_arrivals",
        COLD_FEBRILE,
        settings={"profile": "cold_arrivals"},
        febrile_truth=True,
    ),
    Case(
        "very cold febrile, cold_arrivals",
        VERY_COLD_FEBRILE,
        settings={"profile": "cold_arrivals"},
        febrile_truth=True,
    ),
    Case("head turned", _p(HEALTHY, yaw=0.6)),
    Case("approaching walk, febrile", FEBRILE, approach_from_m=2.5),
    Case("chess pattern + fixed-pattern noise", chess_c=0.3, fixed_pattern_c=0.2, sensors=("gy_mcu90640",)),
    Case("Lepton flat-field correction, febrile", FEBRILE, ffc=True, sensors=("lepton_uvc",)),
)


def _place(case: Case, sensor: Sensor, person: Person) -> tuple[Thing, ...]:
    near = tuple(
        dataclasses.replace(
            t, x_m=person.x_m + t.x_m, y_m=person.y_m + t.y_m, distance_m=person.distance_m + t.distance_m
        )
        for t in case.near
    )
    # Background things: x, y as fractions of the half-frame at three times the working distance, sizes
    # as fractions of the half-width there.
    far = 3.0 * sensor.distance_m
    half = far * float(np.tan(np.radians(sensor.fov_deg) / 2.0))
    back = tuple(
        dataclasses.replace(
            t,
            x_m=t.x_m * half,
            y_m=t.y_m * half,
            distance_m=far,
            width_m=t.width_m * half * 2,
            height_m=t.height_m * half * 2,
        )
        for t in case.background
    )
    return near + back


def _others(case: Case, sensor: Sensor) -> tuple[Person, ...]:
    out = []
    for o in case.others:
        behind = o.y_m < 0  # a negative y marks "behind, in the queue"
        d = sensor.distance_m * (2.2 if behind else 1.0)
        out.append(dataclasses.replace(o, x_m=o.x_m * sensor.half_width_m, y_m=0.0, distance_m=d))
    return tuple(out)


def frames(
    case: Case, sensor: Sensor, seed: int = 0, pre_roll_s: float = 4.0, dwell: int = 14
) -> list[ThermalFrame]:
    rng = np.random.default_rng(seed)
    base = Scene(
        width=sensor.width,
        height=sensor.height,
        horizontal_fov_deg=sensor.fov_deg,
        ambient_c=case.ambient_c,
        noise_c=sensor.noise_c,
        supersample=sensor.supersample,
        chess_c=case.chess_c,
        fixed_pattern_c=case.fixed_pattern_c,
    )
    person0 = dataclasses.replace(case.person, distance_m=sensor.distance_m, x_m=0.0)
    empty = dataclasses.replace(base, people=(), things=_place(case, sensor, person0)[len(case.near) :])
    out: list[ThermalFrame] = []
    t = 0.0
    # Lepton: the camera applied skin emissivity itself (telemetry echo), so the scene's values stand.
    warm = SensorTelemetry(ffc_state="complete", uptime_s=5000.0, scene_emissivity=0.98)
    for _ in range(round(pre_roll_s * RATE_HZ)):
        out.append(ThermalFrame(sensor.type, len(out), t, 1.7e9 + t, render(empty, rng).temps_c, None, warm))
        t += 1.0 / RATE_HZ
    in_view = (
        SensorTelemetry(ffc_state="in_progress", uptime_s=5000.0, scene_emissivity=0.98) if case.ffc else warm
    )
    steps = dwell + (10 if case.approach_from_m else 0)
    for i in range(steps):
        progress = i / max(steps - 1, 1)
        d = sensor.distance_m
        if case.approach_from_m is not None:
            d = case.approach_from_m + (sensor.distance_m - case.approach_from_m) * min(1.0, 1.5 * progress)
        person = dataclasses.replace(case.person, distance_m=d, x_m=-0.01 + 0.02 * progress)
        scene = dataclasses.replace(
            base, people=(person, *_others(case, sensor)), things=_place(case, sensor, person)
        )
        out.append(
            ThermalFrame(sensor.type, len(out), t, 1.7e9 + t, render(scene, rng).temps_c, None, in_view)
        )
        t += 1.0 / RATE_HZ
    for _ in range(8):  # the passenger has left
        out.append(ThermalFrame(sensor.type, len(out), t, 1.7e9 + t, render(empty, rng).temps_c, None, warm))
        t += 1.0 / RATE_HZ
    return out


def run(case: Case, sensor_type: str, seed: int = 0) -> list[PassengerMeasurement]:
    sensor = SENSORS[sensor_type]
    settings = ScreeningSettings(
        horizontal_fov_deg=sensor.fov_deg,
        warm_up_s=0.0,
        background_static_s=3.0,
        ambient_c=case.ambient_c,
        **case.settings,
    )
    screener = LaneScreener(settings, sensor=sensor_type)
    out: list[PassengerMeasurement] = []
    stream = frames(case, sensor, seed)
    for f in stream:
        out += screener.process(f)
    return out + screener.flush(stream[-1].t_mono + 10.0)


def outcome(measurements: list[PassengerMeasurement]) -> str:
    """One word (or "guidance: advice") for the table: what the lane made of the passenger."""
    if not measurements:
        return "no face"
    main = max(measurements, key=lambda m: m.frames)
    if main.status == "indeterminate":
        return f"{'guidance' if main.lane_guidance else 'indeterminate'}: {main.advice or main.reasons[0]}"
    return main.status


def wrong(case: Case, measurements: list[PassengerMeasurement]) -> bool:
    """The outcomes that must never happen: a febrile passenger called normal, a healthy one elevated."""
    statuses = {m.status for m in measurements}
    return ("normal" in statuses) if case.febrile else bool(statuses & {"elevated", "recheck"})
